"""What each overlay file format costs and how far it moves the pixels, on real photos and real models' overlays.

    python benchmarks/overlay_formats.py [--repeat 3] [--json out.json]

The overlays are the ones `explain` draws by default (top 3 classes, alpha 0.5, jet, no colour bar) for the
photos in samples/images and samples/openimages, from the Coral MobileNet v2 and the dog-breeds model. Each
candidate encodes every overlay (`cv2.imencode`, the fastest of `--repeat` runs), is decoded again, and is
compared with the overlay in memory, which is what today's PNG holds (PNG is lossless): bytes, encode time,
the largest and mean absolute difference (0..255, over every channel of every pixel), the 99.9th
percentile of the differences, and PSNR (the lowest over the overlays, and the mean).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ov_reciprocam.inference.explainer import Explainer  # noqa: E402
from ov_reciprocam.output import pictures  # noqa: E402
from ov_reciprocam.photos.imaging import collect_images  # noqa: E402
from ov_reciprocam.vocabulary import Recipe  # noqa: E402

MODELS = {
    "coral": (REPO / "samples/models/coral/mobilenet_v2_1.0_224_quant.tflite", Recipe()),
    "dog": (
        REPO / "samples/models/dog_breeds_mobilenetv2/dog_breeds_mobilenetv2.xml",
        Recipe(mean=(127.5,), scale=(127.5,), rgb=True, interpolation="cubic"),
    ),
}
PHOTOS = [REPO / "samples/images", REPO / "samples/openimages"]
F32 = {"INFERENCE_PRECISION_HINT": "f32"}
SUBSAMPLING_444 = [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]


@dataclass(frozen=True)
class Candidate:
    name: str
    suffix: str
    params: tuple[int, ...] = ()


CANDIDATES = [
    Candidate("png (today: OpenCV's default)", ".png"),
    *(Candidate(f"png level {n}", ".png", (cv2.IMWRITE_PNG_COMPRESSION, n)) for n in (0, 1, 3, 6, 9)),
    *(Candidate(f"jpg q{q}", ".jpg", (cv2.IMWRITE_JPEG_QUALITY, q)) for q in (85, 90, 95)),
    *(Candidate(f"jpg q{q} 4:4:4", ".jpg", (cv2.IMWRITE_JPEG_QUALITY, q, *SUBSAMPLING_444)) for q in (90, 95)),
    *(Candidate(f"webp q{q}", ".webp", (cv2.IMWRITE_WEBP_QUALITY, q)) for q in (80, 90, 95, 100)),
    Candidate("webp lossless", ".webp", (cv2.IMWRITE_WEBP_QUALITY, 101)),
]


def overlays() -> list[np.ndarray]:
    """Every overlay `explain` draws by default, for both models on every sample photo."""
    drawn = []
    for path, recipe in MODELS.values():
        explainer = Explainer(path, preprocess=recipe, config=F32)
        photos = collect_images([str(p) for p in PHOTOS])
        for explanation in explainer.explain(photos, top_k=3):
            drawn += [pictures.overlay_of(explanation, c.class_id) for c in explanation.classes]
    return drawn


def measure(candidate: Candidate, pictures_: list[np.ndarray], repeat: int) -> dict:
    seconds, sizes, worst, means, tails, psnrs = [], [], [], [], [], []
    for picture in pictures_:
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            ok, encoded = cv2.imencode(candidate.suffix, picture, list(candidate.params))
            best = min(best, time.perf_counter() - start)
        assert ok
        seconds.append(best)
        sizes.append(encoded.size)
        decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
        diff = np.abs(decoded.astype(np.int16) - picture.astype(np.int16))
        worst.append(int(diff.max()))
        means.append(float(diff.mean()))
        tails.append(float(np.percentile(diff, 99.9)))
        mse = float((diff.astype(np.float64) ** 2).mean())
        psnrs.append(float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse))
    return {
        "format": candidate.name,
        "encode_ms": 1000 * float(np.mean(seconds)),
        "kb": float(np.mean(sizes)) / 1000,
        "max_abs": max(worst),
        "mean_abs": float(np.mean(means)),
        "worst_mean_abs": max(means),
        "p999_abs": max(tails),
        "min_psnr": min(psnrs),
        "mean_psnr": float(np.mean(psnrs)),
    }


def drawing_ms(repeat: int) -> dict:
    """What drawing one overlay costs, from the Explanation in memory (colouring, blending, the caption)."""
    path, recipe = MODELS["coral"]
    explanation = Explainer(path, preprocess=recipe, config=F32).explain([str(PHOTOS[1] / "parrot.jpg")])[0]
    _ = explanation.upsampled  # the maps on the photo's pixels are computed once per photo; not drawing's cost
    ids = [c.class_id for c in explanation.classes]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for c in ids:
            pictures.overlay_of(explanation, c)
        best = min(best, time.perf_counter() - start)
    return {"photo": "parrot.jpg 512x929", "ms_per_overlay": 1000 * best / len(ids)}


def table(rows: list[dict]) -> str:
    base = rows[0]
    lines = [
        "| format | encode ms | x today | KB | x today | max abs | mean abs | 99.9% abs | min PSNR dB | mean PSNR dB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['format']} | {r['encode_ms']:.2f} | {r['encode_ms'] / base['encode_ms']:.2f} | {r['kb']:.0f} | "
            f"{r['kb'] / base['kb']:.2f} | {r['max_abs']} | {r['mean_abs']:.2f} | {r['p999_abs']:.0f} | "
            f"{r['min_psnr']:.1f} | {r['mean_psnr']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="encodes per overlay; the fastest counts")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # one encode on one core, as a pool of writers runs them
    drawn = overlays()
    pixels = sum(p.shape[0] * p.shape[1] for p in drawn) / len(drawn)
    print(
        f"{len(drawn)} overlays, {pixels / 1e6:.2f} Mpx each on average; {platform.processor() or platform.machine()}"
    )
    rows = [measure(c, drawn, args.repeat) for c in CANDIDATES]
    print(table(rows))
    drawing = drawing_ms(args.repeat * 3)
    print(f"drawing one overlay ({drawing['photo']}): {drawing['ms_per_overlay']:.2f} ms")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "drawing": drawing}, indent=2) + "\n")


if __name__ == "__main__":
    main()
