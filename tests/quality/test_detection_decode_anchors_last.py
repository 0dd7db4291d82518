"""D-RISE's proposals of an [N, 4 + C, A] detector (`Decoding(DetectorKind.ANCHORS_LAST)`) against the reference's
decode of the same outputs (tests/support/detection_reference.py)."""

from __future__ import annotations

import anchors_last_detector
import numpy as np
import openvino as ov

from ov_reciprocam.quality.detection_decode import Decoding
from ov_reciprocam.vocabulary import DetectorKind
from tests.support import detection_reference as ref


def test_proposals_are_the_references_boxes_and_scores() -> None:
    side = anchors_last_detector.SIDE
    compiled = ov.Core().compile_model(anchors_last_detector.build(), "CPU", ref.CONFIG)
    inputs = np.random.default_rng(2).uniform(0, 1, (1, 3, side, side)).astype(np.float32)
    out = {"output": np.asarray(compiled(inputs)[0])}
    proposals = Decoding(DetectorKind.ANCHORS_LAST).decode([out["output"][0]], (side, side))
    np.testing.assert_allclose(proposals.boxes, ref.anchors_last_boxes(out), rtol=1e-12)
    np.testing.assert_array_equal(proposals.classes, ref.anchors_last_scores(out))
    np.testing.assert_array_equal(proposals.objectness, ref.anchors_last_scores(out).max(1))
    assert proposals.boxes.shape == (anchors_last_detector.ANCHORS, 4)
