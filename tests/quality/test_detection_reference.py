"""The detectors' brute-force reference (tests/support/detection_reference.py) checked against what is known.

Its decode and NMS give the detections each model's README.txt lists; its cut model, fed the uncut
tensors, gives the plain model's scores; its copies partition every cut tensor; its maps point inside the boxes.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from tests.support import detection_reference as ref
from tests.support.paths import SAMPLES

LISTED = re.compile(r"([a-z][a-z ]*?) ([0-9.]+) \[(\d+), (\d+), (\d+), (\d+)\]")
PHOTO = re.compile(r"^  (\S+)\.\w+: (.*)$")


def labels_of(detector: ref.Detector) -> list[str]:
    if detector is ref.YOLOX:
        return (detector.path.parent / "coco_classes.txt").read_text().split("\n")
    return ["face"]


def listed(detector: ref.Detector) -> dict[Path, list[tuple[str, float, list[int]]]]:
    """The README's plain-run detections of every listed photo the repo has (found by name, any extension)."""
    found = {}
    for line in (detector.path.parent / "README.txt").read_text().splitlines():
        if not (match := PHOTO.match(line)):
            continue
        paths = sorted(SAMPLES.glob(f"*/{match[1]}.*"))
        rows = [(m[1], float(m[2]), [int(v) for v in m.groups()[2:]]) for m in LISTED.finditer(match[2])]
        if paths:
            found[paths[0]] = rows
    return found


@pytest.mark.parametrize("detector", [ref.YOLOX, ref.ULTRALIGHT, ref.BLAZEFACE], ids=lambda d: d.name)
def test_the_decode_gives_the_detections_the_readme_lists(detector: ref.Detector) -> None:
    # The READMEs were written from runs at the CPU's default precision (bf16 on the CPU that wrote them): there
    # the numbers hold to their printed digits; in f32 they move (a cat in both.png: 0.64 -> 0.73, boxes 4 px).
    bf16 = ref.compiled(detector, "").get_property("INFERENCE_PRECISION_HINT") == ov.Type.bf16
    score_tol, box_tol = (0.011, 1) if bf16 else (0.1, 4)
    names = labels_of(detector)
    expected = listed(detector)
    assert len(expected) >= (10 if detector is ref.YOLOX else 1)
    for path, rows in expected.items():
        got = ref.detections(detector, ref.read_photo(path), precision="")
        assert [names[d.label] for d in got] == [r[0] for r in rows], path.name
        for d, (_, score, box) in zip(got, rows, strict=True):
            assert abs(d.score - score) <= score_tol, (path.name, d.score, score)
            assert np.abs(np.rint(d.box) - box).max() <= box_tol, (path.name, d.box, box)


CUT_SHAPES = {
    "yolox": [(64, 52, 52), (128, 26, 26), (256, 13, 13)],  # the PAFPN's inputs
    "ultralight": [(64, 30, 40), (128, 15, 20), (256, 8, 10), (256, 4, 5)],  # one per scale of priors
    "blazeface": [(48, 16, 16), (96, 8, 8)],  # where its 16x16 and 8x8 stages begin (2 and 6 anchors a cell)
}


@pytest.mark.parametrize("detector", [ref.YOLOX, ref.ULTRALIGHT, ref.BLAZEFACE], ids=lambda d: d.name)
def test_the_cut_model_fed_the_uncut_tensors_gives_the_plain_scores(detector: ref.Detector) -> None:
    inputs = detector.prepare(ref.read_photo(SAMPLES / "openimages" / "grace_hopper.png"))
    plain = detector.scores(ref.run(detector, inputs))
    model = ref.compiled_cut(detector)
    feats = ref.features(detector, inputs)
    assert [f.shape[1:] for f in feats] == CUT_SHAPES[detector.name]
    result = model(feats)
    cut = detector.scores({o.get_any_name(): np.asarray(result[o]) for o in model.outputs})
    np.testing.assert_allclose(cut, plain, rtol=0, atol=1e-4)
    assert plain.max() > detector.score_threshold  # a face or a person: the scores compared are not all ~0


def test_the_copies_partition_every_cut_grid() -> None:
    for grid, copies in (((52, 52), (13, 13)), ((30, 40), (4, 5)), ((15, 20), (4, 5)), ((16, 16), (8, 8))):
        keeps = ref.kept_cells(grid, copies)
        assert (keeps.sum(0) == 1).all(), grid  # each cell in exactly one copy
    blocks = ref.kept_cells((52, 52), (13, 13))[13 * 2 + 5]  # copy (2, 5) keeps the 4x4 block at rows 8.., cols 20..
    assert np.array_equal(np.argwhere(blocks)[[0, -1]], [[8, 20], [11, 23]])
    assert blocks.sum() == 16
    # 30 rows of 8 px over 4 of 60: centres 4, 12, .. 236; the centre 180 opens the last copy: 7 / 8 / 7 / 8
    rows = ref.kept_cells((30, 40), (4, 5))[::5, :, 0]
    assert rows.sum(1).tolist() == [7, 8, 7, 8]
    # a cut grid coarser than the copies' (Ultra-Light's 4x5 under 8x10 copies): each copy keeps the one cell
    # under its centre, and each coarse cell serves the 2x2 copies inside it
    coarse = ref.kept_cells((4, 5), (8, 10))
    assert (coarse.sum((1, 2)) == 1).all() and (coarse.sum(0) == 4).all()
    assert ref.copy_grid([(30, 40), (15, 20), (8, 10), (4, 5)]) == (8, 10)


def peak_in_box(saliency: np.ndarray, box: tuple[float, ...], size: tuple[int, int]) -> bool:
    """The centre of the map's highest cell, in the input's (W, H) pixels, lies in the box."""
    (h, w), (width, height) = saliency.shape, size
    i, j = np.unravel_index(int(saliency.argmax()), saliency.shape)
    x, y = (j + 0.5) * width / w, (i + 0.5) * height / h
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


@pytest.mark.parametrize(
    ("detector", "photo", "size", "count"),
    [
        (ref.YOLOX, "pets.jpg", (416, 416), 2),
        (ref.ULTRALIGHT, "grace_hopper.png", (320, 240), 1),
        (ref.BLAZEFACE, "grace_hopper.png", (128, 128), 1),
    ],
    ids=["yolox", "ultralight", "blazeface"],
)
def test_every_maps_peak_lies_in_its_box(detector: ref.Detector, photo: str, size: tuple[int, int], count: int) -> None:
    bgr = ref.read_photo(SAMPLES / "openimages" / photo)
    found = ref.detections(detector, bgr)
    assert len(found) == count
    maps = ref.brute_force_maps(detector, detector.prepare(bgr), found)
    assert maps.min() == 0.0 and maps.max() == 1.0
    for d, saliency in zip(found, maps, strict=True):
        assert peak_in_box(saliency, d.box, size), (d, np.round(saliency, 2))
