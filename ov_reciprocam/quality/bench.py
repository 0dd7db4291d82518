"""Measure what the saliency output costs: plain and patched models side by side, interleaved.

Both compiled models run alternately on the same input, so machine noise hits both alike; the
ratio of their medians is the number to read. The floor is what exact Recipro-CAM cannot avoid:
the part of the tail that must run once per spatial position, in multiply-accumulates.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import openvino as ov

from ..errors import ReciproCamError
from ..inference.device import compile_for
from ..methods.base import Located
from ..methods.cnn import tails
from ..methods.cnn.locate import locate
from ..methods.saliency import SALIENCY, SALIENCY_CLASSES
from ..methods.vit.locate import TokenLocated
from ..methods.vit.shortcut import closed_form_cost
from ..model.formats import read_model
from ..model.rt_info import PatchInfo
from ..patching import is_patched, locate_sized_tokens, patch, set_batch, set_input_shape


@dataclass
class Measurement:
    batch: int
    plain_ms: float
    patched_ms: float
    ratio: float
    plain_images_per_s: float
    patched_images_per_s: float
    floor: float
    path: str
    runs: int


def strip_saliency(model: ov.Model) -> ov.Model:
    """The model as it was before patching: the original outputs only."""
    kept = [r for r in model.get_results() if not ({SALIENCY, SALIENCY_CLASSES} & r.output(0).get_names())]
    return ov.Model(kept, model.get_parameters(), model.get_friendly_name())


def macs(op: ov.Node) -> int:
    """Multiply-accumulates of one convolution or MatMul at its static shapes (0 for other ops)."""
    kind = op.get_type_name()
    out = op.get_output_partial_shape(0)
    if kind not in ("Convolution", "GroupConvolution", "MatMul") or not out.is_static:
        return 0
    weights = op.get_input_partial_shape(1)
    if not weights.is_static:
        return 0
    w = list(weights.get_shape())
    outputs = int(np.prod(list(out.get_shape())))
    if kind == "Convolution":  # [Cout, Cin, kh, kw]
        return outputs * int(np.prod(w[1:]))
    if kind == "GroupConvolution":  # [G, Cout/G, Cin/G, kh, kw]
        return outputs * int(np.prod(w[2:]))
    a = list(op.get_input_partial_shape(0).get_shape()) if op.get_input_partial_shape(0).is_static else None
    if a is None:
        return 0
    contraction = a[-2] if op.get_attributes()["transpose_a"] else a[-1]
    return outputs * contraction


def floor_ratio(plain: ov.Model, located: Located, plan: tails.TailPlan, picked: int | None = None) -> float:
    """1 + the MACs the saliency branch must add / the model's MACs, for the path taken.

    picked: the k classes whose logits the final linear layer computes per copy (top-k logits maps).
    """
    ops = plain.get_ordered_ops()
    total = sum(macs(op) for op in ops)
    per_copy = {op.get_instance_id(): macs(op) for op in ops if op.get_instance_id() in located.tail}
    if picked and (final := tails.final_linear(located)) is not None:
        per_copy[final.matmul.get_instance_id()] = macs(final.matmul) * picked // located.classes
    hw = located.target.height * located.target.width
    if plan.kind is tails.TailKind.POOLED:
        for op in plan.chain:  # per-pixel ops run once, in the original model
            per_copy.pop(op.get_instance_id())
        extra = sum(per_copy.values()) * hw
    elif plan.kind is tails.TailKind.FLATTEN_LINEAR:
        first = per_copy.pop(plan.head.get_instance_id())
        extra = first + sum(per_copy.values()) * hw
    else:
        extra = sum(per_copy.values()) * hw
    return 1.0 + extra / total if total else float("nan")


def token_floor_ratio(plain: ov.Model, found: TokenLocated, info: PatchInfo) -> float:
    """1 + the MACs ViT-ReciproCAM must add / the model's: the tail once per copy for the mosaic; for the
    closed form, per copy the token rows it computes through the ops after the attention, and their attention."""
    ops = plain.get_ordered_ops()
    total = sum(macs(op) for op in ops)
    t = found.located.target
    cost = None
    if info.tail in (tails.TailKind.TOKENS_PREFIX, tails.TailKind.TOKENS_MEAN):
        cost = closed_form_cost(plain, found, gaussian=info.kernel == "gaussian")
    if cost is None:
        per_copy = sum(macs(op) for op in ops if op.get_instance_id() in found.located.tail)
    else:
        shares, attention = cost
        per_copy = attention + sum(macs(op) * shares.get(op.get_instance_id(), 0.0) for op in ops)
    return 1.0 + t.height * t.width * per_copy / total if total else float("nan")


def ir_growth(plain: ov.Model, patched: ov.Model) -> int:
    """Bytes the patched IR (.xml + .bin) adds to the plain one, both saved without FP16 compression."""
    sizes = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, model in (("plain", plain), ("patched", patched)):
            ov.save_model(model, f"{tmp}/{label}.xml", compress_to_fp16=False)
            sizes.append(sum(Path(f"{tmp}/{label}{suffix}").stat().st_size for suffix in (".xml", ".bin")))
    return sizes[1] - sizes[0]


def random_input(model: ov.Model) -> np.ndarray:
    """A seeded random input; a dynamic batch becomes 1."""
    param = model.get_parameters()[0]
    shape = param.get_partial_shape()
    if any(d.is_dynamic for d in shape[1:]):
        raise ReciproCamError(f"the input shape {shape} is not static; reshape the model to a fixed image size")
    dims = [shape[0].get_length() if shape[0].is_static else 1] + [d.get_length() for d in shape[1:]]
    dtype = param.get_element_type().to_dtype()
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, 256, dims).astype(dtype)
    return rng.standard_normal(dims).astype(dtype)


def measure(
    source: ov.Model | str | os.PathLike,
    *,
    device: str = "CPU",
    batches: tuple[int, ...] = (1,),
    seconds: float = 10.0,
    config: dict | None = None,
    progress: Callable[[float], None] | None = None,  # called with the fraction of the whole run done
    **patch_options,
) -> list[Measurement]:
    """Plain vs patched latency per batch size, `seconds` split across the batch sizes.

    A patched model is measured as it is, against itself without the saliency outputs.
    """
    loaded = read_model(source)
    ours = PatchInfo.read(loaded)
    given_patched = ours is not None  # another tool's saliency_map: patch() below says what to do
    target = ours.target if given_patched else patch_options.get("target")
    head = {} if given_patched else {k: patch_options.get(k) for k in ("scores_output", "target_layout")}
    results = []
    for index, batch in enumerate(batches):
        if given_patched:
            patched = read_model(loaded)
            set_batch(patched, batch)
            # From its own copy: compiling two models that share nodes crashed the CPU plugin.
            plain = strip_saliency(read_model(patched))
        else:
            plain = read_model(loaded)
            if patch_options.get("input_shape"):
                set_input_shape(plain, patch_options["input_shape"])
            set_batch(plain, batch)
            patched = patch(loaded, batch=batch, **patch_options)
        tokens = locate_sized_tokens(plain, target, head.get("scores_output"))
        if tokens is None:
            located = locate(plain, target, head.get("scores_output"), head.get("target_layout"))
            plan = tails.plan(plain, located)
        compiled = (compile_for(plain, device, config), compile_for(patched, device, config))
        image = random_input(plain)
        for c in compiled:  # first runs allocate memory and pick kernels
            c(image)
        times: tuple[list[float], list[float]] = ([], [])
        budget = seconds / len(batches)
        start = time.perf_counter()
        while time.perf_counter() - start < budget or len(times[0]) < 3:
            # Swap who goes first every round: the second of a pair finds warmer caches.
            pairs = list(zip(compiled, times, strict=True))
            for c, bucket in pairs if len(times[0]) % 2 == 0 else pairs[::-1]:
                t0 = time.perf_counter()
                c(image)
                bucket.append((time.perf_counter() - t0) * 1e3)
            if progress:
                progress((index + min(1.0, (time.perf_counter() - start) / budget)) / len(batches))
        plain_ms, patched_ms = (float(np.median(t)) for t in times)
        info = PatchInfo.read(patched)
        results.append(
            Measurement(
                batch=batch,
                plain_ms=plain_ms,
                patched_ms=patched_ms,
                ratio=patched_ms / plain_ms,
                plain_images_per_s=batch * 1e3 / plain_ms,
                patched_images_per_s=batch * 1e3 / patched_ms,
                floor=token_floor_ratio(plain, tokens, info)
                if tokens
                else floor_ratio(plain, located, plan, picked=info.top_k if info.picked else None),
                path=info.path,
                runs=len(times[0]),
            )
        )
    return results


def as_dicts(measurements: list[Measurement]) -> list[dict]:
    return [asdict(m) for m in measurements]


def baselines(
    source: ov.Model | str | os.PathLike,
    ours: Measurement,
    *,
    device: str = "CPU",
    config: dict | None = None,
    rise_masks: int = 4000,
) -> dict[str, dict]:
    """Wall time per image of Score-CAM and RISE on the plain model, and how many times ours that is."""
    from ..inference.preprocess import input_layout
    from .baselines import BlackBox, rise, score_cam

    plain = read_model(source)
    if is_patched(plain):
        plain = strip_saliency(plain)
    layout = input_layout(plain.get_parameters()[0].get_partial_shape())
    box = BlackBox.build(plain, layout, device=device, config=config)
    image = random_input(plain)[0]
    ours_ms = ours.patched_ms / ours.batch
    report = {}
    for name, method in (("score-cam", score_cam), ("rise", lambda b, x, c: rise(b, x, c, masks=rise_masks))):
        start = time.perf_counter()
        method(box, image, 0)
        ms = (time.perf_counter() - start) * 1e3
        report[name] = {"ms_per_image": ms, "times_ours": ms / ours_ms}
    return report
