"""`bench` on a detector: plain and patched timed side by side, and the MAC floor of its branch.

The floor is checked against a count of the patched graph itself, made here: every copy runs the tail once, so the
patched model's MACs over the plain one's must be the floor, whatever `Cut.tail` says the tail is.
"""

from __future__ import annotations

import json

import numpy as np
import openvino as ov
import pytest
from commands import cli as run

import ov_reciprocam as orc
from ov_reciprocam.methods.detection.cost import floor
from ov_reciprocam.methods.detection.locate import locate_detector
from ov_reciprocam.model.formats import read_model
from ov_reciprocam.quality.bench import DETECTION_PATH, baselines, measure
from ov_reciprocam.vocabulary import DetectionOptions
from tests.support.detection_reference import BLAZEFACE, ULTRALIGHT, YOLOX


def counted_macs(model: ov.Model) -> int:
    """Each convolution's output elements x the weights one of them reads; no MatMul is expected in these models."""
    total = 0
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        assert kind != "MatMul", "this count knows convolutions only"
        if kind in ("Convolution", "GroupConvolution"):
            weights = list(op.input_value(1).get_partial_shape().to_shape())
            per_output = np.prod(weights[1:] if kind == "Convolution" else weights[2:])
            total += int(np.prod(list(op.output(0).get_partial_shape().to_shape())) * per_output)
    return total


def patched_over_plain(path: object) -> float:
    return counted_macs(orc.patch(path)) / counted_macs(read_model(path))


@pytest.mark.parametrize("detector", [YOLOX, ULTRALIGHT, BLAZEFACE], ids=lambda d: d.name)
def test_floor_is_the_patched_graphs_macs_over_the_plain_ones(detector):
    plain = read_model(detector.path)
    found = locate_detector(plain, DetectionOptions())
    assert found is not None
    expected = patched_over_plain(detector.path)
    assert expected > 1.1  # the copies add work the check below can miss (BlazeFace: 1.17)
    assert floor(plain, found) == pytest.approx(expected, rel=1e-9)


def test_floor_follows_the_copy_grid():
    plain = read_model(BLAZEFACE.path)
    coarse, fine = (locate_detector(plain, DetectionOptions(copy_grid=g)) for g in ((4, 4), (8, 8)))
    assert coarse is not None and fine is not None
    assert floor(plain, fine) - 1 == pytest.approx(4 * (floor(plain, coarse) - 1))


def test_bench_measures_a_plain_and_a_patched_detector_alike():
    expected = patched_over_plain(BLAZEFACE.path)
    for source in (BLAZEFACE.path, orc.patch(BLAZEFACE.path)):
        (m,) = measure(source, seconds=0.2)
        assert m.path == DETECTION_PATH and m.runs >= 3
        assert m.floor == pytest.approx(expected, rel=1e-9)
        assert m.floor_bytes > m.floor  # + the pass writing the masked copies
        assert m.ratio == pytest.approx(m.patched_ms / m.plain_ms)


def test_bench_command_prints_a_detectors_floor(tmp_path):
    result = run("bench", ULTRALIGHT.path, "--seconds", "0.3", "--json", tmp_path / "bench.json")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads((tmp_path / "bench.json").read_text())["results"]
    assert row["floor"] == pytest.approx(patched_over_plain(ULTRALIGHT.path), rel=1e-9)
    assert "tail detection" in result.stdout and f"{row['floor']:.2f}" in result.stdout


def test_baselines_are_refused_for_a_detector_in_one_line():
    (m,) = measure(BLAZEFACE.path, seconds=0.1)
    with pytest.raises(orc.ReciproCamError, match="`baselines` for a detector"):
        baselines(BLAZEFACE.path, m)
