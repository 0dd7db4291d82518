"""A small detector with Ultralytics' output layout, built with the opset API: one [N, 4 + C, A] output, anchors last.

Three backbone levels (16x16, 8x8, 4x4 on a 64x64 input), a top-down neck (a 1x1 lateral convolution on the
coarsest, nearest upsampling, Concats), and per level a box convolution and a class convolution; the box rows are
decoded in the graph to centres and sizes in input pixels, the class rows joined on the anchor axis and activated
by a Sigmoid, and a Concat on the rows' axis comes last, as YOLOv8's export does. The backbone's outputs carry the
tensor names CUT: the cut the structure should give.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

SIDE = 64
CLASSES = 3
GRIDS = (16, 8, 4)
ANCHORS = sum(g * g for g in GRIDS)
CUT = ("c3", "c4", "c5")


def build(seed: int = 2, batch: int = 1) -> ov.Model:
    rng = np.random.default_rng(seed)

    def conv(x: ov.Node, out: int, stride: int = 1, kernel: int = 3, act: bool = True) -> ov.Node:
        channels = x.get_output_partial_shape(0)[1].get_length()
        weights = rng.normal(0, np.sqrt(2.0 / (channels * kernel * kernel)), (out, channels, kernel, kernel))
        pad = kernel // 2
        y = ops.convolution(x, ops.constant(weights.astype(np.float32)), [stride] * 2, [pad] * 2, [pad] * 2, [1, 1])
        y = ops.add(y, ops.constant(rng.normal(0, 0.1, (1, out, 1, 1)).astype(np.float32)))
        return ops.swish(y) if act else y

    def named(node: ov.Node, name: str) -> ov.Node:
        node.output(0).get_tensor().set_names({name})
        return node

    def up(x: ov.Node) -> ov.Node:
        scales, axes = ops.constant(np.array([2, 2], np.float32)), ops.constant(np.array([2, 3], np.int64))
        return ops.interpolate(x, scales, "nearest", "scales", coordinate_transformation_mode="asymmetric", axes=axes)

    image = ops.parameter([batch, 3, SIDE, SIDE], ov.Type.f32, name="image")
    c3 = named(conv(conv(image, 8, 2), 16, 2), CUT[0])
    c4 = named(conv(c3, 16, 2), CUT[1])
    c5 = named(conv(c4, 24, 2), CUT[2])
    p5 = conv(c5, 16, kernel=1)  # the lateral: the cut is its input
    p4 = conv(ops.concat([up(p5), c4], 1), 16)
    p3 = conv(ops.concat([up(p4), c3], 1), 16)
    boxes, classes, points, strides = [], [], [], []
    for level, grid in zip((p3, p4, p5), GRIDS, strict=True):
        flat = ops.constant(np.array([batch, -1, grid * grid], np.int64))
        boxes.append(ops.reshape(conv(conv(level, 16), 4, kernel=1, act=False), flat, False))
        classes.append(ops.reshape(conv(conv(level, 16), CLASSES, kernel=1, act=False), flat, False))
        gy, gx = np.mgrid[:grid, :grid]
        points.append(np.stack([gx.ravel(), gy.ravel()]) + 0.5)
        strides.append(np.full(grid * grid, SIDE / grid))
    raw = ops.concat(boxes, 2)  # [N, 4, A]
    stride = ops.constant(np.concatenate(strides)[None, None].astype(np.float32))
    centre = ops.multiply(
        ops.add(ops.tanh(_rows(raw, 0, 2)), ops.constant(np.concatenate(points, 1)[None].astype(np.float32))), stride
    )
    size = ops.multiply(ops.exp(ops.clamp(_rows(raw, 2, 4), -2.0, 2.0)), stride)
    scores = ops.sigmoid(ops.concat(classes, 2))  # [N, C, A]
    out = ops.concat([ops.concat([centre, size], 1), scores], 1)
    return ov.Model([ops.result(out)], [image], "anchors_last")


def _rows(values: ov.Node, start: int, stop: int) -> ov.Node:
    return ops.slice(values, np.array([start]), np.array([stop]), np.array([1]), np.array([1]))
