"""Score saliency methods on photos with the metrics of `quality.metrics` (rendering: `eval_report`).

Where things happen (docs/quality.md explains why):
* perturbation metrics (Average Drop, Increase, Deletion/Insertion, Coherency) mask the photo as
  the model sees it, resized to the input size; `Protocol` says in which space (the normalized input, or
  0-255 pixels), with which upsampling, and on which grid Coherency and Complexity are taken;
* the pointing game puts each method's native map onto the original photo (Preprocess.to_image)
  and takes its peak (imaging.peak), as `explain` does.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ReciproCamError
from ..inference.explainer import Explainer
from ..model.formats import read_model
from ..patching import is_patched
from ..photos import imaging
from ..photos.preprocess import Preprocess, recipe_for
from ..vocabulary import (
    DeletionBaseline,
    EvalMethod,
    Kernel,
    Layout,
    PatchOptions,
    Protocol,
    Recipe,
    Refinement,
    Score,
    parse,
)
from . import baselines, guided, metrics
from .baselines import BlackBox
from .resample import bicubic

METHODS = tuple(m for m in EvalMethod if m is not EvalMethod.DRISE)  # a classifier's; `detection_eval` has a detector's
# Score-CAM infers once per activation map and RISE once per mask, each twice a photo (its map, then the map of the
# photo it masked, for Coherency): about 78 s a photo on two CPU cores, against a fraction of a second for a
# Recipro-CAM map. They are one flag away (`eval --baselines`), not in every run.
BASELINES = (EvalMethod.SCORECAM, EvalMethod.RISE)
DEFAULT_METHODS = (EvalMethod.RECIPROCAM, EvalMethod.RECIPROCAM_LOGITS)
# The Recipro-CAM methods, each as the patch options of its explainer.
_SOFTMAX = PatchOptions(score=Score.SOFTMAX)
RECIPRO = {
    EvalMethod.RECIPROCAM: _SOFTMAX,
    EvalMethod.RECIPROCAM_LOGITS: replace(_SOFTMAX, score=Score.LOGITS),
    EvalMethod.RECIPROCAM_GAUSSIAN: replace(_SOFTMAX, kernel=Kernel.GAUSSIAN),
    EvalMethod.RECIPROCAM_WINDOW: replace(_SOFTMAX, kernel=Kernel.WINDOW),
}
# Every photo's metrics, averaged over the photos, each with which way is better (+ higher, - lower): the rest of
# eval iterates over it (the summary, the table and its arrows, metrics.csv, report.html's columns).
METRICS = {"average_drop": "-", "increase": "+", "deletion_auc": "-", "insertion_auc": "+", "coherency": "+"}
METRICS |= {"complexity": "-", "adcc": "+"}
TOLERANCE = 15.0  # px, the pointing game's usual margin
# Copies per inference request, several requests at once (`BlackBox.stream`): on a 2-core EPYC the plain dog model
# ran 178-208 inputs/s one a request, 104-115 four, 90-96 thirty-two (docs/benchmarks.md, "eval throughput").
EVAL_BATCH = 1
BLUR = (11, 5.0)  # kernel, sigma: the RISE authors' blur for insertion

Explain = Callable[[np.ndarray, int], np.ndarray]  # (pixels [H, W, 3], class) -> native map in [0, 1]


@dataclass(frozen=True)
class InputSpace:
    """The photo as the model sees it before normalization: resized BGR pixels, float32 in [0, 255].

    Maps multiply the photo as `protocol` says. Normalization is affine per channel, so a product in
    normalized space is, in pixels, a blend towards `neutral`, the pixel that normalizes to 0.
    """

    recipe: Preprocess
    protocol: Protocol = Protocol.PAPER

    @property
    def size(self) -> tuple[int, int]:
        return self.recipe.width, self.recipe.height

    def pixels(self, photo: np.ndarray) -> np.ndarray:
        return replace(self.recipe, mean=(0.0,), scale=(1.0,), rgb=False, layout=Layout.NHWC, quantize=None)(photo)

    def normalized(self, pixels: np.ndarray) -> np.ndarray:
        """[N, H, W, 3] pixels -> normalized model inputs (the recipe's resize is then to the same size: a no-op
        in OpenCV); what `BlackBox` takes, and encodes for an integer input port."""
        return np.stack([self.recipe.normalized(p) for p in pixels])

    def inputs(self, pixels: np.ndarray) -> np.ndarray:
        """[N, H, W, 3] pixels -> model inputs as the port takes them."""
        return self.recipe.encode(self.normalized(pixels))

    @property
    def neutral(self) -> np.ndarray:
        """[C] BGR: the pixel a removed pixel becomes."""
        if self.protocol is Protocol.PIXELS:
            return np.zeros(1, np.float32)
        mean = np.asarray(self.recipe.mean, np.float32)
        return mean[::-1].copy() if self.recipe.rgb and mean.size == 3 else mean

    def masked(self, pixels: np.ndarray, saliency: np.ndarray) -> np.ndarray:
        """`pixels` [H, W, C] times `saliency` [H, W] in the protocol's space."""
        return self.neutral + (pixels - self.neutral) * saliency[..., None]

    def removed(self, pixels: np.ndarray) -> np.ndarray:
        """`pixels` with every pixel removed."""
        return np.broadcast_to(self.neutral, pixels.shape).astype(np.float32)

    def upsample(self, native: np.ndarray) -> np.ndarray:
        """A map at the method's own resolution -> [H, W] on the input grid: PIL's bicubic, unclipped (paper), or
        bilinear clipped to [0, 1] (pixels)."""
        if native.shape == self.size[::-1]:
            return native.astype(np.float32)
        if self.protocol is Protocol.PAPER:
            return bicubic(native, self.size)
        return np.clip(baselines.upsample(native[None], self.size)[0], 0.0, 1.0).astype(np.float32)

    @property
    def on_input_grid(self) -> bool:
        """Coherency and Complexity on the upsampled maps (pixels), or on the maps as the method made them."""
        return self.protocol is Protocol.PIXELS

    def blur(self, pixels: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(pixels, (BLUR[0], BLUR[0]), BLUR[1])


def build_methods(
    names: list[EvalMethod],
    explainers: dict[EvalMethod, Explainer],
    box: BlackBox,
    space: InputSpace,
    rise_masks: int,
    seed: int,
    refinement: Refinement = Refinement.NONE,
) -> dict[EvalMethod, Explain]:
    """The named methods as functions of input-space pixels and a class, each giving its own map; `explainers`
    holds one for each Recipro-CAM method named."""

    def recipro(explainer: Explainer) -> Explain:
        def explain(pixels: np.ndarray, c: int) -> np.ndarray:
            box.images_run += 1  # one inference of the patched model, counted with the black box's
            return explainer.explain([pixels], classes=[c], checked=True)[0].classes[0].saliency

        return explain

    def black_box(method: Callable[[BlackBox, np.ndarray, int], np.ndarray]) -> Explain:
        return lambda pixels, c: method(box, space.normalized(pixels[None])[0], c)

    def method(name: EvalMethod) -> Explain:
        if name is EvalMethod.SCORECAM:
            return black_box(baselines.score_cam)
        if name is EvalMethod.RISE:
            return black_box(lambda b, x, c: baselines.rise(b, x, c, masks=rise_masks, seed=seed))
        return recipro(explainers[name])

    methods = {name: method(name) for name in names}
    if refinement is Refinement.NONE:
        return methods
    rise_grid = (baselines.RISE_CELLS, baselines.RISE_CELLS)
    return {n: guided_by_photo(m, space, rise_grid if n is EvalMethod.RISE else None) for n, m in methods.items()}


def guided_by_photo(method: Explain, space: InputSpace, grid: tuple[int, int] | None = None) -> Explain:
    """`method`'s map upsampled as the protocol says, then guided-filtered by the pixels it explains. The window's
    radius is one cell of the grid the map was made on: the map's own, or `grid` (h, w) for a method that makes
    its map on the input grid from coarser cells (RISE's masks)."""

    def explain(pixels: np.ndarray, c: int) -> np.ndarray:
        native = method(pixels, c)
        radius = guided.cell_radius(grid or native.shape, space.size)
        return guided.guided_filter(space.upsample(native), pixels, radius)

    return explain


def evaluate_image(
    photo: np.ndarray,
    class_id: int,
    methods: dict[EvalMethod, Explain] | dict[str, Explain],
    box: BlackBox,
    space: InputSpace,
    *,
    steps: int = 50,
    baseline: DeletionBaseline = DeletionBaseline.ZERO,
    boxes: list[list[float]] | None = None,
    mask: np.ndarray | None = None,
) -> dict:
    """Every metric of every method on one BGR photo, explaining `class_id`.

    Returns {"probability": Y, "methods": {name: {metric: value, ..., "curves", "photo_map"}}}; per method,
    `seconds` its map took and `metric_seconds` its metrics (the map of the masked photo, the copies inferred).
    """
    pixels = space.pixels(photo)
    blurred = space.blur(pixels)
    removed = blurred if baseline is DeletionBaseline.BLUR else space.removed(pixels)
    y = float(box.probs(space.normalized(pixels[None]))[0, class_id])
    results: dict[str, dict[str, Any]] = {}
    for name, explain in methods.items():
        start, before = time.perf_counter(), box.images_run
        native = explain(pixels, class_id)
        seconds, inferences = time.perf_counter() - start, box.images_run - before
        start = time.perf_counter()
        saliency = space.upsample(native)
        masked = space.masked(pixels, saliency)
        again = explain(masked, class_id)
        copies = _copies(space, masked, ((pixels, removed), (blurred, pixels)), saliency, steps, box.batch)
        probs = box.stream(copies)[:, class_id]
        o, deletion, insertion = float(probs[0]), probs[1 : steps + 2], probs[steps + 2 :]
        first, second = (saliency, space.upsample(again)) if space.on_input_grid else (native, again)
        found: dict[str, Any] = {
            "average_drop": metrics.average_drop(y, o),
            "increase": metrics.increase(y, o),
            "deletion_auc": metrics.auc(deletion),
            "insertion_auc": metrics.auc(insertion),
            "coherency": metrics.coherency(first, second),
            "complexity": metrics.complexity(first),
        }
        found["adcc"] = metrics.adcc(found["coherency"], found["complexity"], found["average_drop"])
        metric_seconds = time.perf_counter() - start
        photo_map = space.recipe.to_image(native, (photo.shape[1], photo.shape[0]))
        found |= _pointing(photo_map, boxes, mask)
        found |= {"seconds": seconds, "metric_seconds": metric_seconds, "inferences": inferences}
        found |= {"masked_probability": o, "curves": {"deletion": deletion, "insertion": insertion}}
        results[name] = found | {"photo_map": photo_map}
    return {"probability": y, "methods": results}


def _copies(
    space: InputSpace,
    masked: np.ndarray,
    curves: tuple[tuple[np.ndarray, np.ndarray], ...],
    saliency: np.ndarray,
    steps: int,
    size: int,
) -> Iterator[np.ndarray]:
    """The model inputs a map's perturbation metrics need, made as they are inferred (`BlackBox.stream`): the photo
    masked by the map, then each curve's (start, finish) copies, `size` at a time."""
    yield space.normalized(masked[None])
    for start, finish in curves:
        for chunk in metrics.step_chunks(start, finish, saliency, steps, size):
            yield space.normalized(chunk)


def _pointing(photo_map: np.ndarray, boxes: list[list[float]] | None, mask: np.ndarray | None) -> dict[str, Any]:
    """The map's peak on the photo and, with the object's mask or boxes, the pointing game and the energy on it."""
    peak = imaging.peak(photo_map)
    found: dict[str, Any] = {"peak": list(peak)}
    if mask is not None:  # the object's own pixels: pointing and energy on them
        found["peak_distance"] = metrics.region_distance(peak, mask)
        found["pointing_hit"] = found["peak_distance"] <= TOLERANCE
        found["energy_pointing"] = metrics.energy_pointing(photo_map, mask)
    elif boxes:
        found["peak_distance"] = min(metrics.box_distance(peak, b) for b in boxes)
        found["pointing_hit"] = metrics.pointing_hit(peak, boxes, TOLERANCE)
        region = metrics.boxes_region(photo_map.shape[::-1], boxes)
        found["energy_pointing"] = metrics.energy_pointing(photo_map, region)
    return found


def summarize(records: list[dict], names: list[str], protocol: Protocol = Protocol.PAPER) -> dict:
    """Per method: the mean of each metric over images, pointing hits over images with boxes, mean seconds.

    ADCC: of the means (paper), or the mean of the photos' (pixels); both are kept, `adcc` is the protocol's.
    """
    summary: dict[str, dict[str, Any]] = {}
    for name in names:
        rows = [r["methods"][name] for r in records]
        entry: dict[str, Any] = {m: float(np.mean([row[m] for row in rows])) for m in METRICS}
        entry["adcc_per_photo"] = entry["adcc"]
        entry["adcc_of_means"] = metrics.adcc(entry["coherency"], entry["complexity"], entry["average_drop"])
        entry["adcc"] = entry["adcc_of_means" if protocol is Protocol.PAPER else "adcc_per_photo"]
        pointed = [row["pointing_hit"] for row in rows if "pointing_hit" in row]
        entry |= {"pointing_hits": sum(pointed), "pointing_total": len(pointed)}
        entry["pointing_accuracy"] = sum(pointed) / len(pointed) if pointed else None
        energies = [row["energy_pointing"] for row in rows if "energy_pointing" in row]
        entry["energy_pointing"] = float(np.mean(energies)) if energies else None
        for timing in ("seconds", "metric_seconds"):
            entry[timing] = float(np.mean([row[timing] for row in rows]))
        entry["inferences"] = float(np.mean([row["inferences"] for row in rows]))
        summary[name] = entry
    return summary


def read_boxes(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
        return {
            str(k): [{"label": str(o["label"]), "box": [float(v) for v in o["box"]][:4]} for o in objects]
            for k, objects in data.items()
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ReciproCamError(
            f'cannot read boxes {path}: expected {{"file": [{{"label": ..., "box": [x0, y0, x1, y1]}}]}} ({exc})'
        ) from None


def _boxes_of(boxes: dict, path: Path) -> list[dict] | None:
    return boxes.get(str(path)) or boxes.get(path.name)


def read_mask(folder: Path, photo: Path, size: tuple[int, int], value: int | None = None) -> np.ndarray | None:
    """[H, W] bool for a (W, H) photo from `folder`/NAME_mask.png or NAME.png: its non-zero pixels, or those equal
    to `value`; resized to the photo with the nearest pixel. None when the folder has no mask for it."""
    for name in (f"{photo.stem}_mask.png", f"{photo.stem}.png"):
        if (path := folder / name).is_file():
            labels = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if labels is None:
                raise ReciproCamError(f"cannot read the mask {path}")
            if labels.shape[::-1] != size:
                labels = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
            return labels != 0 if value is None else labels == value
    return None


def methods_of(
    text: str, allowed: tuple[EvalMethod, ...] = METHODS, model: str = "classifier"
) -> tuple[EvalMethod, ...]:
    """The `methods` named in `text` ('reciprocam,rise'); one a `model` (classifier, detector) cannot take: refused."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in tuple(EvalMethod)]
    if unknown or not names:
        raise ReciproCamError(f"unknown method '{','.join(unknown) or text}'; choose from {','.join(allowed)}")
    if wrong := [n for n in names if n not in allowed]:
        raise ReciproCamError(
            f"`methods` {','.join(wrong)} cannot explain a {model}: a {model} takes {','.join(allowed)}"
        )
    return tuple(dict.fromkeys(EvalMethod(n) for n in names))


FROM_BOXES = "boxes"  # `class_choice` value: explain the class named by each photo's boxes


@dataclass(frozen=True)
class EvalSettings:
    """Everything an Evaluator needs: plain data, so that each Ray actor can build its own.

    `eval_settings` makes one from the user's options: it checks them, reads the model, the recipe, the methods and
    the boxes; every other field is taken as given, as the CLI parsed it.
    """

    model: str
    recipe: Preprocess
    names: tuple[EvalMethod, ...] = DEFAULT_METHODS
    boxes: dict = field(default_factory=dict)
    masks: str | None = None  # a folder of object masks, NAME_mask.png or NAME.png
    mask_value: int | None = None  # the masks' object value; None: any non-zero pixel
    class_choice: str | None = None
    steps: int = 50
    baseline: DeletionBaseline = DeletionBaseline.ZERO
    rise_masks: int = 4000
    seed: int = 0
    target: str | None = None
    device: str = "CPU"
    batch_size: int = EVAL_BATCH
    config: dict | None = None
    labels: tuple[str, ...] | None = None
    protocol: Protocol = Protocol.PAPER
    refinement: Refinement = Refinement.NONE

    def __post_init__(self) -> None:
        # Frozen and picklable whatever the caller gave: a path for `masks`, a list of `labels`.
        object.__setattr__(self, "masks", os.fspath(self.masks) if self.masks is not None else None)
        object.__setattr__(self, "labels", tuple(self.labels) if self.labels else None)


@dataclass(frozen=True)
class Cost:
    """What scoring one photo takes, known before the run.

    inputs: model inputs per method (Score-CAM's at most: it skips flat activation maps); shared: the inputs that
    pick the class and take its probability, once a photo. seconds: an estimate, from one timed inference at
    batch 1 and one at the batch the metrics use.
    """

    inputs: dict[EvalMethod, int]
    shared: int
    seconds: float

    @property
    def per_photo(self) -> int:
        return self.shared + sum(self.inputs.values())


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


class Evaluator:
    """The compiled models and methods of one eval run; `evaluate` scores one photo."""

    def __init__(self, settings: EvalSettings) -> None:
        self.settings = s = settings
        # The softmax explainer, always built, also resolves labels and class names, as `explain` does.
        recipro = dict.fromkeys((EvalMethod.RECIPROCAM, *(n for n in s.names if n in RECIPRO)))
        variants = {name: replace(RECIPRO[name], target=s.target) for name in recipro}
        explainers = {
            name: Explainer(
                s.model,
                s.device,
                preprocess=s.recipe,
                labels=s.labels,
                batch_size=s.batch_size,
                config=s.config,
                patch_options=options,
            )
            for name, options in variants.items()
        }
        self.box = BlackBox.build(
            read_model(s.model),
            s.recipe.layout,
            device=s.device,
            config=s.config,
            target=s.target,
            batch=s.batch_size,
            encode=s.recipe.encode,
        )
        self.space = InputSpace(s.recipe, s.protocol)
        self.methods = build_methods(
            list(s.names), explainers, self.box, self.space, s.rise_masks, s.seed, s.refinement
        )
        self.resolve = explainers[EvalMethod.RECIPROCAM]
        self.precision = self.resolve.precision  # every model here is compiled alike: what the device runs
        # An unknown class fails here, before any photo is scored.
        self.fixed = self.resolve.class_id(s.class_choice) if s.class_choice not in (None, FROM_BOXES) else None

    def cost(self) -> Cost:
        """What each photo will take: `evaluate_image`'s inferences counted, and timed on a blank input."""
        s, box = self.settings, self.box
        w, h = self.space.size
        x = self.space.normalized(np.zeros((1, h, w, 3), np.float32))
        counted = box.images_run
        box.probs(np.repeat(x, box.batch, 0))  # the first inference of a compiled model also allocates
        one = _timed(lambda: box.probs(x))
        batched = _timed(lambda: box.probs(np.repeat(x, box.batch, 0)))
        box.images_run = counted  # `images_run` counts the methods' inferences

        def call(n: int) -> float:  # one batched call of n inputs
            return max(one, n * batched / box.batch)

        maps = {EvalMethod.SCORECAM: (1 + box.target.channels, one + call(box.target.channels))}
        maps[EvalMethod.RISE] = (s.rise_masks, call(s.rise_masks))
        inputs, seconds = {}, 0.0
        for name in s.names:
            count, time_taken = maps.get(name, (1, one))  # a Recipro-CAM map: one inference of the patched model
            # The map twice (of the photo, then of the photo it masked), the masked photo's score, both curves.
            inputs[name] = 2 * count + 1 + 2 * (s.steps + 1)
            seconds += 2 * time_taken + one + 2 * call(s.steps + 1)
        shared = 1 if s.class_choice is not None else 2  # the top-1 class needs an inference of its own
        return Cost(inputs, shared, seconds + shared * one)

    def check_boxes(self, paths: list[Path]) -> None:
        """With `class_choice` boxes, every photo names a class the model knows."""
        if self.settings.class_choice == FROM_BOXES:
            for path in paths:
                named = _boxes_of(self.settings.boxes, path)
                assert named  # check_photos, which runs first, refuses a photo without boxes
                self.resolve.class_id(named[0]["label"])

    def evaluate(
        self,
        path: Path,
        on_image: Callable[[Path, np.ndarray, dict, list[dict]], str] | None = None,
        photo: np.ndarray | None = None,
    ) -> dict:
        """The record of one photo: its class, every metric of every method, and what `on_image` wrote."""
        s = self.settings
        photo = imaging.read_image(path) if photo is None else photo
        objects = _boxes_of(s.boxes, path) or []
        if s.class_choice == FROM_BOXES:
            class_id = self.resolve.class_id(objects[0]["label"])
            objects = [o for o in objects if o["label"] == objects[0]["label"]]
        elif self.fixed is not None:
            class_id = self.fixed
        else:
            class_id = int(np.argmax(self.box.probs(self.space.normalized(self.space.pixels(photo)[None]))[0]))
        result = evaluate_image(
            photo,
            class_id,
            self.methods,
            self.box,
            self.space,
            steps=s.steps,
            baseline=s.baseline,
            boxes=[o["box"] for o in objects] or None,
            mask=read_mask(Path(s.masks), path, (photo.shape[1], photo.shape[0]), s.mask_value) if s.masks else None,
        )
        record = {"image": path.name, "path": str(path), "class_id": class_id, "label": self.resolve.label(class_id)}
        written = on_image(path, photo, record | result, objects) if on_image else None  # the pictures name the class
        for m in result["methods"].values():
            del m["photo_map"]
            m["curves"] = {k: [round(float(v), 6) for v in c] for k, c in m["curves"].items()}
        return record | result | ({"maps": written} if written else {})


def eval_settings(
    model: str | os.PathLike,
    *,
    recipe: Recipe | None = None,
    methods: str = ",".join(DEFAULT_METHODS),
    boxes: Path | None = None,
    masks: Path | None = None,
    protocol: Protocol | str = Protocol.PAPER,
    refinement: Refinement | str = Refinement.NONE,
    baseline: DeletionBaseline | str = DeletionBaseline.ZERO,
    **given: Any,
) -> EvalSettings:
    """The options of an eval run, checked before the model is read: the `methods` named, the `boxes` file read, the
    `masks` folder, the kinds (`protocol`, `refinement`, `baseline`); then the model (plain) and its `recipe`.
    `given` holds EvalSettings' other fields, as the CLI parsed them (steps=4, seed=1)."""
    names = methods_of(methods)
    protocol, refinement = parse(Protocol, protocol, "protocol"), parse(Refinement, refinement, "refinement")
    baseline = parse(DeletionBaseline, baseline, "baseline")
    if masks is not None and not Path(masks).is_dir():
        raise ReciproCamError(f"`masks` must be a folder of masks (NAME_mask.png or NAME.png), got {masks}")
    box_data = read_boxes(boxes)
    if given.get("class_choice") == FROM_BOXES and not box_data:
        raise ReciproCamError("`class_choice` boxes needs `boxes`")
    loaded = read_model(model)
    if is_patched(loaded):
        raise ReciproCamError("eval takes the plain model: it patches it itself, once per score")
    resolved = recipe_for(loaded, recipe)
    if resolved.embedded:
        raise ReciproCamError("eval needs a model without embedded preprocessing")
    return EvalSettings(
        os.fspath(model),
        resolved,
        names,
        box_data,
        masks=None if masks is None else os.fspath(masks),
        protocol=protocol,
        refinement=refinement,
        baseline=baseline,
        **given,
    )


def check_photos(settings: EvalSettings, paths: list[Path], read: bool = True) -> None:
    """Fail on a bad photo (if `read`) or a missing box before the long computation."""
    for path in paths:
        if read:
            imaging.read_image(path)
        if settings.class_choice == FROM_BOXES and not _boxes_of(settings.boxes, path):
            raise ReciproCamError(f"`class_choice` boxes: {path.name} has no boxes")
