"""What `explain` writes for a detector, from the explanations it is given.

Per photo, into one folder: an overlay per detection (its map on the photo, its box, label and score drawn; in the
`OverlayFormat` asked), NAME_boxes.jpg with every box when asked, NAME_maps.npy (the detections' maps on the copy
grid, one row per detection in results.json's order), NAME_maps_full.npy (photo resolution, when asked) and a
thumbnail per detection for report.html; then report.html (a card per detection) and results.json.

Reads a `inference.detector.DetectionExplanation` through the `Detected` protocol: output never imports inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from ..photos import imaging
from . import files, pictures, report
from .explain_files import ExplainRun, Outputs, write_results
from .rows import Row, RowLog

BOX = (255, 255, 255)  # BGR: white boxes with a black edge read on any photo and any colormap
EDGE = (0, 0, 0)


class Detected(Protocol):
    """What output reads of an `inference.detector.DetectionExplanation`."""

    source: str
    image: np.ndarray  # the photo, BGR

    @property
    def detections(self) -> Sequence[Any]:
        """box (photo px), input_box, score, class_id, label, saliency, flat; best first."""

    def on_photo(self, k: int) -> np.ndarray: ...


@dataclass(frozen=True)
class DetectionOutputs:
    """What `explain` writes for a detector: `files` as for a classifier (folder, overlays and their format, alpha,
    colormap, colour bar, .npy maps, full maps, report; its classes and truth are not read), and `boxes`,
    NAME_boxes.EXT, every detection's box on the photo."""

    files: Outputs
    boxes: bool = False


def draw_box(picture: np.ndarray, box: Sequence[float], text: str) -> np.ndarray:
    """`box` (x1, y1, x2, y2, photo pixels) drawn on `picture` itself, `text` on its top edge (inside the picture)."""
    h, w = picture.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    thick = max(1, round(min(h, w) / 250))
    cv2.rectangle(picture, (x1, y1), (x2, y2), EDGE, thick + 2)
    cv2.rectangle(picture, (x1, y1), (x2, y2), BOX, thick)
    size = max(pictures.MIN_SIZE, pictures.caption_size(h, w) * 2 // 3)  # labels of near boxes overlap less
    text = pictures.fit_caption(text, w - 2 * pictures.padding(size), size)
    if text:
        label = pictures.text_box([text], size)[:h, :w]
        top = min(max(0, y1 - label.shape[0]), h - label.shape[0])
        left = min(max(0, x1), w - label.shape[1])
        picture[top : top + label.shape[0], left : left + label.shape[1]] = label
    return picture


def caption(detection: Any) -> str:
    return f"{detection.label} {detection.score:.2f}"


def detection_overlay(explained: Detected, k: int, saliency: np.ndarray, alpha: float, colormap: str) -> np.ndarray:
    """Detection k's map (`saliency`, on the photo's pixels) blended on the photo, its box, label and score drawn;
    a flat map shows the photo alone, and its label says why."""
    d = explained.detections[k]
    flat = d.flat
    picture = pictures.overlay(explained.image, saliency, alpha=0.0 if flat else alpha, colormap=colormap)
    return draw_box(picture, d.box, caption(d) + (" (flat map)" if flat else ""))


def boxes_picture(explained: Detected) -> np.ndarray:
    """The photo with every detection's box, label and score."""
    picture = explained.image.copy()
    for d in explained.detections:
        draw_box(picture, d.box, caption(d))
    return picture


def write_detections(explained: Detected, path: str, stem: str, out: DetectionOutputs) -> Row:
    """Every file `out` asks for of one photo (read from `path`), and its row. Thread-safe, one photo per call."""
    o, directory = out.files, Path(out.files.directory)
    entries = []
    for k, d in enumerate(explained.detections):
        saliency = explained.on_photo(k)
        name = f"{stem}_{k + 1}_{files.safe_name(d.label)}"
        overlay = f"{name}.{o.overlay_format}" if o.overlays else None
        if overlay or o.report:
            drawn = detection_overlay(explained, k, saliency, o.alpha, o.colormap)
            if overlay:
                shown = pictures.with_scale(drawn, o.colormap, d.flat) if o.colour_bar else drawn
                files.write_picture(directory / overlay, shown, o.overlay_format)
            if o.report:
                files.write_jpeg(
                    directory / report.thumbnail_name(name), pictures.to_height(drawn, report.THUMB_HEIGHT)
                )
        entries.append(
            {
                "box": [round(v, 2) for v in d.box],
                "input_box": [round(v, 2) for v in d.input_box],
                "score": d.score,
                "class_id": d.class_id,
                "label": d.label,
                "overlay": overlay,
                "thumbnail": report.thumbnail_name(name) if o.report else None,
                "peak": None if d.flat else list(imaging.peak(saliency)),
                "flat": d.flat,
            }
        )
    image = explained.image
    record: dict[str, Any] = {
        "image": explained.source,
        "size": [int(image.shape[1]), int(image.shape[0])],
        "detections": entries,
        "boxes": None,
        "maps": None,
        "maps_full": None,
    }
    if out.boxes:
        boxes = files.write_picture(
            directory / f"{stem}_boxes.{o.overlay_format}", boxes_picture(explained), o.overlay_format
        )
        record["boxes"] = boxes.name
    maps = np.stack([d.saliency for d in explained.detections]).astype(np.float32) if entries else None
    if o.npy_maps and maps is not None:
        record["maps"] = files.write_npy(directory / f"{stem}_maps.npy", maps).name
    if o.full_maps and entries:
        full = np.stack([explained.on_photo(k) for k in range(len(entries))]).astype(np.float16)
        record["maps_full"] = files.write_npy(directory / f"{stem}_maps_full.npy", full).name
    return Row(path, stem, record, maps)


def write_detection_summary(out: DetectionOutputs, rows: RowLog, header: dict) -> ExplainRun:
    """report.html (a card per detection) when asked, then results.json (header, one record per photo, the
    failures, every file of the run), last, as the run's manifest."""
    directory = Path(out.files.directory)
    drawn = (e[k] for r in rows.records() for e in r["detections"] for k in ("overlay", "thumbnail") if e[k])
    arrays = (r[k] for r in rows.records() for k in ("boxes", "maps", "maps_full") if r[k])
    pages = []
    if out.files.report:
        html = report.detections_page(report.settings_of(header), rows, directory)
        pages.append(report.write_page(directory / "report.html", html).name)
    return write_results(directory, rows, header, chain(drawn, arrays, pages))
