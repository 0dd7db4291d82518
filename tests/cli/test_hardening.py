"""The runtime under load and abuse: parallel requests, long runs, atomic outputs, corrupted inputs."""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import builders
import cv2
import numpy as np
import openvino as ov
import pytest
from paths import DOG_MODEL, IMAGES, REPO
from reference import CONFIG
from tolerance import assert_maps_match, assert_pictures_match

import ov_reciprocam as orc
from ov_reciprocam.photos.imaging import collect_images, read_image

PYTHON_SAMPLE = REPO / "samples" / "python" / "explain_async.py"


# --- concurrency -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gap_linear", "dog"])
def test_async_queue_of_4_jobs_equals_sequential_runs(name):
    model, shape = {
        "gap_linear": (builders.gap_linear, (1, 3, 32, 32)),
        "dog": (lambda: DOG_MODEL, (1, 160, 160, 3)),
    }[name]
    patched = orc.patch(model(), batch=1)
    compiled = ov.Core().compile_model(patched, "CPU", {**CONFIG, "PERFORMANCE_HINT": "THROUGHPUT"})
    rng = np.random.default_rng(3)
    inputs = [rng.normal(size=shape).astype(np.float32) for _ in range(24)]

    request = compiled.create_infer_request()
    sequential = []
    for x in inputs:
        request.infer({0: x})
        sequential.append([request.get_output_tensor(0).data.copy(), request.get_tensor(orc.SALIENCY).data.copy()])

    parallel: list = [None] * len(inputs)

    def completed(done: ov.InferRequest, index: int) -> None:
        parallel[index] = [done.get_output_tensor(0).data.copy(), done.get_tensor(orc.SALIENCY).data.copy()]

    queue = ov.AsyncInferQueue(compiled, 4)
    queue.set_callback(completed)
    for i, x in enumerate(inputs):
        queue.start_async({0: x}, i)
    queue.wait_all()
    assert len({id(r) for r in parallel}) == len(inputs)
    # Requests that mixed up their tensors would give another input's answer: far outside float noise.
    for (scores, maps), (p_scores, p_maps) in zip(sequential, parallel, strict=True):
        np.testing.assert_allclose(p_scores, scores, rtol=0, atol=1e-5 * np.abs(scores).max())
        assert_maps_match(p_maps, maps)
    assert len({m.tobytes() for _, m in sequential}) == len(inputs)  # the inputs did make different maps


def _sample_lines(stdout: str) -> dict[str, tuple[str, float, tuple[int, int]]]:
    found = {}
    for line in stdout.splitlines():
        name, label, score, x, y = re.fullmatch(r"(\S+): (\S+) ([0-9.]+) peak \((\d+), (\d+)\)", line).groups()
        found[name] = (label, float(score), (int(x), int(y)))
    return found


def _check_sample_output(stdout: str, out: Path, pictures: dict[str, np.ndarray], explainer: orc.Explainer) -> None:
    """The sample's streams and the Explainer's batches run different kernels: equal up to float noise."""
    printed = _sample_lines(stdout)
    assert sorted(printed) == sorted(pictures)
    results = explainer.explain(list(pictures.values()), top_k=1)
    for name, result in zip(pictures, results, strict=True):
        top = result.classes[0]
        label, score, (x, y) = printed[name]
        assert label == top.label and abs(score - top.score) <= 1e-4  # printed to 4 decimals
        assert_maps_match(np.load(out / f"{name}.npy"), top.saliency)
        # Cells the maps hold equal within that tolerance may trade the peak.
        heat = result.upsampled[0]
        assert heat[y, x] >= heat.max() - 0.01
        assert_pictures_match(cv2.imread(str(out / f"{name}.png")), orc.overlay_of(result, top.class_id))


@pytest.fixture(scope="module")
def dog_xai(tmp_path_factory) -> Path:
    """The dog model patched with its recipe and labels in rt_info, as the README's demo makes it."""
    from click.testing import CliRunner

    from ov_reciprocam.cli import main

    xml = tmp_path_factory.mktemp("dog") / "dog_xai.xml"
    args = ["patch", str(DOG_MODEL), "-o", str(xml), "--mean", "127.5", "--scale", "127.5", "--rgb"]
    result = CliRunner().invoke(main, [*args, "--interpolation", "cubic", "--labels", DOG_MODEL.parent / "labels.txt"])
    assert result.exit_code == 0, result.output
    return xml


def _run_sample(*args) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(PYTHON_SAMPLE), *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def sample_folder_run(dog_xai, tmp_path_factory) -> tuple[str, Path, dict[str, np.ndarray]]:
    out = tmp_path_factory.mktemp("sample")
    done = _run_sample(dog_xai, IMAGES, out)
    return done.stdout, out, {p.stem: read_image(p) for p in collect_images([str(IMAGES)])}


def test_python_sample_folder_matches_explainer(dog_xai, sample_folder_run):
    _check_sample_output(*sample_folder_run, orc.Explainer(dog_xai, config=CONFIG))


@pytest.mark.parametrize("broken", ["map", "overlay", "score", "peak"])
def test_sample_check_fails_on_a_map_shifted_by_one_position(dog_xai, sample_folder_run, tmp_path, broken):
    """The tolerances above still catch a wrong answer: one feature cell off, or a score 0.001 off."""
    stdout, out, pictures = sample_folder_run
    shutil.copytree(out, tmp_path, dirs_exist_ok=True)
    saved = np.load(tmp_path / "both.npy")
    if broken == "map":
        np.save(tmp_path / "both.npy", np.roll(saved, 1, axis=1))
    elif broken == "overlay":
        picture = cv2.imread(str(tmp_path / "both.png"))
        cv2.imwrite(str(tmp_path / "both.png"), np.roll(picture, picture.shape[1] // saved.shape[1], axis=1))
    else:
        line = next(ln for ln in stdout.splitlines() if ln.startswith("both: "))
        name, label, score, _, x, y = re.fullmatch(r"(\S+): (\S+) ([0-9.]+) peak (\((\d+), (\d+)\))", line).groups()
        if broken == "score":
            score = f"{float(score) + 0.001:.4f}"
        else:  # the peak one cell to the left
            x = str(int(x) - pictures["both"].shape[1] // saved.shape[1])
        stdout = stdout.replace(line, f"{name}: {label} {score} peak ({x}, {y})")
    with pytest.raises(AssertionError):
        _check_sample_output(stdout, tmp_path, pictures, orc.Explainer(dog_xai, config=CONFIG))


def test_python_sample_video_matches_explainer(dog_xai, tmp_path):
    photo = cv2.resize(read_image(IMAGES / "both.png"), (240, 200))
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (240, 200))
    for shift in range(0, 60, 6):  # ten different frames
        writer.write(np.roll(photo, shift, axis=1))
    writer.release()
    capture, frames = cv2.VideoCapture(str(video)), {}
    while (frame := capture.read())[0]:
        frames[f"frame_{len(frames):05d}"] = frame[1]
    assert len(frames) == 10
    out = tmp_path / "out"
    done = _run_sample(dog_xai, video, out)
    _check_sample_output(done.stdout, out, frames, orc.Explainer(dog_xai, config=CONFIG))


# --- memory ----------------------------------------------------------------------------------------------------------


def _rss() -> int:
    """Resident set size of this process in bytes (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="RSS is read from /proc (Linux)")
def test_no_memory_growth_over_5000_inferences():
    model = orc.patch(builders.gap_linear(), batch=1)
    explainer = orc.Explainer(model, preprocess=orc.Preprocess(32, 32), config=CONFIG)
    photo = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)

    def explain_once() -> None:
        result = explainer.explain([photo], top_k=2)[0]
        result.peak(result.classes[0].class_id)  # the upsampled maps too

    for _ in range(200):  # warm-up: allocator pools, lazy imports, first-inference caches
        explain_once()
    gc.collect()
    before, samples = _rss(), []
    for i in range(5000):
        explain_once()
        if i % 500 == 499:
            samples.append(_rss() - before)
    gc.collect()
    growth = _rss() - before
    assert growth < 20 * 2**20, f"RSS grew by {growth / 2**20:.1f} MB; samples (MB): {[s >> 20 for s in samples]}"


# --- atomic outputs --------------------------------------------------------------------------------------------------

# Runs the CLI with an audit hook that logs every file opened for writing and every rename.
_AUDITED_CLI = """
import atexit, json, os, sys
log = []
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):  # not a file descriptor
        mode, flags = args[1], args[2] or 0
        writes = (mode is not None and any(c in mode for c in "wax+")) or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if writes:
            log.append(["write", os.fspath(args[0])])
    elif event in ("os.rename", "os.replace"):
        log.append(["rename", os.fspath(args[0]), os.fspath(args[1])])
target = os.environ["AUDIT_LOG"]
atexit.register(lambda: open(target, "w").write(json.dumps(log)))
sys.addaudithook(hook)
from ov_reciprocam.cli import main
main(prog_name="ov-reciprocam")
"""


def _audited(tmp_path: Path, *args) -> tuple[subprocess.CompletedProcess, list]:
    log = tmp_path / "audit.json"
    env = {**os.environ, "AUDIT_LOG": str(log), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _AUDITED_CLI, *map(str, args)], capture_output=True, text=True, env=env
    )
    return done, json.loads(log.read_text())


def _check_atomic(out: Path, log: list) -> None:
    """Every file in `out` arrived by a rename; nothing in `out` was written in place; no temp file is left."""
    finals = {p.resolve() for p in out.rglob("*") if p.is_file()}
    assert finals
    renamed_to = {Path(entry[2]).resolve() for entry in log if entry[0] == "rename"}
    written = {Path(entry[1]).resolve() for entry in log if entry[0] == "write"}
    assert finals <= renamed_to, f"not renamed into place: {sorted(map(str, finals - renamed_to))}"
    assert not finals & written, f"written in place: {sorted(map(str, finals & written))}"
    assert not [p for p in out.rglob("*") if p.name.startswith(".")], "temp files left behind"


def _command_cases(tmp_path: Path, dog_xai: Path) -> dict[str, tuple[list, set[str] | None]]:
    """command -> (arguments, names it must write into tmp_path/out, or None for a command that only prints)."""
    out, photos = tmp_path / "out", [IMAGES / "both.png", IMAGES / "horses.jpg"]
    recipe = ["--mean", "127.5", "--scale", "127.5", "--rgb"]
    return {
        "patch": (
            ["patch", DOG_MODEL, "-o", out / "dog_xai.xml", "--labels", DOG_MODEL.parent / "labels.txt"],
            {"dog_xai.xml", "dog_xai.bin"},
        ),
        "explain": (
            ["explain", dog_xai, *photos, "-o", out, "--full-maps"],
            {"results.json", "contact_sheet_001.jpg", "report.html", "both_maps.npy", "horses_maps_full.npy"},
        ),
        "quantize": (
            ["quantize", dog_xai, *photos, "--subset-size", "2", "-o", out / "dog_int8.xml"],
            {"dog_int8.xml", "dog_int8.bin"},
        ),
        "compare": (["compare", dog_xai, dog_xai, photos[0], "--json", out / "fidelity.json"], {"fidelity.json"}),
        "eval": (
            ["eval", DOG_MODEL, photos[0], "--methods", "reciprocam", "--steps", "4", "-o", out, *recipe],
            {"metrics.json", "metrics.csv", "report.html"},
        ),
        "inspect": (["inspect", dog_xai], None),
        "bench": (["bench", dog_xai, "--seconds", "0.5"], None),
    }


COMMANDS = ["patch", "explain", "quantize", "compare", "eval", "inspect", "bench"]


@pytest.mark.parametrize("command", COMMANDS)
def test_cli_command_writes_atomically(command, tmp_path, dog_xai):
    from ov_reciprocam.cli import main

    if command not in main.commands:
        pytest.skip(f"`{command}` is not in this checkout")
    args, expected = _command_cases(tmp_path, dog_xai)[command]
    done, log = _audited(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    if expected is None:
        # Only the audit log itself; openvino-telemetry's usage counter under ~/intel is not ours.
        ours = [entry[1] for entry in log if entry[0] == "write" and Path(entry[1]).parent != Path.home() / "intel"]
        assert ours == [str(tmp_path / "audit.json")]
    else:
        _check_atomic(tmp_path / "out", log)
        assert expected <= {p.name for p in (tmp_path / "out").iterdir()}


def test_the_atomic_write_test_covers_every_command():
    from ov_reciprocam.cli import main

    assert set(main.commands) <= set(COMMANDS), "add the new command to _command_cases"


# --- fuzzing ---------------------------------------------------------------------------------------------------------

FUZZ_CASES = 200
FUZZ_TIMEOUT = 120  # seconds per case; a normal case takes about one
FUZZ_WORKERS = 2
_MEMORY_LIMIT = 8 * 2**30  # address space per case, so a corrupted shape cannot take the shared machine's RAM


@dataclass
class Case:
    name: str
    command: str  # patch | explain
    model: Path
    image: Path | None = None


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _flip_bytes(data: bytes, rng: np.random.Generator, count: int) -> bytes:
    buffer = bytearray(data)
    for i in rng.integers(0, len(buffer), count):
        buffer[i] = int(rng.integers(0, 256))
    return bytes(buffer)


def _flip_digits(text: bytes, rng: np.random.Generator, count: int) -> bytes:
    """Change digits (shapes, offsets, sizes, indices): the XML stays well-formed, the model does not."""
    buffer = bytearray(text)
    digits = [i for i, b in enumerate(buffer) if 48 <= b <= 57]
    for i in rng.choice(digits, count, replace=False):
        buffer[i] = int(rng.integers(48, 58))
    return bytes(buffer)


def _fuzz_cases(root: Path) -> list[Case]:
    """FUZZ_CASES deterministic cases: corrupted copies of a small IR, and files that are not images or models."""
    rng = np.random.default_rng(2024)
    plain = root / "plain" / "model.xml"
    ov.save_model(builders.gap_linear(), plain)
    patched = orc.save(orc.patch(builders.gap_linear()), root / "patched" / "model_xai.xml")
    xml, weights = plain.read_bytes(), plain.with_suffix(".bin").read_bytes()
    photo = cv2.imencode(".png", read_image(IMAGES / "both.png"))[1].tobytes()
    jpeg = cv2.imencode(".jpg", read_image(IMAGES / "horses.jpg"))[1].tobytes()
    image = _write(root / "good.png", cv2.imencode(".png", cv2.resize(read_image(IMAGES / "both.png"), (32, 32)))[1])

    def model_case(name: str, xml_bytes: bytes, bin_bytes: bytes | None) -> list[Case]:
        folder = root / name
        model = _write(folder / "model.xml", xml_bytes)
        if bin_bytes is not None:
            _write(folder / "model.bin", bin_bytes)
        return [Case(f"{name} patch", "patch", model), Case(f"{name} explain", "explain", model, image)]

    def image_case(name: str, suffix: str, data: bytes) -> Case:
        return Case(name, "explain", patched, _write(root / name / f"picture{suffix}", data))

    cases: list[Case] = []
    for i in range(20):  # truncated XML
        cases += model_case(f"xml-truncated-{i}", xml[: int(rng.integers(0, len(xml)))], weights)
    for i in range(15):  # random bytes in the XML
        cases += model_case(f"xml-bytes-{i}", _flip_bytes(xml, rng, int(rng.integers(1, 9))), weights)
    for i in range(20):  # digits changed in the XML: shapes, offsets, sizes
        cases += model_case(f"xml-digits-{i}", _flip_digits(xml, rng, int(rng.integers(1, 4))), weights)
    for i in range(10):  # a .bin of the wrong size
        size = int(rng.integers(0, 2 * len(weights)))
        data = weights[:size] if size < len(weights) else weights + rng.bytes(size - len(weights))
        cases += model_case(f"bin-size-{i}", xml, data)
    for i in range(5):  # random bytes in the weights: a valid model with odd (maybe NaN) weights
        cases += model_case(f"bin-bytes-{i}", xml, _flip_bytes(weights, rng, int(rng.integers(1, 50))))
    cases += model_case("bin-missing", xml, None)
    cases += model_case("xml-empty", b"", weights)
    cases += model_case("xml-random", rng.bytes(2000), weights)
    cases += [Case("onnx-random", "patch", _write(root / "onnx-random" / "model.onnx", rng.bytes(3000)))]
    cases += [Case("onnx-text", "patch", _write(root / "onnx-text" / "model.onnx", b"ir_version: 8\n"))]
    suffixes = [".png", ".jpg", ".bmp", ".tif", ".webp", ".txt"]
    for i in range(17):
        cases.append(
            image_case(f"image-random-{i}", suffixes[i % len(suffixes)], rng.bytes(int(rng.integers(1, 5000))))
        )
    for i in range(8):
        cases.append(image_case(f"png-truncated-{i}", ".png", photo[: int(rng.integers(0, len(photo)))]))
        cases.append(image_case(f"jpeg-truncated-{i}", ".jpg", jpeg[: int(rng.integers(0, len(jpeg)))]))
    for i in range(8):
        cases.append(image_case(f"png-bytes-{i}", ".png", _flip_bytes(photo, rng, int(rng.integers(1, 20)))))
        cases.append(image_case(f"jpeg-bytes-{i}", ".jpg", _flip_bytes(jpeg, rng, int(rng.integers(1, 20)))))
    cases.append(image_case("image-empty", ".png", b""))
    cases.append(image_case("image-text", ".jpg", b"not a photo\n" * 20))
    cases.append(image_case("image-model", ".png", xml))
    assert len(cases) == FUZZ_CASES, len(cases)
    return cases


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_LIMIT, _MEMORY_LIMIT))


@dataclass
class Outcome:
    returncode: int | None  # None: timed out
    stdout: str
    stderr: str
    out: Path


def _run_case(case: Case, out: Path) -> Outcome:
    args = [sys.executable, "-m", "ov_reciprocam", case.command, str(case.model)]
    # --raw-pixels: the fuzzed models carry no recipe, and explain refuses to guess one.
    args += [str(case.image), "-o", str(out), "--raw-pixels"] if case.command == "explain" else []
    args += ["-o", str(out / "model_xai.xml")] if case.command == "patch" else []
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=FUZZ_TIMEOUT, preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired as exc:
        return Outcome(None, str(exc.stdout or ""), str(exc.stderr or ""), out)
    return Outcome(done.returncode, done.stdout, done.stderr, out)


@pytest.fixture(scope="module")
def fuzz_outcomes(tmp_path_factory) -> dict[str, tuple[Case, Outcome]]:
    """Every case in its own process (a crash must not hide behind another case), two at a time."""
    root = tmp_path_factory.mktemp("fuzz")
    cases = _fuzz_cases(root / "cases")
    outs = [root / "out" / f"{i:03d}" for i in range(len(cases))]
    with ThreadPoolExecutor(FUZZ_WORKERS) as pool:
        outcomes = list(pool.map(_run_case, cases, outs))
    return {case.name: (case, outcome) for case, outcome in zip(cases, outcomes, strict=True)}


def _valid_output(case: Case, out: Path) -> None:
    if case.command == "patch":
        model = ov.Core().read_model(out / "model_xai.xml")
        assert model.output(orc.SALIENCY).get_partial_shape().rank.get_length() == 4
    else:
        results = json.loads((out / "results.json").read_text())
        assert len(results["images"]) == 1 and results["failed"] == []
        assert (out / results["images"][0]["maps"]).is_file()


def _problem(case: Case, outcome: Outcome) -> str | None:
    """None when the case ended cleanly: exit 0 with a valid result, or exit 1 with one `Error:` line."""
    if outcome.returncode is None:
        return f"hung: no exit within {FUZZ_TIMEOUT} s"
    if outcome.returncode < 0:
        return f"crashed: killed by signal {-outcome.returncode}"
    if "Traceback" in outcome.stderr:
        return "traceback: " + " | ".join(outcome.stderr.strip().splitlines()[-3:])
    if [p.name for p in outcome.out.rglob(".*")]:
        return f"left temp files: {[p.name for p in outcome.out.rglob('.*')]}"
    if outcome.returncode == 0:
        try:
            _valid_output(case, outcome.out)
        except Exception as exc:  # any way the output is unusable
            return f"exit 0 with an invalid output: {type(exc).__name__}: {exc}"
        return None
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("Error:")]
    if outcome.returncode != 1 or len(errors) != 1:
        return f"exit {outcome.returncode} with {len(errors)} Error: lines: {outcome.stderr.strip()[-300:]}"
    if case.command == "patch" and (outcome.out / "model_xai.xml").exists():
        return "failed but wrote a model"
    return None


def test_fuzzed_models_and_images_end_cleanly(fuzz_outcomes):
    problems = {
        name: problem for name, (case, outcome) in fuzz_outcomes.items() if (problem := _problem(case, outcome))
    }
    assert not problems, "\n".join(f"{name}: {problem}" for name, problem in problems.items())
    codes = [outcome.returncode for _, outcome in fuzz_outcomes.values()]
    assert codes.count(0) >= 10 and codes.count(1) >= 100  # both endings are exercised, not one path only
