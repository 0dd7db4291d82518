"""Recognise a block's attention, softmax(q k^T * scale + bias) v, from structure.

Two forms reach OpenVINO: explicit ops (a MatMul of queries and keys, affine elementwise ops such
as the scale and a relative position bias, Softmax over the keys, a MatMul with the values), as
ONNX exports give; or one ScaledDotProductAttention op, as `ov.convert_model` on recent torch
gives. Either way the queries, keys and values are tensors with one row per token.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import openvino as ov

from .locate import Block, first_attention

# Ops between the query-key product and the softmax that keep each score an affine function of
# the product (scale, additive bias), with their other operand free of the input.
_AFFINE_STEPS = frozenset({"Multiply", "Add", "Subtract", "Divide"})


@dataclass(frozen=True)
class Attention:
    query: ov.Output = field(repr=False)  # [..., T, d], one row per token
    key: ov.Output = field(repr=False)  # as `product` reads it ([..., T, d] or [..., d, T])
    value: ov.Output = field(repr=False)  # as `mix` reads it
    output: ov.Output = field(repr=False)  # [..., T, d]
    node: ov.Node = field(repr=False)  # the Softmax, or the ScaledDotProductAttention op
    product: ov.Node | None = field(default=None, repr=False)  # the query-key MatMul (explicit form)
    mix: ov.Node | None = field(default=None, repr=False)  # the MatMul of the weights with the values


def attention_of(block: Block) -> Attention | None:
    """The attention between `block`'s first norm and its residual Add, when it has one of the two forms."""
    node = first_attention(block.norm, block.residual.get_node())
    if node is None:
        return None
    if node.get_type_name() == "ScaledDotProductAttention":
        if node.get_attributes().get("causal", False):
            return None
        q, k, v = (node.input_value(i) for i in range(3))
        return Attention(query=q, key=k, value=v, output=node.output(0), node=node)
    rank = node.get_output_partial_shape(0).rank.get_length()
    if node.get_attributes()["axis"] not in (-1, rank - 1):
        return None
    product = _product_before(node.input_value(0))
    mixes = [i.get_node() for i in node.output(0).get_target_inputs()]
    if product is None or len(mixes) != 1 or mixes[0].get_type_name() != "MatMul":
        return None
    mix = mixes[0]
    if mix.input_value(0) != node.output(0) or mix.get_attributes()["transpose_a"]:
        return None
    if product.get_attributes()["transpose_a"]:
        return None
    return Attention(
        query=product.input_value(0),
        key=product.input_value(1),
        value=mix.input_value(1),
        output=mix.output(0),
        node=node,
        product=product,
        mix=mix,
    )


def _product_before(logits: ov.Output) -> ov.Node | None:
    """The MatMul the softmax's input is an affine function of, walking back over `_AFFINE_STEPS`."""
    node = logits.get_node()
    while node.get_type_name() in _AFFINE_STEPS | {"Convert"}:
        inputs = node.input_values()
        if node.get_type_name() == "Convert":
            node = inputs[0].get_node()
            continue
        varying = [v for v in inputs if not input_free(v)]
        if len(varying) != 1 or (node.get_type_name() in ("Subtract", "Divide") and varying[0] != inputs[0]):
            return None
        node = varying[0].get_node()
    return node if node.get_type_name() == "MatMul" else None


def input_free(value: ov.Output) -> bool:
    """Whether `value` is computed from constants and shapes alone (a scale 1/sqrt(d) read off a shape counts)."""
    seen, stack = set(), [value.get_node()]
    while stack:
        node = stack.pop()
        if node.get_type_name() == "Parameter":
            return False
        if node.get_type_name() == "ShapeOf":  # a shape is not data: the same for every token and image
            continue
        for source in node.input_values():
            if source.get_node().get_instance_id() not in seen:
                seen.add(source.get_node().get_instance_id())
                stack.append(source.get_node())
    return True
