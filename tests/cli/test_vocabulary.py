"""The CLI's contract with a new user: one name per meaning, no guessed recipe, early output checks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import builders
import cv2
import numpy as np
import openvino as ov
import pytest
from click.testing import CliRunner
from paths import DOG_MODEL, IMAGES

from ov_reciprocam.cli import main
from ov_reciprocam.model.labels import labels_of

RAW = "--raw-pixels"


@pytest.fixture(scope="module")
def gap(tmp_path_factory):
    """A tiny dynamic-batch classifier with no model_info, and one photo for it."""
    folder = tmp_path_factory.mktemp("gap")
    ov.save_model(builders.gap_linear(), folder / "gap.xml")
    photo = folder / "photo.png"
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8))
    return folder / "gap.xml", photo


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


# (command, arguments before the flag, old flag and value, new flag and value)
RENAMED = {
    "explain --batch": ("explain", ["-o", "{out}", RAW], ["--batch", "2"], ["--batch-size", "2"]),
    "bench --batch": ("bench", ["--seconds", "0.2"], ["--batch", "1,2"], ["--batch-sizes", "1,2"]),
    "eval --feature-map": (
        "eval",
        ["-o", "{out}", RAW, "--methods", "reciprocam", "--steps", "2"],
        ["--feature-map", "block2"],
        ["--target", "block2"],
    ),
    "eval --batch": (
        "eval",
        ["-o", "{out}", RAW, "--methods", "reciprocam", "--steps", "2"],
        ["--batch", "4"],
        ["--batch-size", "4"],
    ),
    "quantize --target-device": (
        "quantize",
        ["-o", "{out}/int8.xml", RAW, "--subset-size", "1"],
        ["--target-device", "CPU"],
        ["-d", "CPU"],
    ),
}


@pytest.mark.parametrize("case", list(RENAMED))
def test_old_flag_is_a_usage_error_new_flag_works(case, gap, tmp_path):
    command, common, old, new = RENAMED[case]
    model, photo = gap
    common = [a.format(out=tmp_path / "out") for a in common]
    takes_photo = command != "bench"
    args = [command, model, *([photo] if takes_photo else []), *common]
    refused = invoke(*args, *old)
    assert refused.exit_code == 2 and "No such option" in refused.output, refused.output
    done = invoke(*args, *new)
    assert done.exit_code == 0, done.output


def test_compare_takes_precision_target_and_score(gap):
    model, photo = gap
    done = invoke("compare", model, model, photo, RAW, "--precision", "f32", "--target", "block2", "--score", "logits")
    assert done.exit_code == 0, done.output
    assert "top-1 agrees on 1/1" in done.output


def test_eval_class_selection(gap, tmp_path):
    model, photo = gap
    args = ["eval", model, photo, "--mean", "127.5", "--scale", "127.5", "--methods", "reciprocam", "--steps", "2"]
    done = invoke(*args, "-o", tmp_path / "a", "--class", "3")
    assert done.exit_code == 0, done.output
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["images"][0]["class_id"] == 3
    assert "--class boxes needs --boxes" in one_error_line(invoke(*args, "-o", tmp_path / "b", "--class", "boxes"))


@pytest.mark.parametrize("command", ["explain", "quantize", "compare", "eval"])
def test_no_recipe_no_flags_is_refused(command, gap, tmp_path):
    model, photo = gap
    out = tmp_path / "out"
    args = {
        "explain": ["explain", model, photo, "-o", out],
        "quantize": ["quantize", model, photo, "-o", out / "int8.xml"],
        "compare": ["compare", model, model, photo],
        "eval": ["eval", model, photo, "-o", out],
    }[command]
    line = one_error_line(invoke(*args))
    assert "no preprocessing recipe" in line and "--mean/--scale/--rgb" in line and "--raw-pixels" in line
    assert not out.exists() or not any(out.iterdir())
    both = invoke(*args, RAW, "--mean", "127")
    assert "--raw-pixels means no mean" in one_error_line(both)


def test_raw_pixels_is_stored_by_patch(gap, tmp_path):
    model, photo = gap
    assert invoke("patch", model, "-o", tmp_path / "gap_xai.xml", RAW).exit_code == 0
    done = invoke("explain", tmp_path / "gap_xai.xml", photo, "-o", tmp_path / "out")  # no flags needed now
    assert done.exit_code == 0, done.output
    assert "(x - [0]) / [1]" in done.output


@pytest.mark.parametrize("command", ["patch", "explain", "quantize", "compare", "eval"])
def test_output_paths_are_checked_before_any_work(command, tmp_path):
    # The model does not exist: an error about the output proves the output was checked first.
    taken = tmp_path / "taken"
    taken.write_text("a file where a folder is needed")
    model, photo = tmp_path / "missing.xml", IMAGES / "both.png"
    args = {
        "patch": ["patch", model, "-o", taken / "x.xml"],
        "explain": ["explain", model, photo, "-o", taken],
        "quantize": ["quantize", model, photo, "-o", taken / "int8.xml"],
        "compare": ["compare", model, model, photo, "--json", taken / "f.json"],
        "eval": ["eval", model, photo, "-o", taken],
    }[command]
    line = one_error_line(invoke(*args))
    assert str(taken) in line and "not found" not in line, line
    assert taken.read_text() == "a file where a folder is needed"


def test_unwritable_output_folder(tmp_path):
    line = one_error_line(invoke("explain", tmp_path / "missing.xml", IMAGES / "both.png", "-o", "/proc/ov_reciprocam"))
    assert "cannot write to /proc" in line


def test_inspect_into_a_closed_pipe_ends_quietly(light_models):
    proc = subprocess.Popen(
        [sys.executable, "-m", "ov_reciprocam", "inspect", light_models["resnet50"]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # the reader is gone before the first line is written, as with `| head -0`
    stderr = proc.stderr.read()
    proc.wait()
    assert stderr == "", stderr


def test_full_maps_only_when_asked(gap, tmp_path):
    model, photo = gap
    for flags, out in (([], tmp_path / "small"), (["--full-maps"], tmp_path / "full")):
        assert invoke("explain", model, photo, "-o", out, RAW, "--top-k", "2", *flags).exit_code == 0
    (small,) = json.loads((tmp_path / "small" / "results.json").read_text())["images"]
    (full,) = json.loads((tmp_path / "full" / "results.json").read_text())["images"]
    assert small["maps_full"] is None and not list((tmp_path / "small").glob("*_maps_full.npy"))
    assert np.load(tmp_path / "small" / small["maps"]).shape == (2, 8, 8)
    assert np.load(tmp_path / "full" / full["maps_full"]).shape == (2, 40, 50)


def test_static_batch_says_it_ignores_batch_size(gap, tmp_path):
    model, photo = gap
    assert invoke("patch", model, "-o", tmp_path / "b2.xml", "--static-batch", "2", RAW).exit_code == 0
    done = invoke("explain", tmp_path / "b2.xml", photo, "-o", tmp_path / "out", "--batch-size", "4")
    assert done.exit_code == 0, done.output
    assert "batch size 2, not 4: the model's batch is fixed" in done.output


def test_labels_beside_the_source_travel_with_the_model(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for suffix in (".xml", ".bin"):
        shutil.copy(DOG_MODEL.with_suffix(suffix), src / f"dog{suffix}")
    shutil.copy(DOG_MODEL.parent / "labels.txt", src / "labels.txt")
    out = tmp_path / "elsewhere" / "dog_xai.xml"
    assert invoke("patch", src / "dog.xml", "-o", out).exit_code == 0
    names = (DOG_MODEL.parent / "labels.txt").read_text().split()
    assert labels_of(ov.Core().read_model(out)) == names


def test_every_short_help_fits():
    listing = invoke("--help").output.split("Commands:")[1]
    assert "..." not in listing
    for name, command in main.commands.items():
        assert command.short_help and f"  {command.short_help}\n" in listing, name


def test_explainer_explain_paths_is_what_the_cli_runs(gap, tmp_path):
    """A Python user gets folders, progress and the written files as `explain` gives them."""
    import ov_reciprocam as orc

    model, photo = gap
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(photo, folder / "a.png")
    shutil.copy(photo, folder / "sub" / "a.png")  # same name in another folder: a-2
    (folder / "broken.png").write_bytes(b"not a photo")
    explainer = orc.Explainer(model, preprocess=orc.Preprocess(32, 32), batch_size=2)
    done, skipped = [], []
    run = orc.explain_paths(
        explainer,
        [folder],
        orc.Outputs(tmp_path / "out", top_k=1),
        progress=done.append,
        on_skip=skipped.append,
        about={"model": "gap"},
    )
    assert sum(done) == 3 and len(skipped) == 1 and "broken.png" in skipped[0]
    assert [r["maps"] for r in run.records] == ["a_maps.npy", "a-2_maps.npy"]
    assert [f["image"] for f in run.failed] == [str(folder / "broken.png")]
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    assert report["model"] == "gap" and report["images"] == run.records
    assert (tmp_path / "out" / "contact_sheet_001.jpg").is_file()


def test_explainer_refuses_to_guess_too(gap):
    import ov_reciprocam as orc

    model, photo = gap
    with pytest.raises(orc.ReciproCamError, match="no preprocessing recipe.*preprocess=Preprocess"):
        orc.Explainer(model)
    raw = orc.Explainer(model, preprocess=orc.Preprocess(32, 32))  # raw 0-255 BGR, said explicitly
    assert raw.explain([photo], top_k=1)[0].classes[0].saliency.shape == (8, 8)
