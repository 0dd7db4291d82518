"""On a real trained model and real photos, the top-1 map lands on the object."""

from __future__ import annotations

import json

import numpy as np
import pytest
from paths import DOG_MODEL, IMAGES
from reference import compile_f32

import ov_reciprocam as orc
from ov_reciprocam.photos.imaging import peak, read_image
from ov_reciprocam.photos.preprocess import Preprocess

LABELS = (DOG_MODEL.parent / "labels.txt").read_text().split()
# The recipe in samples/models/dog_breeds_mobilenetv2/README.md.
RECIPE = Preprocess(160, 160, "NHWC", mean=(127.5,), scale=(127.5,), rgb=True, interpolation="cubic")


def _inside(point, box, margin=0):
    x, y = point
    x0, y0, x1, y1 = box
    return x0 - margin <= x <= x1 + margin and y0 - margin <= y <= y1 + margin


@pytest.fixture(scope="module")
def explain():
    compiled = {score: compile_f32(orc.patch(DOG_MODEL, score=score)) for score in ("softmax", "logits")}

    def run(name, score="softmax"):
        image = read_image(IMAGES / name)
        out = compiled[score](RECIPE(image)[None])
        probs, maps = out[0][0], out[orc.SALIENCY][0]
        top = int(np.argmax(probs))
        upsampled = RECIPE.to_image(maps[top], (image.shape[1], image.shape[0]))
        return LABELS[top], float(probs[top]), peak(upsampled)

    return run


def test_both_png_peaks_on_the_dog_not_the_cat(explain):
    label, prob, point = explain("both.png")
    assert label == "bull_mastiff" and prob == pytest.approx(0.85, abs=0.02)
    dog = json.loads((IMAGES / "boxes.json").read_text())["both.png"][0]["box"]
    cat = json.loads((IMAGES / "boxes_other.json").read_text())["both.png"][0]["box"]
    assert _inside(point, dog)
    assert not _inside(point, cat)


@pytest.mark.parametrize(
    ("name", "label"),
    [("puppies.jpg", "Labrador_retriever"), ("horses.jpg", "Labrador_retriever"), ("cheetah_person.jpg", "Chihuahua")],
)
def test_top1_as_in_model_readme(explain, name, label):
    assert explain(name)[0] == label


def test_softmax_beats_logits_on_pointing(explain):
    """The pointing game (hit: peak within 15 px of a dog box) on the three dog-box photos we have."""
    boxes = json.loads((IMAGES / "boxes.json").read_text())

    def hits(score):
        return sum(
            any(_inside(explain(name, score)[2], b["box"], margin=15) for b in dogs) for name, dogs in boxes.items()
        )

    assert hits("softmax") >= hits("logits")
    assert hits("softmax") >= 1
