"""The public `patch()`: read, find the family that explains the model, build its branch, record what was done."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import openvino as ov

from .analysis.inputs import input_size
from .errors import ReciproCamError
from .methods import FAMILIES, locate_family
from .methods.detection.build import branch
from .methods.detection.locate import FoundDetector, locate_detector
from .methods.protocol import Found
from .methods.saliency import SALIENCY, attach, saliency
from .methods.scoring import CopyScores, score_source, top_classes
from .model.formats import read_model
from .model.labels import labels_beside, labels_of, write_labels
from .model.reshape import require_static, set_batch, set_input_shape
from .model.rt_info import DetectionInfo, PatchInfo, write_model_api_type
from .photos.preprocess import recipe_for
from .vocabulary import DetectionOptions, PatchOptions, Score


def is_patched(model: ov.Model) -> bool:
    """Does `model` already carry a saliency output (ours, or another tool's)?"""
    return _ours(model) or _foreign_saliency(model) is not None


def _ours(model: ov.Model) -> bool:
    return PatchInfo.read(model) is not None or DetectionInfo.read(model) is not None


def _foreign_saliency(model: ov.Model) -> int | None:
    """The index of a `saliency_map` output that another tool (openvino_xai, OTX, Geti) added, if any."""
    if _ours(model):
        return None
    return next((i for i, o in enumerate(model.outputs) if SALIENCY in o.get_names()), None)


def patch(model: ov.Model | str | os.PathLike, options: PatchOptions | None = None, **keywords: object) -> ov.Model:
    """Return a copy of `model` with a `saliency_map` output [B, classes, H, W] computed by Recipro-CAM; for a
    detector, `detections` [B, K, 6] and a map per detection, `saliency_map` [B, K, h, w] (`detection`).

    model: an ov.Model or a path (.xml, .onnx, .tflite, or anything openvino.convert_model reads).
    options, keywords: a PatchOptions, or its fields as keywords (target="...", top_k=3, recipe=Recipe(...),
        labels=[...]); keywords win. The recipe and labels go into rt_info as `ov-reciprocam patch` writes them.
    """
    o = PatchOptions.of(options, **keywords)
    source, model = model, read_model(model)
    _make_room(model, o.replace)
    if o.input_shape is not None:
        set_input_shape(model, o.input_shape)
    if o.batch is not None:
        set_batch(model, o.batch)
    if (detector := locate_detector(model, _detection_options(o))) is not None:
        return _patch_detector(model, source, detector, o)
    found = locate_family(model, o)
    o = replace(o, kernel=o.kernel or found.family.kernel)
    located = found.located
    if o.top_k is not None and not 1 <= o.top_k <= located.classes:
        raise ReciproCamError(f"`top_k` must be between 1 and the number of classes ({located.classes}), got {o.top_k}")
    names, origin = (list(o.labels), "`labels`") if o.labels else _labels_beside(model, source)
    check_labels(names, located.classes, origin)
    how = score_source(located, o.score)
    picks = top_classes(located, o.top_k) if o.top_k else None
    scores = found.family.tail_scores(model, found, how, o, picks)
    size = input_size(model) if o.upsample else None
    attach(
        model,
        saliency(
            scores, located, activation=how.activation, normalize=o.normalize, uint8=o.uint8, picks=picks, upsample=size
        ),
    )
    if o.static:
        require_static(model)
    _record(model, found, scores, o)
    return _carry_recipe_and_labels(model, names, o)


def check_labels(labels: list[str] | None, classes: int, origin: str = "`labels`") -> None:
    """Refuse class names that do not match the classes one to one: every label past the first miscount would
    name the wrong class (here, and in every later run that reads them from rt_info)."""
    if labels and len(labels) != classes:
        fix = "" if origin == "`labels`" else "; give `labels` to override them"
        raise ReciproCamError(
            f"{origin} has {len(labels)} class names for a model with {classes} classes: it needs one per class, "
            f"in class order{fix}"
        )


def _labels_beside(model: ov.Model, source: object) -> tuple[list[str] | None, str]:
    """The labels.txt beside the source to carry into rt_info, unless rt_info has labels already."""
    return (None if labels_of(model) else labels_beside(source)), f"the labels.txt beside {source}"


def _make_room(model: ov.Model, replace: bool) -> None:
    """Refuse a model patched before; drop another tool's saliency output when asked to."""
    if _ours(model):
        raise ReciproCamError("the model already has a saliency_map output (it was patched before)")
    if (foreign := _foreign_saliency(model)) is not None:
        if not replace:
            raise ReciproCamError(
                "the model carries another tool's saliency_map output (openvino_xai, OTX, Geti); "
                "`replace` drops it and adds ours"
            )
        model.remove_result(model.get_results()[foreign])


def _record(model: ov.Model, found: Found[Any], scores: CopyScores, o: PatchOptions) -> None:
    from .version import __version__

    located, t = found.located, found.located.target
    assert t.layout is not None  # a target always has one
    PatchInfo(
        version=__version__,
        target=t.reference,
        layout=t.layout,
        feature_shape=t.shape,
        classes=located.classes,
        output_index=located.output_index,
        score_kind=located.kind,
        score=o.score.resolve(located.kind),
        normalize=o.normalize,
        dtype="u8" if o.uint8 else "f32",
        tail=scores.kind,
        picked=scores.picked,
        top_k=o.top_k or 0,
        upsampled=o.upsample,
        kernel=o.kernel,
        scores_scale=located.dequantize.scale,
        scores_zero_point=located.dequantize.zero_point,
        family_fields={k: v for f in FAMILIES for k, v in f.blank_record.items()} | found.family.record(found, o),
    ).write(model)
    write_model_api_type(model, multilabel=located.kind.multilabel)


# What only a classifier's maps take, each as the value that leaves it unset.
_CLASSIFIER_ONLY = {
    "top_k": None,
    "scores_output": None,
    "target_layout": None,
    "kernel": None,
    "score": Score.AUTO,
    "normalize": True,
    "uint8": False,
    "upsample": False,
    "fast": True,
}


def _detection_options(o: PatchOptions) -> DetectionOptions:
    """`detection`, with `target` as a detector's cut (comma-separated tensor names), as the CLI's --target gives it."""
    if o.target is None:
        return o.detection
    if o.detection.cut is not None:
        raise ReciproCamError("give a detector's cut once: as `target` or as `detection`'s `cut`, not both")
    return replace(o.detection, cut=tuple(name.strip() for name in o.target.split(",")))


def _patch_detector(model: ov.Model, source: object, found: FoundDetector, o: PatchOptions) -> ov.Model:
    """The detector's branch (`methods.detection`), its record, the recipe and labels."""
    from .version import __version__

    given = [name for name, unset in _CLASSIFIER_ONLY.items() if getattr(o, name) != unset]
    if given:
        raise ReciproCamError(
            f"`{given[0]}` is for classifiers; a detector's maps are told what to explain by `detection`"
        )
    head = found.head
    names, origin = (list(o.labels), "`labels`") if o.labels else _labels_beside(model, source)
    check_labels(names, head.classes, origin)
    attach(model, branch(model, found))
    if o.static:
        require_static(model)
    DetectionInfo(
        version=__version__,
        detector=head.kind,
        cut=found.cut.names,
        copy_grid=found.copy_grid,
        detections=found.detections,
        score_threshold=found.score_threshold,
        iou_threshold=found.iou_threshold,
        classes=head.classes,
        levels=",".join(f"{v.height}x{v.width}x{v.per_cell}" for v in found.levels),
    ).write(model)
    return _carry_recipe_and_labels(model, names, o)


def _carry_recipe_and_labels(model: ov.Model, names: list[str] | None, o: PatchOptions) -> ov.Model:
    """The recipe and labels into rt_info (model_info), so later runs need no options; the recipe built into the
    model with `embed_preprocessing`. Labels from `labels`, else a labels.txt beside the source, which is not
    beside the output."""
    if o.recipe.given or o.embed_preprocessing:
        preprocess = recipe_for(model, o.recipe, strict=False)
        preprocess.write_rt_info(model, names)
        return preprocess.embed(model) if o.embed_preprocessing else model
    if names:
        write_labels(model, names)
    return model
