"""Contact sheets and captions: one height per row, no bands, captions that fit their picture."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from paths import SAMPLES

from ov_reciprocam.output import pictures

TILE = 224
BACKGROUND = 32  # what contact_sheet fills the sheet with
PHOTO = (40, 120, 200)  # no channel is BACKGROUND or bright, so caption and padding pixels stand out
LONG = "American Staffordshire terrier 0.43"


def solid(h: int, w: int, colour: tuple[int, int, int]) -> np.ndarray:
    return np.full((h, w, 3), colour, np.uint8)


def quadrants(h: int, w: int) -> np.ndarray:
    """Four colours, one per corner: a crop or a misplaced picture changes a corner."""
    picture = solid(h, w, (255, 0, 0))
    picture[: h // 2, w // 2 :] = (0, 255, 0)
    picture[h // 2 :, : w // 2] = (0, 0, 255)
    picture[h // 2 :, w // 2 :] = (255, 255, 0)
    return picture


def captioned(h: int, w: int, caption: str) -> np.ndarray:
    """`caption` drawn with no heat (alpha 0) on a plain photo: every changed pixel is the caption's."""
    return pictures.overlay(solid(h, w, PHOTO), np.zeros((h, w), np.float32), caption, alpha=0.0)


def text_box(picture: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, x1, y0, y1), inclusive, of the caption's text: the bright pixels."""
    ys, xs = np.nonzero(picture.min(axis=2) > 90)
    return int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())


def font(h: int, w: int, text: str) -> tuple[str, int, int]:
    """(what fit_caption draws, its width in px, the caption's padding) on an h x w picture."""
    size = pictures.caption_size(h, w)
    pad = pictures.padding(size)
    fitted = pictures.fit_caption(text, w - 2 * pad, size)
    return fitted, math.ceil(pictures.text_width(fitted, size)), pad


def test_rows_are_one_tile_high_packed_left_to_right():
    landscape, portrait, square = (150, 300), (300, 150), (100, 100)  # 448, 112 and 224 px wide at the tile height
    colours = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255), (255, 255, 255), (0, 0, 0)]
    sizes = [[landscape, landscape], [portrait, square], [square, landscape, portrait]]
    rows, c = [], iter(colours)
    for row in sizes:
        rows.append([solid(h, w, next(c)) for h, w in row])
    sheet = pictures.contact_sheet(rows, TILE)
    assert sheet.dtype == np.uint8 and sheet.shape == (3 * TILE, 2 * 448, 3)  # the widest row sets the width
    c = iter(colours)
    for i, row in enumerate(sizes):
        x = 0
        for h, w in row:
            width = round(w * TILE / h)
            # Every pixel of the picture, at the tile height, in place: no crop, no centring, no bands.
            assert (sheet[i * TILE : (i + 1) * TILE, x : x + width] == next(c)).all(), (i, x)
            x += width
        assert (sheet[i * TILE : (i + 1) * TILE, x:] == BACKGROUND).all()  # padding only at the right end


def test_picture_corners_survive_scaling():
    sheet = pictures.contact_sheet([[quadrants(120, 160)], [quadrants(300, 100)]], TILE)  # 299 and 75 px wide
    assert sheet.shape == (2 * TILE, 299, 3)
    for i, width in enumerate((299, 75)):
        cell = sheet[i * TILE : (i + 1) * TILE, :width].astype(int)
        expected = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
        assert [tuple(cell[y, x]) for y, x in ((0, 0), (0, -1), (-1, 0), (-1, -1))] == expected


def test_landscape_thumbnails_leave_no_bands_between_rows():
    # explain's thumbnails today: full overlays shrunk so that their longer side is the tile.
    photos = [quadrants(1200, 1600), quadrants(280, 425), quadrants(224, 224)]
    rows = [[pictures.shrink_to(p, TILE), pictures.shrink_to(p, TILE)] for p in photos]
    sheet = pictures.contact_sheet(rows, TILE)
    assert sheet.shape[0] == len(rows) * TILE
    background = (sheet == BACKGROUND).all(axis=2)
    assert not background.all(axis=1).any()  # no line of the sheet is all background
    assert not background[:, 0].any()  # every row starts with a picture, top to bottom


@pytest.mark.parametrize("width", [TILE, 112, 299])  # square, portrait and landscape 224-px-high thumbnails
def test_long_caption_is_cut_before_the_score(width):
    fitted, drawn, pad = font(TILE, width, LONG)
    assert drawn <= width - 2 * pad
    head = fitted.removesuffix("... 0.43")
    assert fitted.endswith("... 0.43") and len(head) > 0 and LONG.startswith(head)


@pytest.mark.parametrize("size", [(TILE, TILE), (TILE, 112), (1600, 1200)])  # thumbnails and a full photo
def test_long_caption_is_drawn_inside_the_picture(size):
    h, w = size
    picture = captioned(h, w, LONG)
    fitted, drawn, pad = font(h, w, LONG)
    x0, x1, _, _ = text_box(picture)
    assert pad <= x0 and x1 < w - pad, (x0, x1, w)
    # The box is as wide as the fitted caption: that, not the whole one, is what was drawn.
    assert (picture[1] == 0).all(axis=1).sum() == drawn + 2 * pad


@pytest.mark.parametrize("size", [(TILE, TILE), (1600, 1200), (1200, 1600)])
def test_caption_is_readable_and_inside_its_tile_on_the_sheet(size):
    # On the sheet the caption is drawn on a thumbnail, or on the full photo and shrunk with it.
    h, w = size
    sheet = pictures.contact_sheet([[captioned(h, w, LONG)]], TILE)
    x0, x1, y0, y1 = text_box(sheet)
    assert x1 < sheet.shape[1] - 1, (x1, sheet.shape)
    assert y1 - y0 + 1 >= 13, (y0, y1)  # letters of a readable size on a 224-px row


def test_short_caption_is_unchanged():
    text = "tabby 0.87"
    fitted, drawn, pad = font(TILE, TILE, text)
    assert fitted == text
    picture = captioned(TILE, TILE, text)
    assert (picture[1] == 0).all(axis=1).sum() == drawn + 2 * pad


def test_caption_keeps_the_label_spaces():
    text = "Granny Smith 0.91"
    assert font(TILE, TILE, text)[0] == text
    assert font(TILE, 112, text)[0] == "Granny... 0.91"
    assert font(TILE, 160, "crane (machine) 0.12")[0] == "crane (m... 0.12"
    # Where the space between the words is drawn, nothing is: not an underscore, not a joined word.
    size = pictures.caption_size(TILE, TILE)
    pad = pictures.padding(size)
    before, after = (round(pictures.text_width(t, size)) for t in ("Granny", "Granny "))
    picture = captioned(TILE, TILE, text)
    x0, x1, y0, y1 = text_box(picture)
    gap = picture[y0 : y1 + 1, pad + before + 1 : pad + after - 1]
    assert gap.size and (gap.min(axis=2) <= 90).all()


def test_narrow_picture_keeps_the_score_before_the_flat_map_note():
    assert font(TILE, TILE, "Granny Smith 0.91 (flat map)")[0] == "Grann... 0.91 (flat map)"
    assert font(TILE, 112, "Granny Smith 0.91 (flat map)")[0] == "Granny... 0.91"
    fitted, drawn, pad = font(TILE, 40, LONG)  # too narrow even for "... 0.43": the caption is cut like any text
    assert fitted == "Am..." and drawn <= 40 - 2 * pad


@pytest.mark.parametrize("name", ["images/puppies.jpg", "openimages/parrot.jpg", "openimages/grace_hopper.png"])
def test_a_large_shrink_stays_close_to_one_area_filter(name):
    # to_height shrinks by a whole factor first (OpenCV's fast area filter), then the rest: measured on these
    # photos at 32.2 dB or more, mean 4.1 levels or less, from cv2.INTER_AREA in one step.
    photo = cv2.imread(str(SAMPLES / name))
    h, w = photo.shape[:2]
    expected = cv2.resize(photo, (round(w * TILE / h), TILE), interpolation=cv2.INTER_AREA).astype(np.float64)
    shrunk = pictures.to_height(photo, TILE)
    assert shrunk.shape == expected.shape
    for picture, closest in ((shrunk, True), (np.roll(shrunk, 2, axis=1), False)):  # two pixels off is not close
        diff = np.abs(picture - expected)
        close = bool(diff.mean() <= 5 and 10 * np.log10(255.0**2 / (diff**2).mean()) >= 30)
        assert close is closest, (diff.mean(), name)
