"""How many calibration photos INT8 needs: top-1 agreement with FP32 against the number of photos `quantize` gets.

    python benchmarks/calibration.py [FOLDER ...] [--draws 5]

The dog model (samples/models/dog_breeds_mobilenetv2, its recipe) is quantized as `ov-reciprocam quantize` does it,
on N calibration images drawn from the photos of FOLDER (default: samples/images and samples/openimages) and their
flips and crops (`quantize.augment`, six views a photo): `--draws` random draws per N (seed 0), one for all of them.
Each INT8 model's top-1 is compared with the FP32 model's on every view, both compiled at f32 inference precision so
that only quantization moves the scores. Prints a markdown table: per N, the agreement's worst and mean over the draws,
and its mean over the views where FP32's top-1 has p >= 0.5 (the others, near ties, flip with any noise).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

import ov_reciprocam as orc
from ov_reciprocam.inference.device import F32, compile_for
from ov_reciprocam.photos.imaging import IMAGE_SUFFIXES, read_image
from ov_reciprocam.quality.quantize import augment, quantize

REPO = Path(__file__).resolve().parent.parent
DOG = REPO / "samples" / "models" / "dog_breeds_mobilenetv2" / "dog_breeds_mobilenetv2.xml"
RECIPE = orc.Preprocess(160, 160, "NHWC", mean=(127.5,), scale=(127.5,), rgb=True, interpolation="cubic")
FOLDERS = [REPO / "samples" / "images", REPO / "samples" / "openimages"]


def scores(model, views: list[np.ndarray]) -> np.ndarray:
    compiled = compile_for(orc.read_model(model), "CPU", F32)
    return np.stack([compiled(RECIPE(v)[None])[0].reshape(-1) for v in views])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*", type=Path, default=FOLDERS)
    parser.add_argument("--draws", type=int, default=5)
    args = parser.parse_args()
    # Masks are pictures too, not photos: only what a user would calibrate on.
    photos = sorted(
        p for f in args.folders for p in f.iterdir() if p.suffix in IMAGE_SUFFIXES and not p.stem.endswith("_mask")
    )
    import nncf

    nncf.set_log_level(logging.ERROR)
    views = augment([read_image(p) for p in photos])
    fp32 = scores(DOG, views)
    reference, sure = fp32.argmax(axis=1), fp32.max(axis=1) >= 0.5
    rng = np.random.default_rng(0)
    print(f"{len(photos)} photos, {len(views)} views ({sure.sum()} with an FP32 top-1 of p >= 0.5)\n")
    print("| calibration images | draws | top-1 agreement, worst | mean | mean where FP32 is sure (p >= 0.5) |")
    print("|---|---|---|---|---|")
    counts = [2**k for k in range(len(views).bit_length()) if 2**k < len(views)] + [len(views)]
    for count in counts:
        picks = [rng.choice(len(views), count, replace=False) for _ in range(args.draws)]
        draws = [views] if count == len(views) else [[views[i] for i in pick] for pick in picks]
        agree = np.array([scores(quantize(DOG, draw, RECIPE), views).argmax(axis=1) == reference for draw in draws])
        worst, mean, where_sure = agree.mean(axis=1).min(), agree.mean(), agree[:, sure].mean()
        print(f"| {count} | {len(draws)} | {worst:.2f} | {mean:.2f} | {where_sure:.2f} |", flush=True)


if __name__ == "__main__":
    main()
