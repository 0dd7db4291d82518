"""Find, from graph structure alone, the transformer blocks of a token classifier.

A token classifier turns the image into patch tokens with a strided convolution reshaped to
[B, h*w, D], may prepend P prefix tokens by Concat (CLS, distillation), and runs blocks: norm,
attention, residual Add, norm, MLP, residual Add. A block's input is a [B, P + h*w, D] tensor on
every path to the logits that feeds both a norm and a residual Add, with attention (Softmax or
ScaledDotProductAttention) on the norm's side. The target is the input of the last block.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import openvino as ov

from ..dataflow import DataGraph, node_name
from ..errors import ReciproCamError
from ..head import find_scores, kind_of
from ..locating import FeatureMap, Located, _named_target_output

TOKENS = "tokens"  # FeatureMap.layout of a token target: [B, P + h*w, D]
_ATTENTION = frozenset({"Softmax", "ScaledDotProductAttention"})
_AFFINE = frozenset({"Multiply", "Add"})


@dataclass(frozen=True)
class Block:
    tokens: ov.Output = field(repr=False)  # the block's input, [B, P + h*w, D]
    norm: ov.Output = field(repr=False)  # its first norm's output (after the affine ops, if any)
    residual: ov.Input = field(repr=False)  # where the residual Add reads `tokens`


@dataclass(frozen=True)
class TokenLocated:
    located: Located  # target.layout == TOKENS, channels = D, height/width = the patch grid
    prefix: int
    block: Block
    blocks: tuple[Block, ...]


def _patch_grid(model: ov.Model) -> tuple[int, int] | None:
    """(h, w) of the first strided convolution whose output is reshaped into tokens."""
    for op in model.get_ordered_ops():
        if op.get_type_name() != "Convolution" or list(op.get_attributes()["strides"]) == [1, 1]:
            continue
        shape = op.get_output_partial_shape(0)
        if shape.rank.get_length() == 4 and all(d.is_static for d in shape[2:]):
            consumers = [i.get_node().get_type_name() for i in op.output(0).get_target_inputs()]
            if "Reshape" in consumers or "Flatten" in consumers:
                return shape[2].get_length(), shape[3].get_length()
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


def _reaches_attention(start: ov.Output, stop: ov.Node) -> bool:
    seen, queue = set(), deque([start])
    while queue:
        out = queue.popleft()
        for consumer in out.get_target_inputs():
            node = consumer.get_node()
            if node.get_instance_id() in seen or node.get_instance_id() == stop.get_instance_id():
                continue
            seen.add(node.get_instance_id())
            if node.get_type_name() in _ATTENTION:
                return True
            queue.extend(node.outputs())
    return False


def _block_at(tokens: ov.Output) -> Block | None:
    consumers = list(tokens.get_target_inputs())
    mvns = [i.get_node() for i in consumers if i.get_node().get_type_name() == "MVN"]
    adds = [i for i in consumers if i.get_node().get_type_name() == "Add"]
    if len(mvns) != 1 or len(adds) != 1:
        return None
    if not _reaches_attention(mvns[0].output(0), adds[0].get_node()):
        return None
    return Block(tokens=tokens, norm=_norm_output(mvns[0]), residual=adds[0])


def locate_tokens(model: ov.Model, target: str | None = None, output: str | None = None) -> TokenLocated | None:
    """The blocks and target of a token classifier, or None when the model is not one."""
    grid = _patch_grid(model)
    if grid is None:
        return None
    graph = DataGraph(model)
    output_index, scores = find_scores(model, graph, output)
    logits, kind = kind_of(scores)
    h, w = grid
    blocks = []
    for out in reversed(graph.dominators(scores)):
        shape = out.get_partial_shape()
        if shape.rank.is_static and shape.rank.get_length() == 3 and all(d.is_static for d in shape[1:]):
            tokens = shape[1].get_length()
            if 0 <= tokens - h * w <= 8 and (block := _block_at(out)) is not None:
                blocks.append(block)
    if not blocks:
        return None
    if target is None:
        block = blocks[-1]
    else:
        chosen = _named_target_output(model, target)
        block = next((b for b in blocks if b.tokens == chosen), None)
        if block is None:
            raise ReciproCamError(
                f"target '{target}' is not the input of a transformer block; pick one listed by `ov-reciprocam inspect`"
            )
    candidates = tuple(_token_map(b.tokens, h, w) for b in blocks)
    chosen_map = _token_map(block.tokens, h, w)
    located = Located(
        output_index=output_index,
        scores=scores,
        logits=logits,
        kind=kind,
        classes=int(scores.get_partial_shape()[1].get_length()),
        target=chosen_map,
        candidates=candidates,
        tail=graph.between(block.tokens, scores),
    )
    prefix = block.tokens.get_partial_shape()[1].get_length() - h * w
    return TokenLocated(located=located, prefix=prefix, block=block, blocks=tuple(blocks))


def _token_map(tokens: ov.Output, h: int, w: int) -> FeatureMap:
    return FeatureMap(
        output=tokens,
        name=node_name(tokens),
        layout=TOKENS,
        channels=tokens.get_partial_shape()[2].get_length(),
        height=h,
        width=w,
        tensor_names=tuple(sorted(tokens.get_names())),
    )
