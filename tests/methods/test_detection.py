"""Per-detection Recipro-CAM in the graph (methods/detection) against D2's brute-force reference, on the real detectors.

The reference (tests/support/detection_reference.py) shares no code with the package: its own decode and NMS, its
own cut by hand-named tensors, one masked copy at a time. Every model is compiled in f32 on both sides (the
reference's `CONFIG`), so detections compare to float rounding and the original outputs bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import anchors_last_detector
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from tolerance import assert_maps_match

import ov_reciprocam as orc
from ov_reciprocam.errors import ReciproCamError
from ov_reciprocam.methods.detection.build import kept_cells
from ov_reciprocam.model.reshape import set_batch
from ov_reciprocam.model.rt_info import DetectionInfo, PatchInfo
from ov_reciprocam.vocabulary import DetectionOptions, DetectorKind
from tests.support import detection_reference as ref

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
assert ref.CONFIG == F32


def _compiled(model: ov.Model) -> ov.CompiledModel:
    return ov.Core().compile_model(model, "CPU", F32)


def _run(compiled: ov.CompiledModel, inputs: np.ndarray) -> dict[str, np.ndarray]:
    result = compiled(inputs)
    return {o.get_any_name(): np.asarray(result[o]) for o in compiled.outputs}


def _photo(detector: ref.Detector, name: str) -> np.ndarray:
    return detector.prepare(ref.read_photo(ref.SAMPLES / name))


@pytest.fixture(scope="module")
def yolox() -> ov.CompiledModel:
    return _compiled(orc.patch(ref.YOLOX.path))


@pytest.fixture(scope="module")
def ultralight() -> ov.CompiledModel:
    return _compiled(orc.patch(ref.ULTRALIGHT.path))


@pytest.fixture(scope="module")
def blazeface() -> ov.CompiledModel:
    return _compiled(orc.patch(ref.BLAZEFACE.path))


DETECTORS = {d.name: d for d in (ref.YOLOX, ref.ULTRALIGHT, ref.BLAZEFACE)}


def _assert_detections_equal(ours: np.ndarray, expected: list[ref.Detection], k: int = ref.TOP_K) -> None:
    """Our [K, 6] rows against the reference's list: same classes in the same order, boxes and scores to rounding,
    padding rows after."""
    n = len(expected)
    assert n, "a photo the detector finds nothing in proves nothing"
    np.testing.assert_array_equal(ours[:n, 5], [d.label for d in expected])
    np.testing.assert_allclose(ours[:n, 4], [d.score for d in expected], rtol=1e-5)
    np.testing.assert_allclose(ours[:n, :4], [d.box for d in expected], rtol=0, atol=1e-3)
    np.testing.assert_array_equal(ours[n:k], np.tile([0, 0, 0, 0, 0, -1], (k - n, 1)))


@pytest.mark.parametrize(
    ("name", "photo"),
    [
        ("yolox", "images/both.png"),
        ("yolox", "images/horses.jpg"),  # one horse's copies all score below 3e-6, the other's up to 0.03
        ("ultralight", "openimages/grace_hopper.png"),
        ("blazeface", "openimages/grace_hopper.png"),
    ],
)
def test_detections_and_maps_equal_the_brute_force_reference(request, name: str, photo: str) -> None:
    detector = DETECTORS[name]
    inputs = _photo(detector, photo)
    ours = _run(request.getfixturevalue(name), inputs)
    expected = ref.detect(detector, ref.run(detector, inputs))
    _assert_detections_equal(ours["detections"][0], expected)
    maps = ours["saliency_map"][0]
    assert_maps_match(maps[: len(expected)], ref.brute_force_maps(detector, inputs, expected))
    assert not maps[len(expected) :].any(), "padding detections get all-zero maps"


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_the_original_outputs_stay_bit_identical(request, name: str) -> None:
    detector = DETECTORS[name]
    inputs = _photo(detector, "images/horses.jpg")
    ours, plain = _run(request.getfixturevalue(name), inputs), ref.run(detector, inputs)
    assert set(plain) < set(ours)
    for output, values in plain.items():
        np.testing.assert_array_equal(ours[output], values)


BATCH_PHOTOS = {  # two photos each detector finds something different in
    "yolox": ("images/both.png", "images/horses.jpg"),
    "ultralight": ("openimages/grace_hopper.png", "images/puppies.jpg"),
    "blazeface": ("openimages/grace_hopper.png", "openimages/pets.jpg"),
}


@pytest.mark.parametrize("name", sorted(BATCH_PHOTOS))
def test_a_batch_of_two_gives_each_photo_its_own_detections_and_maps(request, name: str) -> None:
    """Ultra-Light flattens its scores to [4420, 2] and back to [1, 4420, 2] with literal shapes: both follow the
    batch (`model.reshape.batch_merges`)."""
    detector = DETECTORS[name]
    photos = [_photo(detector, p) for p in BATCH_PHOTOS[name]]
    both = np.concatenate(photos)
    batched = _run(_compiled(orc.patch(detector.path, batch=2)), both)
    plain = orc.read_model(detector.path)
    set_batch(plain, 2)
    for output, values in _run(_compiled(plain), both).items():
        np.testing.assert_array_equal(batched[output], values)
    alone = request.getfixturevalue(name)
    for i, photo in enumerate(photos):
        single = _run(alone, photo)
        np.testing.assert_allclose(batched["detections"][i], single["detections"][0], rtol=1e-5, atol=1e-3)
        n = int((single["detections"][0][:, 5] >= 0).sum())
        assert n, "a photo the detector finds nothing in proves nothing"
        assert_maps_match(batched["saliency_map"][i][:n], single["saliency_map"][0][:n])
        assert not batched["saliency_map"][i][n:].any()
    assert not np.array_equal(batched["detections"][0], batched["detections"][1])


@pytest.mark.parametrize(("name", "copies"), [("yolox", (13, 13)), ("ultralight", (8, 10))])
def test_the_record_says_what_was_built(name: str, copies: tuple[int, int]) -> None:
    detector = DETECTORS[name]
    model = orc.patch(detector.path, detection=DetectionOptions(detections=5))
    info = DetectionInfo.read(model)
    assert info is not None and PatchInfo.read(model) is None
    assert info.cut == detector.cuts and info.copy_grid == copies and info.detections == 5
    assert (info.score_threshold, info.iou_threshold) == (detector.score_threshold, detector.iou_threshold)
    assert model.output("saliency_map").get_partial_shape() == ov.PartialShape([1, 5, *copies])
    assert model.output("detections").get_partial_shape() == ov.PartialShape([1, 5, 6])
    with pytest.raises(ReciproCamError, match="patched before"):
        orc.patch(model)


def test_blazeface_reads_its_anchor_layout_or_takes_it_given(blazeface: ov.CompiledModel) -> None:
    inputs = _photo(ref.BLAZEFACE, "openimages/grace_hopper.png")
    info = DetectionInfo.read(orc.patch(ref.BLAZEFACE.path))
    assert info is not None and info.detector is DetectorKind.ANCHORED and info.levels == "16x16x2,8x8x6"
    ours = _run(blazeface, inputs)
    given = orc.patch(ref.BLAZEFACE.path, detection=DetectionOptions(anchors=((16, 16, 2), (8, 8, 6))))
    np.testing.assert_array_equal(_run(_compiled(given), inputs)["detections"], ours["detections"])
    with pytest.raises(ReciproCamError, match="`anchors` 16x16x2 makes 512 anchors, the outputs have 896"):
        orc.patch(ref.BLAZEFACE.path, detection=DetectionOptions(anchors=((16, 16, 2),)))


@pytest.mark.parametrize(
    ("grid", "copies"),
    [
        ((52, 52), (13, 13)),
        ((30, 40), (8, 10)),
        ((15, 20), (8, 10)),
        ((4, 5), (8, 10)),
        ((8, 10), (4, 5)),
        ((5, 5), (5, 5)),
    ],
)
def test_each_copy_keeps_the_cells_the_centre_rule_gives(grid: tuple[int, int], copies: tuple[int, int]) -> None:
    np.testing.assert_array_equal(kept_cells(grid, copies), ref.kept_cells(grid, copies))


def test_a_copy_grid_finer_than_a_cut_tensor_keeps_the_coarse_cell_under_each_copy() -> None:
    kept = kept_cells((2, 2), (4, 4))  # each 2x2 block of copies shares one cell
    assert kept.shape == (16, 2, 2) and (kept.sum(axis=(1, 2)) == 1).all()
    assert kept[0, 0, 0] and kept[5, 0, 0] and kept[15, 1, 1] and kept[3, 0, 1]


def _detector_with_nms(in_a_branch: bool = False) -> ov.Model:
    """A toy detector that selects its boxes itself: conv -> boxes and scores -> NonMaxSuppression; `in_a_branch`:
    the NMS inside an If's branch, run only when some score is positive, as torchvision's detectors keep it."""
    rng = np.random.default_rng(0)
    image = ops.parameter([1, 3, 16, 16], ov.Type.f32, name="image")
    maps = ops.convolution(
        image, ops.constant(rng.normal(size=(5, 3, 3, 3)).astype(np.float32)), [4, 4], [1, 1], [1, 1], [1, 1]
    )
    rows = ops.transpose(ops.reshape(maps, ops.constant(np.array([1, 5, 16], np.int64)), False), [0, 2, 1])
    boxes = ops.slice(rows, np.array([0]), np.array([4]), np.array([1]), np.array([2]))
    scores = ops.transpose(
        ops.sigmoid(ops.slice(rows, np.array([4]), np.array([5]), np.array([1]), np.array([2]))), [0, 2, 1]
    )
    if not in_a_branch:
        nms = ops.non_max_suppression(boxes, scores, np.int64(5), np.float32(0.5), np.float32(0.1))
        return ov.Model([ops.result(nms.output(0))], [image])
    inner_boxes, inner_scores = ops.parameter([1, 16, 4], ov.Type.f32), ops.parameter([1, 1, 16], ov.Type.f32)
    nms = ops.non_max_suppression(inner_boxes, inner_scores, np.int64(5), np.float32(0.5), np.float32(0.1))
    then_body = ov.Model([ops.result(nms.output(0))], [inner_boxes, inner_scores])
    none = ov.Model([ops.result(ops.constant(np.zeros((0, 3), np.int64)))], [])
    branch = ops.if_op(ops.greater(ops.reduce_max(scores, np.array([0, 1, 2]), False), np.float32(0)).output(0))
    branch.set_then_body(then_body)
    branch.set_else_body(none)
    branch.set_input(boxes.output(0), inner_boxes, None)
    branch.set_input(scores.output(0), inner_scores, None)
    selected = branch.set_output(then_body.get_results()[0], none.get_results()[0])
    return ov.Model([ops.result(selected)], [image])


def _raw_ssd_head(classes: int, regressors: int) -> ov.Model:
    """A toy SSD: two levels (8x8, 4x4), two anchors a cell, a raw head on each (no priors, no activation in the
    graph): regressors [1, 160, regressors] and logits [1, 160, classes], each level's maps joined by a Concat."""
    rng = np.random.default_rng(0)

    def conv(x: ov.Node, out: int, stride: int) -> ov.Node:
        channels = x.get_output_partial_shape(0)[1].get_length()
        weights = ops.constant(rng.normal(size=(out, channels, 3, 3)).astype(np.float32))
        return ops.relu(ops.convolution(x, weights, [stride, stride], [1, 1], [1, 1], [1, 1]))

    def head(x: ov.Node, width: int) -> ov.Node:
        channels = x.get_output_partial_shape(0)[1].get_length()
        maps = ops.convolution(
            x, ops.constant(rng.normal(size=(2 * width, channels, 1, 1)).astype(np.float32)), [1, 1], [0, 0], [0, 0],
            [1, 1],
        )  # fmt: skip
        rows = ops.transpose(maps, np.array([0, 2, 3, 1]))
        return ops.reshape(rows, np.array([1, -1, width], np.int64), False)

    image = ops.parameter([1, 3, 32, 32], ov.Type.f32, name="image")
    fine = conv(image, 8, 4)
    coarse = conv(fine, 8, 2)
    boxes = ops.concat([head(fine, regressors), head(coarse, regressors)], 1)
    logits = ops.concat([head(fine, classes), head(coarse, classes)], 1)
    return ov.Model([ops.result(boxes), ops.result(logits)], [image])


def test_a_raw_ssd_head_is_refused_unless_in_mediapipes_layout() -> None:
    with pytest.raises(ReciproCamError, match=r"\[N, 160, 4\] .* \[N, 160, 3\] look like a raw SSD head: its priors"):
        orc.patch(_raw_ssd_head(classes=3, regressors=4))
    patched = orc.patch(_raw_ssd_head(classes=1, regressors=8), detection=DetectionOptions(score_threshold=0))
    assert patched.output("saliency_map").get_partial_shape() == ov.PartialShape([1, 10, 8, 8])


@pytest.mark.parametrize("in_a_branch", [False, True])
def test_a_detector_that_runs_nms_inside_is_refused_in_one_line(in_a_branch: bool) -> None:
    with pytest.raises(
        ReciproCamError, match=r"^the model selects its detections inside the graph \(NonMaxSuppression"
    ) as caught:
        orc.patch(_detector_with_nms(in_a_branch))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("keywords", "named"),
    [({"top_k": 3}, "top_k"), ({"score": "logits"}, "score"), ({"kernel": "gaussian"}, "kernel")],
)
def test_classifier_options_are_refused_for_a_detector(keywords: dict, named: str) -> None:
    with pytest.raises(ReciproCamError, match=f"`{named}` is for classifiers"):
        orc.patch(ref.ULTRALIGHT.path, **keywords)


def test_options_are_checked_where_they_enter() -> None:
    with pytest.raises(ReciproCamError, match="`detections` must be a whole number"):
        DetectionOptions(detections=0)
    with pytest.raises(ReciproCamError, match="`iou_threshold` must be a number in"):
        DetectionOptions(iou_threshold=1.5)
    with pytest.raises(ReciproCamError, match="`cut` names 'no such tensor', which no tensor has"):
        orc.patch(ref.ULTRALIGHT.path, detection=DetectionOptions(cut=("314", "no such tensor")))
    with pytest.raises(ReciproCamError, match="do not separate the input from the outputs"):
        orc.patch(ref.ULTRALIGHT.path, detection=DetectionOptions(cut=("360", "400", "434")))


def test_an_explicit_cut_is_honoured() -> None:
    """Two scales of Ultra-Light's four (the 30x40 map separates the input from every output alone): the maps on
    their 15x20 copies still follow the reference cut at the same tensors."""
    names = ("314", "360")
    inputs = _photo(ref.ULTRALIGHT, "openimages/grace_hopper.png")
    model = orc.patch(ref.ULTRALIGHT.path, detection=DetectionOptions(cut=names))
    info = DetectionInfo.read(model)
    assert info is not None and info.cut == names and info.copy_grid == (15, 20)
    assert DetectionInfo.read(orc.patch(ref.ULTRALIGHT.path, target="314, 360")) == info  # as the CLI's --target
    ours = _run(_compiled(model), inputs)
    expected = ref.detect(ref.ULTRALIGHT, ref.run(ref.ULTRALIGHT, inputs))
    brute = ref.brute_force_maps(ref.ULTRALIGHT, inputs, expected, names)
    assert_maps_match(ours["saliency_map"][0][: len(expected)], brute)


def test_a_copy_grid_of_its_own_sets_the_maps_size() -> None:
    model = orc.patch(ref.ULTRALIGHT.path, detection=DetectionOptions(copy_grid=(2, 2)))
    info = DetectionInfo.read(model)
    assert info is not None and info.copy_grid == (2, 2)
    maps = _run(_compiled(model), _photo(ref.ULTRALIGHT, "openimages/grace_hopper.png"))["saliency_map"]
    assert maps.shape == (1, ref.TOP_K, 2, 2) and maps[0, 0].max() == 1.0


def test_a_dynamic_batch_is_followed(yolox: ov.CompiledModel) -> None:
    model = orc.patch(ref.YOLOX.path, batch=-1)
    assert model.output("detections").get_partial_shape() == ov.PartialShape([-1, ref.TOP_K, 6])
    assert model.output("saliency_map").get_partial_shape() == ov.PartialShape([-1, ref.TOP_K, 13, 13])
    photo = _photo(ref.YOLOX, "images/horses.jpg")
    ours, static = _run(_compiled(model), photo), _run(yolox, photo)
    np.testing.assert_allclose(ours["detections"], static["detections"], rtol=1e-5, atol=1e-3)
    assert_maps_match(ours["saliency_map"][0, :2], static["saliency_map"][0, :2])


@pytest.fixture(scope="module")
def anchors_last_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic [N, 4 + C, A] detector (tests/support/anchors_last_detector.py), saved for the reference."""
    path = tmp_path_factory.mktemp("anchors_last") / "anchors_last.xml"
    ov.save_model(anchors_last_detector.build(), path, compress_to_fp16=False)
    return path


def test_an_anchors_last_detector_equals_the_brute_force_reference(anchors_last_path: Path) -> None:
    """Ultralytics' layout, random weights: the class rows transposed to anchors, the boxes' centres and sizes to
    corners, Ultralytics' thresholds; the maps those of the reference cut at the backbone's named outputs."""
    side = anchors_last_detector.SIDE
    detector = ref.anchors_last(anchors_last_path, anchors_last_detector.CUT, side)
    patched = orc.patch(anchors_last_path)
    info = DetectionInfo.read(patched)
    assert info is not None and info.detector is DetectorKind.ANCHORS_LAST
    assert info.cut == anchors_last_detector.CUT and info.copy_grid == (8, 8)
    assert (info.score_threshold, info.iou_threshold) == (0.25, 0.7)
    inputs = np.random.default_rng(2).uniform(0, 1, (1, 3, side, side)).astype(np.float32)
    ours, plain = _run(_compiled(patched), inputs), ref.run(detector, inputs)
    for output, values in plain.items():
        np.testing.assert_array_equal(ours[output], values)
    expected = ref.detect(detector, plain)
    assert {d.label for d in expected} == {0, 1, 2}, "each class row must be read as its own"
    _assert_detections_equal(ours["detections"][0], expected)
    assert_maps_match(ours["saliency_map"][0][: len(expected)], ref.brute_force_maps(detector, inputs, expected))


def test_an_anchors_last_detector_at_batch_two_gives_each_input_its_own(anchors_last_path: Path) -> None:
    side = anchors_last_detector.SIDE
    inputs = np.random.default_rng(2).uniform(0, 1, (2, 3, side, side)).astype(np.float32)
    batched = _run(_compiled(orc.patch(anchors_last_path, batch=2)), inputs)
    alone = _compiled(orc.patch(anchors_last_path))
    for i in range(2):
        single = _run(alone, inputs[i : i + 1])
        np.testing.assert_allclose(batched["detections"][i], single["detections"][0], rtol=1e-5, atol=1e-3)
        assert_maps_match(batched["saliency_map"][i], single["saliency_map"][0])
    assert not np.array_equal(batched["detections"][0], batched["detections"][1])
