"""The public `patch()`: locate, build, attach, and record what was done in rt_info."""

from __future__ import annotations

import os

import openvino as ov

from .errors import ReciproCamError
from .methods import saliency, scoring
from .methods.cnn import build
from .methods.cnn.locate import locate
from .methods.vit import build as vit_graph
from .methods.vit.locate import TokenLocated, locate_tokens
from .model import rt_info as info
from .model.formats import first_line, read_model
from .model.labels import labels_beside, labels_of, write_labels
from .model.reshape import batch_free_pattern, set_reshape_pattern
from .vocabulary import Kernel, Score

SCORES = tuple(s.value for s in Score)


def is_patched(model: ov.Model) -> bool:
    """Does `model` already carry a saliency output (ours, or another tool's)?"""
    return info.PatchInfo.read(model) is not None or _foreign_saliency(model) is not None


def _foreign_saliency(model: ov.Model) -> int | None:
    """The index of a `saliency_map` output that another tool (openvino_xai, OTX, Geti) added, if any."""
    if info.PatchInfo.read(model) is not None:
        return None
    return next((i for i, o in enumerate(model.outputs) if saliency.SALIENCY in o.get_names()), None)


def patch(
    model: ov.Model | str | os.PathLike,
    *,
    target: str | None = None,
    score: str | Score = Score.AUTO,
    scores_output: str | None = None,
    target_layout: str | None = None,
    normalize: bool = True,
    uint8: bool = False,
    batch: int | None = None,
    static: bool = False,
    top_k: int | None = None,
    upsample: bool = False,
    fast: bool = True,
    replace: bool = False,
    kernel: str = "gaussian",
    input_shape: tuple[int, ...] | None = None,
) -> ov.Model:
    """Return a copy of `model` with a `saliency_map` output [B, classes, H, W] computed by Recipro-CAM.

    model: an ov.Model or a path (.xml, .onnx, or anything openvino.convert_model reads).
    target: friendly name or tensor name of the feature map to explain; None finds the last conv block.
    score: "auto" (softmax for single-label models, sigmoid for multi-label ones), "softmax" (the
        paper's choice), "logits" (openvino_xai's) or "sigmoid" (per label).
    scores_output: the name of the model output holding the class scores, where structure leaves a choice.
    target_layout: "NCHW" or "NHWC" for the target, where no op around it says.
    normalize: min-max scale each map to [0, 1] per image and class.
    uint8: emit maps as u8 in [0, 255] (needs normalize).
    batch: reshape the input batch first; -1 makes it dynamic.
    static: insist that every shape in the result is static (NPU needs it); set `batch` with it.
    top_k: keep only the maps of each image's k best classes, plus `saliency_classes` [B, k].
    upsample: resize the maps to the input's height and width in-graph.
    fast: use the exact shortcuts for pooled and flatten+linear tails (False: always the mosaic).
    replace: drop a `saliency_map` output another tool added, and add ours.
    kernel: for transformers, "gaussian" (each patch token's 3x3 neighbourhood) or "onehot".
    input_shape: reshape the input first (-1 for a dynamic dimension): models exported with a dynamic
        height and width are explained at one size.
    """
    from . import __version__

    try:
        score = Score(score)
    except ValueError:
        raise ReciproCamError(f"score must be one of {', '.join(SCORES)}, got '{score}'") from None
    if uint8 and not normalize:
        raise ReciproCamError("uint8 maps need normalize=True: raw scores have no fixed range to quantize")
    source, model = model, read_model(model)
    if info.PatchInfo.read(model) is not None:
        raise ReciproCamError("the model already has a saliency_map output (it was patched before)")
    if (foreign := _foreign_saliency(model)) is not None:
        if not replace:
            raise ReciproCamError(
                "the model carries another tool's saliency_map output (openvino_xai, OTX, Geti); "
                "--replace drops it and adds ours"
            )
        model.remove_result(model.get_results()[foreign])
    if input_shape is not None:
        set_input_shape(model, input_shape)
    if batch is not None:
        set_batch(model, batch)
    kernel = _kernel(kernel)
    tokens = locate_sized_tokens(model, target, scores_output)  # a token transformer takes the ViT-ReciproCAM path
    located = tokens.located if tokens else locate(model, target, scores_output, target_layout)
    if top_k is not None and not 1 <= top_k <= located.classes:
        raise ReciproCamError(f"top_k must be between 1 and the number of classes ({located.classes}), got {top_k}")
    how = scoring.score_source(located, score)
    picks = scoring.top_classes(located, top_k) if top_k else None
    if tokens:
        scores = vit_graph.tail_scores(model, tokens, how, kernel, fast=fast)
    else:
        scores = build.tail_scores(model, located, how, fast=fast, picks=picks)
    outputs = saliency.saliency(
        scores,
        located,
        activation=how.activation,
        normalize=normalize,
        uint8=uint8,
        picks=picks,
        upsample=input_size(model) if upsample else None,
    )
    saliency.attach(model, outputs)
    if static:
        require_static(model)
    t = located.target
    info.PatchInfo(
        version=__version__,
        target=t.reference,
        layout=t.layout,
        feature_shape=t.shape,
        classes=located.classes,
        output_index=located.output_index,
        score_kind=located.kind,
        score=score.resolve(located.kind),
        normalize=normalize,
        dtype="u8" if uint8 else "f32",
        tail=scores.kind,
        picked=scores.picked,
        top_k=top_k or 0,
        upsampled=upsample,
        kernel=kernel.value if tokens else None,
        prefix_tokens=tokens.prefix if tokens else 0,
        scores_scale=located.dequantize.scale,
        scores_zero_point=located.dequantize.zero_point,
    ).write(model)
    info.write_model_api_type(model, multilabel=located.kind.multilabel)
    # Labels travel with the model: a labels.txt beside the source is not beside the output.
    if labels_of(model) is None and (names := labels_beside(source)):
        write_labels(model, names)
    return model


def _kernel(name: str) -> Kernel:
    try:
        return Kernel(name)
    except ValueError:
        kinds = ", ".join(k.value for k in Kernel)
        raise ReciproCamError(f"kernel must be one of {kinds}, got '{name}' (--kernel)") from None


def input_size(model: ov.Model) -> tuple[int, int]:
    """(height, width) of the single image input, whichever its layout."""
    from .inference.preprocess import input_layout

    shape = model.get_parameters()[0].get_partial_shape()
    dims = input_layout(shape).spatial(shape)
    if not all(d.is_static for d in dims):
        raise ReciproCamError(f"cannot upsample to an input of dynamic size {shape}; reshape the model first")
    return dims[0].get_length(), dims[1].get_length()


def require_static(model: ov.Model) -> None:
    """Raise unless every tensor in `model` has a static shape."""
    for op in model.get_ordered_ops():
        for out in op.outputs():
            if out.get_partial_shape().is_dynamic:
                raise ReciproCamError(
                    f"'{op.get_friendly_name()}' has the dynamic shape {out.get_partial_shape()}; "
                    "set a static batch and input size for devices that need static shapes (NPU)"
                )


def locate_sized_tokens(model: ov.Model, target: str | None, scores_output: str | None) -> TokenLocated | None:
    """`locate_tokens`, with an input of open size fixed to the one the position embeddings demand, so that
    applications (and `explain`) can read it off the model."""
    tokens = locate_tokens(model, target, scores_output)
    if tokens and tokens.input_size:
        shape = model.get_parameters()[0].get_partial_shape()
        batch = shape[0].get_length() if shape[0].is_static else -1
        set_input_shape(model, (batch, shape[1].get_length(), *tokens.input_size))
        tokens = locate_tokens(model, target, scores_output)
    return tokens


def set_input_shape(model: ov.Model, dims: tuple[int, ...]) -> None:
    """Reshape the single input to `dims` (-1: dynamic), or a one-line error naming --input-shape."""
    param = model.get_parameters()[0]
    rank = param.get_partial_shape().rank
    if rank.is_static and rank.get_length() != len(dims):
        raise ReciproCamError(
            f"--input-shape has {len(dims)} dimensions, the input {param.get_partial_shape()} has {rank.get_length()}"
        )
    try:
        model.reshape({param.output(0): ov.PartialShape([ov.Dimension(d) for d in dims])})
    except Exception as exc:
        raise ReciproCamError(f"cannot reshape the input to {list(dims)} (--input-shape): {first_line(exc)}") from None


def set_batch(model: ov.Model, batch: int) -> None:
    """Reshape the single input's first (batch) dimension; -1 makes it dynamic."""
    if batch == 0 or batch < -1:
        raise ReciproCamError(f"batch must be a positive number or -1 (dynamic), got {batch}")
    param = model.get_parameters()[0]
    shape = param.get_partial_shape()
    if shape.rank.is_dynamic:
        raise ReciproCamError("the model input has a dynamic rank; reshape it to a fixed image shape first")
    for op in model.get_ordered_ops():
        if op.get_type_name() == "Reshape" and (pattern := batch_free_pattern(op, shape[0])) is not None:
            set_reshape_pattern(op, pattern)
    shape[0] = ov.Dimension(-1) if batch == -1 else ov.Dimension(batch)
    try:
        model.reshape({param.output(0): shape})
    except Exception as exc:
        raise ReciproCamError(f"cannot set the batch to {batch}: {first_line(exc)}") from None
