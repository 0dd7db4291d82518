"""The CNN family's masked copies, scored by a clone of the tail (or an exact shortcut past it).

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

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ...errors import ReciproCamError
from ...vocabulary import Kernel, Layout
from ..base import FeatureMap, Located
from ..graph_ops import Size, as_scalar, i64, pattern, spatial_sizes
from ..kernels import copy_weights_in_graph, keeps_cells_whole, weight_levels
from ..scoring import CopyScores, ScoreSource
from ..tail_clone import TailClone
from . import tails


def masked_copies(target: FeatureMap, kernel: Kernel = Kernel.ONEHOT) -> ov.Output:
    """[B*H*W, ...] copies of the target, copy n weighted by row n of `kernels.copy_weights` (one-hot: F at n alone)."""
    h, w, hw = spatial_sizes(target)
    k = target.channels
    dtype = target.output.get_element_type()
    if kernel is Kernel.ONEHOT:  # Eye also covers a size that follows the input's
        size = ops.constant(np.int64(hw)) if isinstance(hw, int) else ops.squeeze(hw, i64(0))
        weights = ops.eye(size, size, ops.constant(np.int64(0)), dtype).output(0)
    else:
        weights = _as_type(copy_weights_in_graph(h, w, kernel), dtype)
    if target.layout == Layout.NCHW:
        mask_shape, copy_shape = (1, hw, 1, h, w), (-1, k, h, w)
    else:
        mask_shape, copy_shape = (1, hw, h, w, 1), (-1, h, w, k)
    mask = ops.reshape(weights, pattern(*mask_shape), special_zero=False)
    copies = ops.multiply(ops.unsqueeze(target.output, i64(1)), mask)
    return ops.reshape(copies, pattern(*copy_shape), special_zero=False).output(0)


def _as_type(value: ov.Output, dtype: ov.Type) -> ov.Output:
    return value if value.get_element_type() == dtype else ops.convert(value, dtype).output(0)


def tail_scores(
    model: ov.Model,
    located: Located,
    source: ScoreSource,
    fast: bool = True,
    picks: ov.Output | None = None,
    kernel: Kernel = Kernel.ONEHOT,
) -> CopyScores:
    """`source.tensor` for the masked copies, for every class or, given `picks` [B, k], for those classes only.

    `picks` is a hint: it is honoured when `source` is pickable and the tail ends in a linear layer
    (see `tails.final_linear`).
    """
    plan = tails.plan(model, located) if fast else tails.TailPlan(tails.CnnTail.GENERIC)
    t = located.target
    if not t.static_size and plan.kind is not tails.CnnTail.POOLED:
        if flatten := tails.flatten_of_dynamic_size(model, located):
            raise ReciproCamError(
                f"the tail flattens the target '{t.name}', whose size follows the input's, at '{flatten}': its linear "
                "layer fits one input size; pass `input_shape`, e.g. 1,3,224,224"
            )
    if kernel is not Kernel.ONEHOT and not t.static_size:
        raise ReciproCamError(
            f"the {kernel.value} kernel needs a feature map of fixed size, and the target '{t.name}' follows the "
            "input's; pass `input_shape`, e.g. 1,3,224,224"
        )
    clone = TailClone(model, located)
    if plan.kind is tails.CnnTail.POOLED:
        # g is per pixel, so g(0) needs one zero pixel, not a zero map: a broadcast scalar, which
        # also keeps a zero constant out of the IR.
        shape = [1, t.channels, 1, 1] if t.layout == Layout.NCHW else [1, 1, 1, t.channels]
        zero = ops.constant(np.zeros((), t.output.get_element_type().to_dtype()))
        clone.feed_target(ops.broadcast(zero, i64(*shape)).output(0))
        for op in plan.chain:  # shapes now follow the zero pixel, before _pooled_copies reads them
            clone[op].validate_and_infer_types()
        at_zero = clone[plan.chain[-1]].output(0) if plan.chain else None
        if kernel is Kernel.ONEHOT:
            pooled = _pooled_copies(plan.head, at_zero, t)
        else:
            pooled = _pooled_kernel_copies(model, located, plan, at_zero, kernel)
        clone.replace_uses(plan.head, pooled)
        _pointwise_as_matmul(clone, after=plan.head)
    elif plan.kind is tails.CnnTail.FLATTEN_LINEAR:
        clone.feed_target(t.output)  # the clone's flatten is bypassed below; it only has to stay valid
        clone.replace_uses(plan.head, _linear_copies(clone[plan.head], t, kernel))
    else:
        clone.feed_target(masked_copies(t, kernel))
        if (pool := tails.global_pool(model, located)) is not None:
            for op in clone.order[: clone.order.index(pool) + 1]:  # the copies' shapes, up to the pooling
                clone[op].validate_and_infer_types()
            _pointwise_as_matmul(clone, after=pool)
    pick = fast and picks is not None and source.pickable(located)
    final = tails.final_linear(located) if pick else None
    if final is None or (
        plan.kind is tails.CnnTail.FLATTEN_LINEAR
        and plan.head is not None
        and plan.head.get_instance_id() == final.matmul.get_instance_id()
    ):
        return CopyScores(clone.value(source.tensor), plan.kind)
    clone.value(source.tensor)  # settles the clone's shapes, which _picked_logits reads
    return CopyScores(_picked_logits(clone, final, picks, spatial_sizes(t)[2]), plan.kind, picked=True)


def _picked_logits(clone: TailClone, final: tails.FinalLinear, picks: ov.Output, hw: Size) -> ov.Output:
    """x @ W[:, picks] + b[picks] for the clone's final linear layer: [B*H*W, k], k columns of W per image."""
    matmul = clone[final.matmul]
    x = matmul.input_value(0)
    d = x.get_partial_shape()[1].get_length()
    per_image = ops.reshape(x, pattern(-1, hw, d), special_zero=False)  # [B, HW, D]
    weights = matmul.input_value(1)
    if matmul.get_attributes()["transpose_b"]:  # W is [classes, D]
        columns = ops.gather(weights, picks, i64(0))  # [B, k, D]
        logits = ops.matmul(per_image, columns, False, True)
    else:  # W is [D, classes]
        columns = ops.transpose(ops.gather(weights, picks, i64(1)), i64(1, 0, 2))  # [B, D, k]
        logits = ops.matmul(per_image, columns, False, False)
    if final.bias is not None:
        bias = clone[final.bias.get_node()].output(final.bias.get_index())
        flat = ops.reshape(bias, i64(-1), special_zero=False)
        logits = ops.add(logits, ops.unsqueeze(ops.gather(flat, picks, i64(0)), i64(1)))  # + [B, 1, k]
    k = picks.get_partial_shape()[1].get_length()
    return ops.reshape(logits, i64(-1, k), special_zero=False).output(0)


def _pooled_copies(pool: ov.Node, at_zero: ov.Output | None, t: FeatureMap) -> ov.Output:
    """The pooled vector of every copy: (g(F)[:, n] + (H*W - 1) * g(0)) / (H*W), shaped as `pool`'s output.

    at_zero: g applied to one zero pixel, or None when there are no per-pixel ops (g(0) = 0).
    """
    hw = spatial_sizes(t)[2]
    # Position-major although g(F) is NCHW: the CPU plugin holds g(F) channels-last, and a class-major
    # softmax/reorder measured slower on SqueezeNet. The rank-4 NCHW -> NHWC permutation runs on a JIT
    # kernel, where the rank-3 one ran on the reference kernel (see `saliency._class_major`).
    per_position = _per_position(pool.input_value(0), t)  # g(F), computed by the original model
    k = per_position.get_partial_shape()[2].get_length()
    dtype = per_position.get_element_type().to_dtype()
    positions = as_scalar(hw, dtype)
    if at_zero is not None:  # every other position of copy n holds g(0)
        others = ops.subtract(positions, ops.constant(dtype.type(1)))
        background = ops.multiply(ops.reshape(at_zero, i64(k), special_zero=False), others)
        per_position = ops.add(per_position, background)
    pooled = ops.divide(per_position, positions)
    rest = [d.get_length() for d in pool.get_output_partial_shape(0)[1:]]
    return ops.reshape(pooled, i64(-1, *rest), special_zero=False).output(0)


def _pooled_kernel_copies(
    model: ov.Model, located: Located, plan: tails.TailPlan, at_zero: ov.Output | None, kernel: Kernel
) -> ov.Output:
    """The pooled vector of every copy when copy n keeps F[:, m] weighted by w(n, m) (`kernels.copy_weights`).

    g(copy n) is g(w(n, m) * F[:, m]) at each kept m and g(0) elsewhere. With no per-pixel ops g is the
    identity and the pooled vector is (W @ F) / (H*W), W the [H*W, H*W] table. Otherwise g runs once on F
    scaled by each of the kernel's few weights (a second clone of g, on the maps stacked along the batch), and
    copy n sums, for each weight, the positions that carry it: (sum_l M_l @ g(l * F) + (H*W - kept_n) * g(0)).
    A kernel that keeps its cells whole needs no second clone: g(1 * F) is the original's g(F).
    """
    pool = plan.head
    assert pool is not None  # every pooled plan has its pooling op
    t = located.target
    h, w, hw = spatial_sizes(t)
    weights = copy_weights_in_graph(h, w, kernel)
    if not plan.chain or keeps_cells_whole(kernel):
        values, matrix = _per_position(pool.input_value(0), t), weights  # [B, HW, K], [HW, HW]
    else:
        levels = weight_levels(kernel)
        number = t.output.get_element_type().to_dtype().type
        scaled = TailClone(model, located)
        stacked = ops.concat([ops.multiply(t.output, ops.constant(number(v))) for v in levels], 0)
        scaled.feed_target(stacked.output(0))  # [L*B, ...]: g(l * F) for every weight l
        for op in plan.chain:
            scaled[op].validate_and_infer_types()
        mapped = _per_position(scaled[plan.chain[-1]].output(0), t)  # [L*B, HW, K]
        k = mapped.get_partial_shape()[2].get_length()
        by_level = ops.transpose(ops.reshape(mapped, i64(len(levels), -1, hw, k), False), i64(1, 0, 2, 3))
        values = ops.reshape(by_level, i64(-1, len(levels) * hw, k), False).output(0)  # [B, L*HW, K]
        picks = [ops.convert(ops.equal(weights, ops.constant(np.float32(v))), ov.Type.f32) for v in levels]
        matrix = ops.concat(picks, 1).output(0)  # [HW, L*HW]: M_l side by side
    dtype = values.get_element_type()
    summed = ops.matmul(_as_type(matrix, dtype), values, False, False)  # [B, HW, K]
    positions = as_scalar(hw, dtype.to_dtype())
    if at_zero is not None:
        k = values.get_partial_shape()[2].get_length()
        kept = ops.reduce_sum(ops.convert(ops.greater(weights, ops.constant(np.float32(0))), dtype), i64(1), True)
        background = ops.multiply(ops.subtract(positions, kept), ops.reshape(at_zero, i64(1, k), False))  # [HW, K]
        summed = ops.add(summed, background)
    pooled = ops.divide(summed, positions)
    rest = [d.get_length() for d in pool.get_output_partial_shape(0)[1:]]
    return ops.reshape(pooled, i64(-1, *rest), special_zero=False).output(0)


def _per_position(mapped: ov.Output, t: FeatureMap) -> ov.Output:
    """[N, K, H, W] or [N, H, W, K] -> [N, H*W, K]."""
    hw = spatial_sizes(t)[2]
    k = mapped.get_partial_shape()[1 if t.layout == Layout.NCHW else 3].get_length()
    if t.layout == Layout.NCHW:
        mapped = ops.transpose(mapped, i64(0, 2, 3, 1))
    return ops.reshape(mapped, pattern(0, hw, k), special_zero=True).output(0)


def _linear_copies(matmul: ov.Node, t: FeatureMap, kernel: Kernel = Kernel.ONEHOT) -> ov.Output:
    """Flatten + MatMul of every copy at the cost of one MatMul: [B*H*W, D].

    Copy n's flattened vector is zero but for F[:, n], so its product is F[:, n] times the K rows
    of W that position n meets. With positions as groups this is one GroupConvolution over 1x1
    maps: the device runs it as it runs the original FC (one pass over W, in the inference
    precision), where a batched MatMul over positions stayed in f32 at twice the original's time.
    W is regrouped in-graph, so the IR keeps one W; the device folds the regrouping at compile
    time and holds that second layout of W in memory. A copy keeping F[:, m] weighted by w(n, m) sums
    the positions' products with those weights: [H*W, H*W] @ [B, H*W, D].
    """
    hw, k = t.height * t.width, t.channels
    weights = matmul.input_value(1)
    d = matmul.get_output_partial_shape(0)[1].get_length()
    transpose_b = matmul.get_attributes()["transpose_b"]
    if t.layout == Layout.NCHW:  # flat index k*HW + n
        grouped = (
            ops.transpose(ops.reshape(weights, i64(d, k, hw), False), i64(2, 0, 1))
            if transpose_b
            else ops.transpose(ops.reshape(weights, i64(k, hw, d), False), i64(1, 2, 0))
        )
        vectors = ops.reshape(ops.transpose(t.output, i64(0, 2, 3, 1)), i64(0, hw, k), special_zero=True)
    else:  # flat index n*K + k
        grouped = (
            ops.transpose(ops.reshape(weights, i64(d, hw, k), False), i64(1, 0, 2))
            if transpose_b
            else ops.transpose(ops.reshape(weights, i64(hw, k, d), False), i64(0, 2, 1))
        )
        vectors = t.output
    kernels = ops.reshape(grouped, i64(hw, d, k, 1, 1), False)  # [groups, out, in, 1, 1]
    per_group = ops.reshape(vectors, i64(0, hw * k, 1, 1), special_zero=True)
    products = ops.group_convolution(per_group, kernels, [1, 1], [0, 0], [0, 0], [1, 1])  # [B, HW*D, 1, 1]
    if kernel is not Kernel.ONEHOT:
        weights = _as_type(copy_weights_in_graph(t.height, t.width, kernel), products.get_output_element_type(0))
        products = ops.matmul(weights, ops.reshape(products, i64(-1, hw, d), False), False, False)
    return ops.reshape(products, i64(-1, d), special_zero=False).output(0)


def _pointwise_as_matmul(clone: TailClone, after: ov.Node) -> None:
    """Turn the clone's 1x1 convolutions on 1x1 maps past `after` into MatMuls.

    Past the pooling the copies are [B*H*W, C, 1, 1]; the CPU plugin ran a head conv of that
    shape (timm MobileNetV3's conv_head) ~25x slower than the same product as a MatMul.
    """
    ids = [o.get_instance_id() for o in clone.order]
    following = clone.order[ids.index(after.get_instance_id()) + 1 :]
    for original in following:
        clone[original].validate_and_infer_types()
    for original in following:
        conv = clone[original]
        if conv.get_type_name() != "Convolution" or not _is_pointwise_on_pixel(conv):
            continue
        weights = conv.input_value(1)
        c_out, c_in = (d.get_length() for d in weights.get_partial_shape()[:2])
        vectors = ops.reshape(conv.input_value(0), i64(-1, c_in), special_zero=False)
        kernel = ops.reshape(weights, i64(c_out, c_in), special_zero=False)
        product = ops.matmul(vectors, kernel, False, True)
        clone.replace_uses(original, ops.reshape(product, i64(-1, c_out, 1, 1), special_zero=False).output(0))


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
