"""`eval` for detectors, below the CLI: each detection's target, its pointing on known cases, the summary by hand.

Real inference on the sample face detectors (milliseconds a run); the known cases are the brute-force reference's
(tests/quality/test_detection_reference.py: each map of grace_hopper.png peaks in its face's box).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ov_reciprocam.errors import ReciproCamError
from ov_reciprocam.photos import imaging
from ov_reciprocam.quality import detection_eval, drise
from ov_reciprocam.quality.detection_decode import Decoding
from ov_reciprocam.vocabulary import DetectorKind, EvalMethod, Recipe
from tests.support import detection_reference as ref
from tests.support.paths import SAMPLES

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
# Each face detector's recipe (its README.txt), and how D-RISE decodes it.
SETUPS = {
    "ultralight": (ref.ULTRALIGHT, Recipe(mean=127, scale=128, rgb=True), Decoding(DetectorKind.DECODED)),
    "blazeface": (
        ref.BLAZEFACE,
        Recipe(mean=127.5, scale=127.5, rgb=True, resize="letterbox"),
        Decoding(DetectorKind.ANCHORED, ((16, 16, 2), (8, 8, 6))),
    ),
}
GRACE = SAMPLES / "openimages" / "grace_hopper.png"
PUPPIES = SAMPLES / "images" / "puppies.jpg"


def settings(name: str, **fields: object) -> detection_eval.DetectionEvalSettings:
    detector, recipe, _ = SETUPS[name]
    return detection_eval.DetectionEvalSettings(str(detector.path), recipe=recipe, config=F32, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(SETUPS))
def test_recipro_cams_peak_lies_in_the_face_box_the_reference_points_into(name: str) -> None:
    evaluator = detection_eval.DetectionEvaluator(settings(name, steps=2))
    record = evaluator.evaluate(GRACE)
    [face] = record["detections"]
    assert face["methods"]["reciprocam"]["peak_in_box"], face
    x1, y1, x2, y2 = face["input_box"]
    px, py = face["methods"]["reciprocam"]["peak"]
    assert x1 <= px + 0.5 <= x2 and y1 <= py + 0.5 <= y2  # the peak as recorded, in the same input frame
    assert 0.0 < face["methods"]["reciprocam"]["energy_in_box"] <= 1.0


@pytest.mark.parametrize(("name", "photo"), [("ultralight", PUPPIES), ("blazeface", GRACE)])
def test_each_detections_target_is_its_own_anchors_proposal(name: str, photo: Path) -> None:
    """`target_of` finds, among the plain run's proposals, the anchor the reference's decode and NMS kept."""
    detector, recipe, decoding = SETUPS[name]
    evaluator = detection_eval.DetectionEvaluator(settings(name))
    x = evaluator.explainer.prepare([imaging.read_image(photo)])
    rows = detection_eval.Found.of(*(a[0] for a in evaluator.explainer.run(x))).rows
    found = ref.detect(detector, ref.run(detector, x))
    assert len(found) == len(rows) >= 1
    proposals = drise.OpenVinoDetector.build(detector.path, decoding, config=F32).proposals(x)[0]
    for row, d in zip(rows, found, strict=True):
        mine, theirs = detection_eval.target_of(proposals, row[:4]), drise.Target.of(proposals, d.anchor)
        np.testing.assert_array_equal(mine.box, theirs.box)
        np.testing.assert_array_equal(mine.classes, theirs.classes)


def test_padding_rows_are_not_detections() -> None:
    rows = np.array([[1, 2, 3, 4, 0.9, 0], [5, 6, 7, 8, 0.8, 2], [0, 0, 0, 0, 0, -1]], np.float32)
    maps = np.arange(3 * 2 * 2, dtype=np.float32).reshape(3, 2, 2)
    found = detection_eval.Found.of(rows, maps)
    np.testing.assert_array_equal(found.rows, rows[:2])
    np.testing.assert_array_equal(found.maps, maps[:2])


def test_the_summary_counts_and_takes_medians_over_every_detection() -> None:
    def scored(hit: bool, energy: float, deletion: float, insertion: float) -> dict:
        values = {"peak_in_box": hit, "energy_in_box": energy, "deletion_auc": deletion, "insertion_auc": insertion}
        return {"methods": {"reciprocam": values}}

    records = [
        {"detections": [scored(True, 0.5, 0.1, 0.9), scored(False, 0.1, 0.3, 0.5)], "seconds": {"reciprocam": 2.0}},
        {"detections": [scored(True, 0.9, 0.2, 0.7)], "seconds": {"reciprocam": 0.5}},
        {"detections": [], "seconds": {"reciprocam": 9.0}},  # no detection: no map, and not timed
        {"image": "broken.png", "error": "cannot read image"},
    ]
    s = detection_eval.summarize(records, ["reciprocam"])["reciprocam"]
    assert (s["maps"], s["peak_in_box"]) == (3, 2)
    assert (s["energy_in_box"], s["deletion_auc"], s["insertion_auc"]) == pytest.approx((0.5, 0.2, 0.7))
    assert s["seconds_per_photo"] == pytest.approx(1.25)  # median of 2.0 and 0.5
    assert s["seconds_per_map"] == pytest.approx(1.0)  # median of 1.0, 1.0 and 0.5


def test_a_classifiers_methods_are_refused_for_a_detector_in_one_line() -> None:
    with pytest.raises(
        ReciproCamError,
        match=r"^`methods` scorecam,rise cannot explain a detector: a detector takes "
        r"reciprocam,drise$",
    ):
        detection_eval.detection_settings(ref.ULTRALIGHT.path, methods="reciprocam,scorecam,rise")
    chosen = detection_eval.detection_settings(ref.ULTRALIGHT.path, methods="drise,reciprocam", masks=20)
    assert chosen.names == (EvalMethod.DRISE, EvalMethod.RECIPROCAM) and chosen.masks == 20
    with pytest.raises(ReciproCamError, match=r"^`masks` must be a whole number, 1 or more; got 0$"):
        detection_eval.detection_settings(ref.ULTRALIGHT.path, masks=0)
