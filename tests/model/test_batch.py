"""Any batch runs in one inference, and each image's map is the one it gets alone."""

from __future__ import annotations

import builders
import numpy as np
import pytest
from paths import DOG_MODEL
from reference import compile_f32
from tolerance import assert_maps_match

import ov_reciprocam as orc
from ov_reciprocam.model.reshape import set_batch


def _per_image_vs_batched(model, shape: list[int]):
    compiled = compile_f32(model)
    images = np.random.default_rng(0).standard_normal([5, *shape]).astype(np.float32)
    alone = np.concatenate([compiled(images[i : i + 1])[orc.SALIENCY] for i in range(5)])
    for size in (2, 5):
        batched = np.concatenate([compiled(images[i : i + size])[orc.SALIENCY] for i in range(0, 5, size)])
        assert batched.shape[0] == 5
        # Kernels may block by batch (VGG-style MLP heads moved light VGG19's scores by 2.4e-6).
        assert_maps_match(batched, alone)
    return compiled(images)


@pytest.mark.parametrize(
    ("source", "shape"),
    [
        (DOG_MODEL, [160, 160, 3]),
        (builders.gap_linear(), [3, 32, 32]),
        (builders.flatten_mlp(), [3, 32, 32]),
        (builders.nhwc_head(flatten=True), [3, 32, 32]),
    ],
    ids=["dog_breeds", "gap_linear", "flatten_mlp", "nhwc_flatten"],
)
def test_dynamic_batch(source, shape):
    patched = orc.patch(source)
    assert patched.output(orc.SALIENCY).get_partial_shape()[0].is_dynamic
    out = _per_image_vs_batched(patched, shape)
    assert out[orc.SALIENCY].shape[0] == 5 and out[0].shape[0] == 5


@pytest.mark.parametrize("name", ["inception_v1", "shufflenet", "squeezenet", "resnet50", "densenet121"])
def test_light_models_after_batch_minus_one(name, light_models):
    """The light models ship with batch 1 and literal [1, K] flatten shapes; --batch -1 frees both."""
    plain = orc.read_model(light_models[name])
    assert plain.get_parameters()[0].get_partial_shape()[0].get_length() == 1
    patched = orc.patch(light_models[name], batch=-1)
    out = _per_image_vs_batched(patched, [3, 224, 224])
    images = np.random.default_rng(0).standard_normal([5, 3, 224, 224]).astype(np.float32)
    # Bit-identical to the plain model at the same batch, as patching promises.
    set_batch(plain, -1)
    np.testing.assert_array_equal(out[0], compile_f32(plain)(images)[0])
    # Close to the plain model's batch-1 answers: kernels may block by batch.
    alone = compile_f32(orc.read_model(light_models[name]))
    expected = np.concatenate([alone(images[i : i + 1])[0] for i in range(5)])
    np.testing.assert_allclose(out[0], expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_static_batch_stays_static(light_models):
    one = orc.patch(light_models["resnet50"])
    assert one.output(orc.SALIENCY).get_partial_shape().to_shape() == [1, 1000, 7, 7]
    three = orc.patch(light_models["resnet50"], batch=3)
    assert three.output(orc.SALIENCY).get_partial_shape().to_shape() == [3, 1000, 7, 7]
    assert three.output(0).get_partial_shape().to_shape() == [3, 1000]


def test_bad_batch_value(light_models):
    with pytest.raises(orc.ReciproCamError, match="`batch` must be"):
        orc.patch(light_models["resnet50"], batch=0)
