"""The detections of each photo, in the graph: best class per anchor, the score threshold, class-agnostic hard NMS
(OpenVINO's NonMaxSuppression), the top K, padded to a static K."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ..graph_ops import i64


@dataclass(frozen=True)
class Selected:
    """The K detections of each photo; padding rows have anchor -1 and `valid` 0."""

    anchors: ov.Output  # [B, K] i64, -1 for padding
    valid: ov.Output  # [B, K] f32, 1 or 0
    classes: ov.Output  # [B, K] i64
    detections: ov.Output  # [B, K, 6]: x1, y1, x2, y2, score, class (padding: zeros, class -1)


def select(boxes: ov.Output, scores: ov.Output, k: int, score_threshold: float, iou_threshold: float) -> Selected:
    """boxes [B, A, 4] corners, scores [B, A, C] -> the K best detections of each photo after NMS."""
    scores = _f32(scores)
    best = ops.reduce_max(scores, i64(-1), keep_dims=False)  # [B, A]
    label = ops.squeeze(ops.topk(scores, _scalar(1), -1, "max", "none", "i64").output(1), i64(-1))  # [B, A]
    nms = ops.non_max_suppression(
        boxes,
        ops.unsqueeze(best, i64(1)),  # one class: the NMS is class-agnostic
        i64(k),
        ops.constant(np.float32(iou_threshold)),
        ops.constant(np.float32(score_threshold)),
        box_encoding="corner",
        sort_result_descending=False,  # batch by batch, highest score first within each
        output_type="i64",
    )
    anchors = _padded(nms.output(0), ops.shape_of(boxes, ov.Type.i64), k)
    found = ops.greater_equal(anchors, i64(0))
    valid = ops.convert(found, ov.Type.f32)
    index = ops.unsqueeze(ops.maximum(anchors, i64(0)), i64(-1))  # [B, K, 1]
    picked_boxes = ops.gather_nd(boxes, index, batch_dims=1)  # [B, K, 4]
    picked_scores = ops.gather_nd(best, index, batch_dims=1)  # [B, K]
    picked_labels = ops.gather_nd(label, index, batch_dims=1)
    classes = ops.select(found, picked_labels, i64(-1))
    rows = ops.concat(
        [
            ops.select(ops.unsqueeze(found, i64(-1)), picked_boxes, ops.constant(np.float32(0))),
            ops.unsqueeze(ops.multiply(picked_scores, valid), i64(-1)),
            ops.unsqueeze(ops.convert(classes, ov.Type.f32), i64(-1)),
        ],
        -1,
    )
    return Selected(anchors.output(0), valid.output(0), classes.output(0), rows.output(0))


def _padded(selected: ov.Output, boxes_shape: ov.Output, k: int) -> ov.Node:
    """NMS's rows [M, 3] (batch, class, anchor; batch-major, at most K a batch) as anchors [B, K], -1 for none.

    A row's place within its batch is its index less the rows of earlier batches; rows NMS pads with -1, and
    every place past K, go to a slot that is cut off.
    """
    batch = ops.gather(selected, _scalar(0), _scalar(1))  # [M]
    anchor = ops.gather(selected, _scalar(2), _scalar(1))
    count = ops.gather(ops.shape_of(selected, ov.Type.i64), _scalar(0), _scalar(0))
    index = ops.range(_scalar(0), count, _scalar(1), ov.Type.i64)
    earlier = ops.reduce_sum(
        ops.convert(ops.less(ops.unsqueeze(batch, i64(0)), ops.unsqueeze(batch, i64(1))), ov.Type.i64), i64(1)
    )
    place = ops.subtract(index, earlier)
    width = k + 1
    slot = ops.add(ops.multiply(batch, i64(width)), place)
    kept = ops.logical_and(ops.greater_equal(batch, i64(0)), ops.less(place, i64(k)))
    slot = ops.select(kept, slot, i64(k))  # batch 0's spare slot
    photos = ops.gather(boxes_shape, _scalar(0), _scalar(0))
    empty = ops.broadcast(i64(-1), ops.unsqueeze(ops.multiply(photos, _scalar(width)), i64(0)))
    filled = ops.scatter_elements_update(empty, slot, anchor, i64(0))
    per_photo = ops.reshape(filled, ops.concat([ops.unsqueeze(photos, i64(0)), i64(width)], 0), special_zero=False)
    return ops.slice(per_photo, i64(0), i64(k), i64(1), i64(1))


def _f32(values: ov.Output) -> ov.Output:
    return values if values.get_element_type() == ov.Type.f32 else ops.convert(values, ov.Type.f32).output(0)


def _scalar(value: int) -> ov.Node:
    return ops.constant(np.int64(value))
