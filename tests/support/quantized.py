"""Quantized classifiers as edge toolchains write them, built with onnx.helper: QDQ ONNX, integer ports.

Every activation goes through QuantizeLinear -> DequantizeLinear (OpenVINO reads the pair as one
FakeQuantize); weights are stored as int8 and dequantized. The ports are float, int8 or uint8: an
integer input is dequantized by the graph, an integer output is the last QuantizeLinear's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CLASSES = 10
_TYPES = {"float": TensorProto.FLOAT, "int8": TensorProto.INT8, "uint8": TensorProto.UINT8}
_NUMPY = {"int8": np.int8, "uint8": np.uint8}


@dataclass(frozen=True)
class Port:
    """A port's type and, for an integer one, its quantization: real = (q - zero_point) * scale."""

    kind: str = "float"  # float, int8, uint8
    scale: float = 1.0
    zero_point: int = 0


class _Graph:
    def __init__(self) -> None:
        self.nodes: list = []
        self.inits: list = []
        self._n = 0

    def name(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def const(self, value: np.ndarray, stem: str = "c") -> str:
        name = self.name(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, kind: str, inputs: list[str], stem: str | None = None, output: str | None = None, **attrs) -> str:
        out = output or self.name(stem or kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def quantize(self, x: str, scale: float, zero_point: int, kind: str = "uint8", output: str | None = None) -> str:
        zp = np.array(zero_point, _NUMPY[kind])
        return self.op("QuantizeLinear", [x, self.const(np.float32(scale)), self.const(zp)], output=output)

    def dequantize(self, q: str, scale: float, zero_point: int, kind: str = "uint8", output: str | None = None) -> str:
        zp = np.array(zero_point, _NUMPY[kind])
        return self.op("DequantizeLinear", [q, self.const(np.float32(scale)), self.const(zp)], output=output)

    def qdq(self, x: str, low: float, high: float, output: str | None = None) -> str:
        """x through a uint8 Q/DQ pair covering [low, high]."""
        scale = (high - low) / 255
        zero_point = int(round(-low / scale))
        return self.dequantize(self.quantize(x, scale, zero_point), scale, zero_point, output=output)

    def weights(self, w: np.ndarray) -> str:
        """int8 weights, symmetric per tensor, dequantized in-graph."""
        scale = float(np.abs(w).max()) / 127
        q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
        return self.dequantize(self.const(q, "w"), scale, 0, "int8")


def classifier(
    path: Path,
    *,
    image: Port = Port(),
    scores: Port = Port(),
    softmax: bool = True,
    channels: int = 3,
    size: int = 32,
    pooled_high: float = 6.0,
    seed: int = 0,
) -> Path:
    """Image [1, channels, size, size] -> two strided convs with ReLU -> "block2" [1, 16, size/4, size/4]
    -> mean pool -> linear -> logits (-> softmax), every activation Q/DQ'd; the ports as given.

    pooled_high: the top of the pooled vector's quantizer. A masked copy pools one position's value over
    all (size/4)^2, which a coarse quantizer rounds to 0 on large maps: every copy then scores alike.
    """
    rng = np.random.default_rng(seed)
    g = _Graph()
    x = "image"
    if image.kind == "float":
        x = g.qdq(x, -2.0, 2.0)
    else:
        x = g.dequantize(x, image.scale, image.zero_point, image.kind)
    w1 = rng.normal(0, np.sqrt(2 / (channels * 9)), (8, channels, 3, 3)).astype(np.float32)
    x = g.op("Conv", [x, g.weights(w1)], pads=[1, 1, 1, 1], strides=[2, 2])
    x = g.qdq(g.op("Relu", [x]), 0.0, 6.0)
    w2 = rng.normal(0, np.sqrt(2 / 72), (16, 8, 3, 3)).astype(np.float32)
    x = g.op(
        "Conv",
        [x, g.weights(w2), g.const(rng.normal(0, 0.1, 16).astype(np.float32))],
        pads=[1, 1, 1, 1],
        strides=[2, 2],
    )
    x = g.qdq(g.op("Relu", [x]), 0.0, 6.0, output="block2")
    pooled = g.qdq(g.op("ReduceMean", [x, g.const(np.array([2, 3], np.int64))], keepdims=0), 0.0, pooled_high)
    w3 = rng.normal(0, 3 * np.sqrt(2 / 16), (16, CLASSES)).astype(np.float32)
    logits = g.op(
        "Add", [g.op("MatMul", [pooled, g.weights(w3)]), g.const(rng.normal(0, 0.1, CLASSES).astype(np.float32))]
    )
    logits = g.qdq(logits, -16.0, 16.0, output="logits")
    out = g.op("Softmax", [logits], axis=1) if softmax else logits
    if scores.kind == "float":
        low, high = (0.0, 1.0) if softmax else (-16.0, 16.0)
        out = g.qdq(out, low, high, output="scores")
    else:
        out = g.quantize(out, scores.scale, scores.zero_point, scores.kind, output="scores")
    graph = helper.make_graph(
        g.nodes,
        "quantized",
        [helper.make_tensor_value_info("image", _TYPES[image.kind], [1, channels, size, size])],
        [helper.make_tensor_value_info("scores", _TYPES[scores.kind], [1, CLASSES])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
