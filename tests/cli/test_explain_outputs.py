"""explain's --overlay-format: the files in the format asked, named so in results.json and report.html, and the
maps' rows named by class."""

from __future__ import annotations

import json
from urllib.parse import quote

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from paths import SAMPLES

from ov_reciprocam.cli import main
from ov_reciprocam.output import run_folder

CORAL = SAMPLES / "models" / "coral" / "mobilenet_v1_0.25_128_quant.tflite"
PHOTO = SAMPLES / "openimages" / "parrot.jpg"


def explain(*args: object) -> None:
    done = CliRunner().invoke(main, ["explain", str(CORAL), str(PHOTO), *map(str, args)])
    assert done.exit_code == 0, done.output


@pytest.mark.parametrize("kind", [None, "png", "webp"])
def test_overlays_are_written_named_and_linked_in_the_format_asked(tmp_path, kind):
    explain("-o", tmp_path, "--top-k", "2", *(["--overlay-format", kind] if kind else []))
    results = json.loads((tmp_path / "results.json").read_text())
    (record,) = results["images"]
    names = [e["overlay"] for e in record["explained"]]
    assert [n.rsplit(".", 1)[1] for n in names] == [kind or "jpg"] * 2
    page = (tmp_path / "report.html").read_text()
    for name in names:
        assert cv2.imread(str(tmp_path / name)).shape[:2] == tuple(reversed(record["size"]))
        assert name in results[run_folder.FILES] and f"href='{quote(name)}'" in page
    assert sorted(p.name for p in tmp_path.glob("parrot_*_*")) == sorted(names)  # no overlay in another format
    # The maps' rows are the explained classes, in order, and results.json says which.
    assert record["maps_classes"] == [e["class_id"] for e in record["explained"]]
    assert np.load(tmp_path / record["maps"]).shape[0] == 2


def test_an_unknown_overlay_format_is_refused_before_any_work(tmp_path):
    done = CliRunner().invoke(
        main, ["explain", str(CORAL), str(PHOTO), "-o", str(tmp_path / "out"), "--overlay-format", "tiff"]
    )
    assert done.exit_code == 2 and "'tiff' is not one of 'jpg', 'png', 'webp'" in done.output
    assert not (tmp_path / "out").exists()
