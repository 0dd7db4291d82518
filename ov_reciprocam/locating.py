"""Find, from graph structure alone, where a classifier's class scores and its target feature map are.

Reads the graph and never edits it. The answers:

* which model output holds the class scores, and the logits tensor behind it (the input of a
  final Softmax, when there is one);
* which tensors every path from the image to the logits must go through (the dominator chain),
  and of those, the spatial feature maps that can serve as a Recipro-CAM target;
* the layout (NCHW or NHWC) of each candidate, from the ops that produce and consume it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import openvino as ov

from .errors import ReciproCamError

# Ops whose output is NCHW and whose data input 0 is NCHW, by OpenVINO's own op definitions.
_NCHW_OPS = frozenset(
    {
        "Convolution",
        "GroupConvolution",
        "ConvolutionBackpropData",
        "GroupConvolutionBackpropData",
        "DeformableConvolution",
        "BinaryConvolution",
        "MaxPool",
        "AvgPool",
        "AdaptiveAvgPool",
        "AdaptiveMaxPool",
        "BatchNormInference",
    }
)
# Ops that mix spatial positions: a feature map is "convolutional" only downstream of one.
_SPATIAL_OPS = _NCHW_OPS - {"BatchNormInference"}
# Ops that only relabel the scores tensor on its way to the model output.
_RELABEL_OPS = frozenset({"Reshape", "Squeeze", "Unsqueeze", "Convert"})
_SOFTMAX_OPS = frozenset({"Softmax", "LogSoftmax"})
# Their output depends on the input's shape, not its values: no data flows through them.
_SHAPE_OPS = frozenset({"ShapeOf"})
_REDUCE_OPS = frozenset({"ReduceMean", "ReduceMax", "ReduceSum", "ReduceMin", "ReduceL2", "ReduceProd"})

Key = tuple[int, int]


def key_of(output: ov.Output) -> Key:
    """A hashable identity for a tensor (node instance, output port)."""
    return (output.get_node().get_instance_id(), output.get_index())


@dataclass(frozen=True)
class FeatureMap:
    """A 4-D tensor that Recipro-CAM can mask: its layout and its static sizes."""

    output: ov.Output = field(compare=False, repr=False)
    name: str
    layout: str  # "NCHW" or "NHWC"
    channels: int
    height: int
    width: int
    tensor_names: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, height, width), whatever the layout."""
        return (self.channels, self.height, self.width)


@dataclass(frozen=True)
class Located:
    """Everything `graph` needs to attach a saliency output to a model."""

    output_index: int
    logits: ov.Output = field(repr=False)
    classes: int
    has_softmax: bool
    target: FeatureMap
    candidates: tuple[FeatureMap, ...]
    tail: frozenset = field(repr=False)  # instance ids of the ops between target and logits


def node_name(output: ov.Output) -> str:
    node = output.get_node()
    name = node.get_friendly_name()
    return name if node.get_output_size() == 1 else f"{name}:{output.get_index()}"


def locate(model: ov.Model, target: str | None = None) -> Located:
    """Find the class scores, the logits and the Recipro-CAM target of a single-input classifier."""
    _require_single_input(model)
    output_index, scores = _find_scores(model)
    logits, has_softmax = _logits_behind(scores)
    classes = int(scores.get_partial_shape()[1].get_length())
    graph = _DataGraph(model)
    chain = graph.dominators(logits)
    candidates = tuple(
        fm
        for out in reversed(chain)
        if graph.after_spatial_op(out) and (fm := _feature_map(out, graph)) is not None and fm.height * fm.width > 1
    )
    if target is None:
        chosen = _auto_target(candidates, classes, graph)
    else:
        chosen = _named_target(model, target, chain, graph)
    return Located(
        output_index=output_index,
        logits=logits,
        classes=classes,
        has_softmax=has_softmax,
        target=chosen,
        candidates=candidates,
        tail=graph.between(chosen.output, logits),
    )


def _require_single_input(model: ov.Model) -> None:
    params = model.get_parameters()
    if len(params) != 1:
        names = ", ".join(p.get_friendly_name() for p in params) or "none"
        raise ReciproCamError(
            f"the model has {len(params)} inputs ({names}); Recipro-CAM explains single-input image classifiers"
        )


def _find_scores(model: ov.Model) -> tuple[int, ov.Output]:
    found = []
    for i, result in enumerate(model.get_results()):
        source = result.input_value(0)
        shape = source.get_partial_shape()
        if shape.rank.is_dynamic or not shape[1].is_static or shape[1].get_length() < 2:
            continue
        if shape.rank.get_length() == 2 or (
            shape.rank.get_length() == 4 and all(d.is_static and d.get_length() == 1 for d in shape[2:])
        ):
            found.append((i, source))
    if not found:
        shapes = ", ".join(str(o.get_partial_shape()) for o in model.outputs)
        raise ReciproCamError(
            f"no classification output: expected shape [N, classes] or [N, classes, 1, 1], the model has {shapes}"
        )
    return found[0]


def _logits_behind(scores: ov.Output) -> tuple[ov.Output, bool]:
    """The tensor a final Softmax reads, or the scores themselves when there is no Softmax."""
    out = scores
    while out.get_node().get_type_name() in _RELABEL_OPS:
        out = out.get_node().input_value(0)
    if out.get_node().get_type_name() in _SOFTMAX_OPS:
        return out.get_node().input_value(0), True
    return scores, False


class _DataGraph:
    """The model as a DAG of tensors that carry data from the input (constants and shapes excluded)."""

    def __init__(self, model: ov.Model) -> None:
        self.order: dict[Key, int] = {}
        self.preds: dict[Key, list[Key]] = {}
        self.spatial: dict[Key, bool] = {}
        ops = model.get_ordered_ops()
        self._ids = {op.get_instance_id() for op in ops}
        for op in ops:
            kind = op.get_type_name()
            inputs = [] if kind in _SHAPE_OPS else [key_of(v) for v in op.input_values()]
            live = [k for k in inputs if k in self.order]
            if kind != "Parameter" and not live:
                continue
            for out in op.outputs():
                k = key_of(out)
                self.order[k] = len(self.order)
                self.preds[k] = live
                self.spatial[k] = kind in _SPATIAL_OPS or any(self.spatial[p] for p in live)
        self._outputs = {key_of(o): o for op in ops for o in op.outputs()}
        self._idom: dict[Key, Key] = {}
        for k in self.order:
            preds = self.preds[k]
            if not preds:
                self._idom[k] = k
                continue
            dom = preds[0]
            for p in preds[1:]:
                dom = self._intersect(p, dom)
            self._idom[k] = dom

    def _intersect(self, a: Key, b: Key) -> Key:
        while a != b:
            while self.order[a] > self.order[b]:
                a = self._idom[a]
            while self.order[b] > self.order[a]:
                b = self._idom[b]
        return a

    def dominators(self, output: ov.Output) -> list[ov.Output]:
        """Tensors every data path from the input to `output` goes through, nearest first."""
        k = key_of(output)
        if k not in self.order:
            raise ReciproCamError(f"the class scores '{node_name(output)}' do not depend on the model input")
        chain = [k]
        while self._idom[k] != k:
            k = self._idom[k]
            chain.append(k)
        return [self._outputs[c] for c in chain]

    def after_spatial_op(self, output: ov.Output) -> bool:
        return self.spatial.get(key_of(output), False)

    def consumers_of(self, output: ov.Output) -> list[ov.Input]:
        # A replaced or cloned-away consumer can stay attached to a tensor without being in the model.
        return [i for i in output.get_target_inputs() if i.get_node().get_instance_id() in self._ids]

    def between(self, start: ov.Output, end: ov.Output) -> frozenset:
        """Instance ids of the ops on data paths from `start` (exclusive) to `end` (inclusive)."""
        down: set[int] = set()
        queue = deque(self.consumers_of(start))
        while queue:
            node = queue.popleft().get_node()
            if node.get_instance_id() in down:
                continue
            down.add(node.get_instance_id())
            for out in node.outputs():
                queue.extend(self.consumers_of(out))
        up: set[int] = set()
        stack = [end.get_node()]
        while stack:
            node = stack.pop()
            if node.get_instance_id() in up or node.get_instance_id() not in down:
                continue
            up.add(node.get_instance_id())
            stack.extend(v.get_node() for v in node.input_values())
        return frozenset(up)


def _static_dims(output: ov.Output) -> list[int] | None:
    shape = output.get_partial_shape()
    if shape.rank.is_dynamic or shape.rank.get_length() != 4 or not all(d.is_static for d in shape[1:]):
        return None
    return [d.get_length() for d in shape[1:]]


def _feature_map(output: ov.Output, graph: _DataGraph) -> FeatureMap | None:
    dims = _static_dims(output)
    if dims is None:
        return None
    layout = _layout(output, graph)
    c, h, w = dims if layout == "NCHW" else (dims[2], dims[0], dims[1])
    return FeatureMap(
        output=output,
        name=node_name(output),
        layout=layout,
        channels=c,
        height=h,
        width=w,
        tensor_names=tuple(sorted(output.get_names())),
    )


def _constant_ints(value: ov.Output) -> list[int] | None:
    node = value.get_node()
    if node.get_type_name() != "Constant":
        return None
    return [int(x) for x in np.asarray(node.get_data()).reshape(-1)]


def _layout_evidence(output: ov.Output, graph: _DataGraph) -> str | None:
    """What the producer or a consumer of a 4-D tensor says about its layout, if anything."""
    producer = output.get_node()
    kind = producer.get_type_name()
    if kind in _NCHW_OPS:
        return "NCHW"
    if kind == "Transpose":
        perm = _constant_ints(producer.input_value(1))
        if perm == [0, 2, 3, 1]:
            return "NHWC"
        if perm == [0, 3, 1, 2]:
            return "NCHW"
    for consumer in graph.consumers_of(output):
        node = consumer.get_node()
        kind = node.get_type_name()
        if kind in _NCHW_OPS and consumer.get_index() == 0:
            return "NCHW"
        if kind == "Transpose" and consumer.get_index() == 0:
            perm = _constant_ints(node.input_value(1))
            if perm == [0, 3, 1, 2]:
                return "NHWC"
            if perm == [0, 2, 3, 1]:
                return "NCHW"
        if kind in _REDUCE_OPS and consumer.get_index() == 0:
            axes = _constant_ints(node.input_value(1))
            if axes is not None:
                axes_set = {a % 4 for a in axes}
                if axes_set == {2, 3}:
                    return "NCHW"
                if axes_set == {1, 2}:
                    return "NHWC"
    return None


def _same_shape_neighbours(output: ov.Output, graph: _DataGraph) -> list[ov.Output]:
    """Tensors one elementwise op away, which share this tensor's layout."""
    shape = output.get_partial_shape()
    found = []
    producer = output.get_node()
    if producer.get_type_name() != "Transpose":
        found += [v for v in producer.input_values() if v.get_partial_shape() == shape]
    for consumer in graph.consumers_of(output):
        node = consumer.get_node()
        if node.get_type_name() != "Transpose":
            found += [o for o in node.outputs() if o.get_partial_shape() == shape]
    return found


def _layout(output: ov.Output, graph: _DataGraph) -> str:
    seen = {key_of(output)}
    queue = deque([output])
    while queue and len(seen) < 64:
        current = queue.popleft()
        evidence = _layout_evidence(current, graph)
        if evidence:
            return evidence
        for nxt in _same_shape_neighbours(current, graph):
            if key_of(nxt) not in seen:
                seen.add(key_of(nxt))
                queue.append(nxt)
    # No op says: a square map is square in H and W, whichever dims those are.
    d1, d2, d3 = _static_dims(output)
    return "NHWC" if d1 == d2 and d3 != d2 else "NCHW"


def _is_class_score_map(fm: FeatureMap, classes: int) -> bool:
    """A map with one channel per class made by a 1x1 conv: SqueezeNet's conv10 and the like."""
    if fm.channels != classes:
        return False
    out = fm.output
    for _ in range(8):
        node = out.get_node()
        if node.get_type_name() == "Convolution":
            kernel = node.get_input_partial_shape(1)
            return kernel.is_static and list(kernel.to_shape())[2:] == [1, 1]
        same = [v for v in node.input_values() if v.get_partial_shape() == out.get_partial_shape()]
        if not same:
            return False
        out = same[0]
    return False


def _auto_target(candidates: tuple[FeatureMap, ...], classes: int, graph: _DataGraph) -> FeatureMap:
    for fm in reversed(candidates):
        if not _is_class_score_map(fm, classes):
            return fm
    raise ReciproCamError(
        "no spatial feature map found: no 4-D tensor with H*W > 1 after a convolution or pooling lies on every "
        "path to the class scores; pass a target by name (see `ov-reciprocam inspect`)"
    )


def _named_target(model: ov.Model, name: str, chain: list[ov.Output], graph: _DataGraph) -> FeatureMap:
    matches = [
        out
        for op in model.get_ordered_ops()
        for out in op.outputs()
        if name in out.get_names() or name in (node_name(out), op.get_friendly_name() if out.get_index() == 0 else None)
    ]
    if not matches:
        raise ReciproCamError(f"target '{name}' is neither a node's friendly name nor a tensor name in the model")
    out = matches[0]
    if key_of(out) not in {key_of(c) for c in chain}:
        raise ReciproCamError(
            f"target '{name}' is not on every path to the class scores, so masking it cannot explain them; "
            "pick one listed by `ov-reciprocam inspect`"
        )
    fm = _feature_map(out, graph)
    if fm is None:
        raise ReciproCamError(
            f"target '{name}' has shape {out.get_partial_shape()}; "
            "it must be 4-D with static channels, height and width"
        )
    return fm
