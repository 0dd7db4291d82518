"""D-RISE: its similarity by hand, its masks, its detectors' decodes against the brute-force reference's, and
its map of a real detection."""

from __future__ import annotations

import numpy as np
import pytest

from ov_reciprocam.quality import drise
from ov_reciprocam.quality.detection_decode import Decoding, Proposals
from ov_reciprocam.vocabulary import DetectorKind
from tests.support import detection_reference as ref
from tests.support.paths import SAMPLES

DECODINGS = {
    "yolox": Decoding(DetectorKind.OBJECTNESS),
    "ultralight": Decoding(DetectorKind.DECODED),
    "blazeface": Decoding(DetectorKind.ANCHORED, ((16, 16, 2), (8, 8, 6))),
}


def test_similarity_is_iou_times_cosine_times_objectness_of_the_best_proposal() -> None:
    target = drise.Target(np.array([0.0, 0.0, 2.0, 2.0]), np.array([1.0, 0.0]))
    proposals = Proposals(
        boxes=np.array([[1.0, 0.0, 3.0, 2.0], [0.0, 0.0, 2.0, 2.0], [5.0, 5.0, 6.0, 6.0]]),
        classes=np.array(
            [[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]]
        ),  # the same box has the other class; the same class is far
        objectness=np.array([0.9, 1.0, 1.0]),
    )
    # the first: IoU 2 / 6, cosine 1 / sqrt(2), objectness 0.9
    assert drise.similarity([target], proposals) == pytest.approx([0.9 / (3 * np.sqrt(2))])
    itself = drise.Target(proposals.boxes[1], proposals.classes[1])
    assert drise.similarity([target, itself], proposals) == pytest.approx([0.9 / (3 * np.sqrt(2)), 1.0])


def test_masks_are_seeded_smooth_and_keep_about_p() -> None:
    first = np.concatenate(list(drise.rise_masks(64, 8, 0.5, (40, 30), chunk=10, seed=3)))
    again = np.concatenate(list(drise.rise_masks(64, 8, 0.5, (40, 30), chunk=64, seed=3)))
    assert first.shape == (64, 30, 40)
    np.testing.assert_allclose(first, again, rtol=0, atol=1e-6)  # chunks draw the same masks (OpenCV rounds by width)
    assert 0.0 <= first.min() and first.max() <= 1.0
    assert abs(first.mean() - 0.5) < 0.05
    assert ((first > 0.01) & (first < 0.99)).mean() > 0.2  # bilinear ramps, not a binary grid


@pytest.mark.parametrize("detector", [ref.YOLOX, ref.ULTRALIGHT, ref.BLAZEFACE], ids=lambda d: d.name)
def test_the_detectors_decode_as_the_reference_does_batched_or_not(detector: ref.Detector) -> None:
    black_box = drise.OpenVinoDetector.build(detector.path, DECODINGS[detector.name], config=ref.CONFIG)
    x = detector.prepare(ref.read_photo(SAMPLES / "openimages" / "grace_hopper.png"))
    inputs = np.concatenate([x, 0.5 * x]).astype(np.float32)
    assert black_box.batch > 1  # Ultra-Light's flattened scores too follow the batch (`model.reshape.batch_merges`)
    for proposals, one in zip(black_box.proposals(inputs), inputs, strict=True):
        out = ref.run(detector, one[None])
        np.testing.assert_allclose(proposals.boxes, detector.boxes(out), rtol=0, atol=0.05)
        if detector is ref.YOLOX:  # the score is objectness x class probability
            scores = proposals.objectness[:, None] * proposals.classes
        else:  # no objectness (the softmax's face column) or the sigmoid itself
            scores = proposals.classes[:, -1:]
        np.testing.assert_allclose(scores, detector.scores(out), rtol=0, atol=1e-3)
    assert black_box.images_run == 2


def test_the_big_dogs_map_peaks_inside_its_box() -> None:
    x = ref.YOLOX.prepare(ref.read_photo(SAMPLES / "openimages" / "pets.jpg"))
    black_box = drise.OpenVinoDetector.build(ref.YOLOX.path, DECODINGS["yolox"])
    dog = max(
        ref.detections(ref.YOLOX, ref.read_photo(SAMPLES / "openimages" / "pets.jpg")),
        key=lambda d: d.box[3] - d.box[1],
    )
    target = drise.Target.of(black_box.proposals(x)[0], dog.anchor)
    # Few masks: coarser cells than the paper's 16 (each 16th of the photo hidden half the time leaves the dog
    # rarely whole, so 64 or 128 such masks weigh mostly noise); 8 x 8 cells point inside at 128.
    (saliency,) = drise.drise(black_box, x, [target], masks=128, cells=8, seed=0)
    assert saliency.shape == (416, 416) and saliency.min() == 0.0 and saliency.max() == 1.0
    y, x_ = np.unravel_index(int(saliency.argmax()), saliency.shape)
    x1, y1, x2, y2 = dog.box
    assert x1 <= x_ <= x2 and y1 <= y <= y2, ((x_, y), dog.box)
    assert black_box.images_run == 1 + 128
