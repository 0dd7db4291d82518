"""What a classifier's scores are, what scores the masked copies, and scores -> probabilities to report."""

from __future__ import annotations

from enum import Enum

import numpy as np

from .quantization import Affine


class ScoreKind(Enum):
    """What the model's class-score output holds, as its graph says."""

    LOGITS = "logits"
    PROBABILITIES = "probabilities"  # a softmax (maybe sliced, gathered or scaled after)
    LOG_PROBABILITIES = "log_probabilities"
    SIGMOIDS = "sigmoids"  # independent per-label probabilities: a multi-label model

    @property
    def multilabel(self) -> bool:
        return self is ScoreKind.SIGMOIDS


class Score(Enum):
    """What scores each masked copy."""

    AUTO = "auto"  # softmax for single-label models, sigmoid for multi-label ones
    SOFTMAX = "softmax"  # the paper's choice
    LOGITS = "logits"  # openvino_xai's
    SIGMOID = "sigmoid"  # per label

    def resolve(self, kind: ScoreKind) -> Score:
        """AUTO made concrete for a model whose scores are of `kind`."""
        if self is not Score.AUTO:
            return self
        return Score.SIGMOID if kind.multilabel else Score.SOFTMAX


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def probabilities(scores: np.ndarray, kind: ScoreKind, dequantize: Affine | None = None) -> np.ndarray:
    """[N, classes] scores as the probabilities the model means: what reports and overlays show.

    dequantize: how a quantized output's values map to the model's scores (a uint8 255 is 0.996, not 255).
    """
    if dequantize is not None and not dequantize.identity:
        scores = dequantize.real(scores)
    if kind is ScoreKind.LOGITS:
        return softmax(scores)
    if kind is ScoreKind.LOG_PROBABILITIES:
        return np.exp(scores)
    return scores
