"""The `ov-reciprocam` command as a user runs it: real processes, real files."""

from __future__ import annotations

import builders
import openvino as ov
import pytest
from commands import cli as run
from paths import DOG_MODEL

import ov_reciprocam as orc


def test_patch_writes_ir_and_summary(tmp_path, light_models):
    out = tmp_path / "resnet50_xai.xml"
    result = run("patch", light_models["resnet50"], "-o", out, "--batch", "-1")
    assert result.returncode == 0, result.stderr
    assert "NCHW, 2048x7x7" in result.stdout and "saliency_map [?,1000,7,7]" in result.stdout
    model = ov.Core().read_model(out)
    assert model.output(orc.SALIENCY).get_partial_shape().to_string() == "[?,1000,7,7]"
    assert model.get_rt_info(["ov_reciprocam", "score"]).astype(str) == "softmax"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resnet50_xai.bin", "resnet50_xai.xml"]


def test_patch_default_output_name_and_options(tmp_path):
    model = tmp_path / "dog.xml"
    ov.save_model(ov.Core().read_model(DOG_MODEL), model, compress_to_fp16=False)
    result = run("patch", model, "--score", "logits", "--uint8")
    assert result.returncode == 0, result.stderr
    patched = ov.Core().read_model(tmp_path / "dog_xai.xml")
    assert patched.output(orc.SALIENCY).get_element_type() == ov.Type.u8
    assert patched.get_rt_info(["ov_reciprocam", "score"]).astype(str) == "logits"


def test_inspect_marks_the_auto_target(light_models):
    result = run("inspect", light_models["squeezenet"])
    assert result.returncode == 0, result.stderr
    marked = [line for line in result.stdout.splitlines() if "<- auto" in line]
    assert len(marked) == 1 and "512x13x13" in marked[0]
    assert "1000x13x13" in result.stdout  # conv10 is listed, just not picked


def _truncated(tmp_path):
    text = DOG_MODEL.read_text()
    bad = tmp_path / "bad.xml"
    bad.write_text(text[: len(text) // 2])
    (tmp_path / "bad.bin").write_bytes(DOG_MODEL.with_suffix(".bin").read_bytes())
    return bad


def _saved(model, tmp_path, name):
    path = tmp_path / f"{name}.xml"
    ov.save_model(model, path)
    return path


BAD_INPUTS = {
    "missing file": (lambda tmp: tmp / "nope.xml", "not found"),
    "truncated xml": (_truncated, "cannot read model"),
    "no feature map": (lambda tmp: _saved(builders.no_feature_map(), tmp, "mlp"), "no spatial feature map"),
    "two inputs": (lambda tmp: _saved(builders.two_inputs(), tmp, "two"), "2 inputs"),
    "already patched": (lambda tmp: _saved(orc.patch(builders.gap_linear()), tmp, "done"), "already"),
    "not a model": (lambda tmp: (tmp / "notes.onnx").write_text("hello") and tmp / "notes.onnx", "cannot read model"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_one_line_error_no_output(case, tmp_path):
    make, message = BAD_INPUTS[case]
    src = tmp_path / "src"
    src.mkdir()
    model = make(src)
    out_dir = tmp_path / "out"
    result = run("patch", model, "-o", out_dir / "x.xml")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0], result.stderr
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_bad_target_name(light_models, tmp_path):
    result = run("patch", light_models["resnet50"], "--target", "nope", "-o", tmp_path / "x.xml")
    assert result.returncode != 0 and "neither a tensor name" in result.stderr


def test_patch_static_top_k_upsampled_uint8(tmp_path, light_models):
    out = tmp_path / "sq.xml"
    result = run(
        "patch", light_models["squeezenet"], "-o", out, "--static-batch", "2", "--top-k", "3", "--upsample", "--uint8"
    )
    assert result.returncode == 0, result.stderr
    assert "tail      pooled" in result.stdout
    model = ov.Core().read_model(out)
    assert all(o.get_partial_shape().is_static for op in model.get_ordered_ops() for o in op.outputs())
    assert model.output(orc.SALIENCY).get_partial_shape().to_string() == "[2,3,224,224]"
    assert model.output("saliency_classes").get_partial_shape().to_string() == "[2,3]"


def test_patch_checks_the_device(tmp_path):
    model = _saved(builders.gap_linear(), tmp_path, "gap")
    ok = run("patch", model, "-o", tmp_path / "a.xml", "--device", "CPU")
    assert ok.returncode == 0 and "compiled  on CPU" in ok.stdout
    bad = run("patch", model, "-o", tmp_path / "b.xml", "--device", "NO_SUCH_DEVICE")
    assert bad.returncode != 0 and "cannot compile the model for NO_SUCH_DEVICE" in bad.stderr
    assert not (tmp_path / "b.xml").exists()


def test_bench_json(tmp_path):
    import json

    model = _saved(builders.gap_linear(), tmp_path, "gap")
    result = run("bench", model, "--batch-sizes", "1,3", "--seconds", "0.5", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [r["batch"] for r in report["results"]] == [1, 3]
    for r in report["results"]:
        assert r["path"] == "pooled" and r["runs"] >= 3
        assert r["ratio"] == pytest.approx(r["patched_ms"] / r["plain_ms"])
        assert r["floor"] >= 1.0


def test_bench_of_a_patched_model_strips_its_outputs(tmp_path):
    model = _saved(orc.patch(builders.flatten_mlp(), top_k=2), tmp_path, "mlp_xai")
    result = run("bench", model, "--seconds", "0.3")
    assert result.returncode == 0, result.stderr
    assert "tail flatten_linear" in result.stdout


def test_bench_baselines(tmp_path):
    import json

    model = _saved(builders.gap_linear(), tmp_path, "gap")
    result = run("bench", model, "--seconds", "0.3", "--baselines", "--rise-masks", "64", "--json")
    assert result.returncode == 0, result.stderr
    baselines = json.loads(result.stdout)["baselines"]
    assert set(baselines) == {"score-cam", "rise"}
    assert all(b["ms_per_image"] > 0 and b["times_ours"] > 0 for b in baselines.values())


def test_bench_top_k_logits_floor_counts_only_the_picked_classes(tmp_path):
    import json

    from ov_reciprocam.analysis.cost import total_macs

    model = _saved(builders.gap_linear(), tmp_path, "gap")
    floors = {}
    for options in ((), ("--top-k", "2", "--score", "logits")):
        result = run("bench", model, "--seconds", "0.3", "--json", *options)
        assert result.returncode == 0, result.stderr
        (r,) = json.loads(result.stdout)["results"]
        floors[r["path"]] = r["floor"]
    # gap_linear: the tail's one MAC-counting op is the 16 -> 10 linear layer, run for 8*8 copies.
    plain = orc.read_model(builders.gap_linear())
    plain.reshape([1, 3, 32, 32])
    total = total_macs(plain)
    assert floors == pytest.approx({"pooled": 1 + 64 * 16 * 10 / total, "pooled+picked": 1 + 64 * 16 * 2 / total})


def test_streamed_weights_are_the_flatten_shortcuts_first_linear_layer():
    """The flatten shortcut reads W of the first linear layer (16*4*4 -> 32 in flatten_mlp) once more, one row per
    image: bench adds that product's time to +bytes. A pooled tail's weights serve H*W rows: none."""
    from ov_reciprocam.methods import locate_family
    from ov_reciprocam.model.rt_info import PatchInfo
    from ov_reciprocam.vocabulary import PatchOptions

    for build, expected in ((builders.flatten_mlp, (256, 32)), (builders.gap_linear, None)):
        plain = orc.read_model(build())
        found = locate_family(plain, PatchOptions())
        info = PatchInfo.read(orc.patch(build()))
        assert found.family.streamed_weights(plain, found, info) == expected
