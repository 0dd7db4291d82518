"""Find, from graph structure alone, the transformer blocks of a token classifier.

A token classifier turns the image into patch tokens with a strided convolution reshaped to
[B, h*w, D], may prepend P prefix tokens by Concat (CLS, distillation), and runs blocks: norm,
attention, residual Add, norm, MLP, residual Add. A block's input is a [B, P + h*w, D] tensor on
every path to the logits that feeds both a norm and a residual Add, with attention (Softmax or
ScaledDotProductAttention) on the norm's side. The target is the input of the last block.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import openvino as ov

from ...analysis.dataflow import chain_path, node_name
from ...errors import ReciproCamError
from ...vocabulary import Layout
from ..base import FeatureMap, Head, Located, named_target_output

_ATTENTION = frozenset({"Softmax", "ScaledDotProductAttention"})
_AFFINE = frozenset({"Multiply", "Add"})
MAX_PREFIX = 8  # CLS, distillation and register tokens


@dataclass(frozen=True)
class Block:
    tokens: ov.Output = field(repr=False)  # the block's input, [B, P + h*w, D]
    norm: ov.Output = field(repr=False)  # its first norm's output (after the affine ops, if any)
    residual: ov.Input = field(repr=False)  # where the residual Add reads `tokens`


@dataclass(frozen=True)
class TokenLocated:
    located: Located  # target.layout is Layout.TOKENS, channels = D, height/width = the patch grid
    prefix: int
    block: Block
    blocks: tuple[Block, ...]
    # The image (height, width) the position embeddings fix, when the model's input leaves it open
    # (ov.convert_model without an input shape); the patch grid was read off the token count.
    input_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class PatchEmbedding:
    conv: ov.Node = field(repr=False)
    grid: tuple[int, int] | None  # (h, w) when the convolution's output size is static

    def grid_for(self, tokens: int) -> tuple[int, int] | None:
        """(h, w) for a block of `tokens` tokens: the static grid, or the square one that leaves 0-8 prefix tokens."""
        if self.grid is not None:
            h, w = self.grid
            return self.grid if 0 <= tokens - h * w <= MAX_PREFIX else None
        for prefix in range(MAX_PREFIX + 1):
            side = math.isqrt(max(tokens - prefix, 0))
            if side > 1 and side * side == tokens - prefix:
                return side, side
        return None

    def input_size(self, grid: tuple[int, int]) -> tuple[int, int]:
        """The image (height, width) that gives `grid` patches: what fixed-size position embeddings demand."""
        attrs = self.conv.get_attributes()
        kernel = self.conv.input_value(1).get_partial_shape()[2:]
        return tuple(
            (g - 1) * s + (k.get_length() - 1) * d + 1 - b - e
            for g, s, k, d, b, e in zip(
                grid, attrs["strides"], kernel, attrs["dilations"], attrs["pads_begin"], attrs["pads_end"], strict=True
            )
        )


def _patch_embedding(model: ov.Model) -> PatchEmbedding | None:
    """The first convolution whose output, after its bias if any, is reshaped into tokens."""
    for op in model.get_ordered_ops():
        if op.get_type_name() != "Convolution" or op.get_output_partial_shape(0).rank.get_length() != 4:
            continue
        out = op.output(0)
        consumers = [i.get_node() for i in out.get_target_inputs()]
        if len(consumers) == 1 and consumers[0].get_type_name() == "Add":  # the bias
            out = consumers[0].output(0)
            consumers = [i.get_node() for i in out.get_target_inputs()]
        if any(c.get_type_name() in ("Reshape", "Flatten") for c in consumers):
            shape = op.get_output_partial_shape(0)
            static = all(d.is_static for d in shape[2:])
            return PatchEmbedding(op, (shape[2].get_length(), shape[3].get_length()) if static else None)
    return None


def _norm_output(mvn: ov.Node) -> ov.Output:
    """The norm's output: the MVN, or the last of its per-channel affine ops (scale, bias)."""
    out = mvn.output(0)
    while True:
        consumers = list(out.get_target_inputs())
        if len(consumers) != 1:
            return out
        node = consumers[0].get_node()
        other = node.input_value(1 - consumers[0].get_index()) if node.get_input_size() == 2 else None
        if node.get_type_name() not in _AFFINE or other is None or other.get_node().get_type_name() != "Constant":
            return out
        out = node.output(0)


def first_attention(start: ov.Output, stop: ov.Node) -> ov.Node | None:
    """The first Softmax or ScaledDotProductAttention computed from `start`, not looking past `stop`."""
    seen, queue = set(), deque([start])
    while queue:
        out = queue.popleft()
        for consumer in out.get_target_inputs():
            node = consumer.get_node()
            if node.get_instance_id() in seen or node.get_instance_id() == stop.get_instance_id():
                continue
            seen.add(node.get_instance_id())
            if node.get_type_name() in _ATTENTION:
                return node
            queue.extend(node.outputs())
    return None


def _block_at(tokens: ov.Output) -> Block | None:
    consumers = list(tokens.get_target_inputs())
    mvns = [i.get_node() for i in consumers if i.get_node().get_type_name() == "MVN"]
    adds = [i for i in consumers if i.get_node().get_type_name() == "Add"]
    if len(mvns) != 1 or len(adds) != 1:
        return None
    if first_attention(mvns[0].output(0), adds[0].get_node()) is None:
        return None
    return Block(tokens=tokens, norm=_norm_output(mvns[0]), residual=adds[0])


def locate_tokens(model: ov.Model, target: str | None = None, output: str | None = None) -> TokenLocated | None:
    """The blocks and target of a token classifier, or None when the model is not one."""
    embedding = _patch_embedding(model)
    if embedding is None:
        return None
    head = Head.read(model, output)
    chain = head.chain
    blocks: list[Block] = []
    grid: tuple[int, int] | None = None  # set with the first block
    for out in reversed(chain):
        shape = out.get_partial_shape()
        if shape.rank.is_static and shape.rank.get_length() == 3 and all(d.is_static for d in shape[1:]):
            found = embedding.grid_for(shape[1].get_length())
            if found is not None and (grid is None or found == grid) and (block := _block_at(out)) is not None:
                blocks.append(block)
                grid = found
    if grid is None:
        return None
    if target is None:
        block = blocks[-1]
    else:
        chosen = named_target_output(model, target, chain)
        block = next((b for b in blocks if b.tokens == chosen), None)
        if block is None:
            raise ReciproCamError(
                f"target '{target}' is not the input of a transformer block; pick one listed by `ov-reciprocam inspect`"
            )
    h, w = grid
    candidates = tuple(_token_map(b.tokens, h, w, chain) for b in blocks)
    located = head.located(_token_map(block.tokens, h, w, chain), candidates)
    prefix = block.tokens.get_partial_shape()[1].get_length() - h * w
    input_size = embedding.input_size(grid) if embedding.grid is None else None
    return TokenLocated(located=located, prefix=prefix, block=block, blocks=tuple(blocks), input_size=input_size)


def _token_map(tokens: ov.Output, h: int, w: int, chain: list[ov.Output]) -> FeatureMap:
    return FeatureMap(
        output=tokens,
        name=node_name(tokens),
        layout=Layout.TOKENS,
        channels=tokens.get_partial_shape()[2].get_length(),
        height=h,
        width=w,
        tensor_names=tuple(sorted(tokens.get_names())),
        path=chain_path(chain, tokens),
    )
