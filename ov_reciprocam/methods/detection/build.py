"""The detector's branch: masked copies of every cut tensor, the neck and heads cloned to run on them, the detections
selected from the original outputs, and each detection's map from its anchor's score on every copy.

Copy n of photo b keeps, in each cut tensor, the cells whose region matches copy cell n (`kept_cells`) and zeroes
the rest; the copies run as one batch of B * copies through the clone, whose Reshapes are made to follow that
batch. The original outputs are left as they were: the clone reads the original only at the cut.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ...analysis.dataflow import key_of
from ...errors import ReciproCamError
from ...vocabulary import Layout, ScoreKind
from ..base import FeatureMap, Located
from ..graph_ops import i64, pattern
from ..saliency import SALIENCY, min_max
from ..tail_clone import TailClone
from . import decode
from .locate import FoundDetector
from .select import select

DETECTIONS = "detections"
SHORT_SOFTMAX = 8  # a softmax over at most this many values a row runs faster over columns (`_softmax_axis_first`)


def kept_cells(grid: tuple[int, int], copies: tuple[int, int]) -> np.ndarray:
    """[copies h*w, grid h, grid w]: 1 where copy n keeps a cell of a tensor of `grid`.

    Along each axis, of a cell of the tensor and a cell of the copy grid, the finer one's centre must lie in the
    coarser one's span (equal grids: the same cell). In integers, for fine index p of f cells and coarse index i
    of c cells: i * f <= (p + 0.5) * c < (i + 1) * f.
    """

    def axis(cells: int, copy_cells: int) -> np.ndarray:  # [copy_cells, cells]
        fine, coarse = max(cells, copy_cells), min(cells, copy_cells)
        i, p = np.arange(coarse)[:, None], np.arange(fine)[None]
        inside = (2 * i * fine <= (2 * p + 1) * coarse) & ((2 * p + 1) * coarse < 2 * (i + 1) * fine)
        return inside if copy_cells == coarse else inside.T

    rows, cols = axis(grid[0], copies[0]), axis(grid[1], copies[1])
    kept = rows[:, None, :, None] & cols[None, :, None, :]
    return kept.reshape(copies[0] * copies[1], grid[0], grid[1]).astype(np.float32)


def branch(model: ov.Model, found: FoundDetector) -> dict[str, ov.Output]:
    """{"detections": [B, K, 6], "saliency_map": [B, K, h, w]} for `model`'s detector."""
    head, outputs = found.head, [r.input_value(0) for r in model.get_results()]
    scored = decode.scored(head, outputs)
    chosen = select(
        decode.boxes(head, decode.anchor_rows(head, outputs[head.boxes_index]), found.levels),
        decode.anchor_scores(head, decode.anchor_rows(head, scored)),
        found.detections,
        found.score_threshold,
        found.iou_threshold,
    )
    clone = _clone_on_copies(model, found)
    copies_rows = decode.anchor_rows(head, clone[scored.get_node()].output(scored.get_index()))
    raw = _copy_scores(found, copies_rows, chosen.anchors, chosen.classes)  # [B, K, copies]
    raw = ops.multiply(raw, ops.unsqueeze(chosen.valid, i64(-1)))  # padding: a flat map, which becomes 0
    h, w = found.copy_grid
    maps = ops.reshape(
        min_max(raw.output(0), 2, scale_axes=(2,)), pattern(-1, found.detections, h, w), special_zero=False
    )
    return {DETECTIONS: chosen.detections, SALIENCY: maps.output(0)}


def _masked(tensor: ov.Output, copies: tuple[int, int]) -> ov.Output:
    """[B * copies, C, h', w']: copy (b, n) of the tensor keeps the cells `kept_cells` gives copy n."""
    shape = tensor.get_partial_shape()
    c, h, w = (d.get_length() for d in shape[1:])
    mask = kept_cells((h, w), copies).astype(tensor.get_element_type().to_dtype())
    if shape[0].is_static and shape[0].get_length() == 1:
        # One photo: [copies, 1, h, w] x [1, C, h, w] is the copies' batch already. No 5D product and Reshape
        # before the convolutions, whose layout changes cost the CPU plugin more than the product (Ultra-Light's
        # branch, f32: 134 -> 86 ms).
        return ops.multiply(tensor, ops.constant(mask.reshape(-1, 1, h, w))).output(0)
    masked = ops.multiply(ops.unsqueeze(tensor, i64(1)), ops.constant(mask.reshape(1, -1, 1, h, w)))
    return ops.reshape(masked, i64(-1, c, h, w), special_zero=False).output(0)


def _clone_on_copies(model: ov.Model, found: FoundDetector) -> TailClone:
    """A clone of the neck and heads fed the masked copies: its twin of a tensor of [B, ...] is [B * copies, ...]."""
    cut = found.cut
    clone = TailClone(model, _as_located(cut.tensors[0], cut.tail), copies=False)
    masked = {key_of(t): _masked(t, found.copy_grid) for t in cut.tensors}
    first = cut.tensors[0].get_partial_shape()[0]
    batch = first.get_length() if first.is_static else 1
    for original in clone.order:
        for i, source in enumerate(original.input_values()):
            if (value := masked.get(key_of(source))) is not None:
                clone[original].input(i).replace_source_output(value)
        if original.get_type_name() == "Reshape":
            _follow_copies(clone[original], original, batch)
    for original in clone.order:
        clone[original].validate_and_infer_types()
    for original in clone.order:
        if original.get_type_name() == "Softmax":
            _softmax_axis_first(clone, original)
    return clone


def _softmax_axis_first(clone: TailClone, original: ov.Node) -> None:
    """Run the clone's softmax over a short last axis with that axis moved first: the same values, but the CPU
    plugin's softmax over Ultra-Light's 353,600 rows of two (background, face; 80 copies) took 33 ms, over two
    columns 2.6 ms. A softmax a Result reads directly stays as it is (the clone's outputs are its twins)."""
    twin = clone[original]
    shape = twin.get_output_partial_shape(0)
    rank = shape.rank.get_length() if shape.rank.is_static else 0
    if rank < 2 or twin.get_attributes()["axis"] % rank != rank - 1 or not shape[-1].is_static:
        return
    if shape[-1].get_length() > SHORT_SOFTMAX:
        return
    moved = ops.transpose(twin.input_value(0), i64(rank - 1, *range(rank - 1)))
    back = ops.transpose(ops.softmax(moved, 0), i64(*range(1, rank), 0))
    clone.replace_uses(original, back.output(0))


def _as_located(target: ov.Output, tail: frozenset) -> Located:
    """The Located `TailClone` reads (its tail and target only): the cut is no classifier's target."""
    c, h, w = (d.get_length() for d in target.get_partial_shape()[1:])
    feature = FeatureMap(target, target.get_node().get_friendly_name(), Layout.NCHW, c, h, w)
    return Located(0, target, None, ScoreKind.PROBABILITIES, 0, feature, (), tail)


def _follow_copies(twin: ov.Node, original: ov.Node, batch: int) -> None:
    """Make a Reshape of the clone keep the copies apart: its output's first axis follows the copies' batch.

    Exports bake the batch into patterns: YOLOX's [1, 85, -1] keeps it as a leading 1, Ultra-Light's [4420, -1]
    merges it into the first axis before its softmax (-1 then grows the last axis with the copies). In row-major
    order the batch is the outermost factor of the output's first axis, so the original output shape with that
    axis -1 holds the copies apart: [-1, 85, 3549], [-1, 2].
    """
    shape = original.get_output_partial_shape(0)
    if (
        shape.rank.is_dynamic
        or shape.rank.get_length() == 0
        or not shape[1:].is_static
        or (shape[0].is_static and shape[0].get_length() % batch)
    ):
        raise ReciproCamError(
            f"the Reshape '{original.get_friendly_name()}' behind the cut gives {shape}, where the batch is not the "
            "first axis: the copies cannot follow it; give `cut` tensors nearer the outputs"
        )
    values = np.array([-1, *(d.get_length() for d in shape[1:])], np.int64)
    twin.input(1).replace_source_output(ops.constant(values).output(0))
    twin.set_attribute("special_zero", False)


def _copy_scores(found: FoundDetector, rows: ov.Output, anchors: ov.Output, classes: ov.Output) -> ov.Output:
    """[B, K, copies]: each detection's score for its class at its anchor, on every copy of its photo."""
    a, d = (v.get_length() for v in rows.get_partial_shape()[1:])
    n, k = found.copies, found.detections
    per_photo = ops.reshape(rows, i64(-1, n, a, d), special_zero=False)  # [B, copies, A, D]
    photos = ops.gather(ops.shape_of(anchors, ov.Type.i64), i64(0), ops.constant(np.int64(0)))  # [1]
    shape = ops.concat([photos, i64(n, k, 1)], 0)
    copy_index = ops.broadcast(ops.constant(np.arange(n, dtype=np.int64).reshape(1, n, 1, 1)), shape)
    anchor_index = ops.broadcast(ops.unsqueeze(ops.maximum(anchors, i64(0)), i64(1, 3)), shape)
    index = ops.concat([copy_index, anchor_index], -1)  # [B, copies, K, 2]
    picked = ops.gather_nd(per_photo, index, batch_dims=1)  # [B, copies, K, D]
    scores = decode.anchor_scores(found.head, picked.output(0))  # [B, copies, K, C]
    if scores.get_element_type() != ov.Type.f32:
        scores = ops.convert(scores, ov.Type.f32).output(0)
    depth, on, off = (ops.constant(v) for v in (np.int64(found.head.classes), np.float32(1), np.float32(0)))
    one_hot = ops.one_hot(classes, depth, on, off, -1)  # [B, K, C]; -1 (padding) gives zeros
    mine = ops.reduce_sum(ops.multiply(scores, ops.unsqueeze(one_hot, i64(1))), i64(-1))
    return ops.transpose(mine, i64(0, 2, 1)).output(0)  # [B, K, copies]
