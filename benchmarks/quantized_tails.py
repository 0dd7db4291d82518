"""Quantized tails: the pooled shortcut against the mosaic the default now builds (issue 30), side by side.

    python benchmarks/quantized_tails.py MODEL [MODEL ...] [--seconds S] [--photos DIR]

For each quantized model (TFLite uint8, QDQ ONNX, an NNCF IR): the plain model, the patched model as built
before issue 30 (the pooled shortcut, which reorders the pooling's arithmetic around its quantizer) and as the
default builds it now (the mosaic: the model's own ops on every copy), timed interleaved in one process, batch 1,
in the device's default precision and in f32. With --photos, each build's largest map difference from a
brute-force Recipro-CAM on the photos, as a share of the map's spread (f32; the reference cuts the model at the
recorded target and runs its tail on each masked copy). Prints a Markdown table; the CPU is named above it.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
import openvino as ov

import ov_reciprocam as orc
from ov_reciprocam.methods.cnn import tails
from ov_reciprocam.model.rt_info import PatchInfo
from ov_reciprocam.photos.imaging import collect_images, read_image
from ov_reciprocam.quality.bench import random_input

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
from reference import find_target, recipro_cam  # noqa: E402

F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def builds(path: Path) -> dict[str, ov.Model]:
    plain = orc.read_model(path)
    with mock.patch.object(tails, "quantizes_activations", return_value=False):  # the build before issue 30
        shortcut = orc.patch(plain, normalize=False)
    return {"plain": plain, "pooled shortcut (before)": shortcut, "default (after)": orc.patch(plain, normalize=False)}


def timings(models: dict[str, ov.Model], config: dict | None, seconds: float) -> dict[str, float]:
    compiled = {name: ov.Core().compile_model(m, "CPU", config or {}) for name, m in models.items()}
    image = random_input(models["plain"])
    times: dict[str, list[float]] = {name: [] for name in compiled}
    for c in compiled.values():
        c(image)
    start, names = time.perf_counter(), list(compiled)
    while time.perf_counter() - start < seconds:
        names = names[1:] + names[:1]  # rotate who goes first
        for name in names:
            t0 = time.perf_counter()
            compiled[name](image)
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: float(np.median(t)) for name, t in times.items()}


def worst_share(plain: ov.Model, patched: ov.Model, photos: list[Path]) -> float:
    """The largest |map - brute force| over the photos, as a share of the brute force's spread."""
    target = PatchInfo.read(patched).target
    param = plain.get_parameters()[0].get_partial_shape()
    size = (param[2].get_length(), param[1].get_length())  # TFLite ports are NHWC
    probe = patched.clone()
    probe.add_outputs([find_target(probe, target)])
    compiled = ov.Core().compile_model(probe, "CPU", F32)
    worst = 0.0
    for photo in photos:
        x = np.ascontiguousarray(cv2.resize(read_image(photo), size)[None, :, :, ::-1])
        out = compiled(x)
        maps, features = out[orc.SALIENCY][0], out[len(probe.outputs) - 1]
        reference = recipro_cam(plain, x, target, features=features)
        worst = max(worst, float(np.abs(maps - reference).max() / np.ptp(reference, axis=(-2, -1)).max()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--seconds", type=float, default=10.0, help="timing per model and precision")
    parser.add_argument("--photos", type=Path, help="a folder of photos for the brute-force comparison")
    args = parser.parse_args()
    photos = collect_images([str(args.photos)]) if args.photos else []
    cpu = ov.Core().get_property("CPU", "FULL_DEVICE_NAME")
    default = ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")
    print(f"{cpu} ({platform.machine()}), default precision {default.to_string()}, OpenVINO {ov.__version__}\n")
    print("| model | build | path | ms default | ratio default | ms f32 | ratio f32 | max diff / spread |")
    print("|---|---|---|---|---|---|---|---|")
    for path in args.models:
        models = builds(path)
        by_precision = [timings(models, config, args.seconds) for config in (None, F32)]
        for name, model in models.items():
            if name == "plain":
                continue
            cells = [path.stem, name, PatchInfo.read(model).path]
            for ms in by_precision:
                cells += [f"{ms[name]:.2f}", f"**{ms[name] / ms['plain']:.2f}**"]
            cells.append(f"{worst_share(models['plain'], model, photos):.1%}" if photos else "")
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
