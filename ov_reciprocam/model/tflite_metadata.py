"""The TFLite Model Metadata Google embeds in .tflite files: normalization, colour space, labels, name.

A .tflite file is a `Model` flatbuffer (identifier "TFL3", tensorflow/lite/schema/schema.fbs). Its
`metadata` vector may name an entry "TFLITE_METADATA" whose buffer holds a second flatbuffer, a
`ModelMetadata` (identifier "M001", tflite-support metadata_schema.fbs). The files that metadata
refers to (the label file) are appended to the .tflite as a zip archive.

The flatbuffer reader below is deliberately small and read-only: it knows tables, vtables, vectors,
strings and unions, and checks every offset against the buffer, so that a truncated or hostile file
gives a one-line ReciproCamError instead of a struct.error or a huge allocation.
"""

from __future__ import annotations

import mmap
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..errors import ReciproCamError

METADATA_NAME = "TFLITE_METADATA"

# Field slots, in declaration order (no schema uses explicit `id:` attributes). A union field takes
# two slots: its type (ubyte) and then its value (a table offset).
_MODEL_BUFFERS, _MODEL_METADATA = 4, 6
_METADATA_NAME, _METADATA_BUFFER = 0, 1
_BUFFER_DATA, _BUFFER_OFFSET, _BUFFER_SIZE = 0, 1, 2
_MM_NAME, _MM_SUBGRAPHS, _MM_FILES = 0, 3, 6
_SG_INPUTS, _SG_OUTPUTS, _SG_FILES = 2, 3, 4
_TM_CONTENT, _TM_PROCESS_UNITS, _TM_FILES = 3, 4, 6
_CONTENT_TYPE, _CONTENT_VALUE = 0, 1
_IMAGE_COLOR_SPACE = 0
_PU_TYPE, _PU_VALUE = 0, 1
_NORM_MEAN, _NORM_STD = 0, 1
_FILE_NAME, _FILE_TYPE = 0, 2

# Union member numbers (0 is NONE) and enum values.
_IMAGE_PROPERTIES = 2  # ContentProperties: FeatureProperties = 1, ImageProperties = 2, ...
_NORMALIZATION_OPTIONS = 1  # ProcessUnitOptions
_TENSOR_AXIS_LABELS = 2  # AssociatedFileType


class ColorSpace(Enum):
    """metadata_schema.fbs ColorSpaceType."""

    UNKNOWN = 0
    RGB = 1
    GRAYSCALE = 2


@dataclass(frozen=True)
class TfliteMetadata:
    """What a classifier needs from TFLite metadata; None (or UNKNOWN) where the file does not say.

    The schema's normalization is `(x - mean) / std` per channel; a single value means every channel.
    """

    mean: tuple[float, ...] | None  # NormalizationOptions.mean of the first input tensor's process units
    std: tuple[float, ...] | None  # NormalizationOptions.std, same place
    color_space: ColorSpace  # ImageProperties.color_space of the first input tensor's content
    labels: tuple[str, ...] | None  # the TENSOR_AXIS_LABELS file's non-empty lines, stripped; None if not in the zip
    name: str | None  # ModelMetadata.name


class _Malformed(Exception):
    """Internal: carries the reason up to read_tflite_metadata, which adds the file name."""


class _Buffer:
    """Bounds-checked little-endian reads from one flatbuffer (bytes or an mmap)."""

    def __init__(self, data: bytes | mmap.mmap, what: str) -> None:
        self.data = data
        self.size = len(data)
        self.what = what

    def read(self, fmt: str, pos: int) -> int:
        """One integer (struct's b, B, h, H, i, I, q, Q); the floats of a vector are read with `floats`."""
        width = struct.calcsize(fmt)
        if pos < 0 or pos + width > self.size:
            raise _Malformed(f"{self.what}: offset {pos} is outside the {self.size}-byte buffer")
        return struct.unpack_from("<" + fmt, self.data, pos)[0]

    def span(self, pos: int, length: int) -> bytes:
        if pos < 0 or length < 0 or pos + length > self.size:
            raise _Malformed(f"{self.what}: {length} bytes at offset {pos} run past the {self.size}-byte buffer")
        return bytes(self.data[pos : pos + length])

    def root(self, identifier: bytes) -> _Table:
        if self.size < 8:
            raise _Malformed(f"{self.what}: {self.size} bytes is too short for a flatbuffer")
        if self.span(4, 4) != identifier:
            raise _Malformed(f"{self.what}: no '{identifier.decode()}' file identifier")
        return _Table(self, self.deref(0))

    def deref(self, pos: int) -> int:
        # uoffsets are unsigned and point forward from where they are stored.
        return pos + self.read("I", pos)


class _Table:
    """One flatbuffer table: a position whose first int32 is the (signed) distance back to its vtable."""

    def __init__(self, buf: _Buffer, pos: int) -> None:
        self.buf = buf
        self.pos = pos
        vtable = pos - buf.read("i", pos)
        self.vtable_size = buf.read("H", vtable)
        self.object_size = buf.read("H", vtable + 2)
        if self.vtable_size < 4 or self.vtable_size % 2 or self.object_size < 4:
            raise _Malformed(f"{buf.what}: bad vtable at offset {vtable}")
        buf.span(vtable, self.vtable_size)
        buf.span(pos, self.object_size)
        self.vtable = vtable

    def _field(self, slot: int, width: int) -> int | None:
        entry = 4 + 2 * slot
        if entry + 2 > self.vtable_size:
            return None  # written by an older schema: the field is absent
        offset = self.buf.read("H", self.vtable + entry)
        if offset == 0:
            return None
        if offset + width > self.object_size:
            raise _Malformed(f"{self.buf.what}: field {slot} lies outside its table at offset {self.pos}")
        return self.pos + offset

    def scalar(self, slot: int, fmt: str, default: int) -> int:
        pos = self._field(slot, struct.calcsize(fmt))
        return default if pos is None else self.buf.read(fmt, pos)

    def _target(self, slot: int) -> int | None:
        pos = self._field(slot, 4)
        return None if pos is None else self.buf.deref(pos)

    def table(self, slot: int) -> _Table | None:
        pos = self._target(slot)
        return None if pos is None else _Table(self.buf, pos)

    def union(self, type_slot: int, value_slot: int) -> tuple[int, _Table | None]:
        kind = self.scalar(type_slot, "B", 0)
        return kind, (self.table(value_slot) if kind else None)

    def string(self, slot: int) -> str | None:
        pos = self._target(slot)
        if pos is None:
            return None
        # Names and labels are free text; a stray byte should not make the whole model unreadable.
        return self.buf.span(pos + 4, self.buf.read("I", pos)).decode("utf-8", errors="replace")

    def _vector(self, slot: int, width: int) -> tuple[int, int] | None:
        pos = self._target(slot)
        if pos is None:
            return None
        length = self.buf.read("I", pos)
        # Check the whole extent once, so a forged length cannot make us loop for ages.
        self.buf.span(pos + 4, length * width)
        return pos + 4, length

    def floats(self, slot: int) -> tuple[float, ...] | None:
        vector = self._vector(slot, 4)
        if vector is None:
            return None
        start, length = vector
        return struct.unpack_from(f"<{length}f", self.buf.data, start)

    def bytes_(self, slot: int) -> bytes | None:
        vector = self._vector(slot, 1)
        return None if vector is None else self.buf.span(*vector)

    def tables(self, slot: int) -> list[_Table]:
        return [self.table_at(slot, i) for i in range(self.length(slot))]

    def length(self, slot: int) -> int:
        vector = self._vector(slot, 4)
        return 0 if vector is None else vector[1]

    def table_at(self, slot: int, index: int) -> _Table:
        vector = self._vector(slot, 4)
        if vector is None or not 0 <= index < vector[1]:
            raise _Malformed(f"{self.buf.what}: no element {index} in field {slot} of the table at offset {self.pos}")
        return _Table(self.buf, self.buf.deref(vector[0] + 4 * index))


def _metadata_bytes(model: _Buffer) -> bytes | None:
    """The ModelMetadata flatbuffer inside a Model flatbuffer, or None when there is none."""
    root = model.root(b"TFL3")
    entry = next((m for m in root.tables(_MODEL_METADATA) if m.string(_METADATA_NAME) == METADATA_NAME), None)
    if entry is None:
        return None
    index = entry.scalar(_METADATA_BUFFER, "I", 0)
    if index >= root.length(_MODEL_BUFFERS):
        raise _Malformed(f"{METADATA_NAME} names buffer {index} of {root.length(_MODEL_BUFFERS)}")
    buffer = root.table_at(_MODEL_BUFFERS, index)
    data = buffer.bytes_(_BUFFER_DATA)
    if data:
        return data
    # Models over 2 GB keep buffer data outside the flatbuffer, at `offset` from the start of the file
    # (the schema says offset is only meaningful when > 1).
    offset, size = buffer.scalar(_BUFFER_OFFSET, "Q", 0), buffer.scalar(_BUFFER_SIZE, "Q", 0)
    if offset > 1 and size:
        return model.span(offset, size)
    raise _Malformed(f"{METADATA_NAME} buffer {index} is empty")


def _first(tables: list[_Table]) -> _Table | None:
    return tables[0] if tables else None


def _normalization(tensor: _Table | None) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    for unit in tensor.tables(_TM_PROCESS_UNITS) if tensor else []:
        kind, options = unit.union(_PU_TYPE, _PU_VALUE)
        if kind == _NORMALIZATION_OPTIONS and options is not None:
            return options.floats(_NORM_MEAN), options.floats(_NORM_STD)
    return None, None


def _color_space(tensor: _Table | None) -> ColorSpace:
    content = tensor.table(_TM_CONTENT) if tensor else None
    kind, image = content.union(_CONTENT_TYPE, _CONTENT_VALUE) if content else (0, None)
    if kind != _IMAGE_PROPERTIES or image is None:
        return ColorSpace.UNKNOWN
    value = image.scalar(_IMAGE_COLOR_SPACE, "b", 0)
    # A newer schema may add colour spaces; those are unknown to us, not an error in the file.
    return ColorSpace(value) if value in {c.value for c in ColorSpace} else ColorSpace.UNKNOWN


def _label_file(owner: _Table | None, slot: int) -> str | None:
    # The schema says the first file of a type is the default; later ones differ only by locale.
    for file in owner.tables(slot) if owner is not None else []:
        name = file.string(_FILE_NAME)
        if file.scalar(_FILE_TYPE, "b", 0) == _TENSOR_AXIS_LABELS and name:
            return name
    return None


# What zipfile raises on a damaged archive besides BadZipFile (struct.error and OSError come from
# bogus offsets and sizes in the central directory).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    EOFError,
    RuntimeError,
    ValueError,
    struct.error,
    OSError,
)


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _read_labels(path: Path, name: str) -> tuple[str, ...] | None:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        # No archive appended (e.g. a tool rewrote the flatbuffer and dropped it): no labels to read.
        return None
    except _ZIP_ERRORS as exc:
        raise ReciproCamError(f"{path}: bad zip of associated files: {_one_line(exc)}") from None
    with archive:
        if name not in archive.namelist():
            return None
        try:
            raw = archive.read(name)
        except _ZIP_ERRORS as exc:
            raise ReciproCamError(f"{path}: cannot read '{name}' from its zip: {_one_line(exc)}") from None
    # utf-8-sig drops a BOM that would otherwise glue itself to the first label.
    text = raw.decode("utf-8-sig", errors="replace")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _parse(model: _Buffer, path: Path) -> TfliteMetadata | None:
    data = _metadata_bytes(model)
    if data is None:
        return None
    metadata = _Buffer(data, METADATA_NAME).root(b"M001")
    subgraph = _first(metadata.tables(_MM_SUBGRAPHS))
    image = _first(subgraph.tables(_SG_INPUTS)) if subgraph else None
    scores = _first(subgraph.tables(_SG_OUTPUTS)) if subgraph else None
    mean, std = _normalization(image)
    # Labels belong to the class axis of the (first) output; subgraph- and model-level files are the
    # fallback some writers use.
    label_file = _label_file(scores, _TM_FILES) or _label_file(subgraph, _SG_FILES) or _label_file(metadata, _MM_FILES)
    return TfliteMetadata(
        mean=mean,
        std=std,
        color_space=_color_space(image),
        labels=_read_labels(path, label_file) if label_file else None,
        name=metadata.string(_MM_NAME),
    )


def read_tflite_metadata(path: str | os.PathLike) -> TfliteMetadata | None:
    """None when the file has no TFLite metadata; never raises on a valid .tflite without it.

    Raises ReciproCamError (one line) when the file cannot be read or is not a well-formed TFLite
    flatbuffer, or when its metadata is malformed.
    """
    path = Path(path)
    try:
        with open(path, "rb") as file:
            if os.fstat(file.fileno()).st_size == 0:
                raise ReciproCamError(f"{path}: empty file, not a TFLite model")
            # mmap rather than read(): models can be gigabytes and we touch a few kilobytes of them.
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                return _parse(_Buffer(mapped, "TFLite model"), path)
    except OSError as exc:
        raise ReciproCamError(f"cannot read {path}: {exc.strerror or _one_line(exc)}") from None
    except _Malformed as exc:
        raise ReciproCamError(f"{path}: malformed TFLite flatbuffer: {exc}") from None
