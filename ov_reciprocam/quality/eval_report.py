"""Render an evaluation: the Markdown table, CSV, curve plots, side-by-side maps, and the report folder."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..output import files, pictures, run_folder
from ..output import report as pages
from . import metrics
from .detection_eval import MEASURES
from .evaluate import METRICS

# Which way is better, for the table header and report.html's arrows: the metrics' own, and the summary's others.
_BETTER = METRICS | {"adcc_per_photo": "+", "adcc_of_means": "+", "pointing_accuracy": "+"}
_BETTER |= {"pointing_hits": "+", "energy_pointing": "+", "seconds": "-", "metric_seconds": "-", "inferences": "-"}
CURVES_PER_PHOTO = 5  # photos whose own curves are drawn; more get the mean and the interquartile band only
MANIFEST = "metrics.json"
PLOT_NOTE = "curve plots skipped: matplotlib is not installed (pip install 'ov-reciprocam[plot]')"


def table(records: list[dict], summary: dict) -> str:
    """A Markdown table: one row per image and method, then the means."""
    head = ["image", "class", "method", *(f"{m} ({_BETTER[m]})" for m in METRICS), "pointing", "energy (+)", "s"]
    head += ["inferences", "metrics s"]
    rows = []
    for r in records:
        for name, m in r["methods"].items():
            values = [f"{m[k]:.3f}" for k in METRICS]
            energy = _fmt(m.get("energy_pointing"), 3) or "-"
            cells = [r["image"], r["label"], name, *values, _pointing(m), energy, f"{m['seconds']:.2f}"]
            rows.append([*cells, str(m["inferences"]), f"{m['metric_seconds']:.2f}"])
    for name, s in summary.items():
        point = f"{s['pointing_hits']}/{s['pointing_total']}" if s["pointing_total"] else "-"
        energy = _fmt(s.get("energy_pointing"), 3) or "-"
        cells = ["**mean**", "", name, *(f"{s[k]:.3f}" for k in METRICS), point, energy, f"{s['seconds']:.2f}"]
        rows.append([*cells, f"{s['inferences']:.0f}", f"{s['metric_seconds']:.2f}"])
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows, strict=True)]

    def line(cells: Sequence[object]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def _pointing(m: dict) -> str:
    if "pointing_hit" not in m:
        return "-"
    return f"{'hit' if m['pointing_hit'] else 'miss'} ({m['peak_distance']:.0f} px)"


def csv_text(records: list[dict], summary: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["image", "class_id", "label", "probability", "method", *METRICS, "pointing_hit", "peak_distance"]
        + ["energy_pointing", "seconds", "inferences", "metric_seconds"]
    )
    for r in records:
        for name, m in r["methods"].items():
            writer.writerow(
                [r["image"], r["class_id"], r["label"], f"{r['probability']:.6f}", name]
                + [f"{m[k]:.6f}" for k in METRICS]
                + [m.get("pointing_hit", ""), _fmt(m.get("peak_distance")), _fmt(m.get("energy_pointing"), 6)]
                + [f"{m['seconds']:.4f}", m["inferences"], f"{m['metric_seconds']:.4f}"]
            )
    for name, s in summary.items():
        hits = f"{s['pointing_hits']}/{s['pointing_total']}" if s["pointing_total"] else ""
        energy = _fmt(s.get("energy_pointing"), 6)
        writer.writerow(
            ["mean", "", "", "", name, *(f"{s[k]:.6f}" for k in METRICS), hits, "", energy, f"{s['seconds']:.4f}"]
            + [f"{s['inferences']:.1f}", f"{s['metric_seconds']:.4f}"]
        )
    return out.getvalue()


def _fmt(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def arrow(metric: str) -> str:
    """ "↑" if a higher `metric` is better, "↓" if lower, "" if neither."""
    return {"+": "↑", "-": "↓"}.get(_BETTER.get(metric, ""), "")


def _facts(m: dict) -> list[str]:
    """A method's metrics on one photo, each a short item for the line under its map."""
    items = [f"{k}{arrow(k)} {m[k]:.3f}" for k in METRICS]
    if "pointing_hit" in m:
        items.append(f"pointing {_pointing(m)}")
    if m.get("energy_pointing") is not None:
        items.append(f"energy_pointing{arrow('energy_pointing')} {m['energy_pointing']:.3f}")
    return [
        *items,
        f"seconds{arrow('seconds')} {m['seconds']:.2f}",
        f"inferences{arrow('inferences')} {m['inferences']}",
    ]


def side_by_side(photo: np.ndarray, result: dict, boxes: list[list[float]] | None, tile: int = 320) -> np.ndarray:
    """The photo with its boxes, then each method's map on it with its peak marked, in one row; under each
    picture what it is: the class explained, and each method's every metric, in lines that wrap (never cut)."""
    framed = photo.copy()
    thickness = max(1, round(max(photo.shape[:2]) / 300))
    for b in boxes or []:
        cv2.rectangle(framed, (round(b[0]), round(b[1])), (round(b[2]), round(b[3])), (0, 255, 0), thickness)
    columns = [(framed, f"class: {result['label']}", [f"probability {result['probability']:.3f}"])]
    for name, m in result["methods"].items():
        picture = pictures.overlay(framed, m["photo_map"])
        cv2.circle(picture, tuple(m["peak"]), 4 * thickness, (255, 255, 255), -1)
        cv2.circle(picture, tuple(m["peak"]), 4 * thickness, (0, 0, 0), thickness)
        columns.append((picture, name, _facts(m)))
    size = max(pictures.MIN_SIZE, tile // 22)
    scaled = [pictures.to_height(picture, tile) for picture, _, _ in columns]
    texts = [
        pictures.wrap([title], p.shape[1], size) + pictures.wrap(items, p.shape[1], size)
        for p, (_, title, items) in zip(scaled, columns, strict=True)
    ]
    lines = max(len(t) for t in texts)
    # Every column's text as tall as the tallest, so the pictures stay in one row.
    row = [
        np.vstack([p, pictures.text_box(t + [""] * (lines - len(t)), size, p.shape[1])])
        for p, t in zip(scaled, texts, strict=True)
    ]
    return pictures.contact_sheet([row], row[0].shape[0], colormap="jet")


def curve_plots(records: list[dict], names: Sequence[str]) -> dict[str, bytes] | None:
    """One PNG per method with every image's deletion and insertion curves; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    plots = {}
    for name in names:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
        for ax, kind in zip(axes, ("deletion", "insertion"), strict=True):
            curves = np.array([r["methods"][name]["curves"][kind] for r in records])
            x = np.linspace(0, 1, curves.shape[1])
            if len(records) <= CURVES_PER_PHOTO:  # more lines than this is a tangle: the band says it
                for r, curve in zip(records, curves, strict=True):
                    ax.plot(x, curve, lw=1, alpha=0.6, label=f"{Path(r['image']).name} ({metrics.auc(curve):.3f})")
            low, high = np.percentile(curves, [25, 75], axis=0)
            ax.fill_between(x, low, high, color="0.6", alpha=0.35, label=f"25-75 % of {len(records)} photos")
            mean = curves.mean(axis=0)
            ax.plot(x, mean, "k", lw=2.5, label="mean")
            ax.set(
                title=f"{name}: {kind}, mean AUC {metrics.auc(mean):.3f}", xlabel="fraction of pixels", ylim=(0, 1.02)
            )
        axes[0].set_ylabel("class probability")
        # Beside the axes, not over them: the legend lists the photos' lines.
        axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        plots[name] = buffer.getvalue()
    return plots


def write_maps(output: Path, stem: str, photo: np.ndarray, result: dict, objects: list[dict]) -> str:
    """NAME_maps.png: the photo and every method's map side by side; returns the file name."""
    path = files.write_png(output / f"{stem}_maps.png", side_by_side(photo, result, [o["box"] for o in objects]))
    return path.name


def write_report(
    output: Path, report: dict, records: list[dict], summary: dict, names: Sequence[str], page: bool = True
) -> bool:
    """(with matplotlib) curves_METHOD.png, metrics.csv, (with `page`) report.html, and last metrics.json, the
    run's manifest (`run_folder`: it lists these and the side-by-side maps); returns whether plots were drawn."""
    plots = curve_plots(records, names)
    for name, png in (plots or {}).items():
        files.write_bytes(output / f"curves_{name}.png", png)
    report |= {
        "summary": summary,
        "images": records,
        "curve_plots": [f"curves_{n}.png" for n in names] if plots else None,
        "curve_plots_note": None if plots else PLOT_NOTE,
    }
    written = [r["maps"] for r in records if r.get("maps")] + (report["curve_plots"] or [])
    written.append(files.write_bytes(output / "metrics.csv", csv_text(records, summary).encode()).name)
    if page:
        curves = report["curve_plots"] or []
        arrows = {m: arrow(m) for m in _BETTER}
        html = pages.eval_page(pages.settings_of(report), records, summary, list(METRICS), curves, arrows)
        written.append(pages.write_page(output / "report.html", html).name)
    files.write_json(output / MANIFEST, report | {run_folder.FILES: run_folder.existing(output, written)})
    return plots is not None


# A detector's eval: the summary's columns, each with its heading and digits.
_DETECTION_COLUMNS = {
    "energy_in_box": ("energy in box (median)", 2),
    "deletion_auc": ("deletion AUC (median, lower better)", 3),
    "insertion_auc": ("insertion AUC (median)", 3),
    "seconds_per_photo": ("s per photo (median)", 3),
    "seconds_per_map": ("s per map (median)", 3),
}
# The box and the peak in the model input's pixels, where the maps are scored (as `detections` holds boxes).
_DETECTION_CSV = ["image", "detection", "class_id", "label", "score", "input_x1", "input_y1", "input_x2", "input_y2"]
_DETECTION_CSV += ["method", *MEASURES, "peak_x", "peak_y", "photo_seconds", "error"]


def detection_table(summary: dict, titles: dict[str, str]) -> str:
    """A detector's Markdown table: one row per method (`titles` its heading, D-RISE-1000), over every detection."""
    head = ["method", "maps", "peak in box", *(title for title, _ in _DETECTION_COLUMNS.values())]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in summary.items():
        cells = [titles.get(name, name), str(s["maps"]), f"{s['peak_in_box']} / {s['maps']}"]
        cells += [_fmt(s[k], digits) or "-" for k, (_, digits) in _DETECTION_COLUMNS.items()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def detection_csv(records: list[dict]) -> str:
    """One row per detection and method (boxes in the model's input pixels), and one per photo that failed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_DETECTION_CSV)
    for r in records:
        if "error" in r:
            writer.writerow([r["image"], *[""] * (len(_DETECTION_CSV) - 2), r["error"]])
            continue
        for d in r["detections"]:
            for name, m in d["methods"].items():
                writer.writerow(
                    [r["image"], d["index"], d["class_id"], d["label"], f"{d['score']:.6f}"]
                    + [f"{v:.2f}" for v in d["input_box"]]
                    + [name, m["peak_in_box"], *(f"{m[k]:.6f}" for k in list(MEASURES)[1:])]
                    + [*m["peak"], f"{r['seconds'][name]:.4f}", ""]
                )
    return out.getvalue()


def write_detection_report(output: Path, report: dict, records: list[dict], summary: dict) -> None:
    """metrics.csv, then metrics.json, the run's manifest (`run_folder` reads the files it lists)."""
    written = [files.write_bytes(output / "metrics.csv", detection_csv(records).encode()).name]
    manifest = report | {"summary": summary, "images": records}
    files.write_json(output / MANIFEST, manifest | {run_folder.FILES: run_folder.existing(output, written)})
