"""`explain` and `compare`: maps for photos, and how close two models' maps are."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

import click

from ..inference.device import precision_config
from .options import (
    batch_size_option,
    class_options,
    device_option,
    labels_from,
    output_option,
    overlays_option,
    patch_options,
    precision_option,
    preprocess_options,
    ray_options,
    recipe_from,
    report_option,
)


def _explainer(model, device, precision, labels, recipe, batch_size=None, **patch_options):
    from ..inference.explainer import Explainer

    return Explainer(
        model,
        device,
        preprocess=recipe,  # resolved against the patched model before compiling: a refusal costs nothing
        labels=labels_from(labels),
        batch_size=batch_size,
        config=precision_config(precision),
        **patch_options,
    )


@click.command(short_help="Explain a model's predictions on photos: overlays, maps, JSON.")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True)
@output_option("Folder for overlays, maps, contact sheets, results.json and report.html.", default="explanations")
@class_options(3, "Explain each photo's K likeliest classes.")
@device_option()
@batch_size_option(None, "Photos per inference on a dynamic-batch model")
@precision_option("f32", "auto is the device default (bf16 on AMX CPUs, which moves maps by ~0.04)")
@click.option(
    "--alpha", type=click.FloatRange(0, 1), metavar="0..1", default=0.5, show_default=True, help="Heatmap opacity."
)
@click.option(
    "--colormap",
    metavar="NAME",
    default="jet",
    show_default=True,
    help="OpenCV colormap: jet, turbo, inferno, viridis.",
)
@click.option("--full-maps", is_flag=True, help="Also write the maps at photo resolution (NAME_maps_full.npy).")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    metavar="P",
    default=0.5,
    show_default=True,
    help="Multi-label models: explain every label this likely (not a top-k).",
)
@overlays_option
@report_option
@ray_options
@patch_options
@preprocess_options
def explain(
    model,
    images,
    output,
    top_k,
    classes,
    device,
    batch_size,
    precision,
    alpha,
    colormap,
    full_maps,
    threshold,
    ray_address,
    actors,
    cpus_per_actor,
    overlays,
    report_page,
    **options,
):
    """Explain MODEL's predictions on IMAGES (files, folders or globs).

    MODEL is a plain model (patched in memory) or one patched before. Writes, into OUTPUT: one
    overlay PNG per image and class, NAME_maps.npy (feature resolution), NAME_maps_full.npy
    (photo resolution, float16, with --full-maps), contact_sheet_001.png (16 photos a sheet, the first
    64 photos), results.json, and report.html (open it in a browser: every photo, filter and sort).
    Unreadable photos are reported and skipped; the exit code is then 1.

    With --ray, rows go to Parquet shards in OUTPUT/shards (read them with ov_reciprocam.shards),
    overlays only with --overlays, and a stopped run resumes where it stopped.
    """
    from ..output import files
    from ..output.explain_files import explain_paths

    files.check_output_dir(output)
    recipe, labels = recipe_from(options), options.pop("labels")
    explainer = _explainer(model, device, precision, labels, recipe, batch_size, **options)
    if explainer.batch_note:
        click.echo(explainer.batch_note, err=True)
    click.echo(f"preprocess {explainer.preprocess.describe()}", err=True)
    common = {
        "top_k": top_k,
        "classes": classes,
        "threshold": threshold,
        "alpha": alpha,
        "colormap": colormap,
        "about": {"model": str(model), "device": device, "precision": precision},
        "report": report_page,
    }
    bars, bar = ExitStack(), None

    def start(count: int) -> None:
        nonlocal bar
        bar = bars.enter_context(click.progressbar(length=count, label="explaining", file=sys.stderr))

    common |= {"on_start": start, "progress": lambda n: bar.update(n)}
    with bars:
        if ray_address:
            from ..output.cluster import explain_paths_on_ray
            from ..output.explain_files import ExplainerSpec

            if full_maps:
                raise click.UsageError("--full-maps is for local runs; with --ray the maps go to the shards")
            spec = ExplainerSpec.of(explainer, model, device, precision_config(precision))
            run = explain_paths_on_ray(
                explainer,
                spec,
                images,
                output,
                address=ray_address,
                overlays=bool(overlays),
                actors=actors,
                cpus_per_actor=cpus_per_actor,
                **common,
            )
        else:
            run = explain_paths(
                explainer,
                images,
                output,
                overlays=overlays is not False,
                full_maps=full_maps,
                on_skip=lambda why: click.echo(f"\nskipped: {why}", err=True),
                **common,
            )
    for failure in run.failed if ray_address else ():  # the local run said each as it met it
        click.echo(f"skipped: {failure['error']}", err=True)
    click.echo(
        f"explained {len(run.records)} images in {run.seconds:.1f} s ({run.images_per_s:.1f} images/s) -> {output}/"
    )
    if run.failed:
        total = len(run.records) + len(run.failed)
        raise click.ClickException(f"{len(run.failed)} of {total} images could not be read (see results.json)")


@click.command(short_help="How close model B's maps are to model A's (INT8 vs FP32).")
@click.argument("model_a", type=click.Path(path_type=Path))
@click.argument("model_b", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True)
@device_option("OpenVINO device for both models.")
@batch_size_option(None, "Photos per inference on dynamic-batch models")
@precision_option("f32", "f32 keeps the device's bf16 default out of the differences")
@click.option("--json", "json_path", type=click.Path(path_type=Path), metavar="FILE", help="Also write the figures.")
@patch_options
@preprocess_options
def compare(model_a, model_b, images, device, batch_size, precision, json_path, **options):
    """Saliency fidelity: MODEL_B's maps against MODEL_A's (say INT8 against FP32) on IMAGES.

    Per image: Pearson and Spearman correlation of the two maps of A's top-1 class (at feature
    resolution), whether the top-1 classes agree, and whether the maps peak in the same feature
    cell. Plain models are patched in memory with --target and --score.
    """
    from ..output import files
    from ..quality.fidelity import compare_paths, summary

    if json_path:
        files.check_output_file(json_path, "--json")
    recipe, labels = recipe_from(options), options.pop("labels")
    a, b = (_explainer(m, device, precision, labels, recipe, batch_size, **options) for m in (model_a, model_b))
    click.echo(f"{'image':<28} {'pearson':>7} {'spearman':>8}  {'peak cells':<11} top-1 A -> B")

    def show(f) -> None:
        cells = f"{f.peak_a[0]},{f.peak_a[1]} {'=' if f.same_cell else '!='} {f.peak_b[0]},{f.peak_b[1]}"
        top1 = f.top1_a.label if f.top1_agrees else f"{f.top1_a.label} -> {f.top1_b.label}"
        click.echo(f"{Path(f.source).name[:28]:<28} {f.pearson:>7.3f} {f.spearman:>8.3f}  {cells:<11} {top1}")

    found, failed = compare_paths(
        a, b, images, on_result=show, on_skip=lambda why: click.echo(f"skipped: {why}", err=True)
    )
    totals = summary(found)
    click.echo(
        f"mean pearson {totals['pearson_mean']:.3f}, spearman {totals['spearman_mean']:.3f}; "
        f"top-1 agrees on {totals['top1_agree']}/{len(found)}, "
        f"peaks in the same cell on {totals['same_peak_cell']}/{len(found)}"
    )
    if json_path:
        report = {"model_a": str(model_a), "model_b": str(model_b), "summary": totals}
        files.write_json(json_path, report | {"images": [f.record() for f in found], "failed": failed})
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(found) + len(failed)} images could not be read")


COMMANDS = (explain, compare)
