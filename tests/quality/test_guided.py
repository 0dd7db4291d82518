"""The guided filter against its definition computed window by window, and on an edge worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ov_reciprocam.quality.guided import cell_radius, guided_filter


def brute_force(values: np.ndarray, gray: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s equations, each window's least-squares fit by hand; borders mirrored (edge pixel repeated)."""
    h, w = values.shape
    pad_v, pad_i = (np.pad(x, radius, mode="symmetric") for x in (values, gray))
    a, b = np.zeros((h, w)), np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            i = pad_i[y : y + 2 * radius + 1, x : x + 2 * radius + 1]
            v = pad_v[y : y + 2 * radius + 1, x : x + 2 * radius + 1]
            a[y, x] = ((i * v).mean() - i.mean() * v.mean()) / (i.var() + eps)
            b[y, x] = v.mean() - a[y, x] * i.mean()
    pad_a, pad_b = np.pad(a, radius, mode="symmetric"), np.pad(b, radius, mode="symmetric")
    out = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            window = (slice(y, y + 2 * radius + 1), slice(x, x + 2 * radius + 1))
            out[y, x] = pad_a[window].mean() * gray[y, x] + pad_b[window].mean()
    return (out - out.min()) / (out.max() - out.min())


@pytest.mark.parametrize("radius, eps", [(1, 0.01), (2, 0.1), (3, 1e-3)])
def test_equals_the_definition_window_by_window(radius, eps):
    rng = np.random.default_rng(radius)
    values = rng.random((9, 11))
    gray_level = rng.integers(0, 256, (9, 11)).astype(np.float32)
    guide = np.repeat(gray_level[..., None], 3, axis=2)  # a gray photo: its gray level is each channel
    expected = brute_force(values, gray_level / 255.0, radius, eps)
    np.testing.assert_allclose(guided_filter(values, guide, radius, eps), expected, atol=1e-5)


def test_a_sharp_edge_in_the_photo_sharpens_a_blurred_map():
    """Left half black, right half white; the map ramps across the edge. Each window straddling the edge fits the
    map as a * I + b; with eps far below the guide's variance the output jumps where the photo does."""
    guide = np.zeros((8, 16, 3), np.float32)
    guide[:, 8:] = 255
    values = np.tile(np.linspace(0, 1, 16), (8, 1))
    out = guided_filter(values, guide, radius=3, eps=1e-4)
    jump = out[:, 8] - out[:, 7]
    assert (jump > 5 / 15).all()  # the ramp steps by 1/15 everywhere; here the output steps by five times that
    assert np.ptp(out[:, :7], axis=1).max() < np.ptp(values[:, :7], axis=1).max()  # flattened on either side


def test_a_flat_map_stays_flat():
    guide = np.random.default_rng(0).integers(0, 256, (10, 10, 3)).astype(np.float32)
    assert not guided_filter(np.full((10, 10), 0.4), guide, 2).any()


def test_cell_radius_is_one_feature_cell():
    assert cell_radius((7, 7), (224, 224)) == 32
    assert cell_radius((5, 5), (160, 160)) == 32
    assert cell_radius((14, 14), (8, 8)) == 1
