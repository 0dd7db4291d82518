"""Class scores as the model gives them -> probabilities to report."""

from __future__ import annotations

import numpy as np


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def probabilities(scores: np.ndarray, already: bool) -> np.ndarray:
    """[N, classes] scores as probabilities: as they are when the model ends in a softmax."""
    return scores if already else softmax(scores)
