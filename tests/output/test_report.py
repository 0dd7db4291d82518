"""report.html, read in a real headless browser: one card per photo, the class filter, the sort, every link on disk;
and contact sheets that page."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import browser
import cv2
import pytest
from builders import gap_linear
from commands import cli
from paths import SAMPLES

import ov_reciprocam as orc
from ov_reciprocam.output import pictures

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
    scores = [values(c, "score") for c in shown(browser.rendered(page, "sort=score"), "article")]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) > 1
    lowest = [values(c, "score") for c in shown(browser.rendered(page, "sort=-score"), "article")]
    assert lowest == sorted(scores)
    # No flat maps here: the flat filter leaves none.
    assert shown(browser.rendered(page, "flat=1"), "article") == []


def links_of(page: Path) -> list[str]:
    """Every picture's and link's target in `page`, as the file names they encode."""
    found = [a.get("src") or a.get("href") for t, a in elements(page.read_text()) if t in ("img", "a")]
    return [unquote(x) for x in found if x]


def values(item: dict, key: str) -> float:
    return json.loads(item["data-values"])[key]


def test_every_picture_and_link_of_the_report_is_a_file_beside_it(explained):
    links = links_of(explained / "report.html")
    assert len([x for x in links if x.startswith("thumbs/")]) == len(PHOTOS)
    assert len({x for x in links if x.endswith(".jpg") and "/" not in x}) == 2 * len(PHOTOS)  # every overlay
    for link in links:
        assert not re.match(r"[a-z]+://", link)  # relative: the page opens from disk, with no network
        assert (explained / link).is_file(), link
    thumb = cv2.imread(str(explained / next(x for x in links if x.startswith("thumbs/"))))
    assert thumb.shape[0] == 224


def test_the_report_is_one_self_contained_page(explained):
    text = (explained / "report.html").read_text()
    assert "<style>" in text and "<script>" in text
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", text)  # no CDN, no remote script or style


def test_no_report_writes_none(tmp_path):
    done = cli("explain", CORAL, PHOTOS[0], "-o", tmp_path / "out", "--no-report")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "out" / "report.html").exists() and not (tmp_path / "out" / "thumbs").exists()


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "eval"
    methods = "reciprocam,reciprocam-gaussian"
    done = cli("eval", CORAL, *PHOTOS[:3], "-o", out, "--methods", methods, "--steps", "4")
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize("key", ["reciprocam.adcc", "reciprocam-gaussian.adcc", "reciprocam-gaussian.average_drop"])
def test_eval_report_rows_sort_by_any_metric_of_any_method_both_ways(evaluated, key):
    page = evaluated / "report.html"
    assert len(shown(browser.rendered(page), "tr")) == 3
    highest = [values(r, key) for r in shown(browser.rendered(page, f"sort={key}"), "tr")]
    assert highest == sorted(highest, reverse=True) and len(set(highest)) > 1
    lowest = [values(r, key) for r in shown(browser.rendered(page, f"sort=-{key}"), "tr")]
    assert lowest == sorted(highest)
    # The column's header is what sorts by it: it names the key, and the page marks it sorted.
    headers = [a for t, a in elements(browser.rendered(page, f"sort=-{key}")) if t == "th" and "data-sort" in a]
    assert [h.get("aria-sort") for h in headers if h["data-sort"] == key] == ["ascending"]


def test_eval_report_means_hold_every_metric_with_its_better_direction(evaluated):
    summary = json.loads((evaluated / "metrics.json").read_text())["summary"]
    text = (evaluated / "report.html").read_text()
    means = text[text.index("<table class='means'>") : text.index("</table>")]
    for key, value in summary["reciprocam"].items():
        if value is None or isinstance(value, (int, float)):
            assert f"<th class='name'>{key} " in means, key
    for key, arrow in (("adcc", "↑"), ("deletion_auc", "↓"), ("seconds", "↓"), ("energy_pointing", "↑")):
        assert f"{key} {arrow}</th>" in means
    for link in links_of(evaluated / "report.html"):
        assert (evaluated / link).is_file(), link


def width_at(page: Path, width: int) -> int:
    """How wide `page` lays itself out in a window `width` px wide (its scroll width), measured by the browser.

    The page is shown in a frame of that width: headless Chromium's windows are at least 500 px wide.
    """
    probed = probe(page, "parent.postMessage(document.documentElement.scrollWidth,'*')")
    frame = page.with_name("frame.html")
    frame.write_text(
        f"<!doctype html><body style='margin:0'><iframe src='{probed.name}' style='width:{width}px;height:900px;"
        "border:0'></iframe><script>addEventListener('message',e=>{document.body.dataset.width=e.data})</script>"
    )
    body = [a for t, a in elements(browser.rendered(frame, "", "--virtual-time-budget=5000")) if t == "body"][0]
    return int(body["data-width"])


@pytest.mark.parametrize("width", [1280, 400])
def test_the_reports_fit_a_desktop_and_a_phone(evaluated, explained, width):
    # At both widths nothing scrolls sideways: the controls wrap, the means are a column per method, and
    # only the per-photo table scrolls, inside its own box.
    for page in (evaluated / "report.html", explained / "report.html"):
        assert width_at(page, width) <= width, page


def probe(page: Path, script: str) -> Path:
    """A copy of `page` beside it (same relative links) whose pictures load at once, and that runs `script`
    once everything has loaded."""
    text = page.read_text().replace(" loading='lazy'", "")
    copy = page.with_name("probe.html")
    copy.write_text(text.replace("</body>", f"<script>addEventListener('load',()=>{{{script}}})</script></body>"))
    return copy


ODD = ["horses#1.jpg", "horses?v=2.jpg", "my horses.jpg", "Bärenbeißer ж λ.jpg"]


@pytest.fixture(scope="module")
def odd(tmp_path_factory) -> tuple[Path, list[dict]]:
    """Photos named with `#`, `?`, spaces and letters beyond ASCII, in class folders: two named after the
    likeliest class (written another way: `_` for spaces, capitals), two after the second likeliest."""
    horses = SAMPLES / "images" / "horses.jpg"
    first, second = orc.Explainer(CORAL).explain([horses], top_k=2)[0].predictions[:2]
    root = tmp_path_factory.mktemp("odd")
    for name, label in zip(
        ODD, [first.label.upper().replace(" ", "_"), first.label, second.label, second.label], strict=True
    ):
        (root / "photos" / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(horses, root / "photos" / label / name)
    done = cli("explain", CORAL, root / "photos", "-o", root / "out", "--top-k", "2", "--labels-from-folders")
    assert done.returncode == 0, done.stderr
    records = json.loads((root / "out" / "results.json").read_text())["images"]
    return root / "out", records


def test_truth_from_folders_is_recorded_per_photo(odd):
    _, records = odd
    by_name = {Path(r["image"]).name: r for r in records}
    assert sorted(by_name) == sorted(ODD)
    top = records[0]["predictions"][0]["label"]
    assert [by_name[n]["truth"] == top for n in ODD] == [True, True, False, False]  # matched despite `_`, case
    assert [by_name[n]["correct"] for n in ODD] == [True, True, False, False]


def test_odd_photo_names_keep_their_thumbnails_and_links(odd):
    out, _ = odd
    script = (
        "for(const i of document.images)i.dataset.natural=i.naturalWidth;"
        "for(const a of document.links)a.dataset.resolved=a.href"
    )
    page = browser.rendered(probe(out / "report.html", script), "", "--window-size=1280,2000")
    pictures = [a for t, a in elements(page) if t == "img"]
    assert len(pictures) == len(ODD) and all(int(a["data-natural"]) > 0 for a in pictures), pictures
    resolved = [a["data-resolved"] for t, a in elements(page) if t == "a"]
    assert len(resolved) == 3 * len(ODD)  # the thumbnail and both explained classes, per photo
    for url in resolved:
        found = urlparse(url)
        assert found.scheme == "file" and not found.query and not found.fragment, url
        assert Path(unquote(found.path)).is_file(), url


@pytest.mark.parametrize(
    ("typed", "names"), [("HORSES", ODD[:3]), ("#1", ODD[:1]), ("ж λ", ODD[3:]), ("?v=", ODD[1:2])]
)
def test_the_name_filter_leaves_exactly_the_photos_whose_name_holds_it(odd, typed, names):
    out, _ = odd
    cards = shown(browser.rendered(out / "report.html", f"name={quote(typed)}"), "article")
    assert sorted(c["data-name"] for c in cards) == sorted(names)


def test_the_wrong_predictions_filter_leaves_exactly_the_wrong_ones(odd):
    out, records = odd
    cards = shown(browser.rendered(out / "report.html", "wrong=1"), "article")
    assert sorted(c["data-name"] for c in cards) == sorted(Path(r["image"]).name for r in records if not r["correct"])
    assert len(cards) == 2
    both = shown(browser.rendered(out / "report.html", f"wrong=1&name={quote('ж')}"), "article")
    assert [c["data-name"] for c in both] == [ODD[3]]


def test_ground_truth_from_a_csv(tmp_path, explained):
    records = json.loads((explained / "results.json").read_text())["images"]
    rows = ["name,class", f"{Path(records[0]['image']).name},{records[0]['predictions'][0]['label']}"]
    rows.append(f"{records[1]['image']},{records[1]['predictions'][1]['label']}")  # by path, the second class
    (tmp_path / "truth.csv").write_text("\n".join(rows) + "\n")
    done = cli(
        "explain", CORAL, *PHOTOS[:3], "-o", tmp_path / "out", "--top-k", "2", "--ground-truth", tmp_path / "truth.csv"
    )
    assert done.returncode == 0, done.stderr
    found = json.loads((tmp_path / "out" / "results.json").read_text())["images"]
    assert [r["correct"] for r in found] == [True, False, None]
    assert found[2]["truth"] is None


def test_a_class_the_model_does_not_know_fails_before_any_photo(tmp_path):
    (tmp_path / "truth.csv").write_text("parrot.jpg,no such class\n")
    done = cli("explain", CORAL, PHOTOS[0], "-o", tmp_path / "out", "--ground-truth", tmp_path / "truth.csv")
    assert done.returncode != 0 and "no such class" in done.stderr
    assert not (tmp_path / "out" / "results.json").exists()


def test_contact_sheets_page_sixteen_photos_each(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(17):
        shutil.copy(SAMPLES / "images" / "horses.jpg", folder / f"horse_{i:02d}.jpg")
    explainer = orc.Explainer(gap_linear(), preprocess=orc.Preprocess(32, 32), batch_size=4)
    run = orc.explain_paths(explainer, [folder], orc.Outputs(tmp_path / "out", top_k=1, report=False))
    assert len(run.records) == 17
    first, second = (cv2.imread(str(tmp_path / "out" / f"contact_sheet_00{n}.jpg")) for n in (1, 2))
    bar = pictures.colour_bar(224, "jet", pictures.SCALE_SIZE).shape[0]  # under the rows, the colour scale
    assert first.shape[0] == 16 * 224 + bar and second.shape[0] == 224 + bar
    assert not (tmp_path / "out" / "contact_sheet_003.jpg").exists()
