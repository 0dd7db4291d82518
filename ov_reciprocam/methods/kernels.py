"""What each masked copy keeps of the feature map: its position alone, or the 3x3 neighbourhood around it.

Both families read copies from the same [H*W, H*W] table (row n: copy n's weight at every position).
Kernel.GAUSSIAN is ViT-ReciproCAM's kernel, [[1, 2, 1], [2, 4, 2], [1, 2, 1]] / 16; Kernel.WINDOW keeps the
3x3 window whole. Both are cut at the borders (zero padding), so a border copy keeps less of the map than an
inner one, as in openvino_xai.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ..vocabulary import Kernel
from .graph_ops import i64

GAUSSIAN: np.ndarray = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 16
WINDOW: np.ndarray = np.ones((3, 3), np.float32)


def neighbourhood(kernel: Kernel) -> np.ndarray:
    """[3, 3] float32: the weight copy n gives each cell around n (one-hot: the centre alone)."""
    if kernel is Kernel.ONEHOT:
        return np.pad(np.ones((1, 1), np.float32), 1)
    return {Kernel.GAUSSIAN: GAUSSIAN, Kernel.WINDOW: WINDOW}[kernel]


def copy_weights(h: int, w: int, kernel: Kernel) -> np.ndarray:
    """[h*w, h*w] float32: copy n's weight at every position (row n)."""
    if kernel is Kernel.ONEHOT:
        return np.eye(h * w, dtype=np.float32)
    around = neighbourhood(kernel)
    weights = np.zeros((h * w, h, w), np.float32)
    for n in range(h * w):
        y, x = divmod(n, w)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if 0 <= y + dy < h and 0 <= x + dx < w:
                    weights[n, y + dy, x + dx] = around[dy + 1, dx + 1]
    return weights.reshape(h * w, h * w)


def copy_weights_in_graph(h: int, w: int, kernel: Kernel) -> ov.Output:
    """`copy_weights` as f32 ops from Eye(h*w): no [h*w, h*w] constant lands in the IR."""
    hw = h * w
    size = ops.constant(np.int64(hw))
    eye = ops.eye(size, size, ops.constant(np.int64(0)), ov.Type.f32)
    if kernel is Kernel.ONEHOT:
        return eye.output(0)
    grid = ops.reshape(eye, i64(hw, 1, h, w), special_zero=False)
    around = ops.constant(neighbourhood(kernel).reshape(1, 1, 3, 3))
    spread = ops.convolution(grid, around, [1, 1], [1, 1], [1, 1], [1, 1])
    return ops.reshape(spread, i64(hw, hw), special_zero=False).output(0)


def weight_levels(kernel: Kernel) -> tuple[float, ...]:
    """The distinct non-zero weights a copy gives a position, largest (the copy's own position) first."""
    return tuple(sorted({float(v) for v in neighbourhood(kernel).flat if v}, reverse=True))


def keeps_cells_whole(kernel: Kernel) -> bool:
    """Every cell a copy keeps has weight 1, so per-pixel ops on the copy's cells are the original's on F."""
    return weight_levels(kernel) == (1.0,)
