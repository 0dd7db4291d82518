"""Patched vs plain: latency ratio and IR growth, measured side by side in one run.

    python benchmarks/overhead.py [--models resnet50 vgg19] [--rounds 30] [--batch 1]

The two compiled models run alternately, so machine noise hits both alike; the ratio of the
medians is the number to read, not the absolute times. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import openvino as ov

import ov_reciprocam as orc
from ov_reciprocam.patch import set_batch

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def elapsed_ms(compiled: ov.CompiledModel, image: np.ndarray) -> float:
    start = time.perf_counter()
    compiled(image)
    return (time.perf_counter() - start) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet50", "vgg19"])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--precision", default="f32", help="CPU INFERENCE_PRECISION_HINT (f32, bf16)")
    args = parser.parse_args()
    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": args.precision, "PERFORMANCE_HINT": "LATENCY"}
    print(f"CPU: {core.get_property('CPU', 'FULL_DEVICE_NAME')}, OpenVINO {ov.get_version()}, {platform.node()}")
    print(f"batch {args.batch}, {args.rounds} alternating rounds, precision {args.precision}\n")
    print("| model | target | plain ms | patched ms | ratio | IR .bin plain | IR .bin patched | growth |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models:
        source = LIGHT / f"light_{name}.onnx"
        plain = orc.read_model(source)
        set_batch(plain, args.batch)
        patched = orc.patch(source, batch=args.batch)
        plain_c = core.compile_model(plain, "CPU", config)
        patched_c = core.compile_model(patched, "CPU", config)
        shape = list(patched.get_parameters()[0].get_partial_shape().to_shape())
        image = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        for _ in range(3):  # warm-up: first inferences allocate and pick kernels
            plain_c(image)
            patched_c(image)
        times = np.array([(elapsed_ms(plain_c, image), elapsed_ms(patched_c, image)) for _ in range(args.rounds)])
        p_ms, x_ms = np.median(times, axis=0)
        with tempfile.TemporaryDirectory() as tmp:
            a = orc.save(plain, Path(tmp) / "plain.xml").with_suffix(".bin").stat().st_size
            b = orc.save(patched, Path(tmp) / "patched.xml").with_suffix(".bin").stat().st_size
        t = orc.locate(plain).target
        print(
            f"| light_{name} | {t.name} {t.channels}x{t.height}x{t.width} "
            f"| {p_ms:.1f} | {x_ms:.1f} | {x_ms / p_ms:.2f} | {a / 1e6:.1f} MB | {b / 1e6:.1f} MB | {b - a:+d} B |"
        )


if __name__ == "__main__":
    main()
