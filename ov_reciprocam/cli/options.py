"""Options shared by several commands, defined once so that one flag means one thing everywhere.

Each group is a decorator; a command lists the groups it takes. A flag added to a group appears
in every command that takes it.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..inference.device import PRECISIONS
from ..inference.preprocess import INTERPOLATIONS, RESIZE_MODES, parse_values
from ..model.labels import read_labels
from ..vocabulary import Kernel, Recipe, Score


def stack(*decorators):
    """Apply click decorators in the order they are listed, as if written one above the other."""

    def apply(f):
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return apply


def device_option(help_text: str = "OpenVINO device: CPU, GPU, NPU, AUTO.", default: str | None = "CPU"):
    return click.option(
        "-d", "--device", default=default, show_default=default is not None, metavar="DEVICE", help=help_text
    )


def precision_option(default: str, note: str):
    return click.option(
        "--precision",
        type=click.Choice(PRECISIONS),
        default=default,
        show_default=True,
        help=f"Inference precision; {note}.",
    )


def batch_size_option(default: int | None, note: str = "Photos per inference"):
    return click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=default,
        show_default=default is not None,
        metavar="N",
        help=f"{note}." if default is not None else f"{note}.  [default: 8, or the model's fixed batch]",
    )


def output_option(help_text: str, default: str | None = None, metavar: str = "DIR"):
    return click.option(
        "-o",
        "--output",
        type=click.Path(path_type=Path),
        metavar=metavar,
        default=default,
        show_default=default is not None,
        help=help_text,
    )


# Which classes to explain: the K likeliest, or named ones.
def class_options(top_k_default: int | None, top_k_help: str):
    return stack(
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


target_option = click.option(
    "--target", metavar="NAME", help="Feature map to explain, by node or tensor name.  [default: auto]"
)
# How the saliency output is built: shared by `patch` and by the commands that patch in memory.
patch_options = stack(
    target_option,
    click.option(
        "--score",
        type=click.Choice([s.value for s in Score]),
        default="auto",
        show_default=True,
        help="Score each masked copy: auto is softmax, or sigmoid per label for multi-label models; "
        "logits as openvino_xai.",
    ),
    click.option(
        "--scores-output",
        metavar="NAME",
        help="The model output holding the class scores, when several could.  [default: from the graph]",
    ),
    click.option(
        "--input-shape",
        metavar="N,C,H,W",
        callback=lambda ctx, param, value: parse_dims(value),
        help="Reshape the input first (-1: dynamic), for models exported with a dynamic size.",
    ),
    click.option(
        "--target-layout",
        type=click.Choice(["NCHW", "NHWC"]),
        help="The target's layout, when no op around it says.  [default: from the graph]",
    ),
)

# How the subgraph computes the maps: shared by `patch` and `bench`, which patches to time.
graph_options = stack(
    click.option(
        "--top-k",
        type=click.IntRange(min=1),
        metavar="K",
        help="Maps for each image's K best classes only, picked in-graph.  [default: all]",
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

# The preprocessing recipe, for models whose rt_info does not carry one.
RECIPE_FLAGS = ("mean", "scale", "rgb", "resize", "interpolation", "layout", "raw_pixels")
preprocess_options = stack(
    click.option("--mean", metavar="V|R,G,B", help="Subtract per channel, in the model's channel order."),
    click.option("--scale", metavar="V|R,G,B", help="Then divide per channel."),
    click.option("--rgb/--bgr", "rgb", default=None, help="Channel order the model expects.  [default: BGR]"),
    click.option(
        "--raw-pixels", is_flag=True, help="The model takes 0-255 BGR pixels as they are (no mean, scale or swap)."
    ),
    click.option(
        "--resize",
        type=click.Choice(RESIZE_MODES),
        help="Keep the aspect and pad right+bottom (fit) or both sides (letterbox), or crop.  [default: stretch]",
    ),
    click.option("--interpolation", type=click.Choice(list(INTERPOLATIONS)), help="Resize filter.  [default: linear]"),
    click.option("--layout", type=click.Choice(["NCHW", "NHWC"]), help="Input layout.  [default: from the shape]"),
    click.option(
        "--labels",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        metavar="FILE",
        help="Class names, one per line.  [default: rt_info, or labels.txt beside the model]",
    ),
)


def recipe_from(options: dict) -> Recipe:
    """Pop the preprocessing flags out of a command's keyword arguments, as a Recipe."""
    flags = {k: options.pop(k) for k in RECIPE_FLAGS}
    return Recipe(
        mean=parse_values(flags["mean"]),
        scale=parse_values(flags["scale"]),
        rgb=flags["rgb"],
        raw_pixels=flags["raw_pixels"],
        resize=flags["resize"],
        interpolation=flags["interpolation"],
        layout=flags["layout"],
    )


def labels_from(path: Path | None) -> list[str] | None:
    return read_labels(path) if path else None


report_option = click.option(
    "--report/--no-report",
    "report_page",
    default=True,
    show_default=True,
    help="Also write report.html, a page to browse the results in (opens from disk).",
)

# Running `explain` on a Ray cluster.
ray_options = stack(
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
overlays_option = click.option(
    "--overlays/--no-overlays",
    default=None,
    help="Write overlay PNGs and the contact sheets.  [default: yes; with --ray, no]",
)


def parse_dims(text: str | None) -> tuple[int, ...] | None:
    """`1,3,224,224` (or `?` / -1 for a dynamic dimension) as a tuple."""
    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.replace("?", "-1").split(","))
    except ValueError:
        raise click.BadParameter(f"expected sizes like 1,3,224,224, got '{text}'") from None
