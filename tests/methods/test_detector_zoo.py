"""The detectors of benchmarks/detector_zoo.py as tests: each is explained (and passes the light check) or refused.

Opt-in like tests/quality/test_zoo.py: they need torch, torchvision, timm and onnx (ultralytics for the YOLO rows),
and run only with `pytest -m zoo`. Exports go to $OV_RECIPROCAM_ZOO_CACHE/detectors when it is set, else to a
temporary directory. A model the package neither explains nor refuses in one line fails; so does a YOLO row
(Ultralytics' [N, 4 + C, A]) whose detections or maps are not the brute-force reference's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.zoo

pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("timm")
pytest.importorskip("onnx")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import detector_zoo  # noqa: E402


@pytest.fixture(autouse=True)
def _opt_in(request: pytest.FixtureRequest) -> None:
    if "zoo" not in (request.config.getoption("markexpr") or "").replace("not zoo", ""):
        pytest.skip("opt-in: pytest -m zoo")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = os.environ.get("OV_RECIPROCAM_ZOO_CACHE")
    return Path(root) / "detectors" if root else tmp_path_factory.mktemp("detectors")


@pytest.mark.parametrize("name", detector_zoo.ZOO)
def test_detector_explained_or_refused(name: str, cache: Path) -> None:
    if not detector_zoo.available(name):
        pytest.skip("needs ultralytics")
    row = detector_zoo.check(name, detector_zoo.export(name, cache))
    if "kind" in row:
        assert row["ok"], row["check"]
        assert row.get("exact", True), row["check_exact"]
        assert ("exact" in row) == (row["kind"] == "anchors-last")
    else:
        assert row["result"].startswith("refused: "), row["result"]
