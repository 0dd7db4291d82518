"""A brute-force Recipro-CAM that shares no code with the product's graph builder.

It cuts the model at the target into a separate tail model with its own input, masks the
feature map in numpy one spatial position at a time, and runs the tail once per position.
"""

from __future__ import annotations

import numpy as np
import openvino as ov

CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}


def compile_f32(model: ov.Model) -> ov.CompiledModel:
    return ov.Core().compile_model(model, "CPU", CONFIG)


def feature_map(model: ov.Model, target: ov.Output, image: np.ndarray) -> np.ndarray:
    probe = ov.Model([ov.opset13.result(target)], model.get_parameters())
    return compile_f32(probe)(image)[0]


def tail_model(model: ov.Model, target: ov.Output, logits: ov.Output) -> ov.Model:
    """logits as a function of a new input standing where `target` was."""
    inp = ov.opset13.parameter(target.get_partial_shape(), target.get_element_type())
    for consumer in list(target.get_target_inputs()):
        consumer.replace_source_output(inp.output(0))
    return ov.Model([ov.opset13.result(logits)], [inp])


def recipro_cam(
    model, image: np.ndarray, target: str | None = None, score: str = "softmax", features: np.ndarray | None = None
) -> np.ndarray:
    """Maps [classes, H, W] of one image [1, ...], scored by softmax or logits, not normalized.

    features: the target's value to mask, when the caller has it from the very inference it checks
    (INT8 backbones compiled on their own may round a quantizer differently); else computed here.
    """
    import ov_reciprocam as orc

    base = orc.read_model(model)
    loc = orc.locate(base, target)
    fmap = feature_map(base, loc.target.output, image) if features is None else features  # [1, K, H, W] or NHWC
    tail = compile_f32(tail_model(base, loc.target.output, loc.logits))
    h, w = loc.target.height, loc.target.width
    maps = np.zeros((loc.classes, h, w), np.float64)
    for y in range(h):
        for x in range(w):
            masked = np.zeros_like(fmap)
            if loc.target.layout == "NCHW":
                masked[:, :, y, x] = fmap[:, :, y, x]
            else:
                masked[:, y, x, :] = fmap[:, y, x, :]
            logits = tail(masked)[0].reshape(-1).astype(np.float64)
            if score == "softmax":
                e = np.exp(logits - logits.max())
                logits = e / e.sum()
            maps[:, y, x] = logits
    return maps
