"""The locator picks the last conv block from graph structure, on real and built models."""

from __future__ import annotations

import builders
import pytest
from light import EXPECTED, NAMES
from paths import DOG_MODEL

import ov_reciprocam as orc
from ov_reciprocam.vocabulary import ScoreKind


def _producer(located: orc.Located) -> str:
    return located.target.output.get_node().get_type_name()


def test_expected_covers_every_light_model():
    assert set(EXPECTED) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_light_model_target(name, light_models):
    located = orc.locate(orc.read_model(light_models[name]))
    assert (_producer(located), located.target.shape) == EXPECTED[name]
    assert located.target.layout == "NCHW"
    assert located.classes == 1000


def test_squeezenet_class_score_conv_is_tail(light_models):
    located = orc.locate(orc.read_model(light_models["squeezenet"]))
    # conv10 and its ReLU (1000 x 13 x 13) are candidates, but they already are class scores.
    assert any(c.channels == 1000 for c in located.candidates)
    assert located.target.channels == 512


def test_dog_model_target_is_last_block():
    located = orc.locate(orc.read_model(DOG_MODEL))
    assert (_producer(located), located.target.shape, located.target.layout) == ("Clamp", (1280, 5, 5), "NCHW")
    assert located.classes == 19 and located.kind is ScoreKind.PROBABILITIES


@pytest.mark.parametrize(
    ("build", "name", "layout"),
    [
        (builders.gap_linear, "block2", "NCHW"),
        (builders.flatten_mlp, "pool5:0", "NCHW"),
        (builders.nhwc_head, "nhwc_features", "NHWC"),
        (lambda: builders.nhwc_head(flatten=True), "nhwc_features", "NHWC"),
    ],
)
def test_built_model_target(build, name, layout):
    located = orc.locate(orc.read_model(build()))
    assert (located.target.name, located.target.layout) == (name, layout)
    assert located.target.shape == ((16, 4, 4) if name == "pool5:0" else (16, 8, 8))


def test_named_intermediate_target(light_models):
    model = orc.read_model(light_models["resnet50"])
    auto = orc.locate(model)
    layer3 = [c for c in auto.candidates if c.shape == (1024, 14, 14)][-1]
    for name in (layer3.name, layer3.tensor_names[0]):
        assert orc.locate(model, name).target.name == layer3.name


def test_target_off_the_dominator_chain_is_refused(light_models):
    model = orc.read_model(light_models["inception_v1"])
    concat = orc.locate(model).target.output.get_node()
    branch = concat.input_value(0).get_node().get_friendly_name()
    with pytest.raises(orc.ReciproCamError, match="not on every path"):
        orc.locate(model, branch)


def test_unknown_target_name():
    with pytest.raises(orc.ReciproCamError, match="neither a tensor name"):
        orc.locate(orc.read_model(builders.gap_linear()), "no_such_layer")


def test_two_inputs_refused():
    with pytest.raises(orc.ReciproCamError, match="2 inputs"):
        orc.locate(builders.two_inputs())


def test_no_feature_map_refused():
    with pytest.raises(orc.ReciproCamError, match="no spatial feature map"):
        orc.locate(orc.read_model(builders.no_feature_map()))
