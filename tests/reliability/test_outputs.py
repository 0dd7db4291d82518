"""What a run writes, and says it ran: outputs never become inputs, a reused folder holds only the last run's files,
one run per folder, the precision the device ran, calibration that is too thin, INT8 quantized twice (CLI and API)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import openvino as ov
import pytest
from paths import DOG_MODEL
from table import Call, Row, assert_outcome, check, run, table_tests

import ov_reciprocam as orc
from ov_reciprocam.output.run_folder import LOCK
from ov_reciprocam.quality.quantize import ENOUGH_PHOTOS, quantize

RECIPE = ("--mean", "127.5", "--scale", "127.5", "--rgb")


def photos(tmp: Path) -> None:
    """{tmp}/photos: two of the sample photos."""
    (tmp / "photos").mkdir(exist_ok=True)
    for name in ("horses.jpg", "puppies.jpg"):
        shutil.copy(DOG_MODEL.parents[2] / "images" / name, tmp / "photos" / name)


def only_photos(tmp: Path, done: subprocess.CompletedProcess) -> None:
    assert sorted(p.name for p in (tmp / "photos").iterdir()) == ["horses.jpg", "puppies.jpg"]


def listed_only(folder: Path, *others: str) -> None:
    """`folder` holds what its manifest lists, the manifest, and `others` (the user's), nothing else."""
    manifest = "results.json" if (folder / "results.json").exists() else "metrics.json"
    listed = set(json.loads((folder / manifest).read_text())["files"])
    present = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert present == listed | {manifest, *others}, present ^ (listed | {manifest, *others})


def ran(model: str | Path, precision: str) -> str:
    """What OpenVINO says a model compiled for `precision` on the CPU computes in."""
    config = {} if precision == "auto" else {"INFERENCE_PRECISION_HINT": precision}
    compiled = ov.Core().compile_model(ov.Core().read_model(model), "CPU", config)
    return compiled.get_property("INFERENCE_PRECISION_HINT").to_string()


def explain_into_photos(p: dict[str, Path], tmp: Path) -> object:
    photos(tmp)
    return orc.explain_paths(orc.Explainer(p["dog_xai"]), [tmp / "photos"], tmp / "photos")


def explain_inside_a_glob(p: dict[str, Path], tmp: Path) -> object:
    photos(tmp)
    return orc.explain_paths(orc.Explainer(p["dog_xai"]), str(tmp / "photos" / "*.jpg"), tmp / "photos" / "out")


ROWS = [
    Row(
        "explain into its input folder",
        ("explain", "{dog_xai}", "{tmp}/photos", "-o", "{tmp}/photos"),
        says=r"output folder .*photos is the input folder .*photos.* give --output a folder outside it",
        make=photos,
        check=only_photos,
    ),
    Row(
        "explain into a folder inside its input",
        ("explain", "{dog_xai}", "{tmp}/photos", "-o", "{tmp}/photos/explained"),
        says=r"photos/explained is inside the input folder .*photos.*--output",
        make=photos,
        check=only_photos,
    ),
    Row(
        "eval into its input folder",
        ("eval", "{dog}", "{tmp}/photos", *RECIPE, "-o", "{tmp}/photos"),
        says=r"is the input folder .*--output",
        make=photos,
        check=only_photos,
    ),
    Row(
        "quantize an INT8 TFLite",
        ("quantize", "{coral}", "{photo}", "-o", "{tmp}/again.xml"),
        says=r"quantized already \(\d+ FakeQuantize ops, \d+ integer weight tensors\); quantize the floating-point",
        check=lambda tmp, done: not (tmp / "again.xml").exists() or pytest.fail("wrote again.xml"),
    ),
]

CALLS = [
    Call("explain_paths into its input folder", explain_into_photos, says=r"is the input folder .*`output`"),
    Call("explain_paths inside a glob's folder", explain_inside_a_glob, says=r"inside the input folder .*\*\.jpg"),
    Call("quantize an INT8 TFLite", lambda p, tmp: quantize(p["coral"], [p["photo"]]), says=r"quantized already"),
]


test_cli, test_api = table_tests(ROWS, CALLS)


def test_a_reused_folder_keeps_only_the_new_run_and_the_users_files(places, tmp_path):
    first = Row("first", ("explain", "{dog_xai}", "{tmp}/photos", "-o", "{tmp}/out", "--top-k", "2"), "", 0, photos)
    assert_outcome(first, run(first, places, tmp_path), tmp_path)
    out = tmp_path / "out"
    assert len(list(out.glob("*_2_*.jpg"))) == 2 and (out / "thumbs" / "puppies.jpg").exists()
    (out / "notes.txt").write_text("mine")
    (out / "my_1_photo.png").write_bytes(b"mine too")  # named like an overlay, but no run listed it
    again = ("explain", "{dog_xai}", "{tmp}/photos/horses.jpg", "-o", "{tmp}/out", "--top-k", "1", "--no-report")
    second = Row("second", again, r"explained 1 images", 0)
    assert_outcome(second, run(second, places, tmp_path), tmp_path)
    listed_only(out, "notes.txt", "my_1_photo.png")
    assert [r["image"] for r in json.loads((out / "results.json").read_text())["images"]] == [
        str(tmp_path / "photos" / "horses.jpg")
    ]


def test_a_held_folder_is_refused_and_its_lock_kept(places, tmp_path):
    def held(tmp: Path) -> None:
        (tmp / "out").mkdir()
        (tmp / "out" / LOCK).write_text(f"{os.getpid()} {socket.gethostname()}\n")  # this test's process: alive

    row = Row(
        "held",
        ("explain", "{dog_xai}", "{photo}", "-o", "{tmp}/out"),
        says=rf"another run \(process {os.getpid()}\) is writing into .*out; wait for it or give --output another",
        make=held,
    )
    done = run(row, places, tmp_path)
    assert (tmp_path / "out" / LOCK).read_text().split()[0] == str(os.getpid()), "the refused run took the lock"
    (tmp_path / "out" / LOCK).unlink()  # ours: what else the refused run left is then checked
    assert_outcome(row, done, tmp_path)
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_dead_runs_lock_is_taken_over(places, tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)

    def stale(tmp: Path) -> None:
        (tmp / "out").mkdir()
        (tmp / "out" / LOCK).write_text(f"{gone.stdout.strip()} {socket.gethostname()}\n")

    row = Row("stale", ("explain", "{dog_xai}", "{photo}", "-o", "{tmp}/out"), r"explained 1 images", 0, stale)
    check(row, places, tmp_path)
    assert not (tmp_path / "out" / LOCK).exists()
    listed_only(tmp_path / "out")


@pytest.mark.parametrize("precision", ["f32", "bf16", "f16", "auto"])
def test_the_explainer_says_the_precision_it_runs(places, precision):
    config = None if precision == "auto" else {"INFERENCE_PRECISION_HINT": precision}
    explainer = orc.Explainer(places["dog_xai"], config=config)
    assert explainer.precision == ran(places["dog_xai"], precision)
    differs = precision != "auto" and explainer.precision != precision
    assert (explainer.precision_note is not None) == differs, explainer.precision_note


def test_explain_records_the_precision_that_ran(places, tmp_path):
    ran_f16 = ran(places["dog_xai"], "f16")
    note = rf"note: CPU runs {ran_f16}, not f16: .*; the results record {ran_f16}" if ran_f16 != "f16" else r"explained"

    def recorded(tmp: Path, done: subprocess.CompletedProcess) -> None:
        results = json.loads((tmp / "out" / "results.json").read_text())
        assert (results["precision"], results["precision_asked"]) == (ran_f16, "f16")
        assert f"<dd>{ran_f16}</dd>" in (tmp / "out" / "report.html").read_text()

    row = Row(
        "explain f16",
        ("explain", "{dog_xai}", "{photo}", "-o", "{tmp}/out", "--precision", "f16"),
        note,
        0,
        check=recorded,
    )
    check(row, places, tmp_path)


def test_eval_and_bench_record_the_precision_that_ran(places, tmp_path):
    ran_f16 = ran(places["dog"], "f16")
    evaluated = Row(
        "eval f16",
        ("eval", "{dog}", "{photo}", *RECIPE, "-o", "{tmp}/out", "--methods", "reciprocam", "--steps", "2")
        + ("--precision", "f16"),
        rf"runs {ran_f16}, not f16" if ran_f16 != "f16" else r"report ->",
        0,
    )
    check(evaluated, places, tmp_path)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert (metrics["precision"], metrics["precision_asked"]) == (ran_f16, "f16")
    listed_only(tmp_path / "out")
    bench = Row("bench f16", ("bench", "{dog}", "--seconds", "0.2", "--precision", "f16", "--json"), r"", 0)
    done = run(bench, places, tmp_path)
    assert_outcome(bench, done, tmp_path)
    report = json.loads(done.stdout)
    assert (report["precision"], report["precision_asked"]) == (ran_f16, "f16")
    assert all(r["precision"] == ran_f16 for r in report["results"])


def test_one_calibration_photo_warns_and_an_int8_ir_is_not_quantized_again(places, tmp_path):
    once = Row(
        "quantize on one photo",
        ("quantize", "{dog}", "{photo}", *RECIPE, "-o", "{tmp}/int8.xml"),
        rf"note: calibrating on 1 image: .* only from {ENOUGH_PHOTOS} images on",
        0,
    )
    check(once, places, tmp_path)
    twice = Row(
        "quantize the INT8 IR again",
        ("quantize", "{tmp}/int8.xml", "{photo}", *RECIPE, "-o", "{tmp}/int8_again.xml"),
        r"the model is quantized already \(\d+ FakeQuantize ops, \d+ integer weight tensors\)",
    )
    check(twice, places, tmp_path)
    assert not (tmp_path / "int8_again.xml").exists()


def test_a_manifest_lists_what_a_whole_parse_of_it_lists(tmp_path):
    """The files a manifest lists are read from its end, its records left unparsed: the names a whole parse gives,
    however long the list, with a decoy "files" key and text in every record, with "files" not last, compact."""
    from ov_reciprocam.output import files
    from ov_reciprocam.output.run_folder import listed

    names = [f"thumbs/photo_{i:05d}.jpg" for i in range(6000)]  # 150 KB: read from the end in more than one block
    decoy = {"files": ["decoy.jpg"], "note": '\n  "files": ["decoy.jpg"]\n}'}
    records = [{"image": f"p{i}.jpg"} | decoy for i in range(2000)]
    manifests = [{"images": records, "files": names}, {"files": names, "images": records}, {"files": names[:1]}]
    for manifest in manifests:
        files.write_json(tmp_path / "results.json", manifest)
        assert listed(tmp_path, "results.json") == set(manifest["files"])
    (tmp_path / "results.json").write_text(json.dumps(manifests[0]))
    assert listed(tmp_path, "results.json") == set(names)


def test_a_reused_folder_loses_only_its_own_files(tmp_path):
    """A manifest may name anything: the next run removes what it listed inside the folder (a subfolder's too), and
    nothing it names outside, through "..", an absolute path, a symlinked file or a symlinked folder."""
    from ov_reciprocam.output.run_folder import claimed

    out, away = tmp_path / "out", tmp_path / "away"
    (out / "thumbs").mkdir(parents=True)
    away.mkdir()
    for name in ("old.jpg", "thumbs/old.jpg", "kept_by_user.txt"):
        (out / name).write_text("x")
    for name in ("up.txt", "abs.txt", "linked.txt", "in_linked_folder.txt"):
        (away / name).write_text("x")
    (out / "link.txt").symlink_to(away / "linked.txt")
    (out / "folder").symlink_to(away)
    names = ["old.jpg", "thumbs/old.jpg", "../away/up.txt", str(away / "abs.txt"), "link.txt"]
    names.append("folder/in_linked_folder.txt")
    (out / "results.json").write_text(json.dumps({"files": names}))
    with claimed(out, "results.json"):
        (out / "results.json").write_text(json.dumps({"files": []}))
    assert not (out / "old.jpg").exists() and not (out / "thumbs/old.jpg").exists()
    assert (out / "kept_by_user.txt").exists()
    assert sorted(p.name for p in away.iterdir()) == ["abs.txt", "in_linked_folder.txt", "linked.txt", "up.txt"]
