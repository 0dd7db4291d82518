"""The model as data flow: tensors that carry data from the input, their dominators, the ops between two.

Reads the graph and never edits it; `locating`, `head` and `vit.locate` ask it their questions.
"""

from __future__ import annotations

from collections import deque

import openvino as ov

from ..errors import ReciproCamError

# Ops that mix spatial positions: a feature map is "convolutional" only downstream of one.
SPATIAL_OPS = frozenset(
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
    }
)
# Their output depends on the input's shape, not its values: no data flows through them.
_SHAPE_OPS = frozenset({"ShapeOf"})

Key = tuple[int, int]


def key_of(output: ov.Output) -> Key:
    """A hashable identity for a tensor (node instance, output port)."""
    return (output.get_node().get_instance_id(), output.get_index())


def node_name(output: ov.Output) -> str:
    node = output.get_node()
    name = node.get_friendly_name()
    return name if node.get_output_size() == 1 else f"{name}:{output.get_index()}"


def chain_path(chain: list[ov.Output], output: ov.Output) -> str:
    """A name for `output` that survives re-reading the model: its op type and its place on `chain` (a
    dominator chain, nearest first), counted from the input. Frontends number the friendly names they
    make up with a process-wide counter, so those change from one read of a file to the next."""
    index = [key_of(c) for c in reversed(chain)].index(key_of(output))
    return f"{output.get_node().get_type_name()}#{index}"


def on_chain(name: str, chain: list[ov.Output]) -> ov.Output | None:
    """The tensor of `chain` that `chain_path` calls `name`, if any."""
    kind, _, index = name.rpartition("#")
    if not index.isdigit() or int(index) >= len(chain):
        return None
    found = list(reversed(chain))[int(index)]
    return found if found.get_node().get_type_name() == kind else None


class DataGraph:
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
                self.spatial[k] = kind in SPATIAL_OPS or any(self.spatial[p] for p in live)
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
