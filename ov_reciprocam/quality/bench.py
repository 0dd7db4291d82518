"""Measure what the saliency output costs: plain and patched models side by side, interleaved.

Both compiled models run alternately on the same input, so machine noise hits both alike; the
ratio of their medians is the number to read. The floor is what exact Recipro-CAM cannot avoid:
the part of the tail that must run once per spatial position, in multiply-accumulates.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import openvino as ov

from ..errors import ReciproCamError
from ..inference.device import compile_for, ran_precision
from ..inference.probe import probe_input
from ..methods import locate_family
from ..methods.saliency import SALIENCY, SALIENCY_CLASSES
from ..model.formats import read_model
from ..model.reshape import set_batch, set_input_shape
from ..model.rt_info import PatchInfo
from ..patching import is_patched, patch
from ..vocabulary import PatchOptions


@dataclass
class Measurement:
    batch: int
    plain_ms: float
    patched_ms: float
    ratio: float
    plain_images_per_s: float
    patched_images_per_s: float
    floor: float  # 1 + the MACs the branch must add / the model's
    floor_bytes: float  # the MAC floor + the passes over the copies' scores + weights read again for a row, timed
    path: str
    runs: int
    precision: str | None = None  # what the device ran (`device.ran_precision`), not what was asked


# The fewest full passes over the copies' scores [B, H*W, classes]: the tail writes them, the activation reads
# and writes them, min and max read them, the scaling to [0, 1] and the move to [B, classes, H, W] read and
# write them once more. Three read-write passes, each as costly as one elementwise op over them.
SCORE_PASSES = 3


def elementwise_ms(count: int, device: str = "CPU", config: dict | None = None, runs: int = 60) -> float:
    """Median time of one elementwise op (read and write) over `count` floats, compiled as the models are."""
    x = ov.opset13.parameter([count], ov.Type.f32)
    compiled = compile_for(ov.Model([ov.opset13.result(ov.opset13.relu(x))], [x]), device, config)
    return _median_ms(compiled, np.random.default_rng(0).standard_normal(count).astype(np.float32), runs)


def linear_ms(
    rows: int, inputs: int, outputs: int, device: str = "CPU", config: dict | None = None, runs: int = 10
) -> float:
    """Median time of a few rows through a linear layer of constant [outputs, inputs] weights, compiled as the
    models are: a memory-bound product, whose time is its weights' bytes in the device's precision."""
    x = ov.opset13.parameter([rows, inputs], ov.Type.f32)
    weights = np.random.default_rng(0).standard_normal((outputs, inputs), np.float32)
    product = ov.opset13.matmul(x, ov.opset13.constant(weights), False, True)
    compiled = compile_for(ov.Model([ov.opset13.result(product)], [x]), device, config)
    return _median_ms(compiled, np.ones((rows, inputs), np.float32), runs)


def _median_ms(compiled: ov.CompiledModel, data: np.ndarray, runs: int) -> float:
    for _ in range(5):
        compiled(data)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        compiled(data)
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def strip_saliency(model: ov.Model) -> ov.Model:
    """The model as it was before patching: the original outputs only."""
    kept = [r for r in model.get_results() if not ({SALIENCY, SALIENCY_CLASSES} & r.output(0).get_names())]
    return ov.Model(kept, model.get_parameters(), model.get_friendly_name())


def ir_growth(plain: ov.Model, patched: ov.Model) -> int:
    """Bytes the patched IR (.xml + .bin) adds to the plain one, both saved without FP16 compression."""
    sizes = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, model in (("plain", plain), ("patched", patched)):
            ov.save_model(model, f"{tmp}/{label}.xml", compress_to_fp16=False)
            sizes.append(sum(Path(f"{tmp}/{label}{suffix}").stat().st_size for suffix in (".xml", ".bin")))
    return sizes[1] - sizes[0]


def random_input(model: ov.Model) -> np.ndarray:
    """A seeded random input of the input's type (`inference.probe.probe_input`); a dynamic batch becomes 1."""
    image = probe_input(model)
    if image is None:
        shape = model.get_parameters()[0].get_partial_shape()
        raise ReciproCamError(f"the input shape {shape} is not static; reshape the model to a fixed image size")
    return image


def measure(
    source: ov.Model | str | os.PathLike,
    *,
    device: str = "CPU",
    batches: tuple[int, ...] = (1,),
    seconds: float = 10.0,
    config: dict | None = None,
    progress: Callable[[float], None] | None = None,  # called with the fraction of the whole run done
    patch_options: PatchOptions | None = None,
) -> list[Measurement]:
    """Plain vs patched latency per batch size, `seconds` split across the batch sizes.

    A patched model is measured as it is, against itself without the saliency outputs; a plain one is patched with
    `patch_options`.
    """
    loaded = read_model(source)
    ours = PatchInfo.read(loaded)
    given_patched = ours is not None  # another tool's saliency_map: patch() below says what to do
    options = PatchOptions.of(patch_options)
    # The floor reads the plain model as the patch did: its target, its scores output.
    where = replace(options, target=ours.target) if ours is not None else options
    results = []
    for index, batch in enumerate(batches):
        if given_patched:
            patched = read_model(loaded)
            set_batch(patched, batch)
            # From its own copy: compiling two models that share nodes crashed the CPU plugin.
            plain = strip_saliency(read_model(patched))
        else:
            plain = read_model(loaded)
            if options.input_shape:
                set_input_shape(plain, options.input_shape)
            set_batch(plain, batch)
            patched = patch(loaded, replace(options, batch=batch))
        found = locate_family(plain, where)
        compiled = (compile_for(plain, device, config), compile_for(patched, device, config))
        image = random_input(plain)
        for c in compiled:  # first runs allocate memory and pick kernels
            c(image)
        times: tuple[list[float], list[float]] = ([], [])
        budget = seconds / len(batches)
        start = time.perf_counter()
        while time.perf_counter() - start < budget or len(times[0]) < 3:
            # Swap who goes first every round: the second of a pair finds warmer caches.
            pairs = list(zip(compiled, times, strict=True))
            for c, bucket in pairs if len(times[0]) % 2 == 0 else pairs[::-1]:
                t0 = time.perf_counter()
                c(image)
                bucket.append((time.perf_counter() - t0) * 1e3)
            if progress:
                progress((index + min(1.0, (time.perf_counter() - start) / budget)) / len(batches))
        plain_ms, patched_ms = (float(np.median(t)) for t in times)
        info = PatchInfo.read(patched)
        assert info is not None  # ours, or patched above
        floor = found.family.floor(plain, found, info)
        scores = batch * found.located.target.height * found.located.target.width * found.located.classes
        passes = SCORE_PASSES * elementwise_ms(scores, device, config) / plain_ms
        if streamed := found.family.streamed_weights(plain, found, info):
            passes += linear_ms(batch, *streamed, device, config) / plain_ms
        results.append(
            Measurement(
                batch=batch,
                plain_ms=plain_ms,
                patched_ms=patched_ms,
                ratio=patched_ms / plain_ms,
                plain_images_per_s=batch * 1e3 / plain_ms,
                patched_images_per_s=batch * 1e3 / patched_ms,
                floor=floor,
                floor_bytes=floor + passes,
                path=info.path,
                runs=len(times[0]),
                precision=ran_precision(compiled[1]),
            )
        )
    return results


def as_dicts(measurements: list[Measurement]) -> list[dict]:
    return [asdict(m) for m in measurements]


def baselines(
    source: ov.Model | str | os.PathLike,
    ours: Measurement,
    *,
    device: str = "CPU",
    config: dict | None = None,
    rise_masks: int = 4000,
) -> dict[str, dict]:
    """Wall time per image of Score-CAM and RISE on the plain model, and how many times ours that is."""
    from ..analysis.inputs import input_layout
    from .baselines import BlackBox, rise, score_cam

    plain = read_model(source)
    if is_patched(plain):
        plain = strip_saliency(plain)
    layout = input_layout(plain.get_parameters()[0].get_partial_shape())
    box = BlackBox.build(plain, layout, device=device, config=config)
    image = random_input(plain)[0]
    ours_ms = ours.patched_ms / ours.batch
    report = {}
    for name, method in (("score-cam", score_cam), ("rise", lambda b, x, c: rise(b, x, c, masks=rise_masks))):
        start = time.perf_counter()
        method(box, image, 0)
        ms = (time.perf_counter() - start) * 1e3
        report[name] = {"ms_per_image": ms, "times_ours": ms / ours_ms}
    return report
