"""Build the Recipro-CAM subgraph: masked copies of the target, the cloned tail, scores, maps.

For a feature map F of shape [B, K, H, W] the subgraph makes B*H*W copies, copy (b, n) keeping
F[b] only at spatial position n. The mask is Eye(H*W) broadcast against F, so no dense
(H*W, K, H, W) constant lands in the model. The tail (the ops between target and logits) is a
clone that reads the copies; its weights share the original's buffers, so the IR barely grows.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from .locate import FeatureMap, Located

SALIENCY = "saliency_map"
_EPS = 1e-12


def masked_copies(target: FeatureMap) -> ov.Output:
    """[B*H*W, ...] copies of the target, copy n zero everywhere but at spatial position n."""
    hw, k = target.height * target.width, target.channels
    size = ops.constant(np.int64(hw))
    eye = ops.eye(size, size, ops.constant(np.int64(0)), target.output.get_element_type())
    if target.layout == "NCHW":
        mask_shape, copy_shape = [1, hw, 1, target.height, target.width], [-1, k, target.height, target.width]
    else:
        mask_shape, copy_shape = [1, hw, target.height, target.width, 1], [-1, target.height, target.width, k]
    mask = ops.reshape(eye, ops.constant(np.array(mask_shape, np.int64)), special_zero=False)
    copies = ops.multiply(ops.unsqueeze(target.output, ops.constant(np.int64(1))), mask)
    return ops.reshape(copies, ops.constant(np.array(copy_shape, np.int64)), special_zero=False).output(0)


def tail_on(model: ov.Model, located: Located, copies: ov.Output) -> ov.Output:
    """The logits of a clone of the tail that reads `copies` instead of the target.

    Where a tail op reads a computed tensor from outside the tail, the clone reads the original's,
    so the clone's copy of the backbone is left unreachable. Weights stay the clone's own Constant
    nodes: they share the original's buffers, and the IR writer stores equal buffers once, but the
    CPU plugin compiles a Constant node used by two layers differently, which would move the
    original outputs by about 1e-5.
    """
    clone = model.clone()
    originals = model.get_ordered_ops()
    twins = clone.get_ordered_ops()
    if [o.get_friendly_name() for o in originals] != [o.get_friendly_name() for o in twins]:
        raise RuntimeError("model.clone() did not preserve op order; please report this model")
    twin_of = {o.get_instance_id(): t for o, t in zip(originals, twins, strict=True)}
    target_node = located.target.output.get_node().get_instance_id()
    target_port = located.target.output.get_index()
    batch = model.get_parameters()[0].get_partial_shape()[0]
    computed = _input_dependent(originals)
    for original in originals:
        if original.get_instance_id() not in located.tail:
            continue
        twin = twin_of[original.get_instance_id()]
        for i, source in enumerate(original.input_values()):
            source_id = source.get_node().get_instance_id()
            if source_id == target_node and source.get_index() == target_port:
                twin.input(i).replace_source_output(copies)
            elif source_id not in located.tail and source_id in computed:
                twin.input(i).replace_source_output(source)
        if original.get_type_name() == "Reshape" and (pattern := batch_free_pattern(original, batch)) is not None:
            set_reshape_pattern(twin, pattern)
    for original in originals:
        if original.get_instance_id() in located.tail:
            twin_of[original.get_instance_id()].validate_and_infer_types()
    logits = located.logits
    return twin_of[logits.get_node().get_instance_id()].output(logits.get_index())


def _input_dependent(ordered_ops: list[ov.Node]) -> set[int]:
    """Instance ids of the ops whose value depends on a model input (all but constant subgraphs)."""
    found: set[int] = set()
    for op in ordered_ops:
        if op.get_type_name() == "Parameter" or any(v.get_node().get_instance_id() in found for v in op.input_values()):
            found.add(op.get_instance_id())
    return found


def batch_free_pattern(reshape: ov.Node, batch: ov.Dimension) -> np.ndarray | None:
    """For a Reshape to a literal batch ([1, 1024]), a pattern that keeps its input's batch ([0, 1024]).

    ONNX exports of static-batch models bake the batch into flatten shapes; the copies (B*H*W)
    and a new input batch both need it to follow the input instead. None when there is nothing to free.
    """
    pattern = reshape.input_value(1).get_node()
    source = reshape.get_input_partial_shape(0)
    if batch.is_dynamic or pattern.get_type_name() != "Constant" or source.rank.is_dynamic or source[0] != batch:
        return None
    values = np.asarray(pattern.get_data()).copy()
    if values.ndim != 1 or values.size == 0 or values[0] != batch.get_length():
        return None
    if not reshape.get_attributes().get("special_zero", False) and (values[1:] == 0).any():
        return None
    values[0] = 0
    return values


def set_reshape_pattern(reshape: ov.Node, values: np.ndarray) -> None:
    """Point a Reshape at `values`, with 0 meaning "keep this input dimension"."""
    reshape.input(1).replace_source_output(ops.constant(values).output(0))
    reshape.set_attribute("special_zero", True)


def saliency(
    scores_per_copy: ov.Output,
    located: Located,
    *,
    score: str = "softmax",
    normalize: bool = True,
    uint8: bool = False,
) -> ov.Output:
    """[B*H*W, classes(, 1, 1)] tail scores -> [B, classes, H, W] maps."""
    t = located.target
    hw, classes = t.height * t.width, located.classes
    per_image = ops.reshape(scores_per_copy, ops.constant(np.array([-1, hw, classes], np.int64)), special_zero=False)
    if per_image.get_output_element_type(0) != ov.Type.f32:
        per_image = ops.convert(per_image, ov.Type.f32)
    if score == "softmax":
        per_image = ops.softmax(per_image, -1)
    maps = ops.reshape(
        ops.transpose(per_image, ops.constant(np.array([0, 2, 1], np.int64))),
        ops.constant(np.array([-1, classes, t.height, t.width], np.int64)),
        special_zero=False,
    )
    if normalize:
        axes = ops.constant(np.array([2, 3], np.int64))
        low = ops.reduce_min(maps, axes, keep_dims=True)
        high = ops.reduce_max(maps, axes, keep_dims=True)
        span = ops.maximum(ops.subtract(high, low), ops.constant(np.float32(_EPS)))
        maps = ops.divide(ops.subtract(maps, low), span)
    if uint8:
        scaled = ops.multiply(maps, ops.constant(np.float32(255.0)))
        rounded = ops.round(ops.clamp(scaled, 0.0, 255.0), "half_to_even")
        maps = ops.convert(rounded, ov.Type.u8)
    return maps.output(0)


def attach(model: ov.Model, maps: ov.Output) -> None:
    """Add `maps` to the model's outputs as `saliency_map`, leaving the original outputs as they are."""
    result = ops.result(maps)
    result.set_friendly_name(SALIENCY)
    result.output(0).get_tensor().set_names({SALIENCY})
    model.add_results([result])
