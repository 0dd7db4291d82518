"""`ov-reciprocam eval` on a detector: what it writes equals the metrics computed directly on the same maps.

Real inference on Ultra-Light (milliseconds a run), D-RISE with 50 masks. The direct computation shares the metrics
(`quality.detection_metrics`) and D-RISE, not the plumbing: it takes each detection's target from the brute-force
reference's anchor (tests/support/detection_reference.py), not from the eval's own match.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ov_reciprocam.inference.detector import DetectorExplainer
from ov_reciprocam.photos import imaging
from ov_reciprocam.quality import detection_metrics as dm
from ov_reciprocam.quality import drise
from ov_reciprocam.quality.detection_decode import Decoding
from ov_reciprocam.vocabulary import DetectorKind, Recipe
from tests.cli.test_hardening import _audited, _check_atomic
from tests.support import detection_reference as ref
from tests.support.commands import cli
from tests.support.paths import DOG_MODEL, SAMPLES

MODEL = ref.ULTRALIGHT.path
RECIPE = ["--mean", "127", "--scale", "128", "--rgb"]
PHOTOS = [SAMPLES / "images" / "puppies.jpg", SAMPLES / "openimages" / "grace_hopper.png"]
MASKS, STEPS = 50, 10
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """One audited eval of the two photos and a file that is no photo: (its folder, its log of writes)."""
    tmp = tmp_path_factory.mktemp("eval")
    broken = tmp / "broken.jpg"
    broken.write_bytes(b"not a photo")
    args = ["eval", MODEL, *PHOTOS, broken, *RECIPE, "--methods", "reciprocam,drise", "--rise-masks", MASKS]
    done, log = _audited(tmp, *args, "--steps", STEPS, "-o", tmp / "out")
    assert done.returncode == 1, done.stderr  # the unreadable photo, said at the end
    assert "1 images could not be read" in done.stderr and "skipped: cannot read image" in done.stderr
    assert "| Recipro-CAM |" in done.stdout and f"| D-RISE-{MASKS} |" in done.stdout
    return tmp / "out", log


def direct(photo: Path) -> list[dict[str, dict]]:
    """Per detection of `photo`, each method's metrics computed here, on the maps the two methods make."""
    explainer = DetectorExplainer(MODEL, preprocess=Recipe(mean=127, scale=128, rgb=True), config=F32)
    x = explainer.prepare([imaging.read_image(photo)])
    detections, saliency = explainer.run(x)
    found = ref.detect(ref.ULTRALIGHT, ref.run(ref.ULTRALIGHT, x))
    np.testing.assert_allclose(detections[0, : len(found), :4], [d.box for d in found], atol=0.5)
    box = drise.OpenVinoDetector.build(MODEL, Decoding(DetectorKind.DECODED), config=F32)
    proposals = box.proposals(x)[0]
    targets = [drise.Target.of(proposals, d.anchor) for d in found]
    maps = {"reciprocam": saliency[0, : len(found)], "drise": drise.drise(box, x, targets, masks=MASKS)}
    rows = []
    for k, (d, target) in enumerate(zip(found, targets, strict=True)):
        rows.append({})
        for name, native in maps.items():
            on_input = dm.on_input(native[k], box.input_size)
            rows[-1][name] = {
                "peak_in_box": dm.pointing_hit(on_input, d.box),
                "energy_in_box": dm.energy_in_box(on_input, d.box),
                "deletion_auc": dm.deletion_auc(box, x, on_input, target, STEPS),
                "insertion_auc": dm.insertion_auc(box, x, on_input, target, STEPS),
            }
    return rows


def test_each_detections_metrics_are_the_metrics_of_its_maps(run: tuple[Path, list]) -> None:
    report = json.loads((run[0] / "metrics.json").read_text())
    scored = [r for r in report["images"] if "error" not in r]
    assert [r["image"] for r in scored] == [p.name for p in PHOTOS]
    for record, photo in zip(scored, PHOTOS, strict=True):
        expected = direct(photo)
        assert len(record["detections"]) == len(expected) >= 1
        for detection, theirs in zip(record["detections"], expected, strict=True):
            for name, metrics in theirs.items():
                mine = detection["methods"][name]
                assert mine["peak_in_box"] == metrics["peak_in_box"], (photo.name, name)
                for key in ("energy_in_box", "deletion_auc", "insertion_auc"):
                    assert mine[key] == pytest.approx(metrics[key], abs=1e-3), (photo.name, name, key)
    summary = report["summary"]
    maps = sum(len(r["detections"]) for r in scored)
    assert summary["reciprocam"]["maps"] == summary["drise"]["maps"] == maps
    assert report["settings"]["drise_masks"] == MASKS


def test_the_csv_has_a_row_per_detection_and_method_and_an_error_row(run: tuple[Path, list]) -> None:
    with (run[0] / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    report = json.loads((run[0] / "metrics.json").read_text())
    maps = sum(len(r.get("detections", [])) for r in report["images"])
    assert len([r for r in rows if not r["error"]]) == 2 * maps
    [broken] = [r for r in rows if r["error"]]
    assert broken["image"] == "broken.jpg" and broken["error"].startswith("cannot read image")
    assert [r["error"] for r in report["images"] if "error" in r] == [broken["error"]]


def test_metrics_json_and_csv_are_written_atomically(run: tuple[Path, list]) -> None:
    _check_atomic(run[0], run[1])
    assert {p.name for p in run[0].iterdir()} == {"metrics.json", "metrics.csv"}


@pytest.mark.parametrize(
    ("model", "flags", "said"),
    [
        (MODEL, ["--methods", "reciprocam,reciprocam-logits"], "--methods reciprocam-logits cannot explain a detector"),
        (MODEL, ["--class", "face", "--ray", "local"], "--class, --ray are for classifiers: a detector's maps"),
        (DOG_MODEL, ["--methods", "drise", "--mean", "127.5"], "--methods drise cannot explain a classifier"),
    ],
    ids=["classifier-method", "classifier-flag", "drise-on-a-classifier"],
)
def test_a_method_or_flag_of_the_other_kind_of_model_is_refused_in_one_line(
    model: Path, flags: list[str], said: str, tmp_path: Path
) -> None:
    done = cli("eval", model, PHOTOS[1], *flags, "-o", tmp_path / "out")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert said in lines[-1] and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "out" / "metrics.json").exists()
