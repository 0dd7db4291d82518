"""INT8 with NNCF: quantized models patch, stay exact against their own brute force, and keep their maps."""

from __future__ import annotations

import builders
import numpy as np
import openvino as ov
import pytest
import vits
from commands import cli as run
from paths import DOG_MODEL, IMAGES
from reference import CONFIG, compile_f32, find_target, recipro_cam
from tolerance import assert_maps_match

import ov_reciprocam as orc
from ov_reciprocam.photos.imaging import read_image
from ov_reciprocam.quality.fidelity import compare, summary
from ov_reciprocam.quality.metrics import pearson, spearman
from ov_reciprocam.quality.quantize import augment, quantize, saliency_subgraph

# The recipe in samples/models/dog_breeds_mobilenetv2/README.md.
DOG_RECIPE = orc.Preprocess(160, 160, "NHWC", mean=(127.5,), scale=(127.5,), rgb=True, interpolation="cubic")
DOG_FLAGS = ("--mean", "127.5", "--scale", "127.5", "--rgb", "--interpolation", "cubic")
IMAGENET = orc.Preprocess(224, 224, "NCHW", mean=(123.675, 116.28, 103.53), scale=(58.395, 57.12, 57.375), rgb=True)
PHOTOS = sorted(p for p in IMAGES.iterdir() if p.suffix in (".png", ".jpg"))


def _fake_quantize_count(model: ov.Model) -> int:
    return sum(op.get_type_name() == "FakeQuantize" for op in model.get_ordered_ops())


@pytest.fixture(scope="module")
def calibration() -> list[np.ndarray]:
    """The sample photos, mirrored, and each cropped two ways: 24 images."""
    views = augment([read_image(p) for p in PHOTOS])
    assert len(views) == 24 and views[1].shape[0] < views[0].shape[0]
    return views


@pytest.fixture(scope="module")
def dog_int8(calibration) -> ov.Model:
    return quantize(DOG_MODEL, calibration, DOG_RECIPE)


@pytest.fixture(scope="module")
def resnet_int8(calibration, light_models) -> ov.Model:
    return quantize(light_models["resnet50"], calibration[::3], IMAGENET)


@pytest.fixture(scope="module")
def dog_fidelity(dog_int8):
    explainers = [orc.Explainer(m, preprocess=DOG_RECIPE, config=CONFIG) for m in (DOG_MODEL, dog_int8)]
    return compare(*explainers, [read_image(p) for p in PHOTOS], [p.name for p in PHOTOS])


def test_int8_dog_patches_in_auto_mode(dog_int8):
    assert _fake_quantize_count(dog_int8) > 0
    patched = orc.patch(dog_int8)
    # Auto mode finds the same 1280x5x5 block as on FP32, now read through its quantizer.
    assert patched.get_rt_info(["ov_reciprocam", "feature_shape"]).astype(str) == "1280,5,5"
    assert orc.locate(dog_int8).target.output.get_node().get_type_name() == "FakeQuantize"


def test_int8_dog_maps_correlate_with_fp32(dog_fidelity):
    assert [f.source for f in dog_fidelity] == [p.name for p in PHOTOS]
    assert summary(dog_fidelity)["pearson_mean"] >= 0.9
    agreed = {f.source: f.top1_agrees for f in dog_fidelity}
    assert agreed["both.png"] and agreed["puppies.jpg"]


def test_fidelity_of_a_model_with_itself_is_perfect():
    explainer = orc.Explainer(DOG_MODEL, preprocess=DOG_RECIPE, config=CONFIG)
    found = compare(explainer, explainer, [read_image(IMAGES / "both.png")], ["both.png"])
    assert found[0].pearson == pytest.approx(1.0) and found[0].spearman == pytest.approx(1.0)
    assert found[0].top1_agrees and found[0].same_cell


@pytest.mark.parametrize("which", ["dog", "resnet"])
def test_patched_int8_equals_brute_force_on_the_same_quantized_tail(which, request):
    """Quantize, then patch: the saliency output equals the brute force that runs the INT8 tail."""
    int8 = request.getfixturevalue(f"{which}_int8")
    recipe = DOG_RECIPE if which == "dog" else IMAGENET
    image = recipe(read_image(IMAGES / "both.png"))[None]
    patched = orc.patch(int8, normalize=False)
    maps, features = _maps_and_features(patched, image)
    # The target is the one the FP32 model gets (test_int8_dog_patches_in_auto_mode checks it), read through
    # its quantizer: take its name from the patched model.
    target = patched.get_rt_info(["ov_reciprocam", "target"]).astype(str)
    assert_maps_match(maps, recipro_cam(int8, image, target, features=features), cap=1e-4)


def _maps_and_features(patched: ov.Model, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The saliency output and the target's value, from one inference of `patched`.

    The brute force then masks the very feature map the saliency was computed from: an INT8 backbone
    compiled on its own may round a quantizer's boundary values the other way on some CPUs.
    """
    probe = patched.clone()
    target = probe.get_rt_info(["ov_reciprocam", "target"]).astype(str)
    probe.add_outputs([find_target(probe, target)])
    out = compile_f32(probe)(image)
    return out[orc.SALIENCY][0], out[len(probe.outputs) - 1]


def _float_tail(model: ov.Model, target: str) -> ov.Model:
    """`model` with every FakeQuantize in or feeding the tail after `target` bypassed: INT8 backbone, FP32 tail."""
    hybrid = orc.read_model(model)
    tail = orc.locate(hybrid, target).tail
    for op in hybrid.get_ordered_ops():
        if op.get_type_name() != "FakeQuantize":
            continue
        feeds_tail = any(i.get_node().get_instance_id() in tail for i in op.output(0).get_target_inputs())
        if op.get_instance_id() in tail or feeds_tail:
            op.output(0).replace(op.input_value(0))
    return hybrid


def test_patch_then_quantize_keeps_the_saliency_subgraph_in_floating_point(light_models, calibration, resnet_int8):
    source = light_models["resnet50"]
    patched = orc.patch(source, normalize=False)
    int8 = quantize(patched, calibration[::3], IMAGENET)
    ours = saliency_subgraph(int8)
    assert ours and not any(op.get_type_name() == "FakeQuantize" for op in ours)
    assert not any(v.get_node().get_type_name() == "FakeQuantize" for op in ours for v in op.input_values())
    # The network itself is quantized as a plain model is.
    assert _fake_quantize_count(int8) == _fake_quantize_count(resnet_int8)
    target = int8.get_rt_info(["ov_reciprocam", "target"]).astype(str)
    image = IMAGENET(read_image(IMAGES / "puppies.jpg"))[None]
    maps, features = _maps_and_features(int8, image)
    reference = recipro_cam(_float_tail(int8, target), image, target=target, features=features)
    assert_maps_match(maps, reference, cap=1e-4)


def test_static_batch_and_flatten_head(calibration):
    """A static batch of 2 is filled by repetition (3 photos); a flatten + linear saliency head stays in FP too."""
    recipe = orc.Preprocess(32, 32, "NCHW")
    plain = quantize(builders.flatten_mlp(batch=2), calibration[:3], recipe)
    assert plain.get_parameters()[0].get_partial_shape().to_string() == "[2,3,32,32]"
    patched = quantize(orc.patch(builders.flatten_mlp(batch=2)), calibration[:3], recipe)
    assert not any(op.get_type_name() == "FakeQuantize" for op in saliency_subgraph(patched))
    assert _fake_quantize_count(patched) == _fake_quantize_count(plain) > 0
    maps = compile_f32(patched)(np.stack([recipe(p) for p in calibration[:2]]))[orc.SALIENCY]
    assert maps.shape == (2, builders.CLASSES, 4, 4) and np.ptp(maps[0]) > 0


def test_quantized_transformer_keeps_its_closed_form_in_floating_point(calibration):
    recipe = orc.Preprocess(32, 32, "NCHW")
    patched = quantize(orc.patch(vits.vit()), calibration[:3], recipe)
    assert patched.get_rt_info(["ov_reciprocam", "path"]).astype(str) == "tokens_prefix"
    assert not any(op.get_type_name() == "FakeQuantize" for op in saliency_subgraph(patched))
    assert _fake_quantize_count(patched) > 0
    maps = compile_f32(patched)(recipe(calibration[0])[None])[orc.SALIENCY]
    assert maps.shape == (1, vits.CLASSES, vits.GRID, vits.GRID) and np.ptp(maps[0]) > 0


def test_pearson_and_spearman():
    rng = np.random.default_rng(0)
    a, b = rng.random((5, 5)), rng.random((5, 5))
    assert pearson(a, b) == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    # Spearman sees only order: a monotonic transform is a perfect match, which Pearson does not see.
    assert spearman(a, np.exp(8 * a)) == pytest.approx(1.0)
    assert pearson(a, np.exp(8 * a)) < 0.95
    # Tied values share their mean rank: [1, 2, 2, 3] ranks as [1, 2.5, 2.5, 4].
    assert spearman(np.array([1.0, 2, 2, 3]), np.array([1.0, 2.5, 2.5, 4])) == pytest.approx(1.0)
    assert np.isnan(pearson(np.ones(4), np.arange(4.0)))


def test_cli_quantize_then_compare(tmp_path):
    out = tmp_path / "dog_int8.xml"
    options = ("--subset-size", "3", "--preset", "mixed", "--device", "CPU")
    result = run("quantize", DOG_MODEL, IMAGES, "-o", out, *options, *DOG_FLAGS)
    assert result.returncode == 0, result.stderr
    assert "calibrate  on 3 of 4 images" in result.stdout and "FakeQuantize ops (mixed, CPU)" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dog_int8.bin", "dog_int8.xml"]
    int8 = ov.Core().read_model(out)
    assert _fake_quantize_count(int8) > 0
    # The recipe given as flags is stored, as `patch` stores it.
    assert int8.get_rt_info(["model_info", "mean_values"]).astype(str) == "127.5"
    report = tmp_path / "fidelity.json"
    result = run("compare", DOG_MODEL, out, IMAGES / "both.png", IMAGES / "puppies.jpg", "--json", report, *DOG_FLAGS)
    assert result.returncode == 0, result.stderr
    assert "top-1 agrees on 2/2" in result.stdout
    assert '"pearson_mean"' in report.read_text()


@pytest.mark.parametrize(
    ("option", "choices"), [("preset", "performance, mixed"), ("target_device", "CPU, GPU, NPU, ANY")]
)
def test_unknown_preset_or_target_device_names_the_choices(option, choices):
    with pytest.raises(orc.ReciproCamError, match=f"^`{option}` must be one of {choices}, got 'fast'$"):
        quantize(DOG_MODEL, [IMAGES / "both.png"], DOG_RECIPE, **{option: "fast"})


def test_cli_quantize_errors_are_one_line_and_write_nothing(tmp_path):
    result = run("quantize", DOG_MODEL, IMAGES, "-o", tmp_path / "int8.onnx")
    assert (
        result.returncode == 1
        and result.stderr.strip() == f"Error: output must be an IR .xml path, got {tmp_path}/int8.onnx"
    )
    bad = tmp_path / "photos"
    bad.mkdir()
    (bad / "broken.jpg").write_bytes(b"not a photo")
    result = run("quantize", DOG_MODEL, bad, "-o", tmp_path / "int8.xml", *DOG_FLAGS)
    assert result.returncode == 1 and "cannot read image" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]
