"""Small vision transformers built with the opset API: patch embedding, prefix tokens, blocks, pooling."""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

CLASSES = 10
DIM, HEADS, GRID = 16, 2, 4  # 32x32 input, 8x8 patches -> 4x4 tokens


def _i64(*values: int) -> ov.Node:
    return ops.constant(np.array(values, np.int64))


def _w(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> ov.Node:
    return ops.constant(rng.normal(0, scale / np.sqrt(shape[0]), shape).astype(np.float32))


def _linear(x, rng, n_in, n_out, scale=1.0):
    return ops.add(ops.matmul(x, _w(rng, n_in, n_out, scale=scale), False, False), _w(rng, n_out, scale=0.1))


def _norm(x, rng, affine: bool):
    y = ops.mvn(x, _i64(-1), True, 1e-6, "inside_sqrt")
    if affine:
        y = ops.add(ops.multiply(y, ops.constant((1 + rng.normal(0, 0.1, DIM)).astype(np.float32))), _w(rng, DIM))
    return y


def _heads(x):
    return ops.transpose(ops.reshape(x, _i64(0, 0, HEADS, DIM // HEADS), special_zero=True), _i64(0, 2, 1, 3))


def _attention(x, rng, sdpa: bool, position_bias: bool):
    q, k, v = (_heads(_linear(x, rng, DIM, DIM)) for _ in range(3))
    if sdpa:
        out = ops.scaled_dot_product_attention(q, k, v)
    else:
        scores = ops.multiply(ops.matmul(q, k, False, True), ops.constant(np.float32((DIM // HEADS) ** -0.5)))
        if position_bias:  # [1, heads, T, T], as BEiT adds
            tokens = x.get_output_partial_shape(0)[1].get_length()
            scores = ops.add(scores, ops.constant(rng.normal(0, 1, (1, HEADS, tokens, tokens)).astype(np.float32)))
        out = ops.matmul(ops.softmax(scores, -1), v, False, False)
    merged = ops.reshape(ops.transpose(out, _i64(0, 2, 1, 3)), _i64(0, 0, DIM), special_zero=True)
    return _linear(merged, rng, DIM, DIM)


def _block(x, rng, sdpa: bool, affine: bool, position_bias: bool):
    x = ops.add(x, _attention(_norm(x, rng, affine), rng, sdpa, position_bias))
    hidden = ops.gelu(_linear(_norm(x, rng, affine), rng, DIM, 2 * DIM), "erf")
    return ops.add(x, _linear(hidden, rng, 2 * DIM, DIM))


def vit(
    prefix: int = 1,
    pool: str = "cls",
    sdpa: bool = False,
    affine: bool = True,
    blocks: int = 2,
    batch: int = -1,
    seed: int = 0,
    position_bias: bool = False,
    binary: bool = False,
) -> ov.Model:
    """[B, 3, 32, 32] -> 4x4 patch tokens of width 16 (+ `prefix` learned tokens) -> blocks -> norm -> pool -> linear.

    pool: "cls" reads token 0 (with two prefix tokens, the mean of tokens 0 and 1, as DeiT-distilled
    averages its two heads); "mean" averages the patch tokens. binary: a one-unit head and a sigmoid.
    """
    rng = np.random.default_rng(seed)
    image = ops.parameter([batch, 3, 32, 32], ov.Type.f32, name="image")
    patches = ops.convolution(image, _w(rng, DIM, 3, 8, 8, scale=3.0), [8, 8], [0, 0], [0, 0], [1, 1])
    tokens = ops.transpose(ops.reshape(patches, _i64(0, DIM, -1), special_zero=True), _i64(0, 2, 1))
    if prefix:
        size = ops.concat([ops.gather(ops.shape_of(tokens), _i64(0), _i64(0)), _i64(prefix, DIM)], 0)
        learned = ops.broadcast(_w(rng, 1, prefix, DIM, scale=3.0), size)
        tokens = ops.concat([learned, tokens], 1)
    x = ops.add(tokens, _w(rng, 1, prefix + GRID * GRID, DIM))
    for _ in range(blocks):
        x = _block(x, rng, sdpa, affine, position_bias)
    x = _norm(x, rng, affine)
    if pool == "cls":
        pooled = ops.reduce_mean(ops.gather(x, _i64(*range(prefix)), _i64(1)), _i64(1), keep_dims=False)
    else:
        patch_tokens = ops.slice(x, _i64(prefix), _i64(prefix + GRID * GRID), _i64(1), _i64(1))
        pooled = ops.reduce_mean(patch_tokens, _i64(1), keep_dims=False)
    logits = _linear(pooled, rng, DIM, 1 if binary else CLASSES, scale=4.0)
    scores = ops.sigmoid(logits) if binary else ops.softmax(logits, 1)
    return ov.Model([ops.result(scores)], [image], "vit")
