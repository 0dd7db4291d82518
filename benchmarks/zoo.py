"""Recipro-CAM on 36 random-weight torchvision and timm classifiers: target, exactness, batching, cost.

Opt-in: it needs torch, torchvision, timm and onnx, which the package itself does not. In a venv of
their own (pip install torch torchvision timm onnx onnxscript && pip install -e .):

    python benchmarks/zoo.py [--only NAME ...] [--out docs/zoo.md] [--cache DIR] [--seconds S]

Each model is exported to ONNX with a dynamic batch (cached in --cache), patched in auto mode, and
measured: the target the locator picks against the shape we expect, the largest difference from a
brute-force Recipro-CAM (tests/reference.py) of the default maps and of the masked-copies mosaic
(fast=False), batch-of-3 maps against each image alone, the patched/plain latency on CPU (with
`ov_reciprocam.bench`, in f32, in the device's default precision, and for top-5 logit maps), and
how much the IR (.xml + .bin) grows. No weights are downloaded.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import openvino as ov
import timm
import torch
import torchvision
from torch import nn
from torchvision import models as tv

import ov_reciprocam as orc
from ov_reciprocam.quality import bench

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "support"))
from reference import CONFIG, compile_f32, recipro_cam  # noqa: E402

DEFAULT_CACHE = Path("/work/zoo_cache")
# Unmasked logits get this standard deviation across classes: large enough for the softmax of the
# masked copies to vary by position, which is what the exactness check compares.
LOGIT_STD = 8.0
ERROR_LIMIT = 1e-4
BATCH_LIMIT = 1e-5


def _timm(name: str):
    return lambda: timm.create_model(name, pretrained=False)


def _timm_resnet18_mlp() -> nn.Module:
    model = timm.create_model("resnet18", pretrained=False)
    model.fc = nn.Sequential(nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 1000))
    return model


# name -> (builder, input size, expected target (C, H, W)): the output of the last conv block, the
# tensor that global pooling or flatten reads. Stride-32 backbones give 7x7 at 224 px.
ZOO = {
    # Bottleneck ResNets end in layer4 with 4 * 512 channels; wide_resnet50_2 widens only the 3x3 convs.
    "tv.resnet18": (lambda: tv.resnet18(weights=None), 224, (512, 7, 7)),
    "tv.resnet50": (lambda: tv.resnet50(weights=None), 224, (2048, 7, 7)),
    "tv.resnext50_32x4d": (lambda: tv.resnext50_32x4d(weights=None), 224, (2048, 7, 7)),
    "tv.wide_resnet50_2": (lambda: tv.wide_resnet50_2(weights=None), 224, (2048, 7, 7)),
    # pool5. The AdaptiveAvgPool2d(7) after it keeps the shape, so the target may be its output.
    "tv.vgg16": (lambda: tv.vgg16(weights=None), 224, (512, 7, 7)),
    "tv.vgg16_bn": (lambda: tv.vgg16_bn(weights=None), 224, (512, 7, 7)),
    # 224 -> conv11/4 55 -> pool 27 -> pool 13 -> pool5 6.
    "tv.alexnet": (lambda: tv.alexnet(weights=None), 224, (256, 6, 6)),
    # fire9 (2 * 256): conv3/2 111 -> ceil pools 55, 27, 13. conv10 (1000 x 13 x 13) already scores classes.
    "tv.squeezenet1_1": (lambda: tv.squeezenet1_1(weights=None), 224, (512, 13, 13)),
    "tv.densenet121": (lambda: tv.densenet121(weights=None), 224, (1024, 7, 7)),
    "tv.mobilenet_v2": (lambda: tv.mobilenet_v2(weights=None), 224, (1280, 7, 7)),
    # The last conv is 6 * 160 (large) or 6 * 96 (small) wide; the 1280/1024 Linear comes after pooling.
    "tv.mobilenet_v3_large": (lambda: tv.mobilenet_v3_large(weights=None), 224, (960, 7, 7)),
    "tv.mobilenet_v3_small": (lambda: tv.mobilenet_v3_small(weights=None), 224, (576, 7, 7)),
    "tv.efficientnet_b0": (lambda: tv.efficientnet_b0(weights=None), 224, (1280, 7, 7)),
    "tv.efficientnet_v2_s": (lambda: tv.efficientnet_v2_s(weights=None), 224, (1280, 7, 7)),
    # Stage widths 48, 104, 208, 440.
    "tv.regnet_y_400mf": (lambda: tv.regnet_y_400mf(weights=None), 224, (440, 7, 7)),
    "tv.shufflenet_v2_x1_0": (lambda: tv.shufflenet_v2_x1_0(weights=None), 224, (1024, 7, 7)),
    "tv.mnasnet1_0": (lambda: tv.mnasnet1_0(weights=None), 224, (1280, 7, 7)),
    # inception5b: 384 + 384 + 128 + 128; ceil-mode pools 112 -> 56 -> 28 -> 14 -> 7.
    "tv.googlenet": (lambda: tv.googlenet(weights=None, aux_logits=False, init_weights=True), 224, (1024, 7, 7)),
    # Mixed_7c: 320 + 768 + 768 + 192; 299 -> 149 -> 147 -> 73 -> 71 -> 35 -> 17 -> 8.
    "tv.inception_v3": (lambda: tv.inception_v3(weights=None, aux_logits=False, init_weights=True), 299, (2048, 8, 8)),
    # Stage 4 is 768 wide; the head's LayerNorm2d comes after pooling.
    "tv.convnext_tiny": (lambda: tv.convnext_tiny(weights=None), 224, (768, 7, 7)),
    "timm.resnet50d": (_timm("resnet50d"), 224, (2048, 7, 7)),
    "timm.efficientnet_b0": (_timm("efficientnet_b0"), 224, (1280, 7, 7)),
    # timm's MobileNetV3 and GhostNet pool before conv_head (960 -> 1280), so the target is the 960 map.
    "timm.mobilenetv3_large_100": (_timm("mobilenetv3_large_100"), 224, (960, 7, 7)),
    "timm.ghostnet_100": (_timm("ghostnet_100"), 224, (960, 7, 7)),
    "timm.rexnet_100": (_timm("rexnet_100"), 224, (1280, 7, 7)),
    # Its default is 256 px; at 224 the stride-32 map is 7x7.
    "timm.cspdarknet53": (_timm("cspdarknet53"), 224, (1024, 7, 7)),
    # level5 is 512 wide; the classifier is a 1x1 conv on the pooled [B, 512, 1, 1].
    "timm.dla34": (_timm("dla34"), 224, (512, 7, 7)),
    # Width multiplier 2.75 on the last 512-wide stage.
    "timm.repvgg_a2": (_timm("repvgg_a2"), 224, (1408, 7, 7)),
    "timm.mixnet_s": (_timm("mixnet_s"), 224, (1536, 7, 7)),
    "timm.res2net50_26w_4s": (_timm("res2net50_26w_4s"), 224, (2048, 7, 7)),
    # conv5: 512 residual + 3 * 64 dense channels from its first block, + 64 from each of the other two.
    "timm.dpn68": (_timm("dpn68"), 224, (832, 7, 7)),
    # The branches are summed down to stride 32, then final_layer widens to 2048 before pooling.
    "timm.hrnet_w18_small": (_timm("hrnet_w18_small"), 224, (2048, 7, 7)),
    "timm.regnetx_002": (_timm("regnetx_002"), 224, (368, 7, 7)),
    "timm.tf_efficientnet_lite0": (_timm("tf_efficientnet_lite0"), 224, (1280, 7, 7)),
    "timm.resnet18": (_timm("resnet18"), 224, (512, 7, 7)),
    "timm.resnet18_mlp": (_timm_resnet18_mlp, 224, (512, 7, 7)),
}


def liven(model: nn.Module, size: int, logit_std: float = LOGIT_STD) -> nn.Module:
    """Give a random-weight model varied, well-scaled logits, whatever its library's init did.

    Library inits are made for training, not for a forward pass: zero-init residual gammas, std-0.01
    heads and fan-out depthwise inits leave logits nearly constant (std 6e-6 on timm's
    efficientnet_b0), and Recipro-CAM maps of constant logits are flat, so exactness would prove
    nothing. He-normal convs and Linears keep activations O(1) through ReLU stacks; batch norm
    statistics are then measured on random images; the last layer is scaled to `logit_std`.
    """
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
            m.reset_running_stats()
            m.momentum = None  # a plain average over the calibration batch
    images = torch.randn(8, 3, size, size)
    with torch.no_grad():
        model.train()
        model(images)
        model.eval()
        # The last conv or Linear registered is the classifier in every model here; the logits are
        # positively homogeneous in it (SqueezeNet's conv10 is followed by ReLU and pooling only).
        last = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))][-1]
        scale = logit_std / float(model(images).std())
        last.weight.mul_(scale)
        if last.bias is not None:
            last.bias.mul_(scale)
    return model


def export(name: str, cache: Path) -> Path:
    """The model as ONNX with a dynamic batch axis, exported once per cache directory."""
    path = cache / f"{name}.onnx"
    if path.exists():
        return path
    build, size, _ = ZOO[name]
    torch.manual_seed(0)
    model = liven(build().eval(), size)
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".onnx.tmp")
    # The TorchScript exporter takes one dynamic batch axis the same way for every model here. It is
    # deprecated, not broken, and says so twice per model.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            torch.randn(1, 3, size, size),
            partial,
            dynamo=False,
            opset_version=17,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        )
    partial.rename(path)
    return path


def images(size: int, count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal([count, 3, size, size]).astype(np.float32)


def check(name: str, path: Path) -> dict:
    """Target, exactness and batching, the checks tests/test_zoo.py asserts."""
    _, size, expected = ZOO[name]
    target = orc.locate(orc.read_model(path)).target
    one = images(size, 1)
    # Exactness at the target auto mode picked; `shape_ok` checks that target against the expected one.
    reference = recipro_cam(path, one, target.name, layout=target.layout)
    fast = orc.patch(path, normalize=False)
    maps = compile_f32(fast)(one)[orc.SALIENCY][0]
    # patch() takes an exact shortcut for pooled and flatten+linear tails, as every model here has; the
    # masked-copies mosaic it falls back to elsewhere must stay exact on them too.
    mosaic = compile_f32(orc.patch(path, normalize=False, fast=False))(one)[orc.SALIENCY][0]
    # The default output, as users get it: normalized, dynamic batch.
    batched_model = compile_f32(orc.patch(path))
    three = images(size, 3, seed=1)
    batched = batched_model(three)[orc.SALIENCY]
    alone = np.concatenate([batched_model(three[i : i + 1])[orc.SALIENCY] for i in range(3)])
    return {
        "target": target.name,
        "op": target.output.get_node().get_type_name(),
        "layout": target.layout,
        "shape": target.shape,
        "shape_ok": target.shape == tuple(expected),
        "path": fast.get_rt_info(["ov_reciprocam", "path"]).astype(str),
        "error": _max_diff(maps, reference),
        "mosaic_error": _max_diff(mosaic, reference),
        # Largest per-class range of the reference maps: the error must be small against it.
        "spread": float(np.ptp(reference, axis=(1, 2)).max()),
        "batch_diff": _max_diff(batched, alone),
    }


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")


def exact(row: dict) -> bool:
    return max(row["error"], row["mosaic_error"]) <= min(ERROR_LIMIT, row["spread"] / 100)


# Latency variants: (label, compile config, patch options). f32 is what the exactness checks use; the
# device default is what an application gets (bf16 on CPUs with AMX or AVX-512 bf16); top-5 logits is the light option.
VARIANTS = (
    ("f32", CONFIG, {}),
    ("default", {}, {}),
    ("top5", CONFIG, {"top_k": 5, "score": "logits"}),
)


def cost(path: Path, seconds: float) -> dict:
    growth = bench.ir_growth(orc.read_model(path), orc.patch(path))
    row: dict = {"growth": growth}
    for label, config, options in VARIANTS:
        (m,) = bench.measure(path, seconds=seconds, config=config, patch_options=orc.PatchOptions.of(**options))
        row.update({f"{label}_plain_ms": m.plain_ms, f"{label}_ratio": m.ratio, f"{label}_floor": m.floor})
    # Anything else running on the 2 cores slows both variants: the ratio survives it, milliseconds less so.
    row["load"] = os.getloadavg()[0]
    return row


def measure(name: str, cache: Path, seconds: float) -> dict:
    """One table row."""
    row: dict = {"name": name, "size": ZOO[name][1], "expected": ZOO[name][2]}
    return run_stages(
        row, lambda: export(name, cache), lambda path: check(name, path), lambda path: cost(path, seconds)
    )


def run_stages(
    row: dict, export: Callable[[], Path], check: Callable[[Path], dict], cost: Callable[[Path], dict]
) -> dict:
    """Export, check and time one model into `row`; a failure is recorded with the stage it happened in, not raised."""
    start = time.perf_counter()
    stage = "export"
    try:
        path = export()
        stage = "check"
        row.update(check(path))
        stage = "cost"
        row.update(cost(path))
    except Exception as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()] or [type(exc).__name__]
        row["failure"] = f"{stage}: {type(exc).__name__}: {lines[0]}"
    row["seconds"] = time.perf_counter() - start
    return row


def _revision() -> str:
    """The package's commit, and whether its files differ from it: the run measures the work tree."""
    git = ["git", "-C", str(REPO)]
    try:
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run([*git, "status", "--porcelain", "ov_reciprocam"], capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")


def _median(rows: list[dict], key: str) -> str:
    values = [r[key] for r in rows if key in r]
    return f"{statistics.median(values):.3f}" if values else "n/a"


def markdown(rows: list[dict], command: str, revision: str, total: float, seconds: float) -> str:
    cpu = ov.Core().get_property("CPU", "FULL_DEVICE_NAME")
    done = [r for r in rows if "path" in r]  # the checks ran
    counts = {
        "target shape as expected": sum(r.get("shape_ok", False) for r in rows),
        f"maps equal the brute-force reference, shortcut and mosaic (error <= min({ERROR_LIMIT:g}, spread/100))": sum(
            exact(r) for r in done
        ),
        f"batch of 3 equals each image alone (<= {BATCH_LIMIT:g})": sum(r["batch_diff"] <= BATCH_LIMIT for r in done),
    }
    lines = [
        "# Zoo benchmark",
        "",
        f"{datetime.date.today().isoformat()}: `{command}` in {total / 60:.1f} min on {cpu} (2 cores), "
        f"ov-reciprocam {orc.__version__} at {revision}, OpenVINO {ov.get_version()}, torch {torch.__version__}, "
        f"torchvision {torchvision.__version__}, timm {timm.__version__}.",
        "",
        "Random weights (no downloads), re-initialised by `liven()` so that logits vary: He-normal convs and "
        f"Linears, batch norm calibrated on 8 random images, the last layer scaled to a logit std of {LOGIT_STD:g} "
        "on them. ONNX export with a dynamic batch; `patch()` in auto mode.",
        "",
        "- *shape*: the target's (C, H, W) against the one expected from the architecture (the output of",
        "  the last conv block); *path*: how `patch()` scores the masked copies (rt_info `path`).",
        "- *error*: max |patched - brute force| of raw softmax maps (normalize=False, one random image);",
        "  *mosaic error*: the same with `fast=False`; *spread*: the largest per-class range of those maps.",
        "- *b3 vs b1*: max |maps of a batch of 3 - each image alone|, default normalized output.",
        f"- cost: `ov_reciprocam.bench.measure`, {seconds:g} s of batch-1 plain/patched pairs per variant, the",
        "  order swapped every pair; *ratio* = median patched ms / median plain ms. *floor*: 1 + the MACs the",
        "  saliency branch must add / the model's MACs. *f32*: f32 inference precision, default maps (softmax,",
        "  every class). *default*: the same maps in the device's default precision (bf16 on CPUs with AMX or",
        "  AVX-512 bf16).",
        "  *top-5 logits*: f32, `top_k=5, score='logits'`, whose last linear layer computes 5 classes per copy.",
        "  *load*: the machine's 1-minute load average after the row (other processes slow both alike).",
        "- *IR growth*: patched minus plain IR (.xml + .bin), both saved without FP16 compression.",
        "",
        *[f"- {label}: {n}/{len(rows)}" for label, n in counts.items()],
        f"- median ratio: f32 {_median(rows, 'f32_ratio')} (median floor {_median(rows, 'f32_floor')}), "
        f"default precision {_median(rows, 'default_ratio')}, top-5 logits {_median(rows, 'top5_ratio')} "
        f"(median floor {_median(rows, 'top5_floor')})",
        "",
        "| model | input | target | layout | C, H, W | shape | path | error | mosaic error | spread | exact "
        "| b3 vs b1 | plain ms f32 | ratio f32 | floor | ratio default | plain ms default | ratio top-5 logits "
        "| floor top-5 | load | IR growth | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r["name"], r["size"]]
        if "path" not in r:
            cells += [f"failed: {r['failure']}", *[""] * 18]
        else:
            expected = ", ".join(map(str, r["expected"]))
            cells += [
                f"`{r['target']}` ({r['op']})",
                r["layout"],
                ", ".join(map(str, r["shape"])),
                "yes" if r["shape_ok"] else f"**NO**, expected {expected}",
                r["path"],
                f"{r['error']:.1e}",
                f"{r['mosaic_error']:.1e}",
                f"{r['spread']:.2g}",
                "yes" if exact(r) else "**NO**",
                f"{r['batch_diff']:.1e}",
            ]
            if "failure" in r:
                cells += [f"failed: {r['failure']}", *[""] * 8]
            else:
                cells += [
                    f"{r['f32_plain_ms']:.1f}",
                    f"{r['f32_ratio']:.3f}",
                    f"{r['f32_floor']:.3f}",
                    f"{r['default_ratio']:.3f}",
                    f"{r['default_plain_ms']:.1f}",
                    f"{r['top5_ratio']:.3f}",
                    f"{r['top5_floor']:.3f}",
                    f"{r['load']:.1f}",
                    f"{r['growth']:,} B",
                ]
        cells.append(f"{r['seconds']:.0f}")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(ZOO), metavar="NAME", help="models to run (default: all)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "zoo.md")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where exported ONNX models are kept")
    parser.add_argument("--seconds", type=float, default=4.0, help="timing per model and variant")
    args = parser.parse_args()
    start = time.perf_counter()
    revision = _revision()  # before the run: the work tree may change under a long one
    rows = []
    for name in args.only or ZOO:
        row = measure(name, args.cache, args.seconds)
        rows.append(row)
        print(f"{name}: {row.get('failure') or 'ok'} ({row['seconds']:.0f} s)", flush=True)
    command = " ".join(["python", "benchmarks/zoo.py", *sys.argv[1:]])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(rows, command, revision, time.perf_counter() - start, args.seconds))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
