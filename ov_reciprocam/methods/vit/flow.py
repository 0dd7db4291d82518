"""Follow the token axis from a block's attention to the class scores: which tokens the scores read.

A transformer's ops after attention are per token (projections, residual Adds, norms, MLPs) until
the pooling picks tokens (a Gather or Slice on the token axis) or averages them (a reduction over
it). `follow` tracks, for every tensor on the way, where its token axis is and which tokens lie
along it, or, once pooled, which tokens it was computed from. It gives up (None) on any op that
could mix tokens in another way, so a shortcut that relies on the answer is never wrong, only
sometimes not taken.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import openvino as ov

from ...analysis.dataflow import Key, key_of
from ...analysis.ops import REDUCE_OPS, constant_value
from .attention import input_free

_ELEMENTWISE = frozenset(
    {
        "Abs", "Add", "Clamp", "Convert", "Cos", "Divide", "Elu", "Erf", "Exp", "FakeQuantize", "Floor", "Gelu",
        "HSigmoid", "HSwish", "Log", "Maximum", "Minimum", "Mish", "Multiply", "Negative", "Power", "PRelu", "Relu",
        "Round", "Sigmoid", "Sin", "SoftPlus", "Sqrt", "SquaredDifference", "Subtract", "Swish", "Tanh",
    }
)  # fmt: skip
# Ops whose result depends on shapes: tokens counted differently would change what they do.
_SHAPE_BOUND = frozenset({"ShapeOf", "Broadcast", "Tile", "Range", "Pad"})


@dataclass(frozen=True)
class Rows:
    axis: int | None  # where the tokens lie, or None once pooled
    tokens: tuple[int, ...]  # the tokens along that axis, or those the pooled tensor was computed from
    # Where the images (hence the copies) lie; None when merged with the tokens into one axis, whose
    # major part `merged` names ("tokens": torch's MultiheadAttention flattens [T, B, D] to [T*B, D]).
    batch: int | None = 0
    merged: str | None = None
    span: int = 0  # a merged axis: the token count its shape holds (the model's, whichever rows are followed)

    def moved(self, where: Callable[[int], int]) -> Rows:
        """The same rows with the axes renumbered by `where`."""
        axis = None if self.axis is None else where(self.axis)
        batch = None if self.batch is None else where(self.batch)
        return Rows(axis, self.tokens, batch, self.merged, self.span)

    def pooled(self, tokens: tuple[int, ...]) -> Rows:
        if self.merged:
            raise _GiveUp
        return Rows(None, tuple(sorted(set(tokens))), self.batch)


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
    if kind in _ELEMENTWISE:
        return [_elementwise(node, inputs)]
    if len(tracked) != 1 or inputs[0] is None:
        raise _GiveUp
    rows, rank = inputs[0], node.get_input_partial_shape(0).rank.get_length()
    rule = _RULES.get(kind)
    if rule is not None:
        return rule(node, rows, rank)
    if rows.axis is None and kind not in _SHAPE_BOUND and node.get_output_partial_shape(0).rank == rank:
        return [rows] * node.get_output_size()  # past the pooling, ops that keep the rank keep the images' axis
    raise _GiveUp


def _elementwise(node: ov.Node, inputs: list[Rows | None]) -> Rows:
    out_rank = node.get_output_partial_shape(0).rank.get_length()
    found: Rows | None = None
    for r, v in zip(inputs, node.input_values(), strict=True):
        if r is not None:
            shift = out_rank - v.get_partial_shape().rank.get_length()
            aligned = r.moved(_shifting(shift))
            if found is not None and found.axis is None and aligned.axis is None and found.batch == aligned.batch:
                aligned = aligned.pooled(found.tokens + aligned.tokens)  # two heads' outputs combined (DeiT)
            elif found is not None and found != aligned:
                raise _GiveUp
            found = aligned
    assert found is not None  # `follow` steps only through ops with a tracked input
    if found.axis is not None:
        for r, v in zip(inputs, node.input_values(), strict=True):
            if r is None:  # a constant operand must be the same for every token
                shape = v.get_partial_shape()
                at = found.axis - (out_rank - shape.rank.get_length())
                if at >= 0 and not (shape[at].is_static and shape[at].get_length() == 1):
                    raise _GiveUp
    return found


def _constant(node: ov.Node, index: int) -> np.ndarray:
    value = constant_value(node.input_value(index))
    if value is None:
        raise _GiveUp
    return value


def _axes(node: ov.Node, index: int, rank: int) -> list[int]:
    return [int(a) % rank for a in _constant(node, index).reshape(-1)]


def _kept(rows: Rows) -> set[int]:
    """The axes an op must leave whole: tokens and images."""
    return {a for a in (rows.axis, rows.batch) if a is not None}


def _removing(axes: list[int]) -> Callable[[int], int]:
    return lambda a: a - sum(r < a for r in axes)


def _shifting(by: int) -> Callable[[int], int]:
    return lambda a: a + by


def _matmul(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    if node.get_attributes()["transpose_a"] or max(_kept(rows)) >= rank - 1:
        raise _GiveUp
    shift = node.get_output_partial_shape(0).rank.get_length() - rank
    return [rows.moved(_shifting(shift))]


def _normalize(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    if node.get_input_size() < 2 or _kept(rows) & set(_axes(node, 1, rank)):
        raise _GiveUp
    return [rows]


def _reduce(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    axes = _axes(node, 1, rank)
    if rows.batch in axes:
        raise _GiveUp
    out = rows.pooled(rows.tokens) if rows.axis in axes else rows
    return [out if node.get_attributes()["keep_dims"] else out.moved(_removing(axes))]


def _transpose(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    order = [int(a) for a in _constant(node, 1).reshape(-1)]
    return [rows.moved(order.index)]


def _squeeze(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    if node.get_input_size() < 2:
        raise _GiveUp
    axes = _axes(node, 1, rank)
    if rows.batch in axes:
        raise _GiveUp
    out = rows.pooled(rows.tokens) if rows.axis in axes else rows
    return [out.moved(_removing(axes))]


def _unsqueeze(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    out_rank = node.get_output_partial_shape(0).rank.get_length()
    inserted = sorted(_axes(node, 1, out_rank))

    def where(a: int) -> int:
        for i in inserted:
            a += i <= a
        return a

    return [rows.moved(where)]


def _reshape(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    """Reshapes that split or merge other axes, and merge or split tokens with images (never with others).

    The input's axes become factors, in order: ("T", size) for the tokens, ("B", size or None) for
    the images, ("S", size) for any other (a merged token-image axis is its two factors). Each
    output axis takes the next factors whose sizes multiply to its own; the dynamic one (the
    images) takes factors through "B" and as many more as the remaining sizes need.
    """
    before, after = node.get_input_partial_shape(0), node.get_output_partial_shape(0)
    if after.rank.is_dynamic:
        raise _GiveUp
    factors: list[tuple[str, int | None]] = []
    for a in range(rank):
        size = before[a].get_length() if before[a].is_static else None
        if a == rows.axis and rows.merged:
            pair = [("T", rows.span), ("B", None if size is None else size // rows.span)]
            factors += pair if rows.merged == "tokens" else pair[::-1]
        elif a == rows.axis:
            factors.append(("T", size))
        elif a == rows.batch:
            factors.append(("B", size))
        elif size is None:
            raise _GiveUp
        else:
            factors.append(("S", size))
    sizes = [d.get_length() if d.is_static else None for d in after]
    if sum(s is None for s in sizes) > 1:
        raise _GiveUp
    groups = [_group(factors, size, sizes[j + 1 :]) for j, size in enumerate(sizes)]
    if any(factor != ("S", 1) for factor in factors):
        raise _GiveUp
    axis = batch = merged = None
    span = 0
    for j, group in enumerate(groups):
        labels = [label for label, size in group if not (label == "S" and size == 1)]
        if labels in (["T", "B"], ["B", "T"]):
            axis, merged = j, "tokens" if labels[0] == "T" else "batch"
            tokens = next(size for label, size in group if label == "T")
            if tokens is None:
                raise _GiveUp  # a dynamic token count, which no later reshape could split off the images again
            span = tokens
        elif labels == ["T"]:
            axis = j
        elif labels == ["B"]:
            batch = j
        elif "T" in labels or "B" in labels:
            raise _GiveUp
    if (rows.axis is None) != (axis is None) or (batch is None and merged is None):
        raise _GiveUp
    return [Rows(axis, rows.tokens, batch, merged, span)]


def _group(
    factors: list[tuple[str, int | None]], size: int | None, rest: list[int | None]
) -> list[tuple[str, int | None]]:
    """Take from the front of `factors` those that make one output axis of `size` (None: the images' axis,
    followed by axes of sizes `rest`), splitting a plain axis when the output takes part of it."""
    group: list[tuple[str, int | None]] = []
    if size is None:
        while not any(label == "B" for label, _ in group):
            if not factors:
                raise _GiveUp
            group.append(factors.pop(0))
        while factors and _elements([f[1] for f in factors]) != _elements(rest):
            group.append(factors.pop(0))
        return group
    if size == 1 and factors and factors[0] in (("B", 1), ("T", 1)):
        return [factors.pop(0)]  # a single image or token keeps its own axis
    product = 1
    while product != size:
        if not factors or product > size:
            raise _GiveUp
        label, part = factors[0]
        if part is None:
            raise _GiveUp
        wanted = size // product
        if label == "S" and part > wanted and size % product == 0 and part % wanted == 0:
            factors[0] = ("S", part // wanted)  # the output takes the first `wanted` of this axis
            group.append(("S", wanted))
            product = size
        else:
            group.append(factors.pop(0))
            product *= part
    if group and factors and factors[0] == ("B", 1) and (not rest or rest[0] != 1):
        group.append(factors.pop(0))  # a static single image goes with the axis before it, unless one is kept for it
    return group


def _elements(sizes: list[int | None]) -> int:
    """The elements of axes of `sizes`; a dynamic one matches no static size."""
    known = [n for n in sizes if n is not None]
    if len(known) != len(sizes):
        raise _GiveUp
    return math.prod(known)


def _gather(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    indices, axis = _constant(node, 1), int(_constant(node, 2).reshape(-1)[0]) % rank
    if node.get_attributes().get("batch_dims", 0) != 0 or indices.ndim > 1 or axis == rows.batch:
        raise _GiveUp
    if axis != rows.axis:
        return [rows.moved(lambda a: a + (indices.ndim - 1 if a > axis else 0))]
    if rows.merged:
        raise _GiveUp
    picked = Rows(rows.axis, _pick(rows.tokens, lambda t: t[indices]), rows.batch)
    return [picked if indices.ndim else picked.pooled(picked.tokens).moved(_removing([axis]))]


def _slice(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    start, stop, step = (_constant(node, i).reshape(-1) for i in (1, 2, 3))
    axes = _axes(node, 4, rank) if node.get_input_size() > 4 else list(range(len(start)))
    if rows.batch in axes or (rows.merged and rows.axis in axes):
        raise _GiveUp
    if rows.axis not in axes:
        return [rows]
    i = axes.index(rows.axis)
    tokens = _pick(rows.tokens, lambda t: t[int(start[i]) : int(stop[i]) : int(step[i])])
    return [Rows(rows.axis, tokens, rows.batch)]


def _strided_slice(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    """Only slices of the token axis, or a pick of one token (shrink) when it is the only axis shrunk."""
    attrs = node.get_attributes()
    if any(attrs[m] and any(attrs[m]) for m in ("new_axis_mask", "ellipsis_mask")) or rows.merged:
        raise _GiveUp
    begin, end = (_constant(node, i).reshape(-1) for i in (1, 2))
    strides = _constant(node, 3).reshape(-1) if node.get_input_size() > 3 else np.ones_like(begin)
    masks = {m: list(attrs[m] or []) for m in ("begin_mask", "end_mask", "shrink_axis_mask")}
    shrunk = [i for i, s in enumerate(masks["shrink_axis_mask"]) if s]
    a = rows.axis
    if any(i != a for i in shrunk) or a is None or a >= len(begin):
        if shrunk or rows.batch is not None and rows.batch < len(begin) and not _whole(begin, end, masks, rows.batch):
            raise _GiveUp
        return [rows]
    if rows.batch is not None and rows.batch < len(begin) and not _whole(begin, end, masks, rows.batch):
        raise _GiveUp
    first = None if _flag(masks["begin_mask"], a) else int(begin[a])
    last = None if _flag(masks["end_mask"], a) else int(end[a])
    if shrunk:
        picked = Rows(a, _pick(rows.tokens, lambda t: t[[first or 0]]), rows.batch)
        return [picked.pooled(picked.tokens).moved(_removing([a]))]
    return [Rows(a, _pick(rows.tokens, lambda t: t[first : last : int(strides[a])]), rows.batch)]


def _flag(mask: list[int], axis: int) -> bool:
    return axis < len(mask) and bool(mask[axis])


def _whole(begin: np.ndarray, end: np.ndarray, masks: dict[str, list[int]], axis: int) -> bool:
    """Whether a StridedSlice keeps all of `axis`."""
    starts = _flag(masks["begin_mask"], axis) or int(begin[axis]) == 0
    return starts and (_flag(masks["end_mask"], axis) or int(end[axis]) >= np.iinfo(np.int32).max)


def _split(node: ov.Node, rows: Rows, rank: int) -> list[Rows]:
    if int(_constant(node, 1).reshape(-1)[0]) % rank in _kept(rows):
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
    **dict.fromkeys(REDUCE_OPS, _reduce),
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
