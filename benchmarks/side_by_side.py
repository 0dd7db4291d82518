"""Two or more patched IRs of one model against its plain model, all interleaved in one process.

    python benchmarks/side_by_side.py BEFORE_xai.xml AFTER_xai.xml [...] [--precision auto|f32] [--seconds S]

The plain model is the first IR without its saliency outputs; every model runs once per round, the
order rotating each round, so machine noise hits all alike. Prints each patched model's median
latency over the plain one's: how docs/benchmarks.md measures one change's effect (patch the same
model with the code before and after the change, save both, compare here).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import openvino as ov

from ov_reciprocam.model.reshape import set_batch
from ov_reciprocam.quality.bench import random_input, strip_saliency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patched", nargs="+", type=Path)
    parser.add_argument("--precision", default="auto", choices=["auto", "f32", "bf16", "f16"])
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    core = ov.Core()
    models = {"plain": strip_saliency(core.read_model(args.patched[0]))}
    models |= {str(p): core.read_model(p) for p in args.patched}
    for model in models.values():
        if model.get_parameters()[0].get_partial_shape()[0].is_dynamic:
            set_batch(model, 1)
    config = {"PERFORMANCE_HINT": "LATENCY"}
    if args.precision != "auto":
        config["INFERENCE_PRECISION_HINT"] = args.precision
    compiled = {name: core.compile_model(m, "CPU", config) for name, m in models.items()}
    image = random_input(models["plain"])
    for c in compiled.values():  # first runs allocate memory and pick kernels
        c(image)
    names, times = list(compiled), {name: [] for name in compiled}
    start, rounds = time.perf_counter(), 0
    while time.perf_counter() - start < args.seconds:
        shift = rounds % len(names)
        for name in names[shift:] + names[:shift]:
            t0 = time.perf_counter()
            compiled[name](image)
            times[name].append(time.perf_counter() - t0)
        rounds += 1
    plain = float(np.median(times["plain"]))
    cpu = core.get_property("CPU", "FULL_DEVICE_NAME")
    print(f"{cpu}, precision {args.precision}, {rounds} rounds; plain {plain * 1e3:.2f} ms")
    for name in names[1:]:
        print(f"  {float(np.median(times[name])) / plain:.3f}  {name}")


if __name__ == "__main__":
    main()
