"""Explain files, folders and globs in this process: photos read in batches, explained, handed to `output`.

`explain_batch` is the one function every driver runs on a batch of photos: `explain_paths` here,
batch after batch, and `cluster.explain_paths_on_ray` in an actor pool. `output.explain_files` writes
what it is given, as `Outputs` says.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ReciproCamError
from ..inference.explainer import Explainer
from ..output import pictures, run_folder
from ..output.explain_files import (
    RESULTS,
    SHEET_ROWS,
    THUMBNAIL,
    ExplainRun,
    Outputs,
    Row,
    name_photos,
    sheet_tiles,
    write_photo,
    write_summary,
)
from ..photos import imaging
from ..photos.preprocess import Preprocess
from ..version import __version__
from ..vocabulary import PatchOptions


@dataclass(frozen=True)
class ExplainerSpec:
    """How to build an Explainer: plain, picklable data, so each Ray actor can compile its own."""

    model: str
    preprocess: Preprocess
    device: str = "CPU"
    config: dict | None = None
    labels: tuple[str, ...] | None = None
    batch_size: int | None = None
    patch_options: PatchOptions = field(default_factory=PatchOptions)

    @classmethod
    def of(cls, explainer: Explainer, model: str | os.PathLike, device: str, config: dict | None) -> ExplainerSpec:
        """The spec that rebuilds `explainer` (made from `model`) elsewhere."""
        labels, batch = tuple(explainer.labels) or None, explainer.batch_size
        return cls(os.fspath(model), explainer.preprocess, device, config, labels, batch, explainer.patch_options)

    def build(self, **config: Any) -> Explainer:
        """The Explainer; `config` adds compile properties (an actor's thread count)."""
        return Explainer(
            self.model,
            self.device,
            preprocess=self.preprocess,
            labels=self.labels,
            batch_size=self.batch_size,
            config={**(self.config or {}), **config} or None,
            patch_options=self.patch_options,
        )


def explain_batch(
    explainer: Explainer, photos: Sequence[tuple[str, str]], out: Outputs, tiles: bool = False
) -> list[Row]:
    """Rows for one batch of (path, stem), in that order; a photo that cannot be read becomes an error row.

    tiles: also draw each photo's contact-sheet row (`write_photo`).
    """
    read, readable, failed = [], [], {}
    for path, stem in photos:
        try:
            read.append(imaging.read_image(path, explainer.preprocess.channels))
            readable.append((path, stem))
        except ReciproCamError as exc:
            failed[path] = Row(path, stem, error=str(exc))
    sources = [p for p, _ in readable]
    results = explainer.explain(read, out.top_k, list(out.classes) or None, sources, out.threshold)
    done = {
        path: write_photo(result, path, stem, out, tiles)
        for (path, stem), result in zip(readable, results, strict=True)
    }
    return [done.get(path) or failed[path] for path, _ in photos]


def header(explainer: Explainer, about: dict | None) -> dict:
    """What results.json says before the images: `about` (say, the model path), the precision the model ran in, the
    recipe, the labels."""
    recipe = explainer.preprocess.describe()
    ran = {"precision": explainer.precision}
    return (about or {}) | ran | {"version": __version__, "preprocess": recipe, "labels": explainer.labels or None}


def settled(
    explainer: Explainer, images: Sequence[str | os.PathLike] | str | os.PathLike, outputs: Outputs
) -> tuple[Outputs, list[Path]]:
    """What is checked before the first photo (the output folder, the photos, the classes asked for), and `outputs`
    settled on them: the folder as checked, the true classes of these photos."""
    directory = run_folder.check_run_folder(outputs.directory, imaging.one_or_many(images))
    paths = imaging.collect_images(images)
    for name in outputs.classes:  # an unknown class fails before any photo is read
        explainer.class_id(name)
    truth = outputs.truth.resolved(paths, explainer.labels or ())
    return replace(outputs, directory=directory, truth=truth), paths


RowMaker = Callable[[list[tuple[str, str]], Outputs], list[Row]]  # (path, stem) of every photo -> their rows


def explain_paths(
    explainer: Explainer,
    images: Sequence[str | os.PathLike] | str | os.PathLike,
    outputs: Outputs | str | os.PathLike,
    *,
    on_start: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
    on_skip: Callable[[str], None] | None = None,
    about: dict | None = None,
    make_rows: RowMaker | None = None,
) -> ExplainRun:
    """Explain every photo in `images` (files, folders, globs) and write what `outputs` asks for into its folder.

    outputs: an `Outputs`, or just the folder, to write everything `explain` writes by default.
    on_start: called with the number of photos found; progress: with the number just handled; on_skip: with
    the reason a photo was skipped.
    about: extra entries for results.json (say, the model path).
    make_rows: who explains the photos: by default this process, batch after batch; `cluster` passes an
    actor pool's.
    """
    given = outputs if isinstance(outputs, Outputs) else Outputs(outputs)
    out, paths = settled(explainer, images, given)

    def here(photos: list[tuple[str, str]], out: Outputs) -> list[Row]:
        rows: list[Row] = []
        for i in range(0, len(photos), explainer.batch_size):
            batch = explain_batch(explainer, photos[i : i + explainer.batch_size], out, tiles=len(rows) < SHEET_ROWS)
            for row in batch:
                if row.error and on_skip:
                    on_skip(row.error)
            rows += batch
            if progress:
                progress(len(batch))
        return rows

    with run_folder.claimed(Path(out.directory), RESULTS):
        if on_start:  # once the folder is ours: a refused run shows no progress bar
            on_start(len(paths))
        start = time.perf_counter()
        rows = (make_rows or here)(name_photos(paths), out)
        seconds = time.perf_counter() - start
        run = write_summary(out, rows, header(explainer, about))
    run.seconds = seconds
    return run


def redrawn(row: Row, preprocess: Preprocess, out: Outputs) -> Row:
    """A row that came back from a shard (which keeps maps, not pictures), with its contact-sheet row drawn
    from the photo, read as the model reads it, and its maps, as `write_photo` draws it from an Explanation."""
    assert row.record is not None and row.maps is not None  # an explained row: its record and maps came back
    photo = imaging.as_channels(imaging.read_image(row.image, preprocess.channels), 3)
    on_photo = preprocess.to_image(row.maps, (photo.shape[1], photo.shape[0]))
    overlays = [
        pictures.class_overlay(photo, m, e["label"], e["score"], e["flat"], out.alpha, out.colormap, THUMBNAIL)
        for e, m in zip(row.record["explained"], on_photo, strict=True)
    ]
    return replace(row, tiles=sheet_tiles(row.image, overlays))
