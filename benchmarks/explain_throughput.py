"""explain's and eval's photos a second against their floor, the floor measured in the same run.

    python benchmarks/explain_throughput.py [--photos 1000] [--models coral_v2 dog] [--precisions auto f32]
        [--eval-photos 100] [--memory-scale 10] [--also "--no-overlays --no-report"] [--cli "python -m ov_reciprocam"]
        [--pythonpath DIR]

The floor of a model is what no tool can beat on this machine: every photo read and resized as the
tool's reader does (`photos.imaging.read_image` and the model's `Preprocess`, timed on one core),
plus the patched model's own run on the resized inputs with OpenVINO's THROUGHPUT hint on all cores
(an AsyncInferQueue, batches of the size explain feeds). With both perfectly overlapped:

    floor photos/s = photos / ((read seconds + cores x inference seconds) / cores)

Then the tool as a user runs it, a subprocess of the CLI on the same photos: `explain --no-overlays`,
`explain` with its default outputs (and each --also set of flags: say, without the report's thumbnails, to see
what the outputs a photo asks for cost), and `eval --methods reciprocam`, whose floor is the model inputs
eval's own cost line counts per photo (the map and the map of the masked photo from the patched
model, the rest from the plain one) at each model's throughput. A run on one photo measures each
command's start-up (import, patch, compile, probe, summary), so that the photos/s and the ratio to
the floor (tool seconds / floor seconds, 1.00 is the floor) hold for any photo count. The precision
is what each run reports it ran (explain's results.json, eval's metrics.json). Peak memory is the peak RSS
of the explain process on N photos and on --memory-scale x N.

Photos: none downloaded. N JPEGs of 500x375 (a quarter of them 375x500), varied crops of the photos
in samples/images and samples/openimages, from a fixed seed.

To measure older code with the same floor: extract it (git archive COMMIT | tar -x -C DIR) and pass
--pythonpath DIR; the CLI then runs as `python -m ov_reciprocam` from a folder outside the repo.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import openvino as ov

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import ov_reciprocam as orc  # noqa: E402
from ov_reciprocam.inference.device import precision_config  # noqa: E402
from ov_reciprocam.photos import imaging  # noqa: E402
from ov_reciprocam.photos.preprocess import Preprocess  # noqa: E402
from ov_reciprocam.quality.evaluate import Cost, Evaluator, eval_settings  # noqa: E402
from ov_reciprocam.vocabulary import Recipe  # noqa: E402

SOURCES = (REPO / "samples/images", REPO / "samples/openimages")
LANDSCAPE = (500, 375)
EVAL_METHOD = "reciprocam"
EVAL_MAPS = 2  # eval's patched-model inputs per photo and Recipro-CAM method: the map, and the masked photo's map


@dataclasses.dataclass(frozen=True)
class Subject:
    """A model as explain and eval are told about it: its file and the recipe its rt_info lacks."""

    path: Path
    recipe: Recipe

    def flags(self) -> list[str]:
        """The recipe as the CLI's flags."""
        found: list[str] = []
        for name, value in self.recipe.overrides().items():
            if name == "rgb":
                found.append("--rgb" if value else "--bgr")
            elif isinstance(value, tuple):
                found += [f"--{name}", ",".join(f"{v:g}" for v in value)]
            else:
                found += [f"--{name}", str(value)]
        return found


SUBJECTS = {
    # The Coral uint8 TFLite: its metadata holds the recipe.
    "coral_v2": Subject(REPO / "samples/models/coral/mobilenet_v2_1.0_224_quant.tflite", Recipe()),
    # The dog model's README: bicubic to 160x160, RGB, x / 127.5 - 1.
    "dog": Subject(
        REPO / "samples/models/dog_breeds_mobilenetv2/dog_breeds_mobilenetv2.xml",
        Recipe(mean=(127.5,), scale=(127.5,), rgb=True, interpolation="cubic"),
    ),
}


# --- photos -------------------------------------------------------------------------------------------------------


def crop(source: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random crop (a third to all of the largest of the target aspect), resized, maybe mirrored."""
    w, h = LANDSCAPE if rng.random() < 0.75 else LANDSCAPE[::-1]
    sh, sw = source.shape[:2]
    fit = min(sw / w, sh / h) * math.sqrt(rng.uniform(1 / 3, 1))
    cw, ch = max(1, round(w * fit)), max(1, round(h * fit))
    x, y = int(rng.integers(0, sw - cw + 1)), int(rng.integers(0, sh - ch + 1))
    picture = cv2.resize(source[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_AREA)
    return picture[:, ::-1] if rng.random() < 0.5 else picture


def make_photos(folder: Path, count: int, seed: int) -> list[Path]:
    """`count` JPEGs in `folder`, the same for the same seed."""
    sources = [imaging.read_image(p) for p in imaging.collect_images([str(s) for s in SOURCES])]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        picture = crop(sources[int(rng.integers(len(sources)))], rng)
        cv2.imwrite(str(folder / f"{seed}_{i:06d}.jpg"), np.ascontiguousarray(picture), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return imaging.collect_images([str(folder)])


# --- the floor ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Floor:
    """Seconds for N photos: reading and resizing on one core, and each model's inference on all cores."""

    photos: int
    cores: int
    read: float
    patched: float
    plain: float
    precision: str | None

    def seconds(self, inference: float) -> float:
        """The wall time of reading plus `inference` seconds of all cores, perfectly overlapped."""
        return (self.read + self.cores * inference) / self.cores

    @property
    def explain(self) -> float:
        return self.seconds(self.patched)

    def eval(self, cost: Cost) -> float:
        """eval's floor: per photo, its maps from the patched model and every other input from the plain one."""
        maps = EVAL_MAPS * len(cost.inputs)
        return self.seconds(maps * self.patched + (cost.per_photo - maps) * self.plain)


def read_seconds(paths: Sequence[Path], preprocess: Preprocess, keep: int) -> tuple[float, np.ndarray]:
    """Seconds to read and resize every photo on one core, and the first `keep` model inputs."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # the floor's reader is one core; the others are the model's
    try:
        start, kept = time.perf_counter(), []
        for i, path in enumerate(paths):
            x = preprocess(imaging.read_image(path, preprocess.channels))
            if i < keep:
                kept.append(x)
        return time.perf_counter() - start, np.stack(kept)
    finally:
        cv2.setNumThreads(threads)


def inference_seconds(
    model: ov.Model,
    inputs: np.ndarray,
    photos: int,
    batch: int,
    config: dict | None,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Seconds the THROUGHPUT hint takes for `photos` inputs in batches of `batch`, on all cores (by `clock`: the
    process's CPU seconds with time.process_time)."""
    compiled = ov.Core().compile_model(model, "CPU", {**(config or {}), "PERFORMANCE_HINT": "THROUGHPUT"})
    queue = ov.AsyncInferQueue(compiled, compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    batches = [inputs[i : i + batch] for i in range(0, len(inputs) - batch + 1, batch)]

    def run(jobs: int) -> float:
        start = clock()
        for j in range(jobs):
            queue.start_async({0: batches[j % len(batches)]})
        queue.wait_all()
        return clock() - start

    run(2 * len(queue))  # the first inferences allocate
    jobs = math.ceil(photos / batch)
    return run(jobs) * photos / (jobs * batch)


def measure_floor(subject: Subject, paths: Sequence[Path], precision: str) -> tuple[Floor, int]:
    """The floor for `paths`, and the batch explain feeds (that of the floor's inference)."""
    config = precision_config(precision)
    explainer = orc.Explainer(str(subject.path), preprocess=subject.recipe, config=config)
    batch = explainer.batch_size
    read, inputs = read_seconds(paths, explainer.preprocess, keep=8 * batch)
    models = {"patched": explainer.model, "plain": orc.read_model(subject.path)}  # eval's floor needs the plain one too
    seconds = {name: inference_seconds(model, inputs, len(paths), batch, config) for name, model in models.items()}
    cores = len(os.sched_getaffinity(0))
    return Floor(len(paths), cores, read, seconds["patched"], seconds["plain"], explainer.precision), batch


def eval_cost(subject: Subject, precision: str) -> Cost:
    """What eval counts per photo for its one method (built as eval builds it)."""
    settings = eval_settings(
        subject.path, recipe=subject.recipe, methods=EVAL_METHOD, config=precision_config(precision)
    )
    return Evaluator(settings).cost()


# --- the tool -----------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float
    precision: str | None


# The command runs under a small Python that reports its time and peak RSS. Forked from this process instead, its
# peak would start from this process's size: Linux carries the larger RSS across fork and exec into ru_maxrss.
_MEASURED = """import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[2:])
seconds = time.perf_counter() - start
open(sys.argv[1], 'w').write(f'{seconds} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}')
sys.exit(code)
"""


def _precision(output: Path) -> str | None:
    """The precision explain's results.json or eval's metrics.json says the run ran in (None: the file has none)."""
    for name in ("results.json", "metrics.json"):
        if (output / name).exists():
            return json.loads((output / name).read_text()).get("precision")
    return None


@dataclasses.dataclass(frozen=True)
class Tool:
    """The CLI as a user runs it: a command line, and the environment (an older package first on the path)."""

    command: list[str]
    pythonpath: str | None
    folder: Path  # runs start here, outside the repo, so that `python -m` imports the package PYTHONPATH names

    def run(self, args: list[str], output: Path) -> Run:
        """Run the command (its output into OUTPUT.log) for its seconds, peak RSS and the precision OUTPUT says."""
        env = dict(os.environ) | ({"PYTHONPATH": self.pythonpath} if self.pythonpath else {})
        log, measured = output.with_suffix(".log"), output.with_suffix(".peak")
        with log.open("w") as out:
            code = subprocess.call(
                [sys.executable, "-c", _MEASURED, str(measured), *self.command, *args],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.folder,
            )  # fmt: skip
        if code:
            tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
            raise SystemExit(f"{shlex.join(self.command + args)} failed ({code}):\n{tail}")
        seconds, kb = measured.read_text().split()
        return Run(float(seconds), int(kb) / 1024, _precision(output))

    def version(self) -> str:
        code = "import ov_reciprocam, sys; sys.stdout.write(ov_reciprocam.__version__ + ' ' + ov_reciprocam.__file__)"
        env = dict(os.environ) | ({"PYTHONPATH": self.pythonpath} if self.pythonpath else {})
        python = self.command[0] if self.command[1:2] == ["-m"] else sys.executable
        found = subprocess.run([python, "-c", code], env=env, cwd=self.folder, capture_output=True, text=True)
        return found.stdout.strip() or found.stderr.strip()[-200:]


def default_cli() -> list[str]:
    installed = Path(sys.executable).with_name("ov-reciprocam")
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "ov_reciprocam"]


@dataclasses.dataclass(frozen=True)
class Row:
    model: str
    command: str
    precision: str | None
    photos: int
    seconds: float
    startup: float
    floor: float  # seconds for the photos
    peak_mb: float

    def cells(self) -> list[str]:
        photos = self.seconds - self.startup
        # A start-up longer than the whole run: the machine's load, not the tool; too few photos to tell.
        rate, ratio = (f"{self.photos / photos:.1f}", f"{photos / self.floor:.2f}") if photos > 0 else ("?", "?")
        return [
            self.model,
            f"`{self.command}`",
            str(self.precision),
            str(self.photos),
            f"{self.seconds:.1f}",
            f"{self.startup:.1f}",
            rate,
            f"{self.photos / self.floor:.1f}",
            ratio,
            f"{self.peak_mb:.0f}",
        ]


HEADER = ["model", "command", "precision ran", "photos", "s", "start-up s", "photos/s", "floor photos/s", "x floor",
          "peak RSS MB"]  # fmt: skip


def table(rows: Sequence[list[str]], header: Sequence[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


# --- one model, one precision -------------------------------------------------------------------------------------


@dataclasses.dataclass
class Session:
    tool: Tool
    work: Path
    photos: list[Path]
    eval_photos: list[Path]
    also: list[list[str]] = dataclasses.field(default_factory=list)  # more sets of explain's flags to time

    def explain(self, subject: Subject, name: str, precision: str, paths: Sequence[Path], extra: list[str]) -> Run:
        output = self.work / f"out_{name}_{precision}_{'_'.join(extra).strip('-') or 'default'}"
        args = ["explain", str(subject.path), *map(str, paths), "-o", str(output), "--precision", precision]
        return self.tool.run(args + subject.flags() + extra, output)

    def eval(self, subject: Subject, name: str, precision: str, paths: Sequence[Path]) -> Run:
        output = self.work / f"eval_{name}_{precision}_{len(paths)}"
        args = ["eval", str(subject.path), *map(str, paths), "-o", str(output), "--precision", precision]
        args += ["--methods", EVAL_METHOD, *subject.flags()]
        return self.tool.run(args, output)

    def rows(self, name: str, subject: Subject, precision: str) -> list[Row]:
        floor, batch = measure_floor(subject, self.photos, precision)
        folder = [self.photos[0].parent]
        one = self.photos[:1]
        found = []
        for extra in (["--no-overlays"], [], *self.also):
            start = self.explain(subject, name, precision, one, extra).seconds
            run = self.explain(subject, name, precision, folder, extra)
            command = " ".join(["explain", *extra]) + (f" (batch {batch})")
            found.append(Row(name, command, run.precision, len(self.photos), run.seconds, start, floor.explain,
                             run.peak_mb))  # fmt: skip
        if self.eval_photos:
            cost = eval_cost(subject, precision)
            start = self.eval(subject, name, precision, one).seconds
            run = self.eval(subject, name, precision, self.eval_photos)
            per_photo = floor.eval(cost) / floor.photos
            command = f"eval --methods {EVAL_METHOD} ({cost.per_photo} inputs a photo)"
            found.append(Row(name, command, run.precision, len(self.eval_photos), run.seconds, start,
                             per_photo * len(self.eval_photos), run.peak_mb))  # fmt: skip
        print(f"{name} {precision}: read {floor.read:.2f} s, patched {floor.patched:.2f} s, plain {floor.plain:.2f} s "
              f"for {floor.photos} photos on {floor.cores} cores ({floor.precision})", flush=True)  # fmt: skip
        return found

    def memory(self, name: str, subject: Subject, precision: str, more: list[Path]) -> list[str]:
        """Peak RSS of `explain --no-overlays` on N photos and on N + more."""
        small = self.explain(subject, name, precision, [self.photos[0].parent], ["--no-overlays"])
        large = self.explain(subject, name, precision, [self.photos[0].parent, more[0].parent], ["--no-overlays"])
        count = len(self.photos) + len(more)
        return [name, str(small.precision), f"{small.peak_mb:.0f} ({len(self.photos)} photos)",
                f"{large.peak_mb:.0f} ({count} photos)", f"{count / large.seconds:.1f}"]  # fmt: skip


# --- main ---------------------------------------------------------------------------------------------------------


def machine() -> str:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")), "?")
    flags = set(next((ln for ln in lscpu.splitlines() if ln.startswith("Flags")), "").split())
    wanted = ("avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
    has = [f for f in wanted if f in flags]
    return f"{model}, {len(os.sched_getaffinity(0))} cores, {' '.join(has) or 'no avx512/amx'}"


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--photos", type=int, default=1000, help="N, photos per run [1000]")
    parser.add_argument("--models", nargs="+", choices=list(SUBJECTS), default=list(SUBJECTS))
    parser.add_argument("--precisions", nargs="+", default=["auto", "f32"], choices=["auto", "f32", "bf16", "f16"],
                        help="the CLI's --precision values to run (auto: the device default, bf16 on AVX-512 BF16 and "
                        "AMX CPUs) [auto f32]")  # fmt: skip
    parser.add_argument("--eval-photos", type=int, default=100, help="photos for eval, ~100 inputs each; 0: skip [100]")
    parser.add_argument("--memory-scale", type=int, default=10, help="peak RSS also on this many times N; 0: skip [10]")
    parser.add_argument("--also", type=shlex.split, action="append", default=[], metavar="FLAGS",
                        help="explain's flags for one more row, quoted; repeatable [none]")  # fmt: skip
    parser.add_argument("--cli", type=shlex.split, help="the command to run [the ov-reciprocam beside this python]")
    parser.add_argument(
        "--pythonpath", help="this folder first on PYTHONPATH (older code; runs python -m ov_reciprocam)"
    )
    parser.add_argument("--seed", type=int, default=0, help="of the photos' crops [0]")
    parser.add_argument("--work", type=Path, help="keep photos and outputs here [a temporary folder, removed]")
    return parser.parse_args()


def main() -> None:
    args = parse()
    cli = args.cli or ([sys.executable, "-m", "ov_reciprocam"] if args.pythonpath else default_cli())
    with tempfile.TemporaryDirectory() as scratch:
        work = (args.work or Path(scratch)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        tool = Tool(cli, args.pythonpath, work)
        about = (
            f"`python benchmarks/explain_throughput.py {shlex.join(sys.argv[1:])}`: {machine()}, OpenVINO "
            f"{ov.get_version()}; the CLI `{shlex.join(cli)}` runs ov-reciprocam {tool.version()}. Photos of "
            "500x375 JPEG (a quarter portrait); photos/s and x floor leave out the start-up, timed on one photo."
        )
        photos = make_photos(work / "photos", args.photos, args.seed)
        session = Session(tool, work, photos, photos[: args.eval_photos], args.also)
        rows = [row for name in args.models for p in args.precisions for row in session.rows(name, SUBJECTS[name], p)]
        memory = []
        if args.memory_scale > 1:
            more = make_photos(work / "more", (args.memory_scale - 1) * args.photos, args.seed + 1)
            memory = [session.memory(name, SUBJECTS[name], args.precisions[0], more) for name in args.models]
    print()
    print(about + "\n")
    print(table([r.cells() for r in rows], HEADER))
    if memory:
        print()
        print(table(memory, ["model", "precision ran", "peak RSS MB, N", "peak RSS MB, M x N", "photos/s (wall)"]))


if __name__ == "__main__":
    main()
