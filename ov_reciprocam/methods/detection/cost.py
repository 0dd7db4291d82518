"""What a detector's branch cannot avoid, in multiply-accumulates: the floor `bench` compares it with."""

from __future__ import annotations

import openvino as ov

from ...analysis.cost import macs
from . import decode
from .locate import FoundDetector


def scored_tail(model: ov.Model, found: FoundDetector) -> frozenset:
    """Instance ids of the tail's ops (`Cut.tail`) the scores read (`decode.scored`): all the copies run. A
    detection's box is the original's, so a box head of its own (Ultra-Light's, BlazeFace's, YOLOv8's box rows)
    never runs on the copies."""
    scores = decode.scored(found.head, [r.input_value(0) for r in model.get_results()]).get_node()
    seen: set[int] = set()
    stack = [scores]
    while stack:
        node = stack.pop()
        if (key := node.get_instance_id()) in seen or key not in found.cut.tail:
            continue
        seen.add(key)
        stack.extend(v.get_node() for v in node.input_values())
    return frozenset(seen)


def tail_macs(model: ov.Model, found: FoundDetector) -> int:
    """MACs of one run of the ops each copy runs (`scored_tail`), at `model`'s batch."""
    tail = scored_tail(model, found)
    return sum(macs(op) for op in model.get_ordered_ops() if op.get_instance_id() in tail)


def floor(model: ov.Model, found: FoundDetector) -> float:
    """1 + copies x the MACs of the tail the copies run / the plain model's: every copy runs it once, exactly.

    `found` must be located on `model` itself (the tail holds its ops' instance ids). The masking, the NMS and the
    gathers of the copies' scores have no MACs; `bench` times the masked copies' bytes apart.
    """
    total = sum(macs(op) for op in model.get_ordered_ops())
    return 1.0 + found.copies * tail_macs(model, found) / total if total else float("nan")
