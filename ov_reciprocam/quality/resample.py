"""Bicubic upsampling as PIL computes it, the filter the Recipro-CAM authors' script gives its maps.

OpenCV's INTER_CUBIC uses the cubic kernel with a = -0.75 and samples at fixed offsets; PIL (Image.resize
with BICUBIC) uses a = -0.5 and, at the borders, drops the taps that fall outside the map and renormalizes the
rest. Upsampling is separable, so a map [h, w] becomes Ry @ map @ Rx^T with one [out, in] matrix per axis.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_A = -0.5  # PIL's bicubic kernel parameter
_SUPPORT = 2.0  # the kernel's radius in input pixels, when upsampling


def _cubic(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    near = ((_A + 2) * x - (_A + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * _A
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


@lru_cache(maxsize=32)
def bicubic_matrix(size_in: int, size_out: int) -> np.ndarray:
    """[size_out, size_in] float64: output pixel i as a weighted sum of input pixels, centres aligned."""
    scale = size_in / size_out
    support = _SUPPORT * max(scale, 1.0)  # a downscale widens the kernel, as PIL does
    matrix = np.zeros((size_out, size_in))
    for i in range(size_out):
        centre = (i + 0.5) * scale
        first, last = max(int(centre - support + 0.5), 0), min(int(centre + support + 0.5), size_in)
        taps = np.arange(first, last)
        weights = _cubic((taps - centre + 0.5) / max(scale, 1.0))
        matrix[i, first:last] = weights / weights.sum()
    return matrix


def bicubic(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[..., h, w] -> [..., H, W] for size (W, H), float32, not clipped (the cubic overshoots a little)."""
    h, w = maps.shape[-2:]
    rows, columns = bicubic_matrix(h, size[1]), bicubic_matrix(w, size[0])
    return (rows @ maps.astype(np.float64) @ columns.T).astype(np.float32)
