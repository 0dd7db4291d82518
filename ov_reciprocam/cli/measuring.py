"""`bench`, `eval` and `quantize`: what the saliency output costs, how good its maps are, and INT8."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..inference.device import precision_config, precision_note
from ..photos.preprocess import recipe_for
from ..quality import detection_eval
from ..quality.evaluate import BASELINES, DEFAULT_METHODS, EVAL_BATCH, FROM_BOXES, METHODS, Cost, EvalSettings
from ..vocabulary import (
    DeletionBaseline,
    DetectionOptions,
    EvalMethod,
    PatchOptions,
    Protocol,
    QuantizePreset,
    Refinement,
    TargetDevice,
)
from .options import (
    CLASSES,
    DEVICE,
    INPUT,
    MEASURES,
    PRECISION_AUTO,
    PRECISION_F32,
    TIMING,
    GroupedCommand,
    batch_size_option,
    device_option,
    graph_options,
    json_option,
    labels_from,
    output_option,
    patch_options,
    precision_option,
    preprocess_options,
    ray_options,
    recipe_from,
    report_option,
    rise_masks_option,
    section,
    target_option,
    write_json,
)
from .progress import Progress, duration

if TYPE_CHECKING:
    import numpy as np


def _batch_sizes(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected sizes like 1,8, got '{value}'") from None
    if not sizes or min(sizes) < 1:
        raise click.BadParameter(f"batch sizes must be positive, got '{value}'")
    return sizes


@click.command(cls=GroupedCommand, short_help="Time a model plain and patched, and print the ratio.")
@click.argument("model", type=click.Path(path_type=Path))
@device_option()
@section(
    TIMING,
    click.option(
        "--batch-sizes",
        default="1",
        show_default=True,
        metavar="N,N...",
        callback=_batch_sizes,
        help="Batches to time (bench's own: the batch of each timed inference).",
    ),
    click.option(
        "--seconds",
        type=click.FloatRange(min=0.1),
        metavar="S",
        default=10.0,
        show_default=True,
        help="Total timing budget.",
    ),
    click.option("--baselines", is_flag=True, help="Also time Score-CAM and RISE on the same model, per image."),
    rise_masks_option,
)
@precision_option("auto", PRECISION_AUTO + " (explain, compare and eval default to f32, to compare maps)")
@json_option("the timings")
@patch_options
@graph_options
def bench(
    model: Path,
    device: str,
    batch_sizes: tuple[int, ...],
    seconds: float,
    precision: str,
    baselines: bool,
    rise_masks: int,
    json_path: str | None,
    generic: bool,
    **patch: Any,
) -> None:
    """Time MODEL plain and patched, interleaved in one process, and print the ratio.

    MODEL may be plain (patched here with the options below) or patched (measured against
    itself without the saliency outputs). The floor column is the ratio exact Recipro-CAM cannot
    beat: 1 + the tail's multiply-accumulates that must run once per position / the model's. The
    +bytes column adds what moving the copies' scores [B, H*W, classes] costs: three read-write
    passes over them, each timed here as one elementwise op on the device; and, for the flatten
    shortcut (VGG), reading the first linear layer's weights once more. A detector (tail
    detection) runs its neck and heads from the cut once per masked copy: that is its floor, and
    +bytes adds one pass writing the copies.

    Examples:

    \b
      ov-reciprocam bench samples/models/coral/mobilenet_v1_0.25_128_quant.tflite --seconds 2
      ov-reciprocam bench samples/models/dog_breeds_mobilenetv2/dog_breeds_mobilenetv2.xml --batch-sizes 1,8 \\
          --precision f32 --seconds 4 --json out/bench.json
    """
    from ..output import files
    from ..quality import bench as benchmark

    if json_path and json_path != "-":
        files.check_output_file(json_path, "--json")
    config = precision_config(precision)
    with Progress("timing", 1000, unit=None) as bar:
        results = benchmark.measure(
            model,
            device=device,
            batches=batch_sizes,
            seconds=seconds,
            config=config,
            progress=lambda fraction: bar.update(int(1000 * fraction) - bar.pos),
            patch_options=PatchOptions.of(fast=not generic, **patch),
        )
    ran = results[0].precision
    if note := precision_note(device, config, ran):
        click.echo(note, err=True)
    report: dict[str, Any] = {"model": str(model), "device": device, "precision_asked": precision, "precision": ran}
    report["results"] = benchmark.as_dicts(results)
    if baselines:
        report["baselines"] = benchmark.baselines(
            model, results[0], device=device, config=config, rise_masks=rise_masks
        )
    if json_path:
        write_json(json_path, report)
    if json_path == "-":  # the JSON replaces the table
        return
    click.echo(f"{model}  device {device}  precision {ran or 'unknown'}  tail {results[0].path}")
    click.echo("batch  plain ms  patched ms  ratio  floor  +bytes  plain img/s  patched img/s  runs")
    for r in results:
        click.echo(
            f"{r.batch:>5}  {r.plain_ms:>8.2f}  {r.patched_ms:>10.2f}  {r.ratio:>5.2f}  {r.floor:>5.2f}"
            f"  {r.floor_bytes:>6.2f}"
            f"  {r.plain_images_per_s:>11.1f}  {r.patched_images_per_s:>13.1f}  {r.runs:>4}"
        )
    for name, b in report.get("baselines", {}).items():
        click.echo(f"{name}: {b['ms_per_image']:.1f} ms per image, {b['times_ours']:.0f}x the patched model's time")


@click.command("quantize", cls=GroupedCommand, short_help="INT8 with NNCF, calibrated on your photos.")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("calib_images", nargs=-1, required=True)
@output_option("Output IR .xml.  [default: MODEL_int8.xml]", metavar="FILE")
@section(
    INPUT,
    click.option(
        "--subset-size",
        type=click.IntRange(min=1),
        default=300,
        show_default=True,
        metavar="N",
        help="Calibrate on at most this many images, spread evenly over the list.",
    ),
)
@section(
    DEVICE,
    click.option(
        "--preset",
        type=click.Choice([p.value for p in QuantizePreset]),
        default=QuantizePreset.PERFORMANCE.value,
        show_default=True,
        help="NNCF QuantizationPreset: performance = symmetric activation ranges, mixed = asymmetric ones.",
    ),
    click.option(
        "-d",
        "--device",
        type=click.Choice([d.value for d in TargetDevice]),
        default=TargetDevice.ANY.value,
        show_default=True,
        help="Unlike the other commands' --device, the NNCF TargetDevice the INT8 model is tuned for (CPU, GPU, "
        "NPU; ANY: every device); calibration itself runs on the CPU.",
    ),
)
@preprocess_options
def quantize_command(
    model: Path,
    calib_images: tuple[str, ...],
    output: Path | None,
    subset_size: int,
    preset: str,
    device: str,
    labels: Path | None,
    **options: Any,
) -> None:
    """INT8 with NNCF: quantize MODEL (plain or patched), calibrated on CALIB_IMAGES (files, folders, globs).

    Photos go through the same preprocessing as `explain` (the model's rt_info, or flags). On a
    patched model the saliency subgraph stays in floating point; only the network is quantized.
    Preprocessing flags and --labels are stored in the output's rt_info, as `patch` does. An
    unreadable image stops the run: calibration data should be checked, not silently thinned.

    Examples:

    \b
      ov-reciprocam quantize samples/models/dog_breeds_mobilenetv2/dog_breeds_mobilenetv2.xml \\
          samples/images samples/openimages --mean 127.5 --scale 127.5 --rgb --interpolation cubic -o out/dog_int8.xml
      # then how close its maps stay: the `ov-reciprocam compare --help` example
    """
    import logging
    import warnings

    import nncf

    from ..model.formats import read_model, save_model
    from ..model.labels import write_labels
    from ..output import files
    from ..patching import is_patched
    from ..photos import imaging
    from ..quality.quantize import CalibrationWarning, calibration_note, check_float, quantize

    output = output or model.with_name(f"{model.stem}_int8.xml")
    if output.suffix.lower() != ".xml":  # found now, not after minutes of calibration
        raise click.ClickException(f"output must be an IR .xml path, got {output}")
    files.check_output_file(output)
    paths = imaging.collect_images(list(calib_images))
    loaded = read_model(model)
    check_float(loaded)  # before the recipe: an INT8 model's missing recipe is not what is wrong with it
    preprocess = recipe_for(loaded, recipe_from(options))
    names = labels_from(labels)
    click.echo(f"preprocess {preprocess.describe()}")
    used = min(subset_size, len(paths))
    click.echo(f"calibrate  on {used} of {len(paths)} images")
    if note := calibration_note(used):
        click.echo(note, err=True)  # before the calibration, which a user may then stop
    nncf.set_log_level(logging.WARNING)  # at INFO it lists every ignored op
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)  # said above, in the CLI's words
        # Off a terminal our lines; on one, NNCF draws its own bar.
        with Progress("calibrating", used, terminal=False) as bar:
            quantized = quantize(
                loaded,
                paths,
                preprocess,
                subset_size=subset_size,
                preset=preset,
                target_device=device,
                progress=bar.update,
            )
    preprocess.write_rt_info(quantized)
    if names:
        write_labels(quantized, names)
    save_model(quantized, output)
    count = sum(op.get_type_name() == "FakeQuantize" for op in quantized.get_ordered_ops())
    kept = ", saliency subgraph kept in floating point" if is_patched(quantized) else ""
    click.echo(f"quantized  {count} FakeQuantize ops ({preset}, {device}){kept}")
    click.echo(f"saved      {output}")


@click.command("eval", cls=GroupedCommand, short_help="Score saliency methods with faithfulness metrics.")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True)
@output_option("Folder for metrics.json, metrics.csv, curve plots and side-by-side maps.", default="report")
@section(
    INPUT,
    click.option(
        "--boxes", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="Object boxes: pointing game."
    ),
    click.option(
        "--masks",
        type=click.Path(file_okay=False, path_type=Path),
        metavar="DIR",
        help="Object masks, NAME_mask.png or NAME.png per photo: pointing game and energy on the object's pixels.",
    ),
    click.option("--mask-value", type=int, metavar="V", help="The masks' object value.  [default: any non-zero pixel]"),
)
@section(
    MEASURES,
    click.option(
        "--methods",
        metavar="NAME,...",
        help=f"Comma-separated saliency methods, of {', '.join(METHODS)} for a classifier; of "
        f"{', '.join(detection_eval.METHODS)} for a detector. The default ones take well under a second a photo; "
        "Score-CAM and RISE about a minute, D-RISE minutes (see --baselines).  [default: "
        f"{','.join(DEFAULT_METHODS)}; a detector: {','.join(detection_eval.DEFAULT_METHODS)}]",
    ),
    click.option(
        "--baselines",
        is_flag=True,
        help=f"Also score Score-CAM and RISE (--methods ...,{','.join(BASELINES)}), as the Recipro-CAM paper compares "
        f"them, or a detector's D-RISE ({','.join(detection_eval.BASELINES)}): thousands of inferences a photo; eval "
        "says the cost before it starts.",
    ),
)
@section(
    CLASSES,
    click.option(
        "--class",
        "class_choice",
        metavar="NAME|ID|boxes",
        help=f"Explain this class, or with '{FROM_BOXES}' the class each photo's boxes name.  [default: top-1]",
    ),
)
@section(
    MEASURES,
    click.option(
        "--steps",
        type=click.IntRange(min=1),
        metavar="N",
        default=50,
        show_default=True,
        help="Deletion/insertion steps.",
    ),
    click.option(
        "--baseline",
        type=click.Choice([b.value for b in DeletionBaseline]),
        default=DeletionBaseline.ZERO.value,
        show_default=True,
        help="What deletion puts in place of removed pixels: zero of the normalized input (the mean colour; black "
        "with --protocol pixels), or the blurred photo.",
    ),
    click.option(
        "--protocol",
        type=click.Choice([p.value for p in Protocol]),
        default=Protocol.PAPER.value,
        show_default=True,
        help="paper: maps multiply the normalized input (removed pixels become the mean colour), bicubic, ADCC of "
        "the means, as the Recipro-CAM authors' script; pixels: maps multiply 0-255 pixels (removed pixels become "
        "black), bilinear, ADCC per photo (docs/quality.md).",
    ),
    click.option(
        "--refine",
        "refinement",
        type=click.Choice([r.value for r in Refinement]),
        default=Refinement.NONE.value,
        show_default=True,
        help="guided: every method's map, upsampled, then guided-filtered by the photo (windows of one feature "
        "cell), and scored on the input grid; none: the maps as the methods make them.",
    ),
    click.option(
        "--rise-masks",
        type=click.IntRange(min=1),
        metavar="N",
        help="Random masks of RISE (rise in --methods, or --baselines) or, for a detector, of D-RISE.  [default: "
        f"{EvalSettings.rise_masks} for RISE, {detection_eval.DRISE_MASKS} for D-RISE, as their papers]",
    ),
    click.option("--seed", type=int, metavar="N", default=0, show_default=True, help="Seed of the RISE masks."),
)
@target_option
@device_option()
@batch_size_option(
    EVAL_BATCH,
    "Model inputs per inference: eval scores one photo at a time, so these are its masked copies (deletion and "
    "insertion steps, Score-CAM maps, RISE masks), not photos as in explain and compare; several inferences run at "
    "once",
)
@precision_option("f32", PRECISION_F32)
@report_option
@ray_options
@preprocess_options
def eval_command(
    model: Path,
    images: tuple[str, ...],
    output: Path,
    precision: str,
    labels: Path | None,
    ray_address: str | None,
    actors: int | None,
    cpus_per_actor: int,
    report_page: bool,
    baselines: bool,
    **options: Any,
) -> None:
    """Score saliency methods on MODEL (a plain classifier or detector) and IMAGES (files, folders or globs).

    Per image and method, and averaged: Average Drop, Increase in Confidence, Deletion and
    Insertion AUC, Coherency, Complexity, ADCC, the pointing game (with --boxes) and the time to
    make the map. Writes OUTPUT/metrics.json, metrics.csv, curves_METHOD.png (needs matplotlib:
    pip install 'ov-reciprocam[plot]') and NAME_maps.png per image.

    With --ray, photos are scored in an actor pool, rows go to OUTPUT/shards, a photo that cannot
    be read is reported instead of stopping the run, and a stopped run resumes where it stopped.

    Before it starts, eval says what the methods will cost: model inputs a photo, and the time.

    A detector: every detection of the patched run, against its own box in the model's input
    frame, per method (reciprocam, drise): its peak in the box, its energy in the box, the
    deletion and insertion AUC of its D-RISE similarity, and the seconds per photo and per map.
    Writes OUTPUT/metrics.json and metrics.csv (a row per detection and method); a photo that
    cannot be read is an error row (no report.html, no pictures yet). --target names its cut;
    the flags about classes, boxes, masks, protocol and Ray are a classifier's.

    Examples:

    \b
      ov-reciprocam eval samples/models/dog_breeds_mobilenetv2/dog_breeds_mobilenetv2.xml samples/images \\
          --mean 127.5 --scale 127.5 --rgb --interpolation cubic --boxes samples/images/boxes.json -o out/eval_dog
      # Score-CAM and RISE too (RISE with 1000 masks, not 4000, to be quick), pointing at the objects' masks:
      ov-reciprocam eval samples/models/coral/mobilenet_v1_0.25_128_quant.tflite \\
          "samples/openimages/*_segmentation.png" --masks samples/masks/object --baselines --rise-masks 1000 \\
          -o out/eval_coral
      # A detector, its Recipro-CAM maps beside D-RISE's (200 masks, not the paper's 1000, to be quick):
      ov-reciprocam eval samples/models/detection/ultralight_rfb_320/version-RFB-320.onnx samples/images \\
          --mean 127 --scale 128 --rgb --baselines --rise-masks 200 -o out/eval_faces
    """
    from ..output import files, run_folder
    from ..quality import eval_report
    from ..quality.evaluate import BLUR, TOLERANCE, Evaluator, eval_settings
    from ..runs.evaluation import evaluate_paths, evaluate_paths_on_ray

    run_folder.check_run_folder(output, images)
    if detection_eval.is_detector(model):
        _eval_detector(model, images, output, precision, labels, baselines, options)
        return
    options["methods"] = options["methods"] or ",".join(DEFAULT_METHODS)
    if baselines:
        options["methods"] += "," + ",".join(BASELINES)
    if options["rise_masks"] is None:
        del options["rise_masks"]  # RISE's own count, EvalSettings'
    settings = eval_settings(
        model,
        config=precision_config(precision),
        labels=labels_from(labels),
        recipe=recipe_from(options),
        **options,
    )
    stems: set[str] = set()
    bars = ExitStack()
    bar: Progress | None = None
    ran: str | None = None

    def ready(count: int, evaluator: Evaluator) -> None:
        nonlocal bar, ran
        ran = evaluator.precision
        if note := precision_note(settings.device, settings.config, ran):
            click.echo(note, err=True)
        click.echo(f"preprocess {settings.recipe.describe()}", err=True)
        click.echo(_cost_line(count, evaluator.cost(), on_ray=bool(ray_address)), err=True)
        bar = bars.enter_context(Progress("evaluating", count))

    def shown() -> Progress:
        assert bar is not None  # on_ready made it, before the first photo
        return bar

    def write(path: Path, photo: np.ndarray, result: dict, objects: list[dict]) -> str:
        written = eval_report.write_maps(output, files.unique_stem(path.stem, stems), photo, result, objects)
        shown().update(1)
        return written

    with run_folder.claimed(output, eval_report.MANIFEST):
        failed: list[dict] = []
        with bars:
            if ray_address:
                records, summary, failed = evaluate_paths_on_ray(
                    settings,
                    list(images),
                    output,
                    address=ray_address,
                    actors=actors,
                    cpus_per_actor=cpus_per_actor,
                    on_ready=ready,
                    progress=lambda n: shown().update(n),
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
        report: dict[str, Any] = {
            "model": str(model),
            "device": settings.device,
            "precision_asked": precision,
            "precision": ran,
        }
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


# A classifier's flags, refused for a detector: its maps are scored against its own detections' boxes.
_CLASSIFIER_ONLY = frozenset({"boxes", "masks", "mask_value", "class_choice", "protocol", "refinement", "baseline"})
_CLASSIFIER_ONLY |= {"ray_address", "actors", "cpus_per_actor"}


def _eval_detector(
    model: Path,
    images: tuple[str, ...],
    output: Path,
    precision: str,
    labels: Path | None,
    baselines: bool,
    options: dict[str, Any],
) -> None:
    """`eval` on a detector: the flags checked, the run, metrics.json and metrics.csv, the table."""
    from ..output import run_folder
    from ..quality import eval_report
    from ..runs.evaluation import evaluate_detection_paths

    context = click.get_current_context()
    given = [p for p in context.command.params if p.name in _CLASSIFIER_ONLY and _given(context, p.name)]
    if given:
        flags = ", ".join(max(p.opts, key=len) for p in given)
        verb = "is" if len(given) == 1 else "are"
        raise click.UsageError(f"{flags} {verb} for classifiers: a detector's maps are scored against its own boxes")
    methods = options["methods"] or ",".join(detection_eval.DEFAULT_METHODS)
    if baselines:
        methods += "," + ",".join(detection_eval.BASELINES)
    recipe = recipe_from(options)
    names = labels_from(labels)
    target = options["target"]  # as patch takes it: a detector's cut, one tensor per scale
    cut = tuple(name.strip() for name in target.split(",")) if target else None
    settings = detection_eval.detection_settings(
        model,
        methods=methods,
        recipe=recipe if recipe.given else None,
        labels=tuple(names) if names else None,
        masks=options["rise_masks"] or detection_eval.DRISE_MASKS,
        steps=options["steps"],
        seed=options["seed"],
        device=options["device"],
        config=precision_config(precision),
        detection=DetectionOptions(cut=cut),
        **({"batch_size": options["batch_size"]} if _given(context, "batch_size") else {}),
    )
    bars = ExitStack()
    bar: Progress | None = None
    ran: str | None = None

    def ready(count: int, evaluator: detection_eval.DetectionEvaluator) -> None:
        nonlocal bar, ran
        ran = evaluator.precision
        if note := precision_note(settings.device, settings.config, ran):
            click.echo(note, err=True)
        click.echo(f"preprocess {evaluator.explainer.preprocess.describe()}", err=True)
        click.echo(_detection_cost_line(count, evaluator.cost()), err=True)
        bar = bars.enter_context(Progress("evaluating", count))

    def done(_record: dict) -> None:
        assert bar is not None  # on_ready made it, before the first photo
        bar.update(1)

    with run_folder.claimed(output, eval_report.MANIFEST):
        with bars:
            records, summary = evaluate_detection_paths(settings, list(images), on_ready=ready, on_image=done)
        failed = [r for r in records if "error" in r]
        for failure in failed:
            click.echo(f"skipped: {failure['error']}", err=True)
        titles = {"reciprocam": "Recipro-CAM", "drise": f"D-RISE-{settings.masks}"}
        described = {"methods": [str(n) for n in settings.names], "steps": settings.steps, "seed": settings.seed}
        described |= {"drise_masks": settings.masks, "frame": "the model's input", "deletion_baseline": "zero"}
        report: dict[str, Any] = {"model": str(model), "device": settings.device, "precision_asked": precision}
        report |= {"precision": ran, "settings": described}
        eval_report.write_detection_report(output, report, records, summary)
    click.echo(eval_report.detection_table(summary, titles))
    click.echo(f"report -> {output}/ (metrics.json, metrics.csv)")
    if failed:
        raise click.ClickException(f"{len(failed)} images could not be read (see metrics.csv's error rows)")


def _given(context: click.Context, name: str | None) -> bool:
    """Whether the user gave the flag of parameter `name` (not its default)."""
    source = context.get_parameter_source(name) if name else None
    return source not in (None, click.core.ParameterSource.DEFAULT)


def _detection_cost_line(count: int, cost: dict[str, int]) -> str:
    """`cost  4 photos: reciprocam 1 model input a photo, ...`, said before a long run."""
    per_detection = cost.pop("per_detection")
    each = ", ".join(f"{name} {n}" for name, n in cost.items())
    return (
        f"cost       {count} photo{'s' * (count != 1)}: model inputs a photo {each} (every detection at once); "
        f"then {per_detection} a detection and method for deletion and insertion"
    )


def _cost_line(count: int, cost: Cost, on_ray: bool) -> str:
    """`cost  4 photos x 212 model inputs a photo (...): about 1 s a photo, 4 s in all`, said before a long run."""
    # Score-CAM skips flat activation maps: its count is a ceiling.
    ceiling = "up to " if EvalMethod.SCORECAM in cost.inputs else ""
    each = ", ".join(f"{name} {ceiling if name is EvalMethod.SCORECAM else ''}{n}" for name, n in cost.inputs.items())
    where = " for one actor (the pool shares the photos)" if on_ray else ""
    photos = f"{count} photo{'s' * (count != 1)}"
    return (
        f"cost       {photos} x {ceiling}{cost.per_photo} model inputs a photo ({each}; {cost.shared} to pick the "
        f"class): about {duration(cost.seconds)} a photo, {duration(count * cost.seconds)} in all{where}"
    )


COMMANDS = (bench, quantize_command, eval_command)
