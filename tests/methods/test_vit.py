"""Token transformers: the right target, the mosaic equals a brute-force ViT-ReciproCAM, batch-invariant maps,
original outputs bit-identical."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import openvino as ov
import pytest
import vits
from reference import compile_f32
from tolerance import assert_maps_match
from vit_reference import vit_recipro_cam

import ov_reciprocam as orc
from ov_reciprocam.analysis.dataflow import node_name
from ov_reciprocam.methods.vit.locate import locate_tokens
from ov_reciprocam.vocabulary import Layout

VARIANTS = {
    "cls": {},
    "cls_sdpa_plain_norm": {"sdpa": True, "affine": False},
    "distilled_sdpa": {"prefix": 2, "sdpa": True},
    "mean_no_prefix": {"prefix": 0, "pool": "mean"},
    "mean_cls_plain_norm": {"prefix": 1, "pool": "mean", "affine": False},
    # A relative position bias per head (BEiT) is not one number: the closed form declines it.
    "cls_position_bias": {"position_bias": True},
    "cls_static_batch": {"batch": 1},
    "mean_sdpa": {"pool": "mean", "sdpa": True},
    "mean_position_bias": {"prefix": 0, "pool": "mean", "position_bias": True},
}
GRID = vits.GRID
SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "images"


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 3, 32, 32)).astype(np.float32)


@pytest.mark.parametrize("name", VARIANTS)
def test_target_is_last_block_input_not_patch_conv(name):
    model = vits.vit(**VARIANTS[name])
    patched = orc.patch(model)
    assert patched.get_rt_info(["ov_reciprocam", "layout"]).astype(str) == Layout.TOKENS
    assert patched.get_rt_info(["ov_reciprocam", "feature_shape"]).astype(str) == f"16,{GRID},{GRID}"
    assert patched.get_rt_info(["ov_reciprocam", "prefix_tokens"]).astype(str) == str(VARIANTS[name].get("prefix", 1))


@pytest.mark.parametrize("name", VARIANTS)
def test_heads_take_the_closed_form_unless_positions_bias_the_attention(name):
    pooling = "tokens_mean" if VARIANTS[name].get("pool") == "mean" else "tokens_prefix"
    expected = "tokens" if VARIANTS[name].get("position_bias") else pooling
    assert orc.patch(vits.vit(**VARIANTS[name])).get_rt_info(["ov_reciprocam", "path"]).astype(str) == expected
    assert (
        orc.patch(vits.vit(**VARIANTS[name]), fast=False).get_rt_info(["ov_reciprocam", "path"]).astype(str) == "tokens"
    )


@pytest.mark.parametrize("fast", [True, False], ids=["default", "mosaic"])
@pytest.mark.parametrize("kernel", ["gaussian", "onehot", "window"])
@pytest.mark.parametrize("name", VARIANTS)
def test_maps_equal_brute_force(name, kernel, fast):
    model = vits.vit(**VARIANTS[name])
    image = _images(1)
    reference = vit_recipro_cam(model, image, GRID, GRID, kernel)
    maps = compile_f32(orc.patch(model, normalize=False, kernel=kernel, fast=fast))(image)[orc.SALIENCY][0]
    assert_maps_match(maps, reference, cap=1e-4)


@pytest.mark.parametrize("name", ["cls", "distilled_sdpa", "mean_no_prefix", "cls_position_bias"])
def test_batches_give_each_image_its_own_map(name):
    compiled = compile_f32(orc.patch(vits.vit(**VARIANTS[name])))
    images = _images(5, seed=3)
    alone = np.concatenate([compiled(images[i : i + 1])[orc.SALIENCY] for i in range(5)])
    for n in (2, 5):
        together = compiled(images[:n])[orc.SALIENCY]
        assert_maps_match(together, alone[:n])  # another batch size may take other kernels on another CPU


@pytest.mark.parametrize("name", VARIANTS)
def test_original_outputs_bit_identical(name):
    model = vits.vit(**VARIANTS[name])
    plain, patched = compile_f32(model), compile_f32(orc.patch(model))
    images = _images(VARIANTS[name].get("batch", 2), seed=1)
    assert np.array_equal(plain(images)[0], patched(images)[0])


def test_earlier_block_as_target_equals_brute_force():
    model = vits.vit(blocks=3)
    first = locate_tokens(model).blocks[0].tokens
    image = _images(1, seed=4)
    reference = vit_recipro_cam(model, image, GRID, GRID, block=0)
    patched = orc.patch(model, target=node_name(first), normalize=False)
    maps = compile_f32(patched)(image)[orc.SALIENCY][0]
    assert_maps_match(maps, reference, cap=1e-4)
    spread = np.ptp(reference, axis=(1, 2)).max()
    assert not np.allclose(maps, vit_recipro_cam(model, image, GRID, GRID), atol=spread / 100)


def test_bad_kernel_is_a_clear_error():
    with pytest.raises(orc.ReciproCamError, match="`kernel` must be one of gaussian, onehot, window"):
        orc.patch(vits.vit(), kernel="box")


def test_cli_inspect_patch_and_explain(tmp_path):
    from commands import cli as run

    source = tmp_path / "vit.xml"
    ov.save_model(vits.vit(blocks=3), source, compress_to_fp16=False)
    listed = run("inspect", source)
    assert listed.returncode == 0, listed.stderr
    blocks = [line for line in listed.stdout.splitlines() if "tokens 16x4x4" in line]
    assert len(blocks) == 3 and "<- auto" in blocks[-1]
    out = tmp_path / "vit_xai.xml"
    patched = run("patch", source, "-o", out, "--kernel", "onehot", "--mean", "127", "--scale", "64")
    assert patched.returncode == 0, patched.stderr
    assert "tokens, 16x4x4" in patched.stdout
    assert ov.Core().read_model(out).get_rt_info(["ov_reciprocam", "kernel"]).astype(str) == "onehot"
    explained = run("explain", out, SAMPLES / "puppies.jpg", "-o", tmp_path / "maps")
    assert explained.returncode == 0, explained.stderr
    assert (tmp_path / "maps" / "results.json").exists()


def test_top_k_uint8_upsampled_maps_follow_the_full_maps():
    model = vits.vit(prefix=2, sdpa=True)
    images = _images(2, seed=5)
    full = compile_f32(orc.patch(model))(images)[orc.SALIENCY]
    result = compile_f32(orc.patch(model, top_k=3, uint8=True, upsample=True))(images)
    classes, maps = result["saliency_classes"], result[orc.SALIENCY]
    assert maps.shape == (2, 3, 32, 32) and maps.dtype == np.uint8
    for b in range(2):
        for k, c in enumerate(classes[b]):
            expected = cv2.resize(full[b, c], (32, 32), interpolation=cv2.INTER_LINEAR)
            assert np.abs(maps[b, k].astype(float) / 255 - expected).max() < 0.01
