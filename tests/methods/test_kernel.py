"""CNN copies that keep the 3x3 neighbourhood (`kernel="gaussian"` or `"window"`) equal a brute force on every path."""

from __future__ import annotations

import builders
import numpy as np
import openvino as ov
import pytest
from light import EXPECTED
from paths import DOG_MODEL, IMAGES
from reference import compile_f32, recipro_cam
from tolerance import assert_maps_match

import ov_reciprocam as orc

# name -> (model maker, target for the brute force, layout, the path the patch should take)
CASES = {
    "gap_linear": (builders.gap_linear, "block2", "NCHW", "pooled"),
    "gap_conv_head": (builders.gap_conv_head, "block2", "NCHW", "pooled"),
    "flatten_mlp": (builders.flatten_mlp, "pool5", "NCHW", "flatten_linear"),
    "nhwc_gap": (builders.nhwc_head, "nhwc_features", "NHWC", "pooled"),
    "nhwc_flatten": (lambda: builders.nhwc_head(flatten=True), "nhwc_features", "NHWC", "flatten_linear"),
    "dog_breeds": (lambda: DOG_MODEL, ("Clamp", (1280, 5, 5)), "NCHW", "pooled"),
}
LIGHT = {"squeezenet": "pooled", "vgg19": "flatten_linear", "inception_v1": "generic"}  # squeezenet: g(0) != 0


def _image(model, seed: int = 0) -> np.ndarray:
    dims = orc.read_model(model).get_parameters()[0].get_partial_shape()
    shape = [d.get_length() if d.is_static else 1 for d in dims]
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _check(source, target, layout: str, path: str, kernel: str, score: str = "softmax") -> None:
    image = _image(source)
    reference = recipro_cam(source, image, target, score, layout=layout, kernel=kernel)
    patched = orc.patch(source, normalize=False, kernel=kernel, score=score)
    assert patched.get_rt_info(["ov_reciprocam", "path"]).astype(str) == path
    assert patched.get_rt_info(["ov_reciprocam", "kernel"]).astype(str) == kernel
    maps = compile_f32(patched)(image)[orc.SALIENCY][0]
    assert_maps_match(maps, reference, cap=1e-4 if score == "softmax" else None)
    # The kernel changes the maps: a one-hot patch is not within that tolerance.
    onehot = compile_f32(orc.patch(source, normalize=False, score=score))(image)[orc.SALIENCY][0]
    assert np.abs(onehot - reference).max() > 10 * np.abs(maps - reference).max()


@pytest.mark.parametrize("kernel", ["gaussian", "window"])
@pytest.mark.parametrize("name", list(CASES))
def test_neighbourhood_maps_equal_brute_force(name, kernel):
    build, target, layout, path = CASES[name]
    _check(build(), target, layout, path, kernel)


@pytest.mark.parametrize("kernel", ["gaussian", "window"])
@pytest.mark.parametrize("name", list(LIGHT))
def test_neighbourhood_maps_of_light_models_equal_brute_force(name, kernel, light_models):
    # Logits: the random-weight light models' logits run into the thousands, where softmax saturates.
    _check(light_models[name], EXPECTED[name], "NCHW", LIGHT[name], kernel, score="logits")


def test_cnns_default_to_onehot_and_transformers_to_gaussian():
    """Each family's paper's choice when `kernel` is not given; recorded either way."""
    import vits

    cnn = orc.patch(builders.gap_linear())
    assert cnn.get_rt_info(["ov_reciprocam", "kernel"]).astype(str) == "onehot"
    vit = orc.patch(vits.vit())
    assert vit.get_rt_info(["ov_reciprocam", "kernel"]).astype(str) == "gaussian"


def test_gaussian_on_an_open_size_target_asks_for_the_input_shape():
    dynamic = orc.read_model(builders.gap_linear())
    dynamic.reshape({0: ov.PartialShape([1, 3, -1, -1])})
    with pytest.raises(orc.ReciproCamError, match="gaussian kernel needs a feature map of fixed size.*`input_shape`"):
        orc.patch(dynamic, kernel="gaussian")


def test_cli_patch_kernel_gaussian_is_recorded_and_explains(tmp_path):
    from commands import cli as run

    out = tmp_path / "dog_xai.xml"
    patched = run("patch", DOG_MODEL, "-o", out, "--kernel", "gaussian", "--mean", "127.5", "--scale", "127.5", "--rgb")
    assert patched.returncode == 0, patched.stderr
    assert ov.Core().read_model(out).get_rt_info(["ov_reciprocam", "kernel"]).astype(str) == "gaussian"
    explained = run("explain", out, IMAGES / "both.png", "-o", tmp_path / "x")
    assert explained.returncode == 0, explained.stderr
