"""Models in and out: read any format OpenVINO converts, fold shape arithmetic, save IR atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import openvino as ov
from openvino.frontend import FrontEndManager

from ..errors import ReciproCamError
from .rt_info import read_model_info, write_model_info

_FRAMEWORKS = {".xml": "ir", ".onnx": "onnx", ".tflite": "tflite", ".pdmodel": "paddle", ".pb": "tf"}
_KERAS_SUFFIXES = frozenset({".h5", ".hdf5", ".keras"})
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# What OpenVINO's TFLite reader says, and what it means for the user.
_TFLITE_FAILURES = (
    ("malformed", "it is corrupted or cut short (its FlatBuffer does not verify)"),
    ("Quantize", "its quantization is one OpenVINO's TFLite reader does not support"),
)
_INTEGER_TYPES = frozenset({ov.Type.i64, ov.Type.i32, ov.Type.u64, ov.Type.u32, ov.Type.boolean})


def read_model(source: ov.Model | str | os.PathLike) -> ov.Model:
    """A private, shape-folded copy of `source`: an ov.Model, an IR .xml, or anything convert_model reads."""
    if isinstance(source, ov.Model):
        model = source.clone()
    else:
        path = Path(source)
        if not path.exists():
            raise ReciproCamError(f"model file not found: {path}")
        _refuse_keras_file(path)
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
            if framework == "tflite":
                raise ReciproCamError(_tflite_failure(path, str(exc)), detail=str(exc)) from None
            raise ReciproCamError(f"cannot read model {path}: {first_line(exc)}", detail=str(exc)) from None
        if framework == "tflite":
            _record_tflite_metadata(model, path)
    fold_shape_arithmetic(model)
    return model


def _refuse_keras_file(path: Path) -> None:
    """Keras .h5/.keras files: OpenVINO reads Keras models only once TensorFlow has loaded them."""
    keras = path.suffix.lower() in _KERAS_SUFFIXES
    if not keras and path.is_file():
        with path.open("rb") as f:
            keras = f.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE
    if keras:
        raise ReciproCamError(
            f"{path} is a Keras model file, which OpenVINO cannot read directly: load it with TensorFlow and "
            "convert it (ov.save_model(ov.convert_model(keras.models.load_model(PATH)), 'model.xml')), or "
            "export it as a SavedModel folder (model.export(DIR)), which patch reads"
        )


def _tflite_failure(path: Path, text: str) -> str:
    why = next((meaning for key, meaning in _TFLITE_FAILURES if key in text), "OpenVINO's TFLite reader failed on it")
    return f"not a readable TFLite file: {path}: {why}; re-export it"


def _record_tflite_metadata(model: ov.Model, path: Path) -> None:
    """The recipe and labels the .tflite file carries (TFLite Model Metadata), as model_info entries.

    Entries already in rt_info stay: rt_info wins over the file's metadata, flags over both.
    """
    from .labels import labels_of, write_labels
    from .tflite_metadata import ColorSpace, read_tflite_metadata

    found = read_tflite_metadata(path)
    if found is None:
        return
    recipe = {}
    if found.mean is not None and found.std is not None:
        recipe |= {"mean_values": _values(found.mean), "scale_values": _values(found.std)}
    if found.color_space is ColorSpace.RGB:
        recipe["reverse_input_channels"] = "True"  # photos are read as BGR
    elif found.color_space is ColorSpace.GRAYSCALE:
        recipe["reverse_input_channels"] = "False"
    write_model_info(model, {k: v for k, v in recipe.items() if read_model_info(model, k) is None})
    if found.labels and labels_of(model) is None:
        write_labels(model, list(found.labels))


def _values(numbers: tuple[float, ...]) -> str:
    return " ".join(f"{v:g}" for v in numbers)


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
