"""The `ov-reciprocam` command: a thin click layer over the Python API."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from . import __version__
from .errors import ReciproCamError
from .preprocess import INTERPOLATIONS, RESIZE_MODES, parse_values


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


def _patch_options(f):
    """How the saliency output is built: shared by `patch` and by `explain` on a plain model."""
    options = [
        click.option(
            "--target", metavar="NAME", help="Feature map to explain, by node or tensor name [default: auto]."
        ),
        click.option(
            "--score",
            type=click.Choice(["softmax", "logits"]),
            default="softmax",
            show_default=True,
            help="Score each masked copy by class probability (the paper) or by raw logit.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _preprocess_options(f):
    """The preprocessing recipe, for models whose rt_info does not carry one."""
    options = [
        click.option("--mean", metavar="V|R,G,B", help="Subtract per channel, in the model's channel order."),
        click.option("--scale", metavar="V|R,G,B", help="Then divide per channel."),
        click.option("--rgb/--bgr", "rgb", default=None, help="Channel order the model expects [default: BGR]."),
        click.option("--resize", type=click.Choice(RESIZE_MODES), help="How photos meet the input size [stretch]."),
        click.option("--interpolation", type=click.Choice(list(INTERPOLATIONS)), help="Resize filter [linear]."),
        click.option("--layout", type=click.Choice(["NCHW", "NHWC"]), help="Input layout [guessed from the shape]."),
        click.option(
            "--labels", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Class names, one per line."
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


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
@click.option(
    "--precision",
    type=click.Choice(["f32", "bf16", "f16", "auto"]),
    default="f32",
    show_default=True,
    help="Inference precision; auto is the device default (bf16 on AMX CPUs, which moves maps by ~0.04).",
)
@click.option("--alpha", type=click.FloatRange(0, 1), default=0.5, show_default=True, help="Heatmap opacity.")
@click.option("--colormap", default="jet", show_default=True, help="OpenCV colormap: jet, turbo, inferno, viridis...")
@_patch_options
@_preprocess_options
def explain(
    model, images, output, top_k, classes, device, batch, precision, alpha, colormap, target, score, labels, **recipe
):
    """Explain MODEL's predictions on IMAGES (files, folders or globs).

    MODEL is a plain model (patched in memory) or one patched before. Writes, into OUTPUT: one
    overlay PNG per image and class, NAME_maps.npy (feature resolution) and NAME_maps_full.npy
    (photo resolution, float16), contact_sheet.png and results.json. Unreadable photos are
    reported and skipped; the exit code is then 1.
    """
    from . import files, imaging
    from .preprocess import Preprocess
    from .runtime import Explainer, read_labels

    paths = imaging.collect_images(list(images))
    config = None if precision == "auto" else {"INFERENCE_PRECISION_HINT": precision}
    explainer = Explainer(
        model,
        device,
        labels=read_labels(labels) if labels else None,
        batch=batch,
        config=config,
        target=target,
        score=score,
    )
    overrides = _recipe_overrides(**recipe)
    if any(v is not None for v in overrides.values()):
        explainer.preprocess = Preprocess.from_model(explainer.model, **overrides)
    for name in classes:  # fail on an unknown class before any photo is read
        explainer.class_id(name)
    click.echo(f"preprocess {explainer.preprocess.describe()}", err=True)
    records, failed, sheet, stems = [], [], [], set()
    start = time.perf_counter()
    with click.progressbar(length=len(paths), label="explaining", file=sys.stderr) as bar:
        for i in range(0, len(paths), explainer.batch):
            chunk, photos = [], []
            for path in paths[i : i + explainer.batch]:
                try:
                    photos.append(imaging.read_image(path))
                    chunk.append(path)
                except ReciproCamError as exc:
                    failed.append({"image": str(path), "error": str(exc)})
                    click.echo(f"\nskipped: {exc}", err=True)
            results = (
                explainer.explain(photos, top_k, classes or None, sources=[str(p) for p in chunk]) if photos else []
            )
            for path, result in zip(chunk, results, strict=True):
                stem = _unique(path.stem, stems)
                records.append(result.save(output, stem, alpha, colormap))
                if len(sheet) < 64:
                    sheet.append([result.overlay(c.class_id, alpha, colormap, max_side=224) for c in result.classes])
            bar.update(len(paths[i : i + explainer.batch]))
    seconds = time.perf_counter() - start
    if sheet:
        files.write_png(output / "contact_sheet.png", imaging.contact_sheet(sheet))
    files.write_json(
        output / "results.json",
        {
            "model": str(model),
            "device": device,
            "preprocess": explainer.preprocess.describe(),
            "labels": explainer.labels or None,
            "images": records,
            "failed": failed,
        },
    )
    rate = len(records) / seconds if seconds > 0 else 0.0
    click.echo(f"explained {len(records)} images in {seconds:.1f} s ({rate:.1f} images/s) -> {output}/")
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(paths)} images could not be read (see results.json)")


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
@click.option(
    "--precision",
    type=click.Choice(["f32", "bf16", "f16", "auto"]),
    default="auto",
    show_default=True,
    help="Inference precision; auto is the device default, as deployed.",
)
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

    config = None if precision == "auto" else {"INFERENCE_PRECISION_HINT": precision}
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


def _unique(stem: str, taken: set[str]) -> str:
    name, n = stem, 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}"
    taken.add(name)
    return name


if __name__ == "__main__":
    sys.exit(main())
