"""`explain` on a detector: the same command as for a classifier, dispatched on the model; per detection an overlay,
its map, its box on the photo in results.json and a card in report.html; the flags of the other kind refused."""

from __future__ import annotations

import json
from urllib.parse import quote

import cv2
import numpy as np
from click.testing import CliRunner

from ov_reciprocam.cli import main
from ov_reciprocam.output import run_folder
from tests.support import detection_reference as ref
from tests.support.paths import DOG_MODEL, SAMPLES

BLAZEFACE = ["--mean", "127.5", "--scale", "127.5", "--rgb", "--resize", "letterbox"]
YOLOX = ["--raw-pixels", "--resize", "fit", "--pad-value", "114"]
GRACE = SAMPLES / "openimages" / "grace_hopper.png"
PETS = SAMPLES / "openimages" / "pets.jpg"


def explain(*args: object) -> tuple[int, str]:
    done = CliRunner().invoke(main, ["explain", *map(str, args)])
    return done.exit_code, done.output


def test_a_folder_run_writes_each_detections_files_and_reports_a_bad_file(tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    out = tmp_path / "out"
    code, said = explain(
        ref.BLAZEFACE.path,
        GRACE,
        SAMPLES / "images" / "both.png",
        bad,
        "-o",
        out,
        *BLAZEFACE,
        "--all-boxes",
        "--full-maps",
    )
    assert code == 1 and "1 of 3 images could not be read" in said, said
    results = json.loads((out / "results.json").read_text())
    assert results["detector"] == "anchored" and results["copy_grid"] == "8x8" and "letterbox" in results["preprocess"]
    (failed,) = results["failed"]
    assert failed["image"] == str(bad) and failed["error"].startswith("cannot read image")
    grace, both = results["images"]
    assert both["detections"] == [] and grace["size"] == [512, 600]
    (face,) = grace["detections"]
    assert face["label"] == "class_0" and face["score"] > 0.9 and not face["flat"]
    x1, y1, x2, y2 = face["box"]
    assert x1 <= face["peak"][0] <= x2 and y1 <= face["peak"][1] <= y2
    overlay = cv2.imread(str(out / face["overlay"]))
    assert overlay.shape[:2] == (600, 512)
    assert cv2.imread(str(out / grace["boxes"])).shape[:2] == (600, 512)
    maps = np.load(out / grace["maps"])
    assert maps.shape == (1, 8, 8) and abs(maps.max() - 1.0) < 1e-6 and maps.min() == 0.0
    assert np.load(out / grace["maps_full"]).shape == (1, 600, 512)
    page = (out / "report.html").read_text()
    assert page.count("<article class='card'") == 1 and f"href='{quote(face['overlay'])}'" in page
    assert (out / face["thumbnail"]).is_file()
    listed = set(results[run_folder.FILES])
    assert {face["overlay"], face["thumbnail"], grace["boxes"], grace["maps"], "report.html"} <= listed


def test_a_plain_yolox_patched_in_memory_with_the_detector_flags(tmp_path):
    labels = ref.YOLOX.path.parent / "coco_classes.txt"
    code, said = explain(
        ref.YOLOX.path,
        PETS,
        "-o",
        tmp_path,
        *YOLOX,
        "--labels",
        labels,
        "--detections",
        "2",
        "--copy-grid",
        "4x4",
        "--overlay-format",
        "png",
        "--no-report",
    )
    assert code == 0, said
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["copy_grid"] == "4x4" and results["detections"] == 2 and "padded with 114" in results["preprocess"]
    (record,) = results["images"]
    assert [d["label"] for d in record["detections"]] == ["dog", "dog"]
    assert [d["overlay"] for d in record["detections"]] == ["pets_1_dog.png", "pets_2_dog.png"]
    assert np.load(tmp_path / record["maps"]).shape == (2, 4, 4)
    assert not (tmp_path / "report.html").exists()


def test_the_flags_of_the_other_kind_are_refused_in_one_line(tmp_path):
    code, said = explain(ref.BLAZEFACE.path, GRACE, "-o", tmp_path / "a", *BLAZEFACE, "--top-k", "2")
    assert code == 2 and said.strip().splitlines()[-1] == (
        "Error: --top-k is for classifiers: a detector explains each detection it keeps (--detections) "
        "(see main explain --help)"
    )
    code, said = explain(ref.BLAZEFACE.path, GRACE, "-o", tmp_path / "c", *BLAZEFACE, "--class", "face")
    assert code == 2 and "Error: --class is for classifiers: a detector explains each detection it keeps" in said
    code, said = explain(DOG_MODEL, GRACE, "-o", tmp_path / "b", "--mean", "127.5", "--detections", "3")
    assert code == 2 and said.strip().splitlines()[-1] == (
        "Error: --detections is for object detectors; this model is a classifier (see main explain --help)"
    )
