"""Which token rows each masked copy needs after the attention, as [h*w, R] tables.

A head that reads only the P prefix tokens needs their rows alone. A head that averages tokens
needs every token's row, but within one copy all zeroed tokens give the same row (the same zero
input, the same query, the same keys), so a copy needs R = P + K + 1 rows: the prefix tokens, the
K tokens its mask keeps (the 3x3 neighbourhood, fewer at the borders, padded with rows that count
for nothing), and one zeroed token standing for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...vocabulary import Kernel
from ..kernels import copy_weights


@dataclass(frozen=True)
class CopyRows:
    index: np.ndarray  # [h*w, R] int64: the token each row computes
    weight: np.ndarray  # [h*w, R] float32: that token's mask weight in the copy (0: zeroed)
    pooled: np.ndarray | None = None  # [h*w, R] float32: how many of the averaged tokens the row stands for

    @property
    def shared(self) -> bool:
        """Every copy computes the same tokens unmasked (the prefix rows): their queries are the plain model's."""
        return bool((self.index == self.index[0]).all() and (self.weight == 1).all())


def prefix_rows(copies: int, prefix: int) -> CopyRows:
    index = np.tile(np.arange(prefix, dtype=np.int64), (copies, 1))
    return CopyRows(index, np.ones(index.shape, np.float32))


def all_rows(h: int, w: int, prefix: int, kernel: Kernel, averaged: frozenset[int]) -> CopyRows:
    """Rows for a head that averages the tokens `averaged`: prefix, kept, padding, one zeroed token last."""
    patches = copy_weights(h, w, kernel)
    kept_most = int((patches > 0).sum(axis=1).max())
    width = prefix + kept_most + 1
    index = np.zeros((h * w, width), np.int64)
    weight = np.zeros((h * w, width), np.float32)
    pooled = np.zeros((h * w, width), np.float32)
    patch_tokens = np.arange(prefix, prefix + h * w)
    for n in range(h * w):
        kept = np.flatnonzero(patches[n])
        index[n, :prefix] = np.arange(prefix)
        weight[n, :prefix] = 1
        index[n, prefix : prefix + len(kept)] = kept + prefix
        weight[n, prefix : prefix + len(kept)] = patches[n, kept]
        rows = index[n, : prefix + len(kept)]
        pooled[n, : prefix + len(kept)] = [t in averaged for t in rows]
        zeroed = set(patch_tokens[patches[n] == 0].tolist())
        pooled[n, -1] = len(zeroed & averaged)  # the last row, a zeroed token (index 0 at weight 0)
    return CopyRows(index, weight, pooled)
