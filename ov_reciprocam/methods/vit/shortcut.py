"""ViT-ReciproCAM in closed form: the last block's attention per copy from the plain model's
queries, keys and values, then the rest of the model on the token rows the head needs.

The mosaic runs the last block on h*w copies of all T tokens. But a token kept with weight g (the
mask) enters the attention as g * z, and the query, key and value projections are affine per
token, so its key in copy n is k0 + g (k - k0), where k is the plain model's key and k0 the key of
a zero token (values and queries likewise). The attention logits of a row with query q in copy n
are then f(q k0^T + G[n] * (q (k - k0)^T)), with f the scalar scale and bias between product and
softmax, and its output sum_j a_j (v0_j + G[n, j] (v_j - v0_j)): O(T d) per row and head, no copy
of the block.

Which rows (`rows`): a head that reads only the P prefix tokens (CLS, distillation) needs their
rows alone, whose queries are the plain model's; a head that averages tokens needs P + K + 1 rows
per copy, the last one a zeroed token standing for all of them, and its average becomes a sum
weighted by how many tokens each row stands for. `flow.follow` checks that everything after the
attention is per token until that pooling; the rest of the block and the head then run on
[B*h*w, R, D].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ...analysis.dataflow import Key, key_of
from ...analysis.quantization import quantizes_activations
from ...vocabulary import Kernel, TailKind
from ..base import Located
from ..graph_ops import i64
from ..scoring import CopyScores, ScoreSource
from ..tail_clone import TailClone
from .attention import Attention, attention_of, input_free
from .flow import Rows, follow
from .locate import TokenLocated
from .rows import CopyRows, all_rows, prefix_rows

_POOLS = {"ReduceMean": True, "ReduceSum": False}  # whether the pooling divides by the token count


class TokenTail(TailKind):
    """How this family scores the masked token copies."""

    MOSAIC = "tokens"  # the rest of the model on every copy
    PREFIX = "tokens_prefix"  # a head that reads only prefix tokens: their attention in closed form
    MEAN = "tokens_mean"  # a head that averages tokens: the rows a copy needs, in closed form


@dataclass(frozen=True)
class _Plan:
    kind: TokenTail
    attention: Attention
    region: list[ov.Node]  # the ops after the attention that the scores are computed from, in order
    rows: CopyRows
    full: dict[Key, Rows]  # the region's tensors in the plain model
    flow: dict[Key, Rows]  # and in the closed form (the prefix rows alone, for prefix heads)
    pool: ov.Node | None = None  # the averaging op (mean heads)
    picks: tuple[ov.Node, ...] = ()  # Gathers and Slices of the averaged tokens (mean heads), bypassed

    def width(self, tensor: ov.Output) -> int:
        """Token rows per copy along `tensor`'s token axis in the closed form."""
        if self.kind is TokenTail.PREFIX:
            return len(self.flow[key_of(tensor)].tokens)
        return self.rows.index.shape[1]  # mean heads: the pooling weighs every row


def _plan(model: ov.Model, found: TokenLocated, scored: ov.Output, kernel: Kernel) -> _Plan | None:
    """How the closed form computes `scored`, or None when it does not apply (the mosaic runs)."""
    if quantizes_activations(model, found.located.tail):
        return None
    attention = attention_of(found.block)
    if attention is None or not _scalar_steps(attention):
        return None
    region = _region(model, found.located, attention, scored)
    t = found.located.target
    tokens = t.output.get_partial_shape()[1].get_length()
    full = _follow(region, found, attention, tuple(range(tokens)))
    if full is None or (read := full.get(key_of(scored))) is None or read.axis is not None:
        return None
    compact = _follow(region, found, attention, tuple(range(found.prefix))) if found.prefix else None
    if compact is not None and compact.get(key_of(scored)) == read:
        rows = prefix_rows(t.height * t.width, found.prefix)
        return _Plan(TokenTail.PREFIX, attention, region, rows, full, compact)
    pools = [
        node
        for node in region
        if full[key_of(node.output(0))].axis is None
        and any((r := full.get(key_of(v))) is not None and r.axis is not None for v in node.input_values())
    ]
    if len(pools) != 1 or pools[0].get_type_name() not in _POOLS or not _same_zero_queries(model, found, attention):
        return None
    pool = pools[0]
    pooled = full[key_of(pool.input_value(0))]
    if (pooled.axis, pooled.batch) != (1, 0) or pool.get_input_partial_shape(0).rank.get_length() != 3:
        return None
    if len(set(pooled.tokens)) != len(pooled.tokens):  # a token counted twice: not a plain average
        return None
    picks = tuple(
        node
        for node in region
        if node.get_type_name() in ("Gather", "Slice", "StridedSlice")
        and full[key_of(node.output(0))].axis is not None
        and full[key_of(node.output(0))].tokens != full[key_of(node.input_value(0))].tokens
    )
    rows = all_rows(t.height, t.width, found.prefix, kernel, frozenset(pooled.tokens))
    return _Plan(TokenTail.MEAN, attention, region, rows, full, full, pool, picks)


def closed_form_scores(
    model: ov.Model, found: TokenLocated, source: ScoreSource, masks: ov.Output, kernel: Kernel
) -> CopyScores | None:
    """`source.tensor` [B*h*w, classes] for the masked copies, or None when the closed form does not apply.

    masks: [h*w, T], copy n's weight for every token.
    """
    plan = _plan(model, found, source.tensor, kernel)
    if plan is None:
        return None
    reshapes = [node.output(0) for node in plan.region if node.get_type_name() == "Reshape"]
    compacted = {out.get_node(): _compact_pattern(out, plan.flow[key_of(out)], plan.width(out)) for out in reshapes}
    patterns = {node: pattern for node, pattern in compacted.items() if pattern is not None}
    if len(patterns) != len(compacted):
        return None
    try:
        located = found.located
        attended = _row_attention(plan.attention, _zero_clone(model, found), masks, plan.rows)
        clone = TailClone(model, located, copies=False)
        clone.feed_target(_row_tokens(found.block.tokens, plan.rows))
        clone.replace_uses(plan.attention.output.get_node(), attended)
        for node, pattern in patterns.items():
            clone[node].input(1).replace_source_output(i64(*pattern).output(0))
            clone[node].set_attribute("special_zero", False)
        for pick in plan.picks:  # every row stays: the weights of the pooling pick what counts
            clone.replace_uses(pick, clone[pick].input_value(0))
        if plan.pool is not None:
            rows = clone.settled(clone[plan.pool].input_value(0))
            mean, keep = _POOLS[plan.pool.get_type_name()], plan.pool.get_attributes()["keep_dims"]
            clone.replace_uses(plan.pool, _weighted_pool(rows, plan.rows, mean, keep))
        return CopyScores(clone.value(source.tensor), plan.kind)
    except RuntimeError:  # shape inference refused the rows' layout: a reshape the flow misread; the mosaic runs
        return None


def closed_form_cost(model: ov.Model, found: TokenLocated, kernel: Kernel) -> tuple[dict[int, float], int] | None:
    """Per copy: the share of each op's token rows the closed form computes (by instance id; 1 once
    pooled), and the attention's multiply-adds. None when the closed form does not apply."""
    plan = _plan(model, found, found.located.scores, kernel)
    if plan is None:
        return None
    shares = {}
    for node in plan.region:
        whole = plan.full[key_of(node.output(0))]
        shares[node.get_instance_id()] = 1.0 if whole.axis is None else plan.width(node.output(0)) / len(whole.tokens)
    tokens = found.located.target.output.get_partial_shape()[1].get_length()
    products = 2 if plan.rows.shared else 4  # queries shared by all copies meet the keys once
    return shares, products * plan.rows.index.shape[1] * tokens * found.located.target.channels


def _scalar_steps(attention: Attention) -> bool:
    """The scale and bias between product and softmax are one number each (no per-position bias)."""
    if attention.product is None:
        return attention.node.get_input_size() <= 3 or _is_none_mask(attention.node.input_value(3))
    node = attention.node.input_value(0).get_node()
    while node.get_instance_id() != attention.product.get_instance_id():
        for value in node.input_values():
            if input_free(value) and any(d != 1 for d in value.get_partial_shape().to_shape()):
                return False
        node = next(v for v in node.input_values() if not input_free(v)).get_node()
    return True


def _is_none_mask(mask: ov.Output) -> bool:
    node = mask.get_node()
    return node.get_type_name() == "Constant" and not np.any(node.get_data())


def _region(model: ov.Model, located: Located, attention: Attention, scored: ov.Output) -> list[ov.Node]:
    """The tail ops the scores are computed from after the attention (Reshape patterns aside), in order."""
    stop = {attention.output.get_node().get_instance_id(), located.target.output.get_node().get_instance_id()}
    return _ops_behind(model, scored, lambda n: n.get_instance_id() in stop or n.get_instance_id() not in located.tail)


def _ops_behind(model: ov.Model, end: ov.Output, outside: Callable[[ov.Node], bool]) -> list[ov.Node]:
    """The ops `end` is computed from, in model order, walking back from it until `outside` says so.

    A Reshape's pattern is not followed: the closed form rewrites it.
    """
    found, stack = set(), [end.get_node()]
    while stack:
        node = stack.pop()
        if node.get_instance_id() in found or outside(node):
            continue
        found.add(node.get_instance_id())
        sources = node.input_values()[:1] if node.get_type_name() == "Reshape" else node.input_values()
        stack.extend(v.get_node() for v in sources)
    return [op for op in model.get_ordered_ops() if op.get_instance_id() in found]


def _zero_clone(model: ov.Model, found: TokenLocated) -> TailClone:
    """A clone of the tail fed an all-zero first-norm output: its keys and values are those of zero tokens."""
    norm = found.block.norm
    shape = norm.get_partial_shape()
    dims = [shape[0].get_length() if shape[0].is_static else 1] + [d.get_length() for d in shape[1:]]
    # A broadcast scalar: no [1, T, D] block of zeros in the IR; the device folds it at compile time.
    zeros = ops.broadcast(ops.constant(np.zeros((), norm.get_element_type().to_dtype())), i64(*dims))
    clone = TailClone(model, found.located, copies=False)
    clone.replace_uses(norm.get_node(), zeros.output(0))
    return clone


def _follow(
    region: list[ov.Node], found: TokenLocated, attention: Attention, tokens: tuple[int, ...]
) -> dict[Key, Rows] | None:
    axis = attention.output.get_partial_shape().rank.get_length() - 2
    sources = {key_of(found.block.tokens): Rows(1, tokens), key_of(attention.output): Rows(axis, tokens)}
    return follow(region, sources)


def _same_zero_queries(model: ov.Model, found: TokenLocated, attention: Attention) -> bool:
    """Whether every zeroed token gets the same query: no per-position term between norm and queries."""
    norm = found.block.norm.get_node().get_instance_id()
    ordered = _ops_behind(model, attention.query, lambda n: n.get_instance_id() == norm or input_free(n.output(0)))
    tokens = found.located.target.output.get_partial_shape()[1].get_length()
    return follow(ordered, {key_of(found.block.norm): Rows(1, tuple(range(tokens)))}) is not None


def _compact_pattern(reshaped: ov.Output, rows: Rows, width: int) -> list[int] | None:
    """The Reshape's output shape with the copies among the images (-1) and `width` token rows."""
    shape = reshaped.get_partial_shape()
    pattern = []
    for a in range(shape.rank.get_length()):
        if a == rows.batch or (rows.merged and a == rows.axis):
            pattern.append(-1)
        elif a == rows.axis:
            pattern.append(width)
        elif shape[a].is_static:
            pattern.append(shape[a].get_length())
        else:
            return None
    return pattern


def _gather_rows(tensor: ov.Output, rows: CopyRows, axis: int) -> ov.Output:
    """`tensor` with its token axis replaced by the copies' rows, [..., h*w, R, ...]."""
    copies, width = rows.index.shape
    picked = ops.gather(tensor, ops.constant(rows.index.reshape(-1)), i64(axis))
    shape = tensor.get_partial_shape()
    dims = [0] + [d.get_length() for d in shape[1:axis]] + [copies, width] + [d.get_length() for d in shape[axis + 1 :]]
    return ops.reshape(picked, i64(*dims), special_zero=True).output(0)


def _row_attention(attention: Attention, zero: TailClone, masks: ov.Output, rows: CopyRows) -> ov.Output:
    """The attention output of every copy's rows, laid out as `attention.output` with the copies in the
    batch and R token rows: [B*h*w, ..., R, d].

    Products run on the rows of all copies at once ([..., h*w*R, T]): one large MatMul each, where a
    batch of h*w small ones ran slower on the CPU plugin.
    """
    rank = attention.query.get_partial_shape().rank.get_length()
    copies, width = rows.index.shape
    inner = [d.get_length() for d in attention.output.get_partial_shape()[1:-2]]
    tokens = attention.query.get_partial_shape()[-2].get_length()
    d = attention.output.get_partial_shape()[-1].get_length()
    if rows.shared:  # [B, ..., R, d]: the plain model's queries, for every copy
        query = ops.gather(attention.query, ops.constant(rows.index[0]), i64(rank - 2)).output(0)
    else:  # [B, ..., h*w*R, d]: q0 + g (q - q0) per row
        index = ops.constant(rows.index.reshape(-1))
        query = ops.gather(attention.query, index, i64(rank - 2))
        query0 = ops.gather(zero.value(attention.query), index, i64(rank - 2))
        weight = ops.constant(rows.weight.reshape(-1, 1))
        query = ops.add(query0, ops.multiply(weight, ops.subtract(query, query0))).output(0)

    def per_copy(product: ov.Node) -> ov.Node:  # [B, ..., h*w, R, T]
        if rows.shared:
            return ops.unsqueeze(product, i64(rank - 2))
        return ops.reshape(product, i64(0, *inner, copies, width, tokens), special_zero=True)

    keys = ops.reshape(masks, i64(copies, 1, tokens), special_zero=False)  # [h*w, 1, T]
    transpose_key = attention.product.get_attributes()["transpose_b"] if attention.product else True
    key, key0 = attention.key, zero.value(attention.key)
    product = ops.add(
        per_copy(ops.matmul(query, key0, False, transpose_key)),
        ops.multiply(keys, per_copy(ops.matmul(query, ops.subtract(key, key0), False, transpose_key))),
    )
    if attention.product is None:  # ScaledDotProductAttention: scale by its input, else 1/sqrt(d)
        has_scale = attention.node.get_input_size() > 4
        scale = attention.node.input_value(4) if has_scale else ops.constant(np.float32(d**-0.5)).output(0)
        logits = ops.multiply(product, scale).output(0)
        transpose_value = False
    else:  # the model's own scale and bias steps, cloned onto the copies
        assert attention.mix is not None  # the explicit form has both MatMuls
        zero.replace_uses(attention.product, product.output(0))
        logits = zero.value(attention.node.input_value(0))
        transpose_value = attention.mix.get_attributes()["transpose_b"]
    weights = ops.softmax(logits, -1)  # [B, ..., h*w, R, T]

    def flat(x: ov.Node) -> ov.Node:  # [B, ..., h*w*R, T]
        return ops.reshape(x, i64(0, *inner, copies * width, tokens), special_zero=True)

    value, value0 = attention.value, zero.value(attention.value)
    out = ops.add(  # [B, ..., h*w*R, d]
        ops.matmul(flat(weights), value0, False, transpose_value),
        ops.matmul(flat(ops.multiply(weights, keys)), ops.subtract(value, value0), False, transpose_value),
    )
    out = ops.reshape(out, i64(0, *inner, copies, width, d), special_zero=True)
    order = [0, rank - 2, *range(1, rank - 2), rank - 1, rank]  # the copies next to the batch
    return ops.reshape(ops.transpose(out, i64(*order)), i64(-1, *inner, width, d), False).output(0)


def _row_tokens(tokens: ov.Output, rows: CopyRows) -> ov.Output:
    """[B*h*w, R, D]: the residual stream of every copy's rows, each token times its mask weight."""
    copies, width = rows.index.shape
    picked = _gather_rows(tokens, rows, 1)  # [B, h*w, R, D]
    if not rows.shared:
        picked = ops.multiply(picked, ops.constant(rows.weight.reshape(copies, width, 1)))
    d = tokens.get_partial_shape()[2].get_length()
    return ops.reshape(picked, i64(-1, width, d), special_zero=False).output(0)


def _weighted_pool(source: ov.Output, rows: CopyRows, mean: bool, keep: bool) -> ov.Output:
    """The pooling of `source` [B*h*w, R, D] over tokens, as a sum over each copy's rows weighted by how many
    averaged tokens each stands for."""
    pooled = rows.pooled
    assert pooled is not None  # the rows of a pooling head say what each stands for
    copies, width = rows.index.shape
    d = source.get_partial_shape()[2].get_length()
    weights = pooled / pooled.sum(axis=1, keepdims=True) if mean else pooled
    per_copy = ops.reshape(source, i64(-1, copies, width, d), special_zero=False)
    summed = ops.reduce_sum(
        ops.multiply(per_copy, ops.constant(weights.reshape(copies, width, 1).astype(np.float32))), i64(2), False
    )
    return ops.reshape(summed, i64(-1, 1, d) if keep else i64(-1, d), special_zero=False).output(0)
