"""Where the repository's sample models and photos are: everything a test reads lives inside the repo."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
DOG_MODEL = SAMPLES / "models" / "dog_breeds_mobilenetv2" / "dog_breeds_mobilenetv2.xml"
IMAGES = SAMPLES / "images"
