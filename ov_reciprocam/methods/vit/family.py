"""The transformer family: ViT-ReciproCAM on the tokens entering the last transformer block."""

from __future__ import annotations

from collections.abc import Mapping

import openvino as ov

from ...analysis.cost import macs
from ...model.reshape import set_input_shape
from ...model.rt_info import PatchInfo
from ...vocabulary import Kernel, PatchOptions
from ..protocol import Found
from ..scoring import CopyScores, ScoreSource
from .build import tail_scores
from .locate import TokenLocated, locate_tokens
from .shortcut import TokenTail, closed_form_cost

# The prefix tokens (CLS, distillation) the maps leave out, as rt_info records them.
PREFIX_TOKENS = "prefix_tokens"


def recorded_prefix(info: PatchInfo) -> int:
    """The prefix tokens a patched model's record says (0 when another family explained it)."""
    return int(info.family_fields.get(PREFIX_TOKENS, 0))


class TokenFamily:
    """Models whose scores read patch tokens through transformer blocks (ViT, DeiT, BEiT and kin)."""

    kernel = Kernel.GAUSSIAN
    blank_record: Mapping[str, str] = {PREFIX_TOKENS: "0"}  # no prefix tokens, as every other model has always said

    def locate(self, model: ov.Model, options: PatchOptions) -> Found[TokenLocated] | None:
        """The token target; an input of open size is fixed to the one the position embeddings demand,
        so that applications (and `explain`) can read it off the model."""
        tokens = locate_tokens(model, options.target, options.scores_output)
        if tokens and tokens.input_size:
            shape = model.get_parameters()[0].get_partial_shape()
            batch = shape[0].get_length() if shape[0].is_static else -1
            set_input_shape(model, (batch, shape[1].get_length(), *tokens.input_size))
            tokens = locate_tokens(model, options.target, options.scores_output)
        return Found(self, tokens.located, tokens) if tokens else None

    def tail_scores(
        self,
        model: ov.Model,
        found: Found[TokenLocated],
        source: ScoreSource,
        options: PatchOptions,
        picks: ov.Output | None,
    ) -> CopyScores:
        return tail_scores(model, found.own, source, options.kernel or self.kernel, fast=options.fast)

    def record(self, found: Found[TokenLocated], options: PatchOptions) -> dict[str, str]:
        return {PREFIX_TOKENS: str(found.own.prefix)}

    def floor(self, plain: ov.Model, found: Found[TokenLocated], info: PatchInfo) -> float:
        return _token_floor_ratio(plain, found.own, info)

    def streamed_weights(self, plain: ov.Model, found: Found[TokenLocated], info: PatchInfo) -> tuple[int, int] | None:
        return None  # every weight the rows meet serves one row per copy: many rows, compute-bound


def _token_floor_ratio(plain: ov.Model, found: TokenLocated, info: PatchInfo) -> float:
    """1 + the MACs ViT-ReciproCAM must add / the model's: the tail once per copy for the mosaic; for the
    closed form, per copy the token rows it computes through the ops after the attention, and their attention."""
    ops = plain.get_ordered_ops()
    total = sum(macs(op) for op in ops)
    t = found.located.target
    cost = None
    if info.tail in (TokenTail.PREFIX, TokenTail.MEAN):
        cost = closed_form_cost(plain, found, info.kernel or Kernel.GAUSSIAN)
    if cost is None:
        per_copy: float = sum(macs(op) for op in ops if op.get_instance_id() in found.located.tail)
    else:
        shares, attention = cost
        per_copy = attention + sum(macs(op) * shares.get(op.get_instance_id(), 0.0) for op in ops)
    return 1.0 + t.height * t.width * per_copy / total if total else float("nan")


TOKENS = TokenFamily()
