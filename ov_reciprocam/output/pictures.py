"""Pictures out: heatmaps, captioned overlays, contact sheets, colour scales.

Text is drawn by Pillow in DejaVu Sans, shipped in fonts/: labels come in any script, and OpenCV's own
fonts draw ASCII only.
"""

from __future__ import annotations

import bisect
import math
import re
import sys
import threading
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import ReciproCamError
from ..vocabulary import zero_to_one


def colorize(saliency: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """A [0, 1] map as a BGR heatmap."""
    code = getattr(cv2, f"COLORMAP_{colormap.upper()}", None)
    if code is None:
        raise ReciproCamError(f"unknown colormap '{colormap}'; try jet, turbo, inferno, viridis")
    # One float32 buffer, worked in place: a photo-sized map costs a quarter of the time temporaries take.
    levels: np.ndarray = np.multiply(saliency, 255.0, dtype=np.float32)
    levels += 0.5
    np.clip(levels, 0, 255, out=levels)
    return cv2.applyColorMap(levels.astype(np.uint8), code)


FONT = Path(__file__).with_name("fonts") / "DejaVuSans.ttf"  # Latin, Greek, Cyrillic and more; licence beside it
MIN_SIZE = 11  # px, the font's em: smaller letters are a grey smudge
BACKGROUND = 32  # a sheet's grey where no picture is
SCALE_SIZE = 16  # px, the letters of a sheet's colour bar: sheets are read at full size, whatever their rows' height
# The score (and anything after it, such as "(flat map)") is what a truncated caption must still show.
_SCORE = re.compile(r"\s[-+]?\d*\.?\d+%?(?=\s|$)")
# FreeType's faces are not safe to use from two threads at once, and overlays are drawn in a pool (runs.explain);
# the GIL serializes Pillow's calls, but not on free-threaded Python with a Pillow older than 12.2.
_FREETYPE = threading.RLock()


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans, `size` px to the em."""
    return ImageFont.truetype(str(FONT), size)


def _glyph(ch: str) -> tuple[tuple[int, int], bytes]:
    with _FREETYPE:
        mask = font(32).getmask(ch)
        return mask.size, bytes(mask)


@lru_cache(maxsize=4096)
def _drawable(ch: str) -> bool:
    # A font draws a character it lacks as its .notdef glyph; U+10FFFF is a noncharacter no font maps, so a
    # character drawn exactly as U+10FFFF is one the font cannot draw.
    return _glyph(ch) != _glyph("\U0010ffff")


def shown(text: str) -> str:
    """`text` as pictures draw it: each character the font lacks (CJK, say) becomes its code point, `<U+4E2D>`.

    Not "?", which would claim the label holds a question mark, and not the font's empty box, which looks
    the same for every missing character: a code point says which character it was, and can be looked up.
    """
    text = unicodedata.normalize("NFC", text)  # "a" and a combining diaeresis are the font's one glyph "ä"
    return "".join(ch if _drawable(ch) else f"<U+{ord(ch):04X}>" for ch in text)


def caption_size(height: int, width: int) -> int:
    """The caption's letter size (px to the em) on a picture of this size.

    The size follows the height, so that a caption drawn on a full photo and shrunk to a contact-sheet
    row looks as if drawn on the thumbnail (capitals 13 px high in a 224 px row). Narrow pictures get
    smaller letters, so that more than a few fit, down to MIN_SIZE.
    """
    return max(MIN_SIZE, round(min(height / 12.5, width / 8)))


def padding(size: int) -> int:
    """Space (px) left and right of a line of `size` px letters; above and below it is half this."""
    return max(4, round(size * 0.3))


def text_width(text: str, size: int) -> float:
    """How wide `text` is drawn, in px, without padding."""
    text = shown(text)
    with _FREETYPE:
        return font(size).getlength(text)


def fit_caption(text: str, width: int, size: int) -> str:
    """`text` as is if it is at most `width` px wide in `size` px letters, else cut and ended with "...".

    The cut keeps the trailing score ("American Staffo... 0.43"); only if even "... 0.43" is too wide
    is the score cut too. Spaces are kept: the label is shown as given. The cut falls between the
    characters of `text`, never inside a code point drawn for a missing one.
    """

    def fits(candidate: str) -> bool:
        return text_width(candidate, size) <= width

    def longest(prefix: str, tail: str) -> str | None:
        """The longest `prefix[:keep]...tail` that fits, if one does."""

        def cut(keep: int) -> str:
            return prefix[:keep].rstrip() + "..." + tail

        # A longer cut is never narrower, so the longest that fits is found by halving: the one a search from the
        # longest down finds, at 4 widths measured a cut caption instead of 33 (the sample models' labels).
        keep = bisect.bisect_left(range(len(prefix) + 1), True, key=lambda k: not fits(cut(k))) - 1
        return cut(keep) if keep >= 0 else None

    if fits(text):
        return text
    score = list(_SCORE.finditer(text))
    if score:
        head = text[: score[-1].start()]
        # A narrow picture drops what follows the score ("(flat map)") before it drops the score.
        for tail in dict.fromkeys((text[score[-1].start() :], score[-1].group())):
            if (found := longest(head, tail)) is not None:
                return found
    return longest(text[:-1], "") or ""


def wrap(items: Sequence[str], width: int, size: int, gap: str = "   ") -> list[str]:
    """`items` in order on as few lines as fit `width` px (padding included), `gap` between them.

    An item starts a new line rather than being split; only one wider than a whole line is split, at its
    spaces, and only a word wider than a line is cut.
    """
    room = width - 2 * padding(size)

    def fits(text: str) -> bool:
        return text_width(text, size) <= room

    lines: list[str] = []
    for item in items:
        if lines and fits(joined := lines[-1] + gap + item):
            lines[-1] = joined
            continue
        line, *words = item.split(" ")
        for word in words:
            if fits(longer := f"{line} {word}"):
                line = longer
            else:
                lines.append(fit_caption(line, room, size))
                line = word
        lines.append(fit_caption(line, room, size))
    return lines


def text_box(lines: Sequence[str], size: int, width: int | None = None) -> np.ndarray:
    """White `lines` on black, one under the other, as a BGR picture `width` px wide (default: the widest line's).

    Every text in every picture is drawn here; lines are drawn as given, so fit or wrap them first.
    """
    pad, texts = padding(size), [shown(line) for line in lines]
    with _FREETYPE:
        face = font(size)
        ascent, descent = face.getmetrics()
        if width is None:
            width = math.ceil(max([face.getlength(t) for t in texts] + [0])) + 2 * pad
        canvas = Image.new("L", (width, len(texts) * (ascent + descent) + pad), 0)
        draw = ImageDraw.Draw(canvas)
        for i, text in enumerate(texts):
            draw.text((pad, pad // 2 + i * (ascent + descent)), text, fill=255, font=face)
    return np.repeat(np.asarray(canvas)[:, :, None], 3, axis=2)


def captioned(picture: np.ndarray, text: str, bottom: bool = False) -> np.ndarray:
    """A copy of `picture` with `text`, cut to fit its width, in its top-left corner (bottom-left with `bottom`)."""
    return _caption(picture.copy(), text, bottom)


def _caption(picture: np.ndarray, text: str, bottom: bool = False) -> np.ndarray:
    """`captioned`, drawn on `picture` itself (one of our own, not a caller's)."""
    h, w = picture.shape[:2]
    size = caption_size(h, w)
    text = fit_caption(text, w - 2 * padding(size), size)
    if text:
        box = text_box([text], size)[:h, :w]
        top = h - box.shape[0] if bottom else 0
        picture[top : top + box.shape[0], : box.shape[1]] = box
    return picture


def colour_bar(width: int, colormap: str, size: int) -> np.ndarray:
    """The colour scale of the maps, at most `width` px wide: "low", the colormap from 0 to 1, "high"."""
    low, high = text_box(["low"], size), text_box(["high"], size)
    span = max(1, width - low.shape[1] - high.shape[1])
    margin = padding(size) // 2
    ramp = np.zeros((low.shape[0], span, 3), np.uint8)
    ramp[margin : low.shape[0] - margin] = colorize(np.linspace(0, 1, span, dtype=np.float32)[None], colormap)
    return np.hstack([low, ramp, high])


def overlay(
    bgr: np.ndarray,
    saliency: np.ndarray,
    caption: str = "",
    alpha: float = 0.5,
    colormap: str = "jet",
    scale: bool = False,
) -> np.ndarray:
    """The heatmap blended on the photo, with an optional caption in the top-left corner, cut to fit its width.

    scale: also a colour bar (`with_scale`).
    """
    blended = cv2.addWeighted(bgr, 1.0 - alpha, colorize(saliency, colormap), alpha, 0.0)
    picture = _caption(blended, caption) if caption else blended
    return with_scale(picture, colormap) if scale else picture


def with_scale(picture: np.ndarray, colormap: str, flat: bool = False) -> np.ndarray:
    """A copy of an overlay with the colour bar in its bottom-right corner, a third of its width, if it fits with a
    readable ramp; a `flat` map's overlay, which shows no heat, as it is.

    Apart from `overlay`, so that `explain` can shrink its overlays, bar-less, into thumbnails and contact sheets.
    """
    if flat:
        return picture
    h, w = picture.shape[:2]
    size = caption_size(h, w)
    labels = text_width("lowhigh", size) + 4 * padding(size)
    bar = colour_bar(max(w // 3, math.ceil(labels) + 4 * size), colormap, size)
    if bar.shape[0] > h or bar.shape[1] > w:
        return picture
    picture = picture.copy()
    picture[h - bar.shape[0] :, w - bar.shape[1] :] = bar
    return picture


def class_overlay(
    image: np.ndarray,
    saliency: np.ndarray,
    label: str,
    score: float,
    flat: bool = False,
    alpha: float = 0.5,
    colormap: str = "jet",
    height: int | None = None,
    *,
    rgb: bool = False,
    scale: bool = False,
) -> np.ndarray:
    """One class's heatmap (`saliency`, on the photo's pixels) on the BGR photo, captioned with its label and
    probability; a `flat` map shows the photo alone, and the caption says why.

    height: draw on a copy scaled to this many pixels high (a contact sheet's row), not on the full photo.
    rgb: return RGB, as matplotlib's imshow and PIL take it, not BGR. scale: a colour bar in a corner.
    """
    alpha = zero_to_one("alpha", alpha)
    if height:
        image, saliency = to_height(image, height), to_height(saliency, height)
    caption = f"{label} {score:.2f}"
    if flat:
        caption, alpha = f"{caption} (flat map)", 0.0
    picture = overlay(image, saliency, caption, alpha, colormap)
    picture = with_scale(picture, colormap, flat) if scale else picture
    return np.ascontiguousarray(picture[:, :, ::-1]) if rgb else picture


class Explained(Protocol):
    """What output reads of an `inference.explainer.Explanation`: named here, not imported, because output draws
    and writes what inference hands it and inference never learns of pictures or files."""

    source: str
    image: np.ndarray  # the photo, BGR

    @property
    def classes(self) -> Sequence[Any]:
        """The explained classes: class_id, label, score, flat."""

    @property
    def predictions(self) -> Sequence[Any]:
        """The likeliest classes: class_id, label, score."""

    @property
    def maps(self) -> np.ndarray: ...

    @property
    def upsampled(self) -> np.ndarray: ...

    def on_photo(self, which: int | str) -> tuple[Any, np.ndarray]: ...

    def peak(self, which: int | str) -> tuple[int, int] | None: ...


def overlay_of(
    explanation: Explained,
    which: int | str,
    alpha: float = 0.5,
    colormap: str = "jet",
    height: int | None = None,
    *,
    rgb: bool = False,
    scale: bool = False,
) -> np.ndarray:
    """The heatmap of class `which` (id or label) on the explained photo, captioned with its label and probability.

    Returns uint8 [H, W, 3] in BGR, as cv2.imwrite and cv2.imshow take it; with `rgb`, in RGB, as matplotlib's
    imshow and PIL take it. height, scale: as in `class_overlay`.
    """
    c, saliency = explanation.on_photo(which)
    return class_overlay(
        explanation.image, saliency, c.label, c.score, c.flat, alpha, colormap, height, rgb=rgb, scale=scale
    )


NOTEBOOK_HEIGHT = 480  # px: a notebook cell shows the photo whole, and a 4K photo's PNG would be megabytes


def notebook_png(explanation: Explained) -> bytes | None:
    """What a notebook shows for an Explanation: its first class's overlay, at most NOTEBOOK_HEIGHT px high, as PNG."""
    if not explanation.classes:
        return None
    height = min(explanation.image.shape[0], NOTEBOOK_HEIGHT)
    ok, encoded = cv2.imencode(".png", overlay_of(explanation, explanation.classes[0].class_id, height=height))
    return encoded.tobytes() if ok else None  # BGR in, a PNG that every viewer shows in true colour


def show_in_notebooks(kind: type) -> None:
    """Have IPython show every `kind` (an Explanation) as `notebook_png` draws it; outside IPython, nothing.

    A formatter registered from the public API, not a `_repr_png_` of the class: an Explanation is inference's
    data, and drawing is output's.
    """
    ipython = sys.modules.get("IPython")  # loaded in a notebook's kernel; a script never needs it
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        shell.display_formatter.formatters["image/png"].for_type(kind, notebook_png)


def unit_map(saliency_map: np.ndarray) -> np.ndarray:
    """One raw [h, w] map as float32 in [0, 1].

    uint8 maps (`patch --uint8`) are 0-255. Other maps are min-max scaled: that leaves the `saliency_map` output,
    scaled so already, as it is, and spreads `patch --no-normalize` scores, which can sit anywhere (probabilities
    of 0.8 to 0.9, say). A constant map, as a flat one, gives zeros.
    """
    m = np.asarray(saliency_map)
    if m.ndim != 2:
        raise ReciproCamError(f"a map is [h, w], one class of one image (saliency_map[b, c]); got shape {m.shape}")
    if m.dtype == np.uint8:
        return m.astype(np.float32) / 255.0  # a weak Python float keeps float32, and types as an array
    m = m.astype(np.float32)
    if not np.isfinite(m).all():
        raise ReciproCamError("the map holds NaN or infinite values")
    low, high = float(m.min()), float(m.max())
    return (m - low) / np.float32(high - low) if high > low else np.zeros_like(m)


def heatmap(saliency_map: np.ndarray, colormap: str = "jet", rgb: bool = False) -> np.ndarray:
    """One raw map (see unit_map) in colour at its own resolution: uint8 [h, w, 3], BGR unless `rgb`.

    The picture Model API's Visualizer blends for a ClassificationResult: it takes `result.saliency_map` as
    one BGR image, not the model's [B, classes, h, w] output.
    """
    colour = colorize(unit_map(saliency_map), colormap)
    return np.ascontiguousarray(colour[:, :, ::-1]) if rgb else colour


def draw_map(
    frame: np.ndarray, saliency_map: np.ndarray, alpha: float = 0.5, colormap: str = "jet", rgb: bool = False
) -> np.ndarray:
    """One raw map (see unit_map) blended on `frame`, a uint8 [H, W, 3] photo, BGR (as OpenCV reads) unless `rgb`.

    For apps that run a patched model themselves: `draw_map(frame, outputs["saliency_map"][0, c])`. The map is
    stretched bilinearly over the whole frame, which is where it lies when the recipe stretches the frame to the
    model input (`resize` stretch, the default); for fit, letterbox or crop, Explainer's overlays place it.
    Returns a new picture in the frame's channel order.
    """
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ReciproCamError(f"the frame must be a uint8 [H, W, 3] picture; got {frame.dtype} {frame.shape}")
    alpha = zero_to_one("alpha", alpha)
    h, w = frame.shape[:2]
    stretched = cv2.resize(unit_map(saliency_map), (w, h), interpolation=cv2.INTER_LINEAR)
    if not rgb:
        return overlay(frame, stretched, alpha=alpha, colormap=colormap)
    # overlay blends in BGR, the order colorize paints in: swap in and back out.
    swapped = np.ascontiguousarray(frame[:, :, ::-1])
    return np.ascontiguousarray(overlay(swapped, stretched, alpha=alpha, colormap=colormap)[:, :, ::-1])


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
    if h < height:
        return cv2.resize(picture, size, interpolation=cv2.INTER_LINEAR)
    # OpenCV's area filter is fast by whole factors only (a 1600x1200 photo to 224 px: 2.6 ms so, 10 ms at once):
    # shrink by the largest whole factor first, the last (at most f - 1) rows and columns left out, then the rest.
    f = min(h // height, w)  # a whole factor no larger than the width, so that a column is left
    if f >= 2:
        picture = cv2.resize(picture[: h - h % f, : w - w % f], (w // f, h // f), interpolation=cv2.INTER_AREA)
    # The rest shrinks by less than 2, where the bilinear filter's two taps still read every pixel: as smooth as
    # the area filter, at an eighth of its time (a 500x375 photo to 224 px: 0.2 ms against 1.6 ms).
    return cv2.resize(picture, size, interpolation=cv2.INTER_LINEAR)


def contact_sheet(rows: list[list[np.ndarray]], tile: int = 224, colormap: str | None = None) -> np.ndarray:
    """Pictures (one row per photo, one column per class), each `tile` px high, packed left to right.

    Widths follow each picture's aspect, so rows have no bands between them; shorter rows are padded
    on the right, and the sheet is as wide as the widest row.
    colormap: the maps' colormap, for a colour bar under the rows that says which colour is high.
    """
    scaled = [[to_height(picture, tile) for picture in row] for row in rows]
    width = max([sum(p.shape[1] for p in row) for row in scaled] + [1])  # an empty sheet is still a PNG
    sheet = np.full((len(rows) * tile, width, 3), BACKGROUND, np.uint8)
    for i, row in enumerate(scaled):
        x = 0
        for picture in row:
            sheet[i * tile : (i + 1) * tile, x : x + picture.shape[1]] = picture
            x += picture.shape[1]
    if colormap is None:
        return sheet
    bar = colour_bar(min(width, 20 * SCALE_SIZE), colormap, SCALE_SIZE)[:, :width]  # a ramp long enough to read
    strip = np.full((bar.shape[0], width, 3), BACKGROUND, np.uint8)
    strip[:, : bar.shape[1]] = bar
    return np.vstack([sheet, strip])
