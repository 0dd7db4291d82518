"""The CNN family: Recipro-CAM on the last spatial feature map every path to the scores goes through."""

from __future__ import annotations

import openvino as ov

from ...analysis.cost import macs
from ...model.rt_info import PatchInfo
from ...vocabulary import PatchOptions, TailKind
from ..base import Found, Located
from ..scoring import CopyScores, ScoreSource
from . import build, tails
from .locate import locate


class CnnFamily:
    """Any single-input classifier with a spatial map on the way to its scores: the family of last resort."""

    def locate(self, model: ov.Model, options: PatchOptions) -> Found:
        return Found(self, locate(model, options.target, options.scores_output, options.target_layout))

    def tail_scores(
        self, model: ov.Model, found: Found, source: ScoreSource, options: PatchOptions, picks: ov.Output | None
    ) -> CopyScores:
        return build.tail_scores(model, found.located, source, fast=options.fast, picks=picks)

    def record(self, found: Found, options: PatchOptions) -> dict[str, object]:
        return {}

    def floor(self, plain: ov.Model, found: Found, info: PatchInfo) -> float:
        located = found.located
        plan = tails.plan(plain, located) if info.tail is not TailKind.GENERIC else tails.TailPlan(info.tail)
        return _floor_ratio(plain, located, plan, picked=info.top_k if info.picked else None)


def _floor_ratio(plain: ov.Model, located: Located, plan: tails.TailPlan, picked: int | None = None) -> float:
    """1 + the MACs the saliency branch must add / the model's MACs, for the path taken.

    picked: the k classes whose logits the final linear layer computes per copy (top-k logits maps).
    """
    ops = plain.get_ordered_ops()
    total = sum(macs(op) for op in ops)
    per_copy = {op.get_instance_id(): macs(op) for op in ops if op.get_instance_id() in located.tail}
    if picked and (final := tails.final_linear(located)) is not None:
        per_copy[final.matmul.get_instance_id()] = macs(final.matmul) * picked // located.classes
    hw = located.target.height * located.target.width
    if plan.kind is TailKind.POOLED:
        for op in plan.chain:  # per-pixel ops run once, in the original model
            per_copy.pop(op.get_instance_id())
        extra = sum(per_copy.values()) * hw
    elif plan.kind is TailKind.FLATTEN_LINEAR:
        first = per_copy.pop(plan.head.get_instance_id())
        extra = first + sum(per_copy.values()) * hw
    else:
        extra = sum(per_copy.values()) * hw
    return 1.0 + extra / total if total else float("nan")


CNN = CnnFamily()
