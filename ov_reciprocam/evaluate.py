"""`ov-reciprocam eval`: score saliency methods on photos with the metrics of ov_reciprocam.metrics.

Where things happen (docs/quality.md explains why):
* perturbation metrics (Average Drop, Increase, Deletion/Insertion, Coherency) mask the photo as
  the model sees it: resized to the input size, uint8 range, before normalization;
* Complexity is the mean of the map on that input grid;
* the pointing game puts each method's native map onto the original photo (Preprocess.to_image)
  and takes its peak (imaging.peak), as `explain` does.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import click
import cv2
import numpy as np

from . import baselines, files, imaging, metrics
from .baselines import BlackBox
from .errors import ReciproCamError
from .loading import read_model
from .patch import is_patched
from .preprocess import Preprocess
from .runtime import Explainer, read_labels

METHODS = ("reciprocam", "reciprocam-logits", "scorecam", "rise")
METRICS = ("average_drop", "increase", "deletion_auc", "insertion_auc", "coherency", "complexity", "adcc")
# Which way is better, for the table header.
_BETTER = {"average_drop": "-", "increase": "+", "deletion_auc": "-", "insertion_auc": "+", "coherency": "+"}
_BETTER |= {"complexity": "-", "adcc": "+"}
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


def table(records: list[dict], summary: dict) -> str:
    """A Markdown table: one row per image and method, then the means."""
    head = ["image", "class", "method", *(f"{m} ({_BETTER[m]})" for m in METRICS), "pointing", "s"]
    rows = []
    for r in records:
        for name, m in r["methods"].items():
            rows.append(
                [r["image"], r["label"], name, *(f"{m[k]:.3f}" for k in METRICS), _pointing(m), f"{m['seconds']:.2f}"]
            )
    for name, s in summary.items():
        point = f"{s['pointing_hits']}/{s['pointing_total']}" if s["pointing_total"] else "-"
        rows.append(["**mean**", "", name, *(f"{s[k]:.3f}" for k in METRICS), point, f"{s['seconds']:.2f}"])
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows, strict=True)]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def _pointing(m: dict) -> str:
    if "pointing_hit" not in m:
        return "-"
    return f"{'hit' if m['pointing_hit'] else 'miss'} ({m['peak_distance']:.0f} px)"


def csv_text(records: list[dict], summary: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["image", "class_id", "label", "probability", "method", *METRICS, "pointing_hit", "peak_distance", "seconds"]
    )
    for r in records:
        for name, m in r["methods"].items():
            writer.writerow(
                [r["image"], r["class_id"], r["label"], f"{r['probability']:.6f}", name]
                + [f"{m[k]:.6f}" for k in METRICS]
                + [m.get("pointing_hit", ""), _fmt(m.get("peak_distance")), f"{m['seconds']:.4f}"]
            )
    for name, s in summary.items():
        hits = f"{s['pointing_hits']}/{s['pointing_total']}" if s["pointing_total"] else ""
        writer.writerow(["mean", "", "", "", name, *(f"{s[k]:.6f}" for k in METRICS), hits, "", f"{s['seconds']:.4f}"])
    return out.getvalue()


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def side_by_side(photo: np.ndarray, result: dict, boxes: list[list[float]] | None, tile: int = 320) -> np.ndarray:
    """The photo with its boxes, then each method's map on it with its peak marked, in one row."""
    framed = photo.copy()
    thickness = max(1, round(max(photo.shape[:2]) / 300))
    for b in boxes or []:
        cv2.rectangle(framed, (round(b[0]), round(b[1])), (round(b[2]), round(b[3])), (0, 255, 0), thickness)
    row = [imaging.overlay(framed, np.zeros(photo.shape[:2], np.float32), "photo", alpha=0.0)]
    for name, m in result["methods"].items():
        picture = imaging.overlay(framed, m["photo_map"], f"{name} {_pointing(m)}")
        cv2.circle(picture, tuple(m["peak"]), 4 * thickness, (255, 255, 255), -1)
        cv2.circle(picture, tuple(m["peak"]), 4 * thickness, (0, 0, 0), thickness)
        row.append(picture)
    return imaging.contact_sheet([row], tile)


def curve_plots(records: list[dict], names: list[str]) -> dict[str, bytes] | None:
    """One PNG per method with every image's deletion and insertion curves; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    plots = {}
    for name in names:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        for ax, kind in zip(axes, ("deletion", "insertion"), strict=True):
            curves = np.array([r["methods"][name]["curves"][kind] for r in records])
            x = np.linspace(0, 1, curves.shape[1])
            for r, curve in zip(records, curves, strict=True):
                ax.plot(x, curve, lw=1, alpha=0.6, label=f"{r['image']} ({metrics.auc(curve):.3f})")
            ax.plot(x, curves.mean(axis=0), "k", lw=2.5, label=f"mean ({metrics.auc(curves.mean(axis=0)):.3f})")
            ax.set(title=f"{name}: {kind} (AUC)", xlabel="fraction of pixels", ylim=(0, 1.02))
            ax.legend(fontsize=7)
        axes[0].set_ylabel("class probability")
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        plt.close(fig)
        plots[name] = buffer.getvalue()
    return plots


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


def run(
    model,
    images,
    *,
    boxes,
    methods,
    target_mode,
    output,
    steps,
    baseline,
    rise_masks,
    seed,
    feature_map,
    device,
    batch,
    precision,
    config,
    labels,
    overrides,
):
    """Score saliency methods on MODEL (a plain classifier) and IMAGES (files, folders or globs).

    Per image and method, and averaged: Average Drop, Increase in Confidence, Deletion and
    Insertion AUC, Coherency, Complexity, ADCC, the pointing game (with --boxes) and the time to
    make the map. Writes OUTPUT/metrics.json, metrics.csv, curves_METHOD.png (needs matplotlib:
    pip install 'ov-reciprocam[plot]') and NAME_maps.png per image.
    """
    names = _methods_option(methods)
    box_data = read_boxes(boxes)
    if target_mode == "label-from-boxes" and not box_data:
        raise ReciproCamError("--target label-from-boxes needs --boxes")
    paths = imaging.collect_images(list(images))
    for path in paths:  # fail on a bad photo or a missing box before the long computation
        imaging.read_image(path)
        if target_mode == "label-from-boxes" and not _boxes_of(box_data, path):
            raise ReciproCamError(f"--target label-from-boxes: {path.name} has no boxes in {boxes}")
    loaded = read_model(model)
    if is_patched(loaded):
        raise ReciproCamError("eval takes the plain model: it patches it itself, once per score")
    recipe = Preprocess.from_model(loaded, **overrides)
    if recipe.embedded:
        raise ReciproCamError("eval needs a model without embedded preprocessing")
    common = {"preprocess": recipe, "labels": read_labels(labels) if labels else None, "config": config}
    scores = ["softmax"] + (["logits"] if "reciprocam-logits" in names else [])
    # The softmax explainer also resolves labels and class names, as `explain` does.
    explainers = {
        s: Explainer(os.fspath(model), device, batch=batch, target=feature_map, score=s, **common) for s in scores
    }
    box = BlackBox.build(loaded, recipe.layout, device=device, config=config, target=feature_map, batch=batch)
    space = InputSpace(recipe)
    chosen = build_methods(names, explainers, box, space, rise_masks, seed)
    resolve = explainers["softmax"]
    if target_mode == "label-from-boxes":  # an unknown label fails before any output is written
        for path in paths:
            resolve.class_id(_boxes_of(box_data, path)[0]["label"])
    click.echo(f"preprocess {recipe.describe()}", err=True)

    records, stems = [], set()
    with click.progressbar(paths, label="evaluating", file=sys.stderr) as bar:
        for path in bar:
            photo = imaging.read_image(path)
            objects = _boxes_of(box_data, path) or []
            if target_mode == "label-from-boxes":
                class_id = resolve.class_id(objects[0]["label"])
                objects = [o for o in objects if o["label"] == objects[0]["label"]]
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
            stem = files.unique_stem(path.stem, stems)
            files.write_png(output / f"{stem}_maps.png", side_by_side(photo, result, [o["box"] for o in objects]))
            records.append(
                {"image": path.name, "path": str(path), "class_id": class_id, "label": resolve.label(class_id)}
                | result
                | {"maps": f"{stem}_maps.png"}
            )

    summary = summarize(records, names)
    plots = curve_plots(records, names)
    if plots is None:
        plot_note = "curve plots skipped: matplotlib is not installed (pip install 'ov-reciprocam[plot]')"
        click.echo(plot_note, err=True)
    else:
        plot_note = None
        for name, png in plots.items():
            files.write_bytes(output / f"curves_{name}.png", png)
    for r in records:
        for m in r["methods"].values():
            del m["photo_map"]
            m["curves"] = {k: [round(float(v), 6) for v in c] for k, c in m["curves"].items()}
    report = {
        "model": str(model),
        "device": device,
        "precision": precision,
        "preprocess": recipe.describe(),
        "settings": {
            "methods": names,
            "target": target_mode,
            "steps": steps,
            "deletion_baseline": baseline,
            "insertion_start": f"Gaussian blur, kernel {BLUR[0]}, sigma {BLUR[1]:g}",
            "rise_masks": rise_masks,
            "seed": seed,
            "pointing_tolerance_px": TOLERANCE,
            "boxes": str(boxes) if boxes else None,
        },
        "summary": summary,
        "images": records,
        "curve_plots": [f"curves_{n}.png" for n in names] if plots else None,
        "curve_plots_note": plot_note,
    }
    files.write_json(output / "metrics.json", report)
    files.write_bytes(output / "metrics.csv", csv_text(records, summary).encode())
    click.echo(table(records, summary))
    click.echo(f"report -> {output}/ (metrics.json, metrics.csv{', curves_*.png' if plots else ''}, *_maps.png)")
