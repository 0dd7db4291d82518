"""samples/cpp: built with CMake against the openvino wheel, run on models the Python side patched.

Its printed scores and maps must equal the Python API's to 1e-5 (both compile with f32 precision).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import builders
import cv2
import numpy as np
import openvino as ov
import pytest
import vits
from paths import DOG_MODEL, IMAGES, REPO
from reference import CONFIG, compile_f32

import ov_reciprocam as orc
from ov_reciprocam.model.labels import read_labels
from ov_reciprocam.photos.imaging import read_image

SAMPLE = REPO / "samples" / "cpp"
LINE = re.compile(r"^top (\d+): class (\d+) (\S+) score ([0-9.e+-]+) peak cell x=(\d+) y=(\d+) -> (.+)$")


def _compiler() -> str | None:
    return os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """The built executable; the test is skipped only when the toolchain is missing."""
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed: cannot build samples/cpp")
    if _compiler() is None:
        pytest.skip("no C++ compiler (c++, g++, clang++ or $CXX): cannot build samples/cpp")
    build = tmp_path_factory.mktemp("cpp_build")
    openvino_dir = Path(ov.__file__).parent / "cmake"
    for command in (
        ["cmake", "-S", SAMPLE, "-B", build, f"-DOpenVINO_DIR={openvino_dir}", f"-DCMAKE_CXX_COMPILER={_compiler()}"],
        ["cmake", "--build", build, "-j2"],
    ):
        done = subprocess.run([str(c) for c in command], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    return build / "reciprocam_sample"


@dataclass
class Ranked:
    class_id: int
    label: str
    score: float
    peak: tuple[int, int]  # (x, y) feature cell
    pgm: Path
    saliency: np.ndarray


def run_sample(sample: Path, model: Path, tensor: Path, out: Path, top_k: int) -> list[Ranked]:
    done = subprocess.run(
        [str(sample), str(model), str(tensor), "-k", str(top_k), "-o", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    ranked = []
    for i, line in enumerate(lines):
        if match := LINE.match(line):
            rows = []
            for row in lines[i + 1 :]:
                if not row.startswith("    "):
                    break
                rows.append([float(v) for v in row.split()])
            rank, class_id, label, score, x, y, pgm = match.groups()
            assert int(rank) == len(ranked) + 1
            ranked.append(Ranked(int(class_id), label, float(score), (int(x), int(y)), Path(pgm), np.array(rows)))
    assert len(ranked) == top_k, done.stdout
    return ranked


def check_against(ranked: list[Ranked], probs: np.ndarray, maps: np.ndarray, labels: list[str]) -> None:
    """probs [classes] and maps [classes, H, W] from the Python side."""
    assert [r.class_id for r in ranked] == [
        int(c) for c in np.argsort(-probs, kind="stable")[: len(ranked)]
    ]  # ties keep class order, as std::stable_sort
    for r in ranked:
        assert r.label == labels[r.class_id]
        assert r.score == pytest.approx(float(probs[r.class_id]), abs=1e-5)
        np.testing.assert_allclose(r.saliency, maps[r.class_id], atol=1e-5)
        y, x = np.unravel_index(np.argmax(maps[r.class_id]), maps[r.class_id].shape)
        assert r.peak == (int(x), int(y))
        picture = cv2.imread(str(r.pgm), cv2.IMREAD_UNCHANGED)
        zoom = picture.shape[1] // maps.shape[2]
        span = max(float(np.ptp(maps[r.class_id])), 1e-12)
        expected = np.round((maps[r.class_id] - maps[r.class_id].min()) / span * 255)
        np.testing.assert_allclose(picture[::zoom, ::zoom], expected, atol=1)


@pytest.mark.parametrize(
    "softmax, uint8, vit",
    [(False, False, False), (True, True, False), (True, False, True)],
    ids=["logits-head f32-maps", "softmax-head u8-maps", "transformer"],
)
def test_tensor_input_matches_python(sample, tmp_path, softmax, uint8, vit):
    model = vits.vit() if vit else builders.gap_linear(softmax=softmax)
    xml = orc.save(orc.patch(model, uint8=uint8), tmp_path / "model_xai.xml")
    x = np.random.default_rng(7).normal(size=(1, 3, 32, 32)).astype(np.float32)
    x.tofile(tmp_path / "input.bin")
    ranked = run_sample(sample, xml, tmp_path / "input.bin", tmp_path, top_k=4)

    compiled = compile_f32(ov.Core().read_model(xml))
    out = compiled(x)
    scores = out[compiled.output(0)][0]
    probs = scores if softmax else np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    maps = out[orc.SALIENCY][0].astype(np.float32)
    if uint8:
        maps /= 255.0
    check_against(ranked, probs, maps, [f"class_{c}" for c in range(builders.CLASSES)])


def test_photo_on_embedded_preprocessing_model_matches_explainer(sample, tmp_path):
    """The real dog model with the recipe built in: the app hands raw pixels over, as a C++ app would."""
    from click.testing import CliRunner

    from ov_reciprocam.cli import main

    xml = tmp_path / "dog_xai.xml"
    labels = DOG_MODEL.with_name("labels.txt")
    args = ["patch", str(DOG_MODEL), "-o", str(xml), "--mean", "127.5", "--scale", "127.5", "--rgb"]
    args += ["--interpolation", "cubic", "--labels", str(labels), "--embed-preprocessing"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    photo = read_image(IMAGES / "puppies.jpg")
    cv2.imwrite(str(tmp_path / "puppies.ppm"), photo)
    ranked = run_sample(sample, xml, tmp_path / "puppies.ppm", tmp_path, top_k=3)

    explained = orc.Explainer(xml, config=CONFIG).explain([photo], top_k=19)[0]
    maps = np.stack([c.saliency for c in sorted(explained.classes, key=lambda c: c.class_id)])
    labels = read_labels(labels)
    check_against(ranked, explained.scores, maps, labels)
    assert ranked[0].label == explained.predictions[0].label


def test_bad_input_is_one_error_line(sample, tmp_path):
    xml = orc.save(orc.patch(builders.gap_linear()), tmp_path / "model_xai.xml")
    (tmp_path / "short.bin").write_bytes(b"\0" * 100)
    done = subprocess.run([str(sample), str(xml), str(tmp_path / "short.bin")], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "Error: " + f"{tmp_path / 'short.bin'} holds 100 bytes; the input [1,3,32,32] needs 12288"
    ]


def test_quantized_scores_output_is_dequantized_as_python_does(sample, tmp_path):
    """A float input and a uint8 softmax output (QDQ ONNX): the app reports (q - zero point) * scale, as Python."""
    import quantized

    source = quantized.classifier(tmp_path / "qdq.onnx", scores=quantized.Port("uint8", 1 / 256, 0))
    xml = orc.save(orc.patch(source), tmp_path / "qdq_xai.xml")
    x = np.random.default_rng(7).normal(size=(1, 3, 32, 32)).astype(np.float32)
    x.tofile(tmp_path / "input.bin")
    ranked = run_sample(sample, xml, tmp_path / "input.bin", tmp_path, top_k=3)
    out = compile_f32(ov.Core().read_model(xml))(x)
    stored = out[0][0]
    assert stored.dtype == np.uint8
    check_against(ranked, stored.astype(np.float64) / 256, out[orc.SALIENCY][0], [f"class_{c}" for c in range(10)])


def test_binary_classifier_reports_p_and_its_complement(sample, tmp_path):
    """One sigmoid-less unit: the app reports (1 - p, p) with p the logit's sigmoid, as Python does."""
    from binary import binary

    xml = orc.save(orc.patch(binary("logit")), tmp_path / "binary_xai.xml")
    x = np.random.default_rng(3).normal(size=(1, 3, 32, 32)).astype(np.float32)
    x.tofile(tmp_path / "input.bin")
    ranked = run_sample(sample, xml, tmp_path / "input.bin", tmp_path, top_k=2)
    out = compile_f32(ov.Core().read_model(xml))(x)
    p = 1.0 / (1.0 + np.exp(-float(out[0][0, 0])))
    check_against(ranked, np.array([1.0 - p, p]), out[orc.SALIENCY][0], ["class_0", "class_1"])
