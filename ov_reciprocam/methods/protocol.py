"""The method-family protocol: what every family answers (`Found`) and what it does (`Family`).

Apart from `base` (the Located every family shares), because a family's work is stated in the types of
`scoring`, which builds on `base`: kept in one module with them, the three would import each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import openvino as ov

from ..vocabulary import Kernel, PatchOptions
from .base import Located
from .scoring import CopyScores, ScoreSource

if TYPE_CHECKING:
    from ..model.rt_info import PatchInfo


Own = TypeVar("Own")  # what only one family reads of its answer


@dataclass(frozen=True)
class Found(Generic[Own]):
    """A family's answer for one model: the Located every step shares, and what only that family reads."""

    family: Family[Own]
    located: Located
    own: Own


class Family(Protocol[Own]):
    """A method family: whether and where it explains a model, and how it scores the masked copies.

    `methods.FAMILIES` lists them, most specific first; `patch` takes the first whose `locate` answers.
    `kernel` is the family's paper's choice, what `patch` uses when not told (PatchOptions.kernel None).
    `blank_record`: the family's rt_info fields on a model another family explained, as the schema wrote them
    before families owned their fields, so that those models' rt_info stays as it was.
    """

    kernel: Kernel
    blank_record: Mapping[str, str]

    def locate(self, model: ov.Model, options: PatchOptions) -> Found[Own] | None:
        """The target, or None when the model is not of this family (may fix an open input size)."""

    def tail_scores(
        self, model: ov.Model, found: Found[Own], source: ScoreSource, options: PatchOptions, picks: ov.Output | None
    ) -> CopyScores:
        """The scores of every masked copy, [B*H*W, classes] (or [B*H*W, k] when picked)."""

    def record(self, found: Found[Own], options: PatchOptions) -> dict[str, str]:
        """The family's own rt_info fields (`PatchInfo.family_fields`): keys the schema does not name, as text."""

    def floor(self, plain: ov.Model, found: Found[Own], info: PatchInfo) -> float:
        """1 + the MACs the saliency branch cannot avoid / the plain model's (what `bench` calls the floor)."""

    def streamed_weights(self, plain: ov.Model, found: Found[Own], info: PatchInfo) -> tuple[int, int] | None:
        """(inputs, outputs) of a linear layer whose weights the branch reads once more for one row per image: a
        memory-bound product, which the MAC floor undercounts; None when there is none."""
