"""Recognise tails whose Recipro-CAM scores have an exact shortcut. Reads the graph, never edits it.

* pooled: per-pixel ops g (1x1 conv, bias, batch norm, activations; possibly none), then global
  average pooling. Copy n holds F[:, n] at n and 0 elsewhere, so g(copy n) is g(F[:, n]) at n and
  g(0) elsewhere, and its pooled vector is (g(F)[:, n] + (H*W - 1) * g(0)) / (H*W). g(F) is a
  tensor the original model already computes: the masked maps are never built.
* flatten_linear: flatten, then a MatMul with constant weights (VGG, AlexNet). The flattened copy
  n is zero but for the K entries of position n, so its product with W is F[:, n] times the K rows
  of W for position n: all positions together cost one FC layer, not H*W of them.
* generic: anything else (conv blocks, intermediate targets), and every tail that quantizes what it
  computes (`quantizes_activations`): the batched mosaic.

Independently of the path, a tail that ends in a linear layer (x @ W + b, constant W and b) can
score only some classes: `final_linear` finds that layer, so that maps of the top k classes by
logits need k columns of W per copy, not all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import openvino as ov

from ...analysis.ops import WEIGHT_STEPS, is_constant
from ...analysis.quantization import quantizes_activations
from ...vocabulary import Layout, TailKind
from ..base import FeatureMap, Located

# Ops that act on each pixel's channel vector alone, when their other inputs are constants.
_UNARY = frozenset(
    {
        "Relu",
        "Clamp",
        "Sigmoid",
        "Swish",
        "HSwish",
        "HSigmoid",
        "Mish",
        "Gelu",
        "Tanh",
        "Elu",
        "SoftPlus",
        "Exp",
        "Abs",
        "Convert",
    }
)
_BINARY = frozenset({"Add", "Multiply", "Subtract", "Divide", "Maximum", "Minimum"})


class CnnTail(TailKind):
    """How this family scores the masked copies (the module's docstring says when each applies)."""

    POOLED = "pooled"
    FLATTEN_LINEAR = "flatten_linear"
    GENERIC = "generic"


@dataclass(frozen=True)
class TailPlan:
    kind: CnnTail
    chain: tuple[ov.Node, ...] = field(default=(), repr=False)  # pooled: the per-pixel ops, in order
    head: ov.Node | None = field(default=None, repr=False)  # pooled: the pooling op; flatten_linear: the MatMul


@dataclass(frozen=True)
class FinalLinear:
    """The logits as x @ W (+ b): W and b constant, x a batch of vectors [N, D]."""

    matmul: ov.Node
    bias: ov.Output | None  # the constant added to the MatMul's output, if any


def final_linear(located: Located) -> FinalLinear | None:
    """The linear layer that produces the logits, if the tail ends in one."""
    if located.logits is None:
        return None
    node, bias = located.logits.get_node(), None
    if node.get_type_name() == "Add":
        constants = [v for v in node.input_values() if _weight(v)]
        others = [v for v in node.input_values() if not _weight(v)]
        if len(constants) != 1 or len(others) != 1 or not constants[0].get_partial_shape().is_static:
            return None
        if int(np.prod(list(constants[0].get_partial_shape().get_shape()))) != located.classes:
            return None  # a bias per class; anything that varies along the batch is not one
        node, bias = others[0].get_node(), constants[0]
    if node.get_type_name() != "MatMul" or node.get_instance_id() not in located.tail:
        return None
    x, w = node.get_input_partial_shape(0), node.get_input_partial_shape(1)
    attrs = node.get_attributes()
    if attrs["transpose_a"] or not _weight(node.input_value(1)) or not w.is_static or w.rank.get_length() != 2:
        return None
    if x.rank.is_dynamic or x.rank.get_length() != 2:
        return None
    return FinalLinear(node, bias)


def plan(model: ov.Model, located: Located) -> TailPlan:
    """The cheapest exact way to score the masked copies of `located.target`: on a quantized tail, the mosaic."""
    if quantizes_activations(model, located.tail):
        return TailPlan(CnnTail.GENERIC)
    ids = {op.get_instance_id() for op in model.get_ordered_ops()}

    def consumers(out: ov.Output) -> list[ov.Input]:
        return [i for i in out.get_target_inputs() if i.get_node().get_instance_id() in ids]

    t = located.target
    first = consumers(t.output)
    if len(first) != 1 or first[0].get_node().get_instance_id() not in located.tail:
        return TailPlan(CnnTail.GENERIC)
    node = first[0].get_node()
    if _is_flatten(node, t) and len(consumers(node.output(0))) == 1:
        matmul = consumers(node.output(0))[0].get_node()
        if _is_linear(matmul, node, located):
            return TailPlan(CnnTail.FLATTEN_LINEAR, head=matmul)
    chain: list[ov.Node] = []
    while node.get_instance_id() in located.tail:
        if _is_global_average_pool(node, t):
            return TailPlan(CnnTail.POOLED, chain=tuple(chain), head=node)
        outs = consumers(node.output(0))
        if node.get_output_size() != 1 or len(outs) != 1 or not _is_per_pixel(node, t):
            break
        chain.append(node)
        node = outs[0].get_node()
    return TailPlan(CnnTail.GENERIC)


def global_pool(model: ov.Model, located: Located) -> ov.Node | None:
    """The tail's first global average pooling of the target's grid, if it has one."""
    for node in model.get_ordered_ops():
        if node.get_instance_id() in located.tail and _is_global_average_pool(node, located.target):
            return node
    return None


def _spatial_axes(t: FeatureMap) -> set[int]:
    assert t.layout is not None  # a target always has one
    return {2, 3} if t.layout == Layout.NCHW else {1, 2}


def _is_global_average_pool(node: ov.Node, t: FeatureMap) -> bool:
    kind = node.get_type_name()
    if kind == "ReduceMean":
        axes = node.input_value(1).get_node()
        if axes.get_type_name() != "Constant":
            return False
        return {int(a) % 4 for a in np.asarray(axes.get_data()).reshape(-1)} == _spatial_axes(t)
    if kind == "AvgPool" and t.layout == Layout.NCHW:
        attrs = node.get_attributes()
        return (
            list(attrs["kernel"]) == [t.height, t.width] and not any(attrs["pads_begin"]) and not any(attrs["pads_end"])
        )
    if kind == "AdaptiveAvgPool" and t.layout == Layout.NCHW:
        size = node.get_output_partial_shape(0)[2:]  # the batch may be dynamic
        return all(d.is_static and d.get_length() == 1 for d in size)
    return False


def _is_per_pixel(node: ov.Node, t: FeatureMap) -> bool:
    """Does `node` map each pixel's channel vector on its own, keeping the spatial size?"""
    kind = node.get_type_name()
    shape = node.get_output_partial_shape(0)
    if shape.rank.is_dynamic or shape.rank.get_length() != 4:
        return False
    spatial = [shape[a] for a in sorted(_spatial_axes(t))]
    if [d.get_length() if d.is_static else -1 for d in spatial] != [t.height, t.width]:
        return False
    if kind in _UNARY:
        return True
    if kind == "Convolution" and t.layout == Layout.NCHW:
        attrs = node.get_attributes()
        kernel = node.get_input_partial_shape(1)
        return (
            _weight(node.input_value(1))
            and kernel.is_static
            and list(kernel.get_shape())[2:] == [1, 1]
            and list(attrs["strides"]) == [1, 1]
            and not any(attrs["pads_begin"])
            and not any(attrs["pads_end"])
        )
    if kind in _BINARY:
        constants = [v for v in node.input_values() if _weight(v)]
        if len(constants) != 1:
            return False
        # A per-channel (or scalar) constant, never one that varies over H or W.
        other = constants[0].get_partial_shape()
        if other.rank.is_dynamic or not other.is_static:
            return False
        dims = list(other.get_shape())
        dims = [1] * (4 - len(dims)) + dims
        return all(dims[a] == 1 for a in _spatial_axes(t)) and dims[0] == 1
    if kind == "BatchNormInference":
        return all(_weight(v) for v in node.input_values()[1:])
    return False


def _is_flatten(node: ov.Node, t: FeatureMap) -> bool:
    if node.get_type_name() != "Reshape":
        return False
    shape = node.get_output_partial_shape(0)
    return (
        shape.rank.is_static
        and shape.rank.get_length() == 2
        and shape[1].is_static
        and shape[1].get_length() == t.channels * t.height * t.width
    )


def _is_linear(matmul: ov.Node, flatten: ov.Node, located: Located) -> bool:
    if matmul.get_type_name() != "MatMul" or matmul.get_instance_id() not in located.tail:
        return False
    attrs = matmul.get_attributes()
    return (
        matmul.input_value(0).get_node().get_instance_id() == flatten.get_instance_id()
        and not attrs["transpose_a"]
        and _weight(matmul.input_value(1))
        and matmul.get_input_partial_shape(1).is_static
        and matmul.get_input_partial_shape(1).rank.get_length() == 2
    )


def flatten_of_dynamic_size(model: ov.Model, located: Located) -> str | None:
    """The name of a Reshape in the tail that flattens a map of dynamic height or width, if any.

    The linear layer after such a flatten has weights per position: only one input size fits it.
    """
    for node in model.get_ordered_ops():
        if node.get_instance_id() not in located.tail or node.get_type_name() != "Reshape":
            continue
        source, result = node.get_input_partial_shape(0), node.get_output_partial_shape(0)
        if source.rank.is_static and source.rank.get_length() == 4 and source[1:].is_dynamic:
            if result.rank.is_dynamic or result.rank.get_length() < 4:
                return node.get_friendly_name()
    return None


def _weight(value: ov.Output) -> bool:
    """A weight: a Constant, maybe behind a decompression Convert or a Reshape of constants."""
    return is_constant(value, WEIGHT_STEPS)
