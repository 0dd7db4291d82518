"""`eval` end to end: a model with a known response (hand-computed answers), then the real dog model."""

from __future__ import annotations

import csv
import json
import shutil
import sys

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from click.testing import CliRunner
from commands import cli as run
from known import BOX, FLAT
from paths import DOG_MODEL, IMAGES, SAMPLES

import ov_reciprocam as orc
from ov_reciprocam.cli import main
from ov_reciprocam.photos.imaging import read_image
from ov_reciprocam.quality import baselines
from ov_reciprocam.quality import metrics as metrics_of
from ov_reciprocam.quality.baselines import BlackBox
from ov_reciprocam.quality.evaluate import BASELINES, DEFAULT_METHODS, METRICS, InputSpace, evaluate_image
from ov_reciprocam.vocabulary import DeletionBaseline, Protocol

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
KNOWN_RECIPE = orc.Preprocess(8, 8, "NCHW", mean=(0.0,), scale=(255.0,))
WHITE = np.full((8, 8, 3), 255, np.uint8)
DOG_FLAGS = ["--mean", "127.5", "--scale", "127.5", "--rgb", "--interpolation", "cubic"]


def known_response_model() -> ov.Model:
    """Input [N, 3, 8, 8] in [0, 1] -> 2x2 average pool "pool" [N, 3, 4, 4] -> p = 0.2 + 0.6 * m, where m is
    the mean of channel 0 over the top-left 4x4 pixels R. Softmax([log p, log(1 - p)]) = [p, 1 - p]."""
    image = ops.parameter([-1, 3, 8, 8], ov.Type.f32, name="image")
    pool = ops.avg_pool(image, [2, 2], [0, 0], [0, 0], [2, 2], exclude_pad=True)
    pool.set_friendly_name("pool")
    weights = np.zeros((1, 3, 4, 4), np.float32)
    weights[0, 0, :2, :2] = 0.25
    m = ops.reduce_sum(ops.multiply(pool, ops.constant(weights)), ops.constant(np.array([2, 3])), keep_dims=False)
    m = ops.reduce_sum(m, ops.constant(np.array([1])), keep_dims=True)  # [N, 1]
    p = ops.add(ops.multiply(m, ops.constant(np.float32(0.6))), ops.constant(np.float32(0.2)))
    logits = ops.concat([ops.log(p), ops.log(ops.subtract(ops.constant(np.float32(1.0)), p))], 1)
    return ov.Model([ops.result(ops.softmax(logits, 1))], [image], "known_response")


@pytest.fixture(scope="module")
def known_box() -> BlackBox:
    return BlackBox.build(known_response_model(), "NCHW", config=F32, target="pool")


def _evaluate(box, methods, class_id=0, protocol=Protocol.PIXELS, **options):
    """On the input grid, as the hand-computed answers are (the maps here are at the input's size anyway)."""
    return evaluate_image(WHITE, class_id, methods, box, InputSpace(KNOWN_RECIPE, protocol), steps=4, **options)


def test_known_model_perfect_box_and_flat_map(known_box):
    """The cases of test_metrics.py, now through OpenVINO and the whole per-image pipeline."""
    result = _evaluate(known_box, {"box": lambda px, c: BOX, "flat": lambda px, c: FLAT}, boxes=[[17, 0, 20, 8]])
    assert result["probability"] == pytest.approx(0.8, abs=1e-6)
    box, flat = result["methods"]["box"], result["methods"]["flat"]
    # Perfect box: R untouched (O = Y), deleted in one step, white blurs to white (flat insertion at 0.8),
    # re-explained identically, a quarter of the pixels lit: ADCC = 3 / (1 + 4/3 + 1).
    expected_box = {"average_drop": 0.0, "increase": 0.0, "deletion_auc": 0.275, "insertion_auc": 0.8}
    expected_box |= {"coherency": 1.0, "complexity": 0.25, "adcc": 0.9}
    assert {k: box[k] for k in METRICS} == pytest.approx(expected_box, abs=1e-5)
    assert box["curves"]["deletion"] == pytest.approx([0.8, 0.2, 0.2, 0.2, 0.2], abs=1e-6)
    # Flat 0.5: O = 0.5, drop 37.5 %; deleted row by row; two flat maps cohere; ADCC = 3 / 4.6.
    expected_flat = {"average_drop": 37.5, "increase": 0.0, "deletion_auc": 0.35, "insertion_auc": 0.8}
    expected_flat |= {"coherency": 1.0, "complexity": 0.5, "adcc": 3 / 4.6}
    assert {k: flat[k] for k in METRICS} == pytest.approx(expected_flat, abs=1e-5)
    # Peaks: the box plateau's centre pixel (1, 1), 16 px from the box -> miss; the flat map's (3, 3), 14 px -> hit.
    assert (box["peak"], box["peak_distance"], box["pointing_hit"]) == ([1, 1], 16.0, False)
    assert (flat["peak"], flat["peak_distance"], flat["pointing_hit"]) == ([3, 3], 14.0, True)


def test_known_model_increase_and_blur_baseline(known_box):
    # Class 1 has p = 0.8 - 0.6 m: darkening R raises it. Y = 0.2, O = 0.5 under the flat map.
    result = _evaluate(known_box, {"flat": lambda px, c: FLAT}, class_id=1)["methods"]["flat"]
    assert (result["average_drop"], result["increase"]) == (0.0, 100.0)
    assert result["masked_probability"] == pytest.approx(0.5, abs=1e-6)
    # A blurred white photo is white: deletion with --baseline blur changes nothing.
    blurred = _evaluate(known_box, {"box": lambda px, c: BOX}, baseline=DeletionBaseline.BLUR)["methods"]["box"]
    assert blurred["deletion_auc"] == pytest.approx(0.8, abs=1e-6)
    assert "pointing_hit" not in blurred  # no boxes, no pointing game


def test_score_cam_on_known_model(known_box):
    """White R on black: every channel of "pool" is 1 on the top-left 2x2 cells and 0 elsewhere, so every
    weight multiplies the same map and Score-CAM, min-max scaled, is exactly that map."""
    photo = np.zeros((8, 8, 3), np.uint8)
    photo[:4, :4] = 255
    saliency = baselines.score_cam(known_box, KNOWN_RECIPE(photo), 0)
    expected = np.zeros((4, 4))
    expected[:2, :2] = 1.0
    np.testing.assert_allclose(saliency, expected, atol=1e-6)
    # A black photo has flat activations: no channel can weigh in, and the map is empty.
    assert not baselines.score_cam(known_box, KNOWN_RECIPE(np.zeros_like(photo)), 0).any()


def test_rise_on_known_model_finds_the_region(known_box):
    x = KNOWN_RECIPE(WHITE)
    saliency = baselines.rise(known_box, x, 0, masks=2000, seed=1)
    assert saliency.shape == (8, 8) and saliency.min() == 0.0 and saliency.max() == pytest.approx(1.0)
    inside, outside = saliency[:4, :4].mean(), saliency[BOX == 0].mean()
    assert inside > outside + 0.3, (inside, outside)
    np.testing.assert_array_equal(saliency, baselines.rise(known_box, x, 0, masks=2000, seed=1))
    assert not np.array_equal(saliency, baselines.rise(known_box, x, 0, masks=2000, seed=2))
    # The opposite class (p = 0.8 - 0.6 m) dislikes the region.
    other = baselines.rise(known_box, x, 1, masks=2000, seed=1)
    assert other[:4, :4].mean() < other[BOX == 0].mean()


def test_known_model_average_drop_in_either_space(known_box):
    """Recipe mean 127.5: a white pixel normalizes to 0.5, so Y = 0.2 + 0.6 * 0.5 = 0.5. The flat 0.5 map halves
    the normalized input (m = 0.25, O = 0.35, a 30 % drop); in pixels it makes them 127.5, which normalizes to 0
    (O = 0.2, a 60 % drop)."""
    recipe = orc.Preprocess(8, 8, "NCHW", mean=(127.5,), scale=(255.0,))
    drops = {}
    for protocol in Protocol:
        space = InputSpace(recipe, protocol)
        result = evaluate_image(WHITE, 0, {"flat": lambda px, c: FLAT}, known_box, space, steps=4)
        assert result["probability"] == pytest.approx(0.5, abs=1e-6)
        drops[protocol.value] = result["methods"]["flat"]["average_drop"]
    assert drops == pytest.approx({"paper": 30.0, "pixels": 60.0}, abs=1e-4)


def test_adcc_of_the_means_or_of_the_photos():
    """Photo 1: coherency 1, complexity 0.5, drop 50 % (ADCC 3 / 5 = 0.6); photo 2: 1, 0, 0 (ADCC 1). The paper's
    ADCC takes the means first (1, 0.25, 25 %): 3 / (1 + 4/3 + 4/3) = 9/11; per photo it is (0.6 + 1) / 2."""
    from ov_reciprocam.quality.evaluate import summarize

    def row(coherency, complexity, drop):
        m = {"coherency": coherency, "complexity": complexity, "average_drop": drop, "seconds": 1.0, "inferences": 1}
        m |= {"metric_seconds": 1.0}
        m |= {"increase": 0.0, "deletion_auc": 0.0, "insertion_auc": 0.0}
        return {"methods": {"m": m | {"adcc": metrics_of.adcc(coherency, complexity, drop)}}}

    records = [row(1.0, 0.5, 50.0), row(1.0, 0.0, 0.0)]
    assert summarize(records, ["m"], Protocol.PAPER)["m"]["adcc"] == pytest.approx(9 / 11)
    assert summarize(records, ["m"], Protocol.PIXELS)["m"]["adcc"] == pytest.approx(0.8)


def test_paper_protocol_multiplies_the_model_input():
    """The papers' protocol: the map multiplies the normalized tensor, and a removed pixel is its zero."""
    recipe = orc.Preprocess(16, 12, "NHWC", mean=(10.0, 20.0, 30.0), scale=(2.0, 4.0, 8.0), rgb=True)
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (12, 16, 3), np.uint8)
    saliency = rng.random((12, 16)).astype(np.float32)
    space = InputSpace(recipe)
    pixels = space.pixels(photo)
    x = space.normalized(pixels[None])[0]
    np.testing.assert_allclose(space.normalized(space.masked(pixels, saliency)[None])[0], x * saliency[..., None],
                               atol=1e-5)  # fmt: skip
    np.testing.assert_allclose(space.normalized(space.removed(pixels)[None]), 0, atol=1e-6)
    in_pixels = InputSpace(recipe, Protocol.PIXELS)
    np.testing.assert_allclose(in_pixels.masked(pixels, saliency), pixels * saliency[..., None], rtol=1e-6)
    assert not in_pixels.removed(pixels).any()


@pytest.mark.parametrize("resize", ["stretch", "fit", "letterbox", "crop"])
def test_input_space_pixels_then_inputs_is_the_recipe(resize):
    """Masks are applied to the resized pixels before normalization; with nothing masked, the model
    input must be exactly what the recipe makes of the photo."""
    recipe = orc.Preprocess(160, 160, "NHWC", mean=(127.5,), scale=(127.5,), rgb=True, interpolation="cubic")
    recipe = recipe.with_overrides(resize=resize)
    photo = read_image(IMAGES / "puppies.jpg")
    space = InputSpace(recipe)
    np.testing.assert_array_equal(space.inputs(space.pixels(photo)[None])[0], recipe(photo))


@pytest.mark.parametrize("make", [orc.Preprocess, orc.Recipe])
def test_a_recipe_takes_resize_as_its_enum_and_refuses_another_word(make):
    sizes = (160, 160) if make is orc.Preprocess else ()
    assert make(*sizes, resize="crop").resize is orc.Resize.CROP
    with pytest.raises(
        orc.ReciproCamError, match="^`resize` must be one of stretch, fit, letterbox, crop, got 'squash'$"
    ):
        make(*sizes, resize="squash")


def test_cli_on_known_model_without_matplotlib(tmp_path, monkeypatch):
    model, photo = tmp_path / "known.xml", tmp_path / "white.png"
    ov.save_model(known_response_model(), model, compress_to_fp16=False)
    cv2.imwrite(str(photo), WHITE)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the [plot] extra were not installed
    args = ["eval", str(model), str(photo), "-o", str(tmp_path / "report"), "--target", "pool"]
    args += ["--mean", "0", "--scale", "255", "--rise-masks", "64", "--steps", "4"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "matplotlib is not installed (pip install 'ov-reciprocam[plot]')" in result.output
    report = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert report["curve_plots"] is None and "matplotlib" in report["curve_plots_note"]
    names = sorted(p.name for p in (tmp_path / "report").iterdir())
    assert names == ["metrics.csv", "metrics.json", "report.html", "white_maps.png"]
    (image,) = report["images"]
    assert (image["class_id"], image["label"]) == (0, "class_0")
    assert image["probability"] == pytest.approx(0.8, abs=1e-6)
    assert list(image["methods"]) == list(DEFAULT_METHODS)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--methods", "reciprocam,gradcam"], "unknown method 'gradcam'"),
        (["--class", "boxes"], "--class boxes needs --boxes"),
        (["--boxes", IMAGES / "README.md"], "cannot read boxes"),
        (["--boxes", IMAGES / "boxes.json", "--class", "boxes"], "cheetah_person.jpg has no boxes"),
    ],
)
def test_bad_options_one_line_error_no_output(tmp_path, extra, message):
    result = run("eval", DOG_MODEL, IMAGES, "-o", tmp_path / "report", *DOG_FLAGS, *extra)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "report").exists()


def test_box_label_that_is_not_a_class(tmp_path):
    # boxes.json labels its objects "dog", which is no breed of this model.
    result = run(
        "eval", DOG_MODEL, IMAGES / "both.png", "--boxes", IMAGES / "boxes.json", "--class", "boxes",
        "-o", tmp_path / "report", *DOG_FLAGS,
    )  # fmt: skip
    assert result.returncode == 1 and "unknown class 'dog'" in result.stderr, result.stderr
    assert not (tmp_path / "report").exists()


def test_patched_model_is_refused(tmp_path):
    patched = orc.save(orc.patch(DOG_MODEL), tmp_path / "dog_xai.xml")
    result = run("eval", patched, IMAGES / "both.png", "-o", tmp_path / "report", *DOG_FLAGS)
    assert result.returncode == 1 and "eval takes the plain model" in result.stderr


@pytest.fixture(scope="module")
def dog_report(tmp_path_factory):
    """The documented run (docs/quality.md): the default methods and the baselines on every sample photo."""
    out = tmp_path_factory.mktemp("eval") / "report"
    result = run("eval", DOG_MODEL, IMAGES, "--boxes", IMAGES / "boxes.json", "--baselines", "-o", out, *DOG_FLAGS)
    assert result.returncode == 0, result.stderr
    return out, result.stdout, json.loads((out / "metrics.json").read_text())


def test_dog_report_has_every_method_and_metric(dog_report):
    out, _, report = dog_report
    assert [r["image"] for r in report["images"]] == ["both.png", "cheetah_person.jpg", "horses.jpg", "puppies.jpg"]
    for record in report["images"]:
        assert list(record["methods"]) == list(DEFAULT_METHODS + BASELINES)
        for m in record["methods"].values():
            assert 0 <= m["average_drop"] <= 100 and m["increase"] in (0, 100)
            assert all(0 <= m[k] <= 1 for k in ("deletion_auc", "insertion_auc", "coherency", "complexity", "adcc"))
            assert len(m["curves"]["deletion"]) == len(m["curves"]["insertion"]) == 51
            assert m["seconds"] > 0
        inferences = {name: m["inferences"] for name, m in record["methods"].items()}
        # One inference of the patched model; RISE one per mask; Score-CAM one per activation map that is not flat.
        assert inferences["reciprocam"] == inferences["reciprocam-logits"] == 1 and inferences["rise"] == 4000
        assert 0 < inferences["scorecam"] <= 1280
    for name in DEFAULT_METHODS + BASELINES:
        assert report["summary"][name]["pointing_total"] == 2  # both.png and puppies.jpg have boxes
        assert (out / f"curves_{name}.png").stat().st_size > 0
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 4 * 4 + 4 and rows[-1]["image"] == "mean"
    for stem in ("both", "cheetah_person", "horses", "puppies"):
        h, w = read_image(next(IMAGES.glob(f"{stem}.*"))).shape[:2]
        # photo + one map per method, each 320 px high, with its metrics under it and the colour bar below
        height, width = cv2.imread(str(out / f"{stem}_maps.png")).shape[:2]
        assert height > 320 and width == 5 * round(w * 320 / h)


def test_dog_pointing_game_hit_on_both_honest_miss_on_puppies(dog_report):
    _, stdout, report = dog_report
    both, puppies = (next(r for r in report["images"] if r["image"] == n) for n in ("both.png", "puppies.jpg"))
    assert both["label"] == "bull_mastiff" and both["methods"]["reciprocam"]["pointing_hit"]
    recipro = puppies["methods"]["reciprocam"]
    assert not recipro["pointing_hit"] and 15 < recipro["peak_distance"] < 40  # the rock below the puppies
    row = next(line for line in stdout.splitlines() if line.startswith("| puppies.jpg") and "| reciprocam " in line)
    assert "miss (" in row


def test_dog_maps_beat_their_own_reversal(dog_report):
    """Removing the pixels a map ranks first hurts more than revealing them: deletion AUC < insertion AUC,
    on average over the photos, for every method."""
    _, _, report = dog_report
    for name, s in report["summary"].items():
        assert s["deletion_auc"] < s["insertion_auc"], name


def test_masks_give_the_pointing_game_and_energy_on_the_objects_pixels(tmp_path):
    """The real Open Images bird and its mask (value 3 = bird): pointing on the mask, and the energy there."""
    photos = SAMPLES / "openimages"
    coral = SAMPLES / "models" / "coral" / "mobilenet_v1_0.25_128_quant.tflite"
    masks = tmp_path / "masks"
    masks.mkdir()
    shutil.copy(SAMPLES / "masks" / "bird_segmentation_mask.png", masks / "bird_segmentation_mask.png")
    out = tmp_path / "report"
    args = ["eval", coral, photos / "bird_segmentation.png", "-o", out, "--methods", "reciprocam", "--steps", "4"]
    done = run(*args, "--masks", masks, "--mask-value", "3")
    assert done.returncode == 0, done.stderr
    (image,) = json.loads((out / "metrics.json").read_text())["images"]
    found = image["methods"]["reciprocam"]
    bird = cv2.imread(str(masks / "bird_segmentation_mask.png"), cv2.IMREAD_GRAYSCALE) == 3
    x, y = found["peak"]
    assert found["peak_distance"] == pytest.approx(0.0 if bird[y, x] else metrics_of.region_distance((x, y), bird))
    assert found["pointing_hit"] == (found["peak_distance"] <= 15)
    assert bird.mean() < found["energy_pointing"] <= 1.0  # more of the map on the bird than the bird's share of pixels
    assert "energy (+)" in done.stdout
    refused = run("eval", coral, photos / "bird.png", "-o", tmp_path / "x", "--masks", tmp_path / "nowhere")
    assert refused.returncode != 0 and "--masks" in refused.stderr


@pytest.mark.parametrize("method, kernel", [("reciprocam", "onehot"), ("reciprocam-window", "window")])
def test_refine_guided_scores_the_guided_map_on_the_input_grid(method, kernel):
    """`refinement` guided: the map each metric reads is the native map, upsampled bicubic and guided-filtered by
    the photo as the model sees it (radius one feature cell), rebuilt here from an Explainer of the same kernel."""
    from ov_reciprocam.quality.evaluate import eval_settings
    from ov_reciprocam.quality.guided import guided_filter
    from ov_reciprocam.quality.resample import bicubic
    from ov_reciprocam.runs.evaluation import evaluate_paths

    recipe = orc.Recipe(mean=(127.5,), scale=(127.5,), rgb=True, interpolation="cubic")
    photo = IMAGES / "both.png"
    found = {}
    for refinement in ("none", "guided"):
        settings = eval_settings(DOG_MODEL, methods=method, recipe=recipe, config=F32, refinement=refinement, steps=4)
        (record,), _ = evaluate_paths(settings, [str(photo)])
        found[refinement] = record["methods"][method]
    space = InputSpace(settings.recipe)
    pixels = space.pixels(read_image(photo))
    options = orc.PatchOptions.of(kernel=kernel)
    explainer = orc.Explainer(DOG_MODEL, preprocess=settings.recipe, config=F32, patch_options=options)
    native = explainer.explain([pixels], classes=[record["class_id"]])[0].classes[0].saliency
    assert found["none"]["complexity"] == pytest.approx(native.mean(), abs=1e-4)
    radius = round(space.size[0] / native.shape[1])
    refined = guided_filter(bicubic(native, space.size), pixels, radius)
    assert found["guided"]["complexity"] == pytest.approx(refined.mean(), abs=1e-4)
    assert abs(refined.mean() - native.mean()) > 1e-3  # ten times the tolerance: the two maps are told apart


def test_refine_guided_takes_the_windows_of_the_grid_a_map_was_made_on():
    """A map on the input grid made from 2x2 cells (as RISE's masks are) is filtered with windows of one such cell,
    not of one pixel; a 2x2 map gets the same windows after its upsampling."""
    from ov_reciprocam.quality.evaluate import guided_by_photo
    from ov_reciprocam.quality.guided import guided_filter
    from ov_reciprocam.quality.resample import bicubic

    space = InputSpace(orc.Preprocess(64, 64, "NCHW", mean=(0.0,), scale=(255.0,)))
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (64, 64, 3)).astype(np.float32)
    fine, coarse = rng.random((64, 64)), rng.random((2, 2))
    by_cell = guided_filter(fine, pixels, 32)
    np.testing.assert_allclose(guided_by_photo(lambda p, c: fine, space, (2, 2))(pixels, 0), by_cell, atol=1e-6)
    assert np.abs(guided_by_photo(lambda p, c: fine, space)(pixels, 0) - by_cell).max() > 0.1  # one-pixel windows
    expected = guided_filter(bicubic(coarse, (64, 64)), pixels, 32)
    np.testing.assert_allclose(guided_by_photo(lambda p, c: coarse, space)(pixels, 0), expected, atol=1e-6)


@pytest.mark.parametrize("option", ["protocol", "refinement", "baseline"])
def test_unknown_protocol_or_refinement_names_the_choices(option):
    from ov_reciprocam.quality.evaluate import eval_settings

    with pytest.raises(orc.ReciproCamError, match=f"`{option}` must be one of .*, got 'sharp'"):
        eval_settings(DOG_MODEL, **{option: "sharp"})


def test_streamed_copies_score_as_one_input_at_a_time():
    """eval streams a map's copies (the masked photo, then the deletion and insertion steps) through several requests,
    regrouped into batches that straddle the curves (3 inputs a request here): each probability is what the plain
    model says of that copy alone, inferred one by one; only float noise between batch sizes may differ."""
    from ov_reciprocam.quality.evaluate import eval_settings
    from ov_reciprocam.runs.evaluation import evaluate_paths

    recipe = orc.Recipe(mean=(127.5,), scale=(127.5,), rgb=True, interpolation="cubic")
    photo = IMAGES / "both.png"
    settings = eval_settings(DOG_MODEL, methods="reciprocam", recipe=recipe, config=F32, steps=8, batch_size=3)
    (record,), _ = evaluate_paths(settings, [str(photo)])
    found, class_id = record["methods"]["reciprocam"], record["class_id"]
    space = InputSpace(settings.recipe)
    pixels = space.pixels(read_image(photo))
    explainer = orc.Explainer(DOG_MODEL, preprocess=settings.recipe, config=F32)
    saliency = space.upsample(explainer.explain([pixels], classes=[class_id])[0].classes[0].saliency)
    plain = ov.Core().compile_model(DOG_MODEL, "CPU", F32)  # a softmax output: its values are the probabilities

    def one_by_one(copies: np.ndarray) -> list[float]:
        return [float(plain(space.normalized(c[None]))[0][0, class_id]) for c in copies]

    blurred = space.blur(pixels)
    y, o = one_by_one(np.stack([pixels, space.masked(pixels, saliency)]))
    assert record["probability"] == pytest.approx(y, abs=1e-5)
    assert found["masked_probability"] == pytest.approx(o, abs=1e-5)
    deletion = one_by_one(metrics_of.steps_of(pixels, space.removed(pixels), saliency, 8))
    insertion = one_by_one(metrics_of.steps_of(blurred, pixels, saliency, 8))
    assert found["curves"]["deletion"] == pytest.approx(deletion, abs=1e-5)
    assert found["curves"]["insertion"] == pytest.approx(insertion, abs=1e-5)
    assert max(deletion) - min(deletion) > 0.1 and max(insertion) - min(insertion) > 0.1  # curves, not constants
    assert found["average_drop"] == pytest.approx(metrics_of.average_drop(y, o), abs=1e-3)
