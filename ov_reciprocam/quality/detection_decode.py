"""A detector's raw outputs as proposals, in numpy: what D-RISE compares a detection with.

Every anchor becomes a proposal (no threshold, no NMS): its box in the model's input pixels, its class
vector and its objectness, as D-RISE (Petsiuk et al. 2021) builds them: a one-stage detector's objectness
and class probabilities apart (YOLOX), a softmax over the classes and the background with no objectness
(Ultra-Light's, as D-RISE treats Faster R-CNN), sigmoid scores whose largest stands for the objectness
(BlazeFace: one class, whose cosine would be 1 whatever the score).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ReciproCamError
from ..vocabulary import DetectorKind

YOLOX_STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class Proposals:
    """One image's anchors: boxes [A, 4] (x1, y1, x2, y2 in input pixels), classes [A, C], objectness [A]."""

    boxes: np.ndarray
    classes: np.ndarray
    objectness: np.ndarray


@dataclass(frozen=True)
class Decoding:
    """How to read a detector's outputs: its kind, and for raw SSD heads the anchors of each level
    ((rows, columns, anchors per cell), in the outputs' order, as `DetectionOptions.anchors`)."""

    kind: DetectorKind
    anchors: tuple[tuple[int, int, int], ...] | None = None

    def decode(self, outputs: Sequence[np.ndarray], size: tuple[int, int]) -> Proposals:
        """One image's outputs (in the model's output order, batch axis gone) for an input of (W, H) pixels."""
        if self.kind is DetectorKind.OBJECTNESS:
            return objectness_head(_one(outputs), size)
        if self.kind is DetectorKind.DECODED:
            return decoded_head(*_pair(outputs, lambda a: a.shape[-1] == 4), size)
        if self.kind is DetectorKind.ANCHORS_LAST:
            return anchors_last_head(_one(outputs))
        if self.anchors is None:
            raise ReciproCamError("an anchored head needs its anchors: give `anchors` (rows, columns, per cell)")
        return anchored_head(*_pair(outputs, lambda a: a.shape[-1] >= 4 and a.shape[-1] % 2 == 0), self.anchors, size)


def objectness_head(raw: np.ndarray, size: tuple[int, int]) -> Proposals:
    """YOLOX [A, 4 + 1 + C]: grid offsets and log sizes per grid point of strides 8, 16, 32, level-major and
    row-major; objectness and class probabilities with their sigmoids applied."""
    w, h = size
    grids = [np.mgrid[: h // s, : w // s].reshape(2, -1).T[:, ::-1] for s in YOLOX_STRIDES]  # (gx, gy)
    if sum(len(g) for g in grids) != len(raw):
        raise ReciproCamError(f"{len(raw)} anchors do not fit a {w}x{h} input at strides {YOLOX_STRIDES}")
    grid = np.concatenate(grids).astype(np.float64)
    stride = np.concatenate([np.full(len(g), s, np.float64) for g, s in zip(grids, YOLOX_STRIDES, strict=True)])
    values = raw.astype(np.float64)
    centre = (values[:, :2] + grid) * stride[:, None]
    half = np.exp(values[:, 2:4]) * stride[:, None] / 2
    return Proposals(np.concatenate([centre - half, centre + half], 1), values[:, 5:], values[:, 4])


def decoded_head(boxes: np.ndarray, scores: np.ndarray, size: tuple[int, int]) -> Proposals:
    """Corner boxes in [0, 1] [A, 4]; a softmax over [background, classes...] [A, 1 + C]."""
    w, h = size
    values = scores.astype(np.float64)
    return Proposals(boxes.astype(np.float64) * [w, h, w, h], values, np.ones(len(values)))


def anchored_head(
    regressors: np.ndarray, logits: np.ndarray, levels: tuple[tuple[int, int, int], ...], size: tuple[int, int]
) -> Proposals:
    """MediaPipe's SSD head: regressors [A, 4 + 2k] (centre offset and size in input pixels, about fixed-size
    anchors centred in their cells) and logits [A, C]."""
    w, h = size
    centres = []
    for rows, cols, per_cell in levels:
        y, x = np.mgrid[:rows, :cols]
        centres.append(np.repeat(np.stack([(x.ravel() + 0.5) / cols, (y.ravel() + 0.5) / rows], 1), per_cell, 0))
    anchors = np.concatenate(centres)
    if len(anchors) != len(regressors):
        raise ReciproCamError(f"`anchors` make {len(anchors)} anchors; the head has {len(regressors)}")
    values = regressors[:, :4].astype(np.float64)
    centre = values[:, :2] / [w, h] + anchors
    half = values[:, 2:4] / [w, h] / 2
    corners = np.concatenate([centre - half, centre + half], 1) * [w, h, w, h]
    probs = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -100.0, 100.0)))
    return Proposals(corners, probs, probs.max(1))


def anchors_last_head(raw: np.ndarray) -> Proposals:
    """Ultralytics' [4 + C, A]: each anchor's box centre and size in input pixels, then its C sigmoid class scores;
    no objectness, so the largest score stands for it, as for BlazeFace (a cosine alone ignores how sure a
    proposal is)."""
    values = raw.astype(np.float64)
    centre, half = values[:2].T, values[2:4].T / 2
    classes = values[4:].T
    return Proposals(np.concatenate([centre - half, centre + half], 1), classes, classes.max(1))


def _one(outputs: Sequence[np.ndarray]) -> np.ndarray:
    if len(outputs) != 1:
        raise ReciproCamError(f"a YOLOX-style head has one output, this model has {len(outputs)}")
    return outputs[0]


def _pair(outputs: Sequence[np.ndarray], is_boxes: Callable[[np.ndarray], bool]) -> tuple[np.ndarray, np.ndarray]:
    """(boxes, scores) of a two-output head, told apart by `is_boxes` on their shapes."""
    boxes = [a for a in outputs if is_boxes(a)]
    if len(outputs) != 2 or len(boxes) != 1:
        raise ReciproCamError("cannot tell the boxes output from the scores output: the head needs exactly one of each")
    scores = next(a for a in outputs if a is not boxes[0])
    return boxes[0], scores
