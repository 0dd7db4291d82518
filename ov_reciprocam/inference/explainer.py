"""Run a patched model on photos: one compiled model, batched, predictions plus maps per image."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import openvino as ov

from ..errors import ReciproCamError
from ..methods.saliency import SALIENCY, SALIENCY_CLASSES
from ..model.formats import read_model
from ..model.labels import find_labels
from ..model.rt_info import PatchInfo
from ..patching import check_labels, patch
from ..photos import imaging
from ..photos.preprocess import Preprocess, recipe_for
from ..vocabulary import PatchOptions, Recipe, at_least_one, zero_to_one
from . import probe
from .device import check_device, compile_for, precision_note, ran_precision
from .scores import probabilities

DEFAULT_BATCH = 8


@dataclass(frozen=True)
class Prediction:
    class_id: int
    label: str
    score: float  # probability


@dataclass(frozen=True)
class ClassMap(Prediction):
    """One explained class of one image, with its map at feature resolution, in [0, 1].

    flat: the class's scores barely moved across positions (below `methods.saliency.FLAT_SPREAD`), so the
    model emits zeros rather than scaled float noise; such a map has no peak.
    """

    saliency: np.ndarray = field(repr=False)
    flat: bool = False


@dataclass
class Explanation:
    """What the model predicted for one photo and where it looked, for each explained class.

    Data only: `output.pictures.overlay_of` draws it, and `ov_reciprocam` has notebooks show it (`show_in_notebooks`).
    """

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

    def on_photo(self, which: int | str) -> tuple[ClassMap, np.ndarray]:
        """The explained class `which` (id or label) and its map on the photo's pixels, [H, W]."""
        i = self._index(which)
        return self.classes[i], self.upsampled[i]

    def peak(self, which: int | str) -> tuple[int, int] | None:
        """(x, y) in photo pixels where the map of class `which` (id or label) is hottest; None if it is flat."""
        explained, saliency = self.on_photo(which)
        return None if explained.flat else imaging.peak(saliency)

    @property
    def maps(self) -> np.ndarray:
        """[k, h, w] maps at feature resolution, one per explained class."""
        return np.stack([c.saliency for c in self.classes])


class Explainer:
    """A compiled, patched model that turns photos into predictions and saliency maps.

    model: a plain model (patched here, in memory) or one patched before, as ov.Model or path.
    preprocess: a Preprocess, or a Recipe (what differs from rt_info: mean, scale, rgb, raw_pixels, ...);
        by default the model's rt_info (model_info) and input shape; a model without one needs it given.
    labels: class names; by default from rt_info model_info/labels, or labels.txt beside the model.
    config: OpenVINO compile properties, e.g. {"INFERENCE_PRECISION_HINT": "f32"}; `precision` says what the device
        runs (None if it does not say), and `precision_note` says so when that is not what was asked.
    batch_size: photos per inference on a dynamic-batch model (a static batch decides it).
    patch_options: how to patch the model when it is not patched yet (target, score, ...).
    """

    def __init__(
        self,
        model: ov.Model | str | os.PathLike,
        device: str = "CPU",
        *,
        preprocess: Preprocess | Recipe | None = None,
        labels: Sequence[str] | None = None,
        batch_size: int | None = None,
        config: dict | None = None,
        patch_options: PatchOptions | None = None,
    ) -> None:
        if batch_size is not None:  # before the model is read and patched: a typo should cost nothing
            batch_size = at_least_one("batch_size", batch_size)
        device = check_device(device)  # before the model is read and patched, too
        loaded = read_model(model)
        info = PatchInfo.read(loaded)
        self.patched_here = info is None
        self.patch_options = PatchOptions.of(patch_options)
        if info is None:
            loaded = patch(loaded, self.patch_options)
            info = PatchInfo.read(loaded)
            assert info is not None  # patch records it
        self.model = loaded
        self.info = info
        # A Recipe is resolved against the patched model (its input size settled); none given, rt_info's, and a
        # model without one is refused rather than fed guessed pixels.
        self.preprocess = preprocess if isinstance(preprocess, Preprocess) else recipe_for(loaded, preprocess)
        # A binary classifier's two classes are the unit's complement and the unit itself.
        unnamed = ["negative", "positive"] if info.score_kind.binary else []
        found = None if labels else find_labels(loaded, model)
        self.labels = list(labels or found or unnamed)
        self.output_index = info.output_index
        self.classes = info.classes
        self.kept_classes = info.top_k
        origin = "the model's list of labels (rt_info, or labels.txt beside it)" if found else "`labels`"
        check_labels(self.labels, self.classes, origin)
        model_batch = loaded.get_parameters()[0].get_partial_shape()[0]
        self.static_batch = model_batch.is_static
        if self.preprocess.embedded:
            self.batch_size = 1  # photos of different sizes cannot share a tensor
        elif model_batch.is_static:
            self.batch_size = model_batch.get_length()
        else:
            self.batch_size = batch_size or DEFAULT_BATCH
        # Said, not silently ignored: a fixed batch or embedded preprocessing decides the batch size.
        self.batch_note = None
        if batch_size is not None and batch_size != self.batch_size:
            why = "embedded preprocessing takes one photo" if self.preprocess.embedded else "the model's batch is fixed"
            self.batch_note = (
                f"batch size {self.batch_size}, not {batch_size}: {why} (patching with `batch` -1 makes it dynamic)"
            )
        self.compiled = compile_for(loaded, device, config)
        # What the device runs, not what was asked: a CPU without f16 runs bf16 when asked for f16.
        self.precision = ran_precision(self.compiled)
        self.precision_note = precision_note(device, config, self.precision)
        probe.check(self.compiled, loaded, probe.probe_input(loaded, self.preprocess))  # refuse what cannot be right

    def _flat(self, saliency: np.ndarray) -> bool:
        """Normalized maps are all zero exactly when the model found them flat."""
        return self.info.normalize and not saliency.any()

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
        images: np.ndarray | str | os.PathLike | Sequence[np.ndarray | str | os.PathLike],
        top_k: int = 3,
        classes: Sequence[int | str] | None = None,
        sources: Sequence[str] | None = None,
        threshold: float = 0.5,
        *,
        checked: bool = False,
    ) -> list[Explanation]:
        """Explain `top_k` predicted classes, or the given `classes`, of each photo (BGR array or path).

        A multi-label model (sigmoid scores) explains every label whose probability reaches `threshold`
        instead of a top-k (its likeliest label when none does). One path or one photo array is one photo.
        Float photos hold pixels in [0, 255]; one in [0, 1] is refused, not guessed at. checked: the arrays
        were made from photos checked before (eval's masked copies, dark where a map is cold): taken as they are.
        """
        images = imaging.one_or_many(images)
        top_k, threshold = at_least_one("top_k", top_k), zero_to_one("threshold", threshold)
        channels = self.preprocess.channels
        photos = [
            imaging.read_image(i, channels)
            if isinstance(i, (str, os.PathLike))
            else (i if checked else imaging.checked_photo(i))
            for i in images
        ]
        names = list(
            sources or [str(i) if isinstance(i, (str, os.PathLike)) else f"image_{n}" for n, i in enumerate(images)]
        )
        wanted = [self.class_id(c) for c in classes] if classes else None
        results = []
        for start in range(0, len(photos), self.batch_size):
            chunk = photos[start : start + self.batch_size]
            inputs = [self.preprocess(p) for p in chunk]
            if self.static_batch:  # fill a fixed batch by repeating the last photo
                inputs += [inputs[-1]] * (self.batch_size - len(inputs))
            out = self.compiled(np.stack(inputs))
            scores = out[self.compiled.output(self.output_index)]
            scores = scores.reshape(scores.shape[0], -1)
            probs = probabilities(scores, self.info.score_kind, self.info.dequantize)
            maps = out[self.compiled.output(SALIENCY)]
            if maps.dtype == np.uint8:
                maps = maps.astype(np.float32) / 255.0
            # A model patched with top_k holds maps for its k best classes only, listed per image.
            kept = out[self.compiled.output(SALIENCY_CLASSES)] if self.kept_classes else None
            for i, photo in enumerate(chunk):
                ranked = [int(c) for c in np.argsort(-probs[i])]
                top = [Prediction(c, self.label(c), float(probs[i, c])) for c in ranked[:5]]
                if wanted:
                    ids = wanted
                elif self.info.score_kind.multilabel:
                    ids = [c for c in ranked if probs[i, c] >= threshold] or ranked[:1]
                else:
                    ids = ranked[:top_k]
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
                shown = imaging.as_channels(photo, 3)  # overlays are drawn on BGR
                results.append(Explanation(names[start + i], shown, probs[i], top, explained, self.preprocess))
        return results
