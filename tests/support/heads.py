"""Classifier heads the locator must read right: extra outputs, score kinds, foreign saliency outputs.

Each builder puts a head on `builders.backbone` (feature map "block2", [B, 16, 8, 8]).
"""

from __future__ import annotations

import builders
import numpy as np
import openvino as ov
import openvino.opset13 as ops
from builders import CLASSES, backbone

RNG_SEED = 11


def _i64(*values: int) -> ov.Node:
    return ops.constant(np.array(values, np.int64))


def _weights(rng, n_in: int, n_out: int, scale: float = 3.0) -> ov.Node:
    return ops.constant(rng.normal(0, scale * np.sqrt(2.0 / n_in), (n_in, n_out)).astype(np.float32))


def _pooled(x: ov.Node) -> ov.Node:
    return ops.reduce_mean(x, _i64(2, 3), keep_dims=False)


def _linear(x: ov.Node, rng, n_out: int, n_in: int = 16) -> ov.Node:
    bias = ops.constant(rng.normal(0, 0.1, n_out).astype(np.float32))
    return ops.add(ops.matmul(x, _weights(rng, n_in, n_out), False, False), bias)


def _named(node: ov.Node, name: str) -> ov.Output:
    out = node.output(0)
    out.get_tensor().set_names({name})
    return out


def _model(outputs: list[ov.Output], image: ov.Node) -> ov.Model:
    return ov.Model([ops.result(o) for o in outputs], [image], "head")


def head(kind: str, batch: int = -1) -> ov.Model:
    """GAP + linear, then: softmax, sigmoid, log_softmax, exp_sum (a softmax written out),
    slice (softmax over CLASSES + 1, the first dropped, as TF's 1001 classes), scale (softmax * 100)."""
    rng = np.random.default_rng(RNG_SEED)
    image, x = backbone(batch)
    extra = 1 if kind == "slice" else 0
    logits = _linear(_pooled(x), rng, CLASSES + extra)
    _named(logits, "logits")
    if kind == "softmax":
        scores = ops.softmax(logits, 1)
    elif kind == "sigmoid":
        scores = ops.sigmoid(logits)
    elif kind == "log_softmax":
        scores = ops.log_softmax(logits, 1)
    elif kind == "exp_sum":
        e = ops.exp(ops.subtract(logits, ops.reduce_max(logits, _i64(1), keep_dims=True)))
        scores = ops.divide(e, ops.reduce_sum(e, _i64(1), keep_dims=True))
    elif kind == "slice":
        scores = ops.slice(ops.softmax(logits, 1), _i64(1), _i64(CLASSES + 1), _i64(1), _i64(1))
    elif kind == "scale":
        scores = ops.multiply(ops.softmax(logits, 1), ops.constant(np.float32(100.0)))
    else:
        raise ValueError(kind)
    return _model([_named(scores, "scores")], image)


def extra_outputs() -> ov.Model:
    """Class scores plus the argmax ids [N] and the top score as a scalar."""
    rng = np.random.default_rng(RNG_SEED)
    image, x = backbone()
    scores = ops.softmax(_linear(_pooled(x), rng, CLASSES), 1)
    top = ops.reduce_max(scores, _i64(1), keep_dims=False)
    outputs = [_named(top, "top_score"), _named(scores, "scores"), _named(ops.reduce_max(top, _i64(0)), "best")]
    return _model(outputs, image)


def embedding_first(softmax: bool = True) -> ov.Model:
    """An embedding [N, 32] listed before the class scores, both linear layers on the pooled features."""
    rng = np.random.default_rng(RNG_SEED)
    image, x = backbone()
    pooled = _pooled(x)
    embedding = _linear(pooled, rng, 32)
    logits = _linear(pooled, rng, CLASSES)
    scores = ops.softmax(logits, 1) if softmax else logits
    return _model([_named(embedding, "embedding"), _named(scores, "scores")], image)


def no_batch_axis() -> ov.Model:
    """Batch 1; the feature map also leaves as [64, 16], whose axis 0 is not the batch."""
    rng = np.random.default_rng(RNG_SEED)
    image, x = backbone(batch=1)
    cells = ops.reshape(x, _i64(64, 16), special_zero=False)
    scores = ops.softmax(_linear(_pooled(x), rng, CLASSES), 1)
    return _model([_named(cells, "cells"), _named(scores, "scores")], image)


def foreign_saliency() -> ov.Model:
    """Class scores and a `saliency_map` output that another tool added."""
    model = head("softmax")
    features = next(op for op in model.get_ordered_ops() if op.get_friendly_name() == "block2")
    return _model([model.get_results()[0].input_value(0), _named(features, "saliency_map")], model.get_parameters()[0])


def pointwise_last_block(classes: int = 16) -> ov.Model:
    """The last block ends in a 1x1 conv with as many channels as there are classes, then GAP + linear."""
    rng = np.random.default_rng(RNG_SEED)
    image, x = backbone()
    kernel = ops.constant(rng.normal(0, np.sqrt(2.0 / 16), (16, 16, 1, 1)).astype(np.float32))
    last = ops.relu(ops.convolution(x, kernel, [1, 1], [0, 0], [0, 0], [1, 1]))
    last.set_friendly_name("last_block")
    scores = ops.softmax(_linear(_pooled(last), rng, classes), 1)
    return _model([_named(scores, "scores")], image)


def class_map_head() -> ov.Model:
    """TFLite style: a 3x3 conv with one channel per class, global average pooling, a fixed [1, C] reshape."""
    rng = np.random.default_rng(RNG_SEED)
    image, x = backbone(batch=1)
    kernel = ops.constant(rng.normal(0, 3 * np.sqrt(2.0 / 144), (CLASSES, 16, 3, 3)).astype(np.float32))
    class_map = ops.convolution(x, kernel, [1, 1], [1, 1], [1, 1], [1, 1])
    pooled = ops.reduce_mean(class_map, _i64(2, 3), keep_dims=True)
    scores = ops.softmax(ops.reshape(pooled, _i64(1, CLASSES), special_zero=False), 1)
    return _model([_named(scores, "scores")], image)


def pooled_target() -> ov.Model:
    """A GAP kept 4-D ([N, 16, 1, 1], named "pooled"): a target with one position."""
    rng = np.random.default_rng(RNG_SEED)
    image, x = backbone()
    pooled = ops.reduce_mean(x, _i64(2, 3), keep_dims=True)
    pooled.set_friendly_name("pooled")
    flat = ops.reshape(pooled, _i64(0, -1), special_zero=True)
    return _model([_named(ops.softmax(_linear(flat, rng, CLASSES), 1), "scores")], image)


def _conv(x: ov.Node, rng, c_out: int, c_in: int, stride: int = 2) -> ov.Node:
    kernel = rng.normal(0, np.sqrt(2.0 / (9 * c_in)), (c_out, c_in, 3, 3)).astype(np.float32)
    return ops.relu(ops.convolution(x, ops.constant(kernel), [stride, stride], [1, 1], [1, 1], [1, 1]))


def _flatten_head(features: ov.Node, rng, size: int, image: ov.Node) -> ov.Model:
    flat = ops.reshape(features, _i64(0, -1), special_zero=True)
    logits = _linear(flat, rng, CLASSES, n_in=size)
    return _model([_named(ops.softmax(logits, 1), "scores")], image)


def concat_nchw() -> ov.Model:
    """Two conv branches joined by Concat into NCHW [N, 8, 8, 16] ("joined"), flattened into a linear layer."""
    rng = np.random.default_rng(RNG_SEED)
    image = ops.parameter([-1, 3, 16, 32], ov.Type.f32, name="image")
    joined = ops.concat([_conv(image, rng, 4, 3), _conv(image, rng, 4, 3)], 1)
    joined.set_friendly_name("joined")
    return _flatten_head(joined, rng, 8 * 8 * 16, image)


def concat_nhwc() -> ov.Model:
    """Two conv branches transposed to NHWC and joined into [N, 6, 8, 32] ("joined"), flattened."""
    rng = np.random.default_rng(RNG_SEED)
    image = ops.parameter([-1, 3, 12, 16], ov.Type.f32, name="image")
    branches = [ops.transpose(_conv(image, rng, 16, 3), _i64(0, 2, 3, 1)) for _ in range(2)]
    joined = ops.concat(branches, 3)
    joined.set_friendly_name("joined")
    return _flatten_head(joined, rng, 6 * 8 * 32, image)


def reshaped_map() -> ov.Model:
    """A conv map [N, 16, 8, 8] reshaped to [N, 8, 16, 8] ("regrouped"): no op says which axis is which."""
    rng = np.random.default_rng(RNG_SEED)
    image = ops.parameter([-1, 3, 16, 16], ov.Type.f32, name="image")
    regrouped = ops.relu(ops.reshape(_conv(image, rng, 16, 3), _i64(0, 8, 16, 8), special_zero=True))
    regrouped.set_friendly_name("regrouped")
    return _flatten_head(regrouped, rng, 8 * 16 * 8, image)


def runtime_batch_reshape(adaptive: bool = False) -> ov.Model:
    """torch's `x.reshape(x.shape[0], -1)` after the pooling: the batch read from the input at run time.

    adaptive: pool with AdaptiveAvgPool (torch's nn.AdaptiveAvgPool2d) instead of ReduceMean.
    """
    rng = np.random.default_rng(RNG_SEED)
    image, x = backbone()
    if adaptive:
        pooled = ov.opset8.adaptive_avg_pool(x, _i64(1, 1))
    else:
        pooled = ops.reduce_mean(x, _i64(2, 3), keep_dims=True)
    batch = ops.gather(ops.shape_of(image), _i64(0), _i64(0))
    flat = ops.reshape(pooled, ops.concat([batch, _i64(-1)], 0), special_zero=False)
    return _model([_named(ops.softmax(_linear(flat, rng, CLASSES), 1), "scores")], image)


def dynamic_size() -> ov.Model:
    """builders.gap_linear with the input's height and width dynamic ([?, 3, ?, ?]), as ONNX exports often are."""
    model = builders.gap_linear()
    model.reshape({model.inputs[0]: ov.PartialShape([-1, 3, -1, -1])})
    return model
