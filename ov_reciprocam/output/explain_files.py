"""What `explain` writes, from the explanations it is given.

Writes into one folder: per photo and explained class an overlay (JPEG by default, `OverlayFormat`),
NAME_maps.npy (the explained classes' maps at feature resolution), NAME_maps_full.npy (photo resolution,
only when asked: large photos make large files), a thumbnail in thumbs/ for report.html, then
contact_sheet_NNN in the overlays' format, results.json and report.html. Unreadable photos are skipped and listed.

Only writes what it is given: the drivers in `runs` read the photos and explain them, and hand each
`Explanation` to `write_photo`, then every row to `write_summary`. A row is one photo: its path, the
stem naming its files, its JSON-ready record and maps, or the reason it failed. `Outputs` says what
to write, whole, from the CLI's flags (or the caller) to every photo, wherever it is explained.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np

from ..errors import ReciproCamError
from ..vocabulary import OverlayFormat, at_least_one, parse, zero_to_one
from . import files, pictures, report, run_folder
from .pictures import Explained
from .rows import Row, RowLog
from .truth import GroundTruth

SHEET_ROWS = 64  # photos on the contact sheets (report.html lists every photo)
SHEET_PAGE = 16  # photos per contact sheet: contact_sheet_001.jpg, contact_sheet_002.jpg, ...
THUMBNAIL = report.THUMB_HEIGHT  # px, a contact sheet's row; report.html's thumbnail is a photo's first picture in it
RESULTS = "results.json"


def record_of(
    explanation: Explained, stem: str, overlays: OverlayFormat | None = OverlayFormat.JPG, truth: str | None = None
) -> dict:
    """The JSON-ready summary of one photo, as results.json lists it; `stem` names its overlays, written in the
    format `overlays` (None: not written); `truth`, the photo's true label when known, says whether the likeliest
    class is right."""
    explained = []
    for rank, c in enumerate(explanation.classes):
        peak = explanation.peak(c.class_id)
        explained.append(
            {
                "class_id": c.class_id,
                "label": c.label,
                "score": c.score,
                "overlay": f"{stem}_{rank + 1}_{files.safe_name(c.label)}.{overlays}" if overlays is not None else None,
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
    overlay_format: OverlayFormat | str = OverlayFormat.JPG,
) -> dict:
    """Write one photo's overlays and .npy maps (each optional); return its JSON-ready record.

    maps: NAME_maps.npy, the explained classes' maps, one row per class in the record's `maps_classes` order.
    full_maps: also write the maps at photo resolution (float16; large for large photos).
    truth: the photo's true label, if known (`record_of`). colour_bar: a colour scale on each overlay.
    overlay_format: jpg (quality 95), png or webp (`OverlayFormat`).
    """
    out = Outputs(
        out_dir,
        overlays=overlays,
        npy_maps=maps,
        full_maps=full_maps,
        alpha=alpha,
        colormap=colormap,
        colour_bar=colour_bar,
        overlay_format=parse(OverlayFormat, overlay_format, "overlay_format"),
    )
    return _written(explanation, stem, out, truth)[0]


def _written(explanation: Explained, stem: str, out: Outputs, truth: str | None) -> tuple[dict, list[np.ndarray]]:
    """The files of one photo that `out` asks for, but the report's; its record, and its overlays as drawn before
    any colour bar (what its thumbnail and contact-sheet row are shrunk from)."""
    directory = Path(out.directory)
    record = record_of(explanation, stem, out.overlay_format if out.overlays else None, truth)
    drawn = []
    for entry in record["explained"] if out.overlays else ():
        picture = pictures.overlay_of(explanation, entry["class_id"], out.alpha, out.colormap)
        shown = pictures.with_scale(picture, out.colormap, entry["flat"]) if out.colour_bar else picture
        files.write_picture(directory / entry["overlay"], shown, out.overlay_format)
        drawn.append(picture)
    if out.npy_maps or out.full_maps:
        record["maps_classes"] = [e["class_id"] for e in record["explained"]]  # the .npy files' rows, in order
    if out.npy_maps:
        record |= {"maps": files.write_npy(directory / f"{stem}_maps.npy", explanation.maps).name, "maps_full": None}
    if out.full_maps:
        # float16 halves the size of photo-resolution stacks; maps live in [0, 1], so 3 digits suffice.
        full = files.write_npy(directory / f"{stem}_maps_full.npy", explanation.upsampled.astype(np.float16))
        record["maps_full"] = full.name
    return record, drawn


def sheet_tiles(source: str, overlays: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """The photo's row of the contact sheet: its classes' `overlays` (drawn THUMBNAIL px high), named after it."""
    return tuple(pictures.captioned(o, Path(source).name, True) for o in overlays)


@dataclass(frozen=True)
class Outputs:
    """What to explain in each photo and which files to write into `directory`: `explain`'s switches, as data.

    top_k, classes, threshold: as `Explainer.explain` takes them (`classes`: ids or labels, instead of the top k).
    overlays, npy_maps, full_maps: an overlay per class, NAME_maps.npy, NAME_maps_full.npy (photo resolution), the
    maps of the explained classes only.
    overlay_format: the overlays' `OverlayFormat`, or its name: jpg (quality 95), png or webp.
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
    overlay_format: OverlayFormat = OverlayFormat.JPG  # or its name, as the CLI's flag gives it

    def __post_init__(self) -> None:
        # Checked as the CLI's flags are, so that an API caller is refused where a flag would be.
        at_least_one("top_k", self.top_k)
        zero_to_one("threshold", self.threshold)
        zero_to_one("alpha", self.alpha)
        object.__setattr__(self, "classes", tuple(self.classes))  # a list given: frozen, as the rest
        object.__setattr__(self, "overlay_format", parse(OverlayFormat, self.overlay_format, "overlay_format"))


@dataclass
class ExplainRun:
    """What a driver wrote, and what it could not read."""

    output: Path
    explained: int = 0  # photos
    maps: int = 0  # one per class explained in a photo (a detector's: per detection)
    failed: list[dict] = field(default_factory=list)  # {"image": path, "error": one line}
    seconds: float = 0.0

    @property
    def records(self) -> list[dict]:
        """One per explained photo, as results.json lists them: read from it when asked, so that a run keeps none in
        memory."""
        path = self.output / RESULTS
        try:
            records: list[dict] = json.loads(path.read_text())["images"]
        except OSError as exc:
            raise ReciproCamError(f"cannot read the run's records from {path}: {exc.strerror}") from None
        except (ValueError, KeyError, TypeError):
            raise ReciproCamError(f"{path} was changed since the run: its records are gone") from None
        return records

    @property
    def images_per_s(self) -> float:
        return self.explained / self.seconds if self.seconds > 0 else 0.0


def name_photos(paths: Sequence[str | os.PathLike]) -> list[tuple[str, str]]:
    """(path, stem) for each photo; stems are unique (`a`, `a-2`) and depend only on the order of `paths`."""
    taken: set[str] = set()
    return [(str(p), files.unique_stem(Path(p).stem, taken)) for p in paths]


def write_photo(explanation: Explained, path: str, stem: str, out: Outputs, tiles: bool = False) -> Row:
    """Every file `out` asks for of one explained photo (read from `path`), and its row.

    tiles: also the photo's contact-sheet row, in memory (the sheet never reads a file back).
    Thread-safe: a pool of writers may call it at once, one photo each.
    """
    record, drawn = _written(explanation, stem, out, out.truth.of(path))
    tiles = tiles and out.overlays  # a sheet of overlays, written only with them
    small = _thumbnails(explanation, drawn, len(explanation.classes) if tiles else int(out.report), out)
    if out.report:
        files.write_jpeg(Path(out.directory) / report.thumbnail_name(stem), small[0])
    row = sheet_tiles(explanation.source, small) if tiles else ()
    return Row(path, stem, record, explanation.maps.astype(np.float32), tiles=row)


def _thumbnails(explanation: Explained, drawn: list[np.ndarray], count: int, out: Outputs) -> list[np.ndarray]:
    """The first `count` classes' overlays THUMBNAIL px high: those just drawn, shrunk, so that each map is coloured
    once, at the photo's size. Drawn at that height instead without overlays, or for a photo shorter than it
    (cheap, and a caption scaled up would blur)."""
    if len(drawn) >= count and explanation.image.shape[0] >= THUMBNAIL:
        return [pictures.to_height(picture, THUMBNAIL) for picture in drawn[:count]]
    ids = [c.class_id for c in explanation.classes[:count]]
    return [pictures.overlay_of(explanation, c, out.alpha, out.colormap, THUMBNAIL) for c in ids]


def write_summary(out: Outputs, rows: RowLog, sheet: list[list[np.ndarray]], header: dict) -> ExplainRun:
    """With overlays the contact sheets of `sheet` (the first photos' rows of tiles), `SHEET_PAGE` photos each, in
    the overlays' format; with `report`, report.html; then results.json (header, one record per explained photo,
    the failures, every file of the run), last, as the run's manifest."""
    directory = Path(out.directory)
    # Listed in results.json in the order they always were: every overlay, every .npy, the sheets, the thumbnails,
    # the report. Each is a pass over the records on disk: with the report's, 0.8-0.9 s for 5,000 photos (0.6-0.7
    # with the records in memory, docs/benchmarks.md).
    overlays = (e["overlay"] for record in rows.records() for e in record["explained"] if e["overlay"])
    arrays = (record[k] for record in rows.records() for k in ("maps", "maps_full") if record.get(k))
    sheets = []
    if out.overlays:
        for page, start in enumerate(range(0, len(sheet), SHEET_PAGE), 1):
            picture = pictures.contact_sheet(sheet[start : start + SHEET_PAGE], colormap=out.colormap)
            name = f"contact_sheet_{page:03d}.{out.overlay_format.value}"
            sheets.append(files.write_picture(directory / name, picture, out.overlay_format).name)
    thumbnails: Iterable[str] = ()
    pages = []
    if out.report:
        html = report.explain_page(report.settings_of(header), rows, directory)
        pages.append(report.write_page(directory / "report.html", html).name)
        thumbnails = (report.thumbnail_name(stem) for stem, _ in rows)
    return write_results(directory, rows, header, chain(overlays, arrays, sheets, thumbnails, pages))


def write_results(directory: str | os.PathLike, rows: RowLog, header: dict, names: Iterable[str]) -> ExplainRun:
    """results.json, written last as the run's manifest: `header`, the records and failures of `rows`, and those of
    `names` that are files in `directory`, in order; and the run it sums up. Both families' summaries end here."""
    output = Path(directory)
    listed = {run_folder.FILES: run_folder.existing(output, names)}
    files.write_json(output / RESULTS, header | {"images": rows.records(), "failed": rows.failed} | listed)
    return ExplainRun(output, rows.explained, rows.maps, rows.failed)
