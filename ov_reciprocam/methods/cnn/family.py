"""The CNN family: Recipro-CAM on the last spatial feature map every path to the scores goes through."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import openvino as ov

from ...analysis.cost import macs
from ...model.rt_info import PatchInfo
from ...vocabulary import Kernel, Layout, PatchOptions
from ..base import Located
from ..kernels import keeps_cells_whole, weight_levels
from ..protocol import Found
from ..scoring import CopyScores, ScoreSource
from . import build, tails
from .locate import locate


class CnnFamily:
    """Any single-input classifier with a spatial map on the way to its scores: the family of last resort.

    All it reads later is in the shared Located: its answers own nothing more (`Found[None]`), and it records no
    fields of its own.
    """

    kernel = Kernel.ONEHOT
    blank_record: Mapping[str, str] = {}

    def locate(self, model: ov.Model, options: PatchOptions) -> Found[None]:
        return Found(self, locate(model, options.target, options.scores_output, options.target_layout), None)

    def tail_scores(
        self, model: ov.Model, found: Found[None], source: ScoreSource, options: PatchOptions, picks: ov.Output | None
    ) -> CopyScores:
        kernel = options.kernel or self.kernel
        return build.tail_scores(model, found.located, source, fast=options.fast, picks=picks, kernel=kernel)

    def record(self, found: Found[None], options: PatchOptions) -> dict[str, str]:
        return {}

    def floor(self, plain: ov.Model, found: Found[None], info: PatchInfo) -> float:
        located = found.located
        generic = info.tail is tails.CnnTail.GENERIC
        plan = tails.TailPlan(tails.CnnTail.GENERIC) if generic else tails.plan(plain, located)
        picked = info.top_k if info.picked else None
        return _floor_ratio(plain, located, plan, picked=picked, kernel=info.kernel or Kernel.ONEHOT)

    def streamed_weights(self, plain: ov.Model, found: Found[None], info: PatchInfo) -> tuple[int, int] | None:
        """The flatten shortcut reads the first linear layer's W once more, each weight for one product (one row
        per image, as the original layer does): that costs W's bytes, not its MACs."""
        if info.tail is not tails.CnnTail.FLATTEN_LINEAR:
            return None
        head = tails.plan(plain, found.located).head
        assert head is not None  # the flatten plan's MatMul
        inputs = head.get_input_partial_shape(0)[1].get_length()
        return inputs, int(np.prod(head.get_input_partial_shape(1).to_shape())) // inputs


def _floor_ratio(
    plain: ov.Model, located: Located, plan: tails.TailPlan, picked: int | None = None, kernel: Kernel = Kernel.ONEHOT
) -> float:
    """1 + the MACs the saliency branch must add / the model's MACs, for the path taken.

    picked: the k classes whose logits the final linear layer computes per copy (top-k logits maps).
    kernel: a neighbourhood kernel adds, on the shortcuts, the [H*W, H*W] sums over positions, and on a
    pooled tail with per-pixel ops those ops once more per weight of the kernel.
    """
    ops = plain.get_ordered_ops()
    total = sum(macs(op) for op in ops)
    per_copy = {op.get_instance_id(): macs(op) for op in ops if op.get_instance_id() in located.tail}
    if picked and (final := tails.final_linear(located)) is not None:
        per_copy[final.matmul.get_instance_id()] = macs(final.matmul) * picked // located.classes
    hw = located.target.height * located.target.width
    spread = kernel is not Kernel.ONEHOT
    layout = located.target.layout
    assert layout is not None  # a target always has one
    if plan.kind is tails.CnnTail.POOLED:
        chain = sum(per_copy.pop(op.get_instance_id()) for op in plan.chain)  # per-pixel ops run in the original
        # per-pixel ops run again on F scaled by each weight, unless the original's g(F) serves
        levels = len(weight_levels(kernel)) if spread and plan.chain and not keeps_cells_whole(kernel) else 0
        width = located.target.channels if not plan.chain else _channels(plan.head, layout)
        sums = hw * max(levels, 1) * hw * width if spread else 0
        extra = sum(per_copy.values()) * hw + levels * chain + sums
    elif plan.kind is tails.CnnTail.FLATTEN_LINEAR:
        matmul = plan.head
        assert matmul is not None  # the flatten plan's MatMul
        first = per_copy.pop(matmul.get_instance_id())
        sums = hw * hw * matmul.get_output_partial_shape(0)[1].get_length() if spread else 0
        extra = first + sum(per_copy.values()) * hw + sums
    else:
        extra = sum(per_copy.values()) * hw
    return 1.0 + extra / total if total else float("nan")


def _channels(pool: ov.Node, layout: Layout) -> int:
    """The channels of the map a pooling op reads (per-pixel ops keep the target's layout)."""
    return pool.get_input_partial_shape(0)[1 if layout == Layout.NCHW else 3].get_length()


CNN = CnnFamily()
