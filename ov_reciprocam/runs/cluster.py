"""Explain a whole dataset on Ray: photos read and explained in an actor pool, rows written as Parquet shards.

The driver lists the photos, skips those the shards already hold (so a stopped run resumes), and
streams the rest through Ray Data's `map_batches` into a pool of actors, each compiling the model
once with OpenVINO's threads sized to its CPUs. Each actor runs `explain.explain_batch`, the
function the local command runs; the driver writes every batch it gets back as one shard (write,
then rename). A killed actor is restarted and its batch retried: the driver writes only what
reaches it, so each photo lands in exactly one row. The summary (results.json, contact sheet) is
written from the rows as the local command writes it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import ReciproCamError
from ..inference.explainer import Explainer
from ..output import shards
from ..output.explain_files import SHEET_ROWS, ExplainRun, Outputs
from ..output.rows import Row
from .explain import ExplainerSpec, explain_batch, explain_paths, redrawn

if TYPE_CHECKING:
    import pyarrow as pa

LOCAL = "local"
SHARDS = "shards"  # the folder under the output that holds the Parquet shards


def _ray() -> ModuleType:
    try:
        import ray
        import ray.data
    except ImportError:
        raise ReciproCamError("`ray` needs Ray: pip install 'ov-reciprocam[ray]'") from None
    return ray


class _ExplainWorker:
    """A Ray actor: one compiled model, reused for every batch it is given."""

    def __init__(self, spec: ExplainerSpec, out: Outputs, threads: int) -> None:
        self.explainer = spec.build(INFERENCE_NUM_THREADS=threads)
        self.out = out

    def __call__(self, batch: dict) -> pa.Table:
        photos = list(zip(batch["image"], batch["stem"], strict=True))
        return shards.to_table(explain_batch(self.explainer, photos, self.out))


def connect(address: str) -> None:
    """Start Ray on this machine (`local`) or join a cluster (`auto`, or a head node's address)."""
    # Ray's C++ core logs, at error level, notes meant for its developers (constructor arguments kept
    # for restarts); real failures still reach us as exceptions.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    ray = _ray()
    if ray.is_initialized():
        return
    logging.getLogger("ray").setLevel(logging.ERROR)
    try:
        ray.init(
            address=None if address == LOCAL else address,
            log_to_driver=False,
            include_dashboard=False,
            logging_level=logging.ERROR,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ReciproCamError(f"cannot reach a Ray cluster at '{address}': {str(exc).splitlines()[0]}") from None
    # Our own progress bar and summary say what Ray Data's logs would.
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False


def run_pool(
    worker: type,
    arguments: dict,
    photos: Sequence[tuple[str, str]],
    shard_dir: str | os.PathLike,
    *,
    actors: int | None = None,
    cpus_per_actor: int = 1,
    batch_size: int = 8,
    progress: Callable[[int], None] | None = None,
) -> list[Row]:
    """Rows for every (path, stem) in `photos`: those the shards in `shard_dir` hold, plus the ones `worker` makes.

    worker: an actor class built with `arguments` and `threads`, called on batches {"image": [...], "stem": [...]}
    and returning `shards.to_table` of their rows. actors: the pool size (default: as the cluster's CPUs allow).
    """
    ray = _ray()
    shards.cleanup(shard_dir)
    finished = shards.done(shard_dir)
    todo = [{"image": path, "stem": stem} for path, stem in photos if path not in finished]
    if progress:
        progress(len(photos) - len(todo))
    if todo:
        size = actors or max(1, int(ray.cluster_resources().get("CPU", 1)) // cpus_per_actor)
        dataset = ray.data.from_items(todo, override_num_blocks=max(1, len(todo) // batch_size))
        made = dataset.map_batches(
            worker,
            fn_constructor_kwargs={**arguments, "threads": cpus_per_actor},
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=size),
            batch_size=batch_size,
            num_cpus=cpus_per_actor,
        )  # Ray Data restarts a lost actor and retries its batch; only the driver writes rows
        for table in made.iter_batches(batch_size=None, batch_format="pyarrow"):
            shards.write(shard_dir, table)
            if progress:
                progress(table.num_rows)
    return shards.ordered(shards.read(shard_dir), photos)


def explain_on_ray(
    spec: ExplainerSpec, photos: Sequence[tuple[str, str]], out: Outputs, shard_dir: str | os.PathLike, **pool: Any
) -> list[Row]:
    """Explain rows for every photo (`run_pool`'s options in `pool`)."""
    return run_pool(_ExplainWorker, {"spec": spec, "out": out}, photos, shard_dir, **pool)


def explain_paths_on_ray(
    explainer: Explainer,
    spec: ExplainerSpec,
    images: Sequence[str | os.PathLike],
    outputs: Outputs,
    *,
    address: str = LOCAL,
    actors: int | None = None,
    cpus_per_actor: int = 1,
    on_start: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
    about: dict | None = None,
) -> ExplainRun:
    """`explain.explain_paths` on Ray, with the same `outputs`: rows in OUTPUT/shards, then the same results.json.

    The maps go to the shards, not to .npy files. explainer: built here from `spec`, to check the options before the
    cluster starts.
    """
    if outputs.full_maps:
        raise ReciproCamError("`full_maps` is for local runs: on Ray the maps go to the shards")

    def on_ray(photos: list[tuple[str, str]], out: Outputs) -> list[Row]:
        connect(address)
        rows = explain_on_ray(
            spec,
            photos,
            out,
            Path(out.directory) / SHARDS,
            actors=actors,
            cpus_per_actor=cpus_per_actor,
            batch_size=explainer.batch_size,
            progress=progress,
        )
        if not out.overlays:
            return rows
        # Shards keep maps, not pictures: the sheets' rows are drawn here from the photos.
        explained = [i for i, r in enumerate(rows) if r.record is not None][:SHEET_ROWS]
        return [redrawn(r, explainer.preprocess, out) if i in explained else r for i, r in enumerate(rows)]

    out = replace(outputs, npy_maps=False)
    return explain_paths(explainer, images, out, on_start=on_start, about=about, make_rows=on_ray)
