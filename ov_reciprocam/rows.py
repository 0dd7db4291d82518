"""Explain photos a batch at a time: the one function both drivers (local, Ray) run on each batch.

A row is one photo: its path, the stem that names its files, the JSON-ready record (predictions,
explained classes, peaks) and the maps at feature resolution, or the reason the photo failed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import files, imaging
from .errors import ReciproCamError
from .preprocess import Preprocess
from .runtime import Explainer

SHEET_ROWS = 64  # photos on the contact sheet
THUMBNAIL = 224  # px, a contact-sheet cell


@dataclass(frozen=True)
class Row:
    image: str
    stem: str
    record: dict | None = None
    maps: np.ndarray | None = field(default=None, repr=False)  # [k, h, w] float32
    error: str | None = None


@dataclass(frozen=True)
class ExplainerSpec:
    """How to build an Explainer: plain, picklable data, so each Ray actor can compile its own."""

    model: str
    device: str = "CPU"
    config: dict | None = None
    labels: tuple[str, ...] | None = None
    batch: int | None = None
    preprocess: Preprocess | None = None
    patch_options: dict = field(default_factory=dict)

    def build(self, **config) -> Explainer:
        """The Explainer; `config` adds compile properties (an actor's thread count)."""
        return Explainer(
            self.model,
            self.device,
            preprocess=self.preprocess,
            labels=self.labels,
            batch=self.batch,
            config={**(self.config or {}), **config} or None,
            **self.patch_options,
        )


@dataclass(frozen=True)
class Outputs:
    """What to explain in each photo and which files to write beside the rows."""

    directory: str
    top_k: int = 3
    classes: tuple[str | int, ...] = ()
    overlays: bool = True
    npy_maps: bool = True
    alpha: float = 0.5
    colormap: str = "jet"


def name_photos(paths: Sequence[str | os.PathLike]) -> list[tuple[str, str]]:
    """(path, stem) for each photo; stems are unique (`a`, `a-2`) and depend only on the order of `paths`."""
    taken: set[str] = set()
    return [(str(p), files.unique_stem(Path(p).stem, taken)) for p in paths]


def explain_batch(explainer: Explainer, photos: Sequence[tuple[str, str]], out: Outputs) -> list[Row]:
    """Rows for one batch of (path, stem), in that order; a photo that cannot be read becomes an error row."""
    pictures, readable, failed = [], [], {}
    for path, stem in photos:
        try:
            pictures.append(imaging.read_image(path))
            readable.append((path, stem))
        except ReciproCamError as exc:
            failed[path] = Row(path, stem, error=str(exc))
    results = explainer.explain(pictures, out.top_k, list(out.classes) or None, sources=[p for p, _ in readable])
    done = {}
    for (path, stem), result in zip(readable, results, strict=True):
        record = result.save(out.directory, stem, out.alpha, out.colormap, overlays=out.overlays, maps=out.npy_maps)
        done[path] = Row(path, stem, record, result.maps.astype(np.float32))
    return [done.get(path) or failed[path] for path, _ in photos]


def explain_local(
    explainer: Explainer,
    photos: Sequence[tuple[str, str]],
    out: Outputs,
    progress: Callable[[int], None] | None = None,
) -> list[Row]:
    """Rows for every photo, batch after batch in this process."""
    rows: list[Row] = []
    for start in range(0, len(photos), explainer.batch):
        chunk = photos[start : start + explainer.batch]
        rows += explain_batch(explainer, chunk, out)
        if progress:
            progress(len(chunk))
    return rows


def write_summary(out: Outputs, rows: Sequence[Row], header: dict) -> dict:
    """results.json (header, one record per explained photo, the failures) and, with overlays, contact_sheet.png."""
    records = [r.record for r in rows if r.record is not None]
    failed = [{"image": r.image, "error": r.error} for r in rows if r.error is not None]
    if out.overlays and records:
        sheet = [[_thumbnail(Path(out.directory) / e["overlay"]) for e in r["explained"]] for r in records[:SHEET_ROWS]]
        files.write_png(Path(out.directory) / "contact_sheet.png", imaging.contact_sheet(sheet))
    summary = {**header, "images": records, "failed": failed}
    files.write_json(Path(out.directory) / "results.json", summary)
    return summary


def _thumbnail(png: Path) -> np.ndarray:
    picture = cv2.imread(str(png))
    if picture is None:
        raise ReciproCamError(f"cannot read back the overlay {png}")
    return imaging.shrink_to(picture, THUMBNAIL)
