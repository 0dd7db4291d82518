"""report.html, read in a real headless browser: one card per photo, the class filter, the sort, every link on disk;
and contact sheets that page."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import browser
import cv2
import pytest
from builders import gap_linear
from commands import cli
from paths import SAMPLES

import ov_reciprocam as orc

CORAL = SAMPLES / "models" / "coral" / "mobilenet_v1_0.25_128_quant.tflite"
PHOTOS = [
    SAMPLES / "openimages" / n for n in ("parrot.jpg", "cat.png", "hot_dog.jpg", "bird.png", "dog_segmentation.png")
]


class _Elements(HTMLParser):
    """The elements of a rendered page, as (tag, attributes), in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def elements(page: str) -> list[tuple[str, dict]]:
    parser = _Elements()
    parser.feed(page)
    return parser.found


def shown(page: str, tag: str) -> list[dict]:
    """The attributes of the `tag` items in #items the page's script left visible, in the order it left them."""
    return [a for t, a in elements(page) if t == tag and "data-top" in a and "hidden" not in a]


@pytest.fixture(scope="module")
def explained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "out"
    done = cli("explain", CORAL, *PHOTOS, "-o", out, "--top-k", "2")
    assert done.returncode == 0, done.stderr
    return out


def test_explain_report_has_a_card_per_photo_that_filters_and_sorts(explained):
    records = json.loads((explained / "results.json").read_text())["images"]
    page = explained / "report.html"
    every = shown(browser.rendered(page), "article")
    assert len(every) == len(PHOTOS) == len(records)
    assert [c["data-top"] for c in every] == [r["predictions"][0]["label"] for r in records]
    # The class filter leaves exactly the photos whose likeliest class it names.
    label = records[1]["predictions"][0]["label"]
    kept = shown(browser.rendered(page, f"class={label}"), "article")
    assert len(kept) == sum(r["predictions"][0]["label"] == label for r in records) >= 1
    assert all(c["data-top"] == label for c in kept)
    # Sorting by score orders the cards, highest first; "-score" lowest first.
    scores = [float(c["data-score"]) for c in shown(browser.rendered(page, "sort=score"), "article")]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) > 1
    lowest = [float(c["data-score"]) for c in shown(browser.rendered(page, "sort=-score"), "article")]
    assert lowest == sorted(scores)
    # No flat maps here: the flat filter leaves none.
    assert shown(browser.rendered(page, "flat=1"), "article") == []


def test_every_picture_and_link_of_the_report_is_a_file_beside_it(explained):
    links = [
        a.get("src") or a.get("href")
        for t, a in elements((explained / "report.html").read_text())
        if t in ("img", "a") and (a.get("src") or a.get("href"))
    ]
    assert len([x for x in links if x.startswith("thumbs/")]) == len(PHOTOS)
    assert len({x for x in links if x.endswith(".png")}) == 2 * len(PHOTOS)  # every explained overlay
    for link in links:
        assert not re.match(r"[a-z]+://", link)  # relative: the page opens from disk, with no network
        assert (explained / link).is_file(), link
    thumb = cv2.imread(str(explained / next(x for x in links if x.startswith("thumbs/"))))
    assert thumb.shape[0] == 128


def test_the_report_is_one_self_contained_page(explained):
    text = (explained / "report.html").read_text()
    assert "<style>" in text and "<script>" in text
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", text)  # no CDN, no remote script or style


def test_no_report_writes_none(tmp_path):
    done = cli("explain", CORAL, PHOTOS[0], "-o", tmp_path / "out", "--no-report")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "out" / "report.html").exists() and not (tmp_path / "out" / "thumbs").exists()


def test_eval_report_rows_sort_by_any_metric(tmp_path):
    out = tmp_path / "eval"
    done = cli("eval", CORAL, *PHOTOS[:3], "-o", out, "--methods", "reciprocam", "--steps", "4")
    assert done.returncode == 0, done.stderr
    page = out / "report.html"
    rows = shown(browser.rendered(page), "tr")
    assert len(rows) == 3
    adcc = [float(r["data-reciprocam.adcc"]) for r in shown(browser.rendered(page, "sort=reciprocam.adcc"), "tr")]
    assert adcc == sorted(adcc, reverse=True)
    drop = [
        float(r["data-reciprocam.average_drop"])
        for r in shown(browser.rendered(page, "sort=-reciprocam.average_drop"), "tr")
    ]
    assert drop == sorted(drop)
    for t, a in elements(page.read_text()):
        if t in ("a", "img") and (link := a.get("href") or a.get("src")):
            assert (out / link).is_file(), link


def test_contact_sheets_page_sixteen_photos_each(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(17):
        shutil.copy(SAMPLES / "images" / "horses.jpg", folder / f"horse_{i:02d}.jpg")
    explainer = orc.Explainer(gap_linear(), preprocess=orc.Preprocess(32, 32), batch_size=4)
    run = orc.explain_paths(explainer, [folder], tmp_path / "out", top_k=1, report=False)
    assert len(run.records) == 17
    first, second = (cv2.imread(str(tmp_path / "out" / f"contact_sheet_00{n}.png")) for n in (1, 2))
    assert first.shape[0] == 16 * 224 and second.shape[0] == 224
    assert not (tmp_path / "out" / "contact_sheet_003.png").exists()
