"""Explain files, folders and globs: read in batches, report progress, write every output.

Writes into one folder: per photo and explained class an overlay PNG, NAME_maps.npy (feature
resolution), NAME_maps_full.npy (photo resolution, only when asked: large photos make large
files), then contact_sheet.png and results.json. Unreadable photos are skipped and listed.

`explain_batch` is the one function every driver runs on a batch of photos: `explain_paths` here,
batch after batch, and `cluster.explain_paths_on_ray` in an actor pool. A row is one photo: its
path, the stem naming its files, its JSON-ready record and maps, or the reason it failed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import ReciproCamError
from ..inference import imaging
from ..inference.explainer import Explainer
from ..inference.preprocess import Preprocess
from . import files, pictures

SHEET_ROWS = 64  # photos on the contact sheet; more would make a picture nobody opens
THUMBNAIL = 224  # px, a contact-sheet cell


@dataclass(frozen=True)
class Row:
    image: str
    stem: str
    record: dict | None = None
    maps: np.ndarray | None = field(default=None, repr=False)  # [k, h, w] float32
    error: str | None = None


@dataclass(frozen=True)
class Outputs:
    """What to explain in each photo and which files to write into `directory`."""

    directory: str
    top_k: int = 3
    classes: tuple[str | int, ...] = ()
    threshold: float = 0.5  # multi-label models: the labels at or above it
    overlays: bool = True
    npy_maps: bool = True
    full_maps: bool = False
    alpha: float = 0.5
    colormap: str = "jet"


@dataclass
class ExplainRun:
    """What a driver wrote, and what it could not read."""

    output: Path
    records: list[dict] = field(default_factory=list)  # as in results.json, one per explained photo
    failed: list[dict] = field(default_factory=list)  # {"image": path, "error": one line}
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        return len(self.records) / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class ExplainerSpec:
    """How to build an Explainer: plain, picklable data, so each Ray actor can compile its own."""

    model: str
    preprocess: Preprocess
    device: str = "CPU"
    config: dict | None = None
    labels: tuple[str, ...] | None = None
    batch_size: int | None = None
    patch_options: dict = field(default_factory=dict)

    @classmethod
    def of(cls, explainer: Explainer, model: str | os.PathLike, device: str, config: dict | None) -> ExplainerSpec:
        """The spec that rebuilds `explainer` (made from `model`) elsewhere."""
        return cls(
            os.fspath(model),
            explainer.preprocess,
            device,
            config,
            tuple(explainer.labels) or None,
            explainer.batch_size,
            explainer.patch_options,
        )

    def build(self, **config) -> Explainer:
        """The Explainer; `config` adds compile properties (an actor's thread count)."""
        return Explainer(
            self.model,
            self.device,
            preprocess=self.preprocess,
            labels=self.labels,
            batch_size=self.batch_size,
            config={**(self.config or {}), **config} or None,
            **self.patch_options,
        )


def name_photos(paths: Sequence[str | os.PathLike]) -> list[tuple[str, str]]:
    """(path, stem) for each photo; stems are unique (`a`, `a-2`) and depend only on the order of `paths`."""
    taken: set[str] = set()
    return [(str(p), files.unique_stem(Path(p).stem, taken)) for p in paths]


def explain_batch(explainer: Explainer, photos: Sequence[tuple[str, str]], out: Outputs) -> list[Row]:
    """Rows for one batch of (path, stem), in that order; a photo that cannot be read becomes an error row."""
    pictures, readable, failed = [], [], {}
    for path, stem in photos:
        try:
            pictures.append(imaging.read_image(path, explainer.preprocess.channels))
            readable.append((path, stem))
        except ReciproCamError as exc:
            failed[path] = Row(path, stem, error=str(exc))
    sources = [p for p, _ in readable]
    results = explainer.explain(pictures, out.top_k, list(out.classes) or None, sources, out.threshold)
    done = {}
    for (path, stem), result in zip(readable, results, strict=True):
        record = result.save(
            out.directory,
            stem,
            out.alpha,
            out.colormap,
            overlays=out.overlays,
            maps=out.npy_maps,
            full_maps=out.full_maps,
        )
        done[path] = Row(path, stem, record, result.maps.astype(np.float32))
    return [done.get(path) or failed[path] for path, _ in photos]


def write_summary(out: Outputs, rows: Sequence[Row], header: dict) -> ExplainRun:
    """results.json (header, one record per explained photo, the failures) and, with overlays, contact_sheet.png."""
    run = ExplainRun(Path(out.directory))
    run.records = [r.record for r in rows if r.record is not None]
    run.failed = [{"image": r.image, "error": r.error} for r in rows if r.error is not None]
    if out.overlays and run.records:
        sheet = [[_thumbnail(run.output / e["overlay"]) for e in r["explained"]] for r in run.records[:SHEET_ROWS]]
        files.write_png(run.output / "contact_sheet.png", pictures.contact_sheet(sheet))
    files.write_json(run.output / "results.json", header | {"images": run.records, "failed": run.failed})
    return run


def header(explainer: Explainer, about: dict | None) -> dict:
    """What results.json says before the images: `about` (say, the model path), the recipe, the labels."""
    return (about or {}) | {"preprocess": explainer.preprocess.describe(), "labels": explainer.labels or None}


def explain_paths(
    explainer: Explainer,
    images: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    *,
    top_k: int = 3,
    classes: Sequence[int | str] | None = None,
    threshold: float = 0.5,
    alpha: float = 0.5,
    colormap: str = "jet",
    overlays: bool = True,
    full_maps: bool = False,
    progress: Callable[[int], None] | None = None,
    on_skip: Callable[[str], None] | None = None,
    about: dict | None = None,
) -> ExplainRun:
    """Explain every photo in `images` (files, folders, globs) and write the results into `output`.

    progress: called with the number of photos just handled; on_skip: with the reason a photo was skipped.
    about: extra entries for results.json (say, the model path).
    """
    output = files.check_output_dir(output)
    paths = imaging.collect_images([os.fspath(i) for i in images])
    for name in classes or ():  # an unknown class fails before any photo is read
        explainer.class_id(name)
    out = Outputs(
        str(output),
        top_k,
        tuple(classes or ()),
        threshold,
        overlays,
        full_maps=full_maps,
        alpha=alpha,
        colormap=colormap,
    )
    photos, rows = name_photos(paths), []
    start = time.perf_counter()
    for i in range(0, len(photos), explainer.batch_size):
        batch = explain_batch(explainer, photos[i : i + explainer.batch_size], out)
        for row in batch:
            if row.error and on_skip:
                on_skip(row.error)
        rows += batch
        if progress:
            progress(len(batch))
    seconds = time.perf_counter() - start
    run = write_summary(out, rows, header(explainer, about))
    run.seconds = seconds
    return run


def _thumbnail(png: Path) -> np.ndarray:
    picture = cv2.imread(str(png))
    if picture is None:
        raise ReciproCamError(f"cannot read back the overlay {png}")
    return pictures.to_height(picture, THUMBNAIL)
