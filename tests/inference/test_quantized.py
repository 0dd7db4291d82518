"""Quantized models from edge toolchains, read right: Google's uint8 TFLite MobileNet with its metadata, and
QDQ ONNX models with float, int8 and uint8 ports. Scores are the model's own output, dequantized; maps equal
the brute force (softmax of the float logits); bad files and models that cannot be right are refused."""

from __future__ import annotations

import json
import zipfile

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
import quantized
from builders import backbone
from commands import cli
from paths import SAMPLES
from quantized import Port
from reference import CONFIG, compile_f32, find_target, recipro_cam
from tolerance import assert_maps_match

import ov_reciprocam as orc
from ov_reciprocam.model.rt_info import PatchInfo
from ov_reciprocam.photos.imaging import read_image
from ov_reciprocam.vocabulary import ScoreKind

CORAL = SAMPLES / "models" / "coral" / "mobilenet_v1_0.25_128_quant.tflite"
PHOTOS = SAMPLES / "openimages"
CORAL_PHOTOS = [PHOTOS / n for n in ("parrot.jpg", "cat.png", "hot_dog.jpg", "bird.png")]
CORAL_TARGET = ("FakeQuantize", (256, 4, 4))  # the last block's quantized output, before the pooling


def _coral_labels() -> list[str]:
    with zipfile.ZipFile(CORAL) as archive:
        return archive.read("imagenet_labels.txt").decode().split("\n")[:1001]


def _coral_input(photo: np.ndarray, size: int = 128) -> np.ndarray:
    """What a coral model takes, by its README: the photo resized to its size, RGB, uint8 as it is."""
    return np.ascontiguousarray(cv2.resize(photo, (size, size), interpolation=cv2.INTER_LINEAR)[None, :, :, ::-1])


def _maps_and_features(patched: ov.Model, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The saliency output, the scores output and the target's value, from one f32 inference of `patched`
    (a quantized backbone compiled on its own may round a quantizer's boundary values the other way)."""
    probe = patched.clone()
    probe.add_outputs([find_target(probe, PatchInfo.read(probe).target)])
    out = compile_f32(probe)(image)
    return out[orc.SALIENCY][0], out[0], out[len(probe.outputs) - 1]


def test_coral_explained_with_no_flags_reports_the_models_own_dequantized_scores(tmp_path):
    out = tmp_path / "out"
    done = cli("explain", CORAL, *CORAL_PHOTOS, "-o", out, "--top-k", "1")
    assert done.returncode == 0, done.stderr
    assert "RGB, uint8 pixels as they are" in done.stderr  # the recipe the file's metadata gives
    report = json.loads((out / "results.json").read_text())
    assert report["labels"] == _coral_labels()
    plain = ov.Core().compile_model(ov.Core().read_model(CORAL), "CPU", CONFIG)
    for record, path in zip(report["images"], CORAL_PHOTOS, strict=True):
        stored = plain(_coral_input(read_image(path)))[0][0]  # uint8 probabilities, 1/256 a step
        top = record["predictions"][0]
        assert stored[top["class_id"]] == stored.max()
        assert top["score"] == pytest.approx(stored.max() / 256, abs=1e-12)
        assert top["label"] == _coral_labels()[top["class_id"]]
        assert 0 < top["score"] <= 255 / 256
    tops = [r["predictions"][0]["label"] for r in report["images"]]
    assert tops[0] == "macaw" and report["images"][0]["predictions"][0]["score"] > 0.5


# (model, its target as the brute force finds it by op type and shape, input size)
CORAL_MODELS = {
    "v1_0.25_128": (CORAL, CORAL_TARGET, 128),
    "v2_1.0_224": (CORAL.with_name("mobilenet_v2_1.0_224_quant.tflite"), ("FakeQuantize", (1280, 7, 7)), 224),
}


@pytest.mark.parametrize("photo", CORAL_PHOTOS[:2], ids=lambda p: p.stem)
@pytest.mark.parametrize("name", CORAL_MODELS)
def test_coral_default_maps_equal_the_brute_force_on_the_float_logits(name, photo):
    model, target, size = CORAL_MODELS[name]
    base = orc.read_model(model)
    patched = orc.patch(base, normalize=False)
    info = PatchInfo.read(patched)
    assert (info.score_kind, info.scores_scale, info.scores_zero_point) == (ScoreKind.PROBABILITIES, 1 / 256, 0.0)
    # A quantizer sits between the target and the logits: the default runs the tail's own ops on every copy.
    assert info.tail.value == "generic"
    # The recorded target is the one the brute force finds by op type and shape.
    assert find_target(base, info.target).get_node().get_friendly_name() == (
        find_target(base, target, "NCHW").get_node().get_friendly_name()
    )
    image = _coral_input(read_image(photo), size)
    maps, scores, features = _maps_and_features(patched, image)
    np.testing.assert_array_equal(scores, ov.Core().compile_model(base, "CPU", CONFIG)(image)[0])
    reference = recipro_cam(base, image, target, features=features)
    # No allowance for a quantizer's ties: the default build rounds every copy as the model's tail does.
    assert_maps_match(maps, reference, cap=1e-4)


@pytest.mark.parametrize("name", CORAL_MODELS)
def test_coral_inputs_are_the_photos_pixels_as_its_readme_gives_them(name):
    model, _, size = CORAL_MODELS[name]
    recipe = orc.Preprocess.from_model(orc.read_model(model))
    assert recipe.takes_pixels  # the uint8 pixels go in as they are, not through floats and back
    for path in CORAL_PHOTOS:
        photo = read_image(path)
        given = recipe(photo)
        np.testing.assert_array_equal(given, _coral_input(photo, size)[0])
        np.testing.assert_array_equal(given, recipe.encode(recipe.normalized(photo)))  # the round trip it skips
        assert given.flags.c_contiguous  # copied into the request as one block, not gathered value by value


def test_coral_target_path_survives_a_second_read_and_is_accepted_back():
    first, second = orc.read_model(CORAL), orc.read_model(CORAL)
    a, b = orc.locate(first).target, orc.locate(second).target
    assert a.name != b.name  # the frontend numbers the names it makes up anew on each read
    assert a.reference == b.reference == "FakeQuantize#84"
    again = orc.locate(second, a.reference).target
    assert again.output.get_node().get_friendly_name() == b.name


def test_metadata_gives_way_to_rt_info_and_flags(tmp_path):
    photo = CORAL_PHOTOS[0]
    done = cli("explain", CORAL, photo, "-o", tmp_path / "flags", "--bgr")
    assert done.returncode == 0 and ", BGR, " in done.stderr, done.stderr
    xml = tmp_path / "coral_bgr.xml"
    assert cli("patch", CORAL, "-o", xml, "--bgr").returncode == 0
    done = cli("explain", xml, photo, "-o", tmp_path / "rt_info")
    assert done.returncode == 0 and ", BGR, " in done.stderr, done.stderr
    patched = ov.Core().read_model(xml)
    assert patched.get_rt_info(["model_info", "reverse_input_channels"]).astype(str) == "False"
    assert patched.get_rt_info(["model_info", "mean_values"]).astype(str) == "127.5"  # from the metadata


# --- QDQ ONNX, integer ports --------------------------------------------------------------------------------------

# name: (input port, scores port, softmax, channels, size); the 96x96 model's pooled quantizer is finer, so that
# one position of 24x24 stays above its first step
CASES = {
    "qdq_float_ports": (Port(), Port(), True, 3, 32),
    "int8_in_int8_logits": (Port("int8", 1 / 64, 0), Port("int8", 0.125, -3), False, 3, 32),
    "int8_gray_softmax": (Port("int8", 1 / 128, 0), Port("int8", 1 / 256, -128), True, 1, 96),
    "uint8_softmax": (Port("uint8", 1 / 128, 128), Port("uint8", 1 / 256, 0), True, 3, 32),
}
RECIPE = ("--mean", "127.5", "--scale", "127.5", "--rgb")


def _expected_input(case: str, photo: np.ndarray) -> np.ndarray:
    """The input the recipe (x = (RGB - 127.5) / 127.5) stands for, quantized with the input's own scale and
    zero point, rounded to nearest and clipped; a uint8 port that dequantizes 0..255 onto [-1, 1] takes the
    pixels as they are."""
    image, _, _, channels, size = CASES[case]
    if channels == 1:  # a grey photo first, then resized
        grey = cv2.resize(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY), (size, size), interpolation=cv2.INTER_LINEAR)
        pixels = grey[None, None]
    else:
        pixels = cv2.resize(photo, (size, size), interpolation=cv2.INTER_LINEAR)[:, :, ::-1].transpose(2, 0, 1)[None]
    if case == "uint8_softmax":
        return pixels.astype(np.uint8)
    x = (pixels.astype(np.float32) - np.float32(127.5)) / np.float32(127.5)
    if image.kind == "float":
        return x
    info = np.iinfo(image.kind)
    return np.clip(np.rint(x.astype(np.float64) / image.scale + image.zero_point), info.min, info.max).astype(
        image.kind
    )


@pytest.fixture(scope="module", params=list(CASES))
def onnx_case(request, tmp_path_factory):
    image, scores, softmax, channels, size = CASES[request.param]
    path = tmp_path_factory.mktemp("quantized") / f"{request.param}.onnx"
    pooled_high = 0.5 if size > 32 else 6.0
    quantized.classifier(
        path, image=image, scores=scores, softmax=softmax, channels=channels, size=size, pooled_high=pooled_high
    )
    return request.param, path


def test_qdq_and_integer_ports_explain_with_the_models_own_scores(onnx_case):
    case, path = onnx_case
    image, scores, softmax, *_ = CASES[case]
    photo = read_image(CORAL_PHOTOS[0])
    explainer = orc.Explainer(
        path,
        config=CONFIG,
        preprocess=orc.Preprocess.from_model(orc.read_model(path), mean=(127.5,), scale=(127.5,), rgb=True),
    )
    info = explainer.info
    assert info.score_kind is (ScoreKind.PROBABILITIES if softmax else ScoreKind.LOGITS)
    assert info.scores_scale == pytest.approx(1.0 if scores.kind == "float" else scores.scale)
    fed = explainer.preprocess(photo)[None]
    expected = _expected_input(case, photo)
    assert fed.dtype == expected.dtype
    np.testing.assert_array_equal(fed, expected)
    stored = ov.Core().compile_model(ov.Core().read_model(path), "CPU", CONFIG)(expected)[0][0].astype(np.float64)
    real = (stored - scores.zero_point) * scores.scale
    probs = real if softmax else np.exp(real - real.max()) / np.exp(real - real.max()).sum()
    result = explainer.explain([photo], top_k=1)[0]
    assert result.classes[0].class_id == int(np.argmax(probs))
    assert result.classes[0].score == pytest.approx(float(probs.max()), abs=1e-9)
    assert result.scores.sum() == pytest.approx(1.0, abs=0.02 + quantized.CLASSES / 512)


def test_qdq_and_integer_ports_maps_equal_the_brute_force(onnx_case):
    case, path = onnx_case
    *_, size = CASES[case]
    base = orc.read_model(path)
    patched = orc.patch(base, normalize=False)
    target = ("FakeQuantize", (16, size // 4, size // 4))
    assert find_target(base, PatchInfo.read(patched).target).get_names() == find_target(base, target).get_names()
    image = _expected_input(case, read_image(CORAL_PHOTOS[2]))
    maps, _, features = _maps_and_features(patched, image)
    assert_maps_match(maps, recipro_cam(base, image, target, features=features), cap=1e-4)


def test_a_recipe_outside_a_quantized_inputs_range_is_refused(onnx_case, tmp_path):
    case, path = onnx_case
    if CASES[case][0].kind == "float":
        pytest.skip("a float input takes any values")
    done = cli("explain", path, CORAL_PHOTOS[0], "-o", tmp_path / "out", "--mean", "0", "--scale", "1")
    assert done.returncode == 1 and "input stands for" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "out").exists()


# --- refusals -----------------------------------------------------------------------------------------------------


def _nan_scores() -> ov.Model:
    """Log of a linear layer's output: NaN wherever the layer is negative."""
    image, x = backbone(1)
    pooled = ops.reduce_mean(x, ops.constant(np.array([2, 3], np.int64)), keep_dims=False)
    weights = np.random.default_rng(0).normal(0, 1, (16, 10)).astype(np.float32)
    return ov.Model([ops.result(ops.log(ops.matmul(pooled, ops.constant(weights), False, False)))], [image], "nan")


def _softmax_over_the_batch() -> ov.Model:
    """A softmax over axis 0 at batch 1: every 'probability' is 1, and they sum to 10."""
    image, x = backbone(1)
    pooled = ops.reduce_mean(x, ops.constant(np.array([2, 3], np.int64)), keep_dims=False)
    weights = np.random.default_rng(0).normal(0, 1, (16, 10)).astype(np.float32)
    logits = ops.matmul(pooled, ops.constant(weights), False, False)
    return ov.Model([ops.result(ops.softmax(logits, 0))], [image], "batch_softmax")


@pytest.mark.parametrize(
    ("build", "message"),
    [(_nan_scores, "the model's own output is NaN"), (_softmax_over_the_batch, "probabilities sum to 10")],
)
def test_the_probe_refuses_what_cannot_be_right(build, message, tmp_path):
    xml = tmp_path / "model.xml"
    ov.save_model(build(), xml)
    done = cli("patch", xml, "-o", tmp_path / "out.xml")
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.xml").exists()
    done = cli("explain", xml, SAMPLES / "images" / "both.png", "-o", tmp_path / "explained", "--raw-pixels")
    assert done.returncode == 1 and message in done.stderr, done.stderr
    with pytest.raises(orc.ReciproCamError, match=message):
        orc.Explainer(build(), preprocess=orc.Preprocess(32, 32))


def test_an_unreadable_tflite_file_gets_one_line_in_our_words(tmp_path):
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(CORAL.read_bytes()[:200_000])
    done = cli("inspect", broken)
    assert done.returncode == 1
    assert done.stderr.startswith("Error: not a readable TFLite file") and "re-export it" in done.stderr
    assert "FrontEnd" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    done = cli("--debug", "inspect", broken)
    assert done.returncode == 1 and "FlatBuffer verification failed" in done.stderr, done.stderr


@pytest.mark.parametrize("name", ["model.h5", "model.keras", "weights.bin"])
def test_a_keras_file_says_how_to_convert_it(name, tmp_path):
    path = tmp_path / name
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))  # the HDF5 signature Keras .h5 files start with
    done = cli("patch", path)
    assert done.returncode == 1, done.stderr
    assert "Keras model file" in done.stderr and "convert_model" in done.stderr and "SavedModel" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "GraphDef" not in done.stderr, done.stderr


def test_explain_input_shape_fixes_a_dynamic_size_plain_model(tmp_path):
    import heads

    xml = tmp_path / "dynamic.xml"
    ov.save_model(heads.dynamic_size(), xml)
    photo = SAMPLES / "images" / "both.png"
    refused = cli("explain", xml, photo, "-o", tmp_path / "no", "--raw-pixels")
    assert refused.returncode == 1 and "--input-shape" in refused.stderr
    done = cli("explain", xml, photo, "-o", tmp_path / "out", "--raw-pixels", "--input-shape", "1,3,48,64")
    assert done.returncode == 0, done.stderr
    maps = np.load(tmp_path / "out" / "both_maps.npy")
    assert maps.shape[1:] == (12, 16)  # the backbone divides by 4


def test_raw_pixels_go_into_an_integer_input_as_they_are_and_stay_recorded(onnx_case, tmp_path):
    case, path = onnx_case
    image = CASES[case][0]
    if image.kind == "float":
        pytest.skip("a float input takes the pixels as floats")
    xml = tmp_path / "raw.xml"
    done = cli("patch", path, "-o", xml, "--raw-pixels")
    assert done.returncode == 0, done.stderr
    recipe = orc.Preprocess.from_model(ov.Core().read_model(xml))  # read back from rt_info
    photo = read_image(CORAL_PHOTOS[0])
    size, channels = CASES[case][4], CASES[case][3]
    if channels == 1:  # grey first, then resized, as the recipe does
        pixels = cv2.resize(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY), (size, size), interpolation=cv2.INTER_LINEAR)[None]
    else:  # BGR: --raw-pixels swaps nothing
        pixels = cv2.resize(photo, (size, size), interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1)
    info = np.iinfo(image.kind)
    expected = np.clip(pixels, info.min, info.max).astype(image.kind)  # clipped to the port's type, not scaled
    np.testing.assert_array_equal(recipe(photo), expected)
    assert recipe(photo).flags.c_contiguous  # in the port's layout in memory too, not a transposed view
    explained = cli("explain", xml, CORAL_PHOTOS[0], "-o", tmp_path / "out")
    assert explained.returncode == 0, explained.stderr
