"""Which detector structures `ov_reciprocam.patch` recognises, on random-weight torchvision and Ultralytics models.

Opt-in, like benchmarks/zoo.py (whose helpers it imports): it needs torch, torchvision, timm and onnx, and
ultralytics for the YOLO rows (skipped when it is missing). In that venv, with `pip install -e .`:

    python benchmarks/detector_zoo.py [--only NAME ...] [--out FILE] [--cache DIR]

Each model is built with random weights (nothing downloaded), exported to ONNX at a fixed batch of 1 and a fixed
input size (a detector's anchors need one), and patched. A row records the detector kind, cut and copy grid the
package reads from the graph, or its one-line refusal; for a recognised detector, the light check below. Exports
are cached in --cache.

The light check (no brute-force reference exists outside the three sample detectors): the output read as the
scores is the class-score output as built (its width); on one random image, in f32, the patched model's original
outputs equal the plain model's bit for bit, and `saliency_map` has the shape [1, K, h, w] of the copy grid, is
finite, lies in [0, 1] and is not flat everywhere. The patch uses `score_threshold=0`, so that random weights still
select K detections. It cannot tell whether a map is right: only the reference can, and for the layout it knows
(Ultralytics' [N, 4 + C, A]: the YOLO rows) it does: on samples/images/horses.jpg, letterboxed as Ultralytics does,
tests/support/detection_reference.py's own decode and NMS must give the patched model's detections, and its masked
copies run one at a time, cut at the tensors the package chose, its maps (tests/support/tolerance.py's rule).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import openvino as ov
import torch
import torchvision
from torch import nn
from torchvision.models import detection as tvd

import ov_reciprocam as orc
from ov_reciprocam.errors import ReciproCamError
from ov_reciprocam.methods.detection.locate import FoundDetector, locate_detector
from ov_reciprocam.vocabulary import DetectorKind

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo import images, run_stages  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "support"))
from reference import compile_f32  # noqa: E402
from tolerance import assert_maps_match  # noqa: E402

sys.path.insert(0, str(REPO))
from tests.support import detection_reference as ref  # noqa: E402

DEFAULT_CACHE = Path("/work/zoo_cache/detectors")
SIZE = 320
CHECK_OPTIONS = orc.DetectionOptions(score_threshold=0.0)
PHOTO = REPO / "samples" / "images" / "horses.jpg"  # the exactness check's input
HAS_ULTRALYTICS = importlib.util.find_spec("ultralytics") is not None


class RawHead(nn.Module):
    """A torchvision one-stage detector cut before its postprocess: backbone (+ FPN) and head, returning the head's
    raw per-anchor outputs as torchvision's head computes them (the input already normalised)."""

    def __init__(self, model: nn.Module, keys: tuple[str, ...]) -> None:
        super().__init__()
        self.backbone, self.head, self.keys = model.backbone, model.head, keys

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = list(self.backbone(image).values())
        out = self.head(features)
        return tuple(out[k] for k in self.keys)


class FirstImage(nn.Module):
    """A torchvision detector whole, postprocess included, on one image: its boxes, scores and labels."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        found = self.model(image)[0]
        return found["boxes"], found["scores"], found["labels"]


class YoloExport(nn.Module):
    """An Ultralytics DetectionModel in export mode: its one output [N, 4 + C, A], xywh boxes in input pixels and
    sigmoid class scores, as `model.export(format="onnx")` writes it.

    Its convolutions are drawn again, He-normal: under Ultralytics' own initialisation the activations fade to 1e-8
    by the SPPF, every class score is its bias's sigmoid whatever the image, and every map is flat. The DFL's fixed
    convolution (0..15) is left as it is.
    """

    def __init__(self, yaml: str) -> None:
        super().__init__()
        from ultralytics import YOLO

        self.model = YOLO(yaml).model.eval()
        for name, module in self.model.named_modules():
            if isinstance(module, nn.Conv2d) and ".dfl." not in f".{name}.":
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        head = self.model.model[-1]
        head.export, head.format = True, "onnx"

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out = self.model(image)
        return out[0] if isinstance(out, (tuple, list)) else out


def _tv(name: str, **kwargs: object) -> Callable[[], nn.Module]:
    return lambda: getattr(tvd, name)(weights=None, weights_backbone=None, **kwargs)


def _full(name: str, **kwargs: object) -> Callable[[], nn.Module]:
    return lambda: FirstImage(_tv(name, **kwargs)())


def _raw(name: str, keys: tuple[str, ...], **kwargs: object) -> Callable[[], nn.Module]:
    return lambda: RawHead(_tv(name, **kwargs)(), keys)


FULL = "whole, by ov.convert_model"
RAW = "ONNX of backbone + head"
YOLO = "ONNX of the export-mode model"
SMALL = {"min_size": SIZE, "max_size": SIZE}
SSD_KEYS = ("bbox_regression", "cls_logits")
# name -> (source, export, builder, input size, width of the class-score output as built)
ZOO: dict[str, tuple[str, str, Callable[[], nn.Module], int, int]] = {
    "ssdlite320_mobilenet_v3_large": ("torchvision", FULL, _full("ssdlite320_mobilenet_v3_large"), 320, 91),
    "ssd300_vgg16": ("torchvision", FULL, _full("ssd300_vgg16"), 300, 91),
    "retinanet_resnet50_fpn": ("torchvision", FULL, _full("retinanet_resnet50_fpn", **SMALL), SIZE, 91),
    "fcos_resnet50_fpn": ("torchvision", FULL, _full("fcos_resnet50_fpn", **SMALL), SIZE, 91),
    "fasterrcnn_mobilenet_v3_large_320_fpn": (
        "torchvision",
        FULL,
        _full("fasterrcnn_mobilenet_v3_large_320_fpn"),
        320,
        91,
    ),
    "ssdlite320_mobilenet_v3_large.raw": (
        "torchvision",
        RAW,
        _raw("ssdlite320_mobilenet_v3_large", SSD_KEYS),
        320,
        91,
    ),
    "ssd300_vgg16.raw": ("torchvision", RAW, _raw("ssd300_vgg16", SSD_KEYS), 300, 91),
    # Two classes: the logits are narrower than the 4 regressors, as BlazeFace's are.
    "ssd300_vgg16.raw.2cls": ("torchvision", RAW, _raw("ssd300_vgg16", SSD_KEYS, num_classes=2), 300, 2),
    "retinanet_resnet50_fpn.raw": ("torchvision", RAW, _raw("retinanet_resnet50_fpn", SSD_KEYS, **SMALL), SIZE, 91),
    "yolov5n": ("ultralytics yolov5n.yaml", YOLO, lambda: YoloExport("yolov5n.yaml"), SIZE, 80),
    "yolov8n": ("ultralytics yolov8n.yaml", YOLO, lambda: YoloExport("yolov8n.yaml"), SIZE, 80),
    "yolo11n": ("ultralytics yolo11n.yaml", YOLO, lambda: YoloExport("yolo11n.yaml"), SIZE, 80),
}


def available(name: str) -> bool:
    return HAS_ULTRALYTICS or not ZOO[name][0].startswith("ultralytics")


def export(name: str, cache: Path) -> Path:
    """The model at batch 1 and its input size fixed, exported once per cache directory: whole torchvision detectors
    by `ov.convert_model` (OpenVINO's ONNX reader fails on the ONNX export of their postprocess), the rest as ONNX."""
    _, how, build, size, _ = ZOO[name]
    path = cache / f"{name}.{'xml' if how == FULL else 'onnx'}"
    if path.exists():
        return path
    torch.manual_seed(0)
    model = build().eval()
    cache.mkdir(parents=True, exist_ok=True)
    if how == FULL:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            converted = ov.convert_model(model, example_input=torch.randn(1, 3, size, size))
        partial = path.with_suffix(".tmp.xml")
        ov.save_model(converted, partial, compress_to_fp16=False)
        partial.with_suffix(".bin").rename(path.with_suffix(".bin"))
        partial.rename(path)  # last: the .xml marks the export done
        return path
    partial = path.with_suffix(".onnx.tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript exporter deprecation and tracer warnings
        torch.onnx.export(
            model, torch.randn(1, 3, size, size), partial, dynamo=False, opset_version=17, input_names=["image"]
        )
    partial.rename(path)
    return path


def _shapes(model: ov.Model) -> str:
    return "; ".join(f"[{', '.join(str(d) for d in o.get_partial_shape())}]" for o in model.outputs)


def check(name: str, path: Path) -> dict:
    """What the package reads from the graph, or its refusal; for a detector, the light check."""
    model = orc.read_model(path)
    row: dict = {"outputs": _shapes(model)}
    try:
        found = locate_detector(model, CHECK_OPTIONS)
        if found is None:
            return {**row, "result": f"not read as a detector{_nested_nms(model)}; {_as_classifier(path)}"}
        patched = orc.patch(path, detection=CHECK_OPTIONS)
    except ReciproCamError as exc:
        return {**row, "result": f"refused: {exc}"}
    cut = ", ".join(
        f"`{n}` {'x'.join(map(str, t.get_partial_shape().to_shape()[1:]))}"
        for n, t in zip(found.cut.names, found.cut.tensors, strict=True)
    )
    row.update(
        kind=str(found.head.kind),
        head=found.head.describe(),
        cut=cut,
        copies=f"{found.copy_grid[0]}x{found.copy_grid[1]} = {found.copies}",
    )
    axis = 1 if found.head.kind is DetectorKind.ANCHORS_LAST else 2
    read = model.outputs[found.head.scores_index].get_partial_shape()[axis].get_length() - (4 if axis == 1 else 0)
    row.update(_light_check(path, patched, found.copy_grid, ZOO[name][3], (read, ZOO[name][4])))
    return {**row, **_exact(path, patched, found)} if found.head.kind is DetectorKind.ANCHORS_LAST else row


def _exact(path: Path, patched: ov.Model, found: FoundDetector) -> dict:
    """The patched model's detections and maps against the brute-force reference's, cut at the same tensors."""
    side = found.head.input_size[0]
    detector = ref.anchors_last(path, found.cut.names, side, found.score_threshold, found.iou_threshold)
    inputs = detector.prepare(ref.read_photo(PHOTO))
    ours = compile_f32(patched)(inputs)
    rows, expected = ours["detections"][0], ref.detect(detector, ref.run(detector, inputs))
    n = len(expected)
    same = (
        n == int((rows[:, 5] >= 0).sum())
        and np.array_equal(rows[:n, 5], [d.label for d in expected])
        and np.allclose(rows[:n, :4], [d.box for d in expected], rtol=0, atol=1e-3)
    )
    brute = ref.brute_force_maps(detector, inputs, expected)
    maps = ours[orc.SALIENCY][0][:n]
    try:
        assert_maps_match(maps, brute)
        close = True
    except AssertionError:
        close = False
    gap = float(np.abs(maps - brute).max())
    verdict = "pass" if same and close else "**FAIL**"
    return {
        "exact": same and close,
        "check_exact": f"{verdict}: {n} detections {'equal' if same else 'DIFFER FROM'} the reference's, maps within "
        f"{gap:.1e} of its (1 % of their spread: {'yes' if close else 'NO'})",
    }


_BODIES = {"If": 2, "Loop": 1, "TensorIterator": 1}  # ops holding subgraphs, and how many


def _bodies(model: ov.Model) -> list[ov.Model]:
    found = []
    for op in model.get_ordered_ops():
        for i in range(_BODIES.get(op.get_type_name(), 0)):
            body = op.get_function(i)
            found += [body, *_bodies(body)]
    return found


def _nested_nms(model: ov.Model) -> str:
    """An NMS the package's scan of the top-level ops does not see: one in an If or Loop body."""
    nms = [op.get_type_name() for body in _bodies(model) for op in body.get_ordered_ops()]
    nms = [kind for kind in nms if "Suppression" in kind]
    return f" (its {nms[0]} lies in an If/Loop body)" if nms else ""


def _last_line(exc: Exception) -> str:
    """OpenVINO's errors say where they were raised first and what went wrong last."""
    return [line.strip() for line in str(exc).splitlines() if line.strip()][-1]


def _as_classifier(path: Path) -> str:
    """What auto mode makes of a model whose outputs are no detector's."""
    try:
        orc.patch(path)
    except ReciproCamError as exc:
        return f"as a classifier, refused: {exc}"
    except RuntimeError as exc:  # OpenVINO's own: recorded, as it would reach the user
        return f"as a classifier, OpenVINO fails: {_last_line(exc)}"
    return "patched as a classifier, without complaint"


def _light_check(path: Path, patched: ov.Model, grid: tuple[int, int], size: int, widths: tuple[int, int]) -> dict:
    """`widths`: of the output read as the scores, and of the class-score output as built."""
    image = images(size, 1)
    plain = compile_f32(orc.read_model(path))(image)
    try:
        out = compile_f32(patched)(image)
    except RuntimeError as exc:
        return {"ok": False, "check": f"**FAIL**: the patched model does not compile: {_last_line(exc)}"}
    same = all(np.array_equal(out[i], plain[i]) for i in range(len(plain)))
    maps = out[orc.SALIENCY]
    kept = int((out["detections"][0, :, 5] >= 0).sum())
    shape_ok = maps.shape[2:] == grid and maps.shape[:2] == out["detections"].shape[:2]
    in_range = bool(np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1)
    varies = bool(np.ptp(maps, axis=(2, 3)).max() > 0)
    scores_ok = widths[0] == widths[1]
    ok = same and shape_ok and in_range and varies and scores_ok
    return {
        "ok": ok,
        "check": f"{'pass' if ok else '**FAIL**'}: scores read from the {widths[0]}-wide output "
        f"({'the class scores' if scores_ok else f'NOT the {widths[1]}-wide class scores'}), outputs "
        f"{'identical' if same else 'DIFFER'}, maps "
        f"{'x'.join(map(str, maps.shape))}{'' if shape_ok else ' NOT ON THE COPY GRID'} "
        f"{'finite in [0, 1]' if in_range else 'OUT OF RANGE'}, "
        f"{kept} detections, {'varying' if varies else 'all flat'}",
    }


def measure(name: str, cache: Path) -> dict:
    source, how, _, size, _ = ZOO[name]
    row = {"name": name, "source": source, "export": f"{how}, {size}x{size}"}
    return run_stages(row, lambda: export(name, cache), lambda path: check(name, path), lambda path: {})


def markdown(rows: list[dict], command: str, total: float) -> str:
    versions = (
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, OpenVINO {ov.get_version()}, "
        f"ov-reciprocam {orc.__version__}"
    )
    if HAS_ULTRALYTICS:
        import ultralytics

        versions += f", ultralytics {ultralytics.__version__}"
    lines = [
        f"{datetime.date.today().isoformat()}: `{command}` in {total / 60:.1f} min, {versions}.",
        "",
        "| model | source | export | outputs | result | check |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "failure" in r:
            result = f"failed: {r['failure']}"
        elif "kind" in r:
            result = f"`{r['kind']}`: {r['head']}; cut {r['cut']}; copies {r['copies']}"
        else:
            result = r["result"]
        check = "; ".join(r[k] for k in ("check", "check_exact") if k in r)
        cells = [r["name"], r["source"], r["export"], r.get("outputs", ""), result, check]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(ZOO), metavar="NAME", help="models to run (default: all)")
    parser.add_argument("--out", type=Path, help="write the markdown table here (default: print only)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where exported ONNX models are kept")
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")  # Ultralytics checks for updates and fonts otherwise
    start = time.perf_counter()
    rows = []
    for name in args.only or ZOO:
        if not available(name):
            print(f"{name}: skipped (no ultralytics)", flush=True)
            continue
        row = measure(name, args.cache)
        rows.append(row)
        print(
            f"{name}: {row.get('failure') or row.get('check') or row.get('result')} {row.get('check_exact', '')}"
            f" ({row['seconds']:.0f} s)",
            flush=True,
        )
    command = " ".join(["python", "benchmarks/detector_zoo.py", *sys.argv[1:]])
    table = markdown(rows, command, time.perf_counter() - start)
    print(table)
    if args.out:
        partial = args.out.with_suffix(".tmp")
        partial.write_text(table)
        partial.replace(args.out)


if __name__ == "__main__":
    main()
