"""OpenVINO Model API (openvino-model-api, as OTX and Geti serve models) reads a patched model as it is."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from model_api.adapters import OpenvinoAdapter, create_core
from model_api.adapters.utils import RESIZE_TYPES
from model_api.models import Model
from model_api.visualizer import Visualizer
from model_api.visualizer.defaults import DEFAULT_OPACITY
from paths import DOG_MODEL, IMAGES
from tolerance import assert_maps_match, assert_pictures_match

import ov_reciprocam as orc
from ov_reciprocam.cli import main

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
PHOTOS = sorted(p for p in IMAGES.iterdir() if p.suffix in (".jpg", ".png"))


def patched(tmp_path_factory, *extra: str):
    """Patched as the README's demo does: recipe as flags, labels.txt picked up beside the model."""
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("modelapi") / "dog_xai.xml"
    flags = ["--mean", "127.5", "--scale", "127.5", "--rgb", "--interpolation", "cubic", *extra]
    result = CliRunner().invoke(main, ["patch", str(DOG_MODEL), "-o", str(out), *flags])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def dog_xai(tmp_path_factory):
    return patched(tmp_path_factory)


@pytest.fixture(scope="module")
def dog_xai_uint8(tmp_path_factory):
    return patched(tmp_path_factory, "--uint8")


def at_f32(xml, **configuration):
    """Model API at f32, as `explain` runs: create_model compiles at the device default (bf16 on AMX CPUs)."""
    adapter = OpenvinoAdapter(create_core(), str(xml), device="CPU", plugin_config=F32)
    return Model.create_model(adapter, configuration=configuration, preload=True)


def test_create_model_gives_our_scores_and_maps(dog_xai):
    wrapper = at_f32(dog_xai, topk=3)
    assert type(wrapper).__name__ == "ClassificationModel" and not wrapper.params.multilabel
    assert wrapper.params.interpolation_mode == "CUBIC" and wrapper.params.resize_type == "standard"
    explainer = orc.Explainer(dog_xai, config=F32)
    for photo in map(cv2.imread, map(str, PHOTOS)):
        theirs = wrapper(photo)
        ours = explainer.explain([photo], top_k=3)[0].classes
        assert [(int(t.id), t.name) for t in theirs.top_labels] == [(c.class_id, c.label) for c in ours]
        saliency = np.asarray(theirs.saliency_map, np.float32)
        assert saliency.shape == (1, 19, 5, 5)
        for top, c in zip(theirs.top_labels, ours, strict=True):
            # Model API resizes in-graph with OpenVINO's cubic Interpolate, we with OpenCV's: the two differ by
            # at most one grey level on a few pixels, so at one precision the scores agree to 1e-3, not exactly.
            assert float(top.confidence) == pytest.approx(c.score, abs=2e-3)
            assert_maps_match(saliency[0, c.class_id], c.saliency)


@pytest.mark.parametrize("fixture", ["dog_xai", "dog_xai_uint8"])
def test_visualizer_draws_our_heatmap(fixture, request):
    """Model API's Visualizer blends `result.saliency_map` as one BGR picture: orc.heatmap makes it from our map."""
    wrapper = Model.create_model(str(request.getfixturevalue(fixture)), device="CPU", configuration={})
    photo = cv2.imread(str(IMAGES / "puppies.jpg"))
    result = wrapper(photo)
    raw = result.saliency_map[0, int(result.top_labels[0].id)]
    result.saliency_map = orc.heatmap(raw)
    rgb = np.ascontiguousarray(photo[:, :, ::-1])  # the Visualizer takes RGB, Model API's model BGR
    drawn = Visualizer().render(rgb, result)
    heat = cv2.resize(orc.heatmap(raw, rgb=True), drawn.shape[1::-1], interpolation=cv2.INTER_CUBIC)
    expected = ((1 - DEFAULT_OPACITY) * rgb + DEFAULT_OPACITY * heat).round().astype(np.uint8)
    # The label box and Pillow's resampling (near OpenCV's cubic) aside, the picture is our blend.
    assert_pictures_match(drawn, expected, levels=12, share=0.01)


@pytest.mark.parametrize(("ours", "theirs"), [("fit", "fit_to_window"), ("letterbox", "fit_to_window_letterbox")])
@pytest.mark.parametrize("size", [(64, 48), (48, 64), (160, 160)])
def test_aspect_keeping_resizes_match_model_api(ours, theirs, size):
    photo = cv2.imread(str(IMAGES / "horses.jpg"))
    recipe = orc.Preprocess(width=size[0], height=size[1], layout="NHWC", resize=ours)
    np.testing.assert_array_equal(recipe(photo), RESIZE_TYPES[theirs](photo, size).astype(np.float32))
