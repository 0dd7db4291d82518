"""TFLite Model Metadata: the real coral classifier, files without metadata, and broken bytes."""

from __future__ import annotations

import io
import random
import struct
import zipfile
from dataclasses import dataclass, field

import pytest
from paths import SAMPLES

from ov_reciprocam.errors import ReciproCamError
from ov_reciprocam.model.tflite_metadata import ColorSpace, TfliteMetadata, read_tflite_metadata

CORAL = SAMPLES / "models" / "coral" / "mobilenet_v1_0.25_128_quant.tflite"
LABELS = "imagenet_labels.txt"


def zipped_labels(path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return [line.strip() for line in archive.read(LABELS).decode().splitlines() if line.strip()]


def zip_start(data: bytes) -> int:
    """Where the appended zip archive begins, i.e. the end of the flatbuffer and its buffers."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return min(info.header_offset for info in archive.infolist())


def read_or_error(path) -> TfliteMetadata | None | ReciproCamError:
    """The result, or the ReciproCamError; any other exception fails the test."""
    try:
        return read_tflite_metadata(path)
    except ReciproCamError as exc:
        assert str(exc) and "\n" not in str(exc), repr(str(exc))
        return exc


# A forward-layout flatbuffer writer: every object is placed after the one that refers to it, so each
# uoffset is positive, and each vtable sits just before its table. Enough to write the few tables below.
@dataclass
class Table:
    fields: dict = field(default_factory=dict)  # slot -> ("fmt", number) | str | bytes | Floats | list[Table]


@dataclass
class Floats:
    values: tuple[float, ...]


def flatbuffer(root: Table, identifier: bytes) -> bytes:
    out = bytearray(8)
    out[4:8] = identifier
    pending: list[tuple[int, object]] = []

    def align() -> None:
        out.extend(b"\0" * (-len(out) % 8))

    def place(obj) -> int:
        align()
        start = len(out)
        if isinstance(obj, Table):
            slots = max(obj.fields, default=-1) + 1
            vtable = [0] * slots
            for i, slot in enumerate(sorted(obj.fields)):
                vtable[slot] = 4 + 8 * i
            out.extend(struct.pack(f"<HH{slots}H", 4 + 2 * slots, 4 + 8 * len(obj.fields), *vtable))
            align()
            table = len(out)
            out.extend(struct.pack("<i", table - start) + b"\0" * (8 * len(obj.fields)))
            for slot in sorted(obj.fields):
                value, pos = obj.fields[slot], table + vtable[slot]
                if isinstance(value, tuple):
                    struct.pack_into("<" + value[0], out, pos, value[1])
                else:
                    pending.append((pos, value))
            return table
        if isinstance(obj, str):
            obj = obj.encode() + b"\0"
            out.extend(struct.pack("<I", len(obj) - 1) + obj)
        elif isinstance(obj, bytes):
            out.extend(struct.pack("<I", len(obj)) + obj)
        elif isinstance(obj, Floats):
            out.extend(struct.pack(f"<I{len(obj.values)}f", len(obj.values), *obj.values))
        else:  # a vector of tables
            out.extend(struct.pack("<I", len(obj)) + b"\0" * (4 * len(obj)))
            pending.extend((start + 4 + 4 * i, item) for i, item in enumerate(obj))
        return start

    struct.pack_into("<I", out, 0, place(root))
    while pending:
        pos, obj = pending.pop(0)
        struct.pack_into("<I", out, pos, place(obj) - pos)
    return bytes(out)


def model_metadata(color: int = 2, labels_at_subgraph: str | None = "classes.txt") -> bytes:
    """A ModelMetadata unlike coral's: grayscale, 3-channel mean/std, labels named by the subgraph."""
    image = Table(
        {
            3: Table({0: ("B", 2), 1: Table({0: ("b", color)})}),  # Content: ImageProperties
            4: [
                Table({0: ("B", 3), 1: Table({0: ("f", 0.5)})}),  # a ScoreThresholding first: skipped
                Table({0: ("B", 1), 1: Table({0: Floats((1.0, 2.0, 3.0)), 1: Floats((4.0, 5.0, 6.0))})}),
            ],
        }
    )
    scores = Table({0: "scores", 6: [Table({0: "readme.txt", 2: ("b", 1)})]})  # DESCRIPTIONS, not labels
    files = [Table({0: labels_at_subgraph, 2: ("b", 2)})] if labels_at_subgraph else []
    subgraph = Table({2: [image], 3: [scores], 4: files})
    return flatbuffer(Table({0: "Synthetic", 3: [subgraph], 7: "1.0.0"}), b"M001")


def outside_model(metadata: bytes) -> bytes:
    """A Model whose TFLITE_METADATA buffer lives after the flatbuffer (Buffer.offset/size), like >2 GB models."""
    head = Table(
        {
            0: ("I", 3),
            4: [Table(), Table({0: b"\x01\x00\x00\x00"}), Table({1: ("Q", 0), 2: ("Q", 0)})],
            6: [Table({0: "min_runtime_version", 1: ("I", 1)}), Table({0: "TFLITE_METADATA", 1: ("I", 2)})],
        }
    )
    size = len(flatbuffer(head, b"TFL3"))  # the offsets below are fixed-width, so the size will not move
    head.fields[4][2].fields.update({1: ("Q", size), 2: ("Q", len(metadata))})
    data = flatbuffer(head, b"TFL3")
    assert len(data) == size
    return data + metadata


def with_zip(data: bytes, files: dict[str, str]) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as writer:
        for name, text in files.items():
            writer.writestr(name, text)
    return data + archive.getvalue()


def write(tmp_path, data: bytes, name: str = "model.tflite"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_coral_sample():
    metadata = read_tflite_metadata(CORAL)
    labels = zipped_labels(CORAL)
    assert metadata == TfliteMetadata(
        mean=(127.5,), std=(127.5,), color_space=ColorSpace.RGB, labels=tuple(labels), name="ImageClassifier"
    )
    assert len(labels) == 1001 and labels[0] == "background"
    assert labels[1] == "tench, Tinca tinca"  # commas belong to the label, not a separator


def test_coral_without_the_zip_keeps_metadata_but_has_no_labels(tmp_path):
    data = CORAL.read_bytes()
    cut = write(tmp_path, data[: zip_start(data)])
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(cut)
    metadata = read_tflite_metadata(cut)
    assert metadata is not None and metadata.labels is None
    assert (metadata.mean, metadata.std, metadata.color_space) == ((127.5,), (127.5,), ColorSpace.RGB)


def test_coral_label_file_not_in_the_zip(tmp_path):
    data = CORAL.read_bytes()
    path = write(tmp_path, with_zip(data[: zip_start(data)], {"other.txt": "a\nb\n"}))
    assert read_tflite_metadata(path).labels is None


def test_coral_with_the_metadata_entry_renamed_is_none(tmp_path):
    data = CORAL.read_bytes()
    assert data.count(b"TFLITE_METADATA") == 1
    assert read_tflite_metadata(write(tmp_path, data.replace(b"TFLITE_METADATA", b"TFLITE_METADATX"))) is None


def test_minimal_model_without_metadata_is_none(tmp_path):
    # root uoffset, "TFL3", vtable [size 6, table 8, version at +4], table [soffset 8, version 3]
    minimal = struct.pack("<I4sHHHxxiI", 16, b"TFL3", 6, 8, 4, 8, 3)
    assert read_tflite_metadata(write(tmp_path, minimal)) is None
    assert read_tflite_metadata(write(tmp_path, flatbuffer(Table({0: ("I", 3), 4: [Table()]}), b"TFL3"))) is None
    only_runtime = Table({0: ("I", 3), 4: [Table(), Table({0: b"1.5.0"})], 6: [Table({0: "min_runtime_version"})]})
    assert read_tflite_metadata(write(tmp_path, flatbuffer(only_runtime, b"TFL3"))) is None


def test_metadata_outside_the_flatbuffer_and_subgraph_labels(tmp_path):
    data = with_zip(outside_model(model_metadata()), {"classes.txt": "\ufeffcat\n\n  dog \r\n", "readme.txt": "x"})
    assert read_tflite_metadata(write(tmp_path, data)) == TfliteMetadata(
        mean=(1.0, 2.0, 3.0),
        std=(4.0, 5.0, 6.0),
        color_space=ColorSpace.GRAYSCALE,
        labels=("cat", "dog"),
        name="Synthetic",
    )
    # A colour space from a newer schema, and no label file anywhere.
    metadata = read_tflite_metadata(write(tmp_path, outside_model(model_metadata(color=9, labels_at_subgraph=None))))
    assert (metadata.color_space, metadata.labels) == (ColorSpace.UNKNOWN, None)


def test_metadata_without_its_identifier_is_an_error(tmp_path):
    data = outside_model(model_metadata().replace(b"M001", b"M999", 1))
    assert "M001" in str(read_or_error(write(tmp_path, data)))


@pytest.mark.parametrize("length", [0, 1, 4, 7, 8, 12, 64, 1000, 100_000])
def test_truncated_coral(tmp_path, length):
    result = read_or_error(write(tmp_path, CORAL.read_bytes()[:length]))
    assert isinstance(result, ReciproCamError)


def test_truncated_everywhere(tmp_path):
    # Every cut of the synthetic model, and cuts of coral near the end of its flatbuffer and in its zip.
    synthetic = with_zip(outside_model(model_metadata()), {"classes.txt": "cat\n"})
    for length in range(len(synthetic)):
        read_or_error(write(tmp_path, synthetic[:length]))
    data = CORAL.read_bytes()
    for length in [*range(zip_start(data) - 40, zip_start(data) + 40), len(data) - 10, len(data) - 1]:
        read_or_error(write(tmp_path, data[:length]))


@pytest.mark.parametrize("seed", range(4))
def test_garbage(tmp_path, seed):
    noise = random.Random(seed).randbytes(4096)
    assert isinstance(read_or_error(write(tmp_path, noise, "noise.tflite")), ReciproCamError)
    tagged = noise[:4] + b"TFL3" + noise[8:]
    assert not isinstance(read_or_error(write(tmp_path, tagged, "tagged.tflite")), TfliteMetadata)
    assert isinstance(read_or_error(write(tmp_path, b"not a model\n" * 3, "text.tflite")), ReciproCamError)


def test_corrupted_bytes(tmp_path):
    """Every byte of the synthetic model overwritten in turn, and random bytes in coral's metadata."""
    synthetic = with_zip(outside_model(model_metadata()), {"classes.txt": "cat\n"})
    for pos in range(len(synthetic)):
        for value in (0x00, 0xFF, synthetic[pos] ^ 0x80):
            read_or_error(write(tmp_path, synthetic[:pos] + bytes([value]) + synthetic[pos + 1 :]))
    data = bytearray(CORAL.read_bytes())
    metadata_at = data.index(b"M001") - 4  # the ModelMetadata flatbuffer, 696 bytes in this file
    rng = random.Random(0)
    for _ in range(200):
        broken = bytearray(data)
        pos = rng.choice([rng.randrange(64), rng.randrange(metadata_at, metadata_at + 700)])
        broken[pos] = rng.randrange(256)
        read_or_error(write(tmp_path, bytes(broken)))


def test_missing_file(tmp_path):
    assert "cannot read" in str(read_or_error(tmp_path / "absent.tflite"))
