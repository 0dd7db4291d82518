"""Models in and out: read any format OpenVINO converts, fold shape arithmetic, save IR atomically."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import resource
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openvino as ov
from openvino.frontend import FrontEndManager

from ..errors import ReciproCamError
from .rt_info import MEAN_VALUES, REVERSE_INPUT_CHANNELS, SCALE_VALUES, Key, numbers_text, write_entries

# What we read, by suffix: a file of any other suffix is refused before a frontend guesses at it.
_FORMATS = (
    ("ir", "OpenVINO IR", (".xml",)),
    ("onnx", "ONNX", (".onnx",)),
    ("tflite", "TFLite", (".tflite",)),
    ("tf", "TensorFlow", (".pb", ".pbtxt", ".meta")),
    ("paddle", "PaddlePaddle", (".pdmodel",)),
)
_FRAMEWORKS = {suffix: name for name, _, suffixes in _FORMATS for suffix in suffixes}
_TITLES = {name: title for name, title, _ in _FORMATS}
_READABLE = ", ".join(f"{title} ({' '.join(suffixes)})" for _, title, suffixes in _FORMATS) + " or a SavedModel folder"
# The first bytes of files that are no model (offset, bytes, what it is): a photo given as a model is named as one.
_NOT_MODELS = (
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (0, b"GIF8", "a GIF image"),
    (0, b"BM", "a BMP image"),
    (8, b"WEBP", "a WebP image"),
    (0, b"II*\x00", "a TIFF image"),
    (0, b"MM\x00*", "a TIFF image"),
    (4, b"ftyp", "a video or HEIC image"),
    (0, b"%PDF", "a PDF document"),
    (0, b"PK\x03\x04", "a ZIP archive (unzip a zipped model; export a PyTorch checkpoint to ONNX)"),
    (0, b"\x1f\x8b", "a gzip archive (unpack it first)"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive (unpack it first)"),
    (0, b"\x7fELF", "a program (ELF)"),
)
_KERAS_SUFFIXES = frozenset({".h5", ".hdf5", ".keras"})
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# What OpenVINO's TFLite reader says, and what it means for the user.
_TFLITE_FAILURES = (
    ("malformed", "it is corrupted or cut short (its FlatBuffer does not verify)"),
    ("Quantize", "its quantization is one OpenVINO's TFLite reader does not support"),
)
# Free bytes below which a file system counts as full: less than a writer's buffer.
_FULL = 1 << 20
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
        if path.is_file():
            _refuse_non_model(path)
        framework = _FRAMEWORKS.get(path.suffix.lower())
        model = _convert(path, framework)
        if framework == "tflite":
            _record_tflite_metadata(model, path)
    fold_shape_arithmetic(model)
    return model


def _refuse_non_model(path: Path) -> None:
    """A file that is no model, told by its first bytes, then by its suffix, before any frontend guesses at it."""
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise ReciproCamError(f"cannot read model {path}: {exc.strerror}") from None
    kind = next((kind for at, magic, kind in _NOT_MODELS if head[at:].startswith(magic)), None)
    what = f"it is {kind}, not a model" if kind else None
    if what is None and path.suffix.lower() not in _FRAMEWORKS:
        what = f"its suffix '{path.suffix}' is no model format" if path.suffix else "no suffix tells its format"
    if what:
        raise ReciproCamError(f"cannot read model {path}: {what}; ov-reciprocam reads {_READABLE}")


def _convert(path: Path, framework: str | None) -> ov.Model:
    """The model at `path` through its frontend; what the frontend printed on the way goes to the error's detail."""
    text = ""
    with captured_stderr() as log:
        try:
            # Asked up front: convert_model would try every frontend on a file its own one refuses.
            if framework is None or FrontEndManager().load_by_framework(framework).supported(str(path)):
                return ov.Core().read_model(path) if framework == "ir" else ov.convert_model(path)
        except Exception as exc:  # OpenVINO raises plain RuntimeError/Exception with multi-line text.
            text = str(exc)
    detail = "\n".join(t for t in (log.getvalue().strip(), text) if t) or None
    if not text:
        title = _TITLES[framework] if framework else "model"  # None: convert_model raised an empty message
        raise ReciproCamError(f"cannot read model {path}: not a valid {title} file", detail=detail)
    if framework == "tflite":
        raise ReciproCamError(_tflite_failure(path, text), detail=detail)
    raise ReciproCamError(f"cannot read model {path}: {_read_failure(path, framework, text)}", detail=detail)


@contextlib.contextmanager
def captured_stderr() -> Iterator[io.StringIO]:
    """Keep what C++ code prints to file descriptor 2 in the block (TensorFlow's absl log, OpenCV's warnings) off
    the terminal; the StringIO holds it once the block ends, for an error's `detail`."""
    log = io.StringIO()
    chunks: list[bytes] = []
    sys.stderr.flush()
    saved = os.dup(2)
    # A pipe, not a temporary file: reading a model writes nothing. A thread drains it, so that a frontend that
    # prints more than the pipe holds does not block.
    reader, writer = os.pipe()
    drain = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(reader, 1 << 16), b"")), daemon=True)
    drain.start()
    os.dup2(writer, 2)
    os.close(writer)
    try:
        yield log
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the thread reads to its end
        os.close(saved)
        drain.join(timeout=5)  # a child process the frontend left running may hold the pipe open
        log.write(b"".join(chunks).decode(errors="replace"))
        if not drain.is_alive():  # else the thread still reads from it
            os.close(reader)


def _read_failure(path: Path, framework: str | None, text: str) -> str:
    """OpenVINO's text on a model it could not read, as the cause in the user's words."""
    if ops := re.search(r"No conversion rule found for operations: (.+)", text):
        names = [_op_name(op.strip(), framework) for op in ops.group(1).split(",")]
        return (
            f"OpenVINO has no conversion for its op{'s' * (len(names) > 1)} {', '.join(names)}; export the model "
            "without it, or load an OpenVINO extension for a custom op"
        )
    if external := re.search(r"externally stored data in file \((.+?), offset", text):
        data = path.parent / external.group(1)
        if not data.exists():
            return f"its external data file {data.name} is missing (it must sit beside {path.name})"
        return f"its external data file {data.name} is shorter than the model says (cut short? copy it again)"
    if missing := re.search(r"Input tensor isn't found for node \"(.+?)\"", text):
        return _missing_tensor(path, missing.group(1))
    weights = path.with_suffix(".bin").name
    if framework == "ir" and "bin file cannot be found" in text:
        return f"its weights file {weights} is missing or empty (it must sit beside {path.name})"
    if framework == "ir" and "Incorrect weights in bin file" in text:
        return f"its weights file {weights} is shorter than {path.name} says (cut short, or another model's)"
    if "While validating node" in text:
        node = re.search(r"with friendly_name '(.+?)'", text)
        fails = f"its node '{node.group(1) if node else '?'}' fails OpenVINO's shape checks"
        if framework == "ir":
            return f"{fails}: {weights} does not fit {path.name} (damaged, or another model's); save them together"
        return f"{fails} (a damaged model, or one exported wrong)"
    return first_line(text)


def _op_name(op: str, framework: str | None) -> str:
    """`Zorp-13` (the default domain, opset 13) or `com.example.Frobnicate`, as the op and its ONNX domain."""
    if framework != "onnx":
        return op
    named = re.fullmatch(r"(?:(.+)\.)?([^.]+?)(?:-(\d+))?", op)
    if named is None:
        return op
    domain, name, version = named.groups()
    opset = f", opset {version}" if version else ""
    return f"{name} (domain {domain or 'ai.onnx'}{opset})"


def _missing_tensor(path: Path, name: str) -> str:
    """An ONNX node reads `name`, which OpenVINO found nowhere: made by no one, or only by a cycle."""
    nodes = _onnx_nodes(path)
    if any(name in outputs for _, _, outputs in nodes):
        return f'its graph has a cycle: "{name}" is needed to compute itself; ONNX graphs must be acyclic'
    reader = next((f"its {op} node reads" for op, inputs, _ in nodes if name in inputs), "it reads")
    return f'{reader} "{name}", which no initializer, input or node makes (a weight left out at export?)'


def _onnx_nodes(path: Path) -> list[tuple[str, list[str], list[str]]]:
    """(op type, inputs, outputs) of the ONNX graph's nodes, read from the protobuf wire format (ModelProto.graph
    is field 7, GraphProto.node 1, NodeProto.input 1, output 2, op_type 4): the onnx package is no dependency of
    ours. Empty when the file does not parse."""
    try:
        graph = next(value for number, value in _fields(memoryview(path.read_bytes())) if number == 7)
        nodes = []
        for number, node in _fields(graph):
            if number == 1:
                fields = [(k, bytes(v).decode()) for k, v in _fields(node)]
                op = next((v for k, v in fields if k == 4), "?")
                nodes.append((op, [v for k, v in fields if k == 1], [v for k, v in fields if k == 2]))
        return nodes
    except (OSError, ValueError, IndexError, StopIteration):  # UnicodeDecodeError is a ValueError
        return []


def _fields(message: memoryview) -> Iterator[tuple[int, memoryview]]:
    """(field number, bytes) of a protobuf message's length-delimited fields; numbers and fixed-size fields are
    skipped. ValueError or IndexError when the bytes are no protobuf message."""
    at = 0
    while at < len(message):
        key, at = _varint(message, at)
        kind = key & 7
        if kind == 0:
            _, at = _varint(message, at)
        elif kind in (1, 5):
            at += 8 if kind == 1 else 4
        elif kind == 2:
            size, at = _varint(message, at)
            if at + size > len(message):
                raise ValueError("a field runs past the message")
            yield key >> 3, message[at : at + size]
            at += size
        else:
            raise ValueError(f"protobuf wire type {kind}")


def _varint(data: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if byte < 0x80:
            return value, at


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
    recipe: dict[Key, str] = {}
    if found.mean is not None and found.std is not None:
        recipe |= {MEAN_VALUES: numbers_text(found.mean), SCALE_VALUES: numbers_text(found.std)}
    if found.color_space is ColorSpace.RGB:
        recipe[REVERSE_INPUT_CHANNELS] = "True"  # photos are read as BGR
    elif found.color_space is ColorSpace.GRAYSCALE:
        recipe[REVERSE_INPUT_CHANNELS] = "False"
    write_entries(model, recipe, keep=True)
    if found.labels and labels_of(model) is None:
        write_labels(model, list(found.labels))


def first_line(exc: BaseException | str) -> str:
    """The first informative line of an OpenVINO error (or its text), which otherwise spans a C++ backtrace."""
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
    try:
        xml.parent.mkdir(parents=True, exist_ok=True)
        tmp_dir = Path(tempfile.mkdtemp(prefix=".tmp-", dir=xml.parent))
    except OSError as exc:
        raise write_failure(xml, exc) from None
    try:
        tmp_xml = tmp_dir / xml.name
        try:
            ov.save_model(model, tmp_xml, compress_to_fp16=compress_to_fp16)
        except Exception as exc:  # its C++ writer says `basic_ios::clear: iostream error`, whatever the cause
            raise write_failure(xml, exc, _unsaid_cause(tmp_dir)) from None
        # The .bin first: a reader who sees the new .xml must find its weights.
        os.replace(tmp_xml.with_suffix(".bin"), xml.with_suffix(".bin"))
        os.replace(tmp_xml, xml)
    except OSError as exc:
        raise write_failure(xml, exc) from None
    finally:
        for leftover in tmp_dir.iterdir():
            leftover.unlink()
        tmp_dir.rmdir()
    return xml


def write_failure(path: Path, exc: Exception, cause: int | None = None) -> ReciproCamError:
    """A failed write of `path` in words: the cause is `exc`'s errno, or `cause` for a writer that gives none."""
    code = exc.errno if isinstance(exc, OSError) else cause
    if code in (errno.ENOSPC, errno.EDQUOT):
        full = "no space" if code == errno.ENOSPC else "no disk quota"
        message = f"{full} left on {_mount_point(path)} writing {path}: free some space, or write elsewhere"
    elif code == errno.EFBIG:
        message = f"cannot write {path}: it outgrows the file size limit (ulimit -f) or the file system's largest file"
    elif code == errno.EROFS:
        message = f"cannot write {path}: {_mount_point(path)} is mounted read-only; write elsewhere"
    elif code in (errno.EACCES, errno.EPERM):
        message = f"cannot write {path}: no permission to write in {path.parent}; write elsewhere"
    elif isinstance(exc, OSError) and exc.strerror:
        message = f"cannot write {path}: {exc.strerror.lower()}"
    else:
        message = f"cannot write {path}: OpenVINO's writer failed"
    return ReciproCamError(message, detail=None if isinstance(exc, OSError) else str(exc))


def _unsaid_cause(folder: Path) -> int | None:
    """Why a write into `folder` failed, for a writer that says no errno: a file size limit it reached, or a full
    file system (less than a write buffer left); None when neither."""
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and any(f.stat().st_size >= limit for f in folder.iterdir()):
        return errno.EFBIG
    stats = os.statvfs(folder)
    return errno.ENOSPC if stats.f_bavail * stats.f_frsize < _FULL else None


def _mount_point(path: Path) -> Path:
    """The mount point of the file system `path` is on, which names the disk that is full."""
    at = path.resolve()
    while not os.path.ismount(at):
        at = at.parent
    return at
