"""samples/python/draw_detections.py: a plain OpenVINO app drawing each detection of a patched YOLOX with its map.

Its printed boxes must be the brute-force reference's detections scaled back to the photo, and each map's peak
must fall inside its own box (the two dogs of pets.jpg: each map on its own dog).
"""

from __future__ import annotations

import re
import subprocess
import sys

import cv2
from paths import REPO, SAMPLES

import ov_reciprocam as orc
from tests.support import detection_reference as ref

SAMPLE = REPO / "samples" / "python" / "draw_detections.py"
NUMBER = r"(-?\d+)"
LINE = re.compile(rf"^(\d+) class (\d+) score ([0-9.]+) box \[{', '.join([NUMBER] * 4)}\] peak \((\d+), (\d+)\)$")


def test_the_sample_draws_every_detection_with_its_map_on_its_own_object(tmp_path) -> None:
    model = orc.save(orc.patch(ref.YOLOX.path), tmp_path / "yolox_xai.xml")
    photo = SAMPLES / "openimages" / "pets.jpg"
    done = subprocess.run(
        [sys.executable, str(SAMPLE), str(model), str(photo), str(tmp_path / "out")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = [LINE.match(line) for line in done.stdout.splitlines()]
    assert all(lines), done.stdout
    bgr = ref.read_photo(photo)
    expected = ref.detections(ref.YOLOX, bgr)
    scale = min(416 / bgr.shape[0], 416 / bgr.shape[1])
    assert len(lines) == len(expected) == 2
    boxes = []
    for m, d in zip(lines, expected, strict=True):
        k, label, score, *box_and_peak = m.groups()
        box, (x, y) = [int(v) for v in box_and_peak[:4]], (int(v) for v in box_and_peak[4:])
        assert int(label) == d.label and abs(float(score) - d.score) < 1e-3
        assert max(abs(v - e / scale) for v, e in zip(box, d.box, strict=True)) <= 1
        assert box[0] <= x <= box[2] and box[1] <= y <= box[3], (box, x, y)
        assert cv2.imread(str(tmp_path / "out" / f"pets_{k}.jpg")).shape == bgr.shape
        boxes.append(box)
    assert boxes[0] != boxes[1]
