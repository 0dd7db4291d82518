"""Saliency-map quality metrics, in plain numpy.

Maps are [H, W] arrays in [0, 1] on the image they explain; images are [H, W, C] arrays. The metrics
that need the model (Average Drop, Deletion, Insertion) take the class probabilities of the copies that
`steps_of` and `step_chunks` make; `quality.evaluate` infers them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

_EPS = 1e-12


def average_drop(y: float, o: float) -> float:
    """100 * max(0, Y - O) / Y: how much of the class probability Y the map alone (O) loses, in %.

    Averaged over images this is the Average Drop of Grad-CAM++ (Chattopadhay et al. 2018).
    """
    return 100.0 * max(0.0, y - o) / y


def increase(y: float, o: float) -> float:
    """100 if the map alone raises the probability (O > Y), else 0; averaged: Increase in Confidence, in %."""
    return 100.0 if o > y else 0.0


def order(saliency: np.ndarray) -> np.ndarray:
    """Flat pixel indices, most salient first; ties keep row-major order, so the ranking is reproducible."""
    return np.argsort(-saliency.reshape(-1), kind="stable")


def steps_of(start: np.ndarray, finish: np.ndarray, saliency: np.ndarray, steps: int) -> np.ndarray:
    """[steps + 1, H, W, C]: copy i takes the round(i * H * W / steps) most salient pixels from `finish`.

    Deletion goes from the image to a baseline (zeros or a blur); insertion from a blurred image to
    the image (RISE, Petsiuk et al. 2018).
    """
    return np.concatenate(list(step_chunks(start, finish, saliency, steps, steps + 1)))


def step_chunks(
    start: np.ndarray, finish: np.ndarray, saliency: np.ndarray, steps: int, size: int
) -> Iterator[np.ndarray]:
    """The copies of `steps_of`, `size` at a time, each chunk made when it is asked for: a run infers them as they
    come, without holding every copy of a curve."""
    h, w = saliency.shape
    counts = np.rint(np.linspace(0, h * w, steps + 1)).astype(int)
    rank = np.empty(h * w, np.int64)
    rank[order(saliency)] = np.arange(h * w)
    rank = rank.reshape(h, w)
    for i in range(0, steps + 1, size):
        taken = rank[None] < counts[i : i + size, None, None]  # [n, H, W]
        yield np.where(taken[..., None], finish[None], start[None]).astype(start.dtype, copy=False)


def auc(curve: Sequence[float] | np.ndarray) -> float:
    """Area under a curve sampled at evenly spaced points of [0, 1] (trapezoidal rule)."""
    y = np.asarray(curve, np.float64)
    return float((y.sum() - (y[0] + y[-1]) / 2) / (len(y) - 1))


def _centered(saliency: np.ndarray) -> np.ndarray:
    x = saliency.reshape(-1).astype(np.float64)
    return x - x.mean()


def _flat(saliency: np.ndarray) -> bool:
    return float(np.linalg.norm(_centered(saliency))) < _EPS


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two maps; nan when either is flat."""
    if _flat(a) or _flat(b):
        return float("nan")
    x, y = _centered(a), _centered(b)
    return float(np.clip((x @ y) / (np.linalg.norm(x) * np.linalg.norm(y)), -1.0, 1.0))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (tied values share their mean rank)."""
    return pearson(_ranks(a.ravel()), _ranks(b.ravel()))


def _ranks(x: np.ndarray) -> np.ndarray:
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    mean_rank = np.cumsum(counts) - (counts - 1) / 2.0
    return mean_rank[inverse.ravel()]


def coherency(first: np.ndarray, second: np.ndarray) -> float:
    """(Pearson(first, second) + 1) / 2, with `second` the map of the image masked by `first`.

    From ADCC (Poppi et al. 2021). Pearson is undefined for a flat map: two flat maps count as
    coherent (1.0), one flat map against a varying one as uncorrelated (0.5).
    """
    r = pearson(first, second)
    if np.isnan(r):
        return 1.0 if _flat(first) and _flat(second) else 0.5
    return (r + 1.0) / 2.0


def complexity(saliency: np.ndarray) -> float:
    """The L1 norm of a [0, 1] map per pixel: 0 for an empty map, 1 for a map that lights everything."""
    return float(np.abs(saliency).mean())


def adcc(coherency_: float, complexity_: float, average_drop_: float) -> float:
    """3 / (1/Coherency + 1/(1 - Complexity) + 1/(1 - AverageDrop/100)); 0 when any term is 0."""
    terms = (coherency_, 1.0 - complexity_, 1.0 - average_drop_ / 100.0)
    if min(terms) <= 0.0:
        return 0.0
    return 3.0 / sum(1.0 / t for t in terms)


def box_distance(point: tuple[float, float], box: Sequence[float]) -> float:
    """Euclidean distance in pixels from (x, y) to the box [x0, y0, x1, y1]; 0 inside it."""
    x, y = point
    x0, y0, x1, y1 = box
    return float(np.hypot(max(x0 - x, 0.0, x - x1), max(y0 - y, 0.0, y - y1)))


def pointing_hit(point: tuple[float, float], boxes: Sequence[Sequence[float]], tolerance: float = 15.0) -> bool:
    """The pointing game (Zhang et al. 2016): the peak lies within `tolerance` px of some box."""
    return any(box_distance(point, b) <= tolerance for b in boxes)


def boxes_region(size: tuple[int, int], boxes: Sequence[Sequence[float]]) -> np.ndarray:
    """[H, W] bool: the pixels of a (W, H) photo inside any of the boxes [x0, y0, x1, y1]."""
    w, h = size
    region = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in boxes:
        region[max(0, round(y0)) : max(0, round(y1)), max(0, round(x0)) : max(0, round(x1))] = True
    return region


def energy_pointing(saliency: np.ndarray, region: np.ndarray) -> float:
    """The energy-based pointing game (Wang et al. 2020, Score-CAM): the share of the map's mass on the object."""
    total = float(saliency.sum())
    return float(saliency[region].sum()) / total if total > 0 else 0.0


def region_distance(point: tuple[float, float], region: np.ndarray) -> float:
    """Euclidean distance in pixels from (x, y) to the nearest pixel of `region`; 0 on it, inf for no region."""
    ys, xs = np.nonzero(region)
    if xs.size == 0:
        return float("inf")
    x, y = point
    return float(np.sqrt(((xs - x) ** 2 + (ys - y) ** 2).min()))
