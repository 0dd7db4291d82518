"""FP32 patched vs INT8 patched: latency side by side in one run, and saliency fidelity.

    python benchmarks/int8.py [--rounds 100]

Each model is quantized with NNCF on the sample photos and their flips and crops (24 images),
then both it and the FP32 model are patched in auto mode. Latency: both compiled with the
device defaults (on an AMX CPU the float parts then run in bf16) and the LATENCY hint, batch 1,
run alternately so machine noise hits both alike. Fidelity: `compare` at f32 inference precision
on the four sample photos. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import openvino as ov

import ov_reciprocam as orc
from ov_reciprocam.inference.device import F32
from ov_reciprocam.photos.imaging import read_image
from ov_reciprocam.quality.fidelity import compare, summary
from ov_reciprocam.quality.quantize import augment, quantize

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "support"))
from light import reweighted  # noqa: E402

PHOTOS = sorted(p for p in (REPO / "samples" / "images").iterdir() if p.suffix in (".png", ".jpg"))
DOG = REPO / "samples" / "models" / "dog_breeds_mobilenetv2" / "dog_breeds_mobilenetv2.xml"
RECIPES = {
    "dog_breeds_mobilenetv2": orc.Preprocess(
        160, 160, "NHWC", mean=(127.5,), scale=(127.5,), rgb=True, interpolation="cubic"
    ),
    "light_resnet50": orc.Preprocess(
        224, 224, "NCHW", mean=(123.675, 116.28, 103.53), scale=(58.395, 57.12, 57.375), rgb=True
    ),
}


def elapsed_ms(compiled: ov.CompiledModel, image: np.ndarray) -> float:
    start = time.perf_counter()
    compiled(image)
    return (time.perf_counter() - start) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    core = ov.Core()
    photos = [read_image(p) for p in PHOTOS]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, recipe in RECIPES.items():
            source = DOG if name == "dog_breeds_mobilenetv2" else reweighted("resnet50", Path(tmp))
            int8 = quantize(source, augment(photos), recipe)
            models = [orc.patch(source), orc.patch(int8)]
            compiled = [core.compile_model(m, "CPU", {"PERFORMANCE_HINT": "LATENCY"}) for m in models]
            image = recipe(photos[0])[None]
            for _ in range(3):  # warm-up: first inferences allocate and pick kernels
                for c in compiled:
                    c(image)
            times = np.array([[elapsed_ms(c, image) for c in compiled] for _ in range(args.rounds)])
            fp32_ms, int8_ms = np.median(times, axis=0)
            explainers = [orc.Explainer(m, preprocess=recipe, config=F32) for m in models]
            s = summary(compare(*explainers, photos, [p.name for p in PHOTOS]))
            rows.append(
                f"| {name} | {fp32_ms:.1f} | {int8_ms:.1f} | {fp32_ms / int8_ms:.2f}x | {s['pearson_mean']:.3f} "
                f"| {s['spearman_mean']:.3f} | {s['top1_agree']}/{s['images']} | {s['same_peak_cell']}/{s['images']} |"
            )
    # After NNCF's progress bars, which also go to stdout.
    print(f"\nCPU: {core.get_property('CPU', 'FULL_DEVICE_NAME')}, OpenVINO {ov.get_version()}")
    print(f"batch 1, {args.rounds} alternating rounds, device default precision, LATENCY hint\n")
    print("| model | FP32 patched ms | INT8 patched ms | speed-up | Pearson | Spearman | top-1 same | peak cell same |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
