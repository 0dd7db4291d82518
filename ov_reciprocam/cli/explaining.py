"""`explain` and `compare`: maps for photos, and how close two models' maps are."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from ..inference.device import precision_config
from ..vocabulary import OverlayFormat
from .options import (
    CLASSES,
    DEVICE,
    OUTPUT,
    PRECISION_F32,
    GroupedCommand,
    batch_size_option,
    class_options,
    detection_from,
    detection_options,
    device_option,
    json_option,
    labels_from,
    output_option,
    overlays_option,
    patch_options,
    precision_option,
    preprocess_options,
    ray_options,
    recipe_from,
    report_option,
    section,
    write_json,
)
from .progress import Progress

if TYPE_CHECKING:
    from ..inference.explainer import Explainer
    from ..output.explain_files import Outputs
    from ..quality.fidelity import Fidelity
    from ..vocabulary import DetectionOptions, Recipe

# What a detector's explain refuses, and why: each names what a classifier explains, or a run it has no use for.
_CLASSIFIER_ONLY = {
    "top_k": "a detector explains each detection it keeps (--detections)",
    "classes": "a detector explains each detection it keeps (--detections)",
    "threshold": "a detector keeps detections by --score-threshold",
    "labels_from_folders": "a detector's photos have no one true class",
    "ground_truth": "a detector's photos have no one true class",
    "score": "a detector's maps score each detection's own anchor",
    "scores_output": "a detector's outputs are read from its structure",
    "target_layout": "a detector's cut is read from its structure",
    "input_shape": "patch the detector with it first (ov-reciprocam patch)",
    "batch_size": "a detector runs one photo at a time, its copies being the batch",
    "requests": "a detector runs one photo at a time, its copies being the batch",
    "ray_address": "detectors are explained in this process only",
}
_DETECTOR_ONLY = ("detections", "score_threshold", "iou_threshold", "copy_grid", "anchors", "all_boxes")


def _explainer(
    model: Path,
    device: str,
    precision: str,
    labels: Path | None,
    recipe: Recipe,
    batch_size: int | None = None,
    requests: int | None = None,
    throughput: bool = False,
    **patch_flags: Any,
) -> Explainer:
    from ..inference.explainer import THROUGHPUT, Explainer
    from ..vocabulary import PatchOptions

    return Explainer(
        model,
        device,
        preprocess=recipe,  # resolved against the patched model before compiling: a refusal costs nothing
        labels=labels_from(labels),
        batch_size=batch_size,
        requests=requests,
        # A folder run compiles once, for throughput, rather than for latency and again (`Explainer.start`).
        config=(precision_config(precision) or {}) | (THROUGHPUT if throughput else {}) or None,
        patch_options=PatchOptions.of(**patch_flags),
    )


@click.command(cls=GroupedCommand, short_help="Explain a model's predictions on photos: overlays, maps, JSON.")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True)
@output_option("Folder for overlays, maps, contact sheets, results.json and report.html.", default="explanations")
@class_options(3, "Explain each photo's K likeliest classes (patch's --top-k picks classes in-graph).")
@device_option()
@batch_size_option(None, "Photos per inference on a dynamic-batch model")
@section(
    DEVICE,
    click.option(
        "--requests",
        type=click.IntRange(min=1),
        metavar="N",
        help="Batches the device runs at once (benchmark_app's -nireq).  [default: the device's optimal number]",
    ),
)
@precision_option("f32", PRECISION_F32)
@section(
    OUTPUT,
    click.option(
        "--alpha", type=click.FloatRange(0, 1), metavar="0..1", default=0.5, show_default=True, help="Heatmap opacity."
    ),
    click.option(
        "--colormap",
        metavar="NAME",
        default="jet",
        show_default=True,
        help="OpenCV colormap: jet, turbo, inferno, viridis.",
    ),
    click.option("--full-maps", is_flag=True, help="Also write the maps at photo resolution (NAME_maps_full.npy)."),
    click.option("--colour-bar", is_flag=True, help="A colour scale on each overlay (contact sheets always have one)."),
    click.option(
        "--overlay-format",
        type=click.Choice([f.value for f in OverlayFormat]),
        default=OverlayFormat.JPG.value,
        show_default=True,
        help="Overlays as JPEG (quality 95: a quarter of PNG's time and bytes), lossless PNG, or WebP (smallest).",
    ),
)
@section(
    CLASSES,
    click.option(
        "--threshold",
        type=click.FloatRange(0, 1),
        metavar="P",
        default=0.5,
        show_default=True,
        help="Multi-label models: explain every label this likely (not a top-k).",
    ),
)
@overlays_option
@report_option
@section(
    CLASSES,
    click.option(
        "--labels-from-folders", is_flag=True, help="Each photo's folder names its true class (ImageNet-style folders)."
    ),
    click.option(
        "--ground-truth",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        metavar="FILE.csv",
        help="True classes, rows `name,class` (a photo's file name or path).",
    ),
)
@section(
    OUTPUT,
    click.option(
        "--all-boxes", is_flag=True, help="A detector: also NAME_boxes.jpg, every detection's box on the photo."
    ),
)
@ray_options
@patch_options
@detection_options
@preprocess_options
def explain(
    model: Path,
    images: tuple[str, ...],
    output: Path,
    top_k: int,
    classes: tuple[str, ...],
    device: str,
    batch_size: int | None,
    requests: int | None,
    precision: str,
    alpha: float,
    colormap: str,
    full_maps: bool,
    threshold: float,
    ray_address: str | None,
    actors: int | None,
    cpus_per_actor: int,
    overlays: bool | None,
    report_page: bool,
    labels_from_folders: bool,
    ground_truth: Path | None,
    colour_bar: bool,
    overlay_format: str,
    all_boxes: bool,
    **options: Any,
) -> None:
    """Explain MODEL's predictions on IMAGES (files, folders or globs).

    MODEL is a plain model (patched in memory) or one patched before. Writes, into OUTPUT: one
    overlay per image and class (JPEG unless --overlay-format), NAME_maps.npy (the explained classes' maps,
    feature resolution), NAME_maps_full.npy (photo resolution, float16, with --full-maps),
    contact_sheet_001.jpg (16 photos a sheet, the first 64 photos, in the overlays' format), results.json,
    and report.html (open it in a browser: every photo, filter and sort).
    Unreadable photos are reported and skipped; the exit code is then 1.

    With --ray, rows go to Parquet shards in OUTPUT/shards (read them with ov_reciprocam.output.shards),
    overlays only with --overlays, and a stopped run resumes where it stopped.

    An object detector (plain, patched here with the detector flags, or patched before) gets an overlay per
    detection (its map, box, label and score), NAME_maps.npy (one map per detection), results.json with each
    detection's box on the photo and in the input, and report.html with a card per detection.

    Examples:

    \b
      ov-reciprocam explain samples/models/coral/mobilenet_v1_0.25_128_quant.tflite samples/openimages -o out/coral
      # the dog model the `ov-reciprocam patch --help` example saves, which holds its recipe and labels:
      ov-reciprocam explain out/dog_xai.xml samples/images -o out/explained --top-k 1 --colormap turbo
      # a large folder at the model's pace: maps, peaks and results.json, no pictures (not even the report's):
      ov-reciprocam explain out/dog_xai.xml samples/images -o out/maps --no-overlays --no-report
      ov-reciprocam explain samples/models/detection/yolox_nano/yolox_nano.onnx samples/openimages/pets.jpg \\
          -o out/dogs --raw-pixels --resize fit --pad-value 114 \\
          --labels samples/models/detection/yolox_nano/coco_classes.txt
    """
    from dataclasses import replace

    from ..output import run_folder
    from ..output.explain_files import Outputs
    from ..output.truth import GroundTruth

    run_folder.check_run_folder(output, images)
    if labels_from_folders and ground_truth:
        raise click.UsageError("give --labels-from-folders or --ground-truth, not both")
    if ray_address and full_maps:
        raise click.UsageError("--full-maps is for local runs; with --ray the maps go to the shards")
    if ray_address and requests:
        raise click.UsageError("--requests is for local runs; with --ray each actor explains one batch at a time")
    files = Outputs(
        output,
        overlays=True if overlays is None else overlays,
        full_maps=full_maps,
        alpha=alpha,
        colormap=colormap,
        report=report_page,
        colour_bar=colour_bar,
        overlay_format=OverlayFormat(overlay_format),
    )
    if _detector(model, precision, options, files, all_boxes, images, device):
        return
    truth = GroundTruth.read_csv(ground_truth) if ground_truth else GroundTruth(folders=labels_from_folders)
    outputs = replace(
        files,
        top_k=top_k,
        classes=classes,
        threshold=threshold,
        overlays=not ray_address if overlays is None else overlays,  # Ray draws no pictures unless asked to
        truth=truth,
    )
    recipe, labels = recipe_from(options), options.pop("labels")
    explainer = _explainer(
        model, device, precision, labels, recipe, batch_size, requests, throughput=not ray_address, **options
    )
    for note in (explainer.batch_note, explainer.precision_note):
        if note:
            click.echo(note, err=True)
    click.echo(f"preprocess {explainer.preprocess.describe()}", err=True)
    about = {"model": str(model), "device": device, "precision_asked": precision}
    bars = ExitStack()
    bar: Progress | None = None

    def start(count: int) -> None:
        nonlocal bar
        bar = bars.enter_context(Progress("explaining", count))

    def shown() -> Progress:
        assert bar is not None  # on_start made it, before the first photo
        return bar

    common: dict[str, Any] = {"on_start": start, "progress": lambda n: shown().update(n), "about": about}
    with bars:
        if ray_address:
            from ..runs.cluster import explain_paths_on_ray
            from ..runs.explain import ExplainerSpec

            spec = ExplainerSpec.of(explainer, model, device, precision_config(precision))
            pool: dict[str, Any] = {"address": ray_address, "actors": actors, "cpus_per_actor": cpus_per_actor}
            run = explain_paths_on_ray(explainer, spec, images, outputs, **pool, **common)
        else:
            from ..runs.explain import explain_paths

            run = explain_paths(
                explainer, images, outputs, on_skip=lambda why: shown().echo(f"skipped: {why}"), **common
            )
    for failure in run.failed if ray_address else ():  # the local run said each as it met it
        click.echo(f"skipped: {failure['error']}", err=True)
    click.echo(
        f"explained {run.explained} images in {run.seconds:.1f} s ({run.images_per_s:.1f} images/s) -> {output}/"
    )
    if run.failed:
        total = run.explained + len(run.failed)
        raise click.ClickException(f"{len(run.failed)} of {total} images could not be read (see results.json)")


def _given(names: Any) -> tuple[str, str] | None:
    """The first of the parameters `names` the user gave (not left at its default): its name and its flag."""
    ctx = click.get_current_context()
    given = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    flags = {p.name: p.opts[0] for p in ctx.command.params}
    return next(((n, flags[n]) for n in names if ctx.get_parameter_source(n) in given), None)


def _detector(
    model: Path, precision: str, options: dict, files: Outputs, boxes: bool, images: tuple[str, ...], device: str
) -> bool:
    """Explain with a detector, when MODEL is one (True); else refuse the detector flags given and pop them."""
    from dataclasses import replace

    from ..inference.detector import is_detector
    from ..model.formats import read_model

    detection = detection_from(options)
    if not is_detector(read_model(model)):
        if given := _given(_DETECTOR_ONLY):
            raise click.UsageError(f"{given[1]} is for object detectors; this model is a classifier")
        return False
    if given := _given(_CLASSIFIER_ONLY):
        raise click.UsageError(f"{given[1]} is for classifiers: {_CLASSIFIER_ONLY[given[0]]}")
    target = options.pop("target")
    if target:  # as patch takes it: a detector's cut, one tensor per scale
        detection = replace(detection, cut=tuple(name.strip() for name in target.split(",")))
    _explain_detections(model, device, precision, options, detection, files, boxes, images)
    return True


def _explain_detections(
    model: Path,
    device: str,
    precision: str,
    options: dict,
    detection: DetectionOptions,
    files: Outputs,
    boxes: bool,
    images: tuple[str, ...],
) -> None:
    from ..inference.detector import DetectorExplainer
    from ..output.detection_files import DetectionOutputs
    from ..runs.explain_detections import explain_detection_paths

    recipe, labels = recipe_from(options), options.pop("labels")
    explainer = DetectorExplainer(
        model,
        device,
        preprocess=recipe,
        labels=labels_from(labels),
        config=precision_config(precision),
        detection=detection,  # a patched model keeps its own, and refuses a flag that would change it
    )
    if explainer.precision_note:
        click.echo(explainer.precision_note, err=True)
    click.echo(f"preprocess {explainer.preprocess.describe()}", err=True)
    about = {"model": str(model), "device": device, "precision_asked": precision}
    with ExitStack() as bars:
        bar: list[Progress] = []
        run = explain_detection_paths(
            explainer,
            images,
            DetectionOutputs(files, boxes),
            on_start=lambda count: bar.append(bars.enter_context(Progress("explaining", count))),
            progress=lambda n: bar[0].update(n),
            on_skip=lambda why: bar[0].echo(f"skipped: {why}"),
            about=about,
        )
    click.echo(
        f"explained {run.maps} detections in {run.explained} images in {run.seconds:.1f} s -> {files.directory}/"
    )
    if run.failed:
        total = run.explained + len(run.failed)
        raise click.ClickException(f"{len(run.failed)} of {total} images could not be read (see results.json)")


@click.command(cls=GroupedCommand, short_help="How close model B's maps are to model A's (INT8 vs FP32).")
@click.argument("model_a", type=click.Path(path_type=Path))
@click.argument("model_b", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True)
@device_option("OpenVINO device for both models.")
@batch_size_option(None, "Photos per inference on a dynamic-batch model")
@precision_option("f32", PRECISION_F32)
@json_option("the figures")
@patch_options
@preprocess_options
def compare(
    model_a: Path,
    model_b: Path,
    images: tuple[str, ...],
    device: str,
    batch_size: int | None,
    precision: str,
    json_path: str | None,
    **options: Any,
) -> None:
    """Saliency fidelity: MODEL_B's maps against MODEL_A's (say INT8 against FP32) on IMAGES.

    Per image: Pearson and Spearman correlation of the two maps of A's top-1 class (at feature
    resolution), whether the top-1 classes agree, and whether the maps peak in the same feature
    cell. Plain models are patched in memory with --target and --score.

    Examples:

    \b
      # the INT8 model the `ov-reciprocam quantize --help` example saves, against the FP32 one:
      ov-reciprocam compare samples/models/dog_breeds_mobilenetv2/dog_breeds_mobilenetv2.xml out/dog_int8.xml \\
          samples/images --mean 127.5 --scale 127.5 --rgb --interpolation cubic --json out/fidelity.json
    """
    from ..output import files
    from ..quality.fidelity import summary
    from ..runs.compare import compare_paths

    table = json_path != "-"  # JSON on stdout replaces the table
    if json_path and table:
        files.check_output_file(json_path, "--json")
    recipe, labels = recipe_from(options), options.pop("labels")
    a, b = (_explainer(m, device, precision, labels, recipe, batch_size, **options) for m in (model_a, model_b))
    if a.precision_note:  # one device, one precision: said once for both
        click.echo(a.precision_note, err=True)
    if table:
        click.echo(f"{'image':<28} {'pearson':>7} {'spearman':>8}  {'peak cells':<11} top-1 A -> B")

    def show(f: Fidelity) -> None:
        cells = f"{f.peak_a[0]},{f.peak_a[1]} {'=' if f.same_cell else '!='} {f.peak_b[0]},{f.peak_b[1]}"
        top1 = f.top1_a.label if f.top1_agrees else f"{f.top1_a.label} -> {f.top1_b.label}"
        click.echo(f"{Path(f.source).name[:28]:<28} {f.pearson:>7.3f} {f.spearman:>8.3f}  {cells:<11} {top1}")

    found, failed = compare_paths(
        a, b, images, on_result=show if table else None, on_skip=lambda why: click.echo(f"skipped: {why}", err=True)
    )
    totals = summary(found)
    if table:
        click.echo(
            f"mean pearson {totals['pearson_mean']:.3f}, spearman {totals['spearman_mean']:.3f}; "
            f"top-1 agrees on {totals['top1_agree']}/{len(found)}, "
            f"peaks in the same cell on {totals['same_peak_cell']}/{len(found)}"
        )
    if json_path:
        report = {"model_a": str(model_a), "model_b": str(model_b), "summary": totals}
        write_json(json_path, report | {"images": [f.record() for f in found], "failed": failed})
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(found) + len(failed)} images could not be read")


COMMANDS = (explain, compare)
