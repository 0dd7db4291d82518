"""Follow the token axis from a block's attention to the class scores: which tokens the scores read.

A transformer's ops after attention are per token (projections, residual Adds, norms, MLPs) until
the pooling picks tokens (a Gather or Slice on the token axis) or averages them (a reduction over
it). `follow` tracks, for every tensor on the way, where its token axis is and which tokens lie
along it, or, once pooled, which tokens it was computed from. It gives up (None) on any op that
could mix tokens in another way, so a shortcut that relies on the answer is never wrong, only
sometimes not taken.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import openvino as ov

from ..dataflow import Key, key_of
from .attention import input_free

_ELEMENTWISE = frozenset(
    {
        "Abs", "Add", "Clamp", "Convert", "Cos", "Divide", "Elu", "Erf", "Exp", "FakeQuantize", "Floor", "Gelu",
        "HSigmoid", "HSwish", "Log", "Maximum", "Minimum", "Mish", "Multiply", "Negative", "Power", "PRelu", "Relu",
        "Round", "Sigmoid", "Sin", "SoftPlus", "Sqrt", "SquaredDifference", "Subtract", "Swish", "Tanh",
    }
)  # fmt: skip
_REDUCE = frozenset({"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2", "ReduceProd"})
# Ops whose result depends on shapes: tokens counted differently would change what they do.
_SHAPE_BOUND = frozenset({"ShapeOf", "Broadcast", "Tile", "Range", "Pad"})


@dataclass(frozen=True)
class Rows:
    axis: int | None  # where the tokens lie, or None once pooled
    tokens: tuple[int, ...]  # the tokens along that axis, or those the pooled tensor was computed from


class _GiveUp(Exception):
    pass


def follow(ops: Iterable[ov.Node], sources: dict[Key, Rows]) -> dict[Key, Rows] | None:
    """Rows of every tensor computed from `sources` by `ops` (in topological order); None if an op may mix tokens."""
    rows = dict(sources)
    try:
        for node in ops:
            inputs = [rows.get(key_of(v)) for v in node.input_values()]
            if any(r is not None for r in inputs):
                for i, r in enumerate(_step(node, inputs)):
                    rows[key_of(node.output(i))] = r
    except _GiveUp:
        return None
    return rows


def _step(node: ov.Node, inputs: list[Rows | None]) -> list[Rows]:
    kind = node.get_type_name()
    if kind == "Reshape":
        inputs = inputs[:1]  # the pattern is rewritten for the compacted tokens, never read
    elif any(r is None and not input_free(v) for r, v in zip(inputs, node.input_values(), strict=True)):
        raise _GiveUp  # a tensor from outside the tracked ops
    tracked = [r for r in inputs if r is not None]
    if all(r.axis is None for r in tracked):
        if kind in _SHAPE_BOUND or not tracked:
            raise _GiveUp
        pooled = Rows(None, tuple(sorted(set().union(*(r.tokens for r in tracked)))))
        return [pooled] * node.get_output_size()
    if kind in _ELEMENTWISE:
        return [_elementwise(node, inputs)]
    if len(tracked) != 1 or inputs[0] is None:
        raise _GiveUp
    rows, rank = inputs[0], node.get_input_partial_shape(0).rank.get_length()
    rule = _RULES.get(kind)
    if rule is None:
        raise _GiveUp
    return rule(node, rows, rank)


def _elementwise(node: ov.Node, inputs: list[Rows | None]) -> Rows:
    out_rank = node.get_output_partial_shape(0).rank.get_length()
    found: Rows | None = None
    for r, v in zip(inputs, node.input_values(), strict=True):
        rank = v.get_partial_shape().rank.get_length()
        if r is not None:
            if r.axis is None:
                raise _GiveUp
            aligned = Rows(r.axis + out_rank - rank, r.tokens)
            if found is not None and found != aligned:
                raise _GiveUp
            found = aligned
    for r, v in zip(inputs, node.input_values(), strict=True):
        if r is None:  # a constant operand must be the same for every token
            shape = v.get_partial_shape()
            at = found.axis - (out_rank - shape.rank.get_length())
            if at >= 0 and not (shape[at].is_static and shape[at].get_length() == 1):
                raise _GiveUp
    return found


def _constant(node: ov.Node, index: int) -> np.ndarray:
    source = node.input_value(index).get_node()
    if source.get_type_name() != "Constant":
        raise _GiveUp
    return np.asarray(source.get_data())


def _axes(node: ov.Node, index: int, rank: int) -> list[int]:
    return [int(a) % rank for a in _constant(node, index).reshape(-1)]


def _matmul(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    if node.get_attributes()["transpose_a"] or rows.axis >= rank - 1 or rank < 3:
        raise _GiveUp
    out_rank = node.get_output_partial_shape(0).rank.get_length()
    return [Rows(rows.axis + out_rank - rank, rows.tokens)]


def _normalize(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    if node.get_input_size() < 2 or rows.axis in _axes(node, 1, rank):
        raise _GiveUp
    return [rows]


def _reduce(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    axes = _axes(node, 1, rank)
    if rows.axis in axes:
        return [Rows(None, tuple(sorted(set(rows.tokens))))]
    keep = node.get_attributes()["keep_dims"]
    return [Rows(rows.axis - (0 if keep else sum(a < rows.axis for a in axes)), rows.tokens)]


def _transpose(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    order = [int(a) for a in _constant(node, 1).reshape(-1)]
    return [Rows(order.index(rows.axis), rows.tokens)]


def _squeeze(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    if node.get_input_size() < 2:
        raise _GiveUp
    axes = _axes(node, 1, rank)
    if rows.axis in axes:
        return [Rows(None, rows.tokens)]
    return [Rows(rows.axis - sum(a < rows.axis for a in axes), rows.tokens)]


def _unsqueeze(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    out_rank = node.get_output_partial_shape(0).rank.get_length()
    axis = rows.axis
    for a in sorted(_axes(node, 1, out_rank)):
        axis += a <= axis
    return [Rows(axis, rows.tokens)]


def _reshape(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    """Only reshapes that keep the batch first and the token axis whole, with the same dims before it."""
    before = node.get_input_partial_shape(0)
    after = node.get_output_partial_shape(0)
    if rows.axis == 0 or after.rank.is_dynamic or any(d.is_dynamic for d in list(before)[1:] + list(after)[1:]):
        raise _GiveUp
    inner = int(np.prod([d.get_length() for d in before[1 : rows.axis]]))
    size = before[rows.axis].get_length()
    for axis in range(1, after.rank.get_length()):
        if int(np.prod([d.get_length() for d in after[1:axis]])) == inner and after[axis].get_length() == size:
            return [Rows(axis, rows.tokens)]
    raise _GiveUp


def _gather(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    indices, axis = _constant(node, 1), int(_constant(node, 2).reshape(-1)[0]) % rank
    if node.get_attributes().get("batch_dims", 0) != 0 or indices.ndim > 1:
        raise _GiveUp
    if axis != rows.axis:
        return [Rows(rows.axis + (indices.ndim - 1 if axis < rows.axis else 0), rows.tokens)]
    picked = _pick(rows.tokens, lambda t: t[indices])
    return [Rows(None if indices.ndim == 0 else rows.axis, picked)]


def _slice(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    start, stop, step = (_constant(node, i).reshape(-1) for i in (1, 2, 3))
    axes = _axes(node, 4, rank) if node.get_input_size() > 4 else list(range(len(start)))
    if rows.axis not in axes:
        return [rows]
    i = axes.index(rows.axis)
    return [Rows(rows.axis, _pick(rows.tokens, lambda t: t[int(start[i]) : int(stop[i]) : int(step[i])]))]


def _strided_slice(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    attrs = node.get_attributes()
    if any(attrs[m] and any(attrs[m]) for m in ("new_axis_mask", "ellipsis_mask")):
        raise _GiveUp
    begin, end = (_constant(node, i).reshape(-1) for i in (1, 2))
    strides = _constant(node, 3).reshape(-1) if node.get_input_size() > 3 else np.ones_like(begin)
    a = rows.axis
    shrink = list(attrs["shrink_axis_mask"] or [])
    shrunk_before = sum(1 for i, s in enumerate(shrink[:a]) if s)
    if a >= len(begin):
        return [Rows(a - shrunk_before, rows.tokens)]
    masked = [list(attrs[m] or []) for m in ("begin_mask", "end_mask")]
    first = None if a < len(masked[0]) and masked[0][a] else int(begin[a])
    last = None if a < len(masked[1]) and masked[1][a] else int(end[a])
    if a < len(shrink) and shrink[a]:
        return [Rows(None, _pick(rows.tokens, lambda t: t[[first or 0]]))]
    return [Rows(a - shrunk_before, _pick(rows.tokens, lambda t: t[first : last : int(strides[a])]))]


def _split(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    if int(_constant(node, 1).reshape(-1)[0]) % rank == rows.axis:
        raise _GiveUp
    return [rows] * node.get_output_size()


def _pick(tokens: tuple[int, ...], how: Callable[[np.ndarray], np.ndarray]) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in np.atleast_1d(how(np.array(tokens))))
    except IndexError:
        raise _GiveUp from None


_RULES: dict[str, Callable[[ov.Node, Rows, int], list[Rows]]] = {
    "MatMul": _matmul,
    "MVN": _normalize,
    **dict.fromkeys(_REDUCE, _reduce),
    "Transpose": _transpose,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Reshape": _reshape,
    "Gather": _gather,
    "Slice": _slice,
    "StridedSlice": _strided_slice,
    "Split": _split,
    "VariadicSplit": _split,
}
