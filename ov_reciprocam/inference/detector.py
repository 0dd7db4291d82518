"""Run a detector patched for per-detection maps on photos: its detections and each one's map, on the photo.

A patched detector (`methods.detection`) has two outputs more: `detections` [B, K, 6] (x1, y1, x2, y2 in the
model input's pixels, score, class; padding rows class -1) and `saliency_map` [B, K, h, w]. `DetectorExplainer`
feeds it photos as its recipe says (`photos.preprocess.Preprocess`), and maps the boxes and maps back onto each
photo the way the recipe resized it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import openvino as ov

from ..analysis.detections import read_detector, refuse_inner_nms
from ..errors import ReciproCamError
from ..methods.detection.build import DETECTIONS
from ..methods.saliency import SALIENCY
from ..model.formats import read_model
from ..model.labels import find_labels
from ..model.rt_info import DetectionInfo, PatchInfo
from ..patching import check_labels, patch
from ..photos import imaging
from ..photos.preprocess import Preprocess, recipe_for
from ..vocabulary import DetectionOptions, PatchOptions, Recipe
from .device import check_device, compile_for, precision_note, ran_precision

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Detection:
    """One detection of one photo and its map.

    box: x1, y1, x2, y2 in the photo's pixels (the resize undone, clipped to the photo); input_box: the same box in
    the model input's frame, as `detections` holds it. saliency: [h, w] on the copy grid, in [0, 1], the input's
    frame; all 0 when the detection's copies all scored alike (a flat map, no peak).
    """

    box: Box
    input_box: Box
    score: float
    class_id: int
    label: str
    saliency: np.ndarray = field(repr=False)

    @property
    def flat(self) -> bool:
        return not self.saliency.any()


@dataclass
class DetectionExplanation:
    """What a detector found in one photo, best first, and where each detection's evidence lies."""

    source: str  # the photo's path, or a name for an array
    image: np.ndarray = field(repr=False)  # the photo, BGR
    detections: list[Detection]
    preprocess: Preprocess = field(repr=False)

    @property
    def size(self) -> tuple[int, int]:
        """(W, H) of the photo."""
        return self.image.shape[1], self.image.shape[0]

    def on_photo(self, k: int) -> np.ndarray:
        """Detection k's map at the photo's resolution, [H, W]: bilinearly upsampled to the input, resize undone."""
        return self.preprocess.to_image(self.detections[k].saliency, self.size)

    def peak(self, k: int) -> tuple[int, int] | None:
        """(x, y) in photo pixels where detection k's map is hottest; None when it is flat."""
        return None if self.detections[k].flat else imaging.peak(self.on_photo(k))


def is_detector(model: ov.Model) -> bool:
    """Is `model` a detector, patched (its record) or plain (its outputs' structure)? A detector that cannot be
    explained (NMS in its graph, outputs read but refused) is refused here, in one line."""
    if DetectionInfo.read(model) is not None:
        return True
    if PatchInfo.read(model) is not None:
        return False
    refuse_inner_nms(model)
    return read_detector(model) is not None


class DetectorExplainer:
    """A compiled detector patched for per-detection maps: photos in, detections and maps on the photos out.

    model: a plain detector (patched here, in memory, with `detection`) or one patched before, as ov.Model or path.
    preprocess: a Preprocess, or a Recipe (what differs from rt_info); a model without a recipe needs one given.
    labels: class names (foreground classes, counted from 0); by default rt_info's, or labels.txt beside the model.
    config: OpenVINO compile properties, e.g. {"INFERENCE_PRECISION_HINT": "f32"}.
    detection: how a plain detector is patched (K, thresholds, copy grid, anchors); a patched one keeps its own.
    """

    def __init__(
        self,
        model: ov.Model | str | os.PathLike,
        device: str = "CPU",
        *,
        preprocess: Preprocess | Recipe | None = None,
        labels: Sequence[str] | None = None,
        config: dict | None = None,
        detection: DetectionOptions | None = None,
    ) -> None:
        device = check_device(device)  # before the model is read and patched: a typo should cost nothing
        loaded = read_model(model)
        if not is_detector(loaded):
            raise ReciproCamError("this model is no object detector: explain a classifier with Explainer")
        info = DetectionInfo.read(loaded)
        self.patched_here = info is None
        if info is None:
            loaded = patch(loaded, PatchOptions(detection=detection or DetectionOptions()))
            info = DetectionInfo.read(loaded)
            assert info is not None  # patch records every detector it patches
        elif detection is not None and (given := _given(detection)):
            raise ReciproCamError(
                f"`{given}` applies to a plain detector; this one was patched before ({info.detections} detections, "
                f"copies {info.copy_grid[0]}x{info.copy_grid[1]}): patch the plain model again to change it"
            )
        self.model, self.info = loaded, info
        self.preprocess = preprocess if isinstance(preprocess, Preprocess) else recipe_for(loaded, preprocess)
        if self.preprocess.embedded:
            raise ReciproCamError(
                "a detector's boxes need the input's size: patch it without `embed_preprocessing` and give its recipe"
            )
        found = None if labels else find_labels(loaded, model)
        self.labels = list(labels or found or [])
        origin = "the model's list of labels (rt_info, or labels.txt beside it)" if found else "`labels`"
        check_labels(self.labels or None, info.classes, origin)
        self.input_size = (self.preprocess.width, self.preprocess.height)  # (w, h)
        batch = loaded.get_parameters()[0].get_partial_shape()[0]
        self.static_batch = batch.get_length() if batch.is_static else None
        self.device, self.config = device, config
        self.compiled = compile_for(loaded, device, config)
        self.precision = ran_precision(self.compiled)
        self.precision_note = precision_note(device, config, self.precision)

    def label(self, class_id: int) -> str:
        return self.labels[class_id] if self.labels else f"class_{class_id}"

    def prepare(self, photos: Sequence[np.ndarray]) -> np.ndarray:
        """BGR photos (read and checked) -> the model's inputs [B, ...], as the recipe makes them."""
        return np.stack([self.preprocess(p) for p in photos])

    def run(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model on `inputs` [B, ...]: `detections` [B, K, 6] and `saliency_map` [B, K, h, w] as it returns them
        (maps as floats in [0, 1]); a model of a fixed batch runs them that many at a time."""
        step = self.static_batch or len(inputs)
        found, maps = [], []
        for start in range(0, len(inputs), step):
            chunk = inputs[start : start + step]
            filled = np.concatenate([chunk, np.repeat(chunk[-1:], step - len(chunk), axis=0)])
            out = self.compiled(filled)
            found.append(np.array(out[self.compiled.output(DETECTIONS)])[: len(chunk)])
            maps.append(np.array(out[self.compiled.output(SALIENCY)])[: len(chunk)])
        detections, saliency = np.concatenate(found), np.concatenate(maps)
        if saliency.dtype == np.uint8:
            saliency = saliency.astype(np.float32) / 255.0
        return detections, saliency

    def explain(
        self, photos: np.ndarray | str | os.PathLike | Sequence[np.ndarray | str | os.PathLike]
    ) -> list[DetectionExplanation]:
        """Each photo's detections (BGR arrays or paths; one path or array is one photo), best first, with maps."""
        items = imaging.one_or_many(photos)
        read = [imaging.read_image(i) if isinstance(i, (str, os.PathLike)) else imaging.checked_photo(i) for i in items]
        names = [str(i) if isinstance(i, (str, os.PathLike)) else f"image_{n}" for n, i in enumerate(items)]
        if not read:
            return []
        detections, maps = self.run(self.prepare(read))
        return [self.explained(n, p, d, m) for n, p, d, m in zip(names, read, detections, maps, strict=True)]

    def explained(self, source: str, photo: np.ndarray, rows: np.ndarray, maps: np.ndarray) -> DetectionExplanation:
        """One photo's explanation from its `detections` rows [K, 6] and maps [K, h, w]: padding dropped, best
        first, boxes mapped onto the photo."""
        shown = imaging.as_channels(photo, 3)  # drawn on BGR
        w, h = shown.shape[1], shown.shape[0]
        kept = [k for k in np.argsort(-rows[:, 4], kind="stable") if rows[k, 5] >= 0]
        boxes = self.preprocess.boxes_to_image(rows[:, :4], (w, h))
        boxes = np.clip(boxes, 0, [w, h, w, h])
        return DetectionExplanation(
            source,
            shown,
            [
                Detection(
                    box=_box(boxes[k]),
                    input_box=_box(rows[k, :4]),
                    score=float(rows[k, 4]),
                    class_id=int(rows[k, 5]),
                    label=self.label(int(rows[k, 5])),
                    saliency=maps[k],
                )
                for k in kept
            ],
            self.preprocess,
        )


def _given(options: DetectionOptions) -> str | None:
    """The first of `options`' fields that is not its default."""
    default = DetectionOptions()
    return next((f.name for f in fields(options) if getattr(options, f.name) != getattr(default, f.name)), None)


def _box(values: np.ndarray) -> Box:
    x1, y1, x2, y2 = (float(v) for v in values)
    return x1, y1, x2, y2
