"""ov-reciprocam next to openvino_xai 1.1 (Recipro-CAM) and pytorch-grad-cam (Grad-CAM, Score-CAM), side by side.

Opt-in, not run in CI. openvino_xai 1.1 pins OpenVINO 2024.4 and pytorch-grad-cam needs torch, so each
runs in a venv of its own, as a worker mode of this same script:

    python benchmarks/peer.py [--models NAME ...] [--peer-python /work/peer-venv/bin/python]
                              [--torch-python /work/zoo-venv/bin/python] [--seconds N] [--precision f32]

    peer venv:  pip install openvino-xai==1.1.0        (brings openvino 2024.4)
    torch venv: pip install torch torchvision grad-cam

Per model, ours and the peer run one after the other on the same batch-1 random input. Each tool
times its own plain model against its own patched model, interleaved, so the ratio is the number to
read. Workers import only openvino, numpy and their own tool, never ov_reciprocam. Prints markdown.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import openvino as ov

REPO = Path(__file__).resolve().parent.parent
DOG = REPO / "samples" / "models" / "dog_breeds_mobilenetv2" / "dog_breeds_mobilenetv2.xml"
ZOO_CACHE = Path("/work/zoo_cache")  # ONNX exports of benchmarks/zoo.py: tv.<name>.onnx, dynamic batch
MODELS = [
    "tv.resnet50",
    "tv.vgg16",
    "tv.mobilenet_v3_large",
    "tv.squeezenet1_1",
    "tv.efficientnet_b0",
    "light_bvlc_alexnet",
    "light_resnet50",
    "dog_breeds_mobilenetv2",
]
GRAD_CAM_MODEL = "tv.resnet50"


def config_for(precision: str) -> dict:
    """One compile config for every OpenVINO run, ours and the peer's: like is compared with like."""
    config = {"PERFORMANCE_HINT": "LATENCY"}
    if precision != "default":
        config["INFERENCE_PRECISION_HINT"] = precision
    return config


def ir_growth(plain: ov.Model, patched: ov.Model) -> int:
    """ov_reciprocam.bench.ir_growth for the peer worker, whose venv has no ov_reciprocam."""
    with tempfile.TemporaryDirectory() as tmp:
        sizes = []
        for label, model in (("plain", plain), ("patched", patched)):
            ov.save_model(model, f"{tmp}/{label}.xml", compress_to_fp16=False)
            sizes.append(sum(Path(f"{tmp}/{label}{ext}").stat().st_size for ext in (".xml", ".bin")))
    return sizes[1] - sizes[0]


def first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


# ---- peer worker (peer venv: openvino 2024.4, numpy, openvino_xai) ----


def interleaved(plain: ov.CompiledModel, patched: ov.CompiledModel, image: np.ndarray, seconds: float) -> dict:
    """Median ms of plain and patched, as ov_reciprocam.bench.measure times them (which the peer venv lacks)."""
    compiled = (plain, patched)
    for c in compiled:  # first runs allocate memory and pick kernels
        c(image)
    times: tuple[list[float], list[float]] = ([], [])
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times[0]) < 3:
        pairs = list(zip(compiled, times, strict=True))
        for c, bucket in pairs if len(times[0]) % 2 == 0 else pairs[::-1]:  # swap who goes first each round
            t0 = time.perf_counter()
            c(image)
            bucket.append((time.perf_counter() - t0) * 1e3)
    plain_ms, patched_ms = (float(np.median(t)) for t in times)
    return {"plain_ms": plain_ms, "patched_ms": patched_ms, "ratio": patched_ms / plain_ms, "runs": len(times[0])}


def peer_worker(path: str, image_path: str, seconds: float, precision: str) -> dict:
    """openvino_xai's Recipro-CAM inserted with its defaults (auto target, scaled uint8 maps), timed at batch 1."""
    import logging
    from importlib.metadata import version

    import openvino_xai as xai
    from openvino_xai.inserter.model_parser import IRParserCls, ModelType

    logging.getLogger("openvino_xai").setLevel(logging.WARNING)
    row: dict = {"openvino": ov.get_version(), "openvino_xai": version("openvino_xai")}
    core = ov.Core()
    plain = core.read_model(path)
    try:
        # The node insert_xai picks in auto mode, found by the same call it makes.
        target = IRParserCls.get_target_node(plain, ModelType.CNN)
        patched = xai.insert_xai(plain, task=xai.Task.CLASSIFICATION, explain_method=xai.Method.RECIPROCAM)
    except Exception as exc:
        row["error"] = first_line(exc)
        return row
    row["target"] = "x".join(str(d) for d in target.get_output_partial_shape(0)[1:])
    row["growth"] = ir_growth(plain, patched)
    # openvino_xai needs a dynamic batch to insert its branch and its maps are [1, ...]; batch 1 fixed
    # afterwards makes both compiled models static, as ours are.
    for model in (plain, patched):
        shape = model.input(0).get_partial_shape()
        shape[0] = 1
        model.reshape({model.input(0): shape})
    config = config_for(precision)
    image = np.load(image_path)
    try:
        row.update(
            interleaved(
                core.compile_model(plain, "CPU", config), core.compile_model(patched, "CPU", config), image, seconds
            )
        )
    except Exception as exc:
        row["error"] = first_line(exc)
    return row


# ---- torch worker (torch venv: torch, torchvision, pytorch-grad-cam) ----


def torch_worker(runs: int, score_runs: int) -> dict:
    """Per-image wall time of a plain forward, Grad-CAM and Score-CAM on random-weight torchvision ResNet-50."""
    from importlib.metadata import version

    import torch
    import torchvision
    from pytorch_grad_cam import GradCAM, ScoreCAM

    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    image = torch.randn(1, 3, 224, 224)
    target = [model.layer4[-1]]

    def median_ms(call, n: int, warm: bool) -> float:
        if warm:
            call()
        spent = []
        for _ in range(n):
            t0 = time.perf_counter()
            call()
            spent.append((time.perf_counter() - t0) * 1e3)
        return float(np.median(spent))

    def forward():
        with torch.no_grad():
            model(image)

    def cam_ms(method, n: int, warm: bool) -> float:
        cam = method(model=model, target_layers=target)
        try:
            return median_ms(lambda: cam(input_tensor=image, targets=None), n, warm)  # top-1 class
        finally:
            cam.activations_and_grads.release()  # its hooks would slow the next method's forwards

    return {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "grad_cam_version": version("grad-cam"),
        "threads": torch.get_num_threads(),
        "runs": runs,
        "score_runs": score_runs,
        "forward_ms": median_ms(forward, runs, warm=True),
        "grad_cam_ms": cam_ms(GradCAM, runs, warm=True),
        # 2048 channels = 128 forward batches of 16 per image: already a long, steady run, not warmed.
        "score_cam_ms": cam_ms(ScoreCAM, score_runs, warm=False),
    }


def run_worker(python: str, args: list[str], timeout: float) -> dict:
    """This script in worker mode under another venv's python; its last stdout line is JSON."""
    command = [python, str(Path(__file__).resolve()), *args]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=os.environ | {"TQDM_DISABLE": "1"}
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": first_line(exc)}
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        tail = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        return {"error": f"worker exit {done.returncode}: {tail[-1] if tail else 'no output'}"}
    return json.loads(lines[-1])


# ---- main (our venv) ----


def model_path(name: str) -> Path:
    if name.startswith("tv."):
        return ZOO_CACHE / f"{name}.onnx"
    if name.startswith("light_"):
        import onnx

        return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / f"{name}.onnx"
    if name == DOG.stem:
        return DOG
    raise SystemExit(f"unknown model {name}")


def ours(path: Path, image_path: Path, seconds: float, precision: str) -> dict:
    import ov_reciprocam as orc
    from ov_reciprocam.quality.bench import ir_growth, measure, random_input

    loaded = orc.read_model(path)
    # measure() runs on this same seeded input; the peer worker reads it from the file.
    np.save(image_path, random_input(loaded))
    t = orc.locate(loaded).target
    m = measure(path, seconds=seconds, batches=(1,), config=config_for(precision))[0]
    return {
        "target": f"{t.channels}x{t.height}x{t.width}",
        "plain_ms": m.plain_ms,
        "patched_ms": m.patched_ms,
        "ratio": m.ratio,
        "floor": m.floor,
        "path": m.path,
        "runs": m.runs,
        "growth": ir_growth(orc.read_model(path), orc.patch(path)),
    }


def size(n: int) -> str:
    for unit, scale in (("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:+.1f} {unit}"
    return f"{n:+d} B"


def row_cells(name: str, o: dict, p: dict, load: float) -> list[str]:
    cells = [name]
    if "error" in o:
        cells += [f"failed: {o['error']}", *[""] * 5]
    else:
        cells += [
            f"{o['target']} ({o['path']})",
            f"{o['plain_ms']:.1f}",
            f"{o['patched_ms']:.1f}",
            f"**{o['ratio']:.2f}**",
            f"{o['floor']:.2f}",
            size(o["growth"]),
        ]
    if "plain_ms" in p:
        cells += [
            p["target"],
            f"{p['plain_ms']:.1f}",
            f"{p['patched_ms']:.1f}",
            f"**{p['ratio']:.2f}**",
            size(p["growth"]),
        ]
    else:
        cells += [p.get("target", ""), "", "", "", f"error: {p['error']}".replace("|", "/")]
    return [*cells, f"{load:.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS, metavar="NAME", help=f"default: {' '.join(MODELS)}")
    parser.add_argument("--peer-python", default="/work/peer-venv/bin/python", help="python of the openvino_xai venv")
    parser.add_argument("--torch-python", help="python of a torch + grad-cam venv: adds the Grad-CAM/Score-CAM table")
    parser.add_argument("--seconds", type=float, default=10.0, help="timing budget per model and tool")
    parser.add_argument(
        "--precision",
        default="f32",
        choices=["f32", "bf16", "default"],
        help="CPU INFERENCE_PRECISION_HINT for ours and the peer alike",
    )
    parser.add_argument("--cam-runs", type=int, default=10, help="Grad-CAM and forward repetitions")
    parser.add_argument("--score-cam-runs", type=int, default=1, help="Score-CAM repetitions (about 8 min each here)")
    parser.add_argument("--worker", choices=["peer", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker == "peer":
        print(json.dumps(peer_worker(args.model, args.input, args.seconds, args.precision)))
        return
    if args.worker == "torch":
        print(json.dumps(torch_worker(args.cam_runs, args.score_cam_runs)))
        return

    import ov_reciprocam as orc

    started = datetime.datetime.now()
    load_start = os.getloadavg()
    rows, results, peer_versions = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            path, image = model_path(name), Path(tmp) / f"{name}.npy"
            print(f"{name}: ours...", file=sys.stderr, flush=True)
            try:
                o = ours(path, image, args.seconds, args.precision)
            except Exception as exc:
                o = {"error": first_line(exc)}
            print(f"{name}: openvino_xai...", file=sys.stderr, flush=True)
            if "error" in o:
                p = {"error": "not run"}
            else:
                worker = ["--worker", "peer", "--model", str(path), "--input", str(image)]
                p = run_worker(
                    args.peer_python,
                    [*worker, "--seconds", str(args.seconds), "--precision", args.precision],
                    timeout=20 * args.seconds + 300,
                )
            peer_versions.update({k: p.pop(k) for k in ("openvino", "openvino_xai") if k in p})
            results[name] = o
            rows.append(row_cells(name, o, p, os.getloadavg()[0]))
        cams = None
        if args.torch_python:
            if "plain_ms" not in results.get(GRAD_CAM_MODEL, {}):
                results[GRAD_CAM_MODEL] = ours(
                    model_path(GRAD_CAM_MODEL), Path(tmp) / "r50.npy", args.seconds, args.precision
                )
            print("pytorch-grad-cam...", file=sys.stderr, flush=True)
            worker = [
                "--worker",
                "torch",
                "--cam-runs",
                str(args.cam_runs),
                "--score-cam-runs",
                str(args.score_cam_runs),
            ]
            cams = run_worker(args.torch_python, worker, timeout=3600)
            cams["load"] = os.getloadavg()[0]

    command = " ".join(["python", "benchmarks/peer.py", *sys.argv[1:]])
    cpu = ov.Core().get_property("CPU", "FULL_DEVICE_NAME")
    print(f"{started:%Y-%m-%d %H:%M}: `{command}`\n")
    print(f"- CPU: {cpu}, {os.cpu_count()} logical cores, {platform.node()}")
    print(f"- ours: ov-reciprocam {orc.__version__}, OpenVINO {ov.get_version()}")
    print(
        f"- peer: openvino_xai {peer_versions.get('openvino_xai', '?')}, OpenVINO {peer_versions.get('openvino', '?')}"
    )
    print(
        f"- CPU plugin, batch 1, PERFORMANCE_HINT=LATENCY, INFERENCE_PRECISION_HINT={args.precision} for both tools;"
        f" {args.seconds:g} s of interleaved plain/patched rounds per model and tool"
    )
    print(
        f"- load average (1, 5, 15 min): {', '.join(f'{v:.1f}' for v in load_start)} at the start, "
        f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} at the end\n"
    )
    print(
        "| model | ours target (path) | ours plain ms | ours patched ms | ours ratio | ours floor | ours IR growth "
        "| peer target | peer plain ms | peer patched ms | peer ratio | peer IR growth or error | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    if cams is not None:
        print()
        if "error" in cams:
            print(f"pytorch-grad-cam: {cams['error']}")
            return
        ours_ms = results[GRAD_CAM_MODEL]["patched_ms"]
        print(
            f"ResNet-50 (torchvision, random weights), batch 1, 224 px, target layer4[-1]; torch {cams['torch']}, "
            f"torchvision {cams['torchvision']}, grad-cam {cams['grad_cam_version']}, {cams['threads']} threads, "
            f"f32; median of {cams['runs']} runs (Score-CAM: {cams['score_runs']}); load {cams['load']:.1f}\n"
        )
        print("| method | ms per image | x ours |")
        print("|---|---|---|")
        for label, ms in (
            ("torch forward only (no map)", cams["forward_ms"]),
            ("pytorch-grad-cam GradCAM (1 map)", cams["grad_cam_ms"]),
            ("pytorch-grad-cam ScoreCAM (1 map)", cams["score_cam_ms"]),
            ("ours plain (OpenVINO, no map)", results[GRAD_CAM_MODEL]["plain_ms"]),
            ("ours patched (prediction + 1000 maps)", ours_ms),
        ):
            print(f"| {label} | {ms:.1f} | {ms / ours_ms:.2f} |")


if __name__ == "__main__":
    main()
