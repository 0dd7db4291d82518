"""Run a patched model on photos: one compiled model, batched, predictions plus maps per image.

`Explainer.explain` does, batch after batch, three steps a pipeline can overlap (`runs.explain`): `batch` (photos
made into one input, on the CPU), `infer` or `start` (the model, waited for or not), `finish` (scores and maps made
into `Explanation`s).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
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
# A call to `explain` runs compiled for latency, OpenVINO's default: one photo on a 2-core EPYC took the dog model
# 1.4 ms so, 2.5 ms compiled for throughput (two streams of one core each; Coral's MobileNetV2: 10.8 ms either way).
# A folder run (`start`) compiles again, for throughput, on first use (0.1-0.35 s, more on a busy machine), unless
# `config` holds a hint: `explain`, which only runs folders, compiles once, with this one.
THROUGHPUT = {"PERFORMANCE_HINT": "THROUGHPUT"}


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


@dataclass(frozen=True)
class Wanted:
    """Which classes to explain in each photo: `ids` when given, else the `top_k` likeliest (a multi-label model:
    those at or above `threshold`)."""

    top_k: int = 3
    ids: tuple[int, ...] = ()
    threshold: float = 0.5


@dataclass(frozen=True)
class Batch:
    """Photos made into one input: what a pipeline hands from preprocessing to inference."""

    names: list[str]
    photos: list[np.ndarray]
    inputs: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Raw:
    """What the model returned for one batch, copied out of its request: scores, maps in [0, 1], and the classes
    whose maps it kept (a model patched with top_k), per photo."""

    scores: np.ndarray
    maps: np.ndarray
    kept: np.ndarray | None


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
    requests: inference requests a folder run keeps busy at once (`start`); by default the number the device
        says is optimal for the model compiled for throughput.
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
        requests: int | None = None,
    ) -> None:
        if batch_size is not None:  # before the model is read and patched: a typo should cost nothing
            batch_size = at_least_one("batch_size", batch_size)
        self._requests = None if requests is None else at_least_one("requests", requests)
        self._queue: ov.AsyncInferQueue | None = None
        device = check_device(device)  # before the model is read and patched, too
        loaded = read_model(model)
        info = PatchInfo.read(loaded)
        self.patched_here = info is None
        self.patch_options = PatchOptions.of(patch_options)
        if info is None:
            loaded = patch(loaded, self.patch_options)
            info = PatchInfo.read(loaded)
        if info is None:  # a detector's record: its maps are per detection, not per class
            raise ReciproCamError("this model is an object detector: explain it with DetectorExplainer")
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
        self.device, self.config = device, config
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
        wanted = self.wanted(top_k, classes, threshold)
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
        results: list[Explanation] = []
        for start in range(0, len(photos), self.batch_size):
            batch = self.batch(photos[start : start + self.batch_size], names[start : start + self.batch_size])
            results += self.finish(batch, self.infer(batch), wanted)
        return results

    def wanted(self, top_k: int = 3, classes: Sequence[int | str] | None = None, threshold: float = 0.5) -> Wanted:
        """The classes `explain` is asked for, checked: `classes` (ids or labels), else `top_k` or `threshold`."""
        top_k, threshold = at_least_one("top_k", top_k), zero_to_one("threshold", threshold)
        return Wanted(top_k, tuple(self.class_id(c) for c in classes or ()), threshold)

    def batch(self, photos: Sequence[np.ndarray], names: Sequence[str]) -> Batch:
        """Photos (at most `batch_size`, read and checked) made into one input; a fixed batch is filled by repeating
        the last photo."""
        inputs = [self.preprocess(p) for p in photos]
        if self.static_batch:
            inputs += [inputs[-1]] * (self.batch_size - len(inputs))
        return Batch(list(names), list(photos), np.stack(inputs))

    def infer(self, batch: Batch) -> Raw:
        """The model on `batch`, waited for, in the model compiled for latency."""
        out = self.compiled(batch.inputs)
        return self._raw(self.compiled, lambda port: out[port])

    @property
    def requests(self) -> int:
        """Inference requests `start` keeps busy at once (compiling the model for throughput if not yet)."""
        return len(self._throughput())

    def start(self, batch: Batch) -> Future[Raw]:
        """The model on `batch`, not waited for: the future is done (in OpenVINO's thread) when the scores and maps
        are copied out. Waits only while every request is busy, which bounds the batches in flight."""
        queue = self._throughput()
        done: Future[Raw] = Future()
        queue.start_async(batch.inputs, done)
        return done

    def wait(self) -> None:
        """Until every request `start` made is done (and its future with it)."""
        if self._queue is not None:
            self._queue.wait_all()

    def _throughput(self) -> ov.AsyncInferQueue:
        if self._queue is None:
            hinted = (self.config or {}).get("PERFORMANCE_HINT") is not None  # a hint given wins, compiled once
            compiled = (
                self.compiled if hinted else compile_for(self.model, self.device, THROUGHPUT | (self.config or {}))
            )
            count = self._requests or compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")

            def copied(request: ov.InferRequest, done: Future[Raw]) -> None:
                try:  # the request's tensors are reused by the next batch: copied out first
                    done.set_result(self._raw(compiled, lambda port: request.get_tensor(port).data))
                except BaseException as exc:  # handed to whoever waits on the future, not lost in OpenVINO's thread
                    done.set_exception(exc)

            queue = ov.AsyncInferQueue(compiled, count)
            queue.set_callback(copied)
            self._queue = queue
        return self._queue

    def _raw(self, compiled: ov.CompiledModel, read: Callable[[ov.ConstOutput], np.ndarray]) -> Raw:
        scores = np.array(read(compiled.output(self.output_index)))
        maps = np.array(read(compiled.output(SALIENCY)))
        if maps.dtype == np.uint8:
            maps = maps.astype(np.float32) / 255.0
        # A model patched with top_k holds maps for its k best classes only, listed per image.
        kept = np.array(read(compiled.output(SALIENCY_CLASSES))) if self.kept_classes else None
        return Raw(scores.reshape(scores.shape[0], -1), maps, kept)

    def finish(self, batch: Batch, raw: Raw, wanted: Wanted) -> Iterator[Explanation]:
        """The `Explanation` of each photo of `batch`, from what the model returned for it, each made when asked for:
        a writer then holds one photo's maps at its resolution at a time (3 maps of a 1600x1200 photo: 23 MB)."""
        probs = probabilities(raw.scores, self.info.score_kind, self.info.dequantize)
        return (self._explained(batch, i, probs[i], raw, wanted) for i in range(len(batch.photos)))

    def _explained(self, batch: Batch, i: int, probs: np.ndarray, raw: Raw, wanted: Wanted) -> Explanation:
        ranked = np.argsort(-probs)  # made Python ints only where needed: a thousand classes a photo add up
        top = [Prediction(int(c), self.label(int(c)), float(probs[c])) for c in ranked[:5]]
        if wanted.ids:
            ids = list(wanted.ids)
        elif self.info.score_kind.multilabel:
            ids = [int(c) for c in ranked[probs[ranked] >= wanted.threshold]] or [int(ranked[0])]
        else:
            ids = [int(c) for c in ranked[: wanted.top_k]]
        slot = {int(c): j for j, c in enumerate(raw.kept[i])} if raw.kept is not None else {c: c for c in ids}
        missing = [self.label(c) for c in ids if c not in slot]
        if missing:
            raise ReciproCamError(
                f"the model keeps maps for its {self.kept_classes} best classes only (patched with top_k); "
                f"{', '.join(missing)} is not among them for {batch.names[i]}"
            )
        maps = raw.maps[i]
        explained = [ClassMap(c, self.label(c), float(probs[c]), maps[slot[c]], self._flat(maps[slot[c]])) for c in ids]
        shown = imaging.as_channels(batch.photos[i], 3)  # overlays are drawn on BGR
        return Explanation(batch.names[i], shown, probs, top, explained, self.preprocess)
