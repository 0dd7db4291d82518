"""A brute-force Recipro-CAM that shares no code with the product but its model loader.

It finds the target by the caller's description (a node or tensor name, or the op type and shape
the test expects), the logits by its own walk back from the model output, cuts the model at the
target into a separate tail model with its own input, masks the feature map in numpy one spatial
position at a time, and runs the tail once per position.
"""

from __future__ import annotations

import numpy as np
import openvino as ov

CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}
_RELABEL = {"Reshape", "Squeeze", "Unsqueeze", "Convert", "FakeQuantize"}  # a quantized output's steps too
_ACTIVATIONS = {"Softmax", "LogSoftmax", "Sigmoid"}

Target = str | tuple[str, tuple[int, int, int]]  # a name, or (producing op type, (C, H, W))


def compile_f32(model: ov.Model) -> ov.CompiledModel:
    return ov.Core().compile_model(model, "CPU", CONFIG)


def feature_map(model: ov.Model, target: ov.Output, image: np.ndarray) -> np.ndarray:
    probe = ov.Model([ov.opset13.result(target)], model.get_parameters())
    return compile_f32(probe)(image)[0]


def tail_model(model: ov.Model, target: ov.Output, end: ov.Output) -> ov.Model:
    """`end` as a function of a new input standing where `target` was."""
    inp = ov.opset13.parameter(target.get_partial_shape(), target.get_element_type())
    for consumer in list(target.get_target_inputs()):
        consumer.replace_source_output(inp.output(0))
    return ov.Model([ov.opset13.result(end)], [inp])


def dominators(model: ov.Model, output: int = 0) -> list[ov.Output]:
    """Tensors on every data path from the input to the output, input first, by brute force: a tensor is one
    when the output cannot be reached from the input without it (shape-only edges carry no data)."""
    ordered = model.get_ordered_ops()
    end = model.get_results()[output].input_value(0)

    def key(o: ov.Output) -> tuple[int, int]:
        return o.get_node().get_instance_id(), o.get_index()

    def reaches(without: tuple[int, int] | None) -> bool:
        live: set[tuple[int, int]] = set()
        for op in ordered:
            sources = [] if op.get_type_name() == "ShapeOf" else [key(v) for v in op.input_values()]
            if op.get_type_name() == "Parameter" or any(k in live for k in sources):
                live |= {key(o) for o in op.outputs() if key(o) != without}
        return key(end) in live

    candidates = [o for op in ordered if op.get_type_name() not in ("Constant", "Result") for o in op.outputs()]
    return [o for o in candidates if key(o) != key(end) and not reaches(key(o))] + [end]


def find_target(model: ov.Model, target: Target, layout: str = "NCHW") -> ov.Output:
    """The tensor `target` describes: a name, TYPE#N (the N-th tensor, from the input, that every path to the
    output goes through), or for (op type, shape) the last one in topological order."""
    outputs = [out for op in model.get_ordered_ops() for out in op.outputs()]
    if isinstance(target, str) and "#" in target and not any(target in o.get_names() for o in outputs):
        kind, index = target.split("#")
        found = dominators(model)[int(index)]
        assert found.get_node().get_type_name() == kind, f"{target} is a {found.get_node().get_type_name()}"
        return found
    if isinstance(target, str):
        named = [
            o
            for o in outputs
            if target in o.get_names()
            or target == o.get_node().get_friendly_name()
            or target == f"{o.get_node().get_friendly_name()}:{o.get_index()}"
        ]
        assert named, f"no tensor named {target}"
        return named[0]
    kind, (c, h, w) = target
    dims = [c, h, w] if layout == "NCHW" else [h, w, c]
    found = [
        o
        for o in outputs
        if o.get_node().get_type_name() == kind
        and o.get_index() == 0  # MaxPool's second output holds indices
        and o.get_partial_shape().rank.get_length() == 4
        and [d.get_length() if d.is_static else -1 for d in o.get_partial_shape()][1:] == dims
    ]
    assert found, f"no {kind} output of shape {dims}"
    return found[-1]


def logits_of(model: ov.Model, output: int = 0) -> ov.Output:
    """The model output's tensor, behind a final Softmax, LogSoftmax or Sigmoid if there is one, and behind
    the quantize steps of a quantized output."""
    out = model.get_results()[output].input_value(0)
    quantized = False
    while out.get_node().get_type_name() in _RELABEL:
        quantized |= out.get_node().get_type_name() == "FakeQuantize"
        out = out.get_node().input_value(0)
    if out.get_node().get_type_name() in _ACTIVATIONS:
        return out.get_node().input_value(0)
    return out if quantized else model.get_results()[output].input_value(0)  # float logits behind a quantizer


KERNELS = {"gaussian": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16, "window": np.ones((3, 3))}


def copy_weights(n: int, h: int, w: int, kernel: str) -> np.ndarray:
    """Copy n's weight at each of the h*w positions."""
    y, x = divmod(n, w)
    grid = np.zeros((h, w))
    if kernel == "onehot":
        grid[y, x] = 1
    else:
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if 0 <= y + dy < h and 0 <= x + dx < w:
                    grid[y + dy, x + dx] = KERNELS[kernel][dy + 1, dx + 1]
    return grid.reshape(-1)


def recipro_cam(
    model,
    image: np.ndarray,
    target: Target,
    score: str = "softmax",
    features: np.ndarray | None = None,
    layout: str = "NCHW",
    output: int = 0,
    logits: str | None = None,
    kernel: str = "onehot",
) -> np.ndarray:
    """Maps [classes, H, W] of one image [1, ...], not normalized.

    score: "softmax", "logits" or "sigmoid" of the logits; "output" scores each copy by the model
    output itself (for heads whose probabilities are sliced or scaled after the softmax).
    logits: the name of the logits tensor, for heads whose softmax the walk back does not know.
    features: the target's value to mask, when the caller has it from the very inference it checks
    (INT8 backbones compiled on their own may round a quantizer differently); else computed here.
    kernel: "onehot" keeps F at the copy's position alone; "gaussian" its 3x3 neighbourhood weighted 1-2-1 / 16;
        "window" that neighbourhood whole.
    """
    import ov_reciprocam as orc

    base = orc.read_model(model)  # loading only: shape arithmetic folded, as any OpenVINO user can
    spot = find_target(base, target, layout)
    fmap = feature_map(base, spot, image) if features is None else features  # [1, K, H, W] or NHWC
    if score == "output":
        end = base.get_results()[output].input_value(0)
    else:
        end = find_target(base, logits) if logits else logits_of(base, output)
    tail = compile_f32(tail_model(base, spot, end))
    h, w = fmap.shape[2:] if layout == "NCHW" else fmap.shape[1:3]
    maps = None
    for y in range(h):
        for x in range(w):
            keep = copy_weights(y * w + x, h, w, kernel).reshape(h, w).astype(fmap.dtype)
            masked = fmap * (keep[None, None] if layout == "NCHW" else keep[None, :, :, None])
            values = tail(masked)[0].reshape(-1).astype(np.float64)
            if score == "softmax":
                e = np.exp(values - values.max())
                values = e / e.sum()
            elif score == "sigmoid":
                values = 1.0 / (1.0 + np.exp(-values))
            if maps is None:
                maps = np.zeros((values.size, h, w), np.float64)
            maps[:, y, x] = values
    return maps
