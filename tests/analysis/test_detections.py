"""Detectors read from structure alone (analysis/detections): their outputs' layout, levels, and the cut, which must
be the tensors D2's reference names by hand (tests/support/detection_reference.py)."""

from __future__ import annotations

import builders
import pytest

from ov_reciprocam.analysis.dataflow import key_of
from ov_reciprocam.analysis.detections import Level, find_cut, read_detector
from ov_reciprocam.model.formats import read_model
from ov_reciprocam.vocabulary import DetectorKind
from tests.support import detection_reference as ref

EXPECTED = {
    "yolox": (DetectorKind.OBJECTNESS, 3549, 80, ((52, 52, 1), (26, 26, 1), (13, 13, 1))),
    "ultralight": (DetectorKind.DECODED, 4420, 1, ((30, 40, 3), (15, 20, 2), (8, 10, 2), (4, 5, 3))),
    "blazeface": (DetectorKind.ANCHORED, 896, 1, ((16, 16, 2), (8, 8, 6))),
}
DETECTORS = {d.name: d for d in (ref.YOLOX, ref.ULTRALIGHT, ref.BLAZEFACE)}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_outputs_layout_and_levels_come_from_structure(name: str) -> None:
    head = read_detector(read_model(DETECTORS[name].path))
    kind, anchors, classes, levels = EXPECTED[name]
    assert head is not None
    assert (head.kind, head.anchors, head.classes) == (kind, anchors, classes)
    assert head.levels == tuple(Level(*v) for v in levels)
    assert head.background == (name == "ultralight")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_cut_is_the_one_the_reference_names_by_hand(name: str) -> None:
    """Compared as tensors of one model: BlazeFace's cut tensors have no names, and its friendly names change with
    every read."""
    detector = DETECTORS[name]
    model = read_model(detector.path)
    head = read_detector(model)
    assert head is not None
    cut = find_cut(model, head)
    by_hand = ref.cut_outputs(model, detector, None)
    assert [key_of(t) for t in cut.tensors] == [key_of(t) for t in by_hand]
    if name != "blazeface":
        assert cut.names == detector.cuts


def test_an_unnamed_cut_tensor_gets_a_name_a_later_read_finds_again() -> None:
    """BlazeFace's cut tensors have no tensor names, and TFLite's friendly names change with every read."""
    first = read_model(ref.BLAZEFACE.path)
    names = find_cut(first, read_detector(first)).names
    assert names == ("Relu#26", "Relu#36")
    again = read_model(ref.BLAZEFACE.path)
    found = find_cut(again, read_detector(again), names)
    assert [key_of(t) for t in found.tensors] == [key_of(t) for t in ref.cut_outputs(again, ref.BLAZEFACE, None)]


def test_a_classifier_is_no_detector() -> None:
    assert read_detector(builders.gap_linear(batch=1)) is None
