"""The zoo of benchmarks/zoo.py as tests: the expected target, exact maps, batch-independent maps.

Opt-in and slow: all 36 take 7 minutes on 2 cores with the exports cached, 17 without. They need
torch, torchvision and timm, and run only when asked for with `pytest -m zoo`. Exported models go
to $OV_RECIPROCAM_ZOO_CACHE when it is set (benchmarks/zoo.py uses /work/zoo_cache), else to a
temporary directory.
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
import vit_zoo  # noqa: E402
import zoo  # noqa: E402


@pytest.fixture(autouse=True)
def _opt_in(request):
    # A marker alone does not deselect, and the repo's conftest and addopts stay as they are: skip
    # here unless the mark expression asks for the zoo.
    if "zoo" not in (request.config.getoption("markexpr") or "").replace("not zoo", ""):
        pytest.skip("opt-in: pytest -m zoo")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return Path(os.environ.get("OV_RECIPROCAM_ZOO_CACHE") or tmp_path_factory.mktemp("zoo"))


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_zoo_model(name, cache):
    row = zoo.check(name, zoo.export(name, cache))
    assert row["shape"] == zoo.ZOO[name][2], f"target {row['target']} ({row['op']})"
    # The maps must vary, and the error must be small against that variation, or equality proves nothing.
    assert row["spread"] > 1e-6
    limit = min(zoo.ERROR_LIMIT, row["spread"] / 100)
    assert row["error"] <= limit, f"{row['path']} path"
    assert row["mosaic_error"] <= limit
    assert row["batch_diff"] <= zoo.BATCH_LIMIT


@pytest.mark.parametrize("fmt", vit_zoo.FORMATS)
@pytest.mark.parametrize("name", list(vit_zoo.ZOO))
def test_transformer_zoo_model(name, fmt, cache):
    path = vit_zoo.export(name, fmt, cache)
    row = vit_zoo.check(name, path, vit_zoo.input_options(path, vit_zoo.ZOO[name][1]))
    assert row["target_ok"], f"target {row['target']} {row['shape']} P={row['prefix']}"
    assert row["spread"] > 1e-6
    limit = min(zoo.ERROR_LIMIT, row["spread"] / 100)
    assert row["error"] <= limit, f"{row['path']} path"
    assert row["mosaic_error"] <= limit
    assert row["batch_diff"] <= zoo.BATCH_LIMIT
