"""vit/flow.py follows the token axis through per-token ops and gives up on anything that mixes tokens."""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from ov_reciprocam.analysis.dataflow import key_of
from ov_reciprocam.methods.vit.flow import Rows, follow

TOKENS, WIDTH = 5, 4


def _i64(*values: int) -> ov.Node:
    return ops.constant(np.array(values, np.int64))


def _rows(build) -> Rows | None:
    """The rows `follow` gives the output of `build(tokens)`, tokens [B, 5, 4] with every token on axis 1."""
    tokens = ops.parameter([-1, TOKENS, WIDTH], ov.Type.f32)
    model = ov.Model([ops.result(build(tokens))], [tokens])
    end = model.get_results()[0].input_value(0)
    computing = [op for op in model.get_ordered_ops() if op.get_type_name() != "Result"]
    found = follow(computing, {key_of(tokens.output(0)): Rows(1, tuple(range(TOKENS)))})
    return None if found is None else found[key_of(end)]


def _weights(*shape: int) -> ov.Node:
    return ops.constant(np.ones(shape, np.float32))


def test_per_token_ops_then_a_gather_pick_that_token():
    def build(x):
        hidden = ops.gelu(ops.add(ops.matmul(x, _weights(WIDTH, 8), False, False), _weights(8)), "erf")
        normed = ops.mvn(hidden, _i64(-1), True, 1e-6, "inside_sqrt")
        return ops.gather(normed, ops.constant(np.int64(2)), _i64(1))

    assert _rows(build) == Rows(None, (2,))


def test_a_strided_slice_that_shrinks_the_token_axis_picks_one_token():
    def build(x):  # x[:, 1], as torch exports it at some opsets
        return ops.strided_slice(x, _i64(0, 1), _i64(0, 2), _i64(1, 1), [1, 0], [1, 0], shrink_axis_mask=[0, 1])

    assert _rows(build) == Rows(None, (1,))


def test_a_mean_over_a_slice_reads_the_sliced_tokens():
    def build(x):
        patches = ops.slice(x, _i64(1), _i64(TOKENS), _i64(1), _i64(1))
        return ops.reduce_mean(patches, _i64(1), keep_dims=False)

    assert _rows(build) == Rows(None, (1, 2, 3, 4))


def test_heads_split_and_merged_keep_the_token_axis():
    def build(x):
        heads = ops.transpose(ops.reshape(x, _i64(0, TOKENS, 2, 2), special_zero=True), _i64(0, 2, 1, 3))
        return ops.reshape(ops.transpose(heads, _i64(0, 2, 1, 3)), _i64(0, TOKENS, WIDTH), special_zero=True)

    assert _rows(build) == Rows(1, tuple(range(TOKENS)))


@pytest.mark.parametrize(
    "build",
    [
        # a product over the token axis (token mixing, as an MLP-Mixer layer does)
        lambda x: ops.matmul(ops.transpose(x, _i64(0, 2, 1)), _weights(TOKENS, TOKENS), False, False),
        # a constant that differs by token (a position embedding)
        lambda x: ops.add(x, ops.constant(np.arange(TOKENS * WIDTH, dtype=np.float32).reshape(1, TOKENS, WIDTH))),
        # a softmax over tokens
        lambda x: ops.softmax(x, 1),
        # a reshape that merges tokens with features
        lambda x: ops.reshape(x, _i64(0, TOKENS * WIDTH), special_zero=True),
    ],
    ids=["token_matmul", "position_constant", "softmax_over_tokens", "flatten_tokens"],
)
def test_ops_that_mix_tokens_give_up(build):
    assert _rows(build) is None


@pytest.mark.parametrize("batch", [-1, 1])
def test_tokens_merged_with_images_and_split_back(batch):
    """torch's MultiheadAttention: [B, H, T, d] -> [T, B, H, d] -> [T*B, D] -> projection -> [T, B, D] -> [B, T, D]."""
    heads = ops.parameter([batch, 2, TOKENS, 2], ov.Type.f32)
    first = ops.transpose(heads, _i64(2, 0, 1, 3))
    merged = ops.reshape(first, _i64(-1, WIDTH), special_zero=False)  # [5, 4] at a static batch of 1
    projected = ops.matmul(merged, _weights(WIDTH, WIDTH), False, False)
    split = ops.reshape(projected, _i64(TOKENS, -1, WIDTH), special_zero=False)
    tokens = ops.transpose(split, _i64(1, 0, 2))
    picked = ops.gather(tokens, ops.constant(np.int64(0)), _i64(1))
    computing = [first, first.input_value(1).get_node(), merged, projected, split, tokens, picked]
    found = follow(computing, {key_of(heads.output(0)): Rows(2, tuple(range(TOKENS)))})
    assert found[key_of(merged.output(0))].merged == "tokens"
    assert found[key_of(tokens.output(0))] == Rows(1, tuple(range(TOKENS)), batch=0)
    assert found[key_of(picked.output(0))] == Rows(None, (0,), batch=0)
