"""Explain a detector on files, folders and globs in this process: photos read ahead, explained, written in a pool.

Each photo goes through three steps at once, as `runs.explain` runs a classifier's batches: threads read the next
photos, the model runs on one photo at a time (a patched detector's batch is its copies: YOLOX-nano's 169 keep the
cores busy), and a few threads draw and write what it found (`output.detection_files`), rows in the photos' order.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import ReciproCamError
from ..inference.detector import DetectorExplainer
from ..output import run_folder
from ..output.detection_files import DetectionOutputs, write_detection_summary, write_detections
from ..output.explain_files import RESULTS, ExplainRun, Outputs, name_photos
from ..output.rows import Row, RowLog
from ..photos import imaging
from ..version import __version__
from . import pipeline
from .explain import READERS, WRITERS


@dataclass(frozen=True)
class Read:
    """One photo read (its pixels), or the row saying why it could not be."""

    path: str
    stem: str
    photo: np.ndarray | None = None
    failed: Row | None = None


def read(path: str, stem: str) -> Read:
    try:
        return Read(path, stem, imaging.read_image(path))
    except ReciproCamError as exc:
        return Read(path, stem, failed=Row(path, stem, error=str(exc)))


def explained_rows(
    explainer: DetectorExplainer, photos: Sequence[tuple[str, str]], out: DetectionOutputs
) -> Iterator[Row]:
    """The row of each of `photos` (path, stem), in order: read ahead, the model on each, written in a pool."""
    with ThreadPoolExecutor(READERS, "read") as readers, ThreadPoolExecutor(WRITERS, "write") as writers:
        reads = pipeline.ordered(readers, lambda item: read(*item), photos, 2 * READERS)

        def started(done: Read) -> Future[Row]:
            if done.photo is None:
                assert done.failed is not None  # read() gives one or the other
                return pipeline.finished(done.failed)
            found, maps = explainer.run(explainer.prepare([done.photo]))
            explanation = explainer.explained(done.path, done.photo, found[0], maps[0])
            return writers.submit(write_detections, explanation, done.path, done.stem, out)

        yield from pipeline.in_order(map(started, reads), WRITERS + 1)


def header(explainer: DetectorExplainer, about: dict | None) -> dict:
    """What results.json says before the photos: `about` (the model path, say), the precision it ran in, the recipe,
    the labels, and how its detections and maps were made."""
    info = explainer.info
    made = {
        "detector": info.detector.value,
        "copy_grid": f"{info.copy_grid[0]}x{info.copy_grid[1]}",
        "detections": info.detections,
        "score_threshold": info.score_threshold,
        "iou_threshold": info.iou_threshold,
    }
    return (
        (about or {})
        | {"precision": explainer.precision, "version": __version__, "preprocess": explainer.preprocess.describe()}
        | made
        | {"labels": explainer.labels or None}
    )


def explain_detection_paths(
    explainer: DetectorExplainer,
    images: Sequence[str | os.PathLike] | str | os.PathLike,
    outputs: DetectionOutputs | str | os.PathLike,
    *,
    on_start: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
    on_skip: Callable[[str], None] | None = None,
    about: dict | None = None,
) -> ExplainRun:
    """Explain every photo in `images` (files, folders, globs) with a detector; write what `outputs` asks for.

    outputs: a `DetectionOutputs`, or just the folder, to write everything by default (no boxes picture).
    on_start: called with the number of photos found; progress: with the number just handled; on_skip: with the
    reason a photo was skipped. about: extra entries for results.json (say, the model path).
    """
    given = outputs if isinstance(outputs, DetectionOutputs) else DetectionOutputs(Outputs(outputs))
    directory = run_folder.check_run_folder(given.files.directory, imaging.one_or_many(images))
    out = replace(given, files=replace(given.files, directory=directory))
    paths = imaging.collect_images(images)
    with run_folder.claimed(Path(directory), RESULTS), RowLog(Path(directory) / RESULTS) as rows:
        if on_start:  # once the folder is ours: a refused run shows no progress bar
            on_start(len(paths))
        start = time.perf_counter()
        for row in explained_rows(explainer, name_photos(paths), out):
            if row.error and on_skip:
                on_skip(row.error)
            rows.add(row)
            if progress:
                progress(1)
        seconds = time.perf_counter() - start
        run = write_detection_summary(out, rows, header(explainer, about))
    run.seconds = seconds
    return run
