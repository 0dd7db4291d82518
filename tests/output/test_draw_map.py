"""Maps drawn outside `explain`: draw_map and heatmap on a model's raw `saliency_map`, an Explanation in a notebook."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from paths import DOG_MODEL, IMAGES
from tolerance import assert_pictures_match

import ov_reciprocam as orc

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
RECIPE = orc.Recipe(mean=(127.5,), scale=(127.5,), rgb=True, interpolation="cubic")


@pytest.fixture(scope="module")
def explainer():
    return orc.Explainer(DOG_MODEL, preprocess=RECIPE, config=F32)


@pytest.fixture(scope="module")
def horses(explainer):
    """The photo, its Explanation, and the raw `saliency_map` of the same inference as an app runs it."""
    photo = cv2.imread(str(IMAGES / "horses.jpg"))
    raw = explainer.compiled(explainer.preprocess(photo)[None])[orc.SALIENCY][0]
    return photo, explainer.explain([photo], top_k=1)[0], raw


def test_draw_map_is_the_explanations_overlay(horses):
    photo, explanation, raw = horses
    top = explanation.classes[0].class_id
    drawn = orc.draw_map(photo, raw[top])
    below_caption = slice(photo.shape[0] // 4, None)
    np.testing.assert_array_equal(drawn[below_caption], orc.overlay_of(explanation, top)[below_caption])
    assert drawn.shape == photo.shape and drawn.dtype == np.uint8


def test_draw_map_reads_every_kind_of_map(horses):
    photo, explanation, raw = horses
    m = raw[explanation.classes[0].class_id]
    drawn = orc.draw_map(photo, m)
    # `patch --uint8`: half a step of 255, times jet's steepest slope (4) and alpha, moves a colour by 3 levels at most.
    assert_pictures_match(orc.draw_map(photo, np.round(m * 255).astype(np.uint8)), drawn, levels=3, share=0.0)
    unscaled = orc.draw_map(photo, m.astype(np.float64) * 40 - 7)  # logits, say: min-max scaled
    scaled = orc.draw_map(photo, (m - m.min()) / (m.max() - m.min()))
    assert np.abs(unscaled.astype(int) - scaled).max() <= 1
    rgb = orc.draw_map(np.ascontiguousarray(photo[:, :, ::-1]), m, rgb=True)
    np.testing.assert_array_equal(rgb, drawn[:, :, ::-1])
    constant = orc.draw_map(photo, np.full((5, 5), 3.0))  # nothing to show: the colormap's low end everywhere
    np.testing.assert_array_equal(constant, orc.draw_map(photo, np.zeros((5, 5), np.float32)))
    assert orc.heatmap(m).shape == (5, 5, 3) and orc.heatmap(m).dtype == np.uint8
    np.testing.assert_array_equal(orc.heatmap(m, rgb=True), orc.heatmap(m)[:, :, ::-1])


@pytest.mark.parametrize(
    ("frame", "saliency", "alpha", "message"),
    [
        (np.zeros((8, 8, 3), np.uint8), np.zeros((1, 19, 5, 5)), 0.5, r"saliency_map\[b, c\]"),
        (np.zeros((8, 8, 3), np.float32), np.zeros((5, 5)), 0.5, "uint8"),
        (np.zeros((8, 8), np.uint8), np.zeros((5, 5)), 0.5, "uint8"),
        (np.zeros((8, 8, 3), np.uint8), np.full((5, 5), np.nan), 0.5, "NaN"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((5, 5)), 1.5, "alpha"),
    ],
)
def test_draw_map_refuses_what_it_cannot_draw(frame, saliency, alpha, message):
    with pytest.raises(orc.ReciproCamError, match=message):
        orc.draw_map(frame, saliency, alpha=alpha)


def test_explanation_shows_itself_in_a_notebook(explainer, monkeypatch):
    explanation = explainer.explain([IMAGES / "puppies.jpg"], top_k=2)[0]  # 1600x1200: shown 480 px high
    top = explanation.classes[0].class_id
    png = _notebook_formatters(monkeypatch)[orc.Explanation]
    shown = cv2.imdecode(np.frombuffer(png(explanation), np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(shown, orc.overlay_of(explanation, top, height=480))
    np.testing.assert_array_equal(
        orc.overlay_of(explanation, top, rgb=True), orc.overlay_of(explanation, top)[:, :, ::-1]
    )


def _notebook_formatters(monkeypatch) -> dict:
    """What IPython's PNG formatter holds once `ov_reciprocam` is imported in a notebook's kernel: type -> function."""
    import importlib
    import sys
    from types import SimpleNamespace

    registered: dict = {}
    formatter = SimpleNamespace(for_type=registered.__setitem__)
    shell = SimpleNamespace(display_formatter=SimpleNamespace(formatters={"image/png": formatter}))
    monkeypatch.setitem(sys.modules, "IPython", SimpleNamespace(get_ipython=lambda: shell))
    importlib.reload(orc)
    return registered
