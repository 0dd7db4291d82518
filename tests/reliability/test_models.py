"""Models, shapes, devices, labels and disks that are wrong: each refused in our words (CLI and API).

The broken ONNX files are built here with the onnx package (a test dependency only: the library reads the
cause out of OpenVINO's text, or out of the file's bytes).
"""

from __future__ import annotations

import errno
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import openvino as ov
import pytest
from onnx import TensorProto, helper, numpy_helper
from paths import DOG_MODEL
from table import RAW, Call, Row, table_tests

import ov_reciprocam as orc
from ov_reciprocam.model.formats import write_failure
from ov_reciprocam.model.labels import read_labels


def _onnx(path: Path, nodes: list, weights: dict[str, np.ndarray], **save) -> Path:
    """A one-input ONNX graph [1, 3, 32, 32] -> `y` of `nodes`, with `weights` as initializers."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()]
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path, **save)
    return path


def _classifier(path: Path, nan: bool) -> Path:
    """Conv -> ReLU -> global pool -> linear -> softmax; `nan`: one linear weight is NaN (after the ReLU, which
    would turn a NaN into 0 on the CPU)."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc", "b"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["y"], axis=1),
    ]
    weights = {"w": rng.standard_normal((8, 3, 3, 3)), "fc": rng.standard_normal((5, 8)), "b": np.zeros(5)}
    weights["fc"][2, 3] = np.nan if nan else weights["fc"][2, 3]
    return _onnx(path, nodes, weights)


def missing_weight(tmp: Path) -> None:
    _onnx(tmp / "missing.onnx", [helper.make_node("Conv", ["x", "w_missing"], ["y"])], {})


def cycle(tmp: Path) -> None:
    nodes = [
        helper.make_node("Add", ["x", "b"], ["a"]),
        helper.make_node("Relu", ["a"], ["b"]),
        helper.make_node("Relu", ["a"], ["y"]),
    ]
    _onnx(tmp / "cycle.onnx", nodes, {})


def external_data_missing(tmp: Path) -> None:
    conv = [helper.make_node("Conv", ["x", "w"], ["y"])]
    external = {"save_as_external_data": True, "location": "weights.data", "size_threshold": 0}
    _onnx(tmp / "external.onnx", conv, {"w": np.ones((4, 3, 3, 3))}, **external)
    (tmp / "weights.data").unlink()


def unknown_op(tmp: Path) -> None:
    _onnx(tmp / "unknown.onnx", [helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example")], {})


def scrambled_bin(tmp: Path) -> None:
    """The dog model's .xml with a .bin of the right size and random contents."""
    shutil.copy(DOG_MODEL, tmp / "dog.xml")
    size = DOG_MODEL.with_suffix(".bin").stat().st_size
    (tmp / "dog.bin").write_bytes(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes())


def nan_weights(tmp: Path) -> None:
    _classifier(tmp / "nan.onnx", nan=True)


def labels(text: bytes):
    def make(tmp: Path) -> None:
        (tmp / "labels.txt").write_bytes(text)

    return make


def nothing_at(name: str):
    """A check: the refused command left no file at `{tmp}/name` (an empty folder is fine)."""

    def check(tmp: Path, done: subprocess.CompletedProcess) -> None:
        path = tmp / name
        assert not path.exists() or (path.is_dir() and not any(path.iterdir())), f"{name} was written"

    return check


def _absent(device: str) -> bool:
    return device not in {d.split(".")[0] for d in ov.Core().available_devices}


DOG_LABELS = (DOG_MODEL.parent / "labels.txt").read_bytes()
EXPLAIN = ("explain", "{dog_xai}", "{photo}", "-o", "{tmp}/out")

ROWS = [
    # 1. ONNX files OpenVINO cannot read
    Row(
        "onnx missing initializer",
        ("patch", "{tmp}/missing.onnx", "-o", "{tmp}/x.xml"),
        says=r'its Conv node reads "w_missing", which no initializer, input or node makes',
        make=missing_weight,
    ),
    Row(
        "onnx cycle",
        ("inspect", "{tmp}/cycle.onnx"),
        says=r'its graph has a cycle: "b" is needed to compute itself',
        make=cycle,
    ),
    Row(
        "onnx external data missing",
        ("inspect", "{tmp}/external.onnx"),
        says=r"its external data file weights\.data is missing \(it must sit beside external\.onnx\)",
        make=external_data_missing,
    ),
    Row(
        "onnx unknown op",
        ("inspect", "{tmp}/unknown.onnx"),
        says=r"no conversion for its op Frobnicate \(domain com\.example\)",
        make=unknown_op,
    ),
    # 2. shapes
    Row(
        "bin of the right size, wrong contents",
        ("inspect", "{tmp}/dog.xml"),
        says=r"its node '.+' fails OpenVINO's shape checks: dog\.bin does not fit dog\.xml",
        make=scrambled_bin,
    ),
    Row(
        "input shape of zeros",
        ("inspect", "{dog}", "--input-shape", "1,3,0,0"),
        says=r"--input-shape 1,3,0,0: each size must be 1 or more, or -1 \(dynamic\)",
    ),
    Row(
        "NCHW input shape for an NHWC input",
        ("patch", "{dog}", "--input-shape", "1,3,224,224", "-o", "{tmp}/x.xml"),
        says=r"the input \[\?,160,160,3\] is NHWC, so --input-shape is N,H,W,C: 1,224,224,3, not 1,3,224,224",
        check=nothing_at("x.xml"),
    ),
    # 3. files that are not models
    Row(
        "a JPEG as model B",
        ("compare", "{dog_xai}", "{photo}", "{photo}"),
        says=r"cannot read model .*horses\.jpg: it is a JPEG image, not a model; ov-reciprocam reads OpenVINO IR",
    ),
    Row(
        "an unknown suffix",
        ("inspect", "{tmp}/model.weights"),
        says=r"model\.weights: its suffix '\.weights' is no model format; ov-reciprocam reads .*ONNX \(\.onnx\)",
        make=lambda tmp: (tmp / "model.weights").write_bytes(b"\xff\xfe not a graph\n" * 9),
    ),
    Row(
        "a TensorFlow frontend that logs",
        ("inspect", "{tmp}/model.pb"),
        says=r"model\.pb: not a valid TensorFlow file",
        make=lambda tmp: (tmp / "model.pb").write_bytes(b"\xff\xfe not a graph\n"),
    ),
    # 4. devices
    *(
        Row(
            f"absent {device}",
            (*EXPLAIN, "--device", device),
            says=rf"cannot compile the model for {device}: there is no {device} on this machine \(OpenVINO finds "
            r"[A-Z0-9., ]+\); pick one with --device",
            check=nothing_at("out"),
        )
        for device in ("NPU", "GPU")
        if _absent(device)
    ),
    Row("lower-case cpu", (*EXPLAIN, "--device", "cpu"), says=r"explained 1 images", code=0),
    Row("lower-case auto:cpu", (*EXPLAIN, "--device", "auto:cpu"), says=r"explained 1 images", code=0),
    # 5. labels
    Row(
        "labels not UTF-8",
        (*EXPLAIN, "--labels", "{tmp}/labels.txt"),
        says=r"labels file .*labels\.txt is not UTF-8 text \(byte 0x80 at offset 4\): save it as UTF-8, or give "
        r"another file with --labels",
        make=labels(b"pug\n\x80\x81\n"),
    ),
    Row(
        "labels of blank lines",
        (*EXPLAIN, "--labels", "{tmp}/labels.txt"),
        says=r"labels file .*labels\.txt holds no class names \(one a line\): give another with --labels",
        make=labels(b"\n  \n\n"),
    ),
    Row(
        "labels with a blank line inside",
        (*EXPLAIN, "--labels", "{tmp}/labels.txt"),
        says=r"explained 1 images",
        code=0,
        make=labels(DOG_LABELS.replace(b"\n", b"\n\n", 3)),
    ),
    # 7. a model whose own output is NaN
    Row(
        "NaN weights",
        ("patch", "{tmp}/nan.onnx", "-o", "{tmp}/x.xml"),
        says=r"the model's own output is NaN on a probe input: its weights are broken, or its input recipe "
        r"\(--mean, --scale\) is$",
        make=nan_weights,
    ),
    # 8. a detector given what it cannot use or without what it needs
    Row(
        "explain a detector without its recipe",
        ("explain", "{detector}", "{photo}", "-o", "{tmp}/out"),
        says=r"the model has no preprocessing recipe \(rt_info model_info\): give --mean/--scale/--rgb",
    ),
    Row(
        "a classifier's flag on a detector",
        ("explain", "{detector}", "{photo}", "-o", "{tmp}/out", "--top-k", "3"),
        says=r"--top-k is for classifiers: a detector explains each detection it keeps \(--detections\)",
        code=2,
    ),
]


def _read_labels_of(text: bytes, tmp: Path) -> list[str]:
    (tmp / "labels.txt").write_bytes(text)
    return read_labels(tmp / "labels.txt")


CALLS = [
    Call("read a JPEG", lambda p, tmp: orc.read_model(p["photo"]), says=r"it is a JPEG image, not a model"),
    Call(
        "read an ONNX cycle",
        lambda p, tmp: cycle(tmp) or orc.read_model(tmp / "cycle.onnx"),
        says=r'its graph has a cycle: "b"',
    ),
    Call(
        "input_shape with a negative size",
        lambda p, tmp: orc.patch(p["dog"], input_shape=(1, -2, 160, 3)),
        says=r"`input_shape` 1,-2,160,3: each size must be 1 or more",
    ),
    Call(
        "input_shape in the other layout",
        lambda p, tmp: orc.patch(p["dog"], input_shape=(1, 3, 224, 224)),
        says=r"is NHWC, so `input_shape` is N,H,W,C: 1,224,224,3",
    ),
    Call(
        "Explainer on a detector",
        lambda p, tmp: orc.Explainer(p["detector"]),
        says=r"^this model is an object detector: explain it with DetectorExplainer$",
    ),
    Call("labels not UTF-8", lambda p, tmp: _read_labels_of(b"\xff\n", tmp), says=r"not UTF-8 text .*`labels`"),
    Call("labels empty", lambda p, tmp: _read_labels_of(b"", tmp), says=r"holds no class names"),
    *(
        Call(f"Explainer on an absent {d}", lambda p, tmp, d=d: orc.Explainer(p["dog_xai"], d), says=rf"no {d} on")
        for d in ("NPU", "GPU")
        if _absent(d)
    ),
    Call(
        "Explainer on NaN weights",
        lambda p, tmp: nan_weights(tmp) or orc.Explainer(tmp / "nan.onnx", preprocess=orc.Recipe(raw_pixels=True)),
        says=r"the model's own output is NaN",
    ),
]


test_cli, test_api = table_tests(ROWS, CALLS)


def test_the_frontends_log_is_kept_for_debug(tmp_path):
    """What the TensorFlow frontend printed stays off the terminal, but --debug shows it."""
    (tmp_path / "model.pb").write_bytes(b"\xff\xfe not a graph\n")
    done = subprocess.run(
        [sys.executable, "-m", "ov_reciprocam", "--debug", "inspect", str(tmp_path / "model.pb")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "text_format" in done.stderr and "not a valid TensorFlow file" in done.stderr


def test_a_healthy_twin_of_the_nan_model_patches(tmp_path):
    """The NaN row is about the weights: the same model with finite ones patches."""
    orc.verify(orc.patch(_classifier(tmp_path / "fine.onnx", nan=False)))


# 6. a disk that fills up: RLIMIT_FSIZE makes a write fail for real (EFBIG) without root or a small file system.
def _file_size_limit(limit: int):
    def limit_writes() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, not a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_writes


@pytest.mark.parametrize(
    "args, says",
    [
        (("patch", "{dog}", "-o", "{tmp}/out/x.xml"), r"cannot write .*x\.xml: it outgrows the file size limit"),
        (EXPLAIN, r"cannot write .*out/horses_\w+\.jpg: it outgrows the file size limit"),
    ],
    ids=["patch", "explain"],
)
def test_writes_past_a_file_size_limit(args, says, places, tmp_path):
    """OpenVINO's C++ writer (patch) and our own (explain) hit the limit; explain has said what it began."""
    (tmp_path / "out").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "ov_reciprocam", *(a.format(**places, tmp=tmp_path) for a in args)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_file_size_limit(20_000),
    )
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert done.returncode == 1 and len(errors) == 1 and re.search(says, errors[0]), done.stderr
    assert not [r for r in RAW if r in done.stdout + done.stderr], done.stderr
    assert not [p.name for p in tmp_path.rglob(".*")], "temporary files left"
    assert "patch" not in args or not any((tmp_path / "out").iterdir()), "patch wrote part of a model"


@pytest.mark.parametrize(
    "code, says",
    [
        (errno.ENOSPC, r"^no space left on / writing /x/y\.xml: free some space, or write elsewhere$"),
        (errno.EDQUOT, r"^no disk quota left on / writing /x/y\.xml"),
        (errno.EFBIG, r"^cannot write /x/y\.xml: it outgrows the file size limit"),
        (errno.EROFS, r"^cannot write /x/y\.xml: / is mounted read-only; write elsewhere$"),
        (errno.EACCES, r"^cannot write /x/y\.xml: no permission to write in /x; write elsewhere$"),
        (errno.ENOENT, r"^cannot write /x/y\.xml: no such file or directory$"),
    ],
)
def test_write_failures_in_words(code, says):
    error = write_failure(Path("/x/y.xml"), OSError(code, os.strerror(code)))
    assert isinstance(error, orc.ReciproCamError)
    assert re.search(says, str(error)), str(error)


def test_a_writer_failure_of_no_known_cause_makes_none_up(tmp_path):
    """OpenVINO's C++ writer says only `basic_ios::clear`: no cause found, none is made up, and --debug has it."""
    error = write_failure(tmp_path / "m.xml", RuntimeError("basic_ios::clear: iostream error"), None)
    assert str(error) == f"cannot write {tmp_path / 'm.xml'}: OpenVINO's writer failed"
    assert error.detail == "basic_ios::clear: iostream error"
