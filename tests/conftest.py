from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Test helpers (builders, brute-force references, tolerances) are plain modules in tests/support.
sys.path.insert(0, str(Path(__file__).parent / "support"))

from light import reweighted  # noqa: E402


@pytest.fixture(scope="session")
def light_models(tmp_path_factory) -> dict:
    """name -> path of a light ONNX model with random weights, made once per session."""
    out = tmp_path_factory.mktemp("light")
    cache: dict = {}

    class _Lazy(dict):
        def __missing__(self, name):
            cache[name] = reweighted(name, out)
            self[name] = cache[name]
            return cache[name]

    return _Lazy()
