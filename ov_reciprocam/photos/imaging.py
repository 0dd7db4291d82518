"""Photos in: read, converted to the channels a model takes, collected from folders and globs."""

from __future__ import annotations

import glob
import os
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from ..errors import ReciproCamError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


_CONVERSIONS = {
    (1, 3): cv2.COLOR_GRAY2BGR,
    (1, 4): cv2.COLOR_GRAY2BGRA,
    (3, 1): cv2.COLOR_BGR2GRAY,
    (3, 4): cv2.COLOR_BGR2BGRA,
    (4, 1): cv2.COLOR_BGRA2GRAY,
    (4, 3): cv2.COLOR_BGRA2BGR,
}


def as_channels(image: np.ndarray, channels: int = 3) -> np.ndarray:
    """A photo with `channels` channels (1 grey, 3 BGR, 4 BGRA), from a grey, BGR or BGRA array.

    uint16 photos become uint8; float photos are taken as pixel values in [0, 255]. Anything else
    is a one-line error: an array of the wrong shape or type is a caller's mistake, not a photo.
    """
    if not isinstance(image, np.ndarray):
        raise ReciproCamError(f"a photo must be a numpy array or a path, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)) or 0 in image.shape:
        raise ReciproCamError(f"a photo must be [H, W] (grey), [H, W, 3] (BGR) or [H, W, 4] (BGRA); got {image.shape}")
    if image.dtype == np.uint16:
        image = np.round(image / 257.0).astype(np.uint8)
    elif image.dtype not in (np.uint8, np.float32, np.float64):
        raise ReciproCamError(f"a photo must be uint8, uint16 or float pixels in [0, 255]; got {image.dtype}")
    have = 1 if image.ndim == 2 else image.shape[2]
    if have == channels:
        return image
    if image.dtype == np.float64:
        image = image.astype(np.float32)  # cvtColor takes 8-bit, 16-bit or float32
    return cv2.cvtColor(image, _CONVERSIONS[(have, channels)])


def checked_photo(image: np.ndarray) -> np.ndarray:
    """A photo array from the caller, refused where its pixels would be misread rather than guessed at.

    Float pixels are taken as [0, 255]: a float photo whose values all lie in [0, 1] would reach the model
    nearly black, and NaN or inf would make every score NaN. An all-black one reads the same either way (eval
    explains photos masked by a flat map, which are).
    """
    if isinstance(image, np.ndarray) and image.dtype.kind == "f" and image.size:
        if not np.isfinite(image).all():
            raise ReciproCamError("a float photo has NaN or infinite pixels; give finite pixels in [0, 255]")
        if 0.0 < image.max() <= 1.0:
            raise ReciproCamError(
                "a float photo is read as pixels in [0, 255], but this one's are all in [0, 1]: "
                "multiply it by 255 (or pass uint8)"
            )
    return image


def one_or_many(items: object) -> list:
    """`items` as a list: a str, a path or one photo array ([H, W] or [H, W, C]) is one item, never its
    characters or rows; any other iterable is many (a list of paths, an [N, H, W, C] batch)."""
    if isinstance(items, (str, os.PathLike)) or (isinstance(items, np.ndarray) and items.ndim < 4):
        return [items]
    if not isinstance(items, Iterable):
        raise ReciproCamError(f"expected a photo, a path or a list of them, got {type(items).__name__}")
    return list(items)


# Larger photos are refused before decoding: a 20000x20000 PNG is ~1 MB on disk and a 1.2 GB array, and
# several times that while it is resized and normalized.
MAX_PIXELS = 100_000_000
MAX_PIXELS_VARIABLE = "OV_RECIPROCAM_MAX_PIXELS"
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # JPEG frame headers (not DHT, JPG, DAC)


def max_pixels() -> int:
    """The pixel limit: OV_RECIPROCAM_MAX_PIXELS if set, else MAX_PIXELS."""
    text = os.environ.get(MAX_PIXELS_VARIABLE)
    if text is None:
        return MAX_PIXELS
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ReciproCamError(f"{MAX_PIXELS_VARIABLE} must be a whole number of pixels, got '{text}'")
    return limit


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG, WebP or BMP header, without decoding; None for other formats (or a
    header too damaged to say, which decoding then reports)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(w), abs(h)  # a negative height: rows stored top-down
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
        if chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8 ":
            return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 <= len(data) and data[i] == 0xFF:
            marker = data[i + 1]
            if marker in _SOF_MARKERS:
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return w, h
            if marker == 0xFF:  # fill byte
                i += 1
            elif marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
                i += 2
            else:
                i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    return None


def _check_size(path: Path, w: int, h: int) -> None:
    limit = max_pixels()
    if w * h > limit:
        raise ReciproCamError(
            f"image {path} is {w}x{h} ({w * h / 1e6:.0f} megapixels), over the limit of {limit / 1e6:g} megapixels "
            f"(decoded, it would take {w * h * 3 / 1e9:.1f} GB and more): shrink it, or raise the limit with the "
            f"environment variable {MAX_PIXELS_VARIABLE}={w * h}"
        )


def read_image(path: str | os.PathLike, channels: int = 3) -> np.ndarray:
    """A uint8 photo with `channels` channels (3: BGR), or a one-line error saying why the file is not one.

    A photo over `max_pixels()` is refused: PNG, JPEG, WebP and BMP from their header, before decoding; other
    formats once decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise ReciproCamError(f"image not found: {path}")
    data = np.fromfile(path, np.uint8)  # imdecode, unlike imread, reads non-ASCII paths on every OS
    if data.size == 0:
        raise ReciproCamError(f"cannot read image {path}: the file is empty")
    if (size := header_size(data[: 1 << 20].tobytes())) is not None:  # past any EXIF and ICC segments
        _check_size(path, *size)
    # Grey and 16-bit files decode to 8-bit BGR; only a 4-channel model needs the alpha kept.
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED if channels == 4 else cv2.IMREAD_COLOR)
    if image is None:
        raise ReciproCamError(f"cannot read image {path}: not an image format OpenCV decodes, or corrupt")
    _check_size(path, image.shape[1], image.shape[0])
    return as_channels(image, channels)


def collect_images(specs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """Files, folders (searched recursively for image suffixes) and glob patterns -> sorted paths.

    One str or path is one spec, never its characters. A file named explicitly is kept whatever its suffix, so
    that a bad one is reported, not ignored.
    """
    items = one_or_many(specs)
    if not all(isinstance(s, (str, os.PathLike)) for s in items):
        raise ReciproCamError("images to collect must be paths: files, folders or glob patterns")
    names: list[str] = [os.fspath(s) for s in items]
    found: list[Path] = []
    for spec in names:
        path = Path(spec)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.append(path)
        elif glob.has_magic(spec):
            found += sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        else:
            raise ReciproCamError(f"no such file or folder: {spec}")
    unique = list(dict.fromkeys(found))
    if not unique:
        raise ReciproCamError(f"no images found in {' '.join(names)} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return unique


def peak(saliency: np.ndarray) -> tuple[int, int]:
    """(x, y) of the hottest pixel of a 2-D map.

    Bilinear upsampling flattens the outer half-cell into a plateau at the border; argmax alone
    would then always pick the plateau's first pixel (an image edge). The plateau pixel nearest
    the plateau's centroid is returned instead.
    """
    top = saliency.max()
    hot = saliency >= top - 1e-6 * max(abs(float(top)), 1.0)
    # The plateau is a few cells of a photo-sized map: its points are listed from the rows and columns that hold it
    # (the same points in the same order as over the whole map, at a fraction of the time).
    rows = np.flatnonzero(hot.any(axis=1))
    columns = np.flatnonzero(hot[rows[0] : rows[-1] + 1].any(axis=0))
    ys, xs = np.nonzero(hot[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1])
    ys, xs = ys + rows[0], xs + columns[0]
    cy, cx = ys.mean(), xs.mean()
    i = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    return int(xs[i]), int(ys[i])
