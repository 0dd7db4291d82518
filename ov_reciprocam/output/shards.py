"""Results as Parquet shards: one row per photo, written whole or not at all, and read back without parsing.

Columns: image (path), stem, error (null when explained), record (the JSON `results.json` holds for
the photo), maps (the feature-resolution maps, flattened float32: one per class the record's `explained` lists,
in its order) and maps_shape ([k, h, w]).
Needs pyarrow (`pip install 'ov-reciprocam[ray]'`).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ReciproCamError
from .rows import Row

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

SUFFIX = ".parquet"


def _arrow() -> tuple[ModuleType, ModuleType]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ReciproCamError("Parquet shards need pyarrow: pip install 'ov-reciprocam[ray]'") from None
    return pa, pq


def schema() -> pa.Schema:
    pa, _ = _arrow()
    return pa.schema(
        [
            ("image", pa.string()),
            ("stem", pa.string()),
            ("error", pa.string()),
            ("record", pa.string()),
            ("maps", pa.list_(pa.float32())),
            ("maps_shape", pa.list_(pa.int32())),
        ]
    )


def to_table(rows: Sequence[Row]) -> pa.Table:
    """The rows as a pyarrow Table of `schema()`."""
    pa, _ = _arrow()
    columns = {
        "image": [r.image for r in rows],
        "stem": [r.stem for r in rows],
        "error": [r.error for r in rows],
        "record": [json.dumps(r.record) if r.record is not None else None for r in rows],
        "maps": [r.maps.reshape(-1) if r.maps is not None else None for r in rows],
        "maps_shape": [list(r.maps.shape) if r.maps is not None else None for r in rows],
    }
    return pa.table(columns, schema=schema())


def from_table(table: pa.Table) -> list[Row]:
    columns = table.select(schema().names).to_pydict()
    rows = []
    for image, stem, error, record, maps, shape in zip(*columns.values(), strict=True):
        array = np.asarray(maps, np.float32).reshape(shape) if maps is not None else None
        rows.append(Row(image, stem, json.loads(record) if record else None, array, error))
    return rows


def write(directory: str | os.PathLike, table: pa.Table) -> Path:
    """Write `table` as a new shard in `directory`: under a temporary name, then renamed, so never half."""
    _, pq = _arrow()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"part-{uuid.uuid4().hex}{SUFFIX}"
    tmp = directory / f".{name}.tmp"
    try:
        pq.write_table(table.select(schema().names), tmp)
        os.replace(tmp, directory / name)
    finally:
        tmp.unlink(missing_ok=True)
    return directory / name


def paths(directory: str | os.PathLike) -> list[Path]:
    """The complete shards in `directory` (a run stopped mid-write leaves only hidden temporaries)."""
    directory = Path(directory)
    return sorted(directory.glob(f"part-*{SUFFIX}")) if directory.is_dir() else []


def read(directory: str | os.PathLike) -> list[Row]:
    """Every row of every shard in `directory`, maps as numpy arrays [k, h, w]."""
    _, pq = _arrow()
    return [row for shard in paths(directory) for row in from_table(pq.read_table(shard))]


def done(directory: str | os.PathLike) -> set[str]:
    """Paths of the photos that already have a row: a resumed run skips them."""
    _, pq = _arrow()
    return {
        image for shard in paths(directory) for image in pq.read_table(shard, columns=["image"])["image"].to_pylist()
    }


def to_pandas(directory: str | os.PathLike) -> pd.DataFrame:
    """One DataFrame row per photo: image, stem, error, record (dict) and maps (numpy [k, h, w])."""
    import pandas as pd

    rows = read(directory)
    return pd.DataFrame(
        {
            "image": [r.image for r in rows],
            "stem": [r.stem for r in rows],
            "error": [r.error for r in rows],
            "record": [r.record for r in rows],
            "maps": [r.maps for r in rows],
        }
    )


def cleanup(directory: str | os.PathLike) -> None:
    """Remove temporaries an interrupted run left behind."""
    for tmp in Path(directory).glob(f".part-*{SUFFIX}.tmp") if Path(directory).is_dir() else []:
        tmp.unlink(missing_ok=True)


def ordered(rows: Iterable[Row], photos: Sequence[tuple[str, str]]) -> list[Row]:
    """`rows` in the order of `photos`, one per photo (a shard read twice must not count twice)."""
    by_image = {r.image: r for r in rows}
    return [by_image[path] for path, _ in photos if path in by_image]
