"""`explain` and the Explainer API on the real dog-breed model and real photos."""

from __future__ import annotations

import json
import shutil

import builders
import cv2
import numpy as np
import openvino as ov
import pytest
from commands import cli
from paths import DOG_MODEL, IMAGES
from tolerance import assert_maps_match

import ov_reciprocam as orc
from ov_reciprocam.output import pictures
from ov_reciprocam.photos.preprocess import Preprocess

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
# The recipe in samples/models/dog_breeds_mobilenetv2/README.md, as flags.
RECIPE_FLAGS = ["--mean", "127.5", "--scale", "127.5", "--rgb", "--interpolation", "cubic"]
LABELS = DOG_MODEL.parent / "labels.txt"


def _box_distance(point, box) -> float:
    x, y = point
    x0, y0, x1, y1 = box
    return float(np.hypot(max(x0 - x, 0, x - x1), max(y0 - y, 0, y - y1)))


@pytest.fixture(scope="module")
def dog_xai(tmp_path_factory):
    """The dog model patched with its recipe and labels in rt_info, as the README demo does."""
    out = tmp_path_factory.mktemp("dog") / "dog_xai.xml"
    result = cli("patch", DOG_MODEL, "-o", out, *RECIPE_FLAGS, "--labels", LABELS)
    assert result.returncode == 0, result.stderr
    assert "cubic" in result.stdout
    return out


@pytest.fixture(scope="module")
def explainer(dog_xai):
    return orc.Explainer(dog_xai, config=F32)


def test_recipe_and_labels_come_from_rt_info(explainer):
    assert explainer.preprocess == Preprocess(
        160, 160, "NHWC", mean=(127.5,), scale=(127.5,), rgb=True, interpolation="cubic"
    )
    assert explainer.labels == LABELS.read_text().split()
    assert not explainer.patched_here


@pytest.mark.parametrize(
    ("name", "label", "prob"),
    [
        ("both.png", "bull_mastiff", 0.85),
        ("puppies.jpg", "Labrador_retriever", 0.85),
        ("horses.jpg", "Labrador_retriever", 0.85),
        ("cheetah_person.jpg", "Chihuahua", 0.39),
    ],
)
def test_top1_as_listed_in_the_model_readme(explainer, name, label, prob):
    (result,) = explainer.explain([IMAGES / name])
    assert result.classes[0].label == label
    assert result.classes[0].score == pytest.approx(prob, abs=0.02)


def test_both_png_peak_on_dog_not_cat(explainer):
    (result,) = explainer.explain([IMAGES / "both.png"], top_k=1)
    dog = json.loads((IMAGES / "boxes.json").read_text())["both.png"][0]["box"]
    cat = json.loads((IMAGES / "boxes_other.json").read_text())["both.png"][0]["box"]
    point = result.peak("bull_mastiff")
    assert _box_distance(point, dog) == 0
    assert _box_distance(point, cat) > 0


def test_puppies_peak_distance(explainer):
    """A correct 5x5 map peaks on the rock below the puppies, ~27 px outside the nearest box."""
    (result,) = explainer.explain([IMAGES / "puppies.jpg"], top_k=1)
    boxes = [b["box"] for b in json.loads((IMAGES / "boxes.json").read_text())["puppies.jpg"]]
    distance = min(_box_distance(result.peak(result.classes[0].class_id), b) for b in boxes)
    print(f"puppies.jpg: peak {result.peak(result.classes[0].class_id)}, {distance:.0f} px from the nearest puppy")
    assert 15 < distance < 40


def test_batch_of_photos_matches_one_by_one(explainer):
    photos = [IMAGES / n for n in ("both.png", "puppies.jpg", "horses.jpg")]
    together = explainer.explain(photos, classes=["pug", 7])
    alone = [explainer.explain([p], classes=["pug", 7])[0] for p in photos]
    for a, b in zip(together, alone, strict=True):
        assert [c.class_id for c in a.classes] == [14, 7]
        assert_maps_match(np.stack([c.saliency for c in a.classes]), np.stack([c.saliency for c in b.classes]))


def test_unknown_class_is_a_clear_error(explainer):
    with pytest.raises(orc.ReciproCamError, match="unknown class 'tabby'"):
        explainer.explain([IMAGES / "both.png"], classes=["tabby"])


def test_embedded_preprocessing_takes_raw_photos(dog_xai, explainer, tmp_path):
    out = tmp_path / "embedded.xml"
    flags = ["--mean", "127.5", "--scale", "127.5", "--rgb", "--interpolation", "linear"]
    result = cli("patch", DOG_MODEL, "-o", out, *flags, "--labels", LABELS, "--embed-preprocessing")
    assert result.returncode == 0, result.stderr
    model = ov.Core().read_model(out)
    assert model.input(0).get_element_type() == ov.Type.u8
    photo = cv2.imread(str(IMAGES / "puppies.jpg"))
    raw = ov.Core().compile_model(model, "CPU", F32)(photo[None])
    linear = explainer.preprocess.with_overrides(interpolation="linear")
    reference = orc.Explainer(dog_xai, preprocess=linear, config=F32).explain([photo], top_k=1)[0]
    assert int(np.argmax(raw[0][0])) == reference.classes[0].class_id
    assert raw[orc.SALIENCY].shape == (1, 19, 5, 5)
    # OpenVINO's in-graph linear resize vs cv2's: same top class, close maps.
    np.testing.assert_allclose(
        raw[orc.SALIENCY][0, reference.classes[0].class_id], reference.classes[0].saliency, atol=0.02
    )
    embedded = orc.Explainer(out, config=F32).explain([photo], top_k=1)[0]
    assert embedded.classes[0].label == "Labrador_retriever"


def test_explain_folder_writes_everything(dog_xai, tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(IMAGES, photos, ignore=shutil.ignore_patterns("*.json", "*.md"))
    out = tmp_path / "out"
    result = cli("explain", dog_xai, photos, "-o", out, "--top-k", "2", "--full-maps")
    assert result.returncode == 0, result.stderr
    assert "4 images" in result.stdout
    report = json.loads((out / "results.json").read_text())
    assert len(report["images"]) == 4 and report["failed"] == []
    for record in report["images"]:
        w, h = record["size"]
        assert len(record["explained"]) == 2
        for item in record["explained"]:
            overlay = cv2.imread(str(out / item["overlay"]))
            assert overlay.shape == (h, w, 3)
            assert 0 <= item["peak"][0] < w and 0 <= item["peak"][1] < h
        assert np.load(out / record["maps"]).shape == (2, 5, 5)
        assert np.load(out / record["maps_full"]).shape == (2, h, w)
    assert len(list(out.glob("*.jpg"))) == 4 * 2 + 1  # the overlays, the sheet
    # One 224-px row per photo, tiles as wide as each photo's aspect gives, no bands between rows; a colour bar
    # under them.
    widest = max(round(r["size"][0] * 224 / r["size"][1]) for r in report["images"])
    bar = pictures.colour_bar(2 * widest, "jet", pictures.SCALE_SIZE).shape[0]
    assert cv2.imread(str(out / "contact_sheet_001.jpg")).shape == (4 * 224 + bar, 2 * widest, 3)


def test_plain_model_with_flags(tmp_path):
    out = tmp_path / "out"
    result = cli("explain", DOG_MODEL, IMAGES / "both.png", "-o", out, "--top-k", "1", *RECIPE_FLAGS)
    assert result.returncode == 0, result.stderr
    assert "cubic" in result.stderr  # the recipe is printed
    (record,) = json.loads((out / "results.json").read_text())["images"]
    assert record["explained"][0]["label"] == "bull_mastiff"  # labels.txt beside the model


def test_folder_with_a_bad_image_explains_the_rest(dog_xai, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(IMAGES / "both.png", photos)
    shutil.copy(IMAGES / "horses.jpg", photos)
    (photos / "notes.jpg").write_text("not a picture")
    (photos / "empty.png").write_bytes(b"")
    out = tmp_path / "out"
    result = cli("explain", dog_xai, photos, "-o", out, "--top-k", "1")
    assert result.returncode != 0
    assert "2 of 4 images could not be read" in result.stderr
    report = json.loads((out / "results.json").read_text())
    assert sorted(r["image"].rsplit("/", 1)[1] for r in report["images"]) == ["both.png", "horses.jpg"]
    assert {f["image"].rsplit("/", 1)[1] for f in report["failed"]} == {"notes.jpg", "empty.png"}
    assert (out / "both_1_bull_mastiff.jpg").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "nothing_here", "no such file or folder"),
        (lambda tmp: (tmp / "a.jpg").write_text("text") and tmp / "a.jpg", "cannot read image"),
        (lambda tmp: (tmp / "b.png").write_bytes(b"") or tmp / "b.png", "the file is empty"),
    ],
    ids=["missing folder", "text named jpg", "zero-byte png"],
)
def test_bad_images_one_line_error(dog_xai, tmp_path, make, message):
    result = cli("explain", dog_xai, make(tmp_path), "-o", tmp_path / "out")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert message in result.stderr


def test_two_input_model_is_refused(tmp_path):
    model = tmp_path / "two.xml"
    ov.save_model(builders.two_inputs(), model)
    result = cli("explain", model, IMAGES / "both.png", "-o", tmp_path / "out", "--raw-pixels")
    assert result.returncode != 0 and "2 inputs" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("resize", ["fit", "letterbox", "crop", "stretch"])
def test_maps_go_back_to_the_right_photo_pixels(resize):
    """A map equal to the model input's own pixels must land back on the photo where they came from."""
    photo = np.zeros((120, 200, 3), np.uint8)
    photo[30:60, 120:160] = 255  # a white block, off-centre, inside the central crop
    recipe = Preprocess(64, 64, "NCHW", resize=resize)
    model_input = recipe(photo)[0]  # channel 0, [64, 64]
    back = recipe.to_image(model_input / 255.0, (200, 120))
    assert back.shape == (120, 200)
    hot = np.argwhere(back > 0.5)
    (y0, x0), (y1, x1) = hot.min(axis=0), hot.max(axis=0)
    assert abs(y0 - 30) <= 3 and abs(y1 - 59) <= 3 and abs(x0 - 120) <= 3 and abs(x1 - 159) <= 3


def test_explainer_on_a_top_k_model(tmp_path):
    model = orc.patch(DOG_MODEL, top_k=2)
    recipe = Preprocess(160, 160, "NHWC", mean=(127.5,), scale=(127.5,), rgb=True, interpolation="cubic")
    explainer = orc.Explainer(model, preprocess=recipe, labels=LABELS.read_text().split(), config=F32)
    (result,) = explainer.explain([IMAGES / "both.png"], top_k=2)
    assert [c.label for c in result.classes] == ["bull_mastiff", "pug"]
    full = orc.Explainer(DOG_MODEL, preprocess=recipe, config=F32).explain([IMAGES / "both.png"], top_k=2)[0]
    for a, b in zip(result.classes, full.classes, strict=True):
        np.testing.assert_allclose(a.saliency, b.saliency, atol=1e-6)
    with pytest.raises(orc.ReciproCamError, match="best classes only"):
        explainer.explain([IMAGES / "both.png"], classes=["Samoyed"])
