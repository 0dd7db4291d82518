"""ViT-ReciproCAM on random-weight timm and torchvision transformers, each as ONNX and as an
`ov.convert_model` IR: target, exactness, batching, cost.

Opt-in, as benchmarks/zoo.py (torch, torchvision, timm, onnx):

    python benchmarks/vit_zoo.py [--only NAME ...] [--formats onnx ov] [--out docs/vit_zoo.md] [--seconds S]

Each model is exported twice (cached in --cache): ONNX opset 17 with a dynamic batch, and
`ov.convert_model(module, example_input=...)` saved as IR (convert_model leaves the image size open;
patch() fixes it from the position embeddings). Token models are checked against the brute force of
tests/vit_reference.py (which finds the last block on its own): the default maps (the closed form
where the head reads only prefix tokens) and the mosaic (fast=False). Hierarchical and hybrid models
(Swin, MobileViT) take the CNN path and are checked against tests/reference.py at the target found.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import openvino as ov
import timm
import torch
import torchvision
import zoo
from torchvision import models as tv

import ov_reciprocam as orc
from ov_reciprocam.methods.vit.family import TOKENS as TOKEN_FAMILY
from ov_reciprocam.methods.vit.family import recorded_prefix
from ov_reciprocam.model.reshape import set_input_shape
from ov_reciprocam.model.rt_info import PatchInfo
from ov_reciprocam.quality import bench
from ov_reciprocam.vocabulary import Layout

sys.path.insert(0, str(zoo.REPO / "tests" / "support"))
from reference import CONFIG, compile_f32, recipro_cam  # noqa: E402
from vit_reference import vit_recipro_cam  # noqa: E402


def _timm(name: str, **kwargs):
    return lambda: timm.create_model(name, pretrained=False, **kwargs)


# name -> (builder, input size, expected target (D or C, h, w), prefix tokens or None for the CNN path)
ZOO = {
    "timm.vit_tiny_patch16_224": (_timm("vit_tiny_patch16_224"), 224, (192, 14, 14), 1),
    "timm.vit_small_patch16_224": (_timm("vit_small_patch16_224"), 224, (384, 14, 14), 1),
    "timm.vit_base_patch16_224": (_timm("vit_base_patch16_224"), 224, (768, 14, 14), 1),
    "timm.deit_tiny_patch16_224": (_timm("deit_tiny_patch16_224"), 224, (192, 14, 14), 1),
    # CLS and distillation tokens; the two heads' logits are averaged.
    "timm.deit_small_distilled_patch16_224": (_timm("deit_small_distilled_patch16_224"), 224, (384, 14, 14), 2),
    # LayerScale after attention and MLP.
    "timm.deit3_small_patch16_224": (_timm("deit3_small_patch16_224"), 224, (384, 14, 14), 1),
    # The patch tokens' mean, after fc_norm: every token's output matters, so the mosaic runs.
    "timm.vit_small_patch16_224.avg": (_timm("vit_small_patch16_224", global_pool="avg"), 224, (384, 14, 14), 1),
    # No CLS token, mean pooling, 16x16 patches at 256 px.
    "timm.vit_medium_patch16_gap_256": (_timm("vit_medium_patch16_gap_256"), 256, (512, 16, 16), 0),
    # Relative position bias per head, mean pooling.
    "timm.beit_base_patch16_224": (_timm("beit_base_patch16_224"), 224, (768, 14, 14), 1),
    "tv.vit_b_16": (lambda: tv.vit_b_16(weights=None), 224, (768, 14, 14), 1),
    # Windowed tokens: the CNN path, the NHWC map after the last norm.
    "timm.swin_tiny_patch4_window7_224": (_timm("swin_tiny_patch4_window7_224"), 224, (768, 7, 7), None),
    "tv.swin_t": (lambda: tv.swin_t(weights=None), 224, (768, 7, 7), None),
    # Convolutions around its transformer blocks: the CNN path, the last 1x1 conv before pooling.
    "timm.mobilevit_s": (_timm("mobilevit_s"), 256, (640, 8, 8), None),
}
FORMATS = ("onnx", "ov")
# Lower than the CNN zoo's 8: at 8, random-weight ViT-B puts 0.99994 of the probability on one class
# for the checked image, and maps of a saturated softmax span ~1e-7, too little to check exactness against.
LOGIT_STD = 3.0


def export(name: str, fmt: str, cache: Path) -> Path:
    path = cache / (f"{name}.onnx" if fmt == "onnx" else f"{name}.ov.xml")
    if path.exists():
        return path
    build, size, _, _ = ZOO[name]
    torch.manual_seed(0)
    model = zoo.liven(build().eval(), size, LOGIT_STD)
    example = torch.randn(1, 3, size, size)
    cache.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "onnx":
            partial = path.with_suffix(".tmp")
            torch.onnx.export(
                model,
                example,
                partial,
                dynamo=False,
                opset_version=17,
                input_names=["image"],
                output_names=["logits"],
                dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            )
            partial.rename(path)
        else:
            # torchvision's ViT fails torch.jit.trace's own re-trace check; the traced graph is sound.
            traced = torch.jit.trace(model, example, check_trace=False)
            ov.save_model(ov.convert_model(traced, example_input=example), path)
    return path


def _tokens(path: Path):
    """The transformer family's reading of the model (its blocks and prefix), or None."""
    found = TOKEN_FAMILY.locate(orc.read_model(path), orc.PatchOptions())
    return found.own if found else None


def input_options(path: Path, size: int) -> dict:
    """Patch options for a model whose input size `ov.convert_model` left open: patch() fixes a transformer's
    from its position embeddings; the CNN path needs it given, as `--input-shape` does."""
    shape = orc.read_model(path).get_parameters()[0].get_partial_shape()
    if all(d.is_static for d in shape[2:]) or _tokens(path):
        return {}
    return {"input_shape": (-1, 3, size, size)}


def check(name: str, path: Path, sized: dict) -> dict:
    """Target, exactness and batching; `sized` as `input_options` gives it."""
    _, size, expected, prefix = ZOO[name]
    model = orc.read_model(path)
    if sized:
        set_input_shape(model, sized["input_shape"])
    found = orc.patch(path, normalize=False, **sized)
    read = PatchInfo.read(found)
    one = zoo.images(size, 1)
    if read.layout == Layout.TOKENS:
        h, w = read.feature_shape[1:]
        reference = vit_recipro_cam(model, one, h, w)
    else:  # by op type and shape: a fused norm's generated name differs from one read to the next
        kind = orc.locate(model).target.output.get_node().get_type_name()
        reference = recipro_cam(model, one, (kind, tuple(read.feature_shape)), layout=read.layout)
    maps = compile_f32(found)(one)[orc.SALIENCY][0]
    mosaic = compile_f32(orc.patch(path, normalize=False, fast=False, **sized))(one)[orc.SALIENCY][0]
    batched_model = compile_f32(orc.patch(path, **sized))
    three = zoo.images(size, 3, seed=1)
    batched = batched_model(three)[orc.SALIENCY]
    alone = np.concatenate([batched_model(three[i : i + 1])[orc.SALIENCY] for i in range(3)])
    tokens = _tokens(path) if read.layout == Layout.TOKENS else None
    prefix_found = recorded_prefix(read) if tokens else None
    return {
        "target": read.target,
        "layout": read.layout,
        "shape": tuple(read.feature_shape),
        "prefix": prefix_found,
        "blocks": len(tokens.blocks) if tokens else None,
        "target_ok": tuple(read.feature_shape) == expected and prefix_found == prefix,
        "path": found.get_rt_info(["ov_reciprocam", "path"]).astype(str),
        "error": zoo._max_diff(maps, reference),
        "mosaic_error": zoo._max_diff(mosaic, reference),
        "spread": float(np.ptp(reference, axis=(1, 2)).max()),
        "batch_diff": zoo._max_diff(batched, alone),
    }


def cost(path: Path, sized: dict, seconds: float, mosaic: bool) -> dict:
    row = {}
    variants = [("f32", CONFIG, {}), ("default", {}, {})] + ([("mosaic", CONFIG, {"fast": False})] if mosaic else [])
    for label, config, options in variants:
        (m,) = bench.measure(
            path, seconds=seconds, config=config, patch_options=orc.PatchOptions.of(**sized, **options)
        )
        row.update({f"{label}_plain_ms": m.plain_ms, f"{label}_ratio": m.ratio, f"{label}_floor": m.floor})
    return row


def measure(name: str, fmt: str, cache: Path, seconds: float, mosaic: bool) -> dict:
    """One table row."""
    row: dict = {"name": name, "format": fmt, "expected": ZOO[name][2], "expected_prefix": ZOO[name][3]}
    sized: dict = {}  # found once the model is exported, for both check and cost

    def checked(path: Path) -> dict:
        sized.update(input_options(path, ZOO[name][1]))
        return check(name, path, sized)

    return zoo.run_stages(
        row, lambda: export(name, fmt, cache), checked, lambda path: cost(path, sized, seconds, mosaic)
    )


def markdown(rows: list[dict], command: str, total: float, seconds: float) -> str:
    cpu = ov.Core().get_property("CPU", "FULL_DEVICE_NAME")
    done = [r for r in rows if "path" in r]
    lines = [
        "# Transformer zoo",
        "",
        f"`{command}` in {total / 60:.1f} min on {cpu} (2 cores), ov-reciprocam {orc.__version__} at "
        f"{zoo._revision()}, OpenVINO {ov.get_version()}, torch {torch.__version__}, torchvision "
        f"{torchvision.__version__}, timm {timm.__version__}.",
        "",
        f"Random weights re-initialised by `benchmarks/zoo.py`'s `liven()`, logit std {LOGIT_STD:g}. *onnx*: opset 17,",
        "dynamic batch; *ov*: `ov.convert_model` on the traced module, saved as IR (FP16-compressed weights).",
        "",
        "- *target*: (D, h, w) of the last block's input and the prefix tokens P, or (C, H, W) of a CNN-path map",
        "  (P blank); *path*: rt_info `path` (`tokens_prefix`: the closed form; `tokens`: the mosaic).",
        "- *error*: max |patched - brute force| of raw softmax maps (`tests/vit_reference.py` for token models,",
        "  `tests/reference.py` for the CNN path), one random image; *mosaic error*: the same with `fast=False`;",
        "  *spread*: the largest per-class range of the reference maps.",
        "- *b3 vs b1*: max |normalized maps of a batch of 3 - each image alone|.",
        f"- cost: `ov_reciprocam.bench.measure`, {seconds:g} s of batch-1 pairs per variant, interleaved; *ratio* =",
        "  patched / plain median; *floor*: 1 + the MACs the path must add / the model's; *f32* and *default*",
        "  precision; *mosaic*: the f32 ratio with `fast=False`, for comparison.",
        "",
        f"- exact (both errors <= min({zoo.ERROR_LIMIT:g}, spread/100)): {sum(zoo.exact(r) for r in done)}/{len(rows)};"
        f" expected target: {sum(r.get('target_ok', False) for r in rows)}/{len(rows)};"
        f" b3 vs b1 <= {zoo.BATCH_LIMIT:g}: {sum(r['batch_diff'] <= zoo.BATCH_LIMIT for r in done)}/{len(rows)}",
        "",
        "| model | format | target | P | blocks | as expected | path | error | mosaic error | spread | b3 vs b1 "
        "| plain ms f32 | ratio f32 | floor | ratio default | ratio mosaic | floor mosaic | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r["name"], r["format"]]
        if "path" not in r:
            cells += [f"failed: {r['failure']}", *[""] * 15]
        else:
            cells += [
                f"`{r['target']}` {', '.join(map(str, r['shape']))}",
                "" if r["prefix"] is None else r["prefix"],
                r["blocks"] or "",
                "yes" if r["target_ok"] else f"**NO**, expected {r['expected']} P={r['expected_prefix']}",
                r["path"],
                f"{r['error']:.1e}",
                f"{r['mosaic_error']:.1e}",
                f"{r['spread']:.2g}",
                f"{r['batch_diff']:.1e}",
            ]
            if "failure" in r:
                cells += [f"failed: {r['failure']}", *[""] * 5]
            else:
                cells += [
                    f"{r['f32_plain_ms']:.1f}",
                    f"{r['f32_ratio']:.3f}",
                    f"{r['f32_floor']:.3f}",
                    f"{r['default_ratio']:.3f}",
                    f"{r['mosaic_ratio']:.2f}" if "mosaic_ratio" in r else "",
                    f"{r['mosaic_floor']:.2f}" if "mosaic_floor" in r else "",
                ]
        cells.append(f"{r['seconds']:.0f}")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(ZOO), metavar="NAME")
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--out", type=Path, default=zoo.REPO / "docs" / "vit_zoo.md")
    parser.add_argument("--cache", type=Path, default=zoo.DEFAULT_CACHE)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--mosaic", nargs="*", default=[], metavar="NAME", help="also time the mosaic of these")
    args = parser.parse_args()
    start = time.perf_counter()
    rows = []
    for name in args.only or ZOO:
        for fmt in args.formats:
            row = measure(name, fmt, args.cache, args.seconds, name in args.mosaic)
            rows.append(row)
            print(f"{name} {fmt}: {row.get('failure') or row.get('path')} ({row['seconds']:.0f} s)", flush=True)
    command = " ".join(["python", "benchmarks/vit_zoo.py", *sys.argv[1:]])
    args.out.write_text(markdown(rows, command, time.perf_counter() - start, args.seconds))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
