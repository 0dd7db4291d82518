"""The headline table of docs/benchmarks.md: what the saliency output costs on a few models.

    python benchmarks/headline.py MODEL [MODEL ...] [--seconds S] [--baselines NAME ...]

For each model (IR or ONNX, plain): patched/plain latency with `ov_reciprocam.bench` at batch 1 in
f32 and in the device's default precision, the same for top-5 logit maps, the MAC floor of each,
and the IR growth. Models named in --baselines also get Score-CAM and RISE timed on them (minutes
each). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import os
from pathlib import Path

import openvino as ov

import ov_reciprocam as orc
from ov_reciprocam.quality import bench

F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def row(path: Path, seconds: float, baselines: bool) -> list[str]:
    growth = bench.ir_growth(orc.read_model(path), orc.patch(path))
    (f32,) = bench.measure(path, seconds=seconds, config=F32)
    (default,) = bench.measure(path, seconds=seconds)
    (top5,) = bench.measure(
        path, seconds=seconds, config=F32, patch_options=orc.PatchOptions.of(top_k=5, score="logits")
    )
    cells = [
        path.stem,
        f32.path,
        f"{f32.plain_ms:.2f}",
        f"{f32.patched_ms:.2f}",
        f"**{f32.ratio:.2f}**",
        f"{f32.floor:.2f} / {f32.floor_bytes:.2f}",
        f"{default.plain_ms:.2f}",
        f"{default.patched_ms:.2f}",
        f"**{default.ratio:.2f}**",
        f"{default.floor_bytes:.2f}",
        f"**{top5.ratio:.2f}**",
        f"{top5.floor:.2f}",
        f"{growth / 1024:+.1f} kB",
    ]
    if baselines:
        times = bench.baselines(path, f32, config=F32)
        cells += [f"{times[m]['ms_per_image']:,.0f} ({times[m]['times_ours']:,.0f}x)" for m in ("score-cam", "rise")]
    else:
        cells += ["", ""]
    return cells + [f"{os.getloadavg()[0]:.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--seconds", type=float, default=10.0, help="timing per model and variant")
    parser.add_argument(
        "--baselines", nargs="*", default=[], metavar="NAME", help="model stems to time Score-CAM/RISE on"
    )
    args = parser.parse_args()
    cpu = ov.Core().get_property("CPU", "FULL_DEVICE_NAME")
    print(f"{datetime.datetime.now():%Y-%m-%d %H:%M}, {cpu}, {os.cpu_count()} cores, OpenVINO {ov.get_version()}\n")
    print(
        "| model | path | f32 plain ms | f32 patched ms | f32 ratio | floor (MACs / +bytes) | default plain ms "
        "| default patched ms | default ratio | default floor +bytes | top-5 logits ratio (f32) | top-5 floor "
        "| IR growth | Score-CAM ms (x ours) | RISE ms (x ours) | load |"
    )
    print("|---" * 16 + "|")
    for path in args.models:
        print("| " + " | ".join(row(path, args.seconds, path.stem in args.baselines)) + " |", flush=True)


if __name__ == "__main__":
    main()
