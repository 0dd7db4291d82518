"""Does the patched model slow the original's own ops? Plain and patched profiled side by side on the headline models.

    python benchmarks/original_ops.py [--only NAME ...] [--runs 50] [--precision auto|f32] [--top 5]
        [--zoo-python /work/torchvenv/bin/python] [--cache /work/zoo_cache]

Per model, plain and patched, and the plain model compiled again as a control (what noise alone does to the
same ops), are compiled in one process with PERF_COUNT (the LATENCY hint) and run in turn
(benchmarks/profile_branch.py); the patched model's ops are the original's when an original output depends
on them, else the branch's. Printed as markdown: the original's ops' total time in the plain
and in the patched model, and the branch's; then each model's top ops, with the time of the same op in
the patched model found by data flow, and the time of the patched op that has the plain op's name,
which is what a profile matched by name reports (the tail's clone keeps the original's names).

Models: the dog model, the Coral MobileNetV2 and V1, the onnx wheel's light models with random
weights (tests/support/light.py), and torchvision's mobilenet_v3_large with random weights, exported
by benchmarks/zoo.py's `export` in a Python that has torch (--zoo-python) into --cache, once.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import openvino as ov

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))
import light  # noqa: E402
from explain_throughput import machine  # noqa: E402
from profile_branch import STATISTICS, Pair, Profile, Profiled  # noqa: E402

ZOO_MODEL = "tv.mobilenet_v3_large"
DEFAULT_ZOO_PYTHON = Path("/work/torchvenv/bin/python")
DEFAULT_CACHE = Path("/work/zoo_cache")


def exported(python: Path, cache: Path) -> Path:
    """torchvision's mobilenet_v3_large as zoo.py exports it, made once with `python` (which needs torch)."""
    path = cache / f"{ZOO_MODEL}.onnx"
    if not path.exists():
        code = f"import pathlib, zoo; zoo.export({ZOO_MODEL!r}, pathlib.Path({str(cache)!r}))"
        env = dict(os.environ) | {"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "benchmarks")])}
        subprocess.run([str(python), "-c", code], env=env, check=True)
    return path


def headline(zoo_python: Path, cache: Path, scratch: Path) -> dict[str, Callable[[], Path]]:
    """Model name -> how to get its file."""
    coral = REPO / "samples/models/coral"
    found: dict[str, Callable[[], Path]] = {
        "dog_breeds_mobilenetv2": lambda: REPO / "samples/models/dog_breeds_mobilenetv2/dog_breeds_mobilenetv2.xml",
        "coral mobilenet_v2 (uint8)": lambda: coral / "mobilenet_v2_1.0_224_quant.tflite",
        "coral mobilenet_v1 0.25 (uint8)": lambda: coral / "mobilenet_v1_0.25_128_quant.tflite",
    }
    for name in light.NAMES:
        found[f"light {name}"] = functools.partial(light.reweighted, name, scratch)
    found[ZOO_MODEL] = lambda: exported(zoo_python, cache)
    return found


# The plugin tells a pair of ops that share a name apart by a suffix such as _1, in the op's own name and in the names
# it derives from it (reorders); removing one such suffix, or every copy of it, gives the plain model's name back.
_SUFFIX = re.compile(r"_\d+(?=$|_)")


def plain_name(name: str, plain: set[str]) -> str | None:
    """The plain model's name for an op of the original in the patched model, if one can be found."""
    if name in plain:
        return name
    suffixes = list(_SUFFIX.finditer(name))
    tries = [name[: m.start()] + name[m.end() :] for m in suffixes]
    tries += [name.replace(m.group(), "") for m in suffixes]
    return next((t for t in tries if t in plain), None)


def top_rows(model: str, found: Profiled, top: int) -> list[list[str]]:
    """The `top` costliest ops of the original: plain, the plain model again (the noise), and patched (by data flow,
    and by name)."""
    plain, original, control = found.plain, found.original, found.control or Profile()
    patched = {**original.times, **found.branch.times}
    by_flow: dict[str, float] = {}
    for name, us in original.times.items():
        key = plain_name(name, set(plain.times)) or f"{name} (patched only)"
        by_flow[key] = by_flow.get(key, 0.0) + us
    names = sorted(set(plain.times) | set(by_flow), key=lambda n: -max(plain.times.get(n, 0), by_flow.get(n, 0)))
    rows = []
    for name in names[:top]:
        before, after, again = plain.times.get(name), by_flow.get(name), control.times.get(name)
        kind = plain.kinds.get(name) or original.kinds.get(name.removesuffix(" (patched only)"), "")
        cells = [_us(before), _us(again), _us(patched.get(name)), _us(after), _ratio(again, before)]
        rows.append([model, f"`{_short(name)}`", kind, *cells, _ratio(after, before)])
    return rows


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _ratio(after: float | None, before: float | None) -> str:
    return "-" if not after or not before else f"{after / before:.2f}"


def _short(name: str, width: int = 48) -> str:
    return name if len(name) <= width else "..." + name[-width + 3 :]


def table(rows: list[list[str]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="models whose names contain one of these")
    parser.add_argument("--runs", type=int, default=50, help="profiled inferences of each model [50]")
    parser.add_argument("--precision", default="auto", choices=["auto", "f32", "bf16", "f16"], help="[auto]")
    parser.add_argument("--top", type=int, default=5, help="ops listed per model [5]")
    parser.add_argument("--statistic", default="median", choices=list(STATISTICS), help="of each op's runs: median, "
                        "or min on a busy machine [median]")  # fmt: skip
    parser.add_argument("--threads", type=int, default=0, help="OpenVINO threads per inference; 0: all cores [0]")
    parser.add_argument("--zoo-python", type=Path, default=DEFAULT_ZOO_PYTHON, help=f"[{DEFAULT_ZOO_PYTHON}]")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"exported models [{DEFAULT_CACHE}]")
    args = parser.parse_args()
    totals, tops, ran = [], [], set()
    with tempfile.TemporaryDirectory() as scratch:
        for model, path in headline(args.zoo_python, args.cache, Path(scratch)).items():
            if not args.only or any(o in model for o in args.only):
                total, top, precision = measure(model, path(), args)
                totals.append(total)
                tops += top
                ran.add(precision)
    print(f"\n`python benchmarks/original_ops.py {shlex.join(sys.argv[1:])}`: {machine()}, OpenVINO "
          f"{ov.get_version()}, precision {', '.join(sorted(ran))}, PERF_COUNT, batch 1, "
          f"{args.threads or 'all'} threads, {args.runs} runs of each model in turn; microseconds per inference, "
          f"each op's {args.statistic} over the runs.\n")  # fmt: skip
    header = ["model", "plain: all ops", "plain again", "ratio", "patched: the original's ops", "ratio"]
    print(table(totals, [*header, "patched: the branch's ops"]) + "\n")
    header = ["model", "op (plain name)", "type, kernel", "plain", "plain again", "patched, same name"]
    print(table(tops, [*header, "patched, by data flow", "ratio (again)", "ratio (flow)"]))


def measure(model: str, path: Path, args: argparse.Namespace) -> tuple[list[str], list[list[str]], str]:
    """One model's row of totals, its top ops' rows, and the precision it ran in."""
    pair = Pair.of(str(path), args.precision, args.threads, control=True)
    precision = pair.compiled["patched"].get_property("INFERENCE_PRECISION_HINT").to_string()
    found = pair.profiles(args.runs, args.statistic)
    plain, original, again = found.plain.total, found.original.total, (found.control or Profile()).total
    print(f"{model}: original ops {plain:.0f} -> {original:.0f} us ({_ratio(original, plain)})", flush=True)
    cells = [f"{plain:.0f}", f"{again:.0f}", _ratio(again, plain), f"{original:.0f}", _ratio(original, plain)]
    return [model, *cells, f"{found.branch.total:.0f}"], top_rows(model, found, args.top), precision


if __name__ == "__main__":
    main()
