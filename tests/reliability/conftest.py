"""Files every bad-input row may name: `{dog}` (the plain dog model, no recipe), `{dog_xai}` (patched, with its
recipe and labels, as the README's demo makes it), `{photo}` (one real photo), `{images}` (the sample photos),
`{labels}` (the dog model's labels), `{coral}` (Google's uint8 TFLite MobileNetV1, recipe in its metadata)."""

from __future__ import annotations

import pytest
from paths import DOG_MODEL, IMAGES, SAMPLES

import ov_reciprocam as orc
from ov_reciprocam.model.labels import read_labels


@pytest.fixture(scope="session")
def places(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("reliability")
    labels = DOG_MODEL.parent / "labels.txt"
    recipe = orc.Recipe(mean=(127.5,), scale=(127.5,), rgb=True, interpolation="cubic")
    dog_xai = orc.save(orc.patch(DOG_MODEL, recipe=recipe, labels=read_labels(labels)), folder / "dog_xai.xml")
    return {
        "dog": str(DOG_MODEL),
        "dog_xai": str(dog_xai),
        "photo": str(IMAGES / "horses.jpg"),
        "images": str(IMAGES),
        "labels": str(labels),
        "coral": str(SAMPLES / "models" / "coral" / "mobilenet_v1_0.25_128_quant.tflite"),
        "detector": str(
            SAMPLES / "models" / "detection" / "blazeface_short_range" / "face_detection_short_range.tflite"
        ),
    }
