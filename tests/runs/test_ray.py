"""`explain --ray`: the same rows as the local command, each photo exactly once, through lost actors and restarts."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from commands import cli, interruptible
from paths import DOG_MODEL, IMAGES
from tolerance import assert_maps_match

pytest.importorskip("ray")
pytest.importorskip("pyarrow")

from ov_reciprocam.output import shards
from ov_reciprocam.output.explain_files import Outputs, name_photos
from ov_reciprocam.photos.imaging import collect_images, read_image
from ov_reciprocam.photos.preprocess import Preprocess
from ov_reciprocam.runs import cluster
from ov_reciprocam.runs.explain import ExplainerSpec

pytestmark = pytest.mark.ray
RECIPE = ("--mean", "127.5", "--scale", "127.5", "--rgb", "--interpolation", "cubic")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """24 small photos (the samples, shifted and shrunk) and one corrupt file."""
    folder = tmp_path_factory.mktemp("photos")
    for i, path in enumerate(sorted(collect_images([str(IMAGES)])) * 6):
        picture = cv2.resize(read_image(path), (200, 160))
        cv2.imwrite(str(folder / f"{i:02d}_{path.stem}.png"), np.roll(picture, 7 * i, axis=1))
    (folder / "zz_broken.jpg").write_bytes(b"not a photo")
    return folder


def _shard_images(directory: Path) -> list[str]:
    return [row.image for row in shards.read(directory)]


def test_ray_local_matches_the_local_command(photos, tmp_path):
    local, distributed = tmp_path / "local", tmp_path / "ray"
    done = cli("explain", DOG_MODEL, photos, "-o", local, *RECIPE)
    assert done.returncode == 1 and "1 of 25 images could not be read" in done.stderr
    done = cli("explain", DOG_MODEL, photos, "-o", distributed, *RECIPE, "--ray", "local", "--overlays")
    assert done.returncode == 1 and "1 of 25 images could not be read" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    a, b = (json.loads((d / "results.json").read_text()) for d in (local, distributed))
    assert [r["image"] for r in a["images"]] == [r["image"] for r in b["images"]] and len(a["images"]) == 24
    assert a["failed"] == b["failed"] and b["failed"][0]["image"].endswith("zz_broken.jpg")
    for ra, rb in zip(a["images"], b["images"], strict=True):
        assert [p["class_id"] for p in ra["predictions"]] == [p["class_id"] for p in rb["predictions"]]
        for ea, eb in zip(ra["explained"], rb["explained"], strict=True):
            assert (ea["label"], ea["overlay"], ea["flat"]) == (eb["label"], eb["overlay"], eb["flat"])
            assert abs(ea["score"] - eb["score"]) < 1e-5
        stem = Path(ra["maps"]).name.removesuffix("_maps.npy")
        (row,) = [r for r in shards.read(distributed / "shards") if r.stem == stem]
        assert_maps_match(row.maps, np.load(local / ra["maps"]))
    assert (distributed / "contact_sheet_001.jpg").is_file()
    # The corrupt photo is a row with its error, not a failed job.
    errors = [r for r in shards.read(distributed / "shards") if r.error]
    assert len(errors) == 1 and "cannot read image" in errors[0].error and errors[0].maps is None
    frame = shards.to_pandas(distributed / "shards")
    assert len(frame) == 25 and frame["maps"].dropna().iloc[0].shape == (3, 5, 5)


def _worker_pids() -> set[int]:
    """The Ray actor processes running the explain workers, by their process title."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"MapBatches(_ExplainWorker)" in (entry / "cmdline").read_bytes():
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture
def ray_here():
    import ray

    cluster.connect("local")
    yield
    ray.shutdown()


def test_a_killed_actor_loses_no_photo_and_duplicates_none(photos, tmp_path, ray_here):
    paths = collect_images([str(photos)])
    recipe = Preprocess(160, 160, "NHWC", mean=(127.5,), scale=(127.5,), rgb=True, interpolation="cubic")
    spec = ExplainerSpec(str(DOG_MODEL), recipe, config={"INFERENCE_PRECISION_HINT": "f32"}, batch_size=2)
    out = Outputs(str(tmp_path), overlays=False, npy_maps=False)
    shard_dir = tmp_path / "shards"
    killed = []

    def kill_once_a_shard_is_written():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            pids = _worker_pids()
            if shards.paths(shard_dir) and pids:
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                killed.extend(pids)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_once_a_shard_is_written)
    killer.start()
    found = cluster.explain_on_ray(spec, name_photos(paths), out, shard_dir, actors=1, batch_size=2)
    killer.join()
    assert killed, "no actor was killed: the test proves nothing"
    assert len(shards.paths(shard_dir)) < 13, "the actor was killed after the last batch"
    images = _shard_images(shard_dir)
    assert sorted(images) == sorted(str(p) for p in paths)  # every photo exactly once
    assert [r.image for r in found] == [str(p) for p in paths]


def test_an_interrupted_run_resumes_without_writing_a_photo_twice(photos, tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "ov_reciprocam", "explain", DOG_MODEL, photos, "-o", out, *RECIPE]
    # batches of 1: 25 shards, so that Ctrl-C after the first lands half-way even on a busy machine
    first = subprocess.Popen(
        [*map(str, args), "--ray", "local", "--batch-size", "1"], stderr=subprocess.PIPE, preexec_fn=interruptible
    )
    deadline = time.monotonic() + 120
    while not shards.paths(out / "shards") and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)  # Ctrl-C
    first.communicate(timeout=60)
    before = _shard_images(out / "shards")
    assert 0 < len(before) < 25, "the run was not interrupted half-way: the test proves nothing"
    done = cli("explain", DOG_MODEL, photos, "-o", out, *RECIPE, "--ray", "local", "--batch-size", "2")
    assert done.returncode == 1, done.stderr  # the corrupt photo
    after = _shard_images(out / "shards")
    assert sorted(after) == sorted(str(p) for p in collect_images([str(photos)]))
    assert set(before) <= set(after)
    summary = json.loads((out / "results.json").read_text())
    assert len(summary["images"]) == 24 and len(summary["failed"]) == 1
    assert not list((out / "shards").glob(".*.tmp"))


def test_without_ray_installed_the_flag_says_how(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(Exception, match=r"pip install 'ov-reciprocam\[ray\]'"):
        cluster.connect("local")


def test_eval_on_ray_matches_the_local_command(tmp_path):
    good = tmp_path / "photos"
    shutil.copytree(IMAGES, good, ignore=shutil.ignore_patterns("*.json", "*.md"))
    options = ("--methods", "reciprocam,reciprocam-logits", "--steps", "5", *RECIPE)
    done = cli("eval", DOG_MODEL, good, "-o", tmp_path / "local", *options)
    assert done.returncode == 0, done.stderr
    (good / "zz_broken.jpg").write_bytes(b"not a photo")
    done = cli("eval", DOG_MODEL, good, "-o", tmp_path / "ray", *options, "--ray", "local", "--actors", "2")
    assert done.returncode == 1 and "1 images could not be read" in done.stderr, done.stderr
    a, b = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("local", "ray"))
    assert [r["image"] for r in a["images"]] == [r["image"] for r in b["images"]] and len(a["images"]) == 4
    for ra, rb in zip(a["images"], b["images"], strict=True):
        assert ra["class_id"] == rb["class_id"] and ra["maps"] == rb["maps"]
        for name, ma in ra["methods"].items():
            for metric in ("average_drop", "deletion_auc", "insertion_auc", "coherency", "complexity"):
                assert abs(ma[metric] - rb["methods"][name][metric]) < 1e-4, (ra["image"], name, metric)
    assert a["summary"].keys() == b["summary"].keys()
    assert (tmp_path / "ray" / b["images"][0]["maps"]).is_file()
    errors = [r for r in shards.read(tmp_path / "ray" / "shards") if r.error]
    assert [Path(r.image).name for r in errors] == ["zz_broken.jpg"]
