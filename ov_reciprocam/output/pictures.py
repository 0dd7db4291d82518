"""Pictures out: heatmaps, captioned overlays, contact sheets."""

from __future__ import annotations

import re

import cv2
import numpy as np

from ..errors import ReciproCamError


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
