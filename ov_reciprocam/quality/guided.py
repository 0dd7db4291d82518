"""The guided filter (He, Sun and Tang, ECCV 2010): a map on the input grid that follows the photo's edges.

Within each (2r+1)^2 window the output is a linear function of the guide's gray level, a * I + b, fitted to the
map by least squares with a ridge eps on a; every pixel averages the fits of the windows that hold it. Where the
photo is flat the map is smoothed, where it has an edge the map takes the edge. A 7x7 map upsampled to 224 px
has no detail finer than its cells; the filter puts the photo's detail in, without running the model again.
"""

from __future__ import annotations

import cv2
import numpy as np

FLAT = 1e-6  # float64 rounding of a flat map's windows is ~1e-16 of it
EPS = 0.01  # on gray levels in [0, 1]: edges of contrast above ~0.1 steer the map, weaker ones do not


def guided_filter(values: np.ndarray, guide: np.ndarray, radius: int, eps: float = EPS) -> np.ndarray:
    """`values` [H, W] filtered by `guide` [H, W, 3] BGR pixels in [0, 255]; windows of radius `radius` px,
    mirrored at the borders (edge pixels repeated). Then min-max scaled to [0, 1]; a result that spans less than
    FLAT of its largest value is flat (zeros), not rounding noise scaled up."""
    gray = cv2.cvtColor(np.ascontiguousarray(guide, np.float32), cv2.COLOR_BGR2GRAY).astype(np.float64) / 255.0
    values = values.astype(np.float64)
    size = (2 * radius + 1, 2 * radius + 1)

    def mean(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, size, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_v = mean(gray), mean(values)
    a = (mean(gray * values) - mean_i * mean_v) / (mean(gray * gray) - mean_i * mean_i + eps)
    b = mean_v - a * mean_i
    out = mean(a) * gray + mean(b)
    span = out.max() - out.min()
    flat = span <= FLAT * np.abs(out).max()
    return (np.zeros_like(out) if flat else (out - out.min()) / span).astype(np.float32)


def cell_radius(native: tuple[int, int], size: tuple[int, int]) -> int:
    """The window radius for a map of `native` (h, w) cells on an input of `size` (W, H): one cell, in px."""
    return max(1, round(max(size[0] / native[1], size[1] / native[0])))
