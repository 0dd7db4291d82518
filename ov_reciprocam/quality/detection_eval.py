"""`eval` for detectors: every detection of the patched run scored against its own box, in the model's input frame.

Per photo, one run of `inference.detector.DetectorExplainer` gives the detections and Recipro-CAM's map of each;
D-RISE (`drise`) makes its own map of the same detections, every detection of the photo in one pass of masks. Each
map, upsampled to the input, is scored by `detection_metrics`: its peak in the box, its energy in the box, and the
deletion and insertion AUC of the detection's D-RISE similarity (docs/detection.md). A detection is compared with
the proposals of the plain model, whose anchor decoding to the detection's box is its own (`target_of`).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ReciproCamError
from ..inference import detector
from ..inference.detector import DetectorExplainer
from ..model.formats import read_model
from ..model.rt_info import DetectionInfo
from ..photos import imaging
from ..vocabulary import DetectionOptions, DetectorKind, EvalMethod, Recipe, at_least_one
from . import detection_metrics as dm
from . import drise
from .baselines import DEFAULT_BATCH
from .detection_decode import Decoding, Proposals
from .evaluate import methods_of

METHODS = (EvalMethod.RECIPROCAM, EvalMethod.DRISE)  # what explains a detector
DEFAULT_METHODS = (EvalMethod.RECIPROCAM,)  # D-RISE is one flag away (`eval --baselines`): minutes a photo
BASELINES = (EvalMethod.DRISE,)
DRISE_MASKS = 1000  # the D-RISE paper's count
# Per detection and method, which way is better (+ higher, - lower); the pointing game is counted, not averaged.
MEASURES = {"peak_in_box": "+", "energy_in_box": "+", "deletion_auc": "-", "insertion_auc": "+"}


@dataclass(frozen=True)
class DetectionEvalSettings:
    """Everything a `DetectionEvaluator` needs, as plain data; `detection_settings` makes one from the options."""

    model: str
    recipe: Recipe | None = None
    names: tuple[EvalMethod, ...] = DEFAULT_METHODS
    masks: int = DRISE_MASKS  # D-RISE's masks
    steps: int = dm.STEPS
    seed: int = 0
    device: str = "CPU"
    batch_size: int = DEFAULT_BATCH  # D-RISE's and the metrics' masked inputs per inference
    config: dict | None = None
    labels: tuple[str, ...] | None = None
    detection: DetectionOptions | None = None


def is_detector(model: str | os.PathLike) -> bool:
    """Whether the model at `model` is a detector, plain or patched: what decides which `eval` runs on it."""
    return detector.is_detector(read_model(model))


def detection_settings(
    model: str | os.PathLike, *, methods: str = ",".join(DEFAULT_METHODS), **given: Any
) -> DetectionEvalSettings:
    """The options of a detector's eval run: the `methods` named (a detector's only), the model plain; `given` holds
    the settings' other fields as the CLI parsed them (masks=50, steps=4)."""
    names = methods_of(methods, METHODS, "detector")
    if DetectionInfo.read(read_model(model)) is not None:
        raise ReciproCamError("eval takes the plain detector: it patches it itself, and D-RISE runs the plain one")
    for name in ("masks", "steps", "batch_size"):
        if name in given:
            given[name] = at_least_one(name, given[name])
    return DetectionEvalSettings(os.fspath(model), names=names, **given)


def decoding_of(info: DetectionInfo) -> Decoding:
    """How D-RISE reads the plain outputs of the detector `info` describes (its kind; a raw head's anchors)."""
    if info.detector is not DetectorKind.ANCHORED:
        return Decoding(info.detector)
    levels = tuple(tuple(int(n) for n in level.split("x")) for level in info.levels.split(","))
    return Decoding(info.detector, tuple((r, c, a) for r, c, a in levels))


def target_of(proposals: Proposals, box: Sequence[float]) -> drise.Target:
    """The detection whose box is `box` as D-RISE compares it: the plain run's anchor that decodes to that box (the
    same graph decoded twice, in the patched model and here: the largest IoU)."""
    box_ = np.asarray(box, np.float64)
    low = np.maximum(proposals.boxes[:, :2], box_[:2])
    high = np.minimum(proposals.boxes[:, 2:], box_[2:])
    inter = np.clip(high - low, 0.0, None).prod(1)
    areas = np.clip(proposals.boxes[:, 2:] - proposals.boxes[:, :2], 0.0, None).prod(1)
    own = max(float(np.prod(np.clip(box_[2:] - box_[:2], 0.0, None))), 1e-12)
    return drise.Target.of(proposals, int(np.argmax(inter / np.maximum(areas + own - inter, 1e-12))))


@dataclass(frozen=True)
class Found:
    """One photo's kept detections: rows of `detections` (boxes in input pixels, score, class) and their maps."""

    rows: np.ndarray  # [n, 6]
    maps: np.ndarray  # [n, h, w]

    @classmethod
    def of(cls, detections: np.ndarray, maps: np.ndarray) -> Found:
        """One image's outputs [K, 6] and [K, h, w], padding rows (class -1, score 0) dropped."""
        kept = (detections[:, 5] >= 0) & (detections[:, 4] > 0)
        return cls(detections[kept], maps[kept])


class DetectionEvaluator:
    """The compiled models of one detector eval run; `evaluate` scores one photo."""

    def __init__(self, settings: DetectionEvalSettings) -> None:
        self.settings = s = settings
        self.explainer = DetectorExplainer(
            s.model, s.device, preprocess=s.recipe, labels=s.labels, config=s.config, detection=s.detection
        )
        self.box = drise.OpenVinoDetector.build(
            s.model, decoding_of(self.explainer.info), device=s.device, config=s.config, batch=s.batch_size
        )
        self.precision = self.explainer.precision  # D-RISE's model is compiled alike
        w, h = self.explainer.input_size
        # The first inference of a compiled model allocates: run once here, not timed with the first photo.
        self.explainer.run(self.explainer.prepare([np.zeros((h, w, 3), np.uint8)]))

    def cost(self) -> dict[str, int]:
        """Model inputs a photo takes, known before the run: per method, its maps, and per detection its metrics."""
        maps = {EvalMethod.RECIPROCAM: 1, EvalMethod.DRISE: self.settings.masks}
        return {str(n): maps[n] for n in self.settings.names} | {"per_detection": 2 * (self.settings.steps + 1)}

    def evaluate(self, path: Path, photo: np.ndarray | None = None) -> dict:
        """The record of one photo: its detections, each with every method's metrics, and each method's time."""
        s = self.settings
        photo = imaging.read_image(path) if photo is None else photo
        x = self.explainer.prepare([photo])
        start = time.perf_counter()
        detections, saliency = self.explainer.run(x)
        seconds = {EvalMethod.RECIPROCAM: time.perf_counter() - start}
        found = Found.of(np.asarray(detections)[0], np.asarray(saliency)[0])
        proposals = self.box.proposals(x)[0]
        targets = [target_of(proposals, row[:4]) for row in found.rows]
        maps = {EvalMethod.RECIPROCAM: found.maps}
        if EvalMethod.DRISE in s.names:
            start = time.perf_counter()
            maps[EvalMethod.DRISE] = drise.drise(self.box, x, targets, masks=s.masks, seed=s.seed, chunk=s.batch_size)
            seconds[EvalMethod.DRISE] = time.perf_counter() - start
        size = (photo.shape[1], photo.shape[0])
        on_photo = np.clip(self.explainer.preprocess.boxes_to_image(found.rows[:, :4], size), 0, [*size, *size])
        rows = [
            self._detection(k, row, on_photo[k], {str(n): maps[n][k] for n in s.names}, x, target)
            for k, (row, target) in enumerate(zip(found.rows, targets, strict=True))
        ]
        record = {"image": path.name, "path": str(path), "size": list(size)}
        return record | {"detections": rows, "seconds": {str(n): seconds[n] for n in s.names}}

    def _detection(
        self, k: int, row: np.ndarray, box: np.ndarray, maps: dict[str, np.ndarray], x: np.ndarray, target: drise.Target
    ) -> dict:
        """Detection k's record: its box in input pixels (where it is scored) and on the photo, score, class, and per
        method its metrics."""
        input_box = [float(v) for v in row[:4]]
        steps = self.settings.steps
        methods = {name: scores(self.box, x, native, input_box, target, steps) for name, native in maps.items()}
        described = {"index": k, "input_box": input_box, "box": [float(v) for v in box], "score": float(row[4])}
        return described | {"class_id": int(row[5]), "label": self.explainer.label(int(row[5])), "methods": methods}


def scores(
    detector: drise.Detector, x: np.ndarray, native: np.ndarray, box: Sequence[float], target: drise.Target, steps: int
) -> dict:
    """One map's metrics against its detection: on the input frame (`detection_metrics.on_input`)."""
    saliency = dm.on_input(native, detector.input_size)
    return {
        "peak": [int(v) for v in imaging.peak(saliency)],
        "peak_in_box": dm.pointing_hit(saliency, box),
        "energy_in_box": dm.energy_in_box(saliency, box),
        "deletion_auc": dm.deletion_auc(detector, x, saliency, target, steps),
        "insertion_auc": dm.insertion_auc(detector, x, saliency, target, steps),
    }


def summarize(records: list[dict], names: Sequence[str]) -> dict:
    """Per method, over every detection of the photos read: the maps, the peaks in their box, the medians of the
    energy and AUCs, and the median seconds per photo (photos with a detection) and per map."""
    summary: dict[str, dict[str, Any]] = {}
    scored = [r for r in records if r.get("detections")]
    for name in names:
        rows = [d["methods"][name] for r in scored for d in r["detections"]]
        per_map = [r["seconds"][name] / len(r["detections"]) for r in scored for _ in r["detections"]]
        entry: dict[str, Any] = {"maps": len(rows), "peak_in_box": sum(bool(m["peak_in_box"]) for m in rows)}
        for measure in ("energy_in_box", "deletion_auc", "insertion_auc"):
            entry[measure] = _median([m[measure] for m in rows])
        entry["seconds_per_photo"] = _median([r["seconds"][name] for r in scored])
        entry["seconds_per_map"] = _median(per_map)
        summary[name] = entry
    return summary


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None
