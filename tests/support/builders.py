"""Small classifiers built with the opset API, one per head shape the locator must understand."""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

CLASSES = 10


def _const(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> ov.Node:
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return ops.constant((rng.normal(0, scale * np.sqrt(2.0 / fan_in), shape)).astype(np.float32))


def _i64(*values: int) -> ov.Node:
    return ops.constant(np.array(values, np.int64))


def backbone(batch: int = -1, seed: int = 0) -> tuple[ov.Node, ov.Node]:
    """Input [B, 3, 32, 32] -> two strided convs -> feature map [B, 16, 8, 8] (NCHW)."""
    rng = np.random.default_rng(seed)
    image = ops.parameter([batch, 3, 32, 32], ov.Type.f32, name="image")
    x = ops.relu(ops.convolution(image, _const(rng, 8, 3, 3, 3), [2, 2], [1, 1], [1, 1], [1, 1]))
    x = ops.convolution(x, _const(rng, 16, 8, 3, 3), [2, 2], [1, 1], [1, 1], [1, 1])
    x = ops.relu(ops.add(x, _const(rng, 1, 16, 1, 1)))
    x.set_friendly_name("block2")
    return image, x


def _linear(
    x: ov.Node, rng: np.random.Generator, n_in: int, n_out: int, scale: float = 1.0, transposed: bool = False
) -> ov.Node:
    """x @ W + b; transposed stores W as [n_out, n_in], as PyTorch exports do."""
    if transposed:
        weights = ops.constant(np.ascontiguousarray(_const(rng, n_in, n_out, scale=scale).get_data().T))
    else:
        weights = _const(rng, n_in, n_out, scale=scale)
    return ops.add(ops.matmul(x, weights, False, transposed), _const(rng, 1, n_out))


def _classifier(image: ov.Node, logits: ov.Node, softmax: bool) -> ov.Model:
    scores = ops.softmax(logits, 1) if softmax else logits
    return ov.Model([ops.result(scores)], [image], "classifier")


def gap_linear(batch: int = -1, softmax: bool = True) -> ov.Model:
    """Feature map -> global average pool -> linear (ResNet-style head)."""
    rng = np.random.default_rng(1)
    image, x = backbone(batch)
    pooled = ops.reduce_mean(x, _i64(2, 3), keep_dims=False)
    return _classifier(image, _linear(pooled, rng, 16, CLASSES, scale=3.0), softmax)


def flatten_mlp(batch: int = -1) -> ov.Model:
    """Feature map -> max-pool -> flatten -> 2-layer MLP (VGG-style head); pool5 is the target."""
    rng = np.random.default_rng(2)
    image, x = backbone(batch)
    pool = ops.max_pool(x, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2])
    pool.set_friendly_name("pool5")
    flat = ops.reshape(pool.output(0), _i64(0, -1), special_zero=True)
    hidden = ops.relu(_linear(flat, rng, 16 * 4 * 4, 32))
    return _classifier(image, _linear(hidden, rng, 32, CLASSES, scale=3.0), softmax=True)


def gap_conv_head(batch: int = -1) -> ov.Model:
    """Feature map -> global average pool -> 1x1 conv + HSwish -> linear (timm MobileNetV3's head)."""
    rng = np.random.default_rng(5)
    image, x = backbone(batch)
    pooled = ops.reduce_mean(x, _i64(2, 3), keep_dims=True)
    conv = ops.convolution(pooled, _const(rng, 24, 16, 1, 1), [1, 1], [0, 0], [0, 0], [1, 1])
    hidden = ops.hswish(ops.add(conv, _const(rng, 1, 24, 1, 1)))
    flat = ops.reshape(hidden, _i64(0, -1), special_zero=True)
    return _classifier(image, _linear(flat, rng, 24, CLASSES, scale=3.0, transposed=True), softmax=True)


def nhwc_head(batch: int = -1, flatten: bool = False, transposed: bool = False) -> ov.Model:
    """Feature map transposed to NHWC before the head, as TF/TFLite graphs keep it."""
    rng = np.random.default_rng(3)
    image, x = backbone(batch)
    nhwc = ops.relu(ops.transpose(x, _i64(0, 2, 3, 1)))
    nhwc.set_friendly_name("nhwc_features")
    if flatten:
        head_in, n_in = ops.reshape(nhwc, _i64(0, -1), special_zero=True), 8 * 8 * 16
    else:
        head_in, n_in = ops.reduce_mean(nhwc, _i64(1, 2), keep_dims=False), 16
    return _classifier(image, _linear(head_in, rng, n_in, CLASSES, scale=3.0, transposed=transposed), softmax=True)


def two_inputs() -> ov.Model:
    model = gap_linear()
    extra = ops.parameter([-1, CLASSES], ov.Type.f32, name="extra")
    summed = ops.add(model.get_results()[0].input_value(0), extra)
    return ov.Model([ops.result(summed)], [model.get_parameters()[0], extra], "two_inputs")


def no_feature_map() -> ov.Model:
    """An MLP on flattened pixels: no convolution, so nothing spatial to explain."""
    rng = np.random.default_rng(4)
    image = ops.parameter([-1, 3, 8, 8], ov.Type.f32, name="image")
    flat = ops.reshape(image, _i64(0, -1), special_zero=True)
    return _classifier(image, _linear(flat, rng, 192, CLASSES), softmax=True)
