"""Detection metrics on synthetic maps and a synthetic detector, with values worked out by hand."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from ov_reciprocam.quality import detection_metrics as dm
from ov_reciprocam.quality.detection_decode import Proposals
from ov_reciprocam.quality.drise import Target
from ov_reciprocam.vocabulary import Layout

BOX = (0.0, 0.0, 2.0, 2.0)  # the top-left 2x2 pixels of a 4x4 input


@dataclass
class BoxMean:
    """A detector of one proposal, BOX, whose objectness is the mean of the input's pixels inside it."""

    layout: Layout
    input_size: tuple[int, int] = (4, 4)

    def proposals(self, inputs: np.ndarray) -> list[Proposals]:
        images = inputs[..., 0] if self.layout is Layout.NHWC else inputs[:, 0]
        return [Proposals(np.array([BOX]), np.ones((1, 1)), np.array([img[:2, :2].mean()])) for img in images]


TARGET = Target(np.array(BOX), np.ones(1))
BOX_FIRST = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], np.float32)  # ranks BOX's pixels first


def ones(layout: Layout) -> np.ndarray:
    return np.ones((1, 4, 4, 1) if layout is Layout.NHWC else (1, 1, 4, 4), np.float32)


def test_the_peak_is_in_the_box_when_its_pixel_centre_is() -> None:
    saliency = np.zeros((10, 10))
    saliency[7, 3] = 1.0  # x 3, y 7: centre (3.5, 7.5)
    assert dm.pointing_hit(saliency, (3, 7, 4, 8))
    assert dm.pointing_hit(saliency, (0, 0, 3.5, 7.5))  # the edge counts as inside
    assert not dm.pointing_hit(saliency, (4, 0, 10, 10))
    assert not dm.pointing_hit(saliency, (0, 0, 10, 7))


def test_energy_is_the_share_of_the_mass_inside_the_box() -> None:
    assert dm.energy_in_box(np.ones((4, 4)), BOX) == pytest.approx(4 / 16)
    saliency = np.zeros((4, 4))
    saliency[0, 0], saliency[3, 3] = 3.0, 1.0
    assert dm.energy_in_box(saliency, BOX) == pytest.approx(0.75)
    assert dm.energy_in_box(np.zeros((4, 4)), BOX) == 0.0


def test_maps_reach_the_input_frame_in_range() -> None:
    up = dm.on_input(np.array([[0.0, 1.0], [1.0, 0.0]]), (8, 6))
    assert up.shape == (6, 8) and 0.0 <= up.min() and up.max() <= 1.0
    assert up[0, 0] == 0.0 and up[0, -1] == 1.0  # corners keep their cell's value
    assert np.array_equal(dm.on_input(BOX_FIRST, (4, 4)), BOX_FIRST)


@pytest.mark.parametrize("layout", [Layout.NCHW, Layout.NHWC])
def test_deletion_removes_the_salient_pixels_first(layout: Layout) -> None:
    detector, x = BoxMean(layout), ones(layout)
    # 4 steps of 4 pixels: removing BOX first drops the similarity to 0 at once: (1 + 0 + 0 + 0 + 0), trapezoids 1/8
    assert dm.deletion_auc(detector, x, BOX_FIRST, TARGET, steps=4) == pytest.approx(0.125)
    # BOX last: 1, 1, 1, 1, 0 -> (0.5 + 1 + 1 + 1 + 0) / 4
    assert dm.deletion_auc(detector, x, 1 - BOX_FIRST, TARGET, steps=4) == pytest.approx(0.875)


@pytest.mark.parametrize("layout", [Layout.NCHW, Layout.NHWC])
def test_insertion_adds_the_salient_pixels_first(layout: Layout) -> None:
    detector, x = BoxMean(layout), ones(layout)
    curve = dm.causal_curve(detector, np.zeros_like(x), x, BOX_FIRST, TARGET, steps=4)
    assert curve.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]
    # a constant input blurs to itself: every step scores 1
    assert dm.insertion_auc(detector, x, BOX_FIRST, TARGET, steps=4) == pytest.approx(1.0)


def test_blur_keeps_the_layout_and_smooths() -> None:
    x = np.zeros((1, 3, 16, 16), np.float32)
    x[0, :, 8, 8] = 1.0
    smooth = dm.blurred(x, Layout.NCHW)
    assert smooth.shape == x.shape
    assert 0 < smooth[0, 0, 8, 8] < 1 and smooth[0, 0, 8, 10] > 0
    np.testing.assert_allclose(dm.blurred(x.transpose(0, 2, 3, 1), Layout.NHWC), smooth.transpose(0, 2, 3, 1))
