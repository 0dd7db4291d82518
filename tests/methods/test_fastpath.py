"""The exact shortcuts equal the generic mosaic, and the output options (top-k, upsample, static) hold."""

from __future__ import annotations

import builders
import numpy as np
import pytest
from paths import DOG_MODEL
from reference import compile_f32

import ov_reciprocam as orc

PATHS = {
    "bvlc_alexnet": "flatten_linear",
    "vgg19": "flatten_linear",
    "resnet50": "pooled",
    "densenet121": "pooled",
    "squeezenet": "pooled",  # conv10 + ReLU before the pooling: per-pixel ops with g(0) != 0
    "inception_v1": "generic",  # its AvgPool's 7x7 kernel overhangs the 6x6 map: not a plain mean
}
BUILT = {
    "gap_linear": (builders.gap_linear, "pooled"),
    "flatten_mlp": (builders.flatten_mlp, "flatten_linear"),
    "nhwc_gap": (builders.nhwc_head, "pooled"),
    "nhwc_flatten": (lambda: builders.nhwc_head(flatten=True), "flatten_linear"),
    "nhwc_flatten_transposed": (lambda: builders.nhwc_head(flatten=True, transposed=True), "flatten_linear"),
    "gap_conv_head": (builders.gap_conv_head, "pooled"),
}


def _compare(source, expected_path, shape):
    image = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    # Logits, not softmax: the random-weight light models have logits in the thousands, where
    # softmax turns float rounding of either path into visible differences.
    fast = orc.patch(source, normalize=False, score="logits")
    assert fast.get_rt_info(["ov_reciprocam", "path"]).astype(str) == expected_path
    generic = orc.patch(source, normalize=False, score="logits", fast=False)
    assert generic.get_rt_info(["ov_reciprocam", "path"]).astype(str) == "generic"
    a = compile_f32(fast)(image)[orc.SALIENCY]
    b = compile_f32(generic)(image)[orc.SALIENCY]
    spread = np.ptp(b, axis=(2, 3)).max()
    assert spread > 0
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * max(1.0, np.abs(b).max()))
    assert np.abs(a - b).max() < spread / 100


@pytest.mark.parametrize("name", list(PATHS))
def test_light_model_shortcut_equals_mosaic(name, light_models):
    _compare(light_models[name], PATHS[name], [1, 3, 224, 224])


@pytest.mark.parametrize("name", list(BUILT))
def test_built_model_shortcut_equals_mosaic(name):
    build, path = BUILT[name]
    _compare(build(), path, [2, 3, 32, 32])


def test_dog_model_shortcut_equals_mosaic():
    _compare(DOG_MODEL, "pooled", [2, 160, 160, 3])


def test_intermediate_target_uses_the_mosaic(light_models):
    model = orc.read_model(light_models["resnet50"])
    layer3 = [c for c in orc.locate(model).candidates if c.shape == (1024, 14, 14)][-1]
    patched = orc.patch(model, target=layer3.name)
    assert patched.get_rt_info(["ov_reciprocam", "path"]).astype(str) == "generic"


def test_ir_growth_on_resnet50_is_under_half_a_megabyte(light_models, tmp_path):
    plain = orc.save(orc.read_model(light_models["resnet50"]), tmp_path / "plain.xml")
    patched = orc.save(orc.patch(light_models["resnet50"]), tmp_path / "patched.xml")
    growth = sum(patched.with_suffix(s).stat().st_size - plain.with_suffix(s).stat().st_size for s in (".xml", ".bin"))
    assert 0 < growth < 512 * 1024


def test_top_k_keeps_the_best_classes_maps():
    image = np.random.default_rng(4).standard_normal([3, 160, 160, 3]).astype(np.float32)
    full = compile_f32(orc.patch(DOG_MODEL))(image)
    top = compile_f32(orc.patch(DOG_MODEL, top_k=4))(image)
    classes = top[orc.SALIENCY_CLASSES]
    assert classes.shape == (3, 4) and top[orc.SALIENCY].shape == (3, 4, 5, 5)
    np.testing.assert_array_equal(classes, np.argsort(-full[0], axis=1)[:, :4])
    expected = np.take_along_axis(full[orc.SALIENCY], classes[:, :, None, None].astype(np.int64), axis=1)
    np.testing.assert_allclose(top[orc.SALIENCY], expected, atol=1e-6)


@pytest.mark.parametrize(
    "name, path",
    [("dog", "pooled"), ("resnet50", "pooled"), ("vgg19", "flatten_linear"), ("inception_v1", "generic")],
)
def test_top_k_logits_score_only_the_picked_classes(name, path, light_models):
    """With logits, the top-k maps use k columns of the last layer; they equal the full maps' top k."""
    source = DOG_MODEL if name == "dog" else light_models[name]
    picked = orc.patch(source, score="logits", normalize=False, top_k=3, batch=2)
    assert picked.get_rt_info(["ov_reciprocam", "path"]).astype(str) == path + "+picked"
    full = compile_f32(orc.patch(source, score="logits", normalize=False, batch=2))
    shape = picked.get_parameters()[0].get_partial_shape().to_shape()
    image = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    top, every = compile_f32(picked)(image), full(image)
    classes = top[orc.SALIENCY_CLASSES]
    scores = every[0].reshape(2, -1)  # probabilities on most of these models: compare values, ties may reorder ids
    np.testing.assert_array_equal(np.take_along_axis(scores, classes, axis=1), -np.sort(-scores, axis=1)[:, :3])
    expected = np.take_along_axis(every[orc.SALIENCY], classes[:, :, None, None].astype(np.int64), axis=1)
    assert np.ptp(expected, axis=(2, 3)).min() > 0
    np.testing.assert_allclose(top[orc.SALIENCY], expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_upsample_matches_cv2_resize():
    import cv2

    image = np.random.default_rng(5).standard_normal([1, 160, 160, 3]).astype(np.float32)
    small = compile_f32(orc.patch(DOG_MODEL))(image)[orc.SALIENCY][0]
    big = compile_f32(orc.patch(DOG_MODEL, upsample=True))(image)[orc.SALIENCY][0]
    assert big.shape == (19, 160, 160)
    expected = np.stack([cv2.resize(m, (160, 160), interpolation=cv2.INTER_LINEAR) for m in small])
    np.testing.assert_allclose(big, expected, atol=1e-5)


def test_static_batch_gives_a_fully_static_graph(light_models):
    patched = orc.patch(light_models["squeezenet"], batch=4, static=True, top_k=5, upsample=True, uint8=True)
    shapes = [out.get_partial_shape() for op in patched.get_ordered_ops() for out in op.outputs()]
    assert all(s.is_static for s in shapes)
    assert patched.output(orc.SALIENCY).get_partial_shape().to_shape() == [4, 5, 224, 224]


def test_static_refused_when_batch_is_dynamic():
    with pytest.raises(orc.ReciproCamError, match="dynamic shape"):
        orc.patch(DOG_MODEL, static=True)


def test_top_k_at_static_batch_one():
    """Gather(batch_dims=1) crashed OpenVINO 2026.4's CPU plugin at a static batch of 1."""
    patched = orc.patch(builders.flatten_mlp(batch=1), top_k=2)
    image = np.random.default_rng(6).standard_normal([1, 3, 32, 32]).astype(np.float32)
    out = compile_f32(patched)(image)
    np.testing.assert_array_equal(out[orc.SALIENCY_CLASSES][0], np.argsort(-out[0][0])[:2])
