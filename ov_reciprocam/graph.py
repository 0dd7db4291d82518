"""Build the Recipro-CAM subgraph: scores of the masked copies, then maps.

For a feature map F of shape [B, K, H, W] Recipro-CAM scores B*H*W copies, copy (b, n) keeping
F[b] only at spatial position n. The tail (the ops between target and logits) is cloned to score
them. `tails.plan` picks how the copies reach the clone:

* generic: the copies themselves, from Eye(H*W) broadcast against F (no dense (H*W, K, H, W)
  constant lands in the model);
* pooled / flatten_linear: exact shortcuts that skip the masked maps (see `tails`).

For top-k maps of logits, a clone that ends in a linear layer computes only the k picked classes
("+picked" in rt_info's `path`). The clone's weights share the original's buffers, so the IR's .bin grows
by a few hundred bytes (the .xml by the new ops' text).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from . import tails
from .batch_patterns import batch_free_pattern, copies_pattern, set_reshape_pattern
from .errors import ReciproCamError
from .locating import FeatureMap, Located
from .scores import Score, ScoreKind

SALIENCY = "saliency_map"
SALIENCY_CLASSES = "saliency_classes"
# A map whose scores span less than this share of the image's largest |score| (over classes and
# positions) is flat: min-max scaling would turn float noise into a confident picture. f32 kernels
# differ by ~1e-7 of that scale between CPUs and code paths, so above the floor a normalized map
# moves by 1e-3 at most; bf16 moves maps further whatever the floor.
FLAT_SPREAD = 1e-4


def _i64(*values: int) -> ov.Node:
    return ops.constant(np.array(values, np.int64))


Size = int | ov.Output  # a static size, or a 1-D i64 tensor of one element read at run time


def spatial_sizes(t: FeatureMap) -> tuple[Size, Size, Size]:
    """(H, W, H*W) of the target: ints when static (NPU graphs stay static), else from its runtime shape."""
    if t.static_size:
        return t.height, t.width, t.height * t.width
    shape = ops.shape_of(t.output, ov.Type.i64)
    h, w = (ops.gather(shape, _i64(a), _i64(0)).output(0) for a in ((2, 3) if t.layout == "NCHW" else (1, 2)))
    return h, w, ops.multiply(h, w).output(0)


def _pattern(*parts: Size) -> ov.Output:
    """A Reshape pattern: a constant when every part is static, else a Concat of the parts."""
    if all(isinstance(p, int) for p in parts):
        return _i64(*parts).output(0)
    return ops.concat([_i64(p).output(0) if isinstance(p, int) else p for p in parts], 0).output(0)


def _as_scalar(size: Size, dtype: np.dtype) -> ov.Output:
    if isinstance(size, int):
        return ops.constant(dtype.type(size)).output(0)
    return ops.convert(size, ov.Type(dtype)).output(0)


def masked_copies(target: FeatureMap) -> ov.Output:
    """[B*H*W, ...] copies of the target, copy n zero everywhere but at spatial position n."""
    h, w, hw = spatial_sizes(target)
    k = target.channels
    size = ops.constant(np.int64(hw)) if isinstance(hw, int) else ops.squeeze(hw, _i64(0))
    eye = ops.eye(size, size, ops.constant(np.int64(0)), target.output.get_element_type())
    if target.layout == "NCHW":
        mask_shape, copy_shape = (1, hw, 1, h, w), (-1, k, h, w)
    else:
        mask_shape, copy_shape = (1, hw, h, w, 1), (-1, h, w, k)
    mask = ops.reshape(eye, _pattern(*mask_shape), special_zero=False)
    copies = ops.multiply(ops.unsqueeze(target.output, _i64(1)), mask)
    return ops.reshape(copies, _pattern(*copy_shape), special_zero=False).output(0)


class _TailClone:
    """A clone of the model's tail, wired to the original wherever it reads from outside the tail.

    Computed tensors from outside the tail are read from the original, so the clone's own copy of
    the backbone is left unreachable. Weights stay the clone's own Constant nodes: they share the
    original's buffers, and the IR writer stores equal buffers once, but the CPU plugin compiles a
    Constant node used by two layers differently, which would move the original outputs by ~1e-5.
    """

    def __init__(self, model: ov.Model, located: Located, copies: bool = True) -> None:
        """copies: the clone will run on B*H*W copies, so Reshapes that bake in or read the batch follow them."""
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
            if not copies or original.get_type_name() != "Reshape":
                continue
            if (pattern := batch_free_pattern(original, batch)) is not None:
                set_reshape_pattern(twin, pattern)
            elif (scaled := copies_pattern(twin.input_value(1), spatial_sizes(located.target)[2])) is not None:
                twin.input(1).replace_source_output(scaled)

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

    def pointwise_as_matmul(self, after: ov.Node) -> None:
        """Turn the clone's 1x1 convolutions on 1x1 maps past `after` into MatMuls.

        Past the pooling the copies are [B*H*W, C, 1, 1]; the CPU plugin ran a head conv of that
        shape (timm MobileNetV3's conv_head) ~25x slower than the same product as a MatMul.
        """
        ids = [o.get_instance_id() for o in self._order]
        following = self._order[ids.index(after.get_instance_id()) + 1 :]
        for original in following:
            self[original].validate_and_infer_types()
        for original in following:
            conv = self[original]
            if conv.get_type_name() != "Convolution" or not _is_pointwise_on_pixel(conv):
                continue
            weights = conv.input_value(1)
            c_out, c_in = (d.get_length() for d in weights.get_partial_shape()[:2])
            vectors = ops.reshape(conv.input_value(0), _i64(-1, c_in), special_zero=False)
            kernel = ops.reshape(weights, _i64(c_out, c_in), special_zero=False)
            product = ops.matmul(vectors, kernel, False, True)
            self.replace_uses(original, ops.reshape(product, _i64(-1, c_out, 1, 1), special_zero=False).output(0))

    def value(self, original: ov.Output) -> ov.Output:
        """The clone's counterpart of the tail tensor `original`, its shapes settled."""
        return self.settled(self[original.get_node()].output(original.get_index()))

    def settled(self, value: ov.Output) -> ov.Output:
        """`value` (a tensor of the clone) with the shapes of the clone's ops it is computed from inferred anew.

        Only those: an op a shortcut bypassed may not fit its new inputs.
        """
        needed, stack = set(), [value.get_node()]
        while stack:
            node = stack.pop()
            for source in node.input_values():
                if (i := source.get_node().get_instance_id()) not in needed:
                    needed.add(i)
                    stack.append(source.get_node())
        needed.add(value.get_node().get_instance_id())
        for node in self._order:
            if (twin := self[node]).get_instance_id() in needed:
                twin.validate_and_infer_types()
        return value


@dataclass(frozen=True)
class CopyScores:
    values: ov.Output  # [B*H*W, classes(, 1, 1)], or [B*H*W, k] when picked
    kind: tails.TailKind  # how the masked copies were scored
    picked: bool = False  # values hold only the classes of `picks`, in that order


class Activation(Enum):
    """What turns the scored tensor of each copy into its scores."""

    NONE = "none"
    SOFTMAX = "softmax"
    SIGMOID = "sigmoid"
    EXP = "exp"  # log-probabilities back to probabilities


@dataclass(frozen=True)
class ScoreSource:
    """Which tail tensor scores the copies (its clone's counterpart), and what activates it."""

    tensor: ov.Output
    activation: Activation

    def pickable(self, located: Located) -> bool:
        """Scores of k classes need only those classes' logits: not so under a softmax over all of them."""
        return self.tensor is located.logits and self.activation in (Activation.NONE, Activation.SIGMOID)


def score_source(located: Located, score: Score) -> ScoreSource:
    """How `score` reads the copies of a model whose scores are of `located.kind`.

    Softmax scores take the model's own probabilities where it computes them (a softmax, sliced or
    scaled as the model does), so that a map and its reported score speak of the same number.
    """
    kind, score = located.kind, score.resolve(located.kind)
    if score is Score.SOFTMAX and kind is not ScoreKind.SIGMOIDS:
        activation = {ScoreKind.PROBABILITIES: Activation.NONE, ScoreKind.LOG_PROBABILITIES: Activation.EXP}
        return ScoreSource(located.scores, activation.get(kind, Activation.SOFTMAX))
    if score is Score.SIGMOID and kind is ScoreKind.SIGMOIDS:
        return ScoreSource(located.scores, Activation.NONE)
    if located.logits is None:
        raise ReciproCamError(
            f"--score {score.value} needs one logit per class, but this model picks or scales classes after its "
            f"{kind.value}; use --score auto"
        )
    activation = {Score.LOGITS: Activation.NONE, Score.SIGMOID: Activation.SIGMOID, Score.SOFTMAX: Activation.SOFTMAX}
    return ScoreSource(located.logits, activation[score])


def top_classes(located: Located, k: int) -> ov.Output:
    """[B, k] ids of each image's k highest scores, best first."""
    ranking = ops.reshape(located.scores, _i64(0, located.classes), special_zero=True)
    return ops.topk(ranking, ops.constant(np.int64(k)), 1, "max", "value", ov.Type.i32).output(1)


def tail_scores(
    model: ov.Model, located: Located, source: ScoreSource, fast: bool = True, picks: ov.Output | None = None
) -> CopyScores:
    """`source.tensor` for the masked copies, for every class or, given `picks` [B, k], for those classes only.

    `picks` is a hint: it is honoured when `source` is pickable and the tail ends in a linear layer
    (see `tails.final_linear`).
    """
    plan = tails.plan(model, located) if fast else tails.TailPlan(tails.TailKind.GENERIC)
    t = located.target
    if not t.static_size and plan.kind is not tails.TailKind.POOLED:
        if flatten := tails.flatten_of_dynamic_size(model, located):
            raise ReciproCamError(
                f"the tail flattens the target '{t.name}', whose size follows the input's, at '{flatten}': its linear "
                "layer fits one input size; pass --input-shape, e.g. 1,3,224,224"
            )
    clone = _TailClone(model, located)
    if plan.kind is tails.TailKind.POOLED:
        # g is per pixel, so g(0) needs one zero pixel, not a zero map: a broadcast scalar, which
        # also keeps a zero constant out of the IR.
        shape = [1, t.channels, 1, 1] if t.layout == "NCHW" else [1, 1, 1, t.channels]
        zero = ops.constant(np.zeros((), t.output.get_element_type().to_dtype()))
        clone.feed_target(ops.broadcast(zero, _i64(*shape)).output(0))
        for op in plan.chain:  # shapes now follow the zero pixel, before _pooled_copies reads them
            clone[op].validate_and_infer_types()
        at_zero = clone[plan.chain[-1]].output(0) if plan.chain else None
        clone.replace_uses(plan.head, _pooled_copies(plan.head, at_zero, t))
        clone.pointwise_as_matmul(after=plan.head)
    elif plan.kind is tails.TailKind.FLATTEN_LINEAR:
        clone.feed_target(t.output)  # the clone's flatten is bypassed below; it only has to stay valid
        clone.replace_uses(plan.head, _linear_copies(clone[plan.head], t))
    else:
        clone.feed_target(masked_copies(t))
    pick = fast and picks is not None and source.pickable(located)
    final = tails.final_linear(located) if pick else None
    if final is None or (
        plan.kind is tails.TailKind.FLATTEN_LINEAR and plan.head.get_instance_id() == final.matmul.get_instance_id()
    ):
        return CopyScores(clone.value(source.tensor), plan.kind)
    clone.value(source.tensor)  # settles the clone's shapes, which _picked_logits reads
    return CopyScores(_picked_logits(clone, final, picks, spatial_sizes(t)[2]), plan.kind, picked=True)


def _picked_logits(clone: _TailClone, final: tails.FinalLinear, picks: ov.Output, hw: Size) -> ov.Output:
    """x @ W[:, picks] + b[picks] for the clone's final linear layer: [B*H*W, k], k columns of W per image."""
    matmul = clone[final.matmul]
    x = matmul.input_value(0)
    d = x.get_partial_shape()[1].get_length()
    per_image = ops.reshape(x, _pattern(-1, hw, d), special_zero=False)  # [B, HW, D]
    weights = matmul.input_value(1)
    if matmul.get_attributes()["transpose_b"]:  # W is [classes, D]
        columns = ops.gather(weights, picks, _i64(0))  # [B, k, D]
        logits = ops.matmul(per_image, columns, False, True)
    else:  # W is [D, classes]
        columns = ops.transpose(ops.gather(weights, picks, _i64(1)), _i64(1, 0, 2))  # [B, D, k]
        logits = ops.matmul(per_image, columns, False, False)
    if final.bias is not None:
        bias = clone[final.bias.get_node()].output(final.bias.get_index())
        flat = ops.reshape(bias, _i64(-1), special_zero=False)
        logits = ops.add(logits, ops.unsqueeze(ops.gather(flat, picks, _i64(0)), _i64(1)))  # + [B, 1, k]
    k = picks.get_partial_shape()[1].get_length()
    return ops.reshape(logits, _i64(-1, k), special_zero=False).output(0)


def _pooled_copies(pool: ov.Node, at_zero: ov.Output | None, t: FeatureMap) -> ov.Output:
    """The pooled vector of every copy: (g(F)[:, n] + (H*W - 1) * g(0)) / (H*W), shaped as `pool`'s output.

    at_zero: g applied to one zero pixel, or None when there are no per-pixel ops (g(0) = 0).
    """
    hw = spatial_sizes(t)[2]
    mapped = pool.input_value(0)  # g(F), computed by the original model
    k = mapped.get_partial_shape()[1 if t.layout == "NCHW" else 3].get_length()
    dtype = mapped.get_element_type().to_dtype()
    if t.layout == "NCHW":
        # Position-major although g(F) is NCHW: the CPU plugin holds g(F) channels-last, and a
        # class-major softmax/reorder measured slower than this transpose on SqueezeNet.
        per_position = ops.transpose(ops.reshape(mapped, _pattern(0, k, hw), special_zero=True), _i64(0, 2, 1))
    else:
        per_position = ops.reshape(mapped, _pattern(0, hw, k), special_zero=True)
    positions = _as_scalar(hw, dtype)
    if at_zero is not None:  # every other position of copy n holds g(0)
        others = ops.subtract(positions, ops.constant(dtype.type(1)))
        background = ops.multiply(ops.reshape(at_zero, _i64(k), special_zero=False), others)
        per_position = ops.add(per_position, background)
    pooled = ops.divide(per_position, positions)
    rest = [d.get_length() for d in pool.get_output_partial_shape(0)[1:]]
    return ops.reshape(pooled, _i64(-1, *rest), special_zero=False).output(0)


def _linear_copies(matmul: ov.Node, t: FeatureMap) -> ov.Output:
    """Flatten + MatMul of every copy at the cost of one MatMul: [B*H*W, D].

    Copy n's flattened vector is zero but for F[:, n], so its product is F[:, n] times the K rows
    of W that position n meets. With positions as groups this is one GroupConvolution over 1x1
    maps: the device runs it as it runs the original FC (one pass over W, in the inference
    precision), where a batched MatMul over positions stayed in f32 at twice the original's time.
    W is regrouped in-graph, so the IR keeps one W; the device folds the regrouping at compile
    time and holds that second layout of W in memory.
    """
    hw, k = t.height * t.width, t.channels
    weights = matmul.input_value(1)
    d = matmul.get_output_partial_shape(0)[1].get_length()
    transpose_b = matmul.get_attributes()["transpose_b"]
    if t.layout == "NCHW":  # flat index k*HW + n
        grouped = (
            ops.transpose(ops.reshape(weights, _i64(d, k, hw), False), _i64(2, 0, 1))
            if transpose_b
            else ops.transpose(ops.reshape(weights, _i64(k, hw, d), False), _i64(1, 2, 0))
        )
        vectors = ops.transpose(ops.reshape(t.output, _i64(0, k, hw), special_zero=True), _i64(0, 2, 1))
    else:  # flat index n*K + k
        grouped = (
            ops.transpose(ops.reshape(weights, _i64(d, hw, k), False), _i64(1, 0, 2))
            if transpose_b
            else ops.transpose(ops.reshape(weights, _i64(hw, k, d), False), _i64(0, 2, 1))
        )
        vectors = t.output
    kernels = ops.reshape(grouped, _i64(hw, d, k, 1, 1), False)  # [groups, out, in, 1, 1]
    per_group = ops.reshape(vectors, _i64(0, hw * k, 1, 1), special_zero=True)
    products = ops.group_convolution(per_group, kernels, [1, 1], [0, 0], [0, 0], [1, 1])  # [B, HW*D, 1, 1]
    return ops.reshape(products, _i64(-1, d), special_zero=False).output(0)


def _is_pointwise_on_pixel(conv: ov.Node) -> bool:
    """A 1x1, stride-1, unpadded, undilated convolution of [N, C, 1, 1] with static weights."""
    source, weights = conv.get_input_partial_shape(0), conv.get_input_partial_shape(1)
    attrs = conv.get_attributes()
    return (
        source.rank.is_static
        and source.rank.get_length() == 4
        and [d.get_length() if d.is_static else -1 for d in source][2:] == [1, 1]
        and weights.is_static
        and list(weights.get_shape())[2:] == [1, 1]
        and list(attrs["strides"]) == [1, 1]
        and list(attrs["dilations"]) == [1, 1]
        and not any(attrs["pads_begin"])
        and not any(attrs["pads_end"])
    )


def _input_dependent(ordered_ops: list[ov.Node]) -> set[int]:
    """Instance ids of the ops whose value depends on a model input (all but constant subgraphs)."""
    found: set[int] = set()
    for op in ordered_ops:
        if op.get_type_name() == "Parameter" or any(v.get_node().get_instance_id() in found for v in op.input_values()):
            found.add(op.get_instance_id())
    return found


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
    per_image = ops.reshape(scores.values, _pattern(-1, hw, kept if scores.picked else located.classes), False)
    if per_image.get_output_element_type(0) != ov.Type.f32:
        per_image = ops.convert(per_image, ov.Type.f32)
    # A softmax is over every class: `tail_scores` picks classes only where no softmax follows.
    per_image = {
        Activation.NONE: lambda x: x,
        Activation.SOFTMAX: lambda x: ops.softmax(x, -1),
        Activation.SIGMOID: ops.sigmoid,
        Activation.EXP: ops.exp,
    }[activation](per_image)
    outputs = {}
    if picks is not None and not scores.picked:
        # GatherND, not Gather(batch_dims=1): on OpenVINO 2026.4's CPU plugin the latter segfaults
        # at a static batch of 1.
        per_class = ops.transpose(per_image, _i64(0, 2, 1))
        per_class = ops.gather_nd(per_class, ops.unsqueeze(picks, _i64(2)), batch_dims=1)  # [B, k, H*W]
        per_class = _min_max(per_class, 2) if normalize else per_class
    else:
        # Scaled before the transpose, while positions are the outer axis: ResNet-18 ran ~2 % faster.
        per_image = _min_max(per_image, 1) if normalize else per_image
        per_class = ops.transpose(per_image, _i64(0, 2, 1))
    if picks is not None:
        outputs[SALIENCY_CLASSES] = picks
    maps = ops.reshape(per_class, _pattern(-1, kept, h, w), special_zero=False)
    if upsample:
        maps = ops.interpolate(maps, _i64(*upsample), "linear", "sizes", axes=_i64(2, 3))
    if uint8:
        scaled = ops.multiply(maps, ops.constant(np.float32(255.0)))
        maps = ops.convert(ops.round(ops.clamp(scaled, 0.0, 255.0), "half_to_even"), ov.Type.u8)
    outputs[SALIENCY] = maps.output(0)
    return {SALIENCY: outputs.pop(SALIENCY), **outputs}


def _min_max(values: ov.Output, axis: int) -> ov.Node:
    """Scale `values` [B, ., .] to [0, 1] along `axis`; a slice spanning less than the flat floor becomes 0."""
    low = ops.reduce_min(values, _i64(axis), keep_dims=True)
    high = ops.reduce_max(values, _i64(axis), keep_dims=True)
    span = ops.subtract(high, low)
    largest = ops.reduce_max(ops.abs(values), _i64(1, 2), keep_dims=True)
    floor = ops.multiply(largest, ops.constant(np.float32(FLAT_SPREAD)))
    floor = ops.maximum(floor, ops.constant(np.float32(np.finfo(np.float32).tiny)))  # all-zero scores
    scaled = ops.divide(ops.subtract(values, low), ops.maximum(span, floor))
    return ops.select(ops.less(span, floor), ops.constant(np.float32(0)), scaled)


def attach(model: ov.Model, outputs: dict[str, ov.Output]) -> None:
    """Add `outputs` to the model under their names, leaving the original outputs as they are."""
    for name, value in outputs.items():
        result = ops.result(value)
        result.set_friendly_name(name)
        result.output(0).get_tensor().set_names({name})
        model.add_results([result])
