"""explain's files per photo: overlays in each format against the lossless pictures in memory, the .npy rows and
the classes they are, thumbnails and contact-sheet rows shrunk from the overlays, and writers in a thread pool."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from paths import DOG_MODEL, SAMPLES

import ov_reciprocam as orc
from ov_reciprocam.errors import ReciproCamError
from ov_reciprocam.output import files, pictures, report
from ov_reciprocam.output.explain_files import THUMBNAIL, Outputs, write_photo, write_summary
from ov_reciprocam.output.rows import RowLog
from ov_reciprocam.vocabulary import OverlayFormat

CORAL = SAMPLES / "models" / "coral" / "mobilenet_v1_0.25_128_quant.tflite"
PHOTOS = [SAMPLES / "openimages" / n for n in ("parrot.jpg", "cat.png", "kite_and_cold.jpg")]
PHOTOS += [SAMPLES / "openimages" / "dog_segmentation.png"]  # 128 px high: shorter than a thumbnail
PHOTOS += [SAMPLES / "images" / n for n in ("horses.jpg", "both.png")]
DOG_RECIPE = orc.Recipe(mean=(127.5,), scale=(127.5,), rgb=True, interpolation="cubic")

# How far each lossy format may move an overlay's pixels (0..255, every channel): a margin over what
# benchmarks/overlay_formats.py measured on 78 overlays of both sample models (docs/benchmarks.md, issue 33):
# JPEG q95 4:4:4 at worst PSNR 40.0 dB, mean 1.75, 99.9th percentile 12; WebP q95 38.5 dB, 1.94, 35.
# Each (least PSNR in dB, largest mean, largest 99.9th percentile); None: lossless, the same pixels.
TOLERANCE = {OverlayFormat.JPG: (38.0, 2.5, 16), OverlayFormat.WEBP: (36.0, 2.5, 40), OverlayFormat.PNG: None}
THUMBNAIL_TOLERANCE = (32.0, 4.5, 45)  # report.html's thumbnails, JPEG q85 4:2:0: 34.1 dB, 3.64, 35 measured


@pytest.fixture(scope="module")
def explanations() -> list:
    return orc.Explainer(CORAL).explain(PHOTOS, top_k=2)


def assert_close(decoded: np.ndarray, expected: np.ndarray, limits: tuple[float, float, float] | None) -> None:
    assert decoded.shape == expected.shape, (decoded.shape, expected.shape)
    if limits is None:
        np.testing.assert_array_equal(decoded, expected)
        return
    psnr, mean, tail = limits
    diff = np.abs(decoded.astype(np.int16) - expected.astype(np.int16))
    assert 10 * np.log10(255.0**2 / (diff.astype(np.float64) ** 2).mean()) >= psnr
    assert diff.mean() <= mean and np.percentile(diff, 99.9) <= tail, (diff.mean(), np.percentile(diff, 99.9))


@pytest.mark.parametrize("kind", list(OverlayFormat))
def test_each_format_decodes_within_its_measured_distance_of_the_lossless_overlay(explanations, tmp_path, kind):
    out = Outputs(tmp_path, overlay_format=kind.value)  # by name, as the CLI's flag gives it
    for explanation, path in zip(explanations, PHOTOS, strict=True):
        row = write_photo(explanation, str(path), path.stem, out)
        for entry in row.record["explained"]:
            assert entry["overlay"].endswith(f".{kind}")
            decoded = cv2.imread(str(tmp_path / entry["overlay"]))
            assert_close(decoded, pictures.overlay_of(explanation, entry["class_id"]), TOLERANCE[kind])


def test_the_tolerance_catches_a_map_one_feature_cell_off(explanations, tmp_path):
    explanation = explanations[0]
    entry = write_photo(explanation, str(PHOTOS[0]), "parrot", Outputs(tmp_path)).record["explained"][0]
    decoded = cv2.imread(str(tmp_path / entry["overlay"]))
    expected = pictures.overlay_of(explanation, entry["class_id"])
    cell = expected.shape[1] // explanation.maps.shape[2]
    with pytest.raises(AssertionError):
        assert_close(decoded, np.roll(expected, cell, axis=1), TOLERANCE[OverlayFormat.JPG])


def test_an_unknown_overlay_format_is_refused_in_our_words(tmp_path):
    with pytest.raises(ReciproCamError, match=r"^`overlay_format` must be one of jpg, png, webp, got 'tiff'$"):
        Outputs(tmp_path, overlay_format="tiff")


def test_the_npy_holds_the_explained_classes_maps_and_says_which(tmp_path):
    explainer = orc.Explainer(DOG_MODEL, preprocess=DOG_RECIPE)  # labels.txt beside it names the classes
    photo = SAMPLES / "images" / "both.png"
    asked = ("Samoyed", "bull_mastiff", "pug")
    for name, out in (
        ("top", Outputs(tmp_path / "top", top_k=2)),
        ("asked", Outputs(tmp_path / "asked", classes=asked)),
    ):
        (record,) = orc.explain_paths(explainer, [photo], out).records
        ids = [e["class_id"] for e in record["explained"]]
        expected = explainer.explain([photo], top_k=2) if name == "top" else explainer.explain([photo], classes=asked)
        assert ids == [c.class_id for c in expected[0].classes] and len(ids) == (2 if name == "top" else 3)
        assert record["maps_classes"] == ids  # the rows, in order
        np.testing.assert_array_equal(np.load(Path(out.directory) / record["maps"]), expected[0].maps)
    assert [explainer.label(i) for i in ids] == list(asked)


def test_a_runs_records_are_read_back_from_its_results_json(tmp_path):
    """A run keeps no record in memory: `records` reads results.json's, and says so when it has gone."""
    explainer = orc.Explainer(DOG_MODEL, preprocess=DOG_RECIPE)
    photos = [SAMPLES / "images" / "both.png", tmp_path / "not_a_photo.jpg", SAMPLES / "openimages" / "parrot.jpg"]
    photos[1].write_text("text")
    run = orc.explain_paths(explainer, photos, Outputs(tmp_path / "out", top_k=2))
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert run.records == results["images"] and run.failed == results["failed"]
    assert [r["image"] for r in run.records] == [str(photos[0]), str(photos[2])] and run.explained == 2
    assert run.maps == 4 and [f["image"] for f in run.failed] == [str(photos[1])]
    (tmp_path / "out" / "results.json").unlink()
    with pytest.raises(ReciproCamError, match=r"^cannot read the run's records from .*results\.json: No such file"):
        _ = run.records


def thumbnail_of(explanation, class_id: int) -> np.ndarray:
    """The overlay shrunk to a thumbnail; for a photo shorter than one, drawn at its height (a caption scaled up
    would blur)."""
    if explanation.image.shape[0] < THUMBNAIL:
        return pictures.overlay_of(explanation, class_id, height=THUMBNAIL)
    return pictures.to_height(pictures.overlay_of(explanation, class_id), THUMBNAIL)


def test_thumbnails_and_sheet_rows_are_the_overlays_shrunk(explanations, tmp_path):
    out = Outputs(tmp_path, overlay_format="png")
    rows = [write_photo(e, str(p), p.stem, out, tiles=True) for e, p in zip(explanations, PHOTOS, strict=True)]
    with RowLog(tmp_path / "results.json") as log:
        for row in rows:
            log.add(row)
        write_summary(out, log, [list(r.tiles) for r in rows], {})
    sheet = cv2.imread(str(tmp_path / "contact_sheet_001.png"))  # PNG: the rows as drawn
    for i, (explanation, row) in enumerate(zip(explanations, rows, strict=True)):
        shrunk = [thumbnail_of(explanation, c.class_id) for c in explanation.classes]
        assert len(row.tiles) == 2
        for tile, picture in zip(row.tiles, shrunk, strict=True):
            caption = pictures.text_box(["x"], pictures.caption_size(*tile.shape[:2])).shape[0]
            np.testing.assert_array_equal(tile[:-caption], picture[:-caption])  # above the photo's name
        # Every photo is a row of the sheet, its tiles side by side.
        width = sum(t.shape[1] for t in row.tiles)
        np.testing.assert_array_equal(sheet[i * THUMBNAIL : (i + 1) * THUMBNAIL, :width], np.hstack(row.tiles))
        thumbnail = cv2.imread(str(tmp_path / report.thumbnail_name(row.stem)))
        assert_close(thumbnail, shrunk[0], THUMBNAIL_TOLERANCE)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_pool_of_writers_writes_what_one_writer_writes(explanations, tmp_path):
    """write_photo from four threads at once, as runs.explain's pipeline calls it: the same files, byte for byte,
    with an ordinary file's mode, and no temporary left."""
    photos = [(e, str(p), p.stem) for e, p in zip(explanations, PHOTOS, strict=True)] * 3
    photos = [(e, path, f"{stem}-{i}") for i, (e, path, stem) in enumerate(photos)]
    alone, pooled = Outputs(tmp_path / "alone", colour_bar=True), Outputs(tmp_path / "pooled", colour_bar=True)
    one = [write_photo(e, path, stem, alone, tiles=True) for e, path, stem in photos]
    with ThreadPoolExecutor(4) as pool:
        many = list(pool.map(lambda p: write_photo(*p, pooled, tiles=True), photos))
    assert [r.record for r in many] == [r.record for r in one]
    for a, b in zip(one, many, strict=True):
        assert all(np.array_equal(x, y) for x, y in zip(a.tiles, b.tiles, strict=True))
    written = _files(tmp_path / "pooled")
    assert written == _files(tmp_path / "alone") and len(written) == len(photos) * (2 + 1 + 1)
    mask = os.umask(0o022)
    os.umask(mask)
    assert {(tmp_path / "pooled" / name).stat().st_mode & 0o777 for name in written} == {0o666 & ~mask}


def test_without_overlays_the_report_still_has_its_thumbnail_and_the_sheet_no_row(explanations, tmp_path):
    explanation = explanations[0]
    row = write_photo(explanation, str(PHOTOS[0]), "parrot", Outputs(tmp_path, overlays=False), tiles=True)
    assert row.tiles == () and [e["overlay"] for e in row.record["explained"]] == [None, None]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parrot_maps.npy", "thumbs"]
    thumbnail = cv2.imread(str(tmp_path / report.thumbnail_name("parrot")))
    drawn = pictures.overlay_of(explanation, explanation.classes[0].class_id, height=THUMBNAIL)  # no overlay to shrink
    assert_close(thumbnail, drawn, THUMBNAIL_TOLERANCE)


def test_results_json_is_streamed_whole_or_not_at_all(tmp_path):
    records = [{"image": f"photo_{i}_ü.jpg", "score": i / 7, "peak": [i, 2 * i], "flat": i % 2} for i in range(500)]
    data = {"labels": ["Ärger", "日本"], "images": records, "failed": []}
    written = files.write_json(tmp_path / "results.json", data)
    assert written.read_bytes() == (json.dumps(data, indent=2) + "\n").encode()  # as json writes it whole
    # A value JSON cannot hold, met half-way through: no results.json, no hidden piece of one, and the old one kept.
    with pytest.raises(TypeError):
        files.write_json(tmp_path / "results.json", {"images": [*records, {"score": np.float32(1)}]})
    assert os.listdir(tmp_path) == ["results.json"]
    assert json.loads(written.read_text()) == data
