"""The eval drivers: every photo scored by one `quality.evaluate.Evaluator`, in this process or in each actor of
`cluster`'s pool, rows in shards; a detector's photos by one `quality.detection_eval.DetectionEvaluator`."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ReciproCamError
from ..output import files, shards
from ..output.explain_files import name_photos
from ..output.rows import Row
from ..photos import imaging
from ..quality import eval_report
from ..quality.detection_eval import DetectionEvalSettings, DetectionEvaluator
from ..quality.detection_eval import summarize as summarize_detections
from ..quality.evaluate import EvalSettings, Evaluator, check_photos, summarize
from .cluster import LOCAL, SHARDS, connect, run_pool

if TYPE_CHECKING:
    import pyarrow as pa


def evaluate_paths(
    settings: EvalSettings,
    images: list[str],
    *,
    on_ready: Callable[[int, Evaluator], None] | None = None,
    on_image: Callable[[Path, np.ndarray, dict, list[dict]], str] | None = None,
) -> tuple[list[dict], dict]:
    """Every metric of every method on every photo of `images` (files, folders or globs), in this process.

    on_ready: called with the photo count and the `Evaluator` (its `precision`, its `cost()`) once every check
    passed, before the long part.
    on_image: called per photo with (path, photo, result, boxes); returns the file name it wrote, if any.
    Returns the per-image records and the per-method summary.
    """
    paths = imaging.collect_images(list(images))
    check_photos(settings, paths)
    evaluator = Evaluator(settings)
    evaluator.check_boxes(paths)
    if on_ready:
        on_ready(len(paths), evaluator)
    records = [evaluator.evaluate(path, on_image) for path in paths]
    return records, summarize(records, list(settings.names), settings.protocol)


def evaluate_detection_paths(
    settings: DetectionEvalSettings,
    images: list[str],
    *,
    on_ready: Callable[[int, DetectionEvaluator], None] | None = None,
    on_image: Callable[[dict], None] | None = None,
) -> tuple[list[dict], dict]:
    """Every detection of every photo of `images` (files, folders or globs) scored by each method, in this process.

    on_ready: called with the photo count and the `DetectionEvaluator` (its `precision`, its `cost()`) once the
    models are compiled. on_image: called with each photo's record.
    A photo that cannot be read is a record with its `error`, not a stopped run; the summary covers the others.
    Returns the per-photo records and the per-method summary.
    """
    paths = imaging.collect_images(list(images))
    evaluator = DetectionEvaluator(settings)
    if on_ready:
        on_ready(len(paths), evaluator)
    records = []
    for path in paths:
        try:
            photo = imaging.read_image(path)
        except ReciproCamError as exc:
            record = {"image": path.name, "path": str(path), "error": str(exc)}
        else:
            record = evaluator.evaluate(path, photo)
        if on_image:
            on_image(record)
        records.append(record)
    return records, summarize_detections(records, [str(n) for n in settings.names])


class _EvalWorker:
    """A Ray actor: the models and methods of an eval run, built once; each photo becomes a row."""

    def __init__(self, settings: EvalSettings, output: str, threads: int) -> None:
        config = {**(settings.config or {}), "INFERENCE_NUM_THREADS": threads}
        self.evaluator = Evaluator(dataclasses.replace(settings, config=config))
        self.output = Path(output)

    def __call__(self, batch: dict) -> pa.Table:
        rows = []
        for image, stem in zip(batch["image"], batch["stem"], strict=True):
            try:
                photo = imaging.read_image(image)
            except ReciproCamError as exc:
                rows.append(Row(image, stem, error=str(exc)))
                continue

            def write(_path: Path, picture: np.ndarray, result: dict, objects: list[dict], stem: str = stem) -> str:
                return eval_report.write_maps(self.output, stem, picture, result, objects)

            rows.append(Row(image, stem, self.evaluator.evaluate(Path(image), write, photo)))
        return shards.to_table(rows)


def evaluate_paths_on_ray(
    settings: EvalSettings,
    images: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    *,
    address: str = LOCAL,
    actors: int | None = None,
    cpus_per_actor: int = 1,
    batch_size: int = 1,
    on_ready: Callable[[int, Evaluator], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[dict], dict, list[dict]]:
    """`evaluate_paths` on Ray: rows in OUTPUT/shards; returns the records, the summary and the failures.

    A photo that cannot be read is a failure row, not a failed job; the summary covers the others.
    """
    output = files.check_output_dir(output)
    paths = imaging.collect_images([os.fspath(i) for i in images])
    check_photos(settings, paths, read=False)  # decoding every photo here would cost a pass over the dataset
    evaluator = Evaluator(settings)
    evaluator.check_boxes(paths)  # options and class names fail here, before the cluster starts
    if on_ready:  # the driver's precision and pace: the actors compile alike, on devices of the same kind
        on_ready(len(paths), evaluator)
    connect(address)
    pool: dict[str, Any] = {
        "actors": actors,
        "cpus_per_actor": cpus_per_actor,
        "batch_size": batch_size,
        "progress": progress,
    }
    arguments = {"settings": settings, "output": str(output)}
    rows = run_pool(_EvalWorker, arguments, name_photos(paths), output / SHARDS, **pool)
    records = [r.record for r in rows if r.record is not None]
    failed = [{"image": r.image, "error": r.error} for r in rows if r.error is not None]
    return records, summarize(records, list(settings.names), settings.protocol), failed
