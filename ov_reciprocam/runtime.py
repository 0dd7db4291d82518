"""Run a patched model on photos: one compiled model, batched, predictions plus maps per image."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import openvino as ov

from . import files, imaging
from .errors import ReciproCamError
from .graph import SALIENCY, SALIENCY_CLASSES
from .loading import first_line, read_model
from .patch import RT_KEY, is_patched, patch
from .preprocess import Preprocess, labels_of

DEFAULT_BATCH = 8


@dataclass(frozen=True)
class Prediction:
    class_id: int
    label: str
    score: float  # probability


@dataclass(frozen=True)
class ClassMap(Prediction):
    """One explained class of one image, with its map at feature resolution, in [0, 1].

    flat: the class's scores barely moved across positions (below `graph.FLAT_SPREAD`), so the
    model emits zeros rather than scaled float noise; such a map has no peak.
    """

    saliency: np.ndarray = field(repr=False)
    flat: bool = False


@dataclass
class Explanation:
    """What the model predicted for one photo and where it looked, for each explained class."""

    source: str
    image: np.ndarray = field(repr=False)  # the photo, BGR
    scores: np.ndarray = field(repr=False)  # probability per class
    predictions: list[Prediction]  # the five likeliest classes
    classes: list[ClassMap]  # the explained ones
    preprocess: Preprocess = field(repr=False)
    _full: np.ndarray | None = field(default=None, repr=False)

    @property
    def upsampled(self) -> np.ndarray:
        """[k, H, W] maps on the photo's pixels, one per explained class."""
        if self._full is None:
            self._full = self.preprocess.to_image(self.maps, (self.image.shape[1], self.image.shape[0]))
        return self._full

    def _index(self, which: int | str) -> int:
        for i, c in enumerate(self.classes):
            if which in (c.class_id, c.label):
                return i
        raise ReciproCamError(f"class {which!r} was not explained for {self.source}")

    def peak(self, which: int | str) -> tuple[int, int] | None:
        """(x, y) in photo pixels where the map of class `which` (id or label) is hottest; None if it is flat."""
        i = self._index(which)
        return None if self.classes[i].flat else imaging.peak(self.upsampled[i])

    def overlay(
        self, which: int | str, alpha: float = 0.5, colormap: str = "jet", max_side: int | None = None
    ) -> np.ndarray:
        """The heatmap of class `which` on the photo, captioned with its label and probability.

        max_side: draw on a copy shrunk to fit this many pixels (thumbnails), not on the full photo.
        """
        i = self._index(which)
        image, saliency = self.image, self.upsampled[i]
        if max_side:
            image, saliency = imaging.shrink_to(image, max_side), imaging.shrink_to(saliency, max_side)
        caption = f"{self.classes[i].label} {self.classes[i].score:.2f}"
        if self.classes[i].flat:  # nothing to show: the photo, and the caption says why
            caption, alpha = f"{caption} (flat map)", 0.0
        return imaging.overlay(image, saliency, caption, alpha, colormap)

    def record(self, stem: str, overlays: bool = True) -> dict:
        """The JSON-ready summary of this photo; `stem` names its overlays (None when not written)."""
        explained = []
        for rank, c in enumerate(self.classes):
            peak = self.peak(c.class_id)
            explained.append(
                {
                    "class_id": c.class_id,
                    "label": c.label,
                    "score": c.score,
                    "overlay": f"{stem}_{rank + 1}_{_safe(c.label)}.png" if overlays else None,
                    "peak": list(peak) if peak else None,
                    "flat": c.flat,
                }
            )
        return {
            "image": self.source,
            "size": [int(self.image.shape[1]), int(self.image.shape[0])],
            "predictions": [{"class_id": p.class_id, "label": p.label, "score": p.score} for p in self.predictions],
            "explained": explained,
        }

    def save(
        self,
        out_dir: str | os.PathLike,
        stem: str,
        alpha: float = 0.5,
        colormap: str = "jet",
        *,
        overlays: bool = True,
        maps: bool = True,
    ) -> dict:
        """Write overlays and .npy maps (each optional); return the JSON-ready record of this photo."""
        out_dir = Path(out_dir)
        record = self.record(stem, overlays)
        if overlays:
            for entry in record["explained"]:
                files.write_png(out_dir / entry["overlay"], self.overlay(entry["class_id"], alpha, colormap))
        if maps:
            saved = files.write_npy(out_dir / f"{stem}_maps.npy", self.maps)
            # float16 halves the size of photo-resolution stacks; maps live in [0, 1], so 3 digits suffice.
            full = files.write_npy(out_dir / f"{stem}_maps_full.npy", self.upsampled.astype(np.float16))
            record |= {"maps": saved.name, "maps_full": full.name}
        return record

    @property
    def maps(self) -> np.ndarray:
        """[k, h, w] maps at feature resolution, one per explained class."""
        return np.stack([c.saliency for c in self.classes])


def _safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[:60]


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class Explainer:
    """A compiled, patched model that turns photos into predictions and saliency maps.

    model: a plain model (patched here, in memory) or one patched before, as ov.Model or path.
    preprocess: the recipe; by default read from the model's rt_info and input shape.
    labels: class names; by default from rt_info model_info/labels, or labels.txt beside the model.
    config: OpenVINO compile properties, e.g. {"INFERENCE_PRECISION_HINT": "f32"}.
    patch_options: passed to patch() when the model is not patched yet (target, score, ...).
    """

    def __init__(
        self,
        model: ov.Model | str | os.PathLike,
        device: str = "CPU",
        *,
        preprocess: Preprocess | None = None,
        labels: Sequence[str] | None = None,
        batch: int | None = None,
        config: dict | None = None,
        **patch_options,
    ) -> None:
        loaded = read_model(model)
        self.patched_here = not is_patched(loaded)
        if self.patched_here:
            loaded = patch(loaded, **patch_options)
        self.model = loaded
        self.preprocess = preprocess or Preprocess.from_model(loaded)
        self.labels = list(labels or labels_of(loaded) or _labels_beside(model) or [])
        self.output_index = int(loaded.get_rt_info([RT_KEY, "output_index"]).astype(str))
        self.probabilities = loaded.get_rt_info([RT_KEY, "probabilities"]).astype(str) == "True"
        self.classes = int(loaded.get_rt_info([RT_KEY, "classes"]).astype(str))
        self.normalized = loaded.get_rt_info([RT_KEY, "normalize"]).astype(str) == "True"
        top_k = [RT_KEY, "top_k"]
        self.kept_classes = int(loaded.get_rt_info(top_k).astype(str)) if loaded.has_rt_info(top_k) else 0
        if self.labels and len(self.labels) != self.classes:
            raise ReciproCamError(f"{len(self.labels)} labels for a model with {self.classes} classes")
        model_batch = loaded.get_parameters()[0].get_partial_shape()[0]
        self.static_batch = model_batch.is_static
        if self.preprocess.embedded:
            self.batch = 1  # photos of different sizes cannot share a tensor
        elif model_batch.is_static:
            self.batch = model_batch.get_length()
        else:
            self.batch = batch or DEFAULT_BATCH
        self.compiled = compile_for(loaded, device, config)

    def _flat(self, saliency: np.ndarray) -> bool:
        """Normalized maps are all zero exactly when the model found them flat."""
        return self.normalized and not saliency.any()

    def label(self, class_id: int) -> str:
        return self.labels[class_id] if self.labels else f"class_{class_id}"

    def class_id(self, name: str | int) -> int:
        """A class by id or by label."""
        if isinstance(name, int) or str(name).isdigit():
            class_id = int(name)
        elif name in self.labels:
            class_id = self.labels.index(name)
        else:
            some = ", ".join(self.labels[:5]) + (", ..." if len(self.labels) > 5 else "")
            raise ReciproCamError(f"unknown class '{name}'; use an id or a label ({some or 'the model has no labels'})")
        if not 0 <= class_id < self.classes:
            raise ReciproCamError(f"class id {class_id} is out of range: the model has {self.classes} classes")
        return class_id

    def explain(
        self,
        images: Sequence[np.ndarray | str | os.PathLike],
        top_k: int = 3,
        classes: Sequence[int | str] | None = None,
        sources: Sequence[str] | None = None,
    ) -> list[Explanation]:
        """Explain `top_k` predicted classes, or the given `classes`, of each photo (BGR array or path)."""
        photos = [imaging.read_image(i) if isinstance(i, (str, os.PathLike)) else i for i in images]
        names = list(
            sources or [str(i) if isinstance(i, (str, os.PathLike)) else f"image_{n}" for n, i in enumerate(images)]
        )
        wanted = [self.class_id(c) for c in classes] if classes else None
        results = []
        for start in range(0, len(photos), self.batch):
            chunk = photos[start : start + self.batch]
            inputs = [self.preprocess(p) for p in chunk]
            if self.static_batch:  # fill a fixed batch by repeating the last photo
                inputs += [inputs[-1]] * (self.batch - len(inputs))
            out = self.compiled(np.stack(inputs))
            scores = out[self.compiled.output(self.output_index)]
            scores = scores.reshape(scores.shape[0], -1)
            probs = scores if self.probabilities else softmax(scores)
            maps = out[self.compiled.output(SALIENCY)]
            if maps.dtype == np.uint8:
                maps = maps.astype(np.float32) / 255.0
            # A model patched with top_k holds maps for its k best classes only, listed per image.
            kept = out[self.compiled.output(SALIENCY_CLASSES)] if self.kept_classes else None
            for i, photo in enumerate(chunk):
                ranked = [int(c) for c in np.argsort(-probs[i])]
                top = [Prediction(c, self.label(c), float(probs[i, c])) for c in ranked[:5]]
                ids = wanted or ranked[: max(1, top_k)]
                slot = {int(c): j for j, c in enumerate(kept[i])} if kept is not None else {c: c for c in ids}
                missing = [self.label(c) for c in ids if c not in slot]
                if missing:
                    raise ReciproCamError(
                        f"the model keeps maps for its {self.kept_classes} best classes only (patched with top_k); "
                        f"{', '.join(missing)} is not among them for {names[start + i]}"
                    )
                explained = [
                    ClassMap(c, self.label(c), float(probs[i, c]), maps[i, slot[c]], self._flat(maps[i, slot[c]]))
                    for c in ids
                ]
                results.append(Explanation(names[start + i], photo, probs[i], top, explained, self.preprocess))
        return results


def compile_for(model: ov.Model, device: str = "CPU", config: dict | None = None) -> ov.CompiledModel:
    """Compile `model`, or raise a one-line error naming the device."""
    try:
        return ov.Core().compile_model(model, device, config or {})
    except Exception as exc:
        raise ReciproCamError(f"cannot compile the model for {device}: {first_line(exc)}") from None


def read_labels(path: str | os.PathLike) -> list[str]:
    """Class names, one per line."""
    try:
        return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise ReciproCamError(f"cannot read labels {path}: {exc.strerror}") from None


def _labels_beside(model) -> list[str] | None:
    if isinstance(model, ov.Model):
        return None
    path = Path(model).with_name("labels.txt")
    return read_labels(path) if path.is_file() else None
