"""`explain_paths` runs reading, inference and writing at once: the same results.json as one photo at a time."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from commands import cli, interruptible
from paths import DOG_MODEL, IMAGES, SAMPLES
from tolerance import assert_maps_match

import ov_reciprocam as orc
from ov_reciprocam.cli.progress import INTERVAL_ENV
from ov_reciprocam.inference import explainer as explainer_module
from ov_reciprocam.inference.device import compile_for
from ov_reciprocam.output import run_folder
from ov_reciprocam.output.explain_files import Outputs
from ov_reciprocam.output.rows import Row
from ov_reciprocam.photos.imaging import collect_images, read_image
from ov_reciprocam.runs import pipeline
from ov_reciprocam.runs.explain import explain_batch, explain_paths

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
DOG_RECIPE = orc.Recipe(mean=(127.5,), scale=(127.5,), rgb=True, interpolation="cubic")
CORAL = SAMPLES / "models" / "coral" / "mobilenet_v2_1.0_224_quant.tflite"
BROKEN = ("06_broken.jpg", "07_broken.jpg")  # side by side: with a batch of 2 a whole batch is unreadable


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """12 photos (the samples, shrunk and shifted: no two alike) and, among them, two text files named .jpg."""
    folder = tmp_path_factory.mktemp("photos")
    samples = sorted(collect_images([str(IMAGES), str(SAMPLES / "openimages" / "parrot.jpg")]))
    for i in range(12):
        picture = cv2.resize(read_image(samples[i % len(samples)]), (240, 180))
        cv2.imwrite(str(folder / f"{i:02d}_photo.jpg"), np.roll(picture, 11 * i, axis=1))
    for name in BROKEN:
        (folder / name).write_text("not a picture")
    return folder


def _one_at_a_time(explainer: orc.Explainer):
    """explain_paths' rows made as before it had a pipeline: each photo read, explained and written in turn."""

    def rows(photos: list[tuple[str, str]], out: Outputs) -> list[Row]:
        return [row for i, photo in enumerate(photos) for row in explain_batch(explainer, [photo], out, i < 64)]

    return rows


@pytest.fixture(scope="module")
def reference(photos, tmp_path_factory) -> Path:
    """The folder a batch-1, one-request, one-step-after-another run writes."""
    out = tmp_path_factory.mktemp("reference")
    explainer = orc.Explainer(DOG_MODEL, preprocess=DOG_RECIPE, batch_size=1, requests=1, config=F32)
    explain_paths(explainer, [photos], Outputs(out, top_k=2), make_rows=_one_at_a_time(explainer))
    return out


def _assert_same_run(a: Path, b: Path) -> None:
    """Two explain folders hold the same records, in the same order, scores and maps within the suite's tolerance."""
    ra, rb = (json.loads((d / "results.json").read_text()) for d in (a, b))
    assert ra["failed"] == rb["failed"]
    assert [r["image"] for r in ra["images"]] == [r["image"] for r in rb["images"]]
    for x, y in zip(ra["images"], rb["images"], strict=True):
        assert x["size"] == y["size"]
        assert x["predictions"][0]["label"] == y["predictions"][0]["label"]
        for p, q in zip(x["explained"], y["explained"], strict=True):
            assert (p["class_id"], p["label"], p["overlay"], p["flat"]) == (
                q["class_id"],
                q["label"],
                q["overlay"],
                q["flat"],
            )
            assert p["score"] == pytest.approx(q["score"], abs=1e-3)
        assert_maps_match(np.load(b / y["maps"]), np.load(a / x["maps"]))


@pytest.mark.parametrize(("batch_size", "requests"), [(1, 3), (2, 1), (3, 2), (8, None)])
def test_pipelined_run_writes_what_one_photo_at_a_time_writes(photos, reference, tmp_path, batch_size, requests):
    explainer = orc.Explainer(DOG_MODEL, preprocess=DOG_RECIPE, batch_size=batch_size, requests=requests, config=F32)
    seen: list[str] = []
    run = explain_paths(explainer, [photos], Outputs(tmp_path, top_k=2), on_skip=seen.append)
    _assert_same_run(reference, tmp_path)
    ordered = sorted(str(p) for p in collect_images([str(photos)]))
    assert [r["image"] for r in run.records] == [p for p in ordered if not p.endswith(BROKEN)]
    assert [f["image"] for f in run.failed] == [str(photos / n) for n in BROKEN]
    assert len(seen) == 2 and all("cannot read image" in why for why in seen)
    for record in run.records:
        w, h = record["size"]
        for item in record["explained"]:
            assert cv2.imread(str(tmp_path / item["overlay"])).shape == (h, w, 3)
    assert (tmp_path / "contact_sheet_001.jpg").exists() and (tmp_path / "report.html").exists()


def test_the_command_takes_requests_and_batch_size(photos, reference, tmp_path):
    flags = ["--mean", "127.5", "--scale", "127.5", "--rgb", "--interpolation", "cubic", "--top-k", "2"]
    done = cli("explain", DOG_MODEL, photos, "-o", tmp_path, *flags, "--requests", "2", "--batch-size", "3")
    assert done.returncode == 1 and "2 of 14 images could not be read" in done.stderr, done.stderr
    _assert_same_run(reference, tmp_path)
    refused = cli("explain", DOG_MODEL, photos, "-o", tmp_path / "ray", *flags, "--requests", "2", "--ray", "local")
    assert refused.returncode == 2 and "--requests is for local runs" in refused.stderr


@pytest.mark.parametrize(
    ("hint", "compiles", "requests"), [(None, 2, None), ("THROUGHPUT", 1, None), ("LATENCY", 1, 1)]
)
def test_a_folder_run_compiles_for_throughput_unless_told(monkeypatch, tmp_path, hint, compiles, requests):
    """Compiled for latency (one photo at a time), a folder run compiles again for throughput; `explain` passes the
    THROUGHPUT hint and compiles once; a caller's LATENCY hint is kept (one request)."""
    made = []

    def counted(*args, **kwargs):
        made.append(args)
        return compile_for(*args, **kwargs)

    monkeypatch.setattr(explainer_module, "compile_for", counted)
    config = F32 | ({"PERFORMANCE_HINT": hint} if hint else {})
    explainer = orc.Explainer(DOG_MODEL, preprocess=DOG_RECIPE, config=config)
    run = explain_paths(explainer, IMAGES / "horses.jpg", Outputs(tmp_path, overlays=False, report=False))
    assert len(run.records) == 1 and len(made) == compiles
    assert requests is None or explainer.requests == requests


def test_requests_are_checked_before_the_model_is_read():
    with pytest.raises(orc.ReciproCamError, match="`requests`"):
        orc.Explainer("no_such_model.xml", requests=0)


def test_fixed_batch_model_with_several_requests(photos, tmp_path):
    """Google's uint8 MobileNetV2 (batch fixed at 1), two requests in flight, against the same photos one by one."""
    explainer = orc.Explainer(CORAL, requests=2, config=F32)
    run = explain_paths(explainer, [photos], Outputs(tmp_path / "piped", overlays=False, report=False))
    assert explainer.requests == 2 and len(run.records) == 12
    for record in run.records:
        (alone,) = explainer.explain(record["image"], top_k=3)
        assert [e["class_id"] for e in record["explained"]] == [c.class_id for c in alone.classes]
        assert_maps_match(np.load(tmp_path / "piped" / record["maps"]), alone.maps)


def test_an_error_while_writing_stops_the_run_and_writes_no_results(photos, tmp_path):
    """A photo that cannot be explained (a class the top-k model kept no map for) fails the run in its own words,
    rather than hanging the pipeline or leaving a results.json for a run that did not finish."""
    model = orc.patch(DOG_MODEL, top_k=2)
    explainer = orc.Explainer(
        model, preprocess=DOG_RECIPE, labels=DOG_MODEL.with_name("labels.txt").read_text().split()
    )
    with pytest.raises(orc.ReciproCamError, match="best classes only"):
        explain_paths(explainer, [photos], Outputs(tmp_path, classes=("Samoyed",)))
    assert not (tmp_path / "results.json").exists()


def test_a_run_stopped_with_ctrl_c_leaves_no_half_written_file(photos, tmp_path):
    """Ctrl-C while batches are in flight: the writers finish the files they began, each whole, and no results.json
    claims a run that did not end."""
    many = tmp_path / "many"
    many.mkdir()
    for copy in range(20):
        for photo in photos.glob("*_photo.jpg"):
            shutil.copy(photo, many / f"{copy}_{photo.name}")
    out = tmp_path / "out"
    args = ["explain", CORAL, many, "-o", out, "--precision", "f32"]
    env = os.environ | {INTERVAL_ENV: "0"}  # a progress line per batch
    process = subprocess.Popen([sys.executable, "-m", "ov_reciprocam", *map(str, args)], stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True, env=env, preexec_fn=interruptible)  # fmt: skip
    assert process.stderr is not None
    for line in process.stderr:  # the first photos done (a busy machine may report several at once)
        if re.match(r"explaining: \d+/", line):
            process.send_signal(signal.SIGINT)
            break
    rest = process.stderr.read()
    assert process.wait() != 0, "the run ended before it was stopped: give it more photos"
    assert "Aborted" in rest and "Traceback" not in rest, rest
    assert not (out / "results.json").exists()
    written = [f for f in out.rglob("*") if f.is_file() and f.name != run_folder.LOCK]
    assert written and not [f for f in written if f.name.startswith(".")]  # no temporary file left beside them
    for picture in written:
        if picture.suffix in (".png", ".jpg"):
            assert cv2.imread(str(picture)) is not None, picture


def test_ordered_keeps_the_order_and_at_most_ahead_items_in_flight():
    lock, running, most = threading.Lock(), [0], [0]

    def work(i: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        return i * i

    def consumed(values):
        for value in values:
            with lock:
                running[0] -= 1
            yield value

    with ThreadPoolExecutor(4) as pool:
        assert list(consumed(pipeline.ordered(pool, work, range(50), ahead=3))) == [i * i for i in range(50)]
    assert most[0] <= 3


def test_then_hands_an_error_on_in_order():
    def fail(value: int) -> int:
        raise orc.ReciproCamError(f"no {value}")

    with ThreadPoolExecutor(2) as pool:
        futures = [
            pipeline.then(pipeline.finished(1), pool, lambda v: v + 1),
            pipeline.then(pipeline.finished(2), pool, fail),
        ]
        results = pipeline.in_order(futures, limit=2)
        assert next(results) == 2
        with pytest.raises(orc.ReciproCamError, match="no 2"):
            next(results)
