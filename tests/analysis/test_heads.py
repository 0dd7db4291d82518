"""Heads nobody on the team exported: which output holds the class scores, what kind they are, what is reported."""

from __future__ import annotations

import json
import re

import builders
import heads
import numpy as np
import openvino as ov
import pytest
from commands import cli
from paths import IMAGES
from reference import compile_f32, recipro_cam
from tolerance import assert_maps_match

import ov_reciprocam as orc
from ov_reciprocam.analysis.head import output_roles
from ov_reciprocam.vocabulary import ScoreKind

IMAGE = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
RECIPE = orc.Preprocess(32, 32, "NCHW", mean=(127.5,), scale=(64.0,))


def _maps(model, **options) -> np.ndarray:
    return compile_f32(orc.patch(model, normalize=False, **options))(IMAGE)[orc.SALIENCY][0]


# --- which output ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "index"),
    [(heads.extra_outputs, 1), (heads.embedding_first, 1), (heads.no_batch_axis, 1)],
    ids=["rank_0_and_1_outputs", "embedding_listed_first", "no_batch_axis"],
)
def test_the_class_scores_are_found_by_structure_not_order(build, index):
    model = build()
    located = orc.locate(orc.read_model(model))
    assert located.output_index == index and located.classes == builders.CLASSES
    patched = orc.patch(model, normalize=False)
    out = compile_f32(patched)(IMAGE)
    assert out[orc.SALIENCY].shape == (1, builders.CLASSES, 8, 8)
    assert_maps_match(out[orc.SALIENCY][0], recipro_cam(model, IMAGE, "block2", output=index), cap=1e-4)
    # The other outputs still come out, unchanged.
    plain = compile_f32(orc.read_model(model))(IMAGE)
    for i in range(len(model.outputs)):
        assert np.array_equal(out[i], plain[i])


def test_inspect_lists_every_output_with_its_role():
    roles = {r.name: r.text for r in output_roles(orc.read_model(heads.extra_outputs()))}
    assert roles == {"top_score": "skipped: rank < 2", "scores": "class scores", "best": "skipped: rank < 2"}
    roles = {r.name: r.text for r in output_roles(orc.read_model(heads.no_batch_axis()))}
    assert roles["cells"] == "skipped: axis 0 is not the input's batch"


def test_two_candidates_are_refused_and_scores_output_picks_one(tmp_path):
    model = heads.embedding_first(softmax=False)  # two linear heads on the pooled features: nothing tells them apart
    with pytest.raises(
        orc.ReciproCamError, match=r"several outputs .*embedding \[\?,32\].*scores \[\?,10\].*`scores_output`"
    ):
        orc.locate(orc.read_model(model))
    maps = _maps(model, scores_output="scores", score="softmax")
    assert_maps_match(maps, recipro_cam(model, IMAGE, "block2", output=1), cap=1e-4)
    xml = tmp_path / "two.xml"
    orc.save(orc.read_model(model), xml)
    done = cli("patch", xml, "-o", tmp_path / "out.xml")
    assert done.returncode == 1 and "--scores-output" in done.stderr and "Traceback" not in done.stderr
    done = cli("patch", xml, "-o", tmp_path / "out.xml", "--scores-output", "scores")
    assert done.returncode == 0, done.stderr
    done = cli("inspect", xml, "--scores-output", "embedding")
    assert done.returncode == 0 and "class scores  embedding" in done.stdout


def test_a_model_with_no_class_scores_says_what_it_has():
    model = heads.no_batch_axis()
    only_cells = orc.read_model(model)
    only_cells.remove_result(only_cells.get_results()[1])
    with pytest.raises(orc.ReciproCamError, match=r"no classification output.*cells \[64,16\]"):
        orc.locate(only_cells)


# --- what kind of scores ---------------------------------------------------------------------------------------------

KINDS = {
    "softmax": ScoreKind.PROBABILITIES,
    "sigmoid": ScoreKind.SIGMOIDS,
    "log_softmax": ScoreKind.LOG_PROBABILITIES,
    "exp_sum": ScoreKind.PROBABILITIES,
    "slice": ScoreKind.PROBABILITIES,
    "scale": ScoreKind.PROBABILITIES,
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_default_maps_score_what_the_model_means(kind):
    """auto: softmax maps for single-label heads (the model's own probabilities where it picks or scales
    classes after its softmax), per-label sigmoid maps for multi-label ones."""
    model = heads.head(kind)
    assert orc.locate(orc.read_model(model)).kind is KINDS[kind]
    expected = {"sigmoid": "sigmoid", "slice": "output", "scale": "output"}.get(kind, "softmax")
    reference = recipro_cam(model, IMAGE, "block2", expected, logits="logits")
    assert_maps_match(_maps(model), reference, cap=1e-4)


@pytest.mark.parametrize("kind", ["softmax", "sigmoid", "log_softmax", "exp_sum"])
@pytest.mark.parametrize("score", ["logits", "sigmoid", "softmax"])
def test_explicit_scores_read_the_logits(kind, score):
    model = heads.head(kind)
    reference = recipro_cam(model, IMAGE, "block2", score, logits="logits")
    assert_maps_match(_maps(model, score=score), reference, cap=1e-4)


def test_logits_of_sliced_probabilities_are_refused():
    with pytest.raises(orc.ReciproCamError, match="picks or scales classes after its probabilities; use `score` auto"):
        orc.patch(heads.head("slice"), score="logits")


@pytest.mark.parametrize("kind", list(KINDS))
def test_reported_scores_are_the_models_probabilities(kind):
    model = heads.head(kind)
    photo = np.random.default_rng(4).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    (result,) = orc.Explainer(model, preprocess=RECIPE, config={"INFERENCE_PRECISION_HINT": "f32"}).explain([photo])
    raw = compile_f32(orc.read_model(model))(RECIPE(photo)[None])[0][0]
    expected = np.exp(raw) if kind == "log_softmax" else raw
    np.testing.assert_allclose(result.scores, expected, rtol=1e-5, atol=1e-7)
    if kind in ("softmax", "log_softmax", "exp_sum"):
        assert result.scores.sum() == pytest.approx(1.0, abs=1e-5)
    top = result.predictions[0]
    assert top.class_id == int(np.argmax(raw)) and top.score == pytest.approx(float(expected.max()), rel=1e-5)


def test_multi_label_explains_the_labels_above_the_threshold():
    model = heads.head("sigmoid")
    explainer = orc.Explainer(model, preprocess=RECIPE, config={"INFERENCE_PRECISION_HINT": "f32"})
    photo = np.random.default_rng(4).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    (result,) = explainer.explain([photo], threshold=0.5)
    above = sorted(int(c) for c in np.nonzero(result.scores >= 0.5)[0])
    assert above and len(above) < builders.CLASSES, "the test needs some labels on each side of the threshold"
    assert sorted(c.class_id for c in result.classes) == above
    (lower,) = explainer.explain([photo], threshold=0.0)
    assert len(lower.classes) == builders.CLASSES
    assert orc.patch(model).get_rt_info(["model_info", "multilabel"]).astype(str) == "True"


def test_log_softmax_model_evaluates(tmp_path):
    xml = tmp_path / "logsoftmax.xml"
    orc.save(orc.read_model(heads.head("log_softmax")), xml)
    options = ("--methods", "reciprocam", "--steps", "3", "--raw-pixels")
    done = cli("eval", xml, IMAGES / "both.png", IMAGES / "horses.jpg", "-o", tmp_path / "report", *options)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert all(0.0 <= r["probability"] <= 1.0 for r in report["images"])


# --- foreign saliency outputs ----------------------------------------------------------------------------------------


def test_another_tools_saliency_map_is_replaced_only_when_asked(tmp_path):
    model = heads.foreign_saliency()
    with pytest.raises(orc.ReciproCamError, match="another tool's saliency_map.*`replace`"):
        orc.patch(model)
    patched = orc.patch(model, replace=True, normalize=False)
    assert [o.get_any_name() for o in patched.outputs] == ["scores", orc.SALIENCY]
    maps = compile_f32(patched)(IMAGE)[orc.SALIENCY][0]
    assert_maps_match(maps, recipro_cam(heads.head("softmax"), IMAGE, "block2"), cap=1e-4)
    xml = tmp_path / "foreign.xml"
    orc.save(orc.read_model(model), xml)
    done = cli("explain", xml, IMAGES / "both.png", "-o", tmp_path / "out", "--raw-pixels")
    assert done.returncode == 1 and "--replace" in done.stderr and "Traceback" not in done.stderr
    done = cli("bench", xml, "--seconds", "0.2")
    assert done.returncode == 1 and "--replace" in done.stderr and "Traceback" not in done.stderr


# --- targets ---------------------------------------------------------------------------------------------------------


def test_as_many_classes_as_channels_keeps_the_last_block():
    """16 classes on a last block of 16 channels (2048 on a ResNet-50 body): a linear layer still reads it."""
    model = heads.pointwise_last_block(classes=16)
    assert orc.locate(orc.read_model(model)).target.name == "last_block"
    assert_maps_match(_maps(model), recipro_cam(model, IMAGE, "last_block"), cap=1e-4)


def test_a_class_score_conv_of_any_kernel_belongs_to_the_tail():
    model = heads.class_map_head()
    located = orc.locate(orc.read_model(model))
    assert located.target.name == "block2"
    assert_maps_match(_maps(model), recipro_cam(model, IMAGE, "block2"), cap=1e-4)


def test_a_target_with_one_position_is_refused():
    with pytest.raises(orc.ReciproCamError, match="'pooled' is 1x1: one position"):
        orc.patch(heads.pooled_target(), target="pooled")


# --- layout ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "layout", "size", "hw"),
    [(heads.concat_nchw, "NCHW", (16, 32), (8, 16)), (heads.concat_nhwc, "NHWC", (12, 16), (6, 8))],
    ids=["nchw", "nhwc"],
)
def test_layout_is_traced_through_concat_never_guessed_from_squareness(build, layout, size, hw):
    model = build()
    located = orc.locate(orc.read_model(model))
    assert (located.target.name, located.target.layout) == ("joined", layout)
    assert (located.target.height, located.target.width) == hw
    image = np.random.default_rng(1).standard_normal((1, 3, *size)).astype(np.float32)
    maps = compile_f32(orc.patch(model, normalize=False))(image)[orc.SALIENCY][0]
    assert maps.shape == (builders.CLASSES, *hw)
    assert_maps_match(maps, recipro_cam(model, image, "joined", layout=layout), cap=1e-4)


def test_a_layout_no_op_tells_needs_target_layout(tmp_path):
    model = heads.reshaped_map()
    with pytest.raises(orc.ReciproCamError, match=r"'regrouped' \[\?,8,16,8\] is NCHW or NHWC.*`target_layout`"):
        orc.patch(model)
    image = np.random.default_rng(1).standard_normal((1, 3, 16, 16)).astype(np.float32)
    for layout, hw in (("NCHW", (16, 8)), ("NHWC", (8, 16))):
        maps = compile_f32(orc.patch(model, normalize=False, target_layout=layout))(image)[orc.SALIENCY][0]
        assert maps.shape[1:] == hw
        assert_maps_match(maps, recipro_cam(model, image, "regrouped", layout=layout), cap=1e-4)
    xml = tmp_path / "regrouped.xml"
    orc.save(orc.read_model(model), xml)
    done = cli("patch", xml, "-o", tmp_path / "out.xml")
    assert done.returncode == 1 and "--target-layout" in done.stderr and "Traceback" not in done.stderr
    assert cli("patch", xml, "-o", tmp_path / "out.xml", "--target-layout", "NHWC").returncode == 0


# --- run-time batches ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("adaptive", [False, True], ids=["reduce_mean", "adaptive_avg_pool"])
def test_a_batch_read_from_the_input_at_run_time(adaptive):
    model = heads.runtime_batch_reshape(adaptive)
    patched = compile_f32(orc.patch(model, normalize=False))
    plain = compile_f32(orc.read_model(model))
    images = np.random.default_rng(2).standard_normal((3, 3, 32, 32)).astype(np.float32)
    for batch in (1, 3):
        out = patched(images[:batch])
        np.testing.assert_array_equal(out[0], plain(images[:batch])[0])
        assert out[orc.SALIENCY].shape == (batch, builders.CLASSES, 8, 8)
    # The brute force cannot cut a tail that reads the input's shape; the same head with a literal
    # flatten (same weights, same pooling) has the same maps.
    reference = recipro_cam(heads.head("softmax"), images[:1], "block2")
    assert_maps_match(patched(images[:1])[orc.SALIENCY][0], reference, cap=1e-4)
    maps = patched(images)[orc.SALIENCY]
    for i in range(3):
        assert_maps_match(maps[i], patched(images[i : i + 1])[orc.SALIENCY][0])


# --- input size ------------------------------------------------------------------------------------------------------


def test_a_dynamic_input_size_keeps_taking_any_size(tmp_path):
    """One patched model, run at two sizes, gives maps of each size, each equal to the brute force at that size."""
    model = heads.dynamic_size()
    compiled = compile_f32(orc.patch(model, normalize=False))
    for size, hw in (((32, 32), (8, 8)), ((24, 48), (6, 12))):
        image = np.random.default_rng(3).standard_normal((1, 3, *size)).astype(np.float32)
        maps = compiled(image)[orc.SALIENCY][0]
        assert maps.shape == (builders.CLASSES, *hw)
        assert_maps_match(maps, recipro_cam(model, image, "block2"), cap=1e-4)
    xml = tmp_path / "dynamic.xml"
    orc.save(orc.read_model(model), xml)
    done = cli("inspect", xml)
    assert done.returncode == 0 and re.search(r"Relu#5 +NCHW 16x\?x\?  op block2  <- auto", done.stdout), done.stdout
    done = cli("inspect", xml, "--input-shape", "1,3,64,64")
    assert done.returncode == 0 and "16x16x16  op block2  <- auto" in done.stdout, done.stdout


def test_a_flatten_of_a_dynamic_size_asks_for_input_shape():
    model = builders.flatten_mlp()
    model.reshape({model.inputs[0]: ov.PartialShape([-1, 3, -1, -1])})
    with pytest.raises(orc.ReciproCamError, match=r"flattens the target 'pool5:0'.*`input_shape`"):
        orc.patch(model)
    patched = orc.patch(model, input_shape=(1, 3, 32, 32), normalize=False)
    image = np.random.default_rng(3).standard_normal((1, 3, 32, 32)).astype(np.float32)
    sized = orc.read_model(model)
    sized.reshape({sized.inputs[0]: ov.PartialShape([1, 3, 32, 32])})
    assert_maps_match(compiled_maps(patched, image), recipro_cam(sized, image, "pool5"), cap=1e-4)


def compiled_maps(model, image):
    return compile_f32(model)(image)[orc.SALIENCY][0]
