"""Explain files, folders and globs in this process: photos read in batches, explained, handed to `output`.

A batch goes through three steps: `read` (photos decoded and made into one input), the model, `written` (its
`Explanation`s handed to `output.explain_files.write_photo`). `explain_batch` runs them one after another, as
`cluster.explain_paths_on_ray`'s actors do; `explain_paths` runs them at once (`pipelined`): threads read ahead,
the model keeps its requests busy (compiled for throughput), a few threads write, each stage a bounded number of
batches ahead of the next, the rows in the photos' order.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ReciproCamError
from ..inference.explainer import Batch, Explainer, Raw, Wanted
from ..output import pictures, run_folder
from ..output.explain_files import (
    RESULTS,
    SHEET_ROWS,
    THUMBNAIL,
    ExplainRun,
    Outputs,
    name_photos,
    sheet_tiles,
    write_photo,
    write_summary,
)
from ..output.rows import Row, RowLog
from ..photos import imaging
from ..photos.preprocess import Preprocess
from ..version import __version__
from ..vocabulary import PatchOptions
from . import pipeline

# Threads that read photos and that draw and write: OpenCV's decoders and encoders and numpy release the GIL. One
# reader keeps up with the model on one core (750 ~500x375 JPEGs/s), a second absorbs large photos; writers, as many
# as there are cores, a few at most.
READERS = 2
WRITERS = max(2, min(4, os.cpu_count() or 1))


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


@dataclass(frozen=True)
class Read:
    """A batch of photos read: (path, stem) of each in order, the readable ones made into one input (None when
    none is), an error row for each of the others."""

    photos: list[tuple[str, str]]
    batch: Batch | None
    failed: dict[str, Row]


def read(explainer: Explainer, photos: Sequence[tuple[str, str]]) -> Read:
    """`photos` (path, stem) read as the model reads them; a photo that cannot be read becomes an error row."""
    pixels, names, failed = [], [], {}
    for path, stem in photos:
        try:
            pixels.append(imaging.read_image(path, explainer.preprocess.channels))
            names.append(path)
        except ReciproCamError as exc:
            failed[path] = Row(path, stem, error=str(exc))
    return Read(list(photos), explainer.batch(pixels, names) if pixels else None, failed)


def written(explainer: Explainer, done: Read, raw: Raw | None, out: Outputs, wanted: Wanted, tiles: bool) -> list[Row]:
    """The rows of a batch the model returned `raw` for, in its order, each explained photo's files written."""
    results = explainer.finish(done.batch, raw, wanted) if done.batch is not None and raw is not None else iter(())
    stems = dict(done.photos)
    rows = {r.source: write_photo(r, r.source, stems[r.source], out, tiles) for r in results}  # one in memory at once
    return [rows.get(path) or done.failed[path] for path, _ in done.photos]


def explain_batch(
    explainer: Explainer, photos: Sequence[tuple[str, str]], out: Outputs, tiles: bool = False
) -> list[Row]:
    """Rows for one batch of (path, stem), in that order; a photo that cannot be read becomes an error row.

    tiles: also draw each photo's contact-sheet row (`write_photo`).
    """
    wanted = explainer.wanted(out.top_k, out.classes, out.threshold)
    done = read(explainer, photos)
    return written(explainer, done, explainer.infer(done.batch) if done.batch else None, out, wanted, tiles)


def pipelined(explainer: Explainer, photos: Sequence[tuple[str, str]], out: Outputs) -> Iterator[list[Row]]:
    """The rows of each batch of `photos`, in order, the three steps of `explain_batch` running at once; at most a
    few batches are in memory, however many photos."""
    wanted = explainer.wanted(out.top_k, out.classes, out.threshold)
    size, requests = explainer.batch_size, explainer.requests
    starts = range(0, len(photos), size)
    with ThreadPoolExecutor(READERS, "read") as readers, ThreadPoolExecutor(WRITERS, "write") as writers:
        batches = pipeline.ordered(readers, lambda i: read(explainer, photos[i : i + size]), starts, requests + READERS)

        def started(start: int, done: Read) -> Future[list[Row]]:
            tiles = start < SHEET_ROWS  # the contact sheets show the first photos
            if done.batch is None:  # nothing to infer: its error rows
                return pipeline.finished(written(explainer, done, None, out, wanted, tiles))
            inferred = explainer.start(done.batch)  # waits while every request is busy
            return pipeline.then(inferred, writers, lambda raw: written(explainer, done, raw, out, wanted, tiles))

        try:
            yield from pipeline.in_order(map(started, starts, batches), requests + WRITERS + 1)
        finally:  # no request may call back into the writers once they are shut
            explainer.wait()


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


RowMaker = Callable[[list[tuple[str, str]], Outputs], Iterable[Row]]  # (path, stem) of every photo -> their rows


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
    make_rows: who explains the photos: by default this process, reading, inference and writing at once
    (`pipelined`); `cluster` passes an actor pool's.
    """
    given = outputs if isinstance(outputs, Outputs) else Outputs(outputs)
    out, paths = settled(explainer, images, given)

    def here(photos: list[tuple[str, str]], out: Outputs) -> Iterator[Row]:
        for batch in pipelined(explainer, photos, out):
            for row in batch:
                if row.error and on_skip:
                    on_skip(row.error)
            yield from batch
            if progress:
                progress(len(batch))

    with run_folder.claimed(Path(out.directory), RESULTS), RowLog(Path(out.directory) / RESULTS) as rows:
        if on_start:  # once the folder is ours: a refused run shows no progress bar
            on_start(len(paths))
        start = time.perf_counter()
        sheet: list[list[np.ndarray]] = []  # the contact sheets' rows: the first photos' pictures, in memory
        for row in (make_rows or here)(name_photos(paths), out):
            if row.tiles and row.record is not None and len(sheet) < SHEET_ROWS:
                sheet.append(list(row.tiles))
            rows.add(row)
        seconds = time.perf_counter() - start
        run = write_summary(out, rows, sheet, header(explainer, about))
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
