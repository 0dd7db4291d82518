"""INT8 models: NNCF post-training quantization on the user's photos (fidelity to FP32: `fidelity`).

A patched model can be quantized too: its saliency subgraph (masked copies, cloned tail, scores,
normalization) is left out of quantization, so only the network itself runs in INT8.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import openvino as ov

from ..errors import ReciproCamError
from ..methods.saliency import SALIENCY
from ..model.formats import read_model
from ..photos import imaging
from ..photos.preprocess import Preprocess, recipe_for
from ..vocabulary import QuantizePreset, TargetDevice, parse

_RENAMED = "/reciprocam"
# The fewest calibration images with which INT8 kept the sample dog model's confident top-1 answers (FP32 p >= 0.5)
# on 95% of photos (docs/reliability.md, "Calibration"); fewer are warned about, not refused: one model's
# measurement is a guide, not a rule for every model.
ENOUGH_PHOTOS = 16


def saliency_subgraph(model: ov.Model) -> list[ov.Node]:
    """The ops that compute `saliency_map` and nothing else: its ancestors that no other output needs.

    Found from graph structure, so it works on any patched model, whatever its node names.
    """
    results = model.get_results()
    saliency = [r for r in results if SALIENCY in r.output(0).get_names()]
    if not saliency:
        return []
    shared = _ancestors([r for r in results if SALIENCY not in r.output(0).get_names()])
    return [node for key, node in _ancestors(saliency).items() if key not in shared]


def _ancestors(nodes: list[ov.Node]) -> dict[int, ov.Node]:
    found: dict[int, ov.Node] = {}
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if node.get_instance_id() not in found:
            found[node.get_instance_id()] = node
            stack.extend(v.get_node() for v in node.input_values())
    return found


def _ignored_names(model: ov.Model) -> list[str]:
    """Friendly names of the saliency subgraph's ops, made unique in `model` first.

    NNCF ignores ops by friendly name, and the cloned tail carries the names of the original tail:
    ignoring those names as they are would keep the original tail in floating point as well.
    """
    nodes = saliency_subgraph(model)
    taken = Counter(op.get_friendly_name() for op in model.get_ordered_ops())
    for node in nodes:
        if taken[node.get_friendly_name()] > 1:
            node.set_friendly_name(node.get_friendly_name() + _RENAMED)
    # Weights need no entry: NNCF quantizes a weight only for the op that reads it, and those ops are ignored.
    return [node.get_friendly_name() for node in nodes if node.get_type_name() != "Constant"]


def check_float(model: ov.Model) -> None:
    """Refuse a model that is quantized already (an INT8 IR, a quantized TFLite or ONNX QDQ file): its ranges were
    set on other data, and NNCF would calibrate the dequantized values again, on a few photos, on top of them."""
    ops = model.get_ordered_ops()
    fake = sum(op.get_type_name() == "FakeQuantize" for op in ops)
    weights = sum(_integer_weights(op) for op in ops)
    if fake or weights:
        found = [f"{fake} FakeQuantize ops" if fake else "", f"{weights} integer weight tensors" if weights else ""]
        raise ReciproCamError(
            f"the model is quantized already ({', '.join(f for f in found if f)}); quantize the floating-point "
            f"model it was made from"
        )


def _integer_weights(op: ov.Node) -> bool:
    """A constant of 8 bits or fewer that is converted to float: weights stored quantized."""
    kind = op.get_output_element_type(0)
    return (
        op.get_type_name() == "Constant"
        and kind.is_integral_number()
        and kind.bitwidth <= 8
        and any(t.get_node().get_type_name() == "Convert" for t in op.output(0).get_target_inputs())
    )


def calibration_note(count: int) -> str | None:
    """A one-line warning when `count` calibration photos are fewer than the measured minimum, else None."""
    if count >= ENOUGH_PHOTOS:
        return None
    return (
        f"note: calibrating on {count} image{'s' if count > 1 else ''}: INT8 kept the sample dog model's confident "
        f"top-1 on 95% of photos only from {ENOUGH_PHOTOS} images on (docs/reliability.md; NNCF's default is 300)"
    )


class CalibrationWarning(UserWarning):
    """`quantize` was given fewer calibration photos than `calibration_note` asks for."""


def quantize(
    model: ov.Model | str | os.PathLike,
    images: Sequence[np.ndarray | str | os.PathLike],
    preprocess: Preprocess | None = None,
    *,
    subset_size: int = 300,
    preset: QuantizePreset | str = QuantizePreset.PERFORMANCE,
    target_device: TargetDevice | str = TargetDevice.ANY,
    progress: Callable[[int], None] | None = None,
) -> ov.Model:
    """An INT8 copy of `model` (plain or patched), calibrated on `images` (BGR arrays or paths).

    preprocess: the recipe that turns a photo into a model input; by default the model's own (rt_info),
        and none there is an error.
    subset_size: at most this many photos are used, spread evenly over `images`; fewer than `ENOUGH_PHOTOS` warn
        (`CalibrationWarning`). A model quantized already is refused (`check_float`).
    preset: "performance" (symmetric activations) or "mixed" (asymmetric activations).
    target_device: the device the INT8 model is meant for: CPU, GPU, NPU or ANY.
    progress: called with the number of photos just read, as NNCF's one pass over the subset reads them.
    """
    import nncf

    preset = parse(QuantizePreset, preset, "preset")
    target_device = parse(TargetDevice, target_device, "target_device")
    if subset_size < 1:
        raise ReciproCamError(f"subset size must be at least 1, got {subset_size}")
    if not images:
        raise ReciproCamError("quantization needs at least one calibration image")
    model = read_model(model)
    check_float(model)
    recipe = preprocess or recipe_for(model)  # refuses to calibrate on guessed pixels
    ignored = _ignored_names(model)
    chosen = _spread(list(images), subset_size)
    if note := calibration_note(len(chosen)):
        warnings.warn(note, CalibrationWarning, stacklevel=2)
    batch = _static_batch(model)
    items = [chosen[i : i + batch] for i in range(0, len(chosen), batch)]

    def transform(photos: Sequence[np.ndarray | str | os.PathLike]) -> np.ndarray:
        inputs = [recipe(imaging.read_image(p) if isinstance(p, (str, os.PathLike)) else p) for p in photos]
        if progress:
            progress(len(photos))
        return np.stack(inputs + [inputs[-1]] * (batch - len(inputs)))  # a fixed batch is filled by repetition

    return nncf.quantize(
        model,
        nncf.Dataset(items, transform),
        preset=nncf.QuantizationPreset[preset.name],
        target_device=nncf.TargetDevice[target_device.name],
        subset_size=len(items),
        ignored_scope=nncf.IgnoredScope(names=ignored) if ignored else None,
    )


def augment(photos: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Six views of each photo for calibration on few photos: itself, mirrored, and both cropped two ways."""
    views = []
    for photo in photos:
        for view in (photo, photo[:, ::-1]):
            h, w = view.shape[:2]
            views += [view, view[h // 8 :, w // 8 :], view[: h - h // 8, : w - w // 8]]
    return views


def _spread(items: list, count: int) -> list:
    """At most `count` of `items`, evenly spaced, so that every folder of a sorted list is sampled."""
    if len(items) <= count:
        return items
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, count).round()]


def _static_batch(model: ov.Model) -> int:
    batch = model.get_parameters()[0].get_partial_shape()[0]
    return batch.get_length() if batch.is_static else 1
