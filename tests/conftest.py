from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from light import reweighted  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
DOG_MODEL = SAMPLES / "models" / "dog_breeds_mobilenetv2" / "dog_breeds_mobilenetv2.xml"
IMAGES = SAMPLES / "images"


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
