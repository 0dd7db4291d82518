"""The rt_info a patched model carries, entry for entry: what the code of commit 4d41250 wrote (before one schema
module named every key and families owned their fields), so that models saved before and after read alike."""

from __future__ import annotations

from pathlib import Path

import openvino as ov
import pytest
import quantized
import vits
from paths import DOG_MODEL, SAMPLES

import ov_reciprocam as orc
from ov_reciprocam.methods.cnn.tails import CnnTail
from ov_reciprocam.methods.vit.family import recorded_prefix
from ov_reciprocam.model.rt_info import MODEL_INFO, OURS, DetectionInfo, PatchInfo
from ov_reciprocam.vocabulary import Kernel, Layout, Score, ScoreKind

ULTRALIGHT = SAMPLES / "models" / "detection" / "ultralight_rfb_320" / "version-RFB-320.onnx"
DOG_RECIPE = orc.Recipe(mean=127.5, scale=127.5, rgb=True)  # patch --mean 127.5 --scale 127.5 --rgb

# As 4d41250 saved them, `version` aside (the package's own).
DOG_OURS = {
    "classes": "19",
    "dtype": "f32",
    "feature_shape": "1280,5,5",
    "kernel": "onehot",
    "labels": '["Chihuahua", "Maltese_dog", "Shih-Tzu", "papillon", "Yorkshire_terrier", '
    '"West_Highland_white_terrier", "golden_retriever", "Labrador_retriever", "Rottweiler", "German_shepherd", '
    '"Doberman", "bull_mastiff", "French_bulldog", "Siberian_husky", "pug", "Samoyed", "Pomeranian", "toy_poodle", '
    '"miniature_poodle"]',
    "layout": "NCHW",
    "normalize": "True",
    "output_index": "0",
    "path": "pooled",
    "prefix_tokens": "0",
    "score": "softmax",
    "score_kind": "probabilities",
    "scores_scale": "1.0",
    "scores_zero_point": "0.0",
    "target": "Clamp#70",
    "top_k": "0",
    "upsampled": "False",
}
DOG_LABELS = {
    "labels": "Chihuahua Maltese_dog Shih-Tzu papillon Yorkshire_terrier West_Highland_white_terrier golden_retriever "
    "Labrador_retriever Rottweiler German_shepherd Doberman bull_mastiff French_bulldog Siberian_husky pug Samoyed "
    "Pomeranian toy_poodle miniature_poodle",
    "model_type": "Classification",
    "multilabel": "False",
}
DOG_MODEL_INFO = DOG_LABELS | {
    "interpolation": "linear",
    "interpolation_mode": "LINEAR",
    "mean_values": "127.5",
    "resize_type": "standard",
    "reverse_input_channels": "True",
    "scale_values": "127.5",
}


def _quantized_raw(tmp_path: Path) -> ov.Model:
    path = tmp_path / "q.onnx"
    quantized.classifier(path, image=quantized.Port("uint8", 1.0, 0), scores=quantized.Port("uint8", 1 / 256, 0))
    return orc.patch(path, recipe=orc.Recipe(raw_pixels=True))


CASES = {
    "dog": (lambda tmp: orc.patch(DOG_MODEL, recipe=DOG_RECIPE), DOG_OURS, DOG_MODEL_INFO),
    "dog embedded": (
        lambda tmp: orc.patch(DOG_MODEL, recipe=DOG_RECIPE, embed_preprocessing=True),
        DOG_OURS | {"embedded_preprocessing": "stretch to 160x160 (linear), RGB, (x - [127.5]) / [127.5], NHWC"},
        DOG_MODEL_INFO,
    ),
    "dog top 3, u8, upsampled, mosaic, gaussian": (
        lambda tmp: orc.patch(DOG_MODEL, top_k=3, uint8=True, upsample=True, fast=False, kernel="gaussian"),
        DOG_OURS | {"dtype": "u8", "kernel": "gaussian", "path": "generic", "top_k": "3", "upsampled": "True"},
        DOG_LABELS,
    ),
    "quantized, raw pixels": (
        _quantized_raw,
        {
            "classes": "10",
            "dtype": "f32",
            "feature_shape": "16,8,8",
            "kernel": "onehot",
            "layout": "NCHW",
            "normalize": "True",
            "output_index": "0",
            "path": "generic",
            "prefix_tokens": "0",
            "raw_pixels": "True",
            "score": "softmax",
            "score_kind": "probabilities",
            "scores_scale": "0.00390625",
            "scores_zero_point": "0.0",
            "target": "block2",
            "top_k": "0",
            "upsampled": "False",
        },
        {
            "interpolation": "linear",
            "interpolation_mode": "LINEAR",
            "mean_values": "0",
            "model_type": "Classification",
            "multilabel": "False",
            "resize_type": "standard",
            "reverse_input_channels": "False",
            "scale_values": "1",
        },
    ),
    "vit, two prefix tokens": (
        lambda tmp: orc.patch(vits.vit(prefix=2, sdpa=True), labels=[f"c {i}" for i in range(10)]),
        {
            "classes": "10",
            "dtype": "f32",
            "feature_shape": "16,4,4",
            "kernel": "gaussian",
            "labels": '["c 0", "c 1", "c 2", "c 3", "c 4", "c 5", "c 6", "c 7", "c 8", "c 9"]',
            "layout": "tokens",
            "normalize": "True",
            "output_index": "0",
            "path": "tokens_prefix",
            "prefix_tokens": "2",
            "score": "softmax",
            "score_kind": "probabilities",
            "scores_scale": "1.0",
            "scores_zero_point": "0.0",
            "target": "Add#7",
            "top_k": "0",
            "upsampled": "False",
        },
        {
            "labels": "c_0 c_1 c_2 c_3 c_4 c_5 c_6 c_7 c_8 c_9",
            "model_type": "Classification",
            "multilabel": "False",
        },
    ),
}


def _saved(model: ov.Model, tmp_path: Path) -> ov.Model:
    ov.save_model(model, tmp_path / "model.xml")
    return ov.Core().read_model(tmp_path / "model.xml")


def _entries(model: ov.Model, namespace: str) -> dict[str, str]:
    return {name: str(text) for name, text in model.get_rt_info([namespace]).value.items()}


@pytest.mark.parametrize("case", CASES)
def test_a_saved_model_carries_the_entries_it_always_did(case, tmp_path):
    make, ours, model_info = CASES[case]
    saved = _saved(make(tmp_path), tmp_path)
    assert _entries(saved, OURS) == ours | {"version": orc.__version__}
    assert _entries(saved, MODEL_INFO) == model_info


def test_a_model_saved_before_reads_as_it_did():
    """PatchInfo from 4d41250's entries; the transformer family's field is the record's, as text."""
    model = ov.Core().read_model(DOG_MODEL)
    for name, text in (DOG_OURS | {"version": "0.1.0"}).items():
        model.set_rt_info(text, [OURS, name])
    assert PatchInfo.read(model) == PatchInfo(
        version="0.1.0",
        target="Clamp#70",
        layout=Layout.NCHW,
        feature_shape=(1280, 5, 5),
        classes=19,
        output_index=0,
        score_kind=ScoreKind.PROBABILITIES,
        score=Score.SOFTMAX,
        normalize=True,
        dtype="f32",
        tail=CnnTail.POOLED,
        picked=False,
        top_k=0,
        upsampled=False,
        kernel=Kernel.ONEHOT,
        family_fields={"prefix_tokens": "0"},
    )


def test_a_model_patched_before_path_kernel_and_kind_were_recorded():
    model = ov.Core().read_model(DOG_MODEL)
    old = {k: v for k, v in DOG_OURS.items() if k not in ("path", "kernel", "score_kind", "labels", "prefix_tokens")}
    for name, text in (old | {"version": "0.0.1", "probabilities": "True"}).items():
        model.set_rt_info(text, [OURS, name])
    info = PatchInfo.read(model)
    assert (info.path, info.kernel, info.score_kind, info.family_fields) == (
        "generic",
        None,
        ScoreKind.PROBABILITIES,
        {},
    )


def test_a_record_reads_back_as_written(tmp_path):
    info = PatchInfo.read(orc.patch(vits.vit(prefix=2)))
    assert info.family_fields == {"prefix_tokens": "2"} and recorded_prefix(info) == 2
    plain = vits.vit()
    assert PatchInfo.read(plain) is None
    info.write(plain)
    assert PatchInfo.read(_saved(plain, tmp_path)) == info


def test_a_family_field_may_not_replace_a_shared_one():
    info = PatchInfo.read(orc.patch(vits.vit()))
    with pytest.raises(ValueError, match="target"):
        PatchInfo(**{**vars(info), "family_fields": {"target": "x"}})


DETECTOR_OURS = {  # a detector's record, entry for entry (issue 34), `version` aside
    "detector": "decoded",
    "cut": '["314", "360", "400", "434"]',
    "copy_grid": "8,10",
    "detections": "10",
    "score_threshold": "0.7",
    "iou_threshold": "0.3",
    "classes": "1",
    "levels": "30x40x3,15x20x2,8x10x2,4x5x3",
}


def test_a_detectors_record_is_its_own_and_reads_back_as_written(tmp_path):
    patched = orc.patch(ULTRALIGHT)
    saved = _saved(patched, tmp_path)
    ours = {k: str(v) for k, v in saved.get_rt_info([OURS]).value.items()}
    assert ours.pop("version") == orc.__version__
    assert ours == DETECTOR_OURS
    info = DetectionInfo.read(saved)
    assert info == DetectionInfo.read(patched) and info.cut == ("314", "360", "400", "434")
    assert PatchInfo.read(saved) is None  # the classifier record does not misread it
    assert DetectionInfo.read(orc.patch(vits.vit())) is None
