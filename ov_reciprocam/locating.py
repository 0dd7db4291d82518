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
from dataclasses import dataclass, field, replace

import numpy as np
import openvino as ov

from .errors import ReciproCamError
from .scores import ScoreKind

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
_KINDS = {"Softmax": ScoreKind.PROBABILITIES, "LogSoftmax": ScoreKind.LOG_PROBABILITIES, "Sigmoid": ScoreKind.SIGMOIDS}
# Ops that pick or scale classes after the softmax (with constant operands).
_SELECT_OPS = frozenset({"Slice", "StridedSlice", "Gather", "Multiply", "Divide"})
_POOL_OPS = frozenset({"ReduceMean", "AvgPool", "AdaptiveAvgPool", "ReduceMax", "MaxPool", "AdaptiveMaxPool"})
# Their output depends on the input's shape, not its values: no data flows through them.
_SHAPE_OPS = frozenset({"ShapeOf"})
# Ops that join or part maps along one axis, keeping the layout; ops that may move axes.
_JOIN_OPS = frozenset({"Concat", "Split", "VariadicSplit"})
_RELAYOUT_OPS = frozenset({"Transpose", "Reshape", "DepthToSpace", "SpaceToDepth", "ShuffleChannels"})
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
    layout: str | None  # "NCHW" or "NHWC"; None while no op says (a target always has one)
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
    scores: ov.Output = field(repr=False)  # what the class-score output reads
    logits: ov.Output | None = field(repr=False)  # before the softmax/sigmoid; None if not one per class
    kind: ScoreKind
    classes: int
    target: FeatureMap
    candidates: tuple[FeatureMap, ...]
    tail: frozenset = field(repr=False)  # instance ids of the ops between target and scores


def node_name(output: ov.Output) -> str:
    node = output.get_node()
    name = node.get_friendly_name()
    return name if node.get_output_size() == 1 else f"{name}:{output.get_index()}"


def locate(
    model: ov.Model, target: str | None = None, output: str | None = None, target_layout: str | None = None
) -> Located:
    """Find the class scores, their kind, the logits and the Recipro-CAM target of a single-input classifier.

    output: the name of the model output that holds the class scores, when structure leaves a choice.
    target_layout: NCHW or NHWC for the target, when no op around it says which.
    """
    _require_single_input(model)
    graph = _DataGraph(model)
    output_index, scores = find_scores(model, graph, output)
    logits, kind = _kind_of(scores)
    classes = int(scores.get_partial_shape()[1].get_length())
    _require_static_image_size(model)
    chain = graph.dominators(scores)
    candidates = tuple(
        fm
        for out in reversed(chain)
        if graph.after_spatial_op(out) and (fm := _feature_map(out, graph)) is not None and fm.height * fm.width > 1
    )
    if target is None:
        chosen = _auto_target(candidates, classes, graph, scores)
    else:
        chosen = _named_target(model, target, chain, graph)
    chosen = _with_layout(chosen, target_layout, graph)
    return Located(
        output_index=output_index,
        scores=scores,
        logits=logits,
        kind=kind,
        classes=classes,
        target=chosen,
        candidates=candidates,
        tail=graph.between(chosen.output, scores),
    )


def _require_static_image_size(model: ov.Model) -> None:
    """Feature maps need a known size: a model exported with a dynamic height and width says so."""
    shape = model.get_parameters()[0].get_partial_shape()
    if shape.rank.is_static and shape.rank.get_length() == 4 and not all(d.is_static for d in shape[1:]):
        raise ReciproCamError(
            f"the model input {_shape_text(model.get_parameters()[0].output(0))} has a dynamic size; "
            "explain it at one size with --input-shape (for example 1,3,224,224)"
        )


def _require_single_input(model: ov.Model) -> None:
    params = model.get_parameters()
    if len(params) != 1:
        names = ", ".join(p.get_friendly_name() for p in params) or "none"
        raise ReciproCamError(
            f"the model has {len(params)} inputs ({names}); Recipro-CAM explains single-input image classifiers"
        )


@dataclass(frozen=True)
class OutputRole:
    """What `find_scores` took one model output for."""

    index: int
    name: str
    shape: str
    role: str  # "class scores", "candidate", or why it was skipped


def _output_name(model: ov.Model, index: int) -> str:
    names = sorted(model.outputs[index].get_names())
    return names[0] if names else node_name(model.get_results()[index].input_value(0))


def output_roles(model: ov.Model, graph: _DataGraph | None = None) -> list[OutputRole]:
    """Every model output with what it was taken for: `inspect` lists them."""
    graph = graph or _DataGraph(model)
    shape = model.get_parameters()[0].get_partial_shape()
    batch = shape[0] if shape.rank.is_static else ov.Dimension()
    roles = []
    for i, result in enumerate(model.get_results()):
        source = result.input_value(0)
        why = _not_class_scores(source, batch, graph)
        roles.append(OutputRole(i, _output_name(model, i), _shape_text(source), why or "candidate"))
    candidates = [r for r in roles if r.role == "candidate"]
    sources = {r.index: model.get_results()[r.index].input_value(0) for r in candidates}
    # The strongest evidence first: an activation that makes scores, then a classifier-shaped layer.
    activated = [r for r in candidates if _kind_of(sources[r.index])[1] is not ScoreKind.LOGITS]
    linear = [r for r in candidates if _is_linear_head(sources[r.index])]
    chosen = next((group for group in (activated, linear, candidates) if len(group) == 1), [])
    return [replace(r, role="class scores") if r in chosen else r for r in roles]


def _shape_text(output: ov.Output) -> str:
    return str(output.get_partial_shape()).replace(" ", "")


def _not_class_scores(source: ov.Output, batch: ov.Dimension, graph: _DataGraph) -> str | None:
    """Why an output cannot hold class scores [N, classes] or [N, classes, 1, 1]; None if it can."""
    shape = source.get_partial_shape()
    if shape.rank.is_dynamic or shape.rank.get_length() < 2:
        return "skipped: rank < 2"
    rank = shape.rank.get_length()
    if rank not in (2, 4) or (rank == 4 and not all(d.is_static and d.get_length() == 1 for d in shape[2:])):
        return "skipped: not [N, classes] or [N, classes, 1, 1]"
    if not shape[1].is_static or shape[1].get_length() < 2:
        return "skipped: fewer than 2 classes"
    if not shape[0].compatible(batch) or (batch.is_dynamic and shape[0].is_static and shape[0].get_length() != 1):
        return "skipped: axis 0 is not the input's batch"
    if key_of(source) not in graph.order:
        return "skipped: does not depend on the input"
    return None


def _is_linear_head(source: ov.Output) -> bool:
    """Made by a linear layer on pooled or flattened features."""
    node = _skip(source, _RELABEL_OPS).get_node()
    if node.get_type_name() == "Add":
        node = next((v.get_node() for v in node.input_values() if v.get_node().get_type_name() == "MatMul"), node)
    if node.get_type_name() != "MatMul":
        return False
    features = _skip(node.input_value(0), _RELABEL_OPS - {"Reshape"})
    if features.get_node().get_type_name() in _POOL_OPS:
        return True
    # A flatten: a Reshape of a 4-D map to [N, C*H*W].
    producer = features.get_node()
    return producer.get_type_name() == "Reshape" and producer.get_input_partial_shape(0).rank.get_length() == 4


def find_scores(model: ov.Model, graph: _DataGraph, name: str | None = None) -> tuple[int, ov.Output]:
    """The output that holds the class scores: by `name`, or the one structure singles out."""
    roles = output_roles(model, graph)
    if name is not None:
        found = [r for r in roles if name == r.name or name in model.outputs[r.index].get_names()]
        if not found:
            listed = ", ".join(r.name for r in roles)
            raise ReciproCamError(f"--scores-output '{name}' is not an output of the model (it has {listed})")
        if found[0].role not in ("candidate", "class scores"):
            raise ReciproCamError(f"--scores-output '{name}' cannot hold class scores ({found[0].role})")
        chosen = found[0]
    else:
        picked = [r for r in roles if r.role == "class scores"]
        candidates = [r for r in roles if r.role == "candidate"]
        if not picked and candidates:
            listed = ", ".join(f"{r.name} {r.shape}" for r in candidates)
            raise ReciproCamError(
                f"several outputs could hold the class scores ({listed}); pick one with --scores-output NAME"
            )
        if not picked:
            shapes = ", ".join(f"{r.name} {r.shape}" for r in roles)
            raise ReciproCamError(
                f"no classification output: expected shape [N, classes] or [N, classes, 1, 1], the model has {shapes}"
            )
        chosen = picked[0]
    return chosen.index, model.get_results()[chosen.index].input_value(0)


def _skip(out: ov.Output, kinds: frozenset) -> ov.Output:
    while out.get_node().get_type_name() in kinds:
        out = out.get_node().input_value(0)
    return out


def _constant_operands(node: ov.Node) -> bool:
    """Every input but the first is a constant (slice bounds, gather indices, a scale)."""
    return all(v.get_node().get_type_name() == "Constant" for v in node.input_values()[1:])


def _before_max_shift(out: ov.Output) -> ov.Output:
    """x for x - max(x), the stabilising shift of a written-out softmax; else `out` itself."""
    node = out.get_node()
    if node.get_type_name() == "Subtract":
        x, shift = node.input_values()
        if shift.get_node().get_type_name() == "ReduceMax" and shift.get_node().input_value(0) == x:
            return x
    return out


def _kind_of(scores: ov.Output) -> tuple[ov.Output | None, ScoreKind]:
    """What `scores` holds, and the logits behind it (None when they do not hold one value per class).

    Recognised: Softmax, LogSoftmax, Sigmoid, and the softmax written out (Exp / ReduceSum / Divide),
    each maybe followed by ops that pick or scale classes (TF's Slice of 1001 to 1000 classes).
    """
    out = _skip(scores, _RELABEL_OPS)
    selected = False
    while out.get_node().get_type_name() in _SELECT_OPS and _constant_operands(out.get_node()):
        selected, out = True, _skip(out.get_node().input_value(0), _RELABEL_OPS)
    node = out.get_node()
    kind = _KINDS.get(node.get_type_name())
    logits = node.input_value(0) if kind else None
    if kind is None and node.get_type_name() == "Divide":
        numerator, denominator = (v.get_node() for v in node.input_values())
        if (
            numerator.get_type_name() == "Exp"
            and denominator.get_type_name() == "ReduceSum"
            and denominator.input_value(0).get_node().get_instance_id() == numerator.get_instance_id()
        ):
            kind, logits = ScoreKind.PROBABILITIES, _before_max_shift(numerator.input_value(0))
    if kind is None:
        return scores, ScoreKind.LOGITS
    return (None if selected else logits), kind


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
        self.nodes = {op.get_instance_id(): op for op in ops}
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


def _feature_map(output: ov.Output, graph: _DataGraph, layout: str | None = None) -> FeatureMap | None:
    """The tensor as a feature map; its layout from `layout`, else from the ops around it (None if none says)."""
    dims = _static_dims(output)
    if dims is None:
        return None
    layout = layout or _layout(output, graph)
    c, h, w = dims if layout != "NHWC" else (dims[2], dims[0], dims[1])
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


def _same_layout_neighbours(output: ov.Output, graph: _DataGraph) -> list[ov.Output]:
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


def _layout(output: ov.Output, graph: _DataGraph) -> str | None:
    """NCHW or NHWC, from the nearest op that fixes it (through ops that keep it); None if none does."""
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


def _with_layout(fm: FeatureMap, layout: str | None, graph: _DataGraph) -> FeatureMap:
    """`fm` in the layout the user gave, or as found; a one-line error when neither says."""
    if layout is not None:
        return _feature_map(fm.output, graph, layout)
    if fm.layout is None:
        raise ReciproCamError(
            f"cannot tell whether the target '{fm.name}' {_shape_text(fm.output)} is NCHW or NHWC: no convolution, "
            "pooling, reduction or transpose around it says; pass --target-layout NCHW or NHWC"
        )
    return fm


_WEIGHTED_OPS = frozenset({"Convolution", "GroupConvolution", "MatMul", "ConvolutionBackpropData"})


def _is_class_score_map(fm: FeatureMap, classes: int, graph: _DataGraph, scores: ov.Output) -> bool:
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


def _auto_target(candidates: tuple[FeatureMap, ...], classes: int, graph: _DataGraph, scores: ov.Output) -> FeatureMap:
    for fm in reversed(candidates):
        if not _is_class_score_map(fm, classes, graph, scores):
            return fm
    raise ReciproCamError(
        "no spatial feature map found: no 4-D tensor with H*W > 1 after a convolution or pooling lies on every "
        "path to the class scores; pass a target by name (see `ov-reciprocam inspect`)"
    )


def _named_target_output(model: ov.Model, name: str) -> ov.Output:
    """The tensor called `name` (friendly or tensor name)."""
    matches = [
        out
        for op in model.get_ordered_ops()
        for out in op.outputs()
        if name in out.get_names() or name in (node_name(out), op.get_friendly_name() if out.get_index() == 0 else None)
    ]
    if not matches:
        raise ReciproCamError(f"target '{name}' is neither a node's friendly name nor a tensor name in the model")
    return matches[0]


def _named_target(model: ov.Model, name: str, chain: list[ov.Output], graph: _DataGraph) -> FeatureMap:
    out = _named_target_output(model, name)
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
    if fm.height * fm.width < 2:
        raise ReciproCamError(
            f"target '{name}' is {fm.height}x{fm.width}: one position has nothing to compare; "
            "pick a map with H*W > 1 listed by `ov-reciprocam inspect`"
        )
    return fm
