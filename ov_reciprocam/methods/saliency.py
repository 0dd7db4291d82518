"""From the masked copies' scores to maps: activation, min-max, the flat floor, the outputs."""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from .base import Located
from .graph_ops import Size, i64, pattern, spatial_sizes
from .scoring import Activation, CopyScores, pair

SALIENCY = "saliency_map"
SALIENCY_CLASSES = "saliency_classes"
# A map whose scores span less than this share of the image's largest |score| (over classes and
# positions) is flat: min-max scaling would turn float noise into a confident picture. f32 kernels
# differ by ~1e-7 of that scale between CPUs and code paths, so above the floor a normalized map
# moves by 1e-3 at most; bf16 moves maps further whatever the floor.
FLAT_SPREAD = 1e-4


def saliency(
    scores: CopyScores,
    located: Located,
    *,
    activation: Activation = Activation.SOFTMAX,
    normalize: bool = True,
    uint8: bool = False,
    picks: ov.Output | None = None,
    upsample: tuple[int, int] | None = None,
) -> dict[str, ov.Output]:
    """Copy scores -> {"saliency_map": [B, classes or k, H, W], ...}.

    picks ([B, k] class ids, from `top_classes`) keeps the maps of those classes only, and adds
    "saliency_classes" with them. upsample=(height, width) resizes the maps bilinearly in-graph,
    as cv2.resize does.
    """
    t = located.target
    h, w, hw = spatial_sizes(t)
    kept = picks.get_partial_shape()[1].get_length() if picks is not None else located.classes
    width = 1 if activation.pairs else kept if scores.picked else located.classes
    per_image = ops.reshape(scores.values, pattern(-1, hw, width), False)
    if per_image.get_output_element_type(0) != ov.Type.f32:
        per_image = ops.convert(per_image, ov.Type.f32)
    # A softmax is over every class: `tail_scores` picks classes only where no softmax follows.
    per_image = {
        Activation.NONE: lambda x: x,
        Activation.SOFTMAX: lambda x: ops.softmax(x, -1),
        Activation.SIGMOID: ops.sigmoid,
        Activation.EXP: ops.exp,
        Activation.PAIR: pair,
        Activation.SIGMOID_PAIR: lambda x: pair(ops.sigmoid(x)),
        Activation.LOGIT_PAIR: lambda x: ops.concat([ops.negative(x), x], -1),
    }[activation](per_image)
    outputs = {}
    if picks is not None and not scores.picked:
        # GatherND, not Gather(batch_dims=1): on OpenVINO 2026.4's CPU plugin the latter segfaults
        # at a static batch of 1.
        every = ops.reshape(_class_major(per_image, h, w, located.classes), pattern(-1, located.classes, hw), False)
        per_class = ops.gather_nd(every, ops.unsqueeze(picks, i64(2)), batch_dims=1)  # [B, k, H*W]
        per_class = min_max(per_class, 2) if normalize else per_class
    else:
        # Scaled before the transpose, while positions are the outer axis: ResNet-18 ran ~2 % faster.
        per_image = min_max(per_image, 1) if normalize else per_image
        per_class = _class_major(per_image, h, w, kept)
    if picks is not None:
        outputs[SALIENCY_CLASSES] = picks
    maps = ops.reshape(per_class, pattern(-1, kept, h, w), special_zero=False)
    if upsample:
        maps = ops.interpolate(maps, i64(*upsample), "linear", "sizes", axes=i64(2, 3))
    if uint8:
        scaled = ops.multiply(maps, ops.constant(np.float32(255.0)))
        maps = ops.convert(ops.round(ops.clamp(scaled, 0.0, 255.0), "half_to_even"), ov.Type.u8)
    outputs[SALIENCY] = maps.output(0)
    return {SALIENCY: outputs.pop(SALIENCY), **outputs}


def _class_major(per_image: ov.Output, h: Size, w: Size, classes: int) -> ov.Node:
    """[B, H*W, C] scores as [B, C, H, W] maps.

    As the rank-4 NHWC -> NCHW permutation: the CPU plugin runs that with a JIT kernel, and the rank-3
    [B, H*W, C] -> [B, C, H*W] one with its reference kernel, 2-2.5x slower (80 against 33 us at 169 x 1000).
    """
    nhwc = ops.reshape(per_image, pattern(-1, h, w, classes), special_zero=False)
    return ops.transpose(nhwc, i64(0, 3, 1, 2))


def min_max(values: ov.Output, axis: int, scale_axes: tuple[int, ...] = (1, 2)) -> ov.Node:
    """Scale `values` [B, ., .] to [0, 1] along `axis`; a slice spanning less than the flat floor becomes 0.

    scale_axes: where the floor's scale, the largest |score|, is taken: over the image (a classifier's classes
    share one softmax), or over each slice alone (a detector's detections are scored apart, and a weak one's
    scores can all be far below a strong one's: 2e-6 against 0.03 for two horses in one photo).

    Only two passes read the whole tensor (the min and the max) and one writes it: the image's largest
    |score| comes from the slices' minima and maxima, and a flat slice is divided by infinity, which
    gives exactly 0, so no select runs over the whole tensor.
    """
    low = ops.reduce_min(values, i64(axis), keep_dims=True)
    high = ops.reduce_max(values, i64(axis), keep_dims=True)
    span = ops.subtract(high, low)
    largest = ops.reduce_max(ops.maximum(ops.abs(low), ops.abs(high)), i64(*scale_axes), keep_dims=True)
    floor = ops.multiply(largest, ops.constant(np.float32(FLAT_SPREAD)))
    floor = ops.maximum(floor, ops.constant(np.float32(np.finfo(np.float32).tiny)))  # all-zero scores
    divisor = ops.select(ops.less(span, floor), ops.constant(np.float32(np.inf)), ops.maximum(span, floor))
    return ops.divide(ops.subtract(values, low), divisor)


def attach(model: ov.Model, outputs: dict[str, ov.Output]) -> None:
    """Add `outputs` to the model under their names, leaving the original outputs as they are."""
    for name, value in outputs.items():
        result = ops.result(value)
        result.set_friendly_name(name)
        result.output(0).get_tensor().set_names({name})
        model.add_results([result])
