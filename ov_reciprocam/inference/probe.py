"""One inference of a patched model on a probe input, refused when what it gives cannot be right.

A model read wrong (a quantize step missed, an input fed in the wrong type) still runs and gives
numbers; `explain` would print them. The probe runs the patched model once and names the cause
when scores or maps are NaN or infinite, or when a softmax output does not sum to about 1.
"""

from __future__ import annotations

from typing import overload

import numpy as np
import openvino as ov

from ..analysis.head import Role, kind_of, output_roles
from ..analysis.quantization import scores_behind
from ..errors import ReciproCamError
from ..methods.saliency import SALIENCY, SALIENCY_CLASSES
from ..model.rt_info import PatchInfo
from ..photos.preprocess import Preprocess
from ..vocabulary import ScoreKind
from .scores import probabilities

# A float softmax sums to 1 within float noise; this leaves room for f16 and bf16 outputs.
_SUM_TOLERANCE = 0.02


@overload
def probe_input(model: ov.Model, recipe: Preprocess) -> np.ndarray: ...
@overload
def probe_input(model: ov.Model, recipe: Preprocess | None = None) -> np.ndarray | None: ...
def probe_input(model: ov.Model, recipe: Preprocess | None = None) -> np.ndarray | None:
    """A batch for the model's input: a smooth synthetic photo through `recipe`, else seeded values of the
    input's type; a dynamic batch becomes 1. None for an input of open size and no recipe to size it."""
    param = model.get_parameters()[0]
    shape = param.get_partial_shape()
    batch = shape[0].get_length() if shape.rank.is_static and shape[0].is_static else 1
    if recipe is not None:
        y, x = np.mgrid[0:96, 0:128]
        photo = np.stack([x * 2, y * 2, (x + y)], axis=-1).clip(0, 255).astype(np.uint8)
        return np.repeat(recipe(photo)[None], batch, axis=0)
    if shape.rank.is_dynamic or any(d.is_dynamic for d in shape[1:]):
        return None
    dims = [batch] + [d.get_length() for d in shape[1:]]
    dtype = param.get_element_type().to_dtype()
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, 0), min(info.max, 255) + 1, dims).astype(dtype)
    return rng.standard_normal(dims).astype(dtype)


def check(compiled: ov.CompiledModel, model: ov.Model, inputs: np.ndarray) -> None:
    """Run the patched `model` (compiled) once on `inputs`; raise a one-line error when its output cannot be right."""
    info = PatchInfo.read(model)
    if info is None:
        raise ReciproCamError("the model has no saliency output of ours to check; patch it first")
    out = compiled(inputs)
    raw = out[compiled.output(info.output_index)]
    scores = probabilities(raw.reshape(raw.shape[0], -1).astype(np.float64), info.score_kind, info.dequantize)
    if not np.isfinite(raw).all():
        # The output as the model gives it, before we read anything into it: the model itself is broken.
        what = "NaN" if np.isnan(raw).any() else "infinite"
        raise ReciproCamError(
            f"the model's own output is {what} on a probe input: its weights are broken, or its input recipe "
            "(`mean`, `scale`) is"
        )
    if not np.isfinite(scores).all():
        other = "; is it the right output? `scores_output` picks another" if _candidate_outputs(model) > 1 else ""
        raise ReciproCamError(
            f"the class scores are NaN or infinite on a probe input: the model's scores output is not read right{other}"
        )
    if not np.isfinite(out[compiled.output(SALIENCY)]).all():
        raise ReciproCamError(
            "the saliency maps are NaN or infinite on a probe input, though the class scores are finite: try "
            "`score` logits, or another `target` (see `ov-reciprocam inspect`)"
        )
    if _is_plain_softmax(model, info.output_index):
        # Each quantized probability is off by up to half a step, and tiny ones round to 0.
        allowed = _SUM_TOLERANCE + info.classes * abs(info.scores_scale) / 2 * (not info.dequantize.identity)
        sums = scores.sum(axis=1)
        if np.abs(sums - 1.0).max() > allowed:
            worst = float(sums[np.abs(sums - 1.0).argmax()])
            raise ReciproCamError(
                f"the model's probabilities sum to {worst:.3g}, not 1, on a probe input: its scores output is not read "
                "right (a quantized output whose scale was missed?); pick another with `scores_output`"
            )


def _candidate_outputs(model: ov.Model) -> int:
    """How many of the model's own outputs (not the saliency ones we added) could hold the class scores."""
    ours = {SALIENCY, SALIENCY_CLASSES}
    outputs = model.outputs
    return sum(r.role is not Role.SKIPPED and not outputs[r.index].get_names() & ours for r in output_roles(model))


def _is_plain_softmax(model: ov.Model, output_index: int) -> bool:
    """The output is a softmax over every class (not sliced or scaled after it), maybe quantized."""
    scores, _ = scores_behind(model.get_results()[output_index].input_value(0))
    logits, kind = kind_of(scores)
    return kind is ScoreKind.PROBABILITIES and logits is not None


def verify(model: ov.Model, device: str = "CPU", recipe: Preprocess | None = None) -> ov.CompiledModel:
    """Compile the patched `model` for `device` and `check` it on a probe input (made by `recipe`, or from
    the input's type); a model of open input size and no recipe is only compiled. Returns the compiled model."""
    from .device import compile_for

    compiled = compile_for(model, device)
    if (inputs := probe_input(model, recipe)) is not None:
        check(compiled, model, inputs)
    return compiled
