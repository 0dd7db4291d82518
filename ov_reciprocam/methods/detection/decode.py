"""A detector's outputs as anchor scores [..., A, C] and boxes [..., A, 4] (x1, y1, x2, y2 in input pixels), in ops.

The same score function reads the original outputs and the copies' rows, so a detection's map is the score that
selected it, as each masked copy gives it.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ...analysis.detections import DetectorHead, Level
from ...vocabulary import DetectorKind
from ..graph_ops import i64


def last_axis(values: ov.Output, start: int, stop: int) -> ov.Output:
    """values[..., start:stop]."""
    return ops.slice(values, i64(start), i64(stop), i64(1), i64(-1)).output(0)


def scored(head: DetectorHead, outputs: list[ov.Output]) -> ov.Output:
    """The tensor the scores are read from: the scores output, or ANCHORS_LAST's class rows (`class_rows`): the same
    values, and the copies then never run the box branch beside them (a quarter of YOLOv8n's tail's MACs)."""
    return head.class_rows if head.class_rows is not None else outputs[head.scores_index]


def anchor_rows(head: DetectorHead, values: ov.Output) -> ov.Output:
    """[B, A, D]: an output's values one row an anchor (ANCHORS_LAST's [B, D, A] transposed)."""
    if head.kind is DetectorKind.ANCHORS_LAST:
        return ops.transpose(values, i64(0, 2, 1)).output(0)
    return values


def anchor_scores(head: DetectorHead, rows: ov.Output) -> ov.Output:
    """[..., C] scores from the rows [..., D] of the tensor `scored` gives (`anchor_rows`): objectness * class, the
    class rows as they are (sigmoids already), the foreground columns, or the sigmoid of logits."""
    width = rows.get_partial_shape()[-1].get_length()
    if head.kind is DetectorKind.OBJECTNESS:
        return ops.multiply(last_axis(rows, 4, 5), last_axis(rows, 5, width)).output(0)
    if head.kind is DetectorKind.ANCHORS_LAST:
        return rows
    if head.kind is DetectorKind.ANCHORED:
        return ops.sigmoid(rows).output(0)
    return last_axis(rows, 1, width) if head.background else rows


def boxes(head: DetectorHead, rows: ov.Output, levels: tuple[Level, ...]) -> ov.Output:
    """[B, A, 4] corners in input pixels from the boxes output's rows [B, A, D].

    OBJECTNESS: (d + grid) * stride and exp(l) * stride per level; DECODED: corners in [0, 1] times the input size;
    ANCHORED: offsets in input pixels from the centres of the SSD anchors `levels` lays out; ANCHORS_LAST: centres
    and sizes in input pixels already.
    """
    height, width = head.input_size
    rows = ops.convert(rows, ov.Type.f32).output(0) if rows.get_element_type() != ov.Type.f32 else rows
    if head.kind is DetectorKind.DECODED:
        return ops.multiply(last_axis(rows, 0, 4), _f32([width, height, width, height])).output(0)
    if head.kind is DetectorKind.OBJECTNESS:
        grid, stride = _grid_points(head.levels, head.input_size)
        centre = ops.multiply(ops.add(last_axis(rows, 0, 2), _f32(grid)), _f32(stride))
        size = ops.multiply(ops.exp(last_axis(rows, 2, 4)), _f32(stride))
    elif head.kind is DetectorKind.ANCHORS_LAST:
        centre, size = last_axis(rows, 0, 2), last_axis(rows, 2, 4)
    else:
        centre = ops.add(last_axis(rows, 0, 2), _f32(_anchor_centres(levels) * np.array([width, height])))
        size = last_axis(rows, 2, 4)
    half = ops.multiply(size, _f32(0.5))
    return ops.concat([ops.subtract(centre, half), ops.add(centre, half)], -1).output(0)


def _f32(values: object) -> ov.Output:
    return ops.constant(np.asarray(values, np.float32)).output(0)


def _grid_points(levels: tuple[Level, ...], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """[A, 2] (gx, gy) and [A, 2] (stride x, stride y) of every anchor: level-major, row-major."""
    grid, stride = [], []
    for level in levels:
        gy, gx = np.mgrid[: level.height, : level.width]
        points = np.repeat(np.stack([gx.ravel(), gy.ravel()], 1), level.per_cell, axis=0)
        grid.append(points)
        stride.append(np.tile([size[1] / level.width, size[0] / level.height], (len(points), 1)))
    return np.concatenate(grid), np.concatenate(stride)


def _anchor_centres(levels: tuple[Level, ...]) -> np.ndarray:
    """[A, 2] SSD anchor centres in [0, 1]: ((x + 0.5) / w, (y + 0.5) / h), each cell's anchors in a row."""
    rows = []
    for level in levels:
        gy, gx = np.mgrid[: level.height, : level.width]
        centres = np.stack([(gx.ravel() + 0.5) / level.width, (gy.ravel() + 0.5) / level.height], 1)
        rows.append(np.repeat(centres, level.per_cell, axis=0))
    return np.concatenate(rows)
