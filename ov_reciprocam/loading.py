"""Models in and out: read any format OpenVINO converts, fold shape arithmetic, save IR atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import openvino as ov
from openvino.frontend import FrontEndManager

from .errors import ReciproCamError

_FRAMEWORKS = {".xml": "ir", ".onnx": "onnx", ".tflite": "tflite", ".pdmodel": "paddle", ".pb": "tf"}
_INTEGER_TYPES = frozenset({ov.Type.i64, ov.Type.i32, ov.Type.u64, ov.Type.u32, ov.Type.boolean})


def read_model(source: ov.Model | str | os.PathLike) -> ov.Model:
    """A private, shape-folded copy of `source`: an ov.Model, an IR .xml, or anything convert_model reads."""
    if isinstance(source, ov.Model):
        model = source.clone()
    else:
        path = Path(source)
        if not path.exists():
            raise ReciproCamError(f"model file not found: {path}")
        framework = _FRAMEWORKS.get(path.suffix.lower())
        if framework and not FrontEndManager().load_by_framework(framework).supported(str(path)):
            # Checked up front: convert_model would try every frontend and some print C++ logs.
            raise ReciproCamError(f"cannot read model {path}: not a valid {framework} model")
        try:
            if framework == "ir":
                model = ov.Core().read_model(path)
            else:
                model = ov.convert_model(path)
        except Exception as exc:  # OpenVINO raises plain RuntimeError/Exception with multi-line text.
            raise ReciproCamError(f"cannot read model {path}: {first_line(exc)}") from None
    fold_shape_arithmetic(model)
    return model


def first_line(exc: BaseException) -> str:
    """The first informative line of an OpenVINO error, which otherwise spans a C++ backtrace."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    skipped = ("Check ", "Exception from", "[ GENERAL_ERROR ]", "Converting input model")
    useful = [ln for ln in lines if not ln.startswith(skipped)]
    return (useful or lines or [type(exc).__name__])[0]


def fold_shape_arithmetic(model: ov.Model) -> None:
    """Turn ShapeOf-driven integer subgraphs into constants, in place.

    ONNX exports compute pooling axes and flatten shapes at run time (ShapeOf -> Gather -> Concat);
    folding them makes the structure readable and the fixed batch visible. Only integer tensors are
    folded: OpenVINO's ConstantFolding pass would also decompress FP16 weights and double the IR.
    """
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind in ("Constant", "Parameter", "Result") or op.get_output_size() != 1:
            continue
        out = op.output(0)
        if out.get_element_type() not in _INTEGER_TYPES or not out.get_partial_shape().is_static:
            continue
        if kind == "ShapeOf":
            source = op.get_input_partial_shape(0)
            if not source.is_static:
                continue
            value = np.array(list(source.to_shape()), dtype=out.get_element_type().to_dtype())
        else:
            values = [v.get_node() for v in op.input_values()]
            if not all(v.get_type_name() == "Constant" for v in values):
                continue
            result = ov.Tensor(out.get_element_type(), out.get_shape())
            if not op.evaluate([result], [ov.Tensor(np.asarray(v.get_data())) for v in values]):
                continue
            value = result.data.copy()
        const = ov.op.Constant(value)
        const.set_friendly_name(op.get_friendly_name())
        out.replace(const.output(0))


def save_model(model: ov.Model, path: str | os.PathLike, *, compress_to_fp16: bool = False) -> Path:
    """Write `model` as IR (.xml + .bin); both files appear together or not at all."""
    xml = Path(path)
    if xml.suffix.lower() != ".xml":
        raise ReciproCamError(f"output must be an IR .xml path, got {xml}")
    xml.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=".tmp-", dir=xml.parent))
    try:
        tmp_xml = tmp_dir / xml.name
        ov.save_model(model, tmp_xml, compress_to_fp16=compress_to_fp16)
        # The .bin first: a reader who sees the new .xml must find its weights.
        os.replace(tmp_xml.with_suffix(".bin"), xml.with_suffix(".bin"))
        os.replace(tmp_xml, xml)
    finally:
        for leftover in tmp_dir.iterdir():
            leftover.unlink()
        tmp_dir.rmdir()
    return xml
