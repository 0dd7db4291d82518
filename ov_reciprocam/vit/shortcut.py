"""ViT-ReciproCAM for heads that read only the prefix tokens (CLS, distillation), in closed form.

The mosaic runs the last block on h*w copies of all T tokens. When the head reads only the P
prefix tokens, the rows of the other tokens are never needed after the attention, and the
attention of a prefix row needs no copy of the block either:

* a token kept with weight g (the mask) enters the attention as g * z + (1 - g) * 0, and the
  query, key and value projections are affine per token, so its key is k0 + g * (k - k0), where
  k is the plain model's key and k0 the key of a zero token (its value likewise). A prefix
  token keeps g = 1, so its query is the plain model's;
* the attention logits of prefix row r in copy n are then f(M0 + G[n] * (M - M0)), with M = q_r k^T,
  M0 = q_r k0^T and f the affine scale and bias between product and softmax; the row's output is
  sum_j a_j (v0_j + G[n, j] (v_j - v0_j)).

That is O(h*w * P * T * D) multiply-adds on top of the plain model, instead of a block per copy.
The rest of the block and the head (per token until they pick the prefix tokens, which
`flow.follow` checks) run on the h*w copies of the P prefix rows alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ..dataflow import Key, key_of
from ..graph import CopyScores, ScoreSource, _i64, _TailClone
from ..locating import Located
from ..tails import TailKind
from .attention import Attention, attention_of, input_free
from .flow import Rows, follow
from .locate import TokenLocated


@dataclass(frozen=True)
class _Plan:
    attention: Attention
    region: list[ov.Node]  # the ops after the attention that the scores are computed from, in order
    full: dict[Key, Rows]  # their token rows in the plain model
    compact: dict[Key, Rows]  # and when only the prefix rows are computed


def _plan(model: ov.Model, found: TokenLocated, scored: ov.Output) -> _Plan | None:
    """How the closed form computes `scored`, or None when the head reads more than prefix tokens."""
    attention = attention_of(found.block)
    if attention is None or found.prefix == 0 or not _scalar_steps(attention):
        return None
    region = _region(model, found.located, attention, scored)
    flows = _flows(region, found, attention, scored)
    return _Plan(attention, region, *flows) if flows else None


def prefix_scores(model: ov.Model, found: TokenLocated, source: ScoreSource, masks: ov.Output) -> CopyScores | None:
    """`source.tensor` [B*h*w, classes] for the masked copies, or None when the head reads more than prefix tokens.

    masks: [h*w, T], copy n's weight for every token.
    """
    plan = _plan(model, found, source.tensor)
    if plan is None:
        return None
    reshapes = [node for node in plan.region if node.get_type_name() == "Reshape"]
    patterns = {node: _compact_pattern(node, plan.compact[key_of(node.output(0))]) for node in reshapes}
    if any(p is None for p in patterns.values()):
        return None
    located, block = found.located, found.block
    copies = _prefix_attention(plan.attention, _zero_clone(model, found), masks, found.prefix)
    clone = _TailClone(model, located, copies=False)
    clone.feed_target(_prefix_copies(block.tokens, found.prefix, located.target.height * located.target.width))
    clone.replace_uses(plan.attention.output.get_node(), copies)
    for node, pattern in patterns.items():
        clone[node].input(1).replace_source_output(_i64(*pattern).output(0))
        clone[node].set_attribute("special_zero", False)
    return CopyScores(clone.value(source.tensor), TailKind.TOKENS_PREFIX)


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
    live, stack = set(), [scored.get_node()]
    while stack:
        node = stack.pop()
        i = node.get_instance_id()
        if i in live or i in stop or i not in located.tail:
            continue
        live.add(i)
        sources = node.input_values()[:1] if node.get_type_name() == "Reshape" else node.input_values()
        stack.extend(v.get_node() for v in sources)
    return [op for op in model.get_ordered_ops() if op.get_instance_id() in live]


def _flows(region: list[ov.Node], found: TokenLocated, attention: Attention, scored: ov.Output):
    """Token rows along the region with all rows computed and with the prefix rows alone, when the
    scores read the same tokens either way; else None."""
    t = found.block.tokens.get_partial_shape()[1].get_length()
    axis = attention.output.get_partial_shape().rank.get_length() - 2

    def run(tokens: tuple[int, ...]) -> dict | None:
        sources = {key_of(found.block.tokens): Rows(1, tokens), key_of(attention.output): Rows(axis, tokens)}
        return follow(region, sources)

    full, compact = run(tuple(range(t))), run(tuple(range(found.prefix)))
    if full is None or compact is None:
        return None
    read = full.get(key_of(scored))
    if read is None or read.axis is not None or read != compact.get(key_of(scored)):
        return None
    return full, compact


def row_shares(model: ov.Model, found: TokenLocated) -> dict[int, float] | None:
    """For each op the closed form runs per copy (by instance id), the share of the plain op's token rows
    it computes: P/T before the pooling, 1 after. None when the closed form does not apply."""
    plan = _plan(model, found, found.located.scores)
    if plan is None:
        return None
    shares = {}
    for node in plan.region:
        whole, kept = plan.full[key_of(node.output(0))], plan.compact[key_of(node.output(0))]
        shares[node.get_instance_id()] = 1.0 if whole.axis is None else len(kept.tokens) / len(whole.tokens)
    return shares


def _compact_pattern(reshape: ov.Node, rows: Rows) -> list[int] | None:
    """The Reshape's output shape with the copies in the batch and only the computed token rows."""
    shape = reshape.get_output_partial_shape(0)
    if any(d.is_dynamic for d in list(shape)[1:]):
        return None
    return [-1] + [
        len(rows.tokens) if a == rows.axis else shape[a].get_length() for a in range(1, shape.rank.get_length())
    ]


def _zero_clone(model: ov.Model, found: TokenLocated) -> _TailClone:
    """A clone of the tail fed an all-zero first-norm output: its keys and values are those of zero tokens."""
    norm = found.block.norm
    shape = norm.get_partial_shape()
    dims = [shape[0].get_length() if shape[0].is_static else 1] + [d.get_length() for d in shape[1:]]
    zeros = ops.constant(np.zeros(dims, norm.get_element_type().to_dtype()))
    clone = _TailClone(model, found.located, copies=False)
    clone.replace_uses(norm.get_node(), zeros.output(0))
    return clone


def _prefix_attention(attention: Attention, zero: _TailClone, masks: ov.Output, prefix: int) -> ov.Output:
    """The attention output of the prefix rows in every copy, laid out as `attention.output` with the
    copies in the batch: [B*h*w, ..., P, d]."""
    rows_axis = attention.query.get_partial_shape().rank.get_length() - 2
    query = ops.gather(attention.query, _i64(*range(prefix)), _i64(rows_axis))  # [B, ..., P, d]
    transpose_key = attention.product.get_attributes()["transpose_b"] if attention.product else True
    key, key0 = attention.key, zero.value(attention.key)
    product = ops.matmul(query, key, False, transpose_key)  # [B, ..., P, T]
    product0 = ops.matmul(query, key0, False, transpose_key)
    weights = masks  # [h*w, T]
    per_copy = ops.add(  # [B, ..., P, h*w, T]
        ops.unsqueeze(product0, _i64(-2)),
        ops.multiply(ops.unsqueeze(ops.subtract(product, product0), _i64(-2)), weights),
    )
    if attention.product is None:  # ScaledDotProductAttention: scale by its input, else 1/sqrt(d)
        d = attention.query.get_partial_shape()[-1].get_length()
        scale = (
            attention.node.input_value(4) if attention.node.get_input_size() > 4 else ops.constant(np.float32(d**-0.5))
        )
        logits = ops.multiply(per_copy, scale).output(0)
        transpose_value = False
    else:  # the model's own scale and bias steps, cloned onto the copies
        zero.replace_uses(attention.product, per_copy.output(0))
        logits = zero.value(attention.node.input_value(0))
        transpose_value = attention.mix.get_attributes()["transpose_b"]
    weights_of_keys = ops.softmax(logits, -1)
    value, value0 = attention.value, zero.value(attention.value)
    kept = ops.matmul(
        ops.multiply(weights_of_keys, weights),
        ops.unsqueeze(ops.subtract(value, value0), _i64(-3)),
        False,
        transpose_value,
    )
    rest = ops.matmul(weights_of_keys, ops.unsqueeze(value0, _i64(-3)), False, transpose_value)
    rows = ops.add(kept, rest)  # [B, ..., P, h*w, d]
    rank = rows.get_output_partial_shape(0).rank.get_length()
    order = [0, rank - 2, *range(1, rank - 2), rank - 1]  # the copies next to the batch
    inner = [d.get_length() for d in attention.output.get_partial_shape()[1:-2]]
    d = attention.output.get_partial_shape()[-1].get_length()
    return ops.reshape(ops.transpose(rows, _i64(*order)), _i64(-1, *inner, prefix, d), False).output(0)


def _prefix_copies(tokens: ov.Output, prefix: int, copies: int) -> ov.Output:
    """[B*h*w, P, D]: each image's prefix tokens, once per copy (their mask weight is 1)."""
    d = tokens.get_partial_shape()[2].get_length()
    kept = ops.unsqueeze(ops.gather(tokens, _i64(*range(prefix)), _i64(1)), _i64(1))  # [B, 1, P, D]
    return ops.reshape(ops.tile(kept, _i64(1, copies, 1, 1)), _i64(-1, prefix, d), False).output(0)
