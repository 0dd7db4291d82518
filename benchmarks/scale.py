"""Throughput of `explain` locally and on a local Ray cluster with 1 and 2 actors, on the same photos.

    python benchmarks/scale.py [--photos 96] [--json out.json]

Photos: the sample photos, shifted, at 640x480 (decoding and writing cost what real photos cost).
Every run writes the same outputs (no overlays; maps to .npy locally, to Parquet shards on Ray), so
the difference is the driver. Ray's start-up is timed apart: a cluster pays it once, not per job.
Also times what `eval` spends per photo on each method, for the arithmetic in docs/scale.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ov_reciprocam.output.explain_files import Outputs, name_photos  # noqa: E402
from ov_reciprocam.photos.imaging import collect_images, read_image  # noqa: E402
from ov_reciprocam.photos.preprocess import Preprocess  # noqa: E402
from ov_reciprocam.quality.evaluate import METHODS, Evaluator, eval_settings  # noqa: E402
from ov_reciprocam.runs import cluster  # noqa: E402
from ov_reciprocam.runs.explain import ExplainerSpec, explain_paths  # noqa: E402
from ov_reciprocam.vocabulary import Recipe  # noqa: E402

MODEL = REPO / "samples/models/dog_breeds_mobilenetv2/dog_breeds_mobilenetv2.xml"
IMAGES = REPO / "samples/images"
RECIPE = Preprocess(160, 160, "NHWC", mean=(127.5,), scale=(127.5,), rgb=True, interpolation="cubic")
FLAGS = {"mean": (127.5,), "scale": (127.5,), "rgb": True, "interpolation": "cubic"}
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def make_photos(folder: Path, count: int) -> list[Path]:
    sources = [read_image(p) for p in collect_images([str(IMAGES)])]
    for i in range(count):
        picture = cv2.resize(sources[i % len(sources)], (640, 480))
        cv2.imwrite(str(folder / f"{i:04d}.jpg"), np.roll(picture, 11 * i, axis=1))
    return collect_images([str(folder)])


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def run_local(photos, out: Path) -> float:
    explainer = ExplainerSpec(str(MODEL), RECIPE, config=F32).build()
    start = time.perf_counter()
    explain_paths(explainer, photos, Outputs(out, overlays=False))
    return time.perf_counter() - start


def run_ray(photos, out: Path, actors: int) -> float:
    spec = ExplainerSpec(str(MODEL), RECIPE, config=F32)
    outputs = Outputs(str(out), overlays=False, npy_maps=False)
    start = time.perf_counter()
    cluster.explain_on_ray(spec, name_photos(photos), outputs, out / "shards", actors=actors, batch_size=8)
    return time.perf_counter() - start


def eval_seconds(photos) -> dict:
    """Seconds per photo that `eval` spends on each method (its map, the map again for coherency, the metrics)."""
    found = {}
    for method in METHODS:
        settings = eval_settings(MODEL, methods=method, config=F32, recipe=Recipe(**FLAGS))
        evaluator = Evaluator(settings)
        evaluator.evaluate(photos[0])  # warm-up: first inferences allocate
        start = time.perf_counter()
        for path in photos:
            evaluator.evaluate(path)
        found[method] = (time.perf_counter() - start) / len(photos)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=96)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "photos").mkdir()
        photos = make_photos(tmp / "photos", args.photos)
        results = {"cpu": cpu_model(), "photos": len(photos)}
        results["local_s"] = run_local(photos, tmp / "local")
        start = time.perf_counter()
        cluster.connect("local")
        results["ray_start_s"] = time.perf_counter() - start
        for actors in (1, 2):
            results[f"ray_{actors}_actors_s"] = run_ray(photos, tmp / f"ray{actors}", actors)
        results["eval"] = eval_seconds(photos[:4])
    for key in ("local_s", "ray_1_actors_s", "ray_2_actors_s"):
        print(f"{key:<16} {results[key]:7.1f} s  {results['photos'] / results[key]:6.1f} photos/s")
    print(f"ray start-up     {results['ray_start_s']:7.1f} s")
    for method, seconds in results["eval"].items():
        print(f"eval {method:<18} {seconds:7.2f} s per photo")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
