"""Where a patched model's time goes: the saliency branch's ops, and whether the original's ops slowed down.

    python benchmarks/profile_branch.py MODEL [--precision auto|f32] [--runs N] [--top K] [--statistic median|min]
        [--threads N] [patch options as k=v]

Plain and patched are compiled in one process with PERF_COUNT and run in turn, one inference each, so that
the machine's load hits both alike. Each op of the patched runtime graph is counted as the original's when
an original output depends on it, else as the branch's: friendly names cannot tell them apart, because the
tail's clone keeps the original's names and the plugin renames one of each pair with a suffix (the clone,
as often as not, keeps the plain name). benchmarks/original_ops.py runs this on the headline models.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import statistics
from collections.abc import Callable

import numpy as np
import openvino as ov

import ov_reciprocam as orc
from ov_reciprocam.methods.saliency import SALIENCY, SALIENCY_CLASSES
from ov_reciprocam.model.reshape import set_batch
from ov_reciprocam.quality.bench import random_input


def original_names(compiled: ov.CompiledModel) -> set[str]:
    """Friendly names of the runtime ops that an output other than the saliency outputs depends on."""
    # The runtime graph's Results keep no tensor names; they come in the compiled model's output order.
    results = compiled.get_runtime_model().get_results()
    saliency = {SALIENCY, SALIENCY_CLASSES}
    outputs = [r for r, o in zip(results, compiled.outputs, strict=True) if not saliency & o.get_names()]
    seen, stack = set(), [r.input_value(0).get_node() for r in outputs]
    while stack:
        node = stack.pop()
        if node.get_friendly_name() not in seen:
            seen.add(node.get_friendly_name())
            stack += [v.get_node() for v in node.input_values()]
    return seen


@dataclasses.dataclass
class Profile:
    """Microseconds per run of each runtime op, by friendly name, and its type and kernel."""

    times: dict[str, float] = dataclasses.field(default_factory=lambda: collections.defaultdict(float))
    kinds: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.times.values())

    def split(self, names: set[str]) -> tuple[Profile, Profile]:
        """The ops named in `names`, and the others."""
        inside, outside = Profile(), Profile()
        for name, us in self.times.items():
            part = inside if name in names else outside
            part.times[name], part.kinds[name] = us, self.kinds[name]
        return inside, outside

    def top(self, count: int) -> list[tuple[str, float]]:
        return sorted(self.times.items(), key=lambda kv: -kv[1])[:count]


STATISTICS: dict[str, Callable[[list[float]], float]] = {"median": statistics.median, "min": min}


def profiles(
    compiled: dict[str, ov.CompiledModel], image: np.ndarray, runs: int, statistic: str = "median"
) -> dict[str, Profile]:
    """Each model's PERF_COUNT profile over `runs`, the models run in turn so that the machine's load hits them
    alike; per op the median run, which a few runs preempted by other processes do not move (on a machine busier
    than that, the fastest run: load only ever adds time)."""
    requests = {name: c.create_infer_request() for name, c in compiled.items()}
    samples: dict[str, dict[str, list[float]]] = {name: collections.defaultdict(list) for name in compiled}
    found = {name: Profile() for name in compiled}
    for run in range(10 + runs):
        for name, request in requests.items():
            request.infer({0: image})
            if run < 10:  # warm-up: the first inferences allocate
                continue
            for p in request.profiling_info:
                samples[name][p.node_name].append(p.real_time.total_seconds() * 1e6)
                found[name].kinds[p.node_name] = f"{p.node_type} {p.exec_type}"
    for name, ops in samples.items():
        found[name].times.update((op, STATISTICS[statistic](us)) for op, us in ops.items())
    return found


@dataclasses.dataclass
class Profiled:
    """The plain model's ops; the patched model's, split into the original's and the branch's (by data flow); and, when
    asked for, a second compile of the plain model: what the machine's noise alone makes of the same ops."""

    plain: Profile
    original: Profile
    branch: Profile
    control: Profile | None


@dataclasses.dataclass
class Pair:
    """A plain model and its patched copy, compiled alike with PERF_COUNT (and the plain model again, as a control)."""

    plain: ov.Model
    patched: ov.Model
    compiled: dict[str, ov.CompiledModel]

    @classmethod
    def of(
        cls, model: str, precision: str = "auto", threads: int = 0, control: bool = False, options: dict | None = None
    ) -> Pair:
        """threads: OpenVINO's per inference, 0 for all cores (1 keeps ops from waiting on a preempted sibling thread
        when the machine is busy)."""
        plain = orc.read_model(model)
        if plain.get_parameters()[0].get_partial_shape()[0].is_dynamic:
            set_batch(plain, 1)
        patched = orc.patch(plain, None, **(options or {}))
        config = {"PERF_COUNT": "YES", "PERFORMANCE_HINT": "LATENCY"}
        if precision != "auto":
            config["INFERENCE_PRECISION_HINT"] = precision
        if threads:
            config["INFERENCE_NUM_THREADS"] = str(threads)
        core = ov.Core()
        models = [("plain", plain), ("patched", patched)] + ([("control", plain)] if control else [])
        return cls(plain, patched, {name: core.compile_model(m, "CPU", config) for name, m in models})

    def profiles(self, runs: int, statistic: str = "median") -> Profiled:
        found = profiles(self.compiled, random_input(self.plain), runs, statistic)
        original, branch = found["patched"].split(original_names(self.compiled["patched"]))
        return Profiled(found["plain"], original, branch, found.get("control"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("options", nargs="*", help="patch options, e.g. top_k=5 kernel=gaussian")
    parser.add_argument("--precision", default="auto", choices=["auto", "f32", "bf16", "f16"])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--statistic", default="median", choices=list(STATISTICS), help="of each op's runs")
    parser.add_argument("--threads", type=int, default=0, help="per inference; 0: all cores")
    args = parser.parse_args()
    options = dict(o.split("=", 1) for o in args.options)
    typed: dict[str, object] = {k: int(v) if v.isdigit() else v for k, v in options.items()}
    found = Pair.of(args.model, args.precision, args.threads, options=typed).profiles(args.runs, args.statistic)
    plain, original, branch = found.plain, found.original, found.branch
    print(f"plain ops {plain.total:.0f} us; patched: original ops {original.total:.0f} us, branch ops "
          f"{branch.total:.0f} us ({len(branch.times)} ops)")  # fmt: skip
    for name, us in branch.top(args.top):
        print(f"  {us:8.1f} us  {branch.kinds[name]:<40} {name[:60]}")


if __name__ == "__main__":
    main()
