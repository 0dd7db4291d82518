"""A model's raw scores as the probabilities every report shows: dequantized, softmaxed or exponentiated by kind."""

from __future__ import annotations

import numpy as np

from ..vocabulary import Affine, ScoreKind


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def probabilities(scores: np.ndarray, kind: ScoreKind, dequantize: Affine | None = None) -> np.ndarray:
    """[N, classes] scores as the probabilities the model means: what reports and overlays show.

    dequantize: how a quantized output's values map to the model's scores (a uint8 255 is 0.996, not 255).
    """
    if dequantize is not None and not dequantize.identity:
        scores = dequantize.real(scores)
    if kind.binary:  # one unit: the positive class's probability, and its complement
        p = scores if kind is ScoreKind.BINARY_SIGMOID else 1.0 / (1.0 + np.exp(-np.asarray(scores, np.float64)))
        return np.concatenate([1.0 - p, p], axis=-1)
    if kind is ScoreKind.LOGITS:
        return softmax(scores)
    if kind is ScoreKind.LOG_PROBABILITIES:
        return np.exp(scores)
    return scores
