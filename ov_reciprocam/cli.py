"""The `ov-reciprocam` command: a thin click layer over the Python API."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import click

from . import __version__
from .errors import ReciproCamError
from .evaluate import METHODS
from .preprocess import INTERPOLATIONS, RESIZE_MODES, parse_values
from .quantize import PRESETS, TARGET_DEVICES


class _OneLineErrors(click.Group):
    """Turn every failure into one `Error: ...` line and exit code 1; --debug shows the traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except ReciproCamError as exc:
            raise click.ClickException(str(exc)) from None
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            from .loading import first_line

            message = f"{type(exc).__name__}: {first_line(exc)} (rerun with --debug for details)"
            raise click.ClickException(message) from None


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ov-reciprocam")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Recipro-CAM saliency maps for OpenVINO classifiers, computed inside the model.

    \b
    ov-reciprocam patch model.xml            # add a saliency_map output -> model_xai.xml
    ov-reciprocam explain model.xml photos/  # overlays, maps and results.json
    """
    ctx.obj = {"debug": debug}


def _shape(output) -> str:
    return str(output.get_partial_shape()).replace(" ", "")


def _stack(*decorators):
    """Apply click decorators in the order they are listed, as if written one above the other."""

    def apply(f):
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return apply


# How the saliency output is built: shared by `patch` and by the commands that patch in memory.
_patch_options = _stack(
    click.option("--target", metavar="NAME", help="Feature map to explain, by node or tensor name [default: auto]."),
    click.option(
        "--score",
        type=click.Choice(["softmax", "logits"]),
        default="softmax",
        show_default=True,
        help="Score each masked copy by class probability (the paper) or by raw logit.",
    ),
)

# The preprocessing recipe, for models whose rt_info does not carry one.
_RECIPE_FLAGS = ("mean", "scale", "rgb", "resize", "interpolation", "layout")
_preprocess_options = _stack(
    click.option("--mean", metavar="V|R,G,B", help="Subtract per channel, in the model's channel order."),
    click.option("--scale", metavar="V|R,G,B", help="Then divide per channel."),
    click.option("--rgb/--bgr", "rgb", default=None, help="Channel order the model expects [default: BGR]."),
    click.option("--resize", type=click.Choice(RESIZE_MODES), help="How photos meet the input size [stretch]."),
    click.option("--interpolation", type=click.Choice(list(INTERPOLATIONS)), help="Resize filter [linear]."),
    click.option("--layout", type=click.Choice(["NCHW", "NHWC"]), help="Input layout [guessed from the shape]."),
    click.option(
        "--labels", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Class names, one per line."
    ),
)


def _precision_option(default: str, note: str):
    return click.option(
        "--precision",
        type=click.Choice(["f32", "bf16", "f16", "auto"]),
        default=default,
        show_default=True,
        help=f"Inference precision; {note}.",
    )


def _compile_config(precision: str) -> dict | None:
    return None if precision == "auto" else {"INFERENCE_PRECISION_HINT": precision}


def _recipe_overrides(mean, scale, rgb, resize, interpolation, layout) -> dict:
    return {
        "mean": parse_values(mean),
        "scale": parse_values(scale),
        "rgb": rgb,
        "resize": resize,
        "interpolation": interpolation,
        "layout": layout,
    }


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output IR .xml [default: MODEL_xai.xml].")
@_patch_options
@click.option(
    "--normalize/--no-normalize",
    default=True,
    show_default=True,
    help="Min-max scale each map to [0, 1] per image and class.",
)
@click.option("--uint8", is_flag=True, help="Emit maps as uint8 in [0, 255].")
@click.option("--batch", type=int, metavar="N|-1", help="Set the input batch before patching; -1 makes it dynamic.")
@click.option(
    "--static-batch",
    type=click.IntRange(min=1),
    metavar="N",
    help="Set batch N and check that every shape is static (NPU needs static shapes).",
)
@click.option("--top-k", type=click.IntRange(min=1), help="Emit maps for each image's K best classes only [all].")
@click.option("--upsample", is_flag=True, help="Resize the maps to the input size in-graph.")
@click.option("--generic", is_flag=True, help="Always run the masked-copy mosaic, even where a shortcut is exact.")
@click.option("--device", help="Also compile the result for this device (CPU, GPU, NPU, AUTO) to check it loads.")
@click.option(
    "--fp16/--fp32",
    default=False,
    show_default=True,
    help="Compress FP32 weights to FP16 on save (changes the original outputs slightly).",
)
@_preprocess_options
@click.option(
    "--embed-preprocessing",
    is_flag=True,
    help="Build the recipe into the model: it then takes a uint8 BGR photo of any size [1, H, W, 3].",
)
def patch(
    model: Path,
    output,
    target,
    score,
    normalize,
    uint8,
    batch,
    static_batch,
    top_k,
    upsample,
    generic,
    device,
    fp16,
    labels,
    embed_preprocessing,
    **recipe,
):
    """Add a `saliency_map` output to MODEL (.xml, .onnx, ...) and save it as IR.

    Preprocessing flags and --labels are stored in the model's rt_info (model_info), so that
    `explain` needs no flags later.
    """
    from .loading import save_model
    from .patch import RT_KEY
    from .patch import patch as patch_model
    from .preprocess import Preprocess
    from .runtime import read_labels

    if batch is not None and static_batch is not None:
        raise click.UsageError("use either --batch or --static-batch")
    output = output or model.with_name(f"{model.stem}_xai.xml")
    patched = patch_model(
        model,
        target=target,
        score=score,
        normalize=normalize,
        uint8=uint8,
        batch=static_batch or batch,
        static=static_batch is not None,
        top_k=top_k,
        upsample=upsample,
        fast=not generic,
    )
    overrides = _recipe_overrides(**recipe)
    names = read_labels(labels) if labels else None
    if names or embed_preprocessing or any(v is not None for v in overrides.values()):
        preprocess = Preprocess.from_model(patched, **overrides)
        preprocess.write_rt_info(patched, names)
        if embed_preprocessing:
            patched = preprocess.embed(patched)
        click.echo(f"preprocess {preprocess.describe()}{' (embedded)' if embed_preprocessing else ''}")
    if device:
        from .runtime import compile_for

        compile_for(patched, device)
    save_model(patched, output, compress_to_fp16=fp16)
    info = {
        key: patched.get_rt_info([RT_KEY, key]).astype(str) for key in ("target", "layout", "feature_shape", "path")
    }
    outputs = ", ".join(f"{o.get_any_name()} {_shape(o)}" for o in patched.outputs)
    click.echo(f"target    {info['target']} ({info['layout']}, {info['feature_shape'].replace(',', 'x')})")
    click.echo(f"tail      {info['path']}")
    click.echo(f"classes   {patched.get_rt_info([RT_KEY, 'classes']).astype(str)}, scored by {score}")
    click.echo(f"outputs   {outputs}")
    if device:
        click.echo(f"compiled  on {device}")
    click.echo(f"saved     {output}")


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
def inspect(model: Path) -> None:
    """List the feature maps MODEL could be explained at, marking the one auto mode picks."""
    from .loading import read_model
    from .locate import locate

    loaded = read_model(model)
    located = locate(loaded)
    scores = loaded.outputs[located.output_index]
    how = "softmax inside; tail ends at its input" if located.has_softmax else "no softmax"
    click.echo(f"class scores  {scores.get_any_name()} {_shape(scores)} ({how})")
    click.echo("candidate targets (on every path to the scores, input to output):")
    width = max(len(c.name) for c in located.candidates)
    for c in located.candidates:
        mark = "  <- auto" if c.name == located.target.name else ""
        names = f"  tensors: {', '.join(c.tensor_names)}" if c.tensor_names else ""
        click.echo(f"  {c.name:<{width}}  {c.layout} {c.channels}x{c.height}x{c.width}{names}{mark}")


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), default="explanations", show_default=True)
@click.option(
    "--top-k", type=click.IntRange(min=1), default=3, show_default=True, help="Explain the k likeliest classes."
)
@click.option(
    "--class", "classes", multiple=True, metavar="NAME|ID", help="Explain these classes instead (repeatable)."
)
@click.option("--device", default="CPU", show_default=True, help="OpenVINO device: CPU, GPU, NPU, AUTO.")
@click.option("--batch", type=click.IntRange(min=1), help="Photos per inference for a dynamic-batch model [8].")
@_precision_option("f32", "auto is the device default (bf16 on AMX CPUs, which moves maps by ~0.04)")
@click.option("--alpha", type=click.FloatRange(0, 1), default=0.5, show_default=True, help="Heatmap opacity.")
@click.option("--colormap", default="jet", show_default=True, help="OpenCV colormap: jet, turbo, inferno, viridis...")
@click.option(
    "--overlays/--no-overlays",
    default=None,
    help="Write overlay PNGs and the contact sheet [default: yes; with --ray, no].",
)
@click.option(
    "--ray",
    "ray_address",
    metavar="local|auto|ADDRESS",
    help="Run on Ray: `local` starts it here, `auto` or an address joins a cluster. Rows go to OUTPUT/shards.",
)
@click.option("--actors", type=click.IntRange(min=1), help="With --ray: model copies [as many as the CPUs allow].")
@click.option(
    "--cpus-per-actor", type=click.IntRange(min=1), default=1, show_default=True, help="With --ray: threads per copy."
)
@_patch_options
@_preprocess_options
def explain(
    model,
    images,
    output,
    top_k,
    classes,
    device,
    batch,
    precision,
    alpha,
    colormap,
    overlays,
    ray_address,
    actors,
    cpus_per_actor,
    target,
    score,
    labels,
    **recipe,
):
    """Explain MODEL's predictions on IMAGES (files, folders or globs).

    MODEL is a plain model (patched in memory) or one patched before. Writes, into OUTPUT: one
    overlay PNG per image and class, NAME_maps.npy (feature resolution) and NAME_maps_full.npy
    (photo resolution, float16), contact_sheet.png and results.json. Unreadable photos are
    reported and skipped; the exit code is then 1.

    With --ray, the maps go to Parquet shards in OUTPUT/shards (one row per photo; read them with
    ov_reciprocam.shards), and a stopped run resumes where it stopped.
    """
    from . import imaging, rows
    from .preprocess import Preprocess
    from .runtime import read_labels

    paths = imaging.collect_images(list(images))
    spec = rows.ExplainerSpec(
        str(model),
        device,
        config=_compile_config(precision),
        labels=tuple(read_labels(labels)) if labels else None,
        batch=batch,
        patch_options={"target": target, "score": score},
    )
    explainer = spec.build()  # here too with --ray: bad options fail before the cluster starts
    overrides = _recipe_overrides(**recipe)
    if any(v is not None for v in overrides.values()):
        explainer.preprocess = Preprocess.from_model(explainer.model, **overrides)
    for name in classes:  # fail on an unknown class before any photo is read
        explainer.class_id(name)
    out = rows.Outputs(
        str(output),
        top_k,
        tuple(classes),
        overlays=not ray_address if overlays is None else overlays,
        npy_maps=not ray_address,
        alpha=alpha,
        colormap=colormap,
    )
    photos = rows.name_photos(paths)
    click.echo(f"preprocess {explainer.preprocess.describe()}", err=True)
    start = time.perf_counter()
    with click.progressbar(length=len(paths), label="explaining", file=sys.stderr) as bar:
        if ray_address:
            from . import cluster

            cluster.connect(ray_address)
            spec = dataclasses.replace(spec, labels=tuple(explainer.labels) or None, preprocess=explainer.preprocess)
            shard_dir = cluster.default_shard_dir(output)
            found = cluster.explain_on_ray(
                spec,
                photos,
                out,
                shard_dir,
                actors=actors,
                cpus_per_actor=cpus_per_actor,
                batch_size=explainer.batch,
                progress=bar.update,
            )
        else:
            found = rows.explain_local(explainer, photos, out, progress=bar.update)
    seconds = time.perf_counter() - start
    header = {
        "model": str(model),
        "device": device,
        "preprocess": explainer.preprocess.describe(),
        "labels": explainer.labels or None,
    }
    summary = rows.write_summary(out, found, header)
    for failure in summary["failed"]:
        click.echo(f"skipped: {failure['error']}", err=True)
    explained = len(summary["images"])
    rate = explained / seconds if seconds > 0 else 0.0
    click.echo(f"explained {explained} images in {seconds:.1f} s ({rate:.1f} images/s) -> {output}/")
    if summary["failed"]:
        failed = len(summary["failed"])
        raise click.ClickException(f"{failed} of {len(paths)} images could not be read (see results.json)")


def _batches(ctx, param, value: str) -> tuple[int, ...]:
    try:
        batches = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected sizes like 1,8, got '{value}'") from None
    if not batches or min(batches) < 1:
        raise click.BadParameter(f"batch sizes must be positive, got '{value}'")
    return batches


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--device", default="CPU", show_default=True, help="OpenVINO device: CPU, GPU, NPU, AUTO.")
@click.option("--batch", "batches", default="1", show_default=True, callback=_batches, help="Batch sizes, e.g. 1,8.")
@click.option("--seconds", type=click.FloatRange(min=0.1), default=10.0, show_default=True, help="Total timing budget.")
@_precision_option("auto", "auto is the device default, as deployed")
@click.option("--baselines", is_flag=True, help="Also time Score-CAM and RISE on the same model, per image.")
@click.option("--rise-masks", type=click.IntRange(min=1), default=4000, show_default=True, help="RISE mask count.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_patch_options
@click.option("--top-k", type=click.IntRange(min=1), help="Patch with in-graph top-K maps (see patch --top-k).")
@click.option("--generic", is_flag=True, help="Patch without the exact shortcuts.")
def bench(model, device, batches, seconds, precision, baselines, rise_masks, as_json, target, score, top_k, generic):
    """Time MODEL plain and patched, interleaved in one process, and print the ratio.

    MODEL may be plain (patched here with the options below) or patched (measured against
    itself without the saliency outputs). The floor column is the ratio exact Recipro-CAM cannot
    beat: 1 + the tail's multiply-accumulates that must run once per position / the model's.
    """
    import json

    from . import bench as benchmark

    config = _compile_config(precision)
    with click.progressbar(length=1000, label="timing", file=sys.stderr) as bar:
        results = benchmark.measure(
            model,
            device=device,
            batches=batches,
            seconds=seconds,
            config=config,
            progress=lambda fraction: bar.update(int(1000 * fraction) - bar.pos),
            target=target,
            score=score,
            top_k=top_k,
            fast=not generic,
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
    click.echo("batch  plain ms  patched ms  ratio  floor  plain img/s  patched img/s  runs")
    for r in results:
        click.echo(
            f"{r.batch:>5}  {r.plain_ms:>8.2f}  {r.patched_ms:>10.2f}  {r.ratio:>5.2f}  {r.floor:>5.2f}"
            f"  {r.plain_images_per_s:>11.1f}  {r.patched_images_per_s:>13.1f}  {r.runs:>4}"
        )
    for name, b in report.get("baselines", {}).items():
        click.echo(f"{name}: {b['ms_per_image']:.1f} ms per image, {b['times_ours']:.0f}x the patched model's time")


@main.command("quantize")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("calib_images", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output IR .xml [default: MODEL_int8.xml].")
@click.option(
    "--subset-size",
    type=click.IntRange(min=1),
    default=300,
    show_default=True,
    help="Calibrate on at most this many images, spread evenly over the list.",
)
@click.option(
    "--preset",
    type=click.Choice(PRESETS),
    default="performance",
    show_default=True,
    help="performance: symmetric activation ranges; mixed: asymmetric ones (for activations not centred on 0).",
)
@click.option(
    "--target-device",
    type=click.Choice(TARGET_DEVICES),
    default="ANY",
    show_default=True,
    help="The device the INT8 model is tuned for.",
)
@_preprocess_options
def quantize_command(model, calib_images, output, subset_size, preset, target_device, labels, **recipe):
    """INT8 with NNCF: quantize MODEL (plain or patched), calibrated on CALIB_IMAGES (files, folders, globs).

    Photos go through the same preprocessing as `explain` (the model's rt_info, or flags). On a
    patched model the saliency subgraph stays in floating point; only the network is quantized.
    Preprocessing flags and --labels are stored in the output's rt_info, as `patch` does. An
    unreadable image stops the run: calibration data should be checked, not silently thinned.
    """
    import logging

    import nncf

    from . import imaging
    from .loading import read_model, save_model
    from .patch import is_patched
    from .preprocess import Preprocess
    from .quantize import quantize
    from .runtime import read_labels

    output = output or model.with_name(f"{model.stem}_int8.xml")
    if output.suffix.lower() != ".xml":  # found now, not after minutes of calibration
        raise ReciproCamError(f"output must be an IR .xml path, got {output}")
    paths = imaging.collect_images(list(calib_images))
    loaded = read_model(model)
    overrides = _recipe_overrides(**recipe)
    preprocess = Preprocess.from_model(loaded, **overrides)
    names = read_labels(labels) if labels else None
    click.echo(f"preprocess {preprocess.describe()}")
    click.echo(f"calibrate  on {min(subset_size, len(paths))} of {len(paths)} images")
    nncf.set_log_level(logging.WARNING)  # at INFO it lists every ignored op
    quantized = quantize(loaded, paths, preprocess, subset_size=subset_size, preset=preset, target_device=target_device)
    if names or any(v is not None for v in overrides.values()):
        preprocess.write_rt_info(quantized, names)
    save_model(quantized, output)
    count = sum(op.get_type_name() == "FakeQuantize" for op in quantized.get_ordered_ops())
    kept = ", saliency subgraph kept in floating point" if is_patched(quantized) else ""
    click.echo(f"quantized  {count} FakeQuantize ops ({preset}, {target_device}){kept}")
    click.echo(f"saved      {output}")


@main.command("compare")
@click.argument("model_a", type=click.Path(path_type=Path))
@click.argument("model_b", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True)
@click.option("--device", default="CPU", show_default=True, help="OpenVINO device for both models.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write the figures as JSON.")
@_preprocess_options
def compare_command(model_a, model_b, images, device, json_path, labels, **recipe):
    """Saliency fidelity: MODEL_B's maps against MODEL_A's (say INT8 against FP32) on IMAGES.

    Per image: Pearson and Spearman correlation of the two maps of A's top-1 class (at feature
    resolution), whether the top-1 classes agree, and whether the maps peak in the same feature
    cell. Plain models are patched in memory. Both run at f32 inference precision, so that the
    differences come from the models, not from the device's bf16 default.
    """
    from . import files, imaging
    from .preprocess import Preprocess
    from .quantize import F32, compare, summary
    from .runtime import Explainer, read_labels

    paths = imaging.collect_images(list(images))
    names = read_labels(labels) if labels else None
    overrides = _recipe_overrides(**recipe)
    explainers = []
    for model in (model_a, model_b):
        explainer = Explainer(model, device, labels=names, config=F32)
        if any(v is not None for v in overrides.values()):
            explainer.preprocess = Preprocess.from_model(explainer.model, **overrides)
        explainers.append(explainer)
    found, failed = [], []
    click.echo(f"{'image':<28} {'pearson':>7} {'spearman':>8}  {'peak cells':<11} top-1 A -> B")
    for path in paths:
        try:
            photo = imaging.read_image(path)
        except ReciproCamError as exc:
            failed.append({"image": str(path), "error": str(exc)})
            click.echo(f"skipped: {exc}", err=True)
            continue
        f = compare(*explainers, [photo], [str(path)])[0]
        found.append(f)
        cells = f"{f.peak_a[0]},{f.peak_a[1]} {'=' if f.same_cell else '!='} {f.peak_b[0]},{f.peak_b[1]}"
        top1 = f.top1_a.label if f.top1_agrees else f"{f.top1_a.label} -> {f.top1_b.label}"
        click.echo(f"{path.name[:28]:<28} {f.pearson:>7.3f} {f.spearman:>8.3f}  {cells:<11} {top1}")
    totals = summary(found)
    click.echo(
        f"mean pearson {totals['pearson_mean']:.3f}, spearman {totals['spearman_mean']:.3f}; "
        f"top-1 agrees on {totals['top1_agree']}/{len(found)}, "
        f"peaks in the same cell on {totals['same_peak_cell']}/{len(found)}"
    )
    if json_path:
        files.write_json(
            json_path,
            {
                "model_a": str(model_a),
                "model_b": str(model_b),
                "summary": totals,
                "images": [f.record() for f in found],
                "failed": failed,
            },
        )
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(paths)} images could not be read")


_EVAL_OPTIONS = [
    click.argument("model", type=click.Path(path_type=Path)),
    click.argument("images", nargs=-1, required=True),
    click.option(
        "--boxes", type=click.Path(dir_okay=False, path_type=Path), help="Object boxes for the pointing game."
    ),
    click.option("--methods", default=",".join(METHODS), show_default=True, help="Comma-separated saliency methods."),
    click.option(
        "--target",
        "target_mode",
        type=click.Choice(["predicted", "label-from-boxes"]),
        default="predicted",
        show_default=True,
        help="Explain the top-1 class, or the class named by the image's boxes.",
    ),
    click.option("-o", "--output", type=click.Path(path_type=Path), default="report", show_default=True),
    click.option(
        "--steps", type=click.IntRange(min=1), default=50, show_default=True, help="Deletion/insertion steps."
    ),
    click.option(
        "--baseline",
        type=click.Choice(["zero", "blur"]),
        default="zero",
        show_default=True,
        help="What deletion puts in place of removed pixels.",
    ),
    click.option(
        "--rise-masks", type=click.IntRange(min=1), default=4000, show_default=True, help="RISE random masks."
    ),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of the RISE masks."),
    click.option("--feature-map", metavar="NAME", help="Feature map for Recipro-CAM and Score-CAM [default: auto]."),
    click.option("--device", default="CPU", show_default=True, help="OpenVINO device."),
    click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True, help="Inputs per inference."),
    _precision_option("f32", "auto is the device default"),
]


@main.command("eval")
@_stack(*_EVAL_OPTIONS, _preprocess_options)
def eval_command(model, images, precision, labels, **options):
    """Score saliency methods on MODEL (a plain classifier) and IMAGES (files, folders or globs).

    Per image and method, and averaged: Average Drop, Increase in Confidence, Deletion and
    Insertion AUC, Coherency, Complexity, ADCC, the pointing game (with --boxes) and the time to
    make the map. Writes OUTPUT/metrics.json, metrics.csv, curves_METHOD.png (needs matplotlib:
    pip install 'ov-reciprocam[plot]') and NAME_maps.png per image.
    """
    from . import evaluate

    recipe = {k: options.pop(k) for k in _RECIPE_FLAGS}
    evaluate.run(
        model,
        images,
        precision=precision,
        config=_compile_config(precision),
        labels=labels,
        overrides=_recipe_overrides(**recipe),
        **options,
    )


if __name__ == "__main__":
    sys.exit(main())
