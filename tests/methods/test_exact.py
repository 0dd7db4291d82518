"""The in-graph saliency equals a brute-force Recipro-CAM, and the original outputs do not move."""

from __future__ import annotations

import builders
import numpy as np
import pytest
from light import EXPECTED, NAMES
from paths import DOG_MODEL
from reference import compile_f32, recipro_cam
from tolerance import assert_maps_match

import ov_reciprocam as orc
from ov_reciprocam.methods.saliency import FLAT_SPREAD

BUILT = {
    "gap_linear": builders.gap_linear,
    "flatten_mlp": builders.flatten_mlp,
    "nhwc_gap": builders.nhwc_head,
    "nhwc_flatten": lambda: builders.nhwc_head(flatten=True),
    "logits_only": lambda: builders.gap_linear(softmax=False),
}


def _image(model, seed: int = 0) -> np.ndarray:
    """A random input for `model`, batch 1."""
    dims = orc.read_model(model).get_parameters()[0].get_partial_shape()
    shape = [d.get_length() if d.is_static else 1 for d in dims]
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


CASES = [*NAMES, *BUILT, "dog_breeds"]
# Where each model should be explained: a name the builder gave, or the producing op and (C, H, W).
TARGETS = {
    **EXPECTED,
    "gap_linear": "block2",
    "flatten_mlp": "pool5",
    "nhwc_gap": "nhwc_features",
    "nhwc_flatten": "nhwc_features",
    "logits_only": "block2",
    "dog_breeds": ("Clamp", (1280, 5, 5)),
}
LAYOUTS = {"nhwc_gap": "NHWC", "nhwc_flatten": "NHWC"}


@pytest.fixture
def source(request, light_models):
    name = request.param
    if name in BUILT:
        return BUILT[name]()
    return DOG_MODEL if name == "dog_breeds" else light_models[name]


def _reference(request, source, image, score="softmax"):
    name = request.node.callspec.params["source"]
    return recipro_cam(source, image, TARGETS[name], score, layout=LAYOUTS.get(name, "NCHW"))


@pytest.mark.parametrize("source", CASES, indirect=True)
def test_softmax_maps_equal_brute_force(source, request):
    image = _image(source)
    reference = _reference(request, source, image)
    maps = compile_f32(orc.patch(source, normalize=False))(image)[orc.SALIENCY][0]
    # The tolerance is small against the maps' variation, or equality would prove nothing.
    assert_maps_match(maps, reference, cap=1e-4)


@pytest.mark.parametrize(
    "source", ["resnet50", "squeezenet", "gap_linear", "nhwc_flatten", "dog_breeds"], indirect=True
)
def test_logit_maps_equal_brute_force(source, request):
    image = _image(source)
    reference = _reference(request, source, image, "logits")
    maps = compile_f32(orc.patch(source, normalize=False, score="logits"))(image)[orc.SALIENCY][0]
    np.testing.assert_allclose(maps, reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())


@pytest.mark.parametrize("source", ["densenet121", "nhwc_gap", "dog_breeds"], indirect=True)
def test_normalized_maps_are_min_max_of_raw(source, request):
    image = _image(source)
    raw = _reference(request, source, image)
    low, high = raw.min(axis=(1, 2), keepdims=True), raw.max(axis=(1, 2), keepdims=True)
    floor = FLAT_SPREAD * np.abs(raw).max()
    expected = np.where(high - low < floor, 0.0, (raw - low) / np.maximum(high - low, floor))
    maps = compile_f32(orc.patch(source))(image)[orc.SALIENCY][0]
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    # Classes close to the floor may fall on either side of it: float noise decides.
    near = np.abs(np.log((high - low + 1e-30) / floor)) < 0.01
    np.testing.assert_allclose(maps[~near[:, 0, 0]], expected[~near[:, 0, 0]], atol=1e-3)
    as_u8 = compile_f32(orc.patch(source, uint8=True))(image)[orc.SALIENCY][0]
    assert as_u8.dtype == np.uint8
    assert np.abs(as_u8.astype(int) - np.round(maps * 255)).max() <= 1


def test_intermediate_target_is_exact(light_models):
    model = orc.read_model(light_models["resnet50"])
    layer3 = [c for c in orc.locate(model).candidates if c.shape == (1024, 14, 14)][-1]
    image = _image(model)
    reference = recipro_cam(model, image, target=layer3.name)
    maps = compile_f32(orc.patch(model, target=layer3.name, normalize=False))(image)[orc.SALIENCY][0]
    assert maps.shape == (1000, 14, 14)
    np.testing.assert_allclose(maps, reference, rtol=0, atol=1e-4)


@pytest.mark.parametrize("source", CASES, indirect=True)
def test_original_outputs_bit_identical(source):
    plain = compile_f32(orc.read_model(source))
    patched = compile_f32(orc.patch(source))
    assert [o.get_names() for o in patched.outputs[:-1]] == [o.get_names() for o in plain.outputs]
    for seed in (1, 2):
        image = _image(source, seed)
        expected, got = plain(image), patched(image)
        for i in range(len(plain.outputs)):
            assert np.array_equal(got[i], expected[i])


def test_ir_growth_is_small(light_models, tmp_path):
    """The mask comes from Eye(H*W), not a dense (H*W, K, H, W) constant (58 MB on SqueezeNet), and
    the cloned tail's weights (conv10, 2 MB) are written once."""
    plain = orc.save(orc.read_model(light_models["squeezenet"]), tmp_path / "plain.xml")
    patched = orc.save(orc.patch(light_models["squeezenet"]), tmp_path / "patched.xml")
    growth = patched.with_suffix(".bin").stat().st_size - plain.with_suffix(".bin").stat().st_size
    assert 0 <= growth < 4096
