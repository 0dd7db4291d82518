"""Every metric on tiny synthetic cases whose answers are worked out by hand in the comments.

The "model" here is a numpy function with a known response: the class probability is
0.2 + 0.6 * (mean of channel 0 over the top-left 4x4 region R of an 8x8 image in [0, 1]).
tests/quality/test_eval.py runs the same cases through a real OpenVINO model.
"""

from __future__ import annotations

import numpy as np
import pytest
from known import BOX, FLAT

from ov_reciprocam.quality import metrics

WHITE = np.ones((8, 8, 3), np.float32)


def known_response(images: np.ndarray) -> np.ndarray:
    return 0.2 + 0.6 * images[:, :4, :4, 0].mean(axis=(1, 2))


def curve_of(start: np.ndarray, finish: np.ndarray, saliency: np.ndarray, steps: int) -> np.ndarray:
    """The class probability of each copy of a deletion or insertion curve."""
    return known_response(metrics.steps_of(start, finish, saliency, steps))


def test_average_drop_and_increase():
    # The box keeps R whole: O = Y = 0.8, nothing dropped, nothing gained.
    y = float(known_response(WHITE[None])[0])
    o_box = float(known_response((WHITE * BOX[..., None])[None])[0])
    assert (y, o_box) == pytest.approx((0.8, 0.8))
    assert metrics.average_drop(y, o_box) == pytest.approx(0.0, abs=1e-9)
    # The flat map halves R: O = 0.2 + 0.6 * 0.5 = 0.5, a drop of 0.3 / 0.8 = 37.5 %.
    o_flat = float(known_response((WHITE * FLAT[..., None])[None])[0])
    assert metrics.average_drop(y, o_flat) == pytest.approx(37.5)
    assert metrics.increase(y, o_flat) == 0.0
    # A rise is no drop, and counts fully as an increase.
    assert metrics.average_drop(0.2, 0.5) == 0.0
    assert metrics.increase(0.2, 0.5) == 100.0
    assert metrics.increase(0.5, 0.5) == 0.0


def test_steps_take_the_most_salient_pixels_first():
    image = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    saliency = np.zeros((4, 4), np.float32)
    saliency[3, 3], saliency[0, 1] = 1.0, 0.5
    copies = metrics.steps_of(image, np.full_like(image, -1), saliency, steps=16)
    assert copies.shape == (17, 4, 4, 1)
    assert (copies[0] == image).all() and (copies[16] == -1).all()
    assert np.argwhere(copies[1, ..., 0] == -1).tolist() == [[3, 3]]
    assert np.argwhere(copies[2, ..., 0] == -1).tolist() == [[0, 1], [3, 3]]
    # Then ties, in row-major order: (0, 0) before (0, 2).
    assert np.argwhere(copies[3, ..., 0] == -1).tolist() == [[0, 0], [0, 1], [3, 3]]


@pytest.mark.parametrize("size", [1, 3, 16, 17, 40])
def test_step_chunks_are_the_steps_in_order(size):
    rng = np.random.default_rng(size)
    image, saliency = rng.random((4, 4, 3)), rng.random((4, 4))
    chunks = list(metrics.step_chunks(image, np.zeros_like(image), saliency, 16, size))
    assert [len(c) for c in chunks[:-1]] == [size] * (len(chunks) - 1) and 0 < len(chunks[-1]) <= size
    np.testing.assert_array_equal(np.concatenate(chunks), metrics.steps_of(image, np.zeros_like(image), saliency, 16))


def test_deletion_of_a_perfect_box():
    # 64 pixels in 4 steps of 16: step 1 removes exactly R (ties inside R in row-major order).
    # Curve 0.8, 0.2, 0.2, 0.2, 0.2 -> AUC = (sum - (first + last) / 2) / 4 = (1.6 - 0.5) / 4.
    curve = curve_of(WHITE, np.zeros_like(WHITE), BOX, steps=4)
    assert curve == pytest.approx([0.8, 0.2, 0.2, 0.2, 0.2])
    assert metrics.auc(curve) == pytest.approx(0.275)


def test_deletion_of_a_flat_map_goes_row_by_row():
    # All ties: step 1 removes rows 0-1 (half of R, p = 0.5), step 2 rows 2-3 (all of R).
    # Curve 0.8, 0.5, 0.2, 0.2, 0.2 -> AUC = (1.9 - 0.5) / 4.
    curve = curve_of(WHITE, np.zeros_like(WHITE), FLAT, steps=4)
    assert curve == pytest.approx([0.8, 0.5, 0.2, 0.2, 0.2])
    assert metrics.auc(curve) == pytest.approx(0.35)


def test_insertion_of_a_perfect_box():
    # From black: step 1 reveals R whole. Curve 0.2, 0.8, 0.8, 0.8, 0.8 -> (3.4 - 0.5) / 4.
    curve = curve_of(np.zeros_like(WHITE), WHITE, BOX, steps=4)
    assert curve == pytest.approx([0.2, 0.8, 0.8, 0.8, 0.8])
    assert metrics.auc(curve) == pytest.approx(0.725)


def test_auc_of_simple_curves():
    assert metrics.auc([1.0, 1.0]) == 1.0
    assert metrics.auc([0.0, 1.0]) == 0.5
    assert metrics.auc([0.0, 1.0, 0.0]) == 0.5


def test_coherency():
    ramp = np.arange(64, dtype=np.float64).reshape(8, 8) / 63
    assert metrics.coherency(ramp, 0.5 * ramp + 0.1) == pytest.approx(1.0)  # Pearson +1
    assert metrics.coherency(ramp, 1.0 - ramp) == pytest.approx(0.0)  # Pearson -1
    # The box against the ramp k = 8 * row + col (scale does not matter): R holds a quarter of the
    # pixels, with mean k 13.5 against 31.5 overall, so cov = 0.25 * (13.5 - 31.5) = -4.5; the box's
    # variance is 0.25 * 0.75 and the ramp's (64^2 - 1) / 12. r = -4.5 / sqrt(0.1875 * 341.25) = -0.5626.
    r = -4.5 / np.sqrt(0.1875 * 341.25)
    assert metrics.coherency(BOX, ramp) == pytest.approx((r + 1) / 2)
    # Flat maps: Pearson is undefined; two flat maps agree, one flat map says nothing.
    assert metrics.coherency(FLAT, np.zeros((8, 8))) == 1.0
    assert metrics.coherency(FLAT, BOX) == 0.5


def test_complexity():
    assert metrics.complexity(BOX) == pytest.approx(16 / 64)
    assert metrics.complexity(FLAT) == pytest.approx(0.5)
    assert metrics.complexity(np.zeros((8, 8))) == 0.0


def test_adcc():
    # Perfect box: coherency 1, complexity 0.25, drop 0 -> 3 / (1 + 4/3 + 1) = 0.9.
    assert metrics.adcc(1.0, 0.25, 0.0) == pytest.approx(0.9)
    # Flat map: coherency 1, complexity 0.5, drop 37.5 % -> 3 / (1 + 2 + 1.6) = 3 / 4.6.
    assert metrics.adcc(1.0, 0.5, 37.5) == pytest.approx(3 / 4.6)
    assert metrics.adcc(1.0, 1.0, 0.0) == 0.0  # a map that lights everything explains nothing
    assert metrics.adcc(0.0, 0.2, 10.0) == 0.0


def test_pointing_game_with_15_px_tolerance():
    box = [100, 100, 200, 150]
    assert metrics.box_distance((150, 120), box) == 0.0
    assert metrics.box_distance((215, 120), box) == 15.0
    assert metrics.box_distance((90, 160), box) == pytest.approx(np.hypot(10, 10))
    assert metrics.pointing_hit((215, 120), [box])  # exactly 15 px: still a hit
    assert not metrics.pointing_hit((216, 120), [box])
    assert metrics.pointing_hit((90, 160), [box])  # 14.1 px diagonally
    assert not metrics.pointing_hit((89, 161), [box])  # 15.6 px
    assert metrics.pointing_hit((300, 300), [box, [290, 290, 310, 310]])  # any box will do
    assert not metrics.pointing_hit((150, 120), [])


def test_energy_pointing_is_the_share_of_the_maps_mass_on_the_object():
    saliency = np.zeros((4, 4), np.float32)
    saliency[0, 0], saliency[0, 1], saliency[3, 3] = 3.0, 1.0, 4.0  # mass 8, of which 3 + 1 on the object
    region = metrics.boxes_region((4, 4), [[0, 0, 2, 1]])  # x in [0, 2), y in [0, 1): pixels (0, 0) and (1, 0)
    assert region.sum() == 2 and region[0, 0] and region[0, 1] and not region[1, 0]
    assert metrics.energy_pointing(saliency, region) == pytest.approx(0.5)
    assert metrics.energy_pointing(np.zeros((4, 4)), region) == 0.0  # no mass: no share


def test_region_distance_is_zero_on_the_object_and_euclidean_off_it():
    region = np.zeros((10, 10), bool)
    region[2, 3] = True  # the object: the pixel at x = 3, y = 2
    assert metrics.region_distance((3, 2), region) == 0.0
    assert metrics.region_distance((6, 6), region) == pytest.approx(5.0)  # a 3-4-5 triangle
    assert metrics.region_distance((0, 0), np.zeros((4, 4), bool)) == float("inf")
