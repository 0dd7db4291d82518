"""OpenVINO Model API (openvino-model-api, as OTX and Geti serve models) reads a patched model as it is."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from model_api.adapters.utils import RESIZE_TYPES
from model_api.models import Model
from paths import DOG_MODEL, IMAGES

import ov_reciprocam as orc
from ov_reciprocam.cli import main
from ov_reciprocam.quality.metrics import pearson

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
PHOTOS = sorted(p for p in IMAGES.iterdir() if p.suffix in (".jpg", ".png"))


@pytest.fixture(scope="module")
def dog_xai(tmp_path_factory):
    """Patched as the README's demo does: recipe as flags, labels.txt picked up beside the model."""
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("modelapi") / "dog_xai.xml"
    flags = ["--mean", "127.5", "--scale", "127.5", "--rgb", "--interpolation", "cubic"]
    result = CliRunner().invoke(main, ["patch", str(DOG_MODEL), "-o", str(out), *flags])
    assert result.exit_code == 0, result.output
    return out


def test_create_model_gives_our_map_and_top1(dog_xai):
    wrapper = Model.create_model(str(dog_xai), device="CPU", configuration={})
    assert type(wrapper).__name__ == "ClassificationModel" and not wrapper.params.multilabel
    assert wrapper.params.interpolation_mode == "CUBIC" and wrapper.params.resize_type == "standard"
    explainer = orc.Explainer(dog_xai, config=F32)
    for photo in map(cv2.imread, map(str, PHOTOS)):
        theirs = wrapper(photo)
        ours = explainer.explain([photo], top_k=1)[0].classes[0]
        top = theirs.top_labels[0]
        assert (int(top.id), top.name) == (ours.class_id, ours.label)
        # Model API resizes in-graph (OpenVINO's cubic), we with OpenCV's: close, not equal.
        assert float(top.confidence) == pytest.approx(ours.score, abs=0.05)
        saliency = np.asarray(theirs.saliency_map, np.float32)
        assert saliency.shape == (1, 19, 5, 5)
        assert pearson(saliency[0, ours.class_id], ours.saliency) > 0.99


@pytest.mark.parametrize(("ours", "theirs"), [("fit", "fit_to_window"), ("letterbox", "fit_to_window_letterbox")])
@pytest.mark.parametrize("size", [(64, 48), (48, 64), (160, 160)])
def test_aspect_keeping_resizes_match_model_api(ours, theirs, size):
    photo = cv2.imread(str(IMAGES / "horses.jpg"))
    recipe = orc.Preprocess(width=size[0], height=size[1], layout="NHWC", resize=ours)
    np.testing.assert_array_equal(recipe(photo), RESIZE_TYPES[theirs](photo, size).astype(np.float32))
