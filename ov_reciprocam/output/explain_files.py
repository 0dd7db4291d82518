"""What `explain` writes, from the explanations it is given.

Writes into one folder: per photo and explained class an overlay PNG, NAME_maps.npy (feature
resolution), NAME_maps_full.npy (photo resolution, only when asked: large photos make large
files), a thumbnail in thumbs/ for report.html, then contact_sheet_NNN.png, results.json and
report.html. Unreadable photos are skipped and listed.

Only writes what it is given: the drivers in `runs` read the photos and explain them, and hand each
`Explanation` to `write_photo`, then every row to `write_summary`. A row is one photo: its path, the
stem naming its files, its JSON-ready record and maps, or the reason it failed. `Outputs` says what
to write, whole, from the CLI's flags (or the caller) to every photo, wherever it is explained.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..vocabulary import at_least_one, zero_to_one
from . import files, pictures, report, run_folder
from .pictures import Explained
from .truth import GroundTruth

SHEET_ROWS = 64  # photos on the contact sheets (report.html lists every photo)
SHEET_PAGE = 16  # photos per contact sheet: contact_sheet_001.png, contact_sheet_002.png, ...
THUMBNAIL = 224  # px, a contact-sheet cell
RESULTS = "results.json"


@dataclass(frozen=True)
class Row:
    image: str
    stem: str
    record: dict | None = None
    maps: np.ndarray | None = field(default=None, repr=False)  # [k, h, w] float32
    error: str | None = None
    tiles: tuple[np.ndarray, ...] = field(default=(), repr=False)  # contact-sheet overlays, drawn in memory


def record_of(explanation: Explained, stem: str, overlays: bool = True, truth: str | None = None) -> dict:
    """The JSON-ready summary of one photo, as results.json lists it; `stem` names its overlays (None when not
    written); `truth`, the photo's true label when known, says whether the likeliest class is right."""
    explained = []
    for rank, c in enumerate(explanation.classes):
        peak = explanation.peak(c.class_id)
        explained.append(
            {
                "class_id": c.class_id,
                "label": c.label,
                "score": c.score,
                "overlay": f"{stem}_{rank + 1}_{_safe(c.label)}.png" if overlays else None,
                "peak": list(peak) if peak else None,
                "flat": c.flat,
            }
        )
    image = explanation.image
    return {
        "image": explanation.source,
        "size": [int(image.shape[1]), int(image.shape[0])],
        "predictions": [{"class_id": p.class_id, "label": p.label, "score": p.score} for p in explanation.predictions],
        "explained": explained,
        "truth": truth,
        "correct": None if truth is None else explanation.predictions[0].label == truth,
    }


def save_explanation(
    explanation: Explained,
    out_dir: str | os.PathLike,
    stem: str,
    alpha: float = 0.5,
    colormap: str = "jet",
    *,
    overlays: bool = True,
    maps: bool = True,
    full_maps: bool = False,
    truth: str | None = None,
    colour_bar: bool = False,
) -> dict:
    """Write one photo's overlays and .npy maps (each optional); return its JSON-ready record.

    full_maps: also write the maps at photo resolution (float16; large for large photos).
    truth: the photo's true label, if known (`record_of`). colour_bar: a colour scale on each overlay.
    """
    out_dir = Path(out_dir)
    record = record_of(explanation, stem, overlays, truth)
    if overlays:
        for entry in record["explained"]:
            picture = pictures.overlay_of(explanation, entry["class_id"], alpha, colormap, scale=colour_bar)
            files.write_png(out_dir / entry["overlay"], picture)
    if maps:
        record |= {"maps": files.write_npy(out_dir / f"{stem}_maps.npy", explanation.maps).name, "maps_full": None}
    if full_maps:
        # float16 halves the size of photo-resolution stacks; maps live in [0, 1], so 3 digits suffice.
        full = files.write_npy(out_dir / f"{stem}_maps_full.npy", explanation.upsampled.astype(np.float16))
        record["maps_full"] = full.name
    return record


def sheet_tiles(source: str, overlays: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """The photo's row of the contact sheet: its classes' `overlays` (drawn THUMBNAIL px high), named after it."""
    return tuple(pictures.captioned(o, Path(source).name, True) for o in overlays)


def _safe(label: str) -> str:
    """`label` as part of a file name: letters of any script kept, only what some file system forbids replaced.

    Cut to 100 UTF-8 bytes, not characters: file names are limited in bytes, and the stem comes before it.
    """
    kept = re.sub(r'[/\\:*?"<>|\x00-\x1f\x7f-\x9f]+', "_", label)
    return kept.encode()[:100].decode(errors="ignore")


@dataclass(frozen=True)
class Outputs:
    """What to explain in each photo and which files to write into `directory`: `explain`'s switches, as data.

    top_k, classes, threshold: as `Explainer.explain` takes them (`classes`: ids or labels, instead of the top k).
    overlays, npy_maps, full_maps: an overlay PNG per class, NAME_maps.npy, NAME_maps_full.npy (photo resolution).
    """

    directory: str | os.PathLike
    top_k: int = 3
    classes: tuple[str | int, ...] = ()
    threshold: float = 0.5  # multi-label models: the labels at or above it
    overlays: bool = True
    npy_maps: bool = True
    full_maps: bool = False
    alpha: float = 0.5
    colormap: str = "jet"
    report: bool = True  # report.html, and a thumbnail per photo for it
    truth: GroundTruth = field(default_factory=GroundTruth)  # the photos' true classes, when the user has them
    colour_bar: bool = False  # a colour scale on each overlay (the contact sheets always have one)

    def __post_init__(self) -> None:
        # Checked as the CLI's flags are, so that an API caller is refused where a flag would be.
        at_least_one("top_k", self.top_k)
        zero_to_one("threshold", self.threshold)
        zero_to_one("alpha", self.alpha)
        object.__setattr__(self, "classes", tuple(self.classes))  # a list given: frozen, as the rest


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


def name_photos(paths: Sequence[str | os.PathLike]) -> list[tuple[str, str]]:
    """(path, stem) for each photo; stems are unique (`a`, `a-2`) and depend only on the order of `paths`."""
    taken: set[str] = set()
    return [(str(p), files.unique_stem(Path(p).stem, taken)) for p in paths]


def write_photo(explanation: Explained, path: str, stem: str, out: Outputs, tiles: bool = False) -> Row:
    """Every file `out` asks for of one explained photo (read from `path`), and its row.

    tiles: also draw the photo's contact-sheet row (in memory: the sheet never reads a PNG back).
    """
    record = save_explanation(
        explanation,
        out.directory,
        stem,
        out.alpha,
        out.colormap,
        overlays=out.overlays,
        maps=out.npy_maps,
        full_maps=out.full_maps,
        truth=out.truth.of(path),
        colour_bar=out.colour_bar,
    )
    shade = (out.alpha, out.colormap)
    drawn: tuple[np.ndarray, ...] = ()
    if tiles and out.overlays:
        ids = [c.class_id for c in explanation.classes]
        drawn = sheet_tiles(explanation.source, [pictures.overlay_of(explanation, c, *shade, THUMBNAIL) for c in ids])
    if out.report:
        first = explanation.classes[0].class_id
        thumbnail = pictures.overlay_of(explanation, first, *shade, height=report.THUMB_HEIGHT)
        files.write_jpeg(Path(out.directory) / report.thumbnail_name(stem), thumbnail)
    return Row(path, stem, record, explanation.maps.astype(np.float32), tiles=drawn)


def write_summary(out: Outputs, rows: Sequence[Row], header: dict) -> ExplainRun:
    """With overlays the contact sheets, `SHEET_PAGE` photos each; with `report`, report.html; then results.json
    (header, one record per explained photo, the failures, every file of the run), last, as the run's manifest."""
    run = ExplainRun(Path(out.directory))
    run.records = [r.record for r in rows if r.record is not None]
    run.failed = [{"image": r.image, "error": r.error} for r in rows if r.error is not None]
    sheet = [list(r.tiles) for r in rows if r.record is not None and r.tiles][:SHEET_ROWS]
    written = [e["overlay"] for r in run.records for e in r["explained"] if e["overlay"]]
    written += [r[k] for r in run.records for k in ("maps", "maps_full") if r.get(k)]
    if out.overlays:
        for page, start in enumerate(range(0, len(sheet), SHEET_PAGE), 1):
            picture = pictures.contact_sheet(sheet[start : start + SHEET_PAGE], colormap=out.colormap)
            written.append(files.write_png(run.output / f"contact_sheet_{page:03d}.png", picture).name)
    if out.report:
        photos = [(r.stem, r.record) for r in rows if r.record is not None]
        html = report.explain_page(report.settings_of(header), photos, run.output)
        written += [report.thumbnail_name(stem) for stem, _ in photos]
        written.append(report.write_page(run.output / "report.html", html).name)
    listed = {run_folder.FILES: run_folder.existing(run.output, written)}
    files.write_json(run.output / RESULTS, header | {"images": run.records, "failed": run.failed} | listed)
    return run
