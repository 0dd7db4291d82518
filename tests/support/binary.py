"""Binary classifiers with one output unit, as Keras `Dense(1, activation="sigmoid")` or a torch `Linear(d, 1)`
trained with BCEWithLogitsLoss end: on `builders.backbone`, pooled or flattened, NCHW or NHWC."""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops
from builders import backbone

TARGETS = {"NCHW": "block2", "NHWC": "nhwc_features"}


def _i64(*values: int) -> ov.Node:
    return ops.constant(np.array(values, np.int64))


def binary(unit: str = "sigmoid", tail: str = "pooled", layout: str = "NCHW", batch: int = -1) -> ov.Model:
    """unit: "sigmoid" ([N, 1] probability) or "logit" ([N, 1] from the linear layer); tail: "pooled" or "flatten"."""
    rng = np.random.default_rng(21)
    image, x = backbone(batch)
    axes = (2, 3)
    if layout == "NHWC":
        x = ops.relu(ops.transpose(x, _i64(0, 2, 3, 1)))
        x.set_friendly_name(TARGETS["NHWC"])
        axes = (1, 2)
    if tail == "pooled":
        features, width = ops.reduce_mean(x, _i64(*axes), keep_dims=False), 16
    else:
        features, width = ops.reshape(x, _i64(0, -1), special_zero=True), 16 * 8 * 8
    weights = rng.normal(0, 4 * np.sqrt(2 / width), (width, 1)).astype(np.float32)
    logit = ops.add(ops.matmul(features, ops.constant(weights), False, False), ops.constant(np.float32([0.2])))
    out = ops.sigmoid(logit) if unit == "sigmoid" else logit
    out.output(0).get_tensor().set_names({"score"})
    return ov.Model([ops.result(out)], [image], f"binary_{unit}")
