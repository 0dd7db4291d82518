"""Ground truth for explain: each photo's true class, from its folder's name or from a CSV of `name,class` rows.

results.json then says per photo `truth` (a label of the model) and `correct` (whether the likeliest class is
it), and report.html can show only the wrong predictions.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import ReciproCamError

_HEADERS = {"class", "label"}  # a first CSV row naming its columns, not a photo


def _normal(name: str) -> str:
    """`Great_Dane`, `great dane` and `Great  Dane` alike: ImageNet-style folders write spaces as `_`."""
    return " ".join(name.replace("_", " ").split()).casefold()


@dataclass(frozen=True)
class GroundTruth:
    """Where the true classes come from; `resolved` gives the model label of each photo."""

    folders: bool = False  # a photo's folder names its class (ImageNet's train/CLASS/photo.jpg)
    rows: tuple[tuple[str, str], ...] = ()  # (a photo's file name or path, its class), as the CSV says
    labels: Mapping[str, str] = field(default_factory=dict)  # once resolved: photo path -> model label

    @classmethod
    def read_csv(cls, path: str | os.PathLike) -> GroundTruth:
        """Rows `name,class` (a photo's file name or path, its class); a header row `name,class` is skipped."""
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                rows = [tuple(cell.strip() for cell in row) for row in csv.reader(f) if any(c.strip() for c in row)]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise ReciproCamError(f"cannot read ground truth {path}: {exc}") from None
        for number, row in enumerate(rows, 1):
            if len(row) != 2 or not all(row):
                raise ReciproCamError(f"ground truth {path}, row {number}: expected `name,class`, got {','.join(row)}")
        if rows and rows[0][1].casefold() in _HEADERS:
            rows = rows[1:]
        return cls(rows=tuple((name, label) for name, label in rows))  # each row is a pair: checked above

    def __bool__(self) -> bool:
        return self.folders or bool(self.rows)

    def resolved(self, paths: Sequence[str | os.PathLike], labels: Sequence[str]) -> GroundTruth:
        """This truth with `labels` filled: each photo in `paths` that has a class, as the model's label.

        A class matches a label as written, else with `_` and spaces alike and case ignored. One that matches
        none fails here, before any photo is read: a typo would otherwise call every prediction wrong.
        """
        if not self:
            return self
        exact = set(labels)
        normal: dict[str, str] = {}
        for label in labels:
            normal.setdefault(_normal(label), label)
        given = dict(self.rows)
        found: dict[str, str] = {}
        unknown: list[str] = []
        for path in map(Path, paths):
            name = path.parent.name if self.folders else given.get(path.name, given.get(str(path)))
            if name is None:
                continue
            matched = name if name in exact else normal.get(_normal(name))
            if matched is None:
                unknown.append(name)
            else:
                found[str(path)] = matched
        if unknown:
            some = ", ".join(sorted(set(unknown))[:5]) + (", ..." if len(set(unknown)) > 5 else "")
            where = "folder names" if self.folders else "ground-truth classes"
            known = ", ".join(labels[:5]) + ", ..." if labels else "the model has no labels"
            raise ReciproCamError(f"{where} that are no class of the model: {some} (its labels: {known})")
        return replace(self, labels=found)

    def of(self, path: str | os.PathLike) -> str | None:
        """The photo's true label, once resolved; None when nothing says it."""
        return self.labels.get(str(path))
