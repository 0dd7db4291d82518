"""PIL's bicubic, as the Recipro-CAM authors' script upsamples its maps: by hand, and against PIL itself."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ov_reciprocam.quality.resample import bicubic


def test_two_pixels_to_four_by_hand():
    """Output 0 of [0, 1] -> 4 lies 0.25 px before input 0's centre, so its taps are 0.25 and 1.25 px away; the
    a = -0.5 kernel weighs them 0.8671875 and -0.0703125, which renormalized give -0.0703125 / 0.796875."""
    row = bicubic(np.array([[0.0, 1.0]]), (4, 1))[0]
    assert row[0] == pytest.approx(-0.0703125 / 0.796875, abs=1e-7)
    np.testing.assert_allclose(row, 1.0 - row[::-1], atol=1e-7)  # symmetric about the middle
    assert row[0] < 0 < row[1] < 0.5 < row[2] < 1 < row[3]  # the cubic overshoots at both ends


def test_a_flat_map_stays_flat():
    np.testing.assert_allclose(bicubic(np.full((5, 5), 0.3), (160, 160)), 0.3, atol=1e-6)


@pytest.mark.parametrize("shape, size", [((7, 7), (224, 224)), ((5, 5), (160, 160)), ((7, 5), (61, 100))])
def test_equals_pil(shape, size):
    saliency = np.random.default_rng(0).random(shape).astype(np.float32)
    expected = np.asarray(Image.fromarray(saliency, mode="F").resize(size, Image.BICUBIC))
    np.testing.assert_allclose(bicubic(saliency, size), expected, atol=1e-6)
