"""Text in pictures in any script, colour bars, names on contact-sheet tiles, labels in file names, and eval's
side-by-side maps that say what they show: each drawn for real and read back from its pixels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from commands import cli
from paths import IMAGES, SAMPLES

from ov_reciprocam.output import files, pictures

PHOTO = (40, 120, 200)  # no channel is bright: every bright pixel is text


def plain(h: int = 224, w: int = 320) -> np.ndarray:
    return np.full((h, w, 3), PHOTO, np.uint8)


def caption(text: str) -> np.ndarray:
    return pictures.captioned(plain(), text)


def test_the_font_and_its_licence_ship_in_the_package():
    assert pictures.FONT.is_file() and pictures.FONT.name == "DejaVuSans.ttf"
    licence = (pictures.FONT.parent / "LICENSE_DEJAVU").read_text()
    assert "Bitstream Vera" in licence and "DejaVu" in licence


@pytest.mark.parametrize("letter", ["ä", "ж", "λ", "ß"])
def test_latin_greek_and_cyrillic_letters_are_drawn_as_themselves(letter):
    word = f"B{letter}r 0.82"
    assert pictures.shown(word) == word
    drawn, questioned = caption(word), caption(word.replace(letter, "?"))
    assert drawn.shape == questioned.shape
    assert (drawn != questioned).any()  # not the "?" the Hershey font drew
    assert (drawn != caption(word.replace(letter, ""))).any()  # and not left out


def test_a_label_in_three_scripts_is_not_drawn_with_question_marks():
    label = "Bärenbeißer жук λύκος"
    assert (caption(label) != caption("B?renbei?er ??? ?????")).any()


def test_a_character_the_font_lacks_is_drawn_as_its_code_point():
    assert pictures.shown("中 0.5") == "<U+4E2D> 0.5"
    drawn = caption("中 0.5")
    assert (drawn == caption("<U+4E2D> 0.5")).all()  # visibly: the code point, drawn
    assert (drawn != caption("? 0.5")).any()
    assert (drawn != caption("□ 0.5")).any()  # and not an empty box, the same for every missing character


def test_a_cut_caption_never_splits_a_code_point():
    fitted = pictures.fit_caption("中文中文中文中文中文 0.91", 150, 18)
    assert fitted.endswith("... 0.91")
    assert "<U+" not in fitted and pictures.text_width(fitted, 18) <= 150


def longest_first(text: str, width: int, size: int) -> str:
    """fit_caption's rule searched the slow way: every cut tried, from the longest down."""
    fits = lambda t: pictures.text_width(t, size) <= width  # noqa: E731
    if fits(text):
        return text
    score = list(pictures._SCORE.finditer(text))
    tails = dict.fromkeys((text[score[-1].start() :], score[-1].group())) if score else {}
    head = text[: score[-1].start()] if score else ""
    cuts = [head[:k].rstrip() + "..." + tail for tail in tails for k in range(len(head), -1, -1)]
    cuts += [text[:k].rstrip() + "..." for k in range(len(text) - 1, -1, -1)]
    return next((c for c in cuts if fits(c)), "")


def test_a_cut_caption_is_the_longest_that_fits():
    labels = (SAMPLES / "models/dog_breeds_mobilenetv2/labels.txt").read_text().split("\n")[:40]
    labels += ["Bärenbeißer жук λύκος", "中文中文中文中文中文", "a  b   c"]
    for label in labels:
        for text in (f"{label} 0.43", f"{label} 0.43 (flat map)", label):
            for width, size in ((40, 11), (120, 18), (260, 30)):
                assert pictures.fit_caption(text, width, size) == longest_first(text, width, size), (text, width)


def test_wrapped_lines_keep_every_item_whole():
    items = [f"metric_{i} 0.{i}23" for i in range(8)]
    lines = pictures.wrap(items, 240, 14)
    assert len(lines) > 1
    assert " ".join(lines).split() == " ".join(items).split()  # every item, in order, none cut
    assert all(pictures.text_width(line, 14) <= 240 - 2 * pictures.padding(14) for line in lines)
    label = "class: American Staffordshire terrier"  # one item wider than a line: split at its spaces, not cut
    lines = pictures.wrap([label], 160, 14)
    assert len(lines) > 1 and " ".join(lines) == label


def test_a_contact_sheet_with_a_colormap_ends_with_a_labelled_colour_bar():
    sheet = pictures.contact_sheet([[plain()], [plain()]], 224, colormap="jet")
    assert sheet.shape[0] > 2 * 224
    bar = sheet[2 * 224 :].astype(int)
    middle = bar[bar.shape[0] // 2]
    blue, red = np.nonzero((middle[:, 0] > 200) & (middle[:, 2] < 60))[0], np.nonzero(middle[:, 2] > 200)[0]
    assert len(blue) and len(red) and blue.min() < red.max()  # jet: blue (BGR) is low, on the left; red high
    assert (bar.min(axis=2) > 200).sum() > 20  # the words "low" and "high", white
    assert pictures.contact_sheet([[plain()]], 224).shape[0] == 224  # without a colormap, no bar


@pytest.mark.parametrize("colormap", ["jet", "turbo", "inferno", "viridis"])
def test_a_map_is_coloured_as_opencvs_colormap_colours_it(colormap):
    rng = np.random.default_rng(0)
    saliency = np.concatenate([np.linspace(0, 1, 512, dtype=np.float32), rng.random(4096, np.float32)]).reshape(72, 64)
    levels = np.clip(np.floor(saliency * 255 + 0.5), 0, 255).astype(np.uint8)  # every level, rounded half up
    expected = cv2.applyColorMap(levels, getattr(cv2, f"COLORMAP_{colormap.upper()}"))
    np.testing.assert_array_equal(pictures.colorize(saliency, colormap), expected)


def test_an_overlay_has_a_colour_bar_only_when_asked():
    saliency = np.zeros((224, 320), np.float32)
    bare = pictures.overlay(plain(), saliency, alpha=0.0)
    assert (bare == PHOTO).all()
    scaled = pictures.overlay(plain(), saliency, alpha=0.0, scale=True)
    changed = np.nonzero((scaled != PHOTO).any(axis=2))
    assert changed[0].min() > 224 // 2 and changed[1].min() > 320 // 3  # in the bottom-right corner
    assert changed[0].max() == 223 and changed[1].max() == 319


def test_a_name_on_a_tile_is_drawn_at_its_bottom():
    named = pictures.captioned(plain(), "horses #1.jpg", bottom=True)
    rows = np.nonzero((named != PHOTO).any(axis=(1, 2)))[0]
    assert rows.min() > 224 * 3 // 4 and rows.max() == 223


@pytest.mark.parametrize(
    ("label", "safe"),
    [
        ("Bullmastiff (Bärenbeißer)", "Bullmastiff (Bärenbeißer)"),
        ("собака", "собака"),
        ("AC/DC: a*b?", "AC_DC_ a_b_"),
        ('say "hi" <x> | y\\z', "say _hi_ _x_ _ y_z"),
        ("tab\there", "tab_here"),
    ],
)
def test_file_names_keep_letters_and_lose_only_what_file_systems_forbid(label, safe):
    assert files.safe_name(label) == safe


def test_long_labels_fit_a_file_name_in_bytes():
    safe = files.safe_name("ж" * 200)
    assert len(safe.encode()) <= 100 and set(safe) == {"ж"}


def test_eval_maps_name_the_class_and_every_metric(tmp_path):
    from ov_reciprocam.quality import eval_report

    photo = plain(240, 320)
    metrics = {"average_drop": 12.5, "increase": 0.0, "deletion_auc": 0.125, "insertion_auc": 0.625}
    metrics |= {"coherency": 0.875, "complexity": 0.25, "adcc": 0.8125, "seconds": 0.5, "inferences": 26}
    saliency = np.zeros((240, 320), np.float32)
    saliency[60:120, 80:160] = 1.0
    result = {"label": "Bullmastiff (Bärenbeißer)", "probability": 0.5, "methods": {}}
    for name in ("reciprocam", "reciprocam-gaussian"):
        result["methods"][name] = metrics | {"photo_map": saliency, "peak": [100, 80]}
    picture = eval_report.side_by_side(photo, result, None, tile=240)
    columns = [320, 320, 320]
    assert picture.shape[1] == sum(columns)
    # Under each picture its text, as tall in every column; then the colour bar.
    text = picture[240:]
    assert (text[:, :320].max(axis=2) > 200).any() and (text[:, 320:].max(axis=2) > 200).any()
    # Every item is on some line, none cut: "..." appears nowhere in what the lines say.
    size = max(pictures.MIN_SIZE, 240 // 22)
    facts = eval_report._facts(result["methods"]["reciprocam"])
    lines = pictures.wrap(facts, 320, size)
    assert not any("..." in line for line in lines)
    assert " ".join(lines).split() == " ".join(facts).split()
    assert len(facts) == 9 and any(f.startswith("adcc↑ 0.812") for f in facts)


def test_pictures_read_the_font_shipped_beside_them():
    assert Path(pictures.font(18).path) == pictures.FONT


def test_explain_colour_bar_draws_the_scale_on_every_overlay_and_nothing_else(tmp_path):
    model = SAMPLES / "models" / "coral" / "mobilenet_v1_0.25_128_quant.tflite"
    runs = {}
    for name, flags in (("plain", ()), ("bar", ("--colour-bar",))):
        done = cli("explain", model, IMAGES / "horses.jpg", "-o", tmp_path / name, "--top-k", "2", *flags)
        assert done.returncode == 0, done.stderr
        runs[name] = sorted((tmp_path / name).glob("horses_*.jpg"))
    assert [p.name for p in runs["plain"]] == [p.name for p in runs["bar"]] and len(runs["bar"]) == 2
    for bare, barred in zip(runs["plain"], runs["bar"], strict=True):
        # JPEG codes 8x8 blocks apart: blocks the bar does not reach decode the same in both.
        a, b = (np.asarray(cv2.imread(str(p)), np.int16) for p in (bare, barred))
        changed = np.nonzero((np.abs(a - b) > 3).any(axis=2))
        h, w = a.shape[:2]
        assert changed[0].size > 0, "no colour bar drawn"
        assert changed[0].min() > h // 2 and changed[1].min() > w // 3  # only the bottom-right corner moved
