"""Small opset helpers every family's subgraph uses: i64 constants, reshape patterns, sizes."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ..vocabulary import Layout
from .base import FeatureMap


def i64(*values: int) -> ov.Node:
    return ops.constant(np.array(values, np.int64))


Size: TypeAlias = int | ov.Output  # a static size, or a 1-D i64 tensor of one element read at run time


def spatial_sizes(t: FeatureMap) -> tuple[Size, Size, Size]:
    """(H, W, H*W) of the target: ints when static (NPU graphs stay static), else from its runtime shape."""
    if t.static_size:
        return t.height, t.width, t.height * t.width
    shape = ops.shape_of(t.output, ov.Type.i64)
    h, w = (ops.gather(shape, i64(a), i64(0)).output(0) for a in ((2, 3) if t.layout == Layout.NCHW else (1, 2)))
    return h, w, ops.multiply(h, w).output(0)


def pattern(*parts: Size) -> ov.Output:
    """A Reshape pattern: a constant when every part is static, else a Concat of the parts."""
    if all(isinstance(p, int) for p in parts):
        return i64(*parts).output(0)
    return ops.concat([i64(p).output(0) if isinstance(p, int) else p for p in parts], 0).output(0)


def as_scalar(size: Size, dtype: np.dtype) -> ov.Output:
    if isinstance(size, int):
        return ops.constant(dtype.type(size)).output(0)
    return ops.convert(size, ov.Type(dtype)).output(0)
