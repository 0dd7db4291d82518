"""Measure what the saliency output costs: plain and patched models side by side, interleaved.

Both compiled models run alternately on the same input, so machine noise hits both alike; the
ratio of their medians is the number to read. The floor is what exact Recipro-CAM cannot avoid:
the part of the tail that must run once per spatial position, in multiply-accumulates. A detector's floor
is its neck and heads from the cut once per masked copy (`methods.detection.cost`).
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
from ..methods.detection import cost as detection_cost
from ..methods.detection.build import DETECTIONS
from ..methods.detection.locate import locate_detector
from ..methods.saliency import SALIENCY, SALIENCY_CLASSES
from ..model.formats import read_model
from ..model.reshape import set_batch, set_input_shape
from ..model.rt_info import DetectionInfo, PatchInfo
from ..patching import is_patched, patch
from ..vocabulary import DetectionOptions, PatchOptions


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
DETECTION_PATH = "detection"  # `Measurement.path` of a detector's branch, which has no tail kinds


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
    added = {SALIENCY, SALIENCY_CLASSES, DETECTIONS}
    kept = [r for r in model.get_results() if not (added & r.output(0).get_names())]
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
    given_patched = ours is not None or DetectionInfo.read(loaded) is not None  # else patch() says what to do
    options = PatchOptions.of(patch_options)
    # The floor reads the plain model as the patch did: its target, its scores output.
    where = replace(options, target=ours.target) if ours is not None else options
    results = []
    for index, batch in enumerate(batches):
        plain, patched = _pair(loaded, given_patched, options, batch)
        compiled = (compile_for(plain, device, config), compile_for(patched, device, config))
        image = random_input(plain)
        budget = seconds / len(batches)

        def done(fraction: float, index: int = index) -> None:
            if progress:
                progress((index + fraction) / len(batches))

        times = _interleaved(compiled, image, budget, done)
        plain_ms, patched_ms = (float(np.median(t)) for t in times)
        costs = _costs(plain, patched, where, batch, plain_ms, (device, config))
        results.append(
            Measurement(
                batch=batch,
                plain_ms=plain_ms,
                patched_ms=patched_ms,
                ratio=patched_ms / plain_ms,
                plain_images_per_s=batch * 1e3 / plain_ms,
                patched_images_per_s=batch * 1e3 / patched_ms,
                floor=costs.floor,
                floor_bytes=costs.floor_bytes,
                path=costs.path,
                runs=len(times[0]),
                precision=ran_precision(compiled[1]),
            )
        )
    return results


def _pair(loaded: ov.Model, given_patched: bool, options: PatchOptions, batch: int) -> tuple[ov.Model, ov.Model]:
    """(plain, patched) at `batch`: a patched model and itself stripped, or a plain one and its patch."""
    if given_patched:
        patched = read_model(loaded)
        set_batch(patched, batch)
        # From its own copy: compiling two models that share nodes crashed the CPU plugin.
        return strip_saliency(read_model(patched)), patched
    plain = read_model(loaded)
    if options.input_shape:
        set_input_shape(plain, options.input_shape)
    set_batch(plain, batch)
    return plain, patch(loaded, replace(options, batch=batch))


def _interleaved(
    compiled: tuple[ov.CompiledModel, ov.CompiledModel],
    image: np.ndarray,
    budget: float,
    done: Callable[[float], None],
) -> tuple[list[float], list[float]]:
    """Milliseconds of each run of both models, taken in turn for `budget` seconds (at least 3 runs each)."""
    for c in compiled:  # first runs allocate memory and pick kernels
        c(image)
    times: tuple[list[float], list[float]] = ([], [])
    start = time.perf_counter()
    while time.perf_counter() - start < budget or len(times[0]) < 3:
        # Swap who goes first every round: the second of a pair finds warmer caches.
        pairs = list(zip(compiled, times, strict=True))
        for c, bucket in pairs if len(times[0]) % 2 == 0 else pairs[::-1]:
            t0 = time.perf_counter()
            c(image)
            bucket.append((time.perf_counter() - t0) * 1e3)
        done(min(1.0, (time.perf_counter() - start) / budget))
    return times


@dataclass(frozen=True)
class Costs:
    floor: float
    floor_bytes: float
    path: str


def _costs(
    plain: ov.Model, patched: ov.Model, where: PatchOptions, batch: int, plain_ms: float, on: tuple[str, dict | None]
) -> Costs:
    """The floors of the branch `patched` holds: a detector's (`detector_costs`), else its family's."""
    if (detector := DetectionInfo.read(patched)) is not None:
        return detector_costs(plain, detector, plain_ms, *on)
    found = locate_family(plain, where)
    info = PatchInfo.read(patched)
    assert info is not None  # ours, or patched above
    floor = found.family.floor(plain, found, info)
    target = found.located.target
    scores = batch * target.height * target.width * found.located.classes
    passes = SCORE_PASSES * elementwise_ms(scores, *on) / plain_ms
    if streamed := found.family.streamed_weights(plain, found, info):
        passes += linear_ms(batch, *streamed, *on) / plain_ms
    return Costs(floor, floor + passes, info.path)


def detector_costs(
    plain: ov.Model, info: DetectionInfo, plain_ms: float, device: str = "CPU", config: dict | None = None
) -> Costs:
    """A detector's floor (`methods.detection.cost.floor`), at the cut and copy grid `info` records; the bytes
    floor adds one pass writing the masked copies of the cut tensors, which the tail must read."""
    found = locate_detector(plain, DetectionOptions(detections=info.detections, cut=info.cut, copy_grid=info.copy_grid))
    if found is None:
        raise ReciproCamError("the patched detector's original outputs are no longer a detector's; patch it again")
    floor = detection_cost.floor(plain, found)
    copied = found.copies * sum(int(np.prod(list(t.get_partial_shape().to_shape()))) for t in found.cut.tensors)
    return Costs(floor, floor + elementwise_ms(copied, device, config) / plain_ms, DETECTION_PATH)


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

    if ours.path == DETECTION_PATH:
        raise ReciproCamError("Score-CAM and RISE explain a classifier's classes: drop `baselines` for a detector")
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
