"""Where explain's CPU time goes, thread by thread, beside what each part costs alone.

    python benchmarks/explain_cpu.py [--models coral_v2 dog] [--precisions auto f32] [--photos 400]
        [--runs 2] [--no-overlays] [--no-report]

`explain_paths` runs in this process on N photos (made as explain_throughput.py makes them) while its threads'
CPU times are read from /proc/self/task every 50 ms, then split: the reader threads, the writer threads, the
main thread, OpenVINO's callbacks (the threads Python sees as Dummy), and every thread Python did not start
(OpenVINO's streams, OpenCV's pool). Beside them, each part alone, in CPU ms a photo: reading and resizing on one
thread, the patched model's THROUGHPUT run on all cores (its process CPU time), and a writer's work
(`Explainer.finish` and `write_photo`) on one thread. Linux only (/proc). The first run of each model compiles
for throughput, so the last run is the one printed.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import explain_throughput as et  # noqa: E402

import ov_reciprocam as orc  # noqa: E402
from ov_reciprocam.inference.device import precision_config  # noqa: E402
from ov_reciprocam.inference.explainer import THROUGHPUT  # noqa: E402
from ov_reciprocam.output.explain_files import Outputs, write_photo  # noqa: E402
from ov_reciprocam.photos import imaging  # noqa: E402
from ov_reciprocam.runs.explain import explain_paths  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
GROUPS = {"read": "readers", "write": "writers", "MainThread": "main thread", "Dummy": "OpenVINO's callbacks"}
OTHERS = "not Python's (OpenVINO, OpenCV)"


def task_seconds() -> dict[int, float]:
    """CPU seconds of each thread of this process, by its native id."""
    found = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended between the listing and the read
            continue
        found[int(tid)] = (int(fields[11]) + int(fields[12])) / TICK
    return found


def by_thread(explainer: orc.Explainer, photos: list[Path], asked: Outputs) -> tuple[float, dict[str, float]]:
    """Photos a second of one explain run writing what `asked` says (its folder aside), and its CPU seconds by thread
    group."""
    start, seen, names = task_seconds(), {}, {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            names.update({t.native_id: t.name for t in threading.enumerate()})
            seen.update(task_seconds())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, name="sampler")
    folder = Path(tempfile.mkdtemp())
    sampler.start()
    began = time.perf_counter()
    explain_paths(explainer, photos, replace(asked, directory=folder / "out"))
    wall = time.perf_counter() - began
    done.set()
    sampler.join()
    seen.update(task_seconds())
    shutil.rmtree(folder)
    groups: collections.Counter[str] = collections.Counter()
    for tid, seconds in seen.items():
        name = names.get(tid, "")
        group = next((g for prefix, g in GROUPS.items() if name.startswith(prefix)), OTHERS if not name else None)
        if group:  # the sampler's own time is left out
            groups[group] += seconds - start.get(tid, 0.0)
    return len(photos) / wall, dict(groups)


def alone(explainer: orc.Explainer, photos: list[Path], asked: Outputs) -> dict[str, float]:
    """CPU seconds a photo of each part run by itself."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # reading as the floor reads: one core
    began = time.thread_time()
    pictures = [imaging.read_image(p, explainer.preprocess.channels) for p in photos]
    inputs = [explainer.preprocess(p) for p in pictures]
    read = (time.thread_time() - began) / len(photos)
    cv2.setNumThreads(threads)  # writing as explain writes
    batch = explainer.batch_size
    sample = pictures[: max(64, 8 * batch) // batch * batch]  # whole batches, 64 photos at least
    made = [
        explainer.batch(sample[i : i + batch], [str(p) for p in photos[i : i + batch]])
        for i in range(0, len(sample), batch)
    ]
    raws = [explainer.infer(b) for b in made]
    wanted = explainer.wanted()
    with tempfile.TemporaryDirectory() as folder:
        out = replace(asked, directory=folder)
        began = time.thread_time()
        explained = (e for b, raw in zip(made, raws, strict=True) for e in explainer.finish(b, raw, wanted))
        for i, explanation in enumerate(explained):
            write_photo(explanation, explanation.source, f"p{i}", out)
        write = (time.thread_time() - began) / len(sample)
    kept = np.stack(inputs[: 8 * batch])  # the floor's inputs: batches cycled through
    infer = et.inference_seconds(explainer.model, kept, len(photos), batch, explainer.config, time.process_time)
    infer /= len(photos)
    return {"readers": read, "inference (THROUGHPUT)": infer, "writers": write}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=sorted(et.SUBJECTS), default=["coral_v2", "dog"])
    parser.add_argument("--precisions", nargs="+", default=["auto", "f32"])
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--overlays", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--report", action=argparse.BooleanOptionalAction, default=True, help="and its thumbnails")
    args = parser.parse_args()
    asked = Outputs(".", overlays=args.overlays, report=args.report)
    with tempfile.TemporaryDirectory() as scratch:
        photos = et.make_photos(Path(scratch), args.photos, seed=0)
        switches = ", ".join(
            f"{name} {'on' if on else 'off'}" for name, on in (("overlays", asked.overlays), ("report", asked.report))
        )
        print(f"{et.machine()}; {args.photos} photos, {switches}; CPU ms a photo\n")
        print("| model | precision | photos/s | part | in explain | alone |\n|---|---|---|---|---|---|")
        for name in args.models:
            subject = et.SUBJECTS[name]
            for precision in args.precisions:
                config = THROUGHPUT | (precision_config(precision) or {})
                explainer = orc.Explainer(str(subject.path), preprocess=subject.recipe, config=config)
                for _ in range(args.runs):
                    rate, groups = by_thread(explainer, photos, asked)
                parts = alone(explainer, photos, asked)
                row = f"| {name} | {explainer.precision} | {rate:.0f}"
                for part in [*GROUPS.values(), OTHERS]:
                    own = parts.get("inference (THROUGHPUT)" if part == OTHERS else part)
                    shown = f"{own * 1e3:.2f}" if own is not None else ""
                    print(f"{row} | {part} | {groups.get(part, 0) / len(photos) * 1e3:.2f} | {shown} |")
                total, own_total = sum(groups.values()) / len(photos) * 1e3, sum(parts.values()) * 1e3
                print(f"{row} | **total** | {total:.2f} | {own_total:.2f} |")


if __name__ == "__main__":
    main()
