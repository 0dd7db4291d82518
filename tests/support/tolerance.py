"""Comparisons that hold on any x86 CPU: tolerances follow from the data, never from one machine's floats.

Two inference paths (another graph, batch size, stream or ISA kernel) may round differently. A map is
compared to a share of its spread, so a wrong map (a position shifted, a value moved) still fails; a
picture is compared by the share of pixels that moved by more than a few levels.
"""

from __future__ import annotations

import numpy as np


def assert_maps_match(actual: np.ndarray, expected: np.ndarray, share: float = 0.01, cap: float | None = None) -> None:
    """Every value of `actual` within `share` of the largest per-map spread of `expected` (and within `cap`)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    spread = float(np.ptp(expected, axis=(-2, -1)).max())
    # Flat maps would make any tolerance meaningless: equality then proves nothing.
    assert spread > 1e-6, f"the expected maps are flat (spread {spread:.2g})"
    atol = spread * share if cap is None else min(cap, spread * share)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


def assert_pictures_match(actual: np.ndarray, expected: np.ndarray, levels: int = 3, share: float = 0.001) -> None:
    """At most `share` of the values of two 8-bit pictures differ by more than `levels`."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    moved = np.abs(actual.astype(np.int16) - expected.astype(np.int16)) > levels
    assert moved.mean() <= share, f"{moved.sum()} of {moved.size} values differ by more than {levels} levels"
