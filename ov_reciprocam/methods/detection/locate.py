"""Whether a model is a detector this package explains, and with what: its head, its cut, the options resolved."""

from __future__ import annotations

from dataclasses import dataclass

import openvino as ov

from ...analysis.detections import Cut, DetectorHead, Level, find_cut, read_detector, refuse_inner_nms
from ...errors import ReciproCamError
from ...vocabulary import DetectionOptions, DetectorKind

# Copies no coarser than this many cells on the short side by default. Ultra-Light's coarsest cut is 4x5, cells of
# 64x60 px on faces of ~40 px: its maps' peaks fell inside 4 of 8 face boxes, and 7 of 8 on its next grid, 8x10
# (docs/detection.md). YOLOX's 13x13 and BlazeFace's 8x8 coarsest grids already have it.
MIN_COPY_SIDE = 8


@dataclass(frozen=True)
class FoundDetector:
    """A detector and every choice its branch makes, settled."""

    head: DetectorHead
    cut: Cut
    copy_grid: tuple[int, int]
    detections: int
    score_threshold: float
    iou_threshold: float
    levels: tuple[Level, ...]  # the anchors' layout: `anchors` as given, else the head's levels

    @property
    def copies(self) -> int:
        return self.copy_grid[0] * self.copy_grid[1]


def locate_detector(model: ov.Model, options: DetectionOptions) -> FoundDetector | None:
    """The detector `model` is, or None when its outputs are no detector's; refused when it cannot be explained."""
    refuse_inner_nms(model)
    head = read_detector(model)
    if head is None:
        return None
    cut = find_cut(model, head, options.cut)
    score, iou = head.kind.thresholds
    grid = options.copy_grid or default_grid(cut.grids)
    if grid[0] > head.input_size[0] or grid[1] > head.input_size[1]:
        raise ReciproCamError(f"`copy_grid` {grid[0]}x{grid[1]} is finer than the input's pixels")
    return FoundDetector(
        head=head,
        cut=cut,
        copy_grid=grid,
        detections=options.detections,
        score_threshold=score if options.score_threshold is None else options.score_threshold,
        iou_threshold=iou if options.iou_threshold is None else options.iou_threshold,
        levels=_levels(head, options.anchors),
    )


def default_grid(grids: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    """The coarsest of the cut's grids with `MIN_COPY_SIDE` cells on its short side, else the finest."""
    by_cells = sorted(grids, key=lambda g: g[0] * g[1])
    return next((g for g in by_cells if min(g) >= MIN_COPY_SIDE), by_cells[-1])


def _levels(head: DetectorHead, given: tuple[tuple[int, int, int], ...] | None) -> tuple[Level, ...]:
    """The anchor layout SSD anchors are made from: `anchors`, checked against the outputs' count."""
    if given is None:
        return head.levels
    if head.kind is not DetectorKind.ANCHORED:
        raise ReciproCamError(f"`anchors` is for raw SSD heads; this {head.kind} detector lays out its own")
    levels = tuple(Level(*v) for v in given)
    if (count := sum(v.anchors for v in levels)) != head.anchors:
        layout = ",".join(f"{v.height}x{v.width}x{v.per_cell}" for v in levels)
        raise ReciproCamError(
            f"`anchors` {layout} makes {count} anchors, the outputs have {head.anchors}: give rows x columns x "
            "anchors per cell for each level, e.g. 16x16x2,8x8x6"
        )
    return levels
