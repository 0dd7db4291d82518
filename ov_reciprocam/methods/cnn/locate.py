"""Find, from graph structure alone, the Recipro-CAM target feature map of a classifier.

Reads the graph and never edits it. With the class scores and their kind from `head`, the answers:

* which tensors every path from the image to the scores must go through (the dominator chain),
  and of those, the spatial feature maps that can serve as a Recipro-CAM target;
* the layout (NCHW or NHWC) of each candidate, from the ops that produce and consume it.
"""

from __future__ import annotations

from collections import deque

import openvino as ov

from ...analysis.dataflow import SPATIAL_OPS, DataGraph, chain_path, key_of, node_name
from ...analysis.head import shape_text
from ...analysis.ops import REDUCE_OPS, constant_ints
from ...errors import ReciproCamError
from ...vocabulary import Layout
from ..base import FeatureMap, Head, Located, named_target_output

# Ops whose output is NCHW and whose data input 0 is NCHW, by OpenVINO's own op definitions.
_NCHW_OPS = SPATIAL_OPS | {"BatchNormInference"}
# Ops that join or part maps along one axis, keeping the layout; ops that may move axes.
_JOIN_OPS = frozenset({"Concat", "Split", "VariadicSplit"})
_RELAYOUT_OPS = frozenset({"Transpose", "Reshape", "DepthToSpace", "SpaceToDepth", "ShuffleChannels"})


def locate(
    model: ov.Model, target: str | None = None, output: str | None = None, target_layout: Layout | None = None
) -> Located:
    """Find the class scores, their kind, the logits and the Recipro-CAM target of a single-input classifier.

    output: the name of the model output that holds the class scores, when structure leaves a choice.
    target_layout: NCHW or NHWC for the target, when no op around it says which.
    """
    head = Head.read(model, output)
    graph, chain = head.graph, head.chain
    candidates = tuple(
        fm
        for out in reversed(chain)
        if graph.after_spatial_op(out)
        and (fm := _feature_map(out, graph, path=chain_path(chain, out))) is not None
        and fm.several_positions
    )
    if target is None:
        chosen = _auto_target(candidates, head.classes, graph, head.scores)
    else:
        chosen = _named_target(model, target, chain, graph)
    return head.located(_with_layout(chosen, target_layout, graph), candidates)


def _static_dims(output: ov.Output) -> list[int] | None:
    """The three non-batch dims of a 4-D tensor, -1 where dynamic."""
    shape = output.get_partial_shape()
    if shape.rank.is_dynamic or shape.rank.get_length() != 4:
        return None
    return [d.get_length() if d.is_static else -1 for d in shape[1:]]


def _feature_map(
    output: ov.Output, graph: DataGraph, layout: Layout | None = None, path: str = ""
) -> FeatureMap | None:
    """The tensor as a feature map; its layout from `layout`, else from the ops around it (None if none says)."""
    dims = _static_dims(output)
    if dims is None:
        return None
    if layout is None:
        layout = (_layout(output, graph) or (None,))[0]
    layout = Layout(layout) if layout else None
    c, h, w = dims if layout != Layout.NHWC else (dims[2], dims[0], dims[1])
    if c < 0 or (layout is None and -1 in dims):
        return None  # the channel count sizes the subgraph; with no layout, which dim it is is unknown
    return FeatureMap(
        output=output,
        name=node_name(output),
        layout=layout,
        channels=c,
        height=h,
        width=w,
        tensor_names=tuple(sorted(output.get_names())),
        path=path,
    )


def _said_by(node: ov.Node, role: str) -> str:
    return f"{node.get_type_name()} '{node.get_friendly_name()}' {role}"


def _layout_evidence(output: ov.Output, graph: DataGraph) -> tuple[Layout, str] | None:
    """What the producer or a consumer of a 4-D tensor says about its layout, and which op says it."""
    producer = output.get_node()
    kind = producer.get_type_name()
    if kind in _NCHW_OPS:
        return Layout.NCHW, _said_by(producer, "makes it")
    if kind == "Transpose":
        perm = constant_ints(producer.input_value(1))
        if perm == [0, 2, 3, 1]:
            return Layout.NHWC, _said_by(producer, "makes it from NCHW")
        if perm == [0, 3, 1, 2]:
            return Layout.NCHW, _said_by(producer, "makes it from NHWC")
    for consumer in graph.consumers_of(output):
        node = consumer.get_node()
        kind = node.get_type_name()
        if kind in _NCHW_OPS and consumer.get_index() == 0:
            return Layout.NCHW, _said_by(node, "reads it")
        if kind == "Transpose" and consumer.get_index() == 0:
            perm = constant_ints(node.input_value(1))
            if perm == [0, 3, 1, 2]:
                return Layout.NHWC, _said_by(node, "turns it into NCHW")
            if perm == [0, 2, 3, 1]:
                return Layout.NCHW, _said_by(node, "turns it into NHWC")
        if kind in REDUCE_OPS and consumer.get_index() == 0:
            axes = constant_ints(node.input_value(1))
            if axes is not None:
                axes_set = {a % 4 for a in axes}
                if axes_set == {2, 3}:
                    return Layout.NCHW, _said_by(node, "reduces it over axes 2,3")
                if axes_set == {1, 2}:
                    return Layout.NHWC, _said_by(node, "reduces it over axes 1,2")
    return None


def _same_layout_neighbours(output: ov.Output, graph: DataGraph) -> list[ov.Output]:
    """4-D tensors one op away that share this tensor's layout: through elementwise ops (same shape) and
    through Concat and Split, which join or part maps along one axis and keep the others in place."""
    shape = output.get_partial_shape()

    def kept(node: ov.Node, other: ov.Output) -> bool:
        if node.get_type_name() in _JOIN_OPS:
            return other.get_partial_shape().rank == shape.rank
        return node.get_type_name() not in _RELAYOUT_OPS and other.get_partial_shape() == shape

    producer = output.get_node()
    found = [v for v in producer.input_values() if kept(producer, v)]
    for consumer in graph.consumers_of(output):
        node = consumer.get_node()
        found += [o for o in node.outputs() if kept(node, o)]
    return found


def _layout(output: ov.Output, graph: DataGraph) -> tuple[Layout, str] | None:
    """NCHW or NHWC and the op that says so: the nearest op that fixes it (through ops that keep it); None if
    none does."""
    seen = {key_of(output)}
    queue = deque([output])
    while queue and len(seen) < 64:
        current = queue.popleft()
        evidence = _layout_evidence(current, graph)
        if evidence:
            return evidence
        for nxt in _same_layout_neighbours(current, graph):
            if key_of(nxt) not in seen:
                seen.add(key_of(nxt))
                queue.append(nxt)
    return None


def _with_layout(fm: FeatureMap, layout: Layout | None, graph: DataGraph) -> FeatureMap:
    """`fm` in the layout the user gave, or as found; a one-line error when neither says, or when they differ.

    A layout against the graph's would be obeyed silently, with maps of the wrong shape (channels taken for rows).
    """
    if layout is not None and fm.layout is not None and Layout(layout) != fm.layout:
        found = _layout(fm.output, graph)
        assert found is not None  # the layout fm has is the one _layout found
        _, why = found
        raise ReciproCamError(
            f"the graph reads the target '{fm.name}' {shape_text(fm.output)} as {fm.layout} (the {why}); "
            f"`target_layout` {layout} contradicts it; leave it out (it decides only where no op around a target says)"
        )
    if layout is not None:
        given = _feature_map(fm.output, graph, layout, fm.path)
        if given is None:
            raise ReciproCamError(f"as {layout}, the target '{fm.name}' has no static channel count (`target_layout`)")
        return given
    if fm.layout is None:
        raise ReciproCamError(
            f"cannot tell whether the target '{fm.name}' {shape_text(fm.output)} is NCHW or NHWC: no convolution, "
            "pooling, reduction or transpose around it says; pass `target_layout` NCHW or NHWC"
        )
    return fm


_WEIGHTED_OPS = frozenset({"Convolution", "GroupConvolution", "MatMul", "ConvolutionBackpropData"})


def _is_class_score_map(fm: FeatureMap, classes: int, graph: DataGraph, scores: ov.Output) -> bool:
    """A map with one channel per class made by a conv that nothing with weights follows (SqueezeNet's conv10).

    Masking it explains nothing new: its pooling is all that is left. A map of as many channels
    as classes that a linear layer still reads (2048 classes on a ResNet-50 body) is features.
    """
    if fm.channels != classes:
        return False
    if any(graph.nodes[i].get_type_name() in _WEIGHTED_OPS for i in graph.between(fm.output, scores)):
        return False
    out = fm.output
    for _ in range(8):
        node = out.get_node()
        if node.get_type_name() == "Convolution":
            return True
        same = [v for v in node.input_values() if v.get_partial_shape() == out.get_partial_shape()]
        if not same:
            return False
        out = same[0]
    return False


def _auto_target(candidates: tuple[FeatureMap, ...], classes: int, graph: DataGraph, scores: ov.Output) -> FeatureMap:
    for fm in reversed(candidates):
        if not _is_class_score_map(fm, classes, graph, scores):
            return fm
    raise ReciproCamError(
        "no spatial feature map found: no 4-D tensor with H*W > 1 after a convolution or pooling lies on every "
        "path to the class scores; pass a target by name (see `ov-reciprocam inspect`)"
    )


def _named_target(model: ov.Model, name: str, chain: list[ov.Output], graph: DataGraph) -> FeatureMap:
    out = named_target_output(model, name, chain)
    if key_of(out) not in {key_of(c) for c in chain}:
        raise ReciproCamError(
            f"target '{name}' is not on every path to the class scores, so masking it cannot explain them; "
            "pick one listed by `ov-reciprocam inspect`"
        )
    fm = _feature_map(out, graph, path=chain_path(chain, out))
    if fm is None:
        raise ReciproCamError(
            f"target '{name}' has shape {out.get_partial_shape()}; it must be 4-D with static channels"
        )
    if not fm.several_positions:
        raise ReciproCamError(
            f"target '{name}' is {fm.height}x{fm.width}: one position has nothing to compare; "
            "pick a map with H*W > 1 listed by `ov-reciprocam inspect`"
        )
    return fm
