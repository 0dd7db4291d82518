"""Reshapes that merge the batch into rows and split it out again follow a new batch, only when every op between
them works row by row (`model.reshape.batch_merges`)."""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from reference import compile_f32

from ov_reciprocam.errors import ReciproCamError
from ov_reciprocam.model.reshape import set_batch


def _flattened_softmax(axis: int) -> ov.Model:
    """[1, 3, 4, 2] -> rows [12, 2] (literal) -> softmax over `axis` -> [1, 12, 2] (literal), as Ultra-Light's."""
    image = ops.parameter([1, 3, 4, 2], ov.Type.f32, name="image")
    rows = ops.reshape(image, ops.constant(np.array([12, -1], np.int64)), False)
    scaled = ops.multiply(ops.softmax(rows, axis), ops.constant(np.float32(2)))
    return ov.Model([ops.result(ops.reshape(scaled, ops.constant(np.array([1, 12, 2], np.int64)), False))], [image])


def test_a_row_wise_merge_and_split_follow_the_batch() -> None:
    model = _flattened_softmax(axis=1)
    photos = np.random.default_rng(0).standard_normal([2, 3, 4, 2]).astype(np.float32)
    alone = [compile_f32(model)(photos[i : i + 1])[0] for i in range(2)]
    set_batch(model, 2)
    batched = compile_f32(model)(photos)[0]
    assert batched.shape == (2, 12, 2)
    for i in range(2):
        np.testing.assert_allclose(batched[i], alone[i][0], rtol=1e-6)


def test_a_merge_whose_rows_mix_is_left_alone() -> None:
    """A softmax over the merged axis mixes the photos: no pattern may pretend it does not."""
    with pytest.raises(
        ReciproCamError, match=r"^cannot set the batch to 2: the Reshape .* folds the batch into \[12,2\]"
    ):
        set_batch(_flattened_softmax(axis=0), 2)
