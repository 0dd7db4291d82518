"""A brute-force ViT-ReciproCAM sharing no code with the product: it finds the last block's input
itself (the input of the last MVN before the last attention op), cuts the model there and at that
norm's output, and runs the rest once per copy on tokens masked in numpy."""

from __future__ import annotations

import numpy as np
import openvino as ov
from reference import compile_f32, copy_weights, logits_of


def _cut_points(model: ov.Model, block: int) -> tuple[ov.Output, ov.Output]:
    ordered = model.get_ordered_ops()
    attention = ("Softmax", "ScaledDotProductAttention")
    attentions = [
        i
        for i, op in enumerate(ordered)
        if op.get_type_name() in attention and op.get_output_partial_shape(0).rank.get_length() == 4
    ]
    mvn = [op for op in ordered[: attentions[block]] if op.get_type_name() == "MVN"][-1]
    norm = mvn.output(0)
    while True:  # the affine ops, whose other input is a Constant
        consumers = list(norm.get_target_inputs())
        if len(consumers) != 1:
            break
        consumer = consumers[0]
        node = consumer.get_node()
        if node.get_type_name() not in ("Multiply", "Add"):
            break
        if node.input_value(1 - consumer.get_index()).get_node().get_type_name() != "Constant":
            break
        norm = node.output(0)
    return mvn.input_value(0), norm


def vit_recipro_cam(
    model: ov.Model,
    image: np.ndarray,
    h: int,
    w: int,
    kernel: str = "gaussian",
    block: int = -1,
    score: str = "softmax",
) -> np.ndarray:
    """Softmax (or `score="sigmoid"`) maps [classes, h, w] of one image [1, ...], not normalized, masking at the
    input of `block`."""
    model = model.clone()
    tokens, norm = _cut_points(model, block)
    probe = compile_f32(ov.Model([ov.opset13.result(tokens), ov.opset13.result(norm)], model.get_parameters()))
    x, z = (probe(image)[i].astype(np.float32) for i in range(2))
    scores = model.get_results()[0].input_value(0)
    logits = logits_of(model)
    x_in = ov.opset13.parameter(x.shape, ov.Type.f32)
    z_in = ov.opset13.parameter(z.shape, ov.Type.f32)
    for consumer in list(norm.get_target_inputs()):
        consumer.replace_source_output(z_in.output(0))
    for consumer in list(tokens.get_target_inputs()):
        if consumer.get_node().get_type_name() != "MVN":
            consumer.replace_source_output(x_in.output(0))
    tail = compile_f32(ov.Model([ov.opset13.result(logits)], [x_in, z_in]))
    prefix = x.shape[1] - h * w
    maps = np.zeros((scores.get_partial_shape()[1].get_length(), h * w))
    for n in range(h * w):
        mask = np.concatenate([np.ones(prefix), copy_weights(n, h, w, kernel)]).astype(np.float32)[None, :, None]
        out = tail([x * mask, z * mask])[0].reshape(-1).astype(np.float64)
        if score == "sigmoid":
            maps[:, n] = 1.0 / (1.0 + np.exp(-out))
        else:
            e = np.exp(out - out.max())
            maps[:, n] = e / e.sum()
    return maps.reshape(-1, h, w)
