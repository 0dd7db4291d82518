"""Atomic file output: a reader sees the old file or the whole new one, never half of it."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from ..errors import ReciproCamError
from ..model.formats import write_failure
from ..vocabulary import OverlayFormat

# How each overlay format is encoded (docs/benchmarks.md, issue 33, measures them): JPEG keeps full-resolution
# colour (4:4:4), since halved colour smears the captions' edges into the heatmap by up to 90 of 255.
_ENCODING = {
    OverlayFormat.JPG: [
        cv2.IMWRITE_JPEG_QUALITY,
        95,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
    ],
    OverlayFormat.PNG: [],  # OpenCV's default: its fastest PNG, and no bigger than level 1's
    OverlayFormat.WEBP: [cv2.IMWRITE_WEBP_QUALITY, 95],
}


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` whole: into a hidden file beside it, then renamed. Safe from several threads at once."""
    return write_with(path, lambda f: f.write(data))


def write_with(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """`write_bytes` for what `write` writes into the open file, piece by piece: a large file is never whole in
    memory."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _created(path)
    except OSError as exc:
        raise write_failure(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a full disk, a file size limit: said with the path and the disk
            raise write_failure(path, exc) from None
        raise
    return path


def _created(path: Path) -> tuple[int, Path]:
    """A new hidden file beside `path`, open for writing, with an ordinary file's mode: 0o666 less the umask, which
    the system applies (reading the umask means setting it, and a thread writing meanwhile would get the wrong one)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name beside it", str(path))


def write_jpeg(path: str | os.PathLike, image: np.ndarray, quality: int = 85) -> Path:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ReciproCamError(f"cannot encode {path} as JPEG")
    return write_bytes(path, encoded.tobytes())


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    return write_picture(path, image, OverlayFormat.PNG)


def write_picture(path: str | os.PathLike, image: np.ndarray, kind: OverlayFormat) -> Path:
    """A BGR picture written in `kind`'s format, encoded as `_ENCODING` says."""
    ok, encoded = cv2.imencode(f".{kind.value}", image, _ENCODING[kind])
    if not ok:
        raise ReciproCamError(f"cannot encode {path} as {kind.value.upper()}")
    return write_bytes(path, encoded.tobytes())


def write_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return write_bytes(path, buffer.getvalue())


def write_json(path: str | os.PathLike, data: object) -> Path:
    """`data` as indented JSON, the bytes `json.dump` writes with `indent=2`, encoded into the file as it goes.

    An entry of a `data` dict that is an iterator (a generator, say) is written as a list, an item at a time: the
    records of a run of 10,000 photos need never all be in memory (whole, they and their text took 95 MB more).
    """

    def dump(f: BinaryIO) -> None:
        text = io.TextIOWrapper(f, encoding="ascii")  # json escapes every other character
        if isinstance(data, dict) and data:
            _dump_entries(data, text)
        else:
            json.dump(data, text, indent=2)
        text.write("\n")
        text.detach()  # flushed, and the file left open for `write_with` to close

    return write_with(path, dump)


def _dump_entries(data: dict, text: io.TextIOWrapper) -> None:
    """A dict as `json.dump(indent=2)` writes it, iterators as lists: its items' lines indented one level more."""
    for n, (key, value) in enumerate(data.items()):
        text.write(("{" if n == 0 else ",") + f"\n  {json.dumps(key)}: ")
        if not isinstance(value, Iterator):
            text.write(json.dumps(value, indent=2).replace("\n", "\n  "))  # JSON strings hold no raw newline
            continue
        first = True
        for item in value:
            text.write(("[" if first else ",") + "\n    " + json.dumps(item, indent=2).replace("\n", "\n    "))
            first = False
        text.write("[]" if first else "\n  ]")
    text.write("\n}")


def safe_name(label: str) -> str:
    """`label` as part of a file name: letters of any script kept, only what some file system forbids replaced.

    Cut to 100 UTF-8 bytes, not characters: file names are limited in bytes, and the stem comes before it.
    """
    kept = re.sub(r'[/\\:*?"<>|\x00-\x1f\x7f-\x9f]+', "_", label)
    return kept.encode()[:100].decode(errors="ignore")


def unique_stem(stem: str, taken: set[str]) -> str:
    """`stem`, or `stem-2`, `stem-3`... if taken (photos of one name in several folders); records it as taken."""
    name, n = stem, 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}"
    taken.add(name)
    return name


def check_output_dir(path: str | os.PathLike, flag: str = "-o") -> Path:
    """`path` can be a folder we write into: raise now, before any work, if it cannot."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ReciproCamError(f"output folder {path} is an existing file; give {flag} a folder")
    _check_writable(path, flag)
    return path


def check_output_file(path: str | os.PathLike, flag: str = "-o") -> Path:
    """`path` can be written as a file: raise now, before any work, if it cannot."""
    path = Path(path)
    if path.is_dir():
        raise ReciproCamError(f"output {path} is a folder; give {flag} a file name")
    _check_writable(path.parent, flag)
    return path


def _check_writable(folder: Path, flag: str) -> None:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ReciproCamError(f"cannot create {folder}: {existing} is a file; give {flag} another path")
    try:  # a real write, since permission bits do not tell root, read-only mounts or quotas
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ReciproCamError(f"cannot write to {existing}: {exc.strerror}; give {flag} another path") from None
