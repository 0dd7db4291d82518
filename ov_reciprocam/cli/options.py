"""Options shared by several commands, defined once so that one flag means one thing everywhere.

Each group is a decorator; a command lists the groups it takes. A flag added to a group appears
in every command that takes it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..inference.device import PRECISIONS
from ..model.labels import read_labels
from ..photos.preprocess import RESIZE_MODES
from ..vocabulary import DetectionOptions, Interpolation, Kernel, Recipe, Score, list_items

# A click decorator, as click.option makes: a command's function in, the same function out (its params added).
Decorator = Callable[[Any], Any]


def stack(*decorators: Decorator) -> Decorator:
    """Apply click decorators in the order they are listed, as if written one above the other."""

    def apply(f: Any) -> Any:
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return apply


# The headings of every command's --help, in this order (as benchmark_app groups its own); a command shows
# those it has options under.
INPUT, PREPROCESSING, CLASSES, SALIENCY, MEASURES, TIMING = (
    "Input",
    "Preprocessing (for a model whose rt_info has no recipe)",
    "Classes",
    "Saliency map",
    "Methods and metrics",
    "Timing",
)
OUTPUT, DEVICE, RAY, OTHER = "Output", "Device and performance", "Ray (explain or eval whole datasets)", "Other"
SECTIONS = (INPUT, PREPROCESSING, CLASSES, SALIENCY, MEASURES, TIMING, OUTPUT, DEVICE, RAY, OTHER)


def section(title: str, *decorators: Decorator) -> Decorator:
    """`stack` the decorators, listing the options they add under `title` in --help (`GroupedCommand`)."""
    if title not in SECTIONS:
        raise ValueError(f"unknown --help section '{title}'")

    def apply(f: Any) -> Any:
        before = len(getattr(f, "__click_params__", ()))
        f = stack(*decorators)(f)
        for param in f.__click_params__[before:]:
            if not hasattr(param, "section"):  # an inner `section` named its own (--labels in the recipe's group)
                param.section = title
        return f

    return apply


class GroupedCommand(click.Command):
    """A command whose --help lists its options under the headings `section` gave them, in `SECTIONS` order.

    Click has no option groups; a heading per kind of flag is what lets a reader find one among thirty.
    """

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows: dict[str, list[tuple[str, str]]] = {title: [] for title in SECTIONS}
        for param in self.get_params(ctx):
            if isinstance(param, click.Option) and (record := param.get_help_record(ctx)) is not None:
                rows[getattr(param, "section", OTHER)].append(record)
        # One first-column width for every section, as write_dl would pick for one list, so that they align.
        width = min(max(click.formatting.term_len(flag) for records in rows.values() for flag, _ in records), 30)
        for title, records in rows.items():
            if records:
                with formatter.section(title):
                    formatter.write_dl([(flag.ljust(width), text) for flag, text in records])


def device_option(help_text: str = "OpenVINO device: CPU, GPU, NPU, AUTO.", default: str | None = "CPU") -> Decorator:
    return section(
        DEVICE,
        click.option(
            "-d", "--device", default=default, show_default=default is not None, metavar="DEVICE", help=help_text
        ),
    )


# Two defaults, on purpose: bench times the model as deployed (auto), the commands that compare maps keep the
# device's bf16 default out of them (f32). Each command's help says which and why.
PRECISION_AUTO = "auto: the device default (bf16 on AMX CPUs), as the model is deployed"
PRECISION_F32 = "f32 so that maps do not move with the CPU (auto, the device default, is bf16 on AMX CPUs: ~0.04)"


def precision_option(default: str, note: str) -> Decorator:
    return section(
        DEVICE,
        click.option(
            "--precision",
            type=click.Choice(PRECISIONS),
            default=default,
            show_default=True,
            help=f"Inference precision; {note}.",
        ),
    )


def batch_size_option(default: int | None, note: str = "Photos per inference") -> Decorator:
    return section(
        DEVICE,
        click.option(
            "--batch-size",
            type=click.IntRange(min=1),
            default=default,
            show_default=default is not None,
            metavar="N",
            help=f"{note}." if default is not None else f"{note}.  [default: 8, or the model's fixed batch]",
        ),
    )


def output_option(help_text: str, default: str | None = None, metavar: str = "DIR") -> Decorator:
    return section(
        OUTPUT,
        click.option(
            "-o",
            "--output",
            type=click.Path(path_type=Path),
            metavar=metavar,
            default=default,
            show_default=default is not None,
            help=help_text,
        ),
    )


def json_option(what: str) -> Decorator:
    """`--json FILE` in every command that has one: `-` (or the flag alone, as bench's old switch) is stdout."""
    return section(
        OUTPUT,
        click.option(
            "--json",
            "json_path",
            type=click.Path(dir_okay=False, allow_dash=True),
            is_flag=False,
            flag_value="-",
            metavar="FILE|-",
            help=f"Also write {what} as JSON to FILE; `-` (or --json alone) prints the JSON on stdout instead of "
            "the table.",
        ),
    )


def write_json(path: str, report: dict) -> None:
    """`report` where --json said: stdout for `-`, else the file, written atomically."""
    import json

    from ..output import files

    if path == "-":
        click.echo(json.dumps(report, indent=2))
    else:
        files.write_json(path, report)


# Which classes to explain: the K likeliest, or named ones.
def class_options(top_k_default: int | None, top_k_help: str) -> Decorator:
    return section(
        CLASSES,
        click.option(
            "--top-k",
            type=click.IntRange(min=1),
            default=top_k_default,
            show_default=top_k_default is not None,
            metavar="K",
            help=top_k_help,
        ),
        click.option(
            "--class", "classes", multiple=True, metavar="NAME|ID", help="Explain these classes instead (repeatable)."
        ),
    )


# bench times the baselines and eval scores them: one RISE, one mask count.
rise_masks_option = click.option(
    "--rise-masks",
    type=click.IntRange(min=1),
    metavar="N",
    default=4000,
    show_default=True,
    help="RISE random masks (with --baselines, or rise in eval's --methods).",
)

target_option = section(
    SALIENCY,
    click.option(
        "--target",
        metavar="NAME",
        help="Feature map to explain, by node or tensor name (a detector: its cut, one tensor per scale, "
        "comma-separated).  [default: auto]",
    ),
)
scores_output_option = section(
    SALIENCY,
    click.option(
        "--scores-output",
        metavar="NAME",
        help="The model output holding the class scores, when several could.  [default: from the graph]",
    ),
)
target_layout_option = section(
    SALIENCY,
    click.option(
        "--target-layout",
        type=click.Choice(["NCHW", "NHWC"]),
        help="The target's layout, when no op around it says.  [default: from the graph]",
    ),
)
input_shape_option = section(
    INPUT,
    click.option(
        "--input-shape",
        metavar="SHAPE",
        callback=lambda ctx, param, value: parse_dims(value),
        help="Reshape the input first, in the model input's own layout, e.g. 1,3,224,224 or 1,224,224,3 (or as "
        "OpenVINO writes it, [1,224,224,3]; -1 or ?: dynamic): for models exported with a dynamic size.",
    ),
)
# How the saliency output is built: shared by `patch` and by the commands that patch in memory.
patch_options = stack(
    target_option,
    section(
        SALIENCY,
        click.option(
            "--score",
            type=click.Choice([s.value for s in Score]),
            default="auto",
            show_default=True,
            help="Score each masked copy: auto is softmax, or sigmoid per label for multi-label models; "
            "logits as openvino_xai.",
        ),
    ),
    scores_output_option,
    input_shape_option,
    target_layout_option,
)

# How the subgraph computes the maps: shared by `patch` and `bench`, which patches to time.
graph_options = section(
    SALIENCY,
    click.option(
        "--top-k",
        type=click.IntRange(min=1),
        metavar="K",
        help="Maps for each image's K best classes only, picked in-graph (explain's --top-k chooses which maps "
        "it writes).  [default: all]",
    ),
    click.option("--generic", is_flag=True, help="Always run the masked-copy mosaic, even where a shortcut is exact."),
    click.option(
        "--kernel",
        type=click.Choice([k.value for k in Kernel]),
        help="What copy n keeps: position n alone, or its 3x3 neighbourhood weighted 1-2-1 (gaussian) "
        "or whole (window; docs/quality.md measures each).  "
        "[default: onehot for CNNs (Recipro-CAM), gaussian for transformers (ViT-ReciproCAM)]",
    ),
)


def _numbers(text: str, count: int, param: click.Parameter) -> tuple[int, ...]:
    """'13x13' or '13,13' as whole numbers, `count` of them."""
    parts = text.lower().replace(",", "x").split("x")
    if len(parts) != count or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise click.BadParameter(
            f"'{text}': {count} whole numbers joined by x, e.g. {'x'.join(['8'] * count)}", param=param
        )
    return tuple(int(p) for p in parts)


def _anchor_levels(text: str, param: click.Parameter) -> tuple[tuple[int, ...], ...]:
    return tuple(_numbers(level, 3, param) for level in text.split(","))


# What a detector's maps explain: shared by `patch` and by `explain`, which patches a plain detector in memory.
DETECTION_FLAGS = ("detections", "score_threshold", "iou_threshold", "copy_grid", "anchors")
detection_options = section(
    SALIENCY,
    click.option(
        "--detections",
        type=click.IntRange(min=1),
        metavar="K",
        help="A detector: the detections kept per photo, each with its map (padded).  [default: 10]",
    ),
    click.option(
        "--score-threshold",
        type=click.FloatRange(0, 1),
        metavar="S",
        help="A detector: the lowest score kept.  [default: its kind's (YOLOX 0.3, decoded SSD 0.7, raw SSD 0.5)]",
    ),
    click.option(
        "--iou-threshold",
        type=click.FloatRange(0, 1),
        metavar="IOU",
        help="A detector: NMS drops a box overlapping a better one by more.  [default: 0.45 YOLOX, else 0.3]",
    ),
    click.option(
        "--copy-grid",
        metavar="HxW",
        callback=lambda ctx, param, value: _numbers(value, 2, param) if value else None,
        help="A detector: rows x columns of masked copies (and of each map).  "
        "[default: the coarsest cut grid with 8 cells on its short side]",
    ),
    click.option(
        "--anchors",
        metavar="HxWxN,...",
        callback=lambda ctx, param, value: _anchor_levels(value, param) if value else None,
        help="A raw SSD detector (BlazeFace): rows x columns x anchors per cell of each level, e.g. 16x16x2,8x8x6.  "
        "[default: read from its head convolutions]",
    ),
)


def detection_from(options: dict) -> DetectionOptions:
    """Pop the detector flags out of a command's keyword arguments, as DetectionOptions."""
    flags = {k: options.pop(k) for k in DETECTION_FLAGS}
    copy_grid, anchors = flags["copy_grid"], flags["anchors"]
    return DetectionOptions(
        detections=flags["detections"] or DetectionOptions.detections,
        score_threshold=flags["score_threshold"],
        iou_threshold=flags["iou_threshold"],
        copy_grid=(copy_grid[0], copy_grid[1]) if copy_grid else None,
        anchors=tuple((v[0], v[1], v[2]) for v in anchors) if anchors else None,
    )


# The preprocessing recipe, for models whose rt_info does not carry one.
RECIPE_FLAGS = ("mean", "scale", "rgb", "resize", "interpolation", "layout", "raw_pixels", "pad_value")
preprocess_options = section(
    PREPROCESSING,
    click.option(
        "--mean",
        metavar="V|R,G,B",
        help="Subtract per channel, in the model's channel order: 127.5, 123.7,116.3,103.5, or as OpenVINO writes "
        "it, [123.7,116.3,103.5].",
    ),
    click.option("--scale", metavar="V|R,G,B", help="Then divide per channel (the same forms as --mean)."),
    click.option("--rgb/--bgr", "rgb", default=None, help="Channel order the model expects.  [default: BGR]"),
    click.option(
        "--raw-pixels", is_flag=True, help="The model takes 0-255 BGR pixels as they are (no mean, scale or swap)."
    ),
    click.option(
        "--resize",
        type=click.Choice(RESIZE_MODES),
        help="Keep the aspect and pad right+bottom (fit) or both sides (letterbox), or crop.  [default: stretch]",
    ),
    click.option(
        "--interpolation", type=click.Choice([i.value for i in Interpolation]), help="Resize filter.  [default: linear]"
    ),
    click.option(
        "--pad-value",
        type=click.IntRange(0, 255),
        metavar="0..255",
        help="The pixel value fit and letterbox pad with (YOLOX: 114).  [default: 0]",
    ),
    click.option("--layout", type=click.Choice(["NCHW", "NHWC"]), help="Input layout.  [default: from the shape]"),
    section(
        CLASSES,
        click.option(
            "--labels",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            metavar="FILE",
            help="Class names, one per line.  [default: rt_info, or labels.txt beside the model]",
        ),
    ),
)


def recipe_from(options: dict) -> Recipe:
    """Pop the preprocessing flags out of a command's keyword arguments, as a Recipe."""
    flags = {k: options.pop(k) for k in RECIPE_FLAGS}
    return Recipe(
        mean=flags["mean"],  # text: Recipe reads and checks it
        scale=flags["scale"],
        rgb=flags["rgb"],
        raw_pixels=flags["raw_pixels"],
        resize=flags["resize"],
        interpolation=flags["interpolation"],
        layout=flags["layout"],
        pad_value=flags["pad_value"],
    )


def labels_from(path: Path | None) -> list[str] | None:
    return read_labels(path) if path else None


report_option = section(
    OUTPUT,
    click.option(
        "--report/--no-report",
        "report_page",
        default=True,
        show_default=True,
        help="Also write report.html, a page to browse the results in (opens from disk).",
    ),
)

# Running `explain` or `eval` on a Ray cluster.
ray_options = section(
    RAY,
    click.option(
        "--ray",
        "ray_address",
        metavar="local|auto|ADDRESS",
        help="Run on Ray: `local` starts it here; `auto` or a head's address joins a cluster.",
    ),
    click.option("--actors", type=click.IntRange(min=1), metavar="N", help="With --ray: model copies [CPUs allow]."),
    click.option(
        "--cpus-per-actor",
        type=click.IntRange(min=1),
        metavar="N",
        default=1,
        show_default=True,
        help="With --ray: OpenVINO threads per copy.",
    ),
)
# explain's pictures (eval always writes its NAME_maps.png, so it has no such switch).
overlays_option = section(
    OUTPUT,
    click.option(
        "--overlays/--no-overlays",
        default=None,
        help="Write overlays and the contact sheets.  [default: yes; with --ray, no]",
    ),
)


def parse_dims(text: str | None) -> tuple[int, ...] | None:
    """`1,3,224,224`, `1 3 224 224` or OpenVINO's `[1,3,224,224]` (`?` or -1: a dynamic dimension) as a tuple."""
    if text is None:
        return None
    try:
        return tuple(int(v) for v in list_items(text.replace("?", "-1")))
    except ValueError:
        raise click.BadParameter(f"expected sizes like 1,3,224,224 or [1,224,224,3], got '{text}'") from None
