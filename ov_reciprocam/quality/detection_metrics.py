"""How well a map explains one detection: on the model input's frame, against the detection's own box.

The pointing game (the map's peak inside the box), the energy inside the box (the share of the map's mass),
and D-RISE's causal metrics (Petsiuk et al. 2021): pixels removed from the input (deletion, to 0 of the
normalized input) or added to a blurred one (insertion) in order of saliency, each step scored by the
target's similarity to the step's proposals (`drise.similarity`); the area under that curve.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..photos import imaging
from ..vocabulary import Layout
from . import metrics
from .baselines import upsample
from .drise import Detector, Target, similarities
from .evaluate import BLUR

STEPS = 50


def on_input(saliency: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A map [h, w] bilinearly upsampled to the input's size (W, H), kept in [0, 1]."""
    if saliency.shape == (size[1], size[0]):
        return saliency.astype(np.float32)
    return np.clip(upsample(saliency[None], size)[0], 0.0, 1.0)


def pointing_hit(saliency: np.ndarray, box: Sequence[float]) -> bool:
    """The peak of a map on the input frame (the centre of its hottest pixel) lies in the box."""
    x, y = imaging.peak(saliency)
    return metrics.box_distance((x + 0.5, y + 0.5), box) == 0.0


def energy_in_box(saliency: np.ndarray, box: Sequence[float]) -> float:
    """The share of a map's mass (on the input frame) inside the box."""
    h, w = saliency.shape
    return metrics.energy_pointing(saliency, metrics.boxes_region((w, h), [box]))


def causal_curve(
    detector: Detector, start: np.ndarray, finish: np.ndarray, saliency: np.ndarray, target: Target, steps: int
) -> np.ndarray:
    """[steps + 1]: the target's similarity as the most salient pixels of `finish` replace those of `start`
    (inputs [1, ...] in the detector's layout, the map on the input frame)."""
    channels_last = detector.layout is Layout.NHWC
    first, last = ((a[0] if channels_last else a[0].transpose(1, 2, 0)) for a in (start, finish))
    copies = metrics.steps_of(first, last, saliency, steps)
    inputs = copies if channels_last else copies.transpose(0, 3, 1, 2)
    return similarities(detector, np.ascontiguousarray(inputs), [target])[:, 0]


def deletion_auc(detector: Detector, x: np.ndarray, saliency: np.ndarray, target: Target, steps: int = STEPS) -> float:
    """Area under the similarity as pixels are removed, most salient first: lower is better."""
    return metrics.auc(causal_curve(detector, x, np.zeros_like(x), saliency, target, steps))


def insertion_auc(detector: Detector, x: np.ndarray, saliency: np.ndarray, target: Target, steps: int = STEPS) -> float:
    """Area under the similarity as pixels return to a blurred input, most salient first: higher is better."""
    return metrics.auc(causal_curve(detector, blurred(x, detector.layout), x, saliency, target, steps))


def blurred(x: np.ndarray, layout: Layout) -> np.ndarray:
    """An input [1, ...] blurred over its height and width, as insertion starts (RISE's Gaussian)."""
    image = x[0] if layout is Layout.NHWC else x[0].transpose(1, 2, 0)
    smooth = cv2.GaussianBlur(np.ascontiguousarray(image, np.float32), (BLUR[0], BLUR[0]), BLUR[1])
    smooth = smooth.reshape(image.shape)  # a one-channel image loses its axis in OpenCV
    return (smooth if layout is Layout.NHWC else smooth.transpose(2, 0, 1))[None]
