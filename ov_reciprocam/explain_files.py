"""Explain files, folders and globs: read in batches, report progress, write every output.

Writes into one folder: per photo and explained class an overlay PNG, NAME_maps.npy (feature
resolution), NAME_maps_full.npy (photo resolution, only when asked: large photos make large
files), then contact_sheet.png and results.json. Unreadable photos are skipped and listed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import files, imaging
from .errors import ReciproCamError
from .runtime import Explainer

SHEET_ROWS = 64  # photos on the contact sheet; more would make a picture nobody opens


@dataclass
class ExplainRun:
    """What `explain_paths` wrote, and what it could not read."""

    output: Path
    records: list[dict] = field(default_factory=list)  # as in results.json, one per explained photo
    failed: list[dict] = field(default_factory=list)  # {"image": path, "error": one line}
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        return len(self.records) / self.seconds if self.seconds > 0 else 0.0


def explain_paths(
    explainer: Explainer,
    images: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    *,
    top_k: int = 3,
    classes: Sequence[int | str] | None = None,
    alpha: float = 0.5,
    colormap: str = "jet",
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
    run, sheet, stems = ExplainRun(output), [], set()
    start = time.perf_counter()
    for i in range(0, len(paths), explainer.batch_size):
        batch = paths[i : i + explainer.batch_size]
        read, photos = [], []
        for path in batch:
            try:
                photos.append(imaging.read_image(path))
                read.append(path)
            except ReciproCamError as exc:
                run.failed.append({"image": str(path), "error": str(exc)})
                if on_skip:
                    on_skip(str(exc))
        results = explainer.explain(photos, top_k, classes or None, sources=[str(p) for p in read]) if photos else []
        for path, result in zip(read, results, strict=True):
            stem = files.unique_stem(path.stem, stems)
            run.records.append(result.save(output, stem, alpha, colormap, full_maps=full_maps))
            if len(sheet) < SHEET_ROWS:
                sheet.append([result.overlay(c.class_id, alpha, colormap, max_side=224) for c in result.classes])
        if progress:
            progress(len(batch))
    run.seconds = time.perf_counter() - start
    if sheet:
        files.write_png(output / "contact_sheet.png", imaging.contact_sheet(sheet))
    files.write_json(
        output / "results.json",
        (about or {})
        | {
            "preprocess": explainer.preprocess.describe(),
            "labels": explainer.labels or None,
            "images": run.records,
            "failed": run.failed,
        },
    )
    return run
