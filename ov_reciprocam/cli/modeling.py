"""`patch` and `inspect`: change a model, or look at where it can be explained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..photos.preprocess import recipe_for
from .options import (
    INPUT,
    OUTPUT,
    PREPROCESSING,
    SALIENCY,
    GroupedCommand,
    detection_from,
    detection_options,
    device_option,
    graph_options,
    input_shape_option,
    labels_from,
    output_option,
    patch_options,
    preprocess_options,
    recipe_from,
    scores_output_option,
    section,
    target_layout_option,
)


@click.command(cls=GroupedCommand, short_help="Add a saliency_map output to a model and save it as IR.")
@click.argument("model", type=click.Path(path_type=Path))
@output_option("Output IR .xml.  [default: MODEL_xai.xml]", metavar="FILE")
@patch_options
@section(
    SALIENCY,
    click.option(
        "--normalize/--no-normalize",
        default=True,
        show_default=True,
        help="Min-max scale each map to [0, 1] per image and class.",
    ),
    click.option("--uint8", is_flag=True, help="Emit maps as uint8 in [0, 255]."),
    click.option("--replace", is_flag=True, help="Drop another tool's saliency_map output and add ours."),
)
@section(
    INPUT,
    click.option("--batch", type=int, metavar="N|-1", help="Set the model's input batch first; -1 makes it dynamic."),
    click.option(
        "--static-batch",
        type=click.IntRange(min=1),
        metavar="N",
        help="Set batch N and check that every shape is static (NPU needs static shapes).",
    ),
)
@graph_options
@section(SALIENCY, click.option("--upsample", is_flag=True, help="Resize the maps to the input size in-graph."))
@detection_options
@device_option("Also compile the result for this device (CPU, GPU, NPU, AUTO) to check it loads.", default=None)
@section(
    OUTPUT,
    click.option(
        "--fp16/--fp32",
        default=False,
        show_default=True,
        help="Compress FP32 weights to FP16 on save (changes the original outputs slightly).",
    ),
)
@preprocess_options
@section(
    PREPROCESSING,
    click.option(
        "--embed-preprocessing",
        is_flag=True,
        help="Build the recipe into the model: it then takes a uint8 BGR photo of any size [1, H, W, 3].",
    ),
)
def patch(
    model: Path,
    output: Path | None,
    batch: int | None,
    static_batch: int | None,
    labels: Path | None,
    embed_preprocessing: bool,
    fp16: bool,
    device: str | None,
    generic: bool,
    **options: Any,
) -> None:
    """Add a `saliency_map` output to MODEL (.xml, .onnx, ...) and save it as IR.

    A detector (YOLOX-style raw output, Ultralytics' [N, 4 + C, A], decoded boxes + scores, raw SSD regressors +
    logits) gets
    `detections` [B, K, 6] (x1, y1, x2, y2 in input pixels, score, class) and a map per detection,
    `saliency_map` [B, K, h, w]; --target then names its cut, one tensor per scale, comma-separated.

    Preprocessing flags and --labels are stored in the model's rt_info (model_info), so that
    `explain` needs no flags later; a labels.txt beside MODEL is stored there too.

    Examples:

    \b
      ov-reciprocam patch samples/models/dog_breeds_mobilenetv2/dog_breeds_mobilenetv2.xml -o out/dog_xai.xml \\
          --mean 127.5 --scale 127.5 --rgb --interpolation cubic \\
          --labels samples/models/dog_breeds_mobilenetv2/labels.txt
      # OpenVINO's list forms work as well; --input-shape fixes the dynamic batch:
      ov-reciprocam patch samples/models/dog_breeds_mobilenetv2/dog_breeds_mobilenetv2.xml -o out/dog_b1_xai.xml \\
          --input-shape "[1,160,160,3]" --mean "[127.5,127.5,127.5]" --scale 127.5 --rgb --kernel gaussian
      # A detector: its 5 best detections, each with a map, masked at the cut found from its structure:
      ov-reciprocam patch samples/models/detection/yolox_nano/yolox_nano.onnx -o out/yolox_xai.xml --detections 5
    """
    from ..analysis.head import output_name, shape_text
    from ..inference.device import check_device
    from ..inference.probe import verify
    from ..model.formats import save_model
    from ..model.rt_info import DetectionInfo, PatchInfo
    from ..output import files
    from ..patching import patch as patch_model
    from ..photos.preprocess import Preprocess
    from ..vocabulary import PatchOptions

    if device:  # refused before the model is read and patched, not after
        device = check_device(device)
    if batch is not None and static_batch is not None:
        raise click.UsageError("use either --batch or --static-batch")
    output = files.check_output_file(output or model.with_name(f"{model.stem}_xai.xml"))
    recipe = recipe_from(options)
    chosen = PatchOptions.of(
        batch=static_batch or batch,
        static=static_batch is not None,
        fast=not generic,
        recipe=recipe,
        labels=labels_from(labels),
        embed_preprocessing=embed_preprocessing,
        detection=detection_from(options),
        **options,
    )
    patched = patch_model(model, chosen)
    if (detector := DetectionInfo.read(patched)) is not None:
        _save_detector(patched, detector, output, fp16, device)
        return
    recorded = recipe_for(patched, strict=False) if Preprocess.has_recipe(patched) else None
    if recorded is not None and (recipe.given or embed_preprocessing):  # a recipe given is recorded
        embedded = " (embedded)" if embed_preprocessing else ""
        click.echo(f"preprocess {recorded.describe()}{embedded}")
    # One inference before anything is written: a model read wrong still runs, and would give NaN or
    # probabilities that do not sum to 1 (checked on the device asked for, else on the CPU).
    verify(patched, device or "CPU", recorded)
    save_model(patched, output, compress_to_fp16=fp16)
    info = PatchInfo.read(patched)
    assert info is not None  # patch records it
    outputs = ", ".join(f"{output_name(patched, i)} {shape_text(o)}" for i, o in enumerate(patched.outputs))
    click.echo(f"target    {info.target} ({info.layout}, {'x'.join(map(str, info.feature_shape))})")
    click.echo(f"tail      {info.path}")
    click.echo(f"classes   {info.classes} ({info.score_kind.value}), scored by {info.score.value}")
    click.echo(f"outputs   {outputs}")
    if device:
        click.echo(f"compiled  on {device}")
    click.echo(f"saved     {output}")


def _save_detector(patched: Any, info: Any, output: Path, fp16: bool, device: str | None) -> None:
    """Save a patched detector and say what it reads (the classifier probe has no detector check)."""
    import openvino as ov

    from ..analysis.head import output_name, shape_text
    from ..model.formats import save_model

    if device:
        ov.Core().compile_model(patched, device)
    save_model(patched, output, compress_to_fp16=fp16)
    outputs = ", ".join(f"{output_name(patched, i)} {shape_text(o)}" for i, o in enumerate(patched.outputs))
    click.echo(f"detector  {info.detector} ({info.levels}), {info.classes} classes")
    click.echo(f"cut       {', '.join(info.cut)}; copies {info.copy_grid[0]}x{info.copy_grid[1]}")
    click.echo(
        f"kept      {info.detections} detections, score >= {info.score_threshold:g}, NMS IoU {info.iou_threshold:g}"
    )
    click.echo(f"outputs   {outputs}")
    if device:
        click.echo(f"compiled  on {device}")
    click.echo(f"saved     {output}")


def _inspect_detector(loaded: Any) -> bool:
    """Print what a detector's graph says (outputs, anchors, cut, copies); False when `loaded` is no detector."""
    from ..analysis.head import output_name, shape_text
    from ..methods.detection.locate import locate_detector
    from ..vocabulary import DetectionOptions, DetectorKind

    found = locate_detector(loaded, DetectionOptions())
    if found is None:
        return False
    head = found.head
    roles = {head.scores_index: "scores", head.boxes_index: "boxes"}
    if head.scores_index == head.boxes_index:
        roles = {head.scores_index: "boxes (raw grid offsets), objectness and class scores"}
        if head.kind is DetectorKind.ANCHORS_LAST:
            roles = {head.scores_index: "box centres and sizes in pixels, then class scores; anchors last"}
    click.echo("outputs:")
    for i, value in enumerate(loaded.outputs):
        click.echo(f"  {output_name(loaded, i)}  {shape_text(value)}  {roles.get(i, '')}")
    levels = ", ".join(f"{v.height}x{v.width}x{v.per_cell}" for v in found.levels)
    click.echo(f"detector  {head.kind}: {head.anchors} anchors ({levels}: rows x columns x anchors per cell)")
    click.echo(f"classes   {head.classes}{' (a background column aside)' if head.background else ''}")
    click.echo(
        f"defaults  score >= {found.score_threshold:g}, NMS IoU {found.iou_threshold:g}, {found.detections} kept"
    )
    click.echo(
        "cut (one tensor per scale, where the neck begins, or the stage of heads that read one cell; --target takes "
        "these names, comma-separated):"
    )
    for name, t in zip(found.cut.names, found.cut.tensors, strict=True):
        click.echo(f"  {name}  {'x'.join(str(d.get_length()) for d in t.get_partial_shape()[1:])}")
    click.echo(
        f"copies    {found.copy_grid[0]}x{found.copy_grid[1]} "
        "(the coarsest cut grid with 8 cells on its short side; --copy-grid)"
    )
    return True


@click.command(cls=GroupedCommand, short_help="List a model's outputs and the feature maps to explain.")
@click.argument("model", type=click.Path(path_type=Path))
@scores_output_option
@target_layout_option
@input_shape_option
def inspect(
    model: Path, scores_output: str | None, target_layout: str | None, input_shape: tuple[int, ...] | None
) -> None:
    """List MODEL's outputs with what each was taken for, and the feature maps it could be explained at
    (a detector: its anchor layout, the cut tensors per scale and the copy grid).

    Examples:

    \b
      ov-reciprocam inspect samples/models/coral/mobilenet_v1_0.25_128_quant.tflite
      ov-reciprocam inspect samples/models/dog_breeds_mobilenetv2/dog_breeds_mobilenetv2.xml --input-shape 1,160,160,3
      ov-reciprocam inspect samples/models/detection/ultralight_rfb_320/version-RFB-320.onnx
    """
    from ..analysis.head import output_name, output_roles, shape_text
    from ..analysis.quantization import input_quantization
    from ..methods import locate_family
    from ..model.formats import read_model
    from ..model.reshape import set_input_shape
    from ..vocabulary import PatchOptions

    loaded = read_model(model)
    if input_shape:
        set_input_shape(loaded, input_shape)
    if _inspect_detector(loaded):
        return
    click.echo("outputs:")
    for role in output_roles(loaded):
        click.echo(f"  {role.name}  {role.shape}  {role.text}")
    # A transformer's candidates are its blocks' inputs; a CNN's, its spatial maps.
    located = locate_family(loaded, PatchOptions.of(scores_output=scores_output, target_layout=target_layout)).located
    scores = loaded.outputs[located.output_index]
    logits = "tail ends at the logits before it" if located.logits is not None else "no logits per class"
    name = output_name(loaded, located.output_index)
    d, dtype = located.dequantize, scores.get_element_type().to_dtype().name
    quantized = "" if d.identity else f", quantized {dtype}: {d}"
    click.echo(f"class scores  {name} {shape_text(scores)} ({located.kind.value}{quantized}; {logits})")
    if (q := input_quantization(loaded)) is not None:
        low, high = q.real_range()
        click.echo(f"input         {q.dtype}, dequantized to [{low:g}, {high:g}]: {q.dequantize}")
    click.echo("candidate targets (on every path to the scores, input to output):")
    click.echo("  (the first column is a name --target takes and that a later read of the model finds again)")
    width = max(len(c.reference) for c in located.candidates)
    for c in located.candidates:
        mark = "  <- auto" if c.reference == located.target.reference else ""
        names = f"  tensors: {', '.join(c.tensor_names)}" if len(c.tensor_names) > 1 else ""
        size = "x".join(str(d) if d >= 0 else "?" for d in c.shape)  # ?: follows the input size
        click.echo(f"  {c.reference:<{width}}  {c.layout or '?'} {size}  op {c.name}{names}{mark}")


COMMANDS = (patch, inspect)
