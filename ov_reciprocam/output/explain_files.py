"""Explain files, folders and globs: read in batches, report progress, write every output.

Writes into one folder: per photo and explained class an overlay PNG, NAME_maps.npy (feature
resolution), NAME_maps_full.npy (photo resolution, only when asked: large photos make large
files), a thumbnail in thumbs/ for report.html, then contact_sheet_NNN.png, results.json and
report.html. Unreadable photos are skipped and listed.

`explain_batch` is the one function every driver runs on a batch of photos: `explain_paths` here,
batch after batch, and `cluster.explain_paths_on_ray` in an actor pool. A row is one photo: its
path, the stem naming its files, its JSON-ready record and maps, or the reason it failed.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import ReciproCamError
from ..inference import imaging
from ..inference.explainer import ClassMap, Explainer, Explanation
from ..inference.preprocess import Preprocess
from ..vocabulary import at_least_one, zero_to_one
from . import files, pictures, report, run_folder
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


def record_of(explanation: Explanation, stem: str, overlays: bool = True, truth: str | None = None) -> dict:
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
    explanation: Explanation,
    out_dir: str | os.PathLike,
    stem: str,
    alpha: float = 0.5,
    colormap: str = "jet",
    *,
    overlays: bool = True,
    maps: bool = True,
    full_maps: bool = False,
    truth: str | None = None,
) -> dict:
    """Write one photo's overlays and .npy maps (each optional); return its JSON-ready record.

    full_maps: also write the maps at photo resolution (float16; large for large photos).
    truth: the photo's true label, if known (`record_of`).
    """
    out_dir = Path(out_dir)
    record = record_of(explanation, stem, overlays, truth)
    if overlays:
        for entry in record["explained"]:
            files.write_png(out_dir / entry["overlay"], explanation.overlay(entry["class_id"], alpha, colormap))
    if maps:
        record |= {"maps": files.write_npy(out_dir / f"{stem}_maps.npy", explanation.maps).name, "maps_full": None}
    if full_maps:
        # float16 halves the size of photo-resolution stacks; maps live in [0, 1], so 3 digits suffice.
        full = files.write_npy(out_dir / f"{stem}_maps_full.npy", explanation.upsampled.astype(np.float16))
        record["maps_full"] = full.name
    return record


def sheet_tiles(explanation: Explanation, out: Outputs) -> tuple[np.ndarray, ...]:
    """The photo's row of the contact sheet: each explained class's overlay, drawn at the row height and named
    after the photo."""
    name = Path(explanation.source).name
    return tuple(
        pictures.captioned(explanation.overlay(c.class_id, out.alpha, out.colormap, height=THUMBNAIL), name, True)
        for c in explanation.classes
    )


def _safe(label: str) -> str:
    """`label` as part of a file name: letters of any script kept, only what some file system forbids replaced.

    Cut to 100 UTF-8 bytes, not characters: file names are limited in bytes, and the stem comes before it.
    """
    kept = re.sub(r'[/\\:*?"<>|\x00-\x1f\x7f-\x9f]+', "_", label)
    return kept.encode()[:100].decode(errors="ignore")


@dataclass(frozen=True)
class Outputs:
    """What to explain in each photo and which files to write into `directory`."""

    directory: str
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

    def __post_init__(self) -> None:
        # Checked as the CLI's flags are, so that an API caller is refused where a flag would be.
        at_least_one("top_k", self.top_k)
        zero_to_one("threshold", self.threshold)
        zero_to_one("alpha", self.alpha)


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


@dataclass(frozen=True)
class ExplainerSpec:
    """How to build an Explainer: plain, picklable data, so each Ray actor can compile its own."""

    model: str
    preprocess: Preprocess
    device: str = "CPU"
    config: dict | None = None
    labels: tuple[str, ...] | None = None
    batch_size: int | None = None
    patch_options: dict = field(default_factory=dict)

    @classmethod
    def of(cls, explainer: Explainer, model: str | os.PathLike, device: str, config: dict | None) -> ExplainerSpec:
        """The spec that rebuilds `explainer` (made from `model`) elsewhere."""
        return cls(
            os.fspath(model),
            explainer.preprocess,
            device,
            config,
            tuple(explainer.labels) or None,
            explainer.batch_size,
            explainer.patch_options,
        )

    def build(self, **config) -> Explainer:
        """The Explainer; `config` adds compile properties (an actor's thread count)."""
        return Explainer(
            self.model,
            self.device,
            preprocess=self.preprocess,
            labels=self.labels,
            batch_size=self.batch_size,
            config={**(self.config or {}), **config} or None,
            **self.patch_options,
        )


def name_photos(paths: Sequence[str | os.PathLike]) -> list[tuple[str, str]]:
    """(path, stem) for each photo; stems are unique (`a`, `a-2`) and depend only on the order of `paths`."""
    taken: set[str] = set()
    return [(str(p), files.unique_stem(Path(p).stem, taken)) for p in paths]


def explain_batch(
    explainer: Explainer, photos: Sequence[tuple[str, str]], out: Outputs, tiles: bool = False
) -> list[Row]:
    """Rows for one batch of (path, stem), in that order; a photo that cannot be read becomes an error row.

    tiles: also draw each photo's contact-sheet row (in memory: the sheet never reads a PNG back).
    """
    pictures, readable, failed = [], [], {}
    for path, stem in photos:
        try:
            pictures.append(imaging.read_image(path, explainer.preprocess.channels))
            readable.append((path, stem))
        except ReciproCamError as exc:
            failed[path] = Row(path, stem, error=str(exc))
    sources = [p for p, _ in readable]
    results = explainer.explain(pictures, out.top_k, list(out.classes) or None, sources, out.threshold)
    done = {}
    for (path, stem), result in zip(readable, results, strict=True):
        record = save_explanation(
            result,
            out.directory,
            stem,
            out.alpha,
            out.colormap,
            overlays=out.overlays,
            maps=out.npy_maps,
            full_maps=out.full_maps,
            truth=out.truth.of(path),
        )
        drawn = sheet_tiles(result, out) if tiles and out.overlays else ()
        if out.report:
            first = result.classes[0].class_id
            thumbnail = result.overlay(first, out.alpha, out.colormap, height=report.THUMB_HEIGHT)
            files.write_jpeg(Path(out.directory) / report.thumbnail_name(stem), thumbnail)
        done[path] = Row(path, stem, record, result.maps.astype(np.float32), tiles=drawn)
    return [done.get(path) or failed[path] for path, _ in photos]


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
        page = report.explain_page(report.settings_of(header), photos, run.output)
        written += [report.thumbnail_name(stem) for stem, _ in photos]
        written.append(report.write_page(run.output / "report.html", page).name)
    listed = {run_folder.FILES: run_folder.existing(run.output, written)}
    files.write_json(run.output / RESULTS, header | {"images": run.records, "failed": run.failed} | listed)
    return run


def header(explainer: Explainer, about: dict | None) -> dict:
    """What results.json says before the images: `about` (say, the model path), the precision the model ran in, the
    recipe, the labels."""
    from .. import __version__

    recipe = explainer.preprocess.describe()
    ran = {"precision": explainer.precision}
    return (about or {}) | ran | {"version": __version__, "preprocess": recipe, "labels": explainer.labels or None}


def found_photos(
    explainer: Explainer,
    images: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    classes: Sequence[int | str] | None,
) -> tuple[Path, list[Path]]:
    """What is checked before the first photo: the output folder, the photos, the classes asked for."""
    output = run_folder.check_run_folder(output, images)
    paths = imaging.collect_images(images)
    for name in classes or ():  # an unknown class fails before any photo is read
        explainer.class_id(name)
    return output, paths


RowMaker = Callable[[list[tuple[str, str]], Outputs], list[Row]]  # (path, stem) of every photo -> their rows


def explain_paths(
    explainer: Explainer,
    images: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    *,
    top_k: int = 3,
    classes: Sequence[int | str] | None = None,
    threshold: float = 0.5,
    alpha: float = 0.5,
    colormap: str = "jet",
    overlays: bool = True,
    npy_maps: bool = True,
    full_maps: bool = False,
    report: bool = True,
    truth: GroundTruth | None = None,
    on_start: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
    on_skip: Callable[[str], None] | None = None,
    about: dict | None = None,
    make_rows: RowMaker | None = None,
) -> ExplainRun:
    """Explain every photo in `images` (files, folders, globs) and write the results into `output`.

    on_start: called with the number of photos found; progress: with the number just handled; on_skip: with
    the reason a photo was skipped.
    about: extra entries for results.json (say, the model path); report: also write report.html.
    truth: where the photos' true classes come from (`GroundTruth`), for `truth` and `correct` in each record.
    make_rows: who explains the photos: by default this process, batch after batch; `cluster` passes an
    actor pool's.
    """
    output, paths = found_photos(explainer, images, output, classes)
    fields = {"npy_maps": npy_maps, "full_maps": full_maps, "alpha": alpha, "colormap": colormap, "report": report}
    fields["truth"] = (truth or GroundTruth()).resolved(paths, explainer.labels or ())
    out = Outputs(str(output), top_k, tuple(classes or ()), threshold, overlays, **fields)

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

    with run_folder.claimed(output, RESULTS):
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
    from the photo and its maps."""
    photo = pictures_of(row.image, preprocess)
    classes = [
        ClassMap(e["class_id"], e["label"], e["score"], saliency, e["flat"])
        for e, saliency in zip(row.record["explained"], row.maps, strict=True)
    ]
    explanation = Explanation(row.image, photo, np.zeros(0), [], classes, preprocess)
    return replace(row, tiles=sheet_tiles(explanation, out))


def pictures_of(path: str, preprocess: Preprocess) -> np.ndarray:
    """The photo as overlays are drawn on it: read as the model reads it, then BGR."""
    return imaging.as_channels(imaging.read_image(path, preprocess.channels), 3)
