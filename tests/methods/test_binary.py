"""Binary classifiers with one output unit: explained as two classes (negative = 1 - p, positive = p), against the
brute force, on pooled and flatten tails, NCHW and NHWC, any batch, and a transformer with a one-unit head."""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest
import vits
from binary import TARGETS, binary
from commands import cli
from paths import IMAGES
from reference import compile_f32, recipro_cam
from tolerance import assert_maps_match
from vit_reference import vit_recipro_cam

import ov_reciprocam as orc
from ov_reciprocam.model.rt_info import PatchInfo
from ov_reciprocam.vocabulary import ScoreKind

IMAGES_5 = np.random.default_rng(4).standard_normal((5, 3, 32, 32)).astype(np.float32)
CASES = [(u, t, layout) for u in ("sigmoid", "logit") for t in ("pooled", "flatten") for layout in ("NCHW", "NHWC")]


def _brute_force(model: ov.Model, image: np.ndarray, layout: str, score: str) -> np.ndarray:
    """[2, H, W]: the positive unit's map (sigmoid of the copies' logit, or the logit) and its complement."""
    (unit,) = recipro_cam(model, image, TARGETS[layout], score=score, layout=layout)
    return np.stack([1.0 - unit, unit]) if score == "sigmoid" else np.stack([-unit, unit])


@pytest.mark.parametrize(("unit", "tail", "layout"), CASES)
def test_binary_maps_equal_the_brute_force(unit, tail, layout):
    model = binary(unit, tail, layout)
    patched = orc.patch(model, normalize=False)
    info = PatchInfo.read(patched)
    kind = ScoreKind.BINARY_SIGMOID if unit == "sigmoid" else ScoreKind.BINARY_LOGIT
    assert (info.score_kind, info.classes, info.tail.value) == (
        kind,
        2,
        "pooled" if tail == "pooled" else "flatten_linear",
    )
    compiled = compile_f32(patched)
    out = compiled(IMAGES_5)
    assert out[orc.SALIENCY].shape == (5, 2, 8, 8)
    for i in (0, 4):
        assert_maps_match(out[orc.SALIENCY][i], _brute_force(model, IMAGES_5[i : i + 1], layout, "sigmoid"), cap=1e-4)
    # Batches of 1, 2 and 5 give each image the map it gets alone; the original output stays bit-identical.
    for size in (1, 2):
        assert_maps_match(compiled(IMAGES_5[:size])[orc.SALIENCY], out[orc.SALIENCY][:size])
    np.testing.assert_array_equal(out[0], compile_f32(orc.read_model(model))(IMAGES_5)[0])


@pytest.mark.parametrize("unit", ["sigmoid", "logit"])
def test_score_logits_maps_the_raw_logit(unit):
    model = binary(unit)
    maps = compile_f32(orc.patch(model, normalize=False, score="logits"))(IMAGES_5[:1])[orc.SALIENCY][0]
    assert_maps_match(maps, _brute_force(model, IMAGES_5[:1], "NCHW", "logits"), cap=1e-4)


def test_top_k_1_keeps_the_likelier_class():
    model = binary("logit")
    out = compile_f32(orc.patch(model, normalize=False, top_k=1))(IMAGES_5)
    p = 1.0 / (1.0 + np.exp(-out[0][:, 0].astype(np.float64)))
    np.testing.assert_array_equal(out[orc.SALIENCY_CLASSES][:, 0], (p >= 0.5).astype(int))
    assert len(set(out[orc.SALIENCY_CLASSES][:, 0])) == 2  # both classes occur among the five
    for i in range(5):
        both = _brute_force(model, IMAGES_5[i : i + 1], "NCHW", "sigmoid")
        assert_maps_match(out[orc.SALIENCY][i, 0], both[out[orc.SALIENCY_CLASSES][i, 0]], cap=1e-4)


def test_explainer_reports_p_and_its_complement():
    model = binary("sigmoid")
    explainer = orc.Explainer(model, preprocess=orc.Preprocess(32, 32), config={"INFERENCE_PRECISION_HINT": "f32"})
    photo = np.random.default_rng(1).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    (result,) = explainer.explain([photo], top_k=2)
    p = float(compile_f32(orc.read_model(model))(orc.Preprocess(32, 32)(photo)[None])[0][0, 0])
    scores = {c.label: c.score for c in result.classes}
    assert set(scores) == {"negative", "positive"}
    assert scores["positive"] == pytest.approx(p, abs=1e-6) and scores["negative"] == pytest.approx(1 - p, abs=1e-6)


def test_cli_inspect_and_explain_with_a_two_line_labels_file(tmp_path):
    xml = tmp_path / "binary.xml"
    ov.save_model(binary("sigmoid"), xml)
    listed = cli("inspect", xml)
    assert listed.returncode == 0 and "binary (sigmoid)" in listed.stdout, listed.stdout + listed.stderr
    labels = tmp_path / "labels.txt"
    labels.write_text("no defect\ndefect\n")
    done = cli("explain", xml, IMAGES / "both.png", "-o", tmp_path / "out", "--raw-pixels", "--labels", labels)
    assert done.returncode == 0, done.stderr
    import json

    record = json.loads((tmp_path / "out" / "results.json").read_text())["images"][0]
    assert {e["label"] for e in record["explained"]} <= {"no defect", "defect"}
    assert sum(p["score"] for p in record["predictions"]) == pytest.approx(1.0)


def test_a_transformer_with_a_one_unit_head():
    model = vits.vit(binary=True)
    patched = orc.patch(model, normalize=False)
    info = PatchInfo.read(patched)
    assert (info.score_kind, info.classes, info.tail.value) == (ScoreKind.BINARY_SIGMOID, 2, "tokens_prefix")
    image = IMAGES_5[:1]
    maps = compile_f32(patched)(image)[orc.SALIENCY][0]
    (unit,) = vit_recipro_cam(model, image, 4, 4, score="sigmoid")
    assert_maps_match(maps, np.stack([1.0 - unit, unit]), cap=1e-4)
