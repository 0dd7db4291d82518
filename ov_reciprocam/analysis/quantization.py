"""The quantize steps at a model's edges, read from structure: what an integer input or output stands for.

Edge toolchains quantize a classifier's ports. TFLite's uint8 and int8 models and ONNX QDQ models
(which OpenVINO reads as FakeQuantize) take an integer image and give integer scores; inside, the
graph dequantizes the input (Convert, then FakeQuantize or Subtract/Multiply by constants) and
quantizes the scores it computed in float (FakeQuantize, then Convert). Both ends are affine maps
between the integers and the floats a trained model means: `Affine` holds one.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import openvino as ov

from ..vocabulary import Affine
from .ops import WEIGHT_STEPS, constant_value

# Ops that only relabel a tensor on its way to or from a port.
RELABEL_OPS = frozenset({"Reshape", "Squeeze", "Unsqueeze", "Convert"})
# Ops that move axes of an input before it is dequantized (TFLite's NHWC ports).
_LAYOUT_OPS = frozenset({"Transpose", "Reshape", "Squeeze", "Unsqueeze"})


@dataclass(frozen=True)
class InputQuantization:
    """How a float model input becomes the integers an integer port takes: the inverse of its dequantize."""

    dequantize: Affine
    dtype: str  # numpy dtype name of the port: uint8, int8, ...

    @property
    def bounds(self) -> tuple[int, int]:
        info = np.iinfo(np.dtype(self.dtype))
        return int(info.min), int(info.max)

    def real_range(self) -> tuple[float, float]:
        """The floats the port's smallest and largest integers stand for."""
        low, high = self.dequantize.real(np.array(self.bounds))
        return float(low), float(high)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Floats -> the port's integers: rounded to nearest (OpenVINO would truncate a float fed to it) and clipped."""
        d = self.dequantize
        stored = np.rint(np.asarray(x, np.float64) / d.scale + d.zero_point)
        low, high = self.bounds
        return np.clip(stored, low, high).astype(self.dtype)


def fake_quantize_map(node: ov.Node, forward: bool = False) -> Affine | None:
    """A FakeQuantize with scalar ranges as an affine map: from its output values back to the reals of its
    input (a quantize step), or `forward`, from its input to its output (a dequantize step).

    FakeQuantize maps [in_low, in_high] onto `levels` steps of [out_low, out_high]; an output value y
    stands for in_low + (y - out_low) * (in_high - in_low) / (out_high - out_low). Per-channel ranges
    give None: they are no single map.
    """
    if node.get_type_name() != "FakeQuantize":
        return None
    bounds = []
    for value in node.input_values()[1:]:
        data = constant_value(value)
        if data is None or data.size != 1:
            return None
        bounds.append(float(data.reshape(-1)[0]))
    in_low, in_high, out_low, out_high = bounds
    if out_high == out_low or in_high == in_low:
        return None
    if forward:
        in_low, in_high, out_low, out_high = out_low, out_high, in_low, in_high
    scale = (in_high - in_low) / (out_high - out_low)
    return Affine(scale, out_low - in_low / scale)


def scores_behind(output: ov.Output) -> tuple[ov.Output, Affine]:
    """The float scores a model output is made from, and how its values map back to them.

    Walks back through relabelling ops (Reshape, Squeeze, Convert to an integer type) and scalar
    FakeQuantize steps; a model output with no quantize step gives itself and the identity.
    """
    behind, dequantize, out = output, Affine(), output
    while True:
        node = out.get_node()
        if node.get_type_name() in RELABEL_OPS:
            out = node.input_value(0)
            continue
        step = fake_quantize_map(node)
        if step is None:
            return behind, dequantize
        # Relabelling ops before the output's last quantize step stay with the scores they relabel.
        dequantize, out = dequantize.then(step), node.input_value(0)
        behind = out


def input_quantization(model: ov.Model) -> InputQuantization | None:
    """How the single integer input is dequantized, or None for a float input or a dequantize not read.

    Follows the input through ops that move axes, its Convert to float, then constant Subtract,
    Add, Multiply, Divide and scalar FakeQuantize steps, each the only consumer of what precedes it.
    """
    param = model.get_parameters()[0]
    dtype = param.get_element_type()
    if not dtype.is_integral_number() or dtype == ov.Type.boolean:
        return None
    out = param.output(0)
    real = Affine()
    converted = False
    while len(consumers := list(out.get_target_inputs())) == 1:
        node = consumers[0].get_node()
        kind = node.get_type_name()
        if kind in _LAYOUT_OPS and consumers[0].get_index() == 0:
            pass
        elif kind == "Convert" and not converted:
            converted = node.get_output_element_type(0).is_real()
            if not converted:
                return None
        elif not converted:
            return None
        elif (step := _constant_step(node, out) or fake_quantize_map(node, forward=True)) is not None:
            real = real.then(step)
        else:
            break
        out = node.output(0)
    if not converted:
        return None
    return InputQuantization(real, dtype.to_dtype().name)


def _constant_step(node: ov.Node, data: ov.Output) -> Affine | None:
    """An elementwise op of `data` and a scalar constant, as an affine map of `data`'s values."""
    kind = node.get_type_name()
    if kind not in ("Subtract", "Add", "Multiply", "Divide"):
        return None
    values = node.input_values()
    others = [v for v in values if v != data]
    # A frontend converts an integer zero point to float in-graph.
    constant = constant_value(others[0], through=("Convert",)) if len(others) == 1 else None
    if constant is None or constant.size != 1 or (kind in ("Subtract", "Divide") and values[0] != data):
        return None  # c - x and c / x are no quantize steps
    c = float(constant.reshape(-1)[0])
    if kind == "Subtract":
        return Affine(1.0, c)
    if kind == "Add":
        return Affine(1.0, -c)
    if kind == "Multiply":
        return Affine(c, 0.0) if c else None
    return Affine(1.0 / c, 0.0) if c else None


def quantizes_activations(model: ov.Model, among: Collection[int]) -> bool:
    """Whether a FakeQuantize among the ops `among` (instance ids) quantizes computed values, not weights.

    The device then runs the ops around it on integers (the CPU plugin's low-precision pooling and
    convolutions) and rounds each step its own way, so only the model's own ops on each copy give the
    model's answer: a shortcut that reorders the arithmetic may land on the other side of a quantizer's
    half-step (measured: up to 19 % of a map's spread on Google's uint8 MobileNetV1 0.25/128).
    """
    return any(
        op.get_type_name() == "FakeQuantize"
        and op.get_instance_id() in among
        and constant_value(op.input_value(0), WEIGHT_STEPS) is None
        for op in model.get_ordered_ops()
    )
