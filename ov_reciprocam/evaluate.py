"""Score saliency methods on photos with the metrics of ov_reciprocam.metrics (rendering: `eval_report`).

Where things happen (docs/quality.md explains why):
* perturbation metrics (Average Drop, Increase, Deletion/Insertion, Coherency) mask the photo as
  the model sees it: resized to the input size, uint8 range, before normalization;
* Complexity is the mean of the map on that input grid;
* the pointing game puts each method's native map onto the original photo (Preprocess.to_image)
  and takes its peak (imaging.peak), as `explain` does.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from . import baselines, imaging, metrics
from .baselines import BlackBox
from .errors import ReciproCamError
from .loading import read_model
from .patching import is_patched
from .preprocess import Preprocess, recipe_for
from .runtime import Explainer

METHODS = ("reciprocam", "reciprocam-logits", "scorecam", "rise")
METRICS = ("average_drop", "increase", "deletion_auc", "insertion_auc", "coherency", "complexity", "adcc")
TOLERANCE = 15.0  # px, the pointing game's usual margin
BLUR = (11, 5.0)  # kernel, sigma: the RISE authors' blur for insertion

Explain = Callable[[np.ndarray, int], np.ndarray]  # (pixels [H, W, 3], class) -> native map in [0, 1]


@dataclass(frozen=True)
class InputSpace:
    """The photo as the model sees it before normalization: resized BGR pixels, float32 in [0, 255]."""

    recipe: Preprocess

    @property
    def size(self) -> tuple[int, int]:
        return self.recipe.width, self.recipe.height

    def pixels(self, photo: np.ndarray) -> np.ndarray:
        return replace(self.recipe, mean=(0.0,), scale=(1.0,), rgb=False, layout="NHWC")(photo)

    def inputs(self, pixels: np.ndarray) -> np.ndarray:
        """[N, H, W, 3] pixels -> model inputs. The recipe's resize is then to the same size: a no-op in OpenCV."""
        return np.stack([self.recipe(p) for p in pixels])

    def upsample(self, native: np.ndarray) -> np.ndarray:
        """A map at the method's own resolution -> [H, W] on the input grid (bilinear), clipped to [0, 1]."""
        full = native if native.shape == self.size[::-1] else baselines.upsample(native[None], self.size)[0]
        return np.clip(full, 0.0, 1.0).astype(np.float32)

    def blur(self, pixels: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(pixels, (BLUR[0], BLUR[0]), BLUR[1])


def build_methods(
    names: list[str], explainers: dict[str, Explainer], box: BlackBox, space: InputSpace, rise_masks: int, seed: int
) -> dict[str, Explain]:
    """The named methods as functions of input-space pixels and a class, each giving its native map."""

    def recipro(explainer: Explainer) -> Explain:
        return lambda pixels, c: explainer.explain([pixels], classes=[c])[0].classes[0].saliency

    def black_box(method) -> Explain:
        return lambda pixels, c: method(box, space.inputs(pixels[None])[0], c)

    every = {
        "reciprocam": lambda: recipro(explainers["softmax"]),
        "reciprocam-logits": lambda: recipro(explainers["logits"]),
        "scorecam": lambda: black_box(baselines.score_cam),
        "rise": lambda: black_box(lambda b, x, c: baselines.rise(b, x, c, masks=rise_masks, seed=seed)),
    }
    return {name: every[name]() for name in names}


def evaluate_image(
    photo: np.ndarray,
    class_id: int,
    methods: dict[str, Explain],
    box: BlackBox,
    space: InputSpace,
    *,
    steps: int = 50,
    baseline: str = "zero",
    boxes: list[list[float]] | None = None,
) -> dict:
    """Every metric of every method on one BGR photo, explaining `class_id`.

    Returns {"probability": Y, "methods": {name: {metric: value, ..., "curves", "photo_map"}}}.
    """
    pixels = space.pixels(photo)

    def score(images: np.ndarray) -> np.ndarray:
        return box.probs(space.inputs(images))[:, class_id]

    blurred = space.blur(pixels)
    removed = blurred if baseline == "blur" else np.zeros_like(pixels)
    y = float(score(pixels[None])[0])
    results = {}
    for name, explain in methods.items():
        start = time.perf_counter()
        native = explain(pixels, class_id)
        seconds = time.perf_counter() - start
        saliency = space.upsample(native)
        masked = pixels * saliency[..., None]
        o = float(score(masked[None])[0])
        again = space.upsample(explain(masked, class_id))
        deletion = metrics.causal_curve(score, pixels, removed, saliency, steps)
        insertion = metrics.causal_curve(score, blurred, pixels, saliency, steps)
        found = {
            "average_drop": metrics.average_drop(y, o),
            "increase": metrics.increase(y, o),
            "deletion_auc": metrics.auc(deletion),
            "insertion_auc": metrics.auc(insertion),
            "coherency": metrics.coherency(saliency, again),
            "complexity": metrics.complexity(saliency),
        }
        found["adcc"] = metrics.adcc(found["coherency"], found["complexity"], found["average_drop"])
        photo_map = space.recipe.to_image(native, (photo.shape[1], photo.shape[0]))
        peak = imaging.peak(photo_map)
        found["peak"] = list(peak)
        if boxes:
            found["peak_distance"] = min(metrics.box_distance(peak, b) for b in boxes)
            found["pointing_hit"] = metrics.pointing_hit(peak, boxes, TOLERANCE)
        found |= {"seconds": seconds, "masked_probability": o, "curves": {"deletion": deletion, "insertion": insertion}}
        results[name] = found | {"photo_map": photo_map}
    return {"probability": y, "methods": results}


def summarize(records: list[dict], names: list[str]) -> dict:
    """Per method: the mean of each metric over images, pointing hits over images with boxes, mean seconds."""
    summary = {}
    for name in names:
        rows = [r["methods"][name] for r in records]
        entry = {m: float(np.mean([row[m] for row in rows])) for m in METRICS}
        pointed = [row["pointing_hit"] for row in rows if "pointing_hit" in row]
        entry |= {"pointing_hits": sum(pointed), "pointing_total": len(pointed)}
        entry["pointing_accuracy"] = sum(pointed) / len(pointed) if pointed else None
        entry["seconds"] = float(np.mean([row["seconds"] for row in rows]))
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


def _methods_option(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in METHODS]
    if unknown or not names:
        raise ReciproCamError(f"unknown method '{','.join(unknown) or text}'; choose from {','.join(METHODS)}")
    return list(dict.fromkeys(names))


FROM_BOXES = "boxes"  # --class value: explain the class named by each photo's boxes


def evaluate_paths(
    model: str | os.PathLike,
    images: list[str],
    *,
    boxes: Path | None = None,
    methods: str = ",".join(METHODS),
    class_choice: str | None = None,
    steps: int = 50,
    baseline: str = "zero",
    rise_masks: int = 4000,
    seed: int = 0,
    target: str | None = None,
    device: str = "CPU",
    batch_size: int = 32,
    config: dict | None = None,
    labels: list[str] | None = None,
    overrides: dict | None = None,
    raw_pixels: bool = False,
    on_ready: Callable[[Preprocess, int], None] | None = None,
    on_image: Callable[[Path, np.ndarray, dict, list[dict]], str] | None = None,
) -> tuple[list[dict], dict, Preprocess]:
    """Every metric of every method on every photo of `images` (files, folders or globs).

    class_choice: None explains each photo's top-1 class, FROM_BOXES the class its boxes name,
    anything else that class (a label or an id) on every photo.
    on_ready: called with the recipe and the photo count once every check passed, before the long part.
    on_image: called per photo with (path, photo, result, boxes); returns the file name it wrote, if any.
    Returns the per-image records, the per-method summary and the recipe.
    """
    names = _methods_option(methods)
    box_data = read_boxes(boxes)
    from_boxes = class_choice == FROM_BOXES
    if from_boxes and not box_data:
        raise ReciproCamError("--class boxes needs --boxes")
    paths = imaging.collect_images(list(images))
    for path in paths:  # fail on a bad photo or a missing box before the long computation
        imaging.read_image(path)
        if from_boxes and not _boxes_of(box_data, path):
            raise ReciproCamError(f"--class boxes: {path.name} has no boxes in {boxes}")
    loaded = read_model(model)
    if is_patched(loaded):
        raise ReciproCamError("eval takes the plain model: it patches it itself, once per score")
    recipe = recipe_for(loaded, raw_pixels, **(overrides or {}))
    if recipe.embedded:
        raise ReciproCamError("eval needs a model without embedded preprocessing")
    common = {"preprocess": recipe, "labels": labels, "config": config}
    scores = ["softmax"] + (["logits"] if "reciprocam-logits" in names else [])
    # The softmax explainer also resolves labels and class names, as `explain` does.
    explainers = {
        s: Explainer(os.fspath(model), device, batch_size=batch_size, target=target, score=s, **common) for s in scores
    }
    box = BlackBox.build(loaded, recipe.layout, device=device, config=config, target=target, batch=batch_size)
    space = InputSpace(recipe)
    chosen = build_methods(names, explainers, box, space, rise_masks, seed)
    resolve = explainers["softmax"]
    # An unknown class fails before any output is written.
    fixed = resolve.class_id(class_choice) if class_choice not in (None, FROM_BOXES) else None
    if from_boxes:
        for path in paths:
            resolve.class_id(_boxes_of(box_data, path)[0]["label"])
    if on_ready:
        on_ready(recipe, len(paths))
    records = []
    for path in paths:
        photo = imaging.read_image(path)
        objects = _boxes_of(box_data, path) or []
        if from_boxes:
            class_id = resolve.class_id(objects[0]["label"])
            objects = [o for o in objects if o["label"] == objects[0]["label"]]
        elif fixed is not None:
            class_id = fixed
        else:
            class_id = int(np.argmax(box.probs(space.inputs(space.pixels(photo)[None]))[0]))
        result = evaluate_image(
            photo,
            class_id,
            chosen,
            box,
            space,
            steps=steps,
            baseline=baseline,
            boxes=[o["box"] for o in objects] or None,
        )
        written = on_image(path, photo, result, objects) if on_image else None
        for m in result["methods"].values():
            del m["photo_map"]
            m["curves"] = {k: [round(float(v), 6) for v in c] for k, c in m["curves"].items()}
        record = {"image": path.name, "path": str(path), "class_id": class_id, "label": resolve.label(class_id)}
        records.append(record | result | ({"maps": written} if written else {}))
    return records, summarize(records, names), recipe
