"""Flat maps: a class whose score does not move across positions gets zeros, not scaled float noise."""

from __future__ import annotations

import json

import builders
import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from reference import CONFIG, compile_f32, recipro_cam

import ov_reciprocam as orc
from ov_reciprocam.methods.saliency import FLAT_SPREAD

DEAD, FAINT = 3, 5  # a class that ignores the features; one that barely sees them


def _head(weights: np.ndarray, bias: np.ndarray, softmax: bool) -> ov.Model:
    """GAP + linear head over builders.backbone (target "block2")."""
    image, features = builders.backbone()
    pooled = ops.reduce_mean(features, ops.constant(np.array([2, 3], np.int64)), keep_dims=False)
    logits = ops.add(ops.matmul(pooled, ops.constant(weights), False, False), ops.constant(bias))
    return ov.Model([ops.result(ops.softmax(logits, 1) if softmax else logits)], [image], "flat")


def _model(softmax: bool = True) -> ov.Model:
    """Class DEAD has zero weights (and, under softmax, a bias that keeps its probability near 0); FAINT tiny ones."""
    weights = np.random.default_rng(7).normal(0, 1.0, (16, builders.CLASSES)).astype(np.float32)
    weights[:, DEAD] = 0.0
    weights[:, FAINT] *= 1e-7
    bias = np.zeros(builders.CLASSES, np.float32)
    bias[[DEAD, FAINT]] = -40.0 if softmax else 0.0
    return _head(weights, bias, softmax)


IMAGE = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)


@pytest.mark.parametrize("score", ["softmax", "logits"])
def test_flat_classes_are_zero_and_the_others_span_zero_to_one(score):
    model = _model(softmax=score == "softmax")
    raw = recipro_cam(model, IMAGE, target="block2", score=score)
    spans = np.ptp(raw, axis=(1, 2))
    scale = np.abs(raw).max()
    # The model is built so: DEAD and FAINT are far under the floor, every other class far above it.
    assert spans[DEAD] < 1e-3 * FLAT_SPREAD * scale and spans[FAINT] < 1e-2 * FLAT_SPREAD * scale
    live = [c for c in range(builders.CLASSES) if c not in (DEAD, FAINT)]
    assert spans[live].min() > 10 * FLAT_SPREAD * scale
    maps = compile_f32(orc.patch(model, score=score))(IMAGE)[orc.SALIENCY][0]
    assert not maps[[DEAD, FAINT]].any()
    np.testing.assert_array_equal(maps[live].min(axis=(1, 2)), 0.0)
    np.testing.assert_allclose(maps[live].max(axis=(1, 2)), 1.0, atol=1e-6)


@pytest.mark.parametrize("times_the_floor", [10.0, 0.1])
def test_the_floor_is_a_threshold_on_the_spread(times_the_floor):
    """Logits: class 1 spans `times_the_floor` floors of the largest |logit| (class 0, a constant): scaled or flat."""
    weights = np.zeros((16, 2), np.float32)
    weights[:, 1] = np.random.default_rng(1).normal(0, 1.0, 16)
    raw = recipro_cam(_head(weights, np.zeros(2, np.float32), False), IMAGE, target="block2", score="logits")
    constant = np.ptp(raw[1]) / (times_the_floor * FLAT_SPREAD)
    assert np.abs(raw[1]).max() < constant / 10  # class 0 sets the scale
    model = _head(weights, np.array([constant, 0.0], np.float32), False)
    maps = compile_f32(orc.patch(model, score="logits"))(IMAGE)[orc.SALIENCY][0]
    assert not maps[0].any()
    if times_the_floor > 1:
        np.testing.assert_allclose(maps[1], (raw[1] - raw[1].min()) / np.ptp(raw[1]), atol=1e-3)
    else:
        assert not maps[1].any()


def test_explainer_reports_flat_maps(tmp_path):
    recipe = orc.Preprocess(32, 32, "NCHW")
    explainer = orc.Explainer(_model(), preprocess=recipe, config=CONFIG)
    photo = np.random.default_rng(2).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    (result,) = explainer.explain([photo], classes=[DEAD, 0])
    dead, live = result.classes
    assert dead.flat and not live.flat
    assert result.peak(DEAD) is None and result.peak(0) is not None
    record = orc.save_explanation(result, tmp_path, "photo", overlay_format="png")  # lossless: pixels compared
    assert [e["flat"] for e in record["explained"]] == [True, False]
    assert record["explained"][0]["peak"] is None
    assert json.loads(json.dumps(record))["explained"][1]["peak"] == list(result.peak(0))
    # A flat map draws no heat: below the caption, the overlay is the photo itself.
    drawn = cv2.imread(str(tmp_path / record["explained"][0]["overlay"]))
    np.testing.assert_array_equal(drawn[30:], photo[30:])
