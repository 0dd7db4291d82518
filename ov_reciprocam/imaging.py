"""Images in and out: finding and reading photos, heatmaps, overlays, contact sheets."""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

import cv2
import numpy as np

from .errors import ReciproCamError

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


def colorize(saliency: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """A [0, 1] map as a BGR heatmap."""
    code = getattr(cv2, f"COLORMAP_{colormap.upper()}", None)
    if code is None:
        raise ReciproCamError(f"unknown colormap '{colormap}'; try jet, turbo, inferno, viridis")
    return cv2.applyColorMap(np.clip(saliency * 255.0 + 0.5, 0, 255).astype(np.uint8), code)


_FONT = cv2.FONT_HERSHEY_SIMPLEX
# The score (and anything after it, such as "(flat map)") is what a truncated caption must still show.
_SCORE = re.compile(r"\s[-+]?\d*\.?\d+%?(?=\s|$)")


def caption_font(height: int, width: int) -> tuple[float, int, int]:
    """(scale, thickness, padding in px) of the caption on a picture of this size.

    The scale follows the height, so that a caption drawn on a full photo and shrunk to a contact-sheet
    row looks as if drawn on the thumbnail (letters about 13 px high in a 224 px row). Narrow pictures
    get a smaller scale, so that more than a few letters fit; below 0.4 the Hershey font is illegible.
    """
    scale = max(0.4, min(height / 400, width / 250))
    # Padding grows with the font: thick strokes reach above the text height getTextSize reports.
    return scale, max(1, round(scale * 2)), max(4, round(7 * scale))


def fit_caption(text: str, width: int, scale: float, thickness: int = 1) -> str:
    """`text` as is if it is at most `width` px wide in the caption font, else cut and ended with "...".

    The cut keeps the trailing score ("American Staffo... 0.43"); only if even "... 0.43" is too wide
    is the score cut too. Spaces are kept: the label is shown as given.
    """

    def fits(candidate: str) -> bool:
        return cv2.getTextSize(candidate, _FONT, scale, thickness)[0][0] <= width

    if fits(text):
        return text
    score = list(_SCORE.finditer(text))
    if score:
        head = text[: score[-1].start()]
        # A narrow picture drops what follows the score ("(flat map)") before it drops the score.
        for tail in dict.fromkeys((text[score[-1].start() :], score[-1].group())):
            for keep in range(len(head), -1, -1):
                if fits(candidate := head[:keep].rstrip() + "..." + tail):
                    return candidate
    for keep in range(len(text) - 1, -1, -1):
        if fits(candidate := text[:keep].rstrip() + "..."):
            return candidate
    return ""


def overlay(bgr: np.ndarray, saliency: np.ndarray, caption: str = "", alpha: float = 0.5, colormap: str = "jet"):
    """The heatmap blended on the photo, with an optional caption in the top-left corner, cut to fit its width."""
    blended = cv2.addWeighted(bgr, 1.0 - alpha, colorize(saliency, colormap), alpha, 0.0)
    h, w = bgr.shape[:2]
    scale, thickness, pad = caption_font(h, w)
    caption = fit_caption(caption, w - 2 * pad, scale, thickness)
    if caption:
        (tw, th), base = cv2.getTextSize(caption, _FONT, scale, thickness)
        cv2.rectangle(blended, (0, 0), (tw + 2 * pad - 1, th + base + 2 * pad - 1), (0, 0, 0), -1)
        cv2.putText(blended, caption, (pad, th + pad), _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return blended


def shrink_to(picture: np.ndarray, side: int) -> np.ndarray:
    """`picture` scaled down (area filter) so that its longer side is at most `side` pixels."""
    h, w = picture.shape[:2]
    if max(h, w) <= side:
        return picture
    s = side / max(h, w)
    return cv2.resize(picture, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def to_height(picture: np.ndarray, height: int) -> np.ndarray:
    """`picture` scaled, aspect kept, to exactly `height` pixels high."""
    h, w = picture.shape[:2]
    if h == height:
        return picture
    size = (max(1, round(w * height / h)), height)
    return cv2.resize(picture, size, interpolation=cv2.INTER_AREA if h > height else cv2.INTER_LINEAR)


def contact_sheet(rows: list[list[np.ndarray]], tile: int = 224) -> np.ndarray:
    """Pictures (one row per photo, one column per class), each `tile` px high, packed left to right.

    Widths follow each picture's aspect, so rows have no bands between them; shorter rows are padded
    on the right, and the sheet is as wide as the widest row.
    """
    scaled = [[to_height(picture, tile) for picture in row] for row in rows]
    width = max([sum(p.shape[1] for p in row) for row in scaled] + [1])  # an empty sheet is still a PNG
    sheet = np.full((len(rows) * tile, width, 3), 32, np.uint8)
    for i, row in enumerate(scaled):
        x = 0
        for picture in row:
            sheet[i * tile : (i + 1) * tile, x : x + picture.shape[1]] = picture
            x += picture.shape[1]
    return sheet
