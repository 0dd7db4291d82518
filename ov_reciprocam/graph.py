"""Build the Recipro-CAM subgraph: scores of the masked copies, then maps.

For a feature map F of shape [B, K, H, W] Recipro-CAM scores B*H*W copies, copy (b, n) keeping
F[b] only at spatial position n. The tail (the ops between target and logits) is cloned to score
them. `tails.plan` picks how the copies reach the clone:

* generic: the copies themselves, from Eye(H*W) broadcast against F (no dense (H*W, K, H, W)
  constant lands in the model);
* pooled / flatten_linear: exact shortcuts that skip the masked maps (see `tails`).

The clone's weights share the original's buffers, so the IR grows by a few hundred bytes.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from . import tails
from .locate import FeatureMap, Located

SALIENCY = "saliency_map"
SALIENCY_CLASSES = "saliency_classes"
_EPS = 1e-12


def _i64(*values: int) -> ov.Node:
    return ops.constant(np.array(values, np.int64))


def masked_copies(target: FeatureMap) -> ov.Output:
    """[B*H*W, ...] copies of the target, copy n zero everywhere but at spatial position n."""
    hw, k = target.height * target.width, target.channels
    size = ops.constant(np.int64(hw))
    eye = ops.eye(size, size, ops.constant(np.int64(0)), target.output.get_element_type())
    if target.layout == "NCHW":
        mask_shape, copy_shape = [1, hw, 1, target.height, target.width], [-1, k, target.height, target.width]
    else:
        mask_shape, copy_shape = [1, hw, target.height, target.width, 1], [-1, target.height, target.width, k]
    mask = ops.reshape(eye, _i64(*mask_shape), special_zero=False)
    copies = ops.multiply(ops.unsqueeze(target.output, _i64(1)), mask)
    return ops.reshape(copies, _i64(*copy_shape), special_zero=False).output(0)


class _TailClone:
    """A clone of the model's tail, wired to the original wherever it reads from outside the tail.

    Computed tensors from outside the tail are read from the original, so the clone's own copy of
    the backbone is left unreachable. Weights stay the clone's own Constant nodes: they share the
    original's buffers, and the IR writer stores equal buffers once, but the CPU plugin compiles a
    Constant node used by two layers differently, which would move the original outputs by ~1e-5.
    """

    def __init__(self, model: ov.Model, located: Located) -> None:
        originals = model.get_ordered_ops()
        twins = model.clone().get_ordered_ops()
        if [o.get_friendly_name() for o in originals] != [o.get_friendly_name() for o in twins]:
            raise RuntimeError("model.clone() did not preserve op order; please report this model")
        self._twin = {o.get_instance_id(): t for o, t in zip(originals, twins, strict=True)}
        self._order = [o for o in originals if o.get_instance_id() in located.tail]
        self._located = located
        self._target_inputs: list[ov.Input] = []
        target = located.target.output
        batch = model.get_parameters()[0].get_partial_shape()[0]
        computed = _input_dependent(originals)
        for original in self._order:
            twin = self[original]
            for i, source in enumerate(original.input_values()):
                source_id = source.get_node().get_instance_id()
                if source_id == target.get_node().get_instance_id() and source.get_index() == target.get_index():
                    self._target_inputs.append(twin.input(i))
                elif source_id not in located.tail and source_id in computed:
                    twin.input(i).replace_source_output(source)
            if original.get_type_name() == "Reshape" and (pattern := batch_free_pattern(original, batch)) is not None:
                set_reshape_pattern(twin, pattern)

    def __getitem__(self, original: ov.Node) -> ov.Node:
        return self._twin[original.get_instance_id()]

    def feed_target(self, value: ov.Output) -> None:
        """Make the clone read `value` where the original reads the target."""
        for target_input in self._target_inputs:
            target_input.replace_source_output(value)

    def replace_uses(self, original: ov.Node, value: ov.Output) -> None:
        """Make the clone's consumers of `original`'s output read `value` instead."""
        for consumer in list(self[original].output(0).get_target_inputs()):
            consumer.replace_source_output(value)

    def logits(self) -> ov.Output:
        for original in self._order:
            self[original].validate_and_infer_types()
        logits = self._located.logits
        return self[logits.get_node()].output(logits.get_index())


def tail_scores(model: ov.Model, located: Located, fast: bool = True) -> tuple[ov.Output, str]:
    """[B*H*W, classes(, 1, 1)] logits of the masked copies, and which path computed them."""
    plan = tails.plan(model, located) if fast else tails.TailPlan("generic")
    clone = _TailClone(model, located)
    t = located.target
    if plan.kind == "pooled":
        # A broadcast scalar, not a [1, K, H, W] constant: the zero map would otherwise be stored in the IR.
        shape = [1, t.channels, t.height, t.width] if t.layout == "NCHW" else [1, t.height, t.width, t.channels]
        zero = ops.constant(np.zeros((), t.output.get_element_type().to_dtype()))
        clone.feed_target(ops.broadcast(zero, _i64(*shape)).output(0))
        for op in plan.chain:  # shapes now follow the zero map, before _pooled_copies reads them
            clone[op].validate_and_infer_types()
        at_zero = clone[plan.chain[-1]].output(0) if plan.chain else None
        clone.replace_uses(plan.head, _pooled_copies(plan.head, at_zero, t))
    elif plan.kind == "flatten_linear":
        clone.feed_target(t.output)  # the clone's flatten is bypassed below; it only has to stay valid
        clone.replace_uses(plan.head, _linear_copies(clone[plan.head], t))
    else:
        clone.feed_target(masked_copies(t))
    return clone.logits(), plan.kind


def _pooled_copies(pool: ov.Node, at_zero: ov.Output | None, t: FeatureMap) -> ov.Output:
    """The pooled vector of every copy: (g(F)[:, n] + (H*W - 1) * g(0)) / (H*W), shaped as `pool`'s output."""
    hw = t.height * t.width
    mapped = pool.input_value(0)  # g(F), computed by the original model
    k = mapped.get_partial_shape()[1 if t.layout == "NCHW" else 3].get_length()
    dtype = mapped.get_element_type().to_dtype()
    if t.layout == "NCHW":
        per_position = ops.transpose(ops.reshape(mapped, _i64(0, k, hw), special_zero=True), _i64(0, 2, 1))
    else:
        per_position = ops.reshape(mapped, _i64(0, hw, k), special_zero=True)
    if at_zero is not None:  # g(0) sits at every position of a zero map: take the first
        nchw = t.layout == "NCHW"
        flat = ops.reshape(at_zero, _i64(k, hw) if nchw else _i64(hw, k), special_zero=False)
        background = ops.multiply(
            ops.gather(flat, ops.constant(np.int64(0)), _i64(1 if nchw else 0)), ops.constant(dtype.type(hw - 1))
        )
        per_position = ops.add(per_position, background)
    pooled = ops.divide(per_position, ops.constant(dtype.type(hw)))
    rest = [d.get_length() for d in pool.get_output_partial_shape(0)[1:]]
    return ops.reshape(pooled, _i64(-1, *rest), special_zero=False).output(0)


def _linear_copies(matmul: ov.Node, t: FeatureMap) -> ov.Output:
    """Flatten + MatMul of every copy at the cost of one MatMul: [B*H*W, D].

    Copy n's flattened vector is zero but for F[:, n], so its product is F[:, n] times the K rows
    of W that position n meets. W is regrouped to [H*W, K, D] in-graph, so the IR keeps one W;
    the device folds the regrouping at compile time and, for NCHW maps, holds that second layout
    of W in memory (an NHWC flatten is already grouped by position and needs no copy).
    """
    hw, k = t.height * t.width, t.channels
    weights = matmul.input_value(1)
    d = matmul.get_output_partial_shape(0)[1].get_length()
    transpose_b = matmul.get_attributes()["transpose_b"]
    if t.layout == "NCHW":  # flat index k*HW + n
        grouped = (
            ops.transpose(ops.reshape(weights, _i64(d, k, hw), False), _i64(2, 1, 0))
            if transpose_b
            else ops.transpose(ops.reshape(weights, _i64(k, hw, d), False), _i64(1, 0, 2))
        )
        vectors = ops.transpose(ops.reshape(t.output, _i64(0, k, hw), special_zero=True), _i64(0, 2, 1))
    else:  # flat index n*K + k
        grouped = (
            ops.transpose(ops.reshape(weights, _i64(d, hw, k), False), _i64(1, 2, 0))
            if transpose_b
            else ops.reshape(weights, _i64(hw, k, d), False)
        )
        vectors = ops.reshape(t.output, _i64(0, hw, k), special_zero=True)
    products = ops.matmul(ops.unsqueeze(vectors, _i64(2)), grouped, False, False)  # [B, HW, 1, D]
    return ops.reshape(products, _i64(-1, d), special_zero=False).output(0)


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
    top_k: int | None = None,
    upsample: tuple[int, int] | None = None,
) -> dict[str, ov.Output]:
    """[B*H*W, classes(, 1, 1)] copy scores -> {"saliency_map": [B, classes or k, H, W], ...}.

    top_k keeps the maps of the k classes the model ranks highest for each image, and adds
    "saliency_classes" [B, k] with their ids. upsample=(height, width) resizes the maps
    bilinearly in-graph, as cv2.resize does.
    """
    t = located.target
    hw, classes = t.height * t.width, located.classes
    per_image = ops.reshape(scores_per_copy, _i64(-1, hw, classes), special_zero=False)
    if per_image.get_output_element_type(0) != ov.Type.f32:
        per_image = ops.convert(per_image, ov.Type.f32)
    if score == "softmax":
        per_image = ops.softmax(per_image, -1)
    maps = ops.reshape(ops.transpose(per_image, _i64(0, 2, 1)), _i64(-1, classes, t.height, t.width), False)
    outputs = {}
    if top_k:
        ranking = ops.reshape(located.logits, _i64(0, classes), special_zero=True)
        best = ops.topk(ranking, ops.constant(np.int64(top_k)), 1, "max", "value", ov.Type.i32)
        # GatherND, not Gather(batch_dims=1): on OpenVINO 2026.4's CPU plugin the latter segfaults
        # at a static batch of 1.
        maps = ops.gather_nd(maps, ops.unsqueeze(best.output(1), _i64(2)), batch_dims=1)
        outputs[SALIENCY_CLASSES] = best.output(1)
    if normalize:
        axes = _i64(2, 3)
        low = ops.reduce_min(maps, axes, keep_dims=True)
        high = ops.reduce_max(maps, axes, keep_dims=True)
        span = ops.maximum(ops.subtract(high, low), ops.constant(np.float32(_EPS)))
        maps = ops.divide(ops.subtract(maps, low), span)
    if upsample:
        maps = ops.interpolate(maps, _i64(*upsample), "linear", "sizes", axes=_i64(2, 3))
    if uint8:
        scaled = ops.multiply(maps, ops.constant(np.float32(255.0)))
        maps = ops.convert(ops.round(ops.clamp(scaled, 0.0, 255.0), "half_to_even"), ov.Type.u8)
    outputs[SALIENCY] = maps.output(0)
    return {SALIENCY: outputs.pop(SALIENCY), **outputs}


def attach(model: ov.Model, outputs: dict[str, ov.Output]) -> None:
    """Add `outputs` to the model under their names, leaving the original outputs as they are."""
    for name, value in outputs.items():
        result = ops.result(value)
        result.set_friendly_name(name)
        result.output(0).get_tensor().set_names({name})
        model.add_results([result])
