"""What scores each masked copy: which tail tensor, and the activation that turns it into scores."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ..errors import ReciproCamError
from ..vocabulary import Score, ScoreKind, TailKind
from .base import Located
from .graph_ops import i64


@dataclass(frozen=True)
class CopyScores:
    values: ov.Output  # [B*H*W, classes(, 1, 1)], or [B*H*W, k] when picked
    kind: TailKind  # how the masked copies were scored
    picked: bool = False  # values hold only the classes of `picks`, in that order


class Activation(Enum):
    """What turns the scored tensor of each copy into its scores."""

    NONE = "none"
    SOFTMAX = "softmax"
    SIGMOID = "sigmoid"
    EXP = "exp"  # log-probabilities back to probabilities
    # A binary classifier's one unit as its two classes (negative, positive):
    PAIR = "pair"  # a probability p as (1 - p, p)
    SIGMOID_PAIR = "sigmoid_pair"  # a logit z as (1 - sigmoid(z), sigmoid(z))
    LOGIT_PAIR = "logit_pair"  # a logit z as (-z, z)

    @property
    def pairs(self) -> bool:
        """Turns one unit into two classes."""
        return self in (Activation.PAIR, Activation.SIGMOID_PAIR, Activation.LOGIT_PAIR)


@dataclass(frozen=True)
class ScoreSource:
    """Which tail tensor scores the copies (its clone's counterpart), and what activates it."""

    tensor: ov.Output
    activation: Activation

    def pickable(self, located: Located) -> bool:
        """Scores of k classes need only those classes' logits: not so under a softmax over all of them."""
        return self.tensor is located.logits and self.activation in (Activation.NONE, Activation.SIGMOID)


def score_source(located: Located, score: Score) -> ScoreSource:
    """How `score` reads the copies of a model whose scores are of `located.kind`.

    Softmax scores take the model's own probabilities where it computes them (a softmax, sliced or
    scaled as the model does), so that a map and its reported score speak of the same number.
    """
    kind, score = located.kind, score.resolve(located.kind)
    if kind.binary:
        if score is Score.LOGITS:
            return ScoreSource(located.logits, Activation.LOGIT_PAIR)
        if kind is ScoreKind.BINARY_SIGMOID:
            return ScoreSource(located.scores, Activation.PAIR)
        return ScoreSource(located.logits, Activation.SIGMOID_PAIR)
    if score is Score.SOFTMAX and kind is not ScoreKind.SIGMOIDS:
        activation = {ScoreKind.PROBABILITIES: Activation.NONE, ScoreKind.LOG_PROBABILITIES: Activation.EXP}
        return ScoreSource(located.scores, activation.get(kind, Activation.SOFTMAX))
    if score is Score.SIGMOID and kind is ScoreKind.SIGMOIDS:
        return ScoreSource(located.scores, Activation.NONE)
    if located.logits is None:
        raise ReciproCamError(
            f"`score` {score.value} needs one logit per class, but this model picks or scales classes after its "
            f"{kind.value}; use `score` auto"
        )
    on_logits = {Score.LOGITS: Activation.NONE, Score.SIGMOID: Activation.SIGMOID, Score.SOFTMAX: Activation.SOFTMAX}
    return ScoreSource(located.logits, on_logits[score])


def pair(p: ov.Output) -> ov.Node:
    """A binary classifier's probability [..., 1] as its two classes [..., 2]: (1 - p, p)."""
    return ops.concat([ops.subtract(ops.constant(np.float32(1)), p), p], -1)


def top_classes(located: Located, k: int) -> ov.Output:
    """[B, k] ids of each image's k highest scores, best first (a binary classifier's: of 1 - p and p)."""
    if located.kind.binary:
        unit = ops.reshape(located.scores, i64(0, 1), special_zero=True)
        p = ops.sigmoid(unit) if located.kind is ScoreKind.BINARY_LOGIT else unit
        ranking = pair(p)
    else:
        ranking = ops.reshape(located.scores, i64(0, located.classes), special_zero=True)
    return ops.topk(ranking, ops.constant(np.int64(k)), 1, "max", "value", ov.Type.i32).output(1)
