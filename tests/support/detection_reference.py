"""A brute-force reference for per-detection Recipro-CAM on the three sample detectors (numpy and plain OpenVINO), and
on any detector with Ultralytics' [N, 4 + C, A] output whose cut is named (`anchors_last`).

It shares no code with the package: its own input recipes (from each model's README.txt), its own decode and
NMS, its own cut (a new Parameter in place of each cut tensor, an ov.Model from them to the outputs), and it
runs one masked copy at a time, reading the explained anchor's score from each copy's outputs
(docs/detection.md; the shared definition is issue 34's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import openvino as ov

from .paths import SAMPLES

CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}
DETECTORS = SAMPLES / "models" / "detection"
TOP_K = 10

Outputs = dict[str, np.ndarray]  # output name -> the batch's values

# The cut, found by reading each graph (every op printed with its inputs and output shapes):
# - YOLOX-nano: the three tensors the PAFPN reads. '781' (64x52x52, dark3) feeds the Concat after the second
#   Interpolate, '841' (128x26x26, dark4) the Concat after the first, and '886' (256x13x13, dark5) the 1x1
#   lateral convolution before the first Interpolate; each is the Swish (Mul) ending a backbone stage.
# - Ultra-Light RFB-320: per scale the ReLU every branch of that scale reads: '314' (64x30x40) feeds the
#   30x40 classification and regression heads and the next stage; likewise '360' (128x15x20) and '400'
#   (256x8x10); '434' (256x4x5), the extra layers' output, feeds the 4x5 heads.
# - BlazeFace: its heads are 1x1 convolutions on the ReLUs behind the tensors 'classificator_8' (88x16x16) and
#   'classificator_16' (96x8x8); cut there, a copy's score would read its own cell only. The cut is where each
#   of those two stages begins instead: the first ReLU, in the graph's order, on the head's grid (48x16x16 after
#   the stride-2 block from 32x32, 96x8x8 after the one from 16x16). The TFLite frontend leaves the ReLUs
#   unnamed (their friendly names change from one read to the next), so they are found from the named head
#   tensors: back through the Transpose and bias Add to the Convolution, whose data input gives the grid.
CUTS = {
    "yolox": ("781", "841", "886"),
    "ultralight": ("314", "360", "400", "434"),
    "blazeface": ("classificator_8", "classificator_16"),
}
HEAD_NAMED = {"blazeface"}  # its CUTS name the head tensors of the cut's stages, not the cut tensors


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in the model's input pixels
    score: float
    label: int
    anchor: int


@dataclass(frozen=True)
class Detector:
    name: str
    path: Path
    prepare: Callable[[np.ndarray], np.ndarray]  # a BGR uint8 photo -> the model's input [1, ...]
    scores: Callable[[Outputs], np.ndarray]  # outputs of one image -> [A, C] anchor scores
    boxes: Callable[[Outputs], np.ndarray]  # outputs of one image -> [A, 4] boxes in input pixels
    score_threshold: float
    iou_threshold: float
    cut: tuple[str, ...] | None = None  # the cut's tensor names, for a detector CUTS does not list

    @property
    def cuts(self) -> tuple[str, ...]:
        return self.cut if self.cut is not None else CUTS[self.name]

    def model(self) -> ov.Model:
        return ov.Core().read_model(self.path)


# --- input recipes (each README.txt's "Input" line) ---


def read_photo(path: Path) -> np.ndarray:
    photo = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert photo is not None, path
    return photo


def prepare_yolox(bgr: np.ndarray, side: int = 416) -> np.ndarray:
    """BGR 0..255, scaled by min(side / h, side / w), pasted top-left on a 114-grey canvas, NCHW."""
    h, w = bgr.shape[:2]
    r = min(side / h, side / w)
    resized = cv2.resize(bgr, (int(w * r), int(h * r)), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((side, side, 3), 114, np.uint8)
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    return canvas.transpose(2, 0, 1)[None].astype(np.float32)


def prepare_ultralight(bgr: np.ndarray) -> np.ndarray:
    """RGB, a plain resize to 320x240, (x - 127) / 128, NCHW."""
    rgb = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (320, 240))
    return ((rgb.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[None]


def prepare_blazeface(bgr: np.ndarray, side: int = 128) -> np.ndarray:
    """RGB, aspect kept, centred on a black (zero) border, [-1, 1], NHWC."""
    h, w = bgr.shape[:2]
    r = min(side / h, side / w)
    nw, nh = round(w * r), round(h * r)
    resized = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas = np.zeros((side, side, 3), np.uint8)
    top, left = (side - nh) // 2, (side - nw) // 2
    canvas[top : top + nh, left : left + nw] = resized
    return (canvas.astype(np.float32) / 127.5 - 1.0)[None]


# --- anchor scores and boxes (each README.txt's "Output" line) ---


def yolox_scores(out: Outputs) -> np.ndarray:
    raw = out["output"][0]
    return raw[:, 4:5] * raw[:, 5:]


def yolox_grids(side: int = 416) -> np.ndarray:
    """[3549, 3]: gx, gy, stride of every grid point, level-major, row-major."""
    rows = []
    for stride in (8, 16, 32):
        n = side // stride
        gy, gx = np.mgrid[:n, :n]
        rows.append(np.stack([gx.ravel(), gy.ravel(), np.full(n * n, stride)], 1))
    return np.concatenate(rows).astype(np.float64)


def yolox_boxes(out: Outputs) -> np.ndarray:
    raw = out["output"][0].astype(np.float64)
    grid = yolox_grids()
    centre = (raw[:, :2] + grid[:, :2]) * grid[:, 2:]
    size = np.exp(raw[:, 2:4]) * grid[:, 2:]
    return np.concatenate([centre - size / 2, centre + size / 2], 1)


def ultralight_scores(out: Outputs) -> np.ndarray:
    return out["scores"][0][:, 1:]  # column 0 is the background


def ultralight_boxes(out: Outputs) -> np.ndarray:
    return out["boxes"][0].astype(np.float64) * np.array([320, 240, 320, 240])


def blazeface_scores(out: Outputs) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(out["classificators"][0].astype(np.float64), -100, 100)))


def blazeface_anchors() -> np.ndarray:
    """[896, 2]: anchor centres in [0, 1]; 2 per cell of the 16x16 grid, then 6 per cell of the 8x8 grid."""
    rows = []
    for grid, per_cell in ((16, 2), (8, 6)):
        y, x = np.mgrid[:grid, :grid]
        centres = np.stack([(x.ravel() + 0.5) / grid, (y.ravel() + 0.5) / grid], 1)
        rows.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(rows)


def blazeface_boxes(out: Outputs) -> np.ndarray:
    reg = out["regressors"][0].astype(np.float64)
    centre = reg[:, :2] / 128 + blazeface_anchors()
    size = reg[:, 2:4] / 128
    return np.concatenate([centre - size / 2, centre + size / 2], 1) * 128


def only_output(out: Outputs) -> np.ndarray:
    (values,) = out.values()
    return values[0]


def anchors_last_scores(out: Outputs) -> np.ndarray:
    """[4 + C, A]: rows 4: are the class scores, sigmoids applied; one column an anchor."""
    return only_output(out)[4:].T


def anchors_last_boxes(out: Outputs) -> np.ndarray:
    """Rows 0-3 are the centre and size of each anchor's box in input pixels."""
    rows = only_output(out)[:4].T.astype(np.float64)
    return np.concatenate([rows[:, :2] - rows[:, 2:] / 2, rows[:, :2] + rows[:, 2:] / 2], 1)


def prepare_ultralytics(bgr: np.ndarray, side: int) -> np.ndarray:
    """RGB, aspect kept, centred on a 114-grey border, [0, 1], NCHW (Ultralytics' LetterBox)."""
    h, w = bgr.shape[:2]
    r = min(side / h, side / w)
    nw, nh = round(w * r), round(h * r)
    resized = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((side, side, 3), 114, np.uint8)
    top, left = (side - nh) // 2, (side - nw) // 2
    canvas[top : top + nh, left : left + nw] = resized
    return (canvas.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]


def anchors_last(
    path: Path, cut: tuple[str, ...], side: int, score_threshold: float = 0.25, iou_threshold: float = 0.7
) -> Detector:
    """A detector with one [N, 4 + C, A] output (YOLOv8, YOLO11), cut at the tensors `cut` names; thresholds as
    Ultralytics' predict's."""

    def prepare(bgr: np.ndarray) -> np.ndarray:
        return prepare_ultralytics(bgr, side)

    return Detector(
        path.stem, path, prepare, anchors_last_scores, anchors_last_boxes, score_threshold, iou_threshold, cut
    )


YOLOX = Detector(
    "yolox", DETECTORS / "yolox_nano" / "yolox_nano.onnx", prepare_yolox, yolox_scores, yolox_boxes, 0.3, 0.45
)
ULTRALIGHT = Detector(
    "ultralight",
    DETECTORS / "ultralight_rfb_320" / "version-RFB-320.onnx",
    prepare_ultralight,
    ultralight_scores,
    ultralight_boxes,
    0.7,
    0.3,
)
BLAZEFACE = Detector(
    "blazeface",
    DETECTORS / "blazeface_short_range" / "face_detection_short_range.tflite",
    prepare_blazeface,
    blazeface_scores,
    blazeface_boxes,
    0.5,
    0.3,
)


# --- the plain run: decode and NMS ---


@cache
def compiled(detector: Detector, precision: str = "f32") -> ov.CompiledModel:
    """The plain model compiled at `precision` ("" for the CPU's default, bf16 on CPUs that have it)."""
    config = {"INFERENCE_PRECISION_HINT": precision} if precision else {}
    return ov.Core().compile_model(detector.model(), "CPU", config)


def run(detector: Detector, inputs: np.ndarray, precision: str = "f32") -> Outputs:
    model = compiled(detector, precision)
    result = model(inputs)
    return {out.get_any_name(): np.asarray(result[out]) for out in model.outputs}


def iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x1, y1 = np.maximum(box[0], others[:, 0]), np.maximum(box[1], others[:, 1])
    x2, y2 = np.minimum(box[2], others[:, 2]), np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def detect(detector: Detector, out: Outputs, top_k: int = TOP_K) -> list[Detection]:
    """Best class per anchor, the score threshold, class-agnostic hard NMS (highest first), the top K."""
    scores, boxes = detector.scores(out), detector.boxes(out)
    labels = scores.argmax(1)
    best = scores[np.arange(len(scores)), labels]
    candidates = [int(a) for a in np.argsort(-best, kind="stable") if best[a] >= detector.score_threshold]
    kept: list[int] = []
    for a in candidates:
        if len(kept) == top_k:
            break
        if not kept or iou(boxes[a], boxes[kept]).max() <= detector.iou_threshold:
            kept.append(a)
    return [Detection(tuple(float(v) for v in boxes[a]), float(best[a]), int(labels[a]), a) for a in kept]


def detections(detector: Detector, bgr: np.ndarray, precision: str = "f32") -> list[Detection]:
    return detect(detector, run(detector, detector.prepare(bgr), precision))


# --- the cut and the brute-force maps ---


def named(model: ov.Model, name: str) -> ov.Output:
    outputs = [o for op in model.get_ops() for o in op.outputs() if name in o.get_names()]
    assert len(outputs) == 1, f"tensor {name!r}: {len(outputs)} matches"
    return outputs[0]


def head_input(tensor: ov.Output) -> ov.Output:
    """The data input of the Convolution that `tensor` (a head's output) comes from through Transposes and Adds."""
    node = tensor.get_node()
    while node.get_type_name() in ("Transpose", "Add"):
        node = node.input_value(0).get_node()
    assert node.get_type_name() == "Convolution", node.get_type_name()
    return node.input_value(0)


def cut_outputs(model: ov.Model, detector: Detector, names: tuple[str, ...] | None) -> list[ov.Output]:
    """The tensors `names` names, or by default the detector's cut (`Detector.cuts`)."""
    if names is not None:
        return [named(model, n) for n in names]
    found = [named(model, n) for n in detector.cuts]
    return [stage_start(model, head_input(o)) for o in found] if detector.name in HEAD_NAMED else found


def stage_start(model: ov.Model, value: ov.Output) -> ov.Output:
    """The first ReLU, in the graph's order, whose output has the grid of `value`."""
    grid = tuple(value.get_partial_shape().to_shape())[2:]
    relus = [op for op in model.get_ordered_ops() if op.get_type_name() == "Relu"]
    return next(op.output(0) for op in relus if tuple(op.get_output_partial_shape(0).to_shape())[2:] == grid)


@cache
def compiled_probe(detector: Detector, names: tuple[str, ...] | None = None) -> ov.CompiledModel:
    """The plain model with the cut tensors as its outputs."""
    model = detector.model()
    probe = ov.Model([ov.opset13.result(o) for o in cut_outputs(model, detector, names)], model.get_parameters())
    return ov.Core().compile_model(probe, "CPU", CONFIG)


def features(detector: Detector, inputs: np.ndarray, names: tuple[str, ...] | None = None) -> list[np.ndarray]:
    """The cut tensors' values on one prepared input, [1, C, h, w] each (OpenVINO's inner layout is NCHW)."""
    probe = compiled_probe(detector, names)
    result = probe(inputs)
    return [np.asarray(result[o]) for o in probe.outputs]


def cut_model(detector: Detector, names: tuple[str, ...] | None = None) -> ov.Model:
    """The model from new Parameters standing where the cut tensors were, to all its outputs."""
    model = detector.model()
    params = []
    for output in cut_outputs(model, detector, names):
        param = ov.opset13.parameter(output.get_partial_shape(), output.get_element_type())
        for consumer in list(output.get_target_inputs()):
            consumer.replace_source_output(param.output(0))
        params.append(param)
    return ov.Model(model.get_results(), params)


@cache
def compiled_cut(detector: Detector, names: tuple[str, ...] | None = None) -> ov.CompiledModel:
    return ov.Core().compile_model(cut_model(detector, names), "CPU", CONFIG)


def kept_cells(grid: tuple[int, int], copies: tuple[int, int]) -> np.ndarray:
    """[copies h*w, grid h, grid w] bool: the cells of a cut tensor each copy keeps, by the centre rule.

    Along each axis, the finer of the two cells (the cut tensor's, the copy's) is kept when its centre lies in
    the coarser one's span: cell p of n cells spans [p / n, (p + 1) / n) of the axis, its centre is (p + 0.5) / n.
    """

    def axis(cells: int, copy_cells: int) -> np.ndarray:  # [copy_cells, cells]
        keep = np.zeros((copy_cells, cells), bool)
        for i in range(copy_cells):
            for p in range(cells):
                if cells >= copy_cells:  # the cut's cell is the finer: its centre in the copy's span
                    keep[i, p] = i / copy_cells <= (p + 0.5) / cells < (i + 1) / copy_cells
                else:  # the copy's cell is the finer: its centre in the cut cell's span
                    keep[i, p] = p / cells <= (i + 0.5) / copy_cells < (p + 1) / cells
        return keep

    rows, cols = axis(grid[0], copies[0]), axis(grid[1], copies[1])
    return (rows[:, None, :, None] & cols[None, :, None, :]).reshape(copies[0] * copies[1], grid[0], grid[1])


def copy_grid(grids: list[tuple[int, int]]) -> tuple[int, int]:
    """The copies' grid: the cut grid with the fewest cells among those with at least 8 on the short side."""
    wide_enough = [g for g in grids if min(g) >= 8]
    return min(wide_enough, key=lambda g: g[0] * g[1]) if wide_enough else max(grids, key=lambda g: g[0] * g[1])


def min_max(raw: np.ndarray) -> np.ndarray:
    low, high = raw.min(), raw.max()
    return (raw - low) / (high - low) if high - low > 1e-12 else np.zeros_like(raw)


def raw_scores(detector: Detector, inputs: np.ndarray, names: tuple[str, ...] | None = None) -> np.ndarray:
    """[h, w, A, C]: every anchor's scores on each masked copy (h x w, `copy_grid`), run one at a time."""
    feats = features(detector, inputs, names)
    grids = [(f.shape[2], f.shape[3]) for f in feats]
    copies = copy_grid(grids)
    keeps = [kept_cells(g, copies) for g in grids]
    request = compiled_cut(detector, names).create_infer_request()
    scores = []
    for n in range(copies[0] * copies[1]):
        result = request.infer([f * keep[n] for f, keep in zip(feats, keeps, strict=True)])
        out = {o.get_any_name(): np.asarray(v) for o, v in result.items()}
        scores.append(detector.scores(out))
    return np.stack(scores).reshape(*copies, *scores[0].shape)


def brute_force_maps(
    detector: Detector, inputs: np.ndarray, found: list[Detection], names: tuple[str, ...] | None = None
) -> np.ndarray:
    """[K, h, w]: detection k's anchor score for its class on each copy, min-max normalised per map."""
    raw = raw_scores(detector, inputs, names)
    return np.stack([min_max(raw[:, :, d.anchor, d.label].astype(np.float64)) for d in found])
