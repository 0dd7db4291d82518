"""DetectorExplainer on the sample detectors, against the brute-force reference (tests/support/detection_reference.py).

Its detections are the patched model's rows mapped onto the photo, and the reference's decode of the same input; each
map is the reference's; boxes land where each README.txt lists them, scaled back to the photo; maps peak inside their
box where docs/detection.md says they do. Every model runs in f32, so that the reference (f32) is comparable.
"""

from __future__ import annotations

import numpy as np
import pytest

from ov_reciprocam import DetectionOptions, Preprocess, Recipe, ReciproCamError, patch
from ov_reciprocam.inference.detector import DetectorExplainer
from ov_reciprocam.model.labels import read_labels
from tests.support import detection_reference as ref
from tests.support.paths import DOG_MODEL, SAMPLES
from tests.support.tolerance import assert_maps_match

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
YOLOX_RECIPE = Recipe(raw_pixels=True, resize="fit", pad_value=114)
ULTRALIGHT_RECIPE = Recipe(mean="127", scale="128", rgb=True)
BLAZEFACE_RECIPE = Recipe(mean="127.5", scale="127.5", rgb=True, resize="letterbox")
PETS = SAMPLES / "openimages" / "pets.jpg"
GRACE = SAMPLES / "openimages" / "grace_hopper.png"


@pytest.fixture(scope="module")
def yolox() -> DetectorExplainer:
    labels = read_labels(ref.YOLOX.path.parent / "coco_classes.txt")
    return DetectorExplainer(ref.YOLOX.path, preprocess=YOLOX_RECIPE, labels=labels, config=F32)


@pytest.fixture(scope="module")
def blazeface() -> DetectorExplainer:
    return DetectorExplainer(ref.BLAZEFACE.path, preprocess=BLAZEFACE_RECIPE, labels=["face"], config=F32)


def kept(rows: np.ndarray) -> np.ndarray:
    """The rows of `detections` [K, 6] that are detections, not padding."""
    return rows[rows[:, 5] >= 0]


def inside(point: tuple[int, int] | None, box: tuple[float, ...]) -> bool:
    return point is not None and box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def check_against_reference(explainer: DetectorExplainer, detector: ref.Detector, photo: np.ndarray) -> None:
    """Rows = the reference's decode of the same input; maps = its brute-force maps; the explanation = the rows."""
    inputs = explainer.prepare([photo])
    rows, maps = explainer.run(inputs)
    found = ref.detect(detector, ref.run(detector, inputs))
    rows = kept(rows[0])
    assert len(found) == len(rows) > 0
    np.testing.assert_allclose(rows[:, :4], [d.box for d in found], atol=0.05)
    np.testing.assert_allclose(rows[:, 4], [d.score for d in found], atol=1e-4)
    assert rows[:, 5].tolist() == [d.label for d in found]
    assert_maps_match(maps[0, : len(found)], ref.brute_force_maps(detector, inputs, found))
    explained = explainer.explained("photo", photo, *(a[0] for a in explainer.run(inputs)))
    assert [d.class_id for d in explained.detections] == rows[:, 5].tolist()
    np.testing.assert_allclose([d.input_box for d in explained.detections], rows[:, :4], atol=1e-4)
    np.testing.assert_allclose(np.stack([d.saliency for d in explained.detections]), maps[0, : len(rows)], atol=1e-6)


def test_yolox_detections_and_maps_are_the_references_on_pets(yolox):
    check_against_reference(yolox, ref.YOLOX, ref.read_photo(PETS))


def test_yolox_boxes_land_on_the_dogs_of_pets_in_photo_pixels_and_maps_peak_inside(yolox):
    (explained,) = yolox.explain(PETS)
    h, w = explained.image.shape[:2]
    r = min(416 / h, 416 / w)  # YOLOX's own letterbox: scaled by r, pasted top-left
    # yolox_nano/README.txt: pets.jpg: dog 0.89 [89, 31, 207, 241]; dog 0.83 [279, 140, 407, 299] (416 frame), at
    # bf16: in f32 its boxes move by up to 4 px (tests/quality/test_detection_reference.py).
    listed = np.array([[89, 31, 207, 241], [279, 140, 407, 299]]) / r
    boxes = np.array([d.box for d in explained.detections])
    assert [d.label for d in explained.detections] == ["dog", "dog"]
    np.testing.assert_allclose(boxes, listed, atol=4 / r)
    np.testing.assert_allclose(boxes, np.array([d.input_box for d in explained.detections]) / r, atol=1.0)
    for k, d in enumerate(explained.detections):
        assert explained.on_photo(k).shape == (h, w)
        assert inside(explained.peak(k), d.box), (d.label, explained.peak(k), d.box)


def test_blazeface_on_grace_hopper_a_centred_letterbox_undone(blazeface):
    photo = ref.read_photo(GRACE)
    check_against_reference(blazeface, ref.BLAZEFACE, photo)
    (explained,) = blazeface.explain(photo)
    (face,) = explained.detections
    h, w = photo.shape[:2]
    r = min(128 / h, 128 / w)
    left, top = (128 - round(w * r)) // 2, (128 - round(h * r)) // 2
    # blazeface_short_range/README.txt: grace_hopper: face 0.93 [45, 30, 87, 72] (128 frame)
    listed = (np.array([45, 30, 87, 72]) - [left, top, left, top]) / r
    np.testing.assert_allclose(face.box, listed, atol=4 / r)  # the README's run was bf16 (see above)
    assert face.label == "face" and inside(explained.peak(0), face.box)


def test_blazeface_maps_show_more_than_the_anchors_own_cell(blazeface):
    """BlazeFace's heads are 1x1 convolutions: cut at their input, a copy's score reads its own cell only, and each
    map was one hot cell whatever the face. Cut where the stages begin, the map spreads over the face's cells."""
    (explained,) = blazeface.explain(ref.read_photo(GRACE))
    (face,) = explained.detections
    saliency = face.saliency  # [8, 8] copy cells, min-max scaled
    assert (saliency > 0.05).sum() >= 4, np.round(saliency, 2)
    assert inside(explained.peak(0), face.box)


def test_ultralight_on_grace_hopper_a_stretch_undone():
    explainer = DetectorExplainer(ref.ULTRALIGHT.path, preprocess=ULTRALIGHT_RECIPE, labels=["face"], config=F32)
    photo = ref.read_photo(GRACE)
    check_against_reference(explainer, ref.ULTRALIGHT, photo)
    (face,) = explainer.explain(photo)[0].detections
    h, w = photo.shape[:2]
    # ultralight_rfb_320/README.txt: grace_hopper: face 1.00 [108, 48, 223, 133] (320x240, stretched)
    listed = np.array([108, 48, 223, 133]) * [w / 320, h / 240, w / 320, h / 240]
    np.testing.assert_allclose(face.box, listed, atol=4 * w / 320)


def test_photos_of_one_call_get_their_own_detections_and_maps(blazeface):
    grace, both = ref.read_photo(GRACE), ref.read_photo(SAMPLES / "images" / "both.png")
    together = blazeface.run(blazeface.prepare([grace, both, grace]))  # a batch-1 model, run a photo at a time
    for i, photo in enumerate([grace, both, grace]):
        alone = blazeface.run(blazeface.prepare([photo]))
        np.testing.assert_allclose(together[0][i], alone[0][0], atol=1e-5)
        np.testing.assert_allclose(together[1][i], alone[1][0], atol=1e-5)
    assert kept(together[0][0]).shape[0] == 1 and kept(together[0][1]).shape[0] == 0  # a face, and none


def test_a_patched_detector_is_taken_as_it_is_and_keeps_its_options():
    patched = patch(ref.BLAZEFACE.path, detection=DetectionOptions(detections=3))
    explainer = DetectorExplainer(patched, preprocess=BLAZEFACE_RECIPE, config=F32)
    assert not explainer.patched_here and explainer.info.detections == 3
    assert explainer.run(explainer.prepare([ref.read_photo(GRACE)]))[0].shape == (1, 3, 6)
    same = DetectorExplainer(patched, preprocess=BLAZEFACE_RECIPE, detection=DetectionOptions())  # nothing asked
    assert same.info == explainer.info
    with pytest.raises(ReciproCamError, match=r"^`copy_grid` applies to a plain detector; this one was patched before"):
        DetectorExplainer(patched, preprocess=BLAZEFACE_RECIPE, detection=DetectionOptions(copy_grid=(4, 4)))


def test_a_classifier_is_refused_in_one_line():
    with pytest.raises(
        ReciproCamError, match=r"^this model is no object detector: explain a classifier with Explainer$"
    ):
        DetectorExplainer(DOG_MODEL, preprocess=Recipe(mean="127.5", scale="127.5", rgb=True))


def test_the_pad_value_fills_the_border_and_travels_in_rt_info():
    photo = np.full((100, 200, 3), 7, np.uint8)  # 2:1, so fit leaves the bottom half of a square input empty
    fitted = Preprocess(64, 64, resize="fit", pad_value=114)(photo)  # raw pixels, NCHW
    assert (fitted[:, :32] == 7).all() and (fitted[:, 32:] == 114).all()
    model = ref.YOLOX.model()
    Preprocess.from_model(model, pad_value=114).write_rt_info(model)
    assert Preprocess.from_model(model).pad_value == 114  # rt_info's model_info/pad_value, Model API's key
    with pytest.raises(ReciproCamError, match=r"^`pad_value` must be a whole number in \[0, 255\]"):
        Recipe(pad_value=300)


@pytest.mark.parametrize(
    ("resize", "expected"),
    [
        ("stretch", [0, 0, 200, 100]),  # 100x100 input over a 200x100 photo: x doubled
        ("fit", [0, 0, 200, 200]),  # the photo fills the top half, scaled by 1/2
        ("letterbox", [0, -50, 200, 150]),  # centred: the photo starts 25 input pixels down
        ("crop", [50, 0, 150, 100]),  # the input is the photo's middle square
    ],
)
def test_boxes_go_back_onto_the_photo_as_each_resize_placed_it(resize, expected):
    recipe = Preprocess(100, 100, resize=resize)
    np.testing.assert_allclose(recipe.boxes_to_image(np.array([0, 0, 100, 100]), (200, 100)), expected)
