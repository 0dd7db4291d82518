"""Photos in: read, converted to the channels a model takes, collected from folders and globs."""

from __future__ import annotations

import glob
import os
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


def read_image(path: str | os.PathLike, channels: int = 3) -> np.ndarray:
    """A uint8 photo with `channels` channels (3: BGR), or a one-line error saying why the file is not one."""
    path = Path(path)
    if not path.is_file():
        raise ReciproCamError(f"image not found: {path}")
    data = np.fromfile(path, np.uint8)  # imdecode, unlike imread, reads non-ASCII paths on every OS
    if data.size == 0:
        raise ReciproCamError(f"cannot read image {path}: the file is empty")
    # Grey and 16-bit files decode to 8-bit BGR; only a 4-channel model needs the alpha kept.
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED if channels == 4 else cv2.IMREAD_COLOR)
    if image is None:
        raise ReciproCamError(f"cannot read image {path}: not an image format OpenCV decodes, or corrupt")
    return as_channels(image, channels)


def collect_images(specs: list[str]) -> list[Path]:
    """Files, folders (searched recursively for image suffixes) and glob patterns -> sorted paths.

    A file named explicitly is kept whatever its suffix, so that a bad one is reported, not ignored.
    """
    found: list[Path] = []
    for spec in specs:
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
        raise ReciproCamError(f"no images found in {' '.join(specs)} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return unique


def peak(saliency: np.ndarray) -> tuple[int, int]:
    """(x, y) of the hottest pixel of a 2-D map.

    Bilinear upsampling flattens the outer half-cell into a plateau at the border; argmax alone
    would then always pick the plateau's first pixel (an image edge). The plateau pixel nearest
    the plateau's centroid is returned instead.
    """
    top = saliency.max()
    ys, xs = np.nonzero(saliency >= top - 1e-6 * max(abs(float(top)), 1.0))
    cy, cx = ys.mean(), xs.mean()
    i = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    return int(xs[i]), int(ys[i])
