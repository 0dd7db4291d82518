"""`bench`, `eval` and `quantize`: what the saliency output costs, how good its maps are, and INT8."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

import click

from ..inference.device import precision_config
from ..inference.preprocess import recipe_for
from ..quality.evaluate import DEFAULT_METHODS, FROM_BOXES, METHODS
from ..quality.quantize import PRESETS, TARGET_DEVICES
from ..vocabulary import Protocol, Refinement
from .options import (
    batch_size_option,
    device_option,
    graph_options,
    labels_from,
    output_option,
    patch_options,
    precision_option,
    preprocess_options,
    ray_options,
    recipe_from,
    report_option,
    target_option,
)


def _batch_sizes(ctx, param, value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected sizes like 1,8, got '{value}'") from None
    if not sizes or min(sizes) < 1:
        raise click.BadParameter(f"batch sizes must be positive, got '{value}'")
    return sizes


@click.command(short_help="Time a model plain and patched, and print the ratio.")
@click.argument("model", type=click.Path(path_type=Path))
@device_option()
@click.option(
    "--batch-sizes", default="1", show_default=True, metavar="N,N...", callback=_batch_sizes, help="Batches to time."
)
@click.option(
    "--seconds",
    type=click.FloatRange(min=0.1),
    metavar="S",
    default=10.0,
    show_default=True,
    help="Total timing budget.",
)
@precision_option("auto", "auto is the device default, as deployed")
@click.option("--baselines", is_flag=True, help="Also time Score-CAM and RISE on the same model, per image.")
@click.option(
    "--rise-masks", type=click.IntRange(min=1), metavar="N", default=4000, show_default=True, help="RISE mask count."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@patch_options
@graph_options
def bench(model, device, batch_sizes, seconds, precision, baselines, rise_masks, as_json, generic, **patch):
    """Time MODEL plain and patched, interleaved in one process, and print the ratio.

    MODEL may be plain (patched here with the options below) or patched (measured against
    itself without the saliency outputs). The floor column is the ratio exact Recipro-CAM cannot
    beat: 1 + the tail's multiply-accumulates that must run once per position / the model's. The
    +bytes column adds what moving the copies' scores [B, H*W, classes] costs: three read-write
    passes over them, each timed here as one elementwise op on the device; and, for the flatten
    shortcut (VGG), reading the first linear layer's weights once more.
    """
    import json

    from ..quality import bench as benchmark

    config = precision_config(precision)
    with click.progressbar(length=1000, label="timing", file=sys.stderr) as bar:
        results = benchmark.measure(
            model,
            device=device,
            batches=batch_sizes,
            seconds=seconds,
            config=config,
            progress=lambda fraction: bar.update(int(1000 * fraction) - bar.pos),
            fast=not generic,
            **patch,
        )
    report = {"model": str(model), "device": device, "precision": precision, "results": benchmark.as_dicts(results)}
    if baselines:
        report["baselines"] = benchmark.baselines(
            model, results[0], device=device, config=config, rise_masks=rise_masks
        )
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{model}  device {device}  precision {precision}  tail {results[0].path}")
    click.echo("batch  plain ms  patched ms  ratio  floor  +bytes  plain img/s  patched img/s  runs")
    for r in results:
        click.echo(
            f"{r.batch:>5}  {r.plain_ms:>8.2f}  {r.patched_ms:>10.2f}  {r.ratio:>5.2f}  {r.floor:>5.2f}"
            f"  {r.floor_bytes:>6.2f}"
            f"  {r.plain_images_per_s:>11.1f}  {r.patched_images_per_s:>13.1f}  {r.runs:>4}"
        )
    for name, b in report.get("baselines", {}).items():
        click.echo(f"{name}: {b['ms_per_image']:.1f} ms per image, {b['times_ours']:.0f}x the patched model's time")


@click.command("quantize", short_help="INT8 with NNCF, calibrated on your photos.")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("calib_images", nargs=-1, required=True)
@output_option("Output IR .xml.  [default: MODEL_int8.xml]", metavar="FILE")
@click.option(
    "--subset-size",
    type=click.IntRange(min=1),
    default=300,
    show_default=True,
    metavar="N",
    help="Calibrate on at most this many images, spread evenly over the list.",
)
@click.option(
    "--preset",
    type=click.Choice(PRESETS),
    default="performance",
    show_default=True,
    help="NNCF QuantizationPreset: performance = symmetric activation ranges, mixed = asymmetric ones.",
)
@click.option(
    "-d",
    "--device",
    type=click.Choice(TARGET_DEVICES),
    default="ANY",
    show_default=True,
    help="NNCF TargetDevice the INT8 model is tuned for (CPU, GPU, NPU; ANY: every device).",
)
@preprocess_options
def quantize_command(model, calib_images, output, subset_size, preset, device, labels, **options):
    """INT8 with NNCF: quantize MODEL (plain or patched), calibrated on CALIB_IMAGES (files, folders, globs).

    Photos go through the same preprocessing as `explain` (the model's rt_info, or flags). On a
    patched model the saliency subgraph stays in floating point; only the network is quantized.
    Preprocessing flags and --labels are stored in the output's rt_info, as `patch` does. An
    unreadable image stops the run: calibration data should be checked, not silently thinned.
    """
    import logging

    import nncf

    from ..inference import imaging
    from ..model.formats import read_model, save_model
    from ..model.labels import write_labels
    from ..output import files
    from ..patching import is_patched
    from ..quality.quantize import quantize

    output = output or model.with_name(f"{model.stem}_int8.xml")
    if output.suffix.lower() != ".xml":  # found now, not after minutes of calibration
        raise click.ClickException(f"output must be an IR .xml path, got {output}")
    files.check_output_file(output)
    paths = imaging.collect_images(list(calib_images))
    loaded = read_model(model)
    preprocess = recipe_for(loaded, recipe_from(options))
    names = labels_from(labels)
    click.echo(f"preprocess {preprocess.describe()}")
    click.echo(f"calibrate  on {min(subset_size, len(paths))} of {len(paths)} images")
    nncf.set_log_level(logging.WARNING)  # at INFO it lists every ignored op
    quantized = quantize(loaded, paths, preprocess, subset_size=subset_size, preset=preset, target_device=device)
    preprocess.write_rt_info(quantized)
    if names:
        write_labels(quantized, names)
    save_model(quantized, output)
    count = sum(op.get_type_name() == "FakeQuantize" for op in quantized.get_ordered_ops())
    kept = ", saliency subgraph kept in floating point" if is_patched(quantized) else ""
    click.echo(f"quantized  {count} FakeQuantize ops ({preset}, {device}){kept}")
    click.echo(f"saved      {output}")


@click.command("eval", short_help="Score saliency methods with faithfulness metrics.")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True)
@output_option("Folder for metrics.json, metrics.csv, curve plots and side-by-side maps.", default="report")
@click.option(
    "--boxes", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="Object boxes: pointing game."
)
@click.option(
    "--masks",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Object masks, NAME_mask.png or NAME.png per photo: pointing game and energy on the object's pixels.",
)
@click.option("--mask-value", type=int, metavar="V", help="The masks' object value.  [default: any non-zero pixel]")
@click.option(
    "--methods",
    metavar="NAME,...",
    default=",".join(DEFAULT_METHODS),
    show_default=True,
    help=f"Comma-separated saliency methods, of {', '.join(METHODS)}.",
)
@click.option(
    "--class",
    "class_choice",
    metavar="NAME|ID|boxes",
    help=f"Explain this class, or with '{FROM_BOXES}' the class each photo's boxes name.  [default: top-1]",
)
@click.option(
    "--steps", type=click.IntRange(min=1), metavar="N", default=50, show_default=True, help="Deletion/insertion steps."
)
@click.option(
    "--baseline",
    type=click.Choice(["zero", "blur"]),
    default="zero",
    show_default=True,
    help="What deletion puts in place of removed pixels: zero of the normalized input (the mean colour; black with "
    "--protocol pixels), or the blurred photo.",
)
@click.option(
    "--protocol",
    type=click.Choice([p.value for p in Protocol]),
    default=Protocol.PAPER.value,
    show_default=True,
    help="paper: maps multiply the normalized input (removed pixels become the mean colour), bicubic, ADCC of "
    "the means, as the Recipro-CAM authors' script; pixels: maps multiply 0-255 pixels (removed pixels become "
    "black), bilinear, ADCC per photo (docs/quality.md).",
)
@click.option(
    "--refine",
    "refinement",
    type=click.Choice([r.value for r in Refinement]),
    default=Refinement.NONE.value,
    show_default=True,
    help="guided: every method's map, upsampled, then guided-filtered by the photo (windows of one feature cell), "
    "and scored on the input grid; none: the maps as the methods make them.",
)
@click.option(
    "--rise-masks", type=click.IntRange(min=1), metavar="N", default=4000, show_default=True, help="RISE random masks."
)
@click.option("--seed", type=int, metavar="N", default=0, show_default=True, help="Seed of the RISE masks.")
@target_option
@device_option()
@batch_size_option(32, "Inputs per inference")
@precision_option("f32", "auto is the device default")
@report_option
@ray_options
@preprocess_options
def eval_command(model, images, output, precision, labels, ray_address, actors, cpus_per_actor, report_page, **options):
    """Score saliency methods on MODEL (a plain classifier) and IMAGES (files, folders or globs).

    Per image and method, and averaged: Average Drop, Increase in Confidence, Deletion and
    Insertion AUC, Coherency, Complexity, ADCC, the pointing game (with --boxes) and the time to
    make the map. Writes OUTPUT/metrics.json, metrics.csv, curves_METHOD.png (needs matplotlib:
    pip install 'ov-reciprocam[plot]') and NAME_maps.png per image.

    With --ray, photos are scored in an actor pool, rows go to OUTPUT/shards, a photo that cannot
    be read is reported instead of stopping the run, and a stopped run resumes where it stopped.
    """
    from ..output import files
    from ..quality import eval_report, on_ray
    from ..quality.evaluate import BLUR, TOLERANCE, eval_settings, evaluate_paths

    files.check_output_dir(output)
    settings = eval_settings(
        model,
        config=precision_config(precision),
        labels=labels_from(labels),
        recipe=recipe_from(options),
        **options,
    )
    stems: set[str] = set()
    bars, bar = ExitStack(), None

    def ready(count: int) -> None:
        nonlocal bar
        click.echo(f"preprocess {settings.recipe.describe()}", err=True)
        bar = bars.enter_context(click.progressbar(length=count, label="evaluating", file=sys.stderr))

    def write(path, photo, result, objects) -> str:
        bar.update(1)
        return eval_report.write_maps(output, files.unique_stem(path.stem, stems), photo, result, objects)

    failed = []
    with bars:
        if ray_address:
            records, summary, failed = on_ray.evaluate_paths_on_ray(
                settings,
                list(images),
                output,
                address=ray_address,
                actors=actors,
                cpus_per_actor=cpus_per_actor,
                on_ready=ready,
                progress=lambda n: bar.update(n),
            )
        else:
            records, summary = evaluate_paths(settings, list(images), on_ready=ready, on_image=write)
    for failure in failed:
        click.echo(f"skipped: {failure['error']}", err=True)
    names = list(settings.names)
    described = {
        "methods": names,
        "class": settings.class_choice or "top-1",
        "steps": settings.steps,
        "protocol": settings.protocol.value,
        "refinement": settings.refinement.value,
        "deletion_baseline": settings.baseline,
        "insertion_start": f"Gaussian blur, kernel {BLUR[0]}, sigma {BLUR[1]:g}",
        "rise_masks": settings.rise_masks,
        "seed": settings.seed,
        "pointing_tolerance_px": TOLERANCE,
        "boxes": str(options["boxes"]) if options["boxes"] else None,
        "masks": str(options["masks"]) if options["masks"] else None,
    }
    report = {"model": str(model), "device": settings.device, "precision": precision}
    report |= {"preprocess": settings.recipe.describe(), "settings": described}
    plotted = eval_report.write_report(output, report, records, summary, names, page=report_page)
    if not plotted:
        click.echo(eval_report.PLOT_NOTE, err=True)
    click.echo(eval_report.table(records, summary))
    page = ", report.html" if report_page else ""
    click.echo(
        f"report -> {output}/ (metrics.json, metrics.csv{', curves_*.png' if plotted else ''}, *_maps.png{page})"
    )
    if failed:
        raise click.ClickException(f"{len(failed)} images could not be read (see the shards' error rows)")


COMMANDS = (bench, quantize_command, eval_command)
