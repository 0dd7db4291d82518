"""A run's rows, one per photo, and the log that keeps them on disk until the run's summary is written.

A driver hands `output` a `Row` per photo; results.json and report.html list every photo's record. Kept in memory,
the records of 10,000 photos take some 40 MB of small objects, and more than that again in the heap they fragment
(docs/benchmarks.md, issue 33): a `RowLog` holds them in a file instead, and the summary reads them back as it
writes, so that a run's memory does not grow with its photos.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import numpy as np

from ..model.formats import write_failure


@dataclass(frozen=True)
class Row:
    """One photo of a run: its path, the stem naming its files, and its JSON-ready record and maps, or the reason it
    failed; `tiles`, its contact-sheet overlays when drawn in memory."""

    image: str
    stem: str
    record: dict | None = None
    maps: np.ndarray | None = field(default=None, repr=False)  # [k, h, w] float32
    error: str | None = None
    tiles: tuple[np.ndarray, ...] = field(default=(), repr=False)


class RowLog:
    """The rows of a run, in order: each explained photo's (stem, record) in a file without a name beside the
    run's manifest (results.json), gone when the log is closed or its process killed; the failures in memory (a
    line each). The pictures a row carries (maps, tiles) are not kept.

    Iterating gives the (stem, record) pairs, read anew each time: the summary reads them more than once. Add every
    row first, then read.
    """

    def __init__(self, manifest: Path) -> None:
        self.manifest = manifest  # the file the records are for: a failed write names it
        try:  # beside the run's files, not in /tmp: that may be memory
            self._file = tempfile.TemporaryFile("w+b", dir=manifest.parent)
        except OSError as exc:
            raise write_failure(manifest, exc) from None
        self.explained = 0
        self.maps = 0  # one per explained class of a photo, or per detection
        self.failed: list[dict] = []  # {"image": path, "error": one line}, as results.json lists them

    def add(self, row: Row) -> None:
        if row.record is None:
            self.failed.append({"image": row.image, "error": row.error})
            return
        try:
            self._file.write(json.dumps([row.stem, row.record]).encode() + b"\n")  # ASCII: json escapes the rest
        except OSError as exc:
            raise write_failure(self.manifest, exc) from None
        self.explained += 1
        self.maps += 0 if row.maps is None else len(row.maps)

    def __iter__(self) -> Iterator[tuple[str, dict]]:
        self._file.seek(0)
        try:
            for line in self._file:
                stem, record = json.loads(line)
                yield stem, record
        finally:
            self._file.seek(0, os.SEEK_END)

    def records(self) -> Iterator[dict]:
        """Each explained photo's record, in order."""
        return (record for _, record in self)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RowLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
