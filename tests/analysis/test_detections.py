"""Detectors read from structure alone (analysis/detections): their outputs' layout, levels, and the cut, which must
be the tensors D2's reference names by hand (tests/support/detection_reference.py)."""

from __future__ import annotations

import anchors_last_detector
import builders
import pytest

from ov_reciprocam.analysis.dataflow import key_of
from ov_reciprocam.analysis.detections import Level, find_cut, read_detector
from ov_reciprocam.errors import ReciproCamError
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
    assert names == ("Relu#16", "Relu#28")
    again = read_model(ref.BLAZEFACE.path)
    found = find_cut(again, read_detector(again), names)
    assert [key_of(t) for t in found.tensors] == [key_of(t) for t in ref.cut_outputs(again, ref.BLAZEFACE, None)]


def test_a_classifier_is_no_detector() -> None:
    assert read_detector(builders.gap_linear(batch=1)) is None


def test_an_anchors_last_output_is_read_from_its_concat_and_sigmoid() -> None:
    """Ultralytics' [N, 4 + C, A]: the anchors are the class branch's grids, one a cell; the cut the backbone's
    outputs, the coarsest before the neck's 1x1 lateral."""
    model = anchors_last_detector.build()
    head = read_detector(model)
    assert head is not None and head.kind is DetectorKind.ANCHORS_LAST
    assert (head.anchors, head.classes, head.scores_index, head.boxes_index) == (anchors_last_detector.ANCHORS, 3, 0, 0)
    assert head.levels == tuple(Level(g, g, 1) for g in anchors_last_detector.GRIDS)
    assert find_cut(model, head).names == anchors_last_detector.CUT


def test_an_anchors_last_output_without_its_sigmoid_is_refused() -> None:
    """Class rows with no activation in the graph could be logits: the kind is not guessed."""
    model = anchors_last_detector.build()
    concat = model.get_results()[0].input_value(0).get_node()
    sigmoid = concat.input_value(1).get_node()
    concat.input(1).replace_source_output(sigmoid.input_value(0))
    model.validate_nodes_and_infer_types()
    with pytest.raises(ReciproCamError, match=r"\[N, 7, 336\] looks like a detector's, but its anchors are no head's"):
        read_detector(model)
