"""A clone of the model's tail that scores the masked copies, wired to the original model."""

from __future__ import annotations

import openvino as ov

from ..model.reshape import batch_free_pattern, copies_pattern, set_reshape_pattern
from .base import Located
from .graph_ops import spatial_sizes


class TailClone:
    """A clone of the model's tail, wired to the original wherever it reads from outside the tail.

    Computed tensors from outside the tail are read from the original, so the clone's own copy of
    the backbone is left unreachable. Weights stay the clone's own Constant nodes: they share the
    original's buffers, and the IR writer stores equal buffers once, but the CPU plugin compiles a
    Constant node used by two layers differently, which would move the original outputs by ~1e-5.
    """

    def __init__(self, model: ov.Model, located: Located, copies: bool = True) -> None:
        """copies: the clone will run on B*H*W copies, so Reshapes that bake in or read the batch follow them."""
        originals = model.get_ordered_ops()
        twins = model.clone().get_ordered_ops()
        if [o.get_friendly_name() for o in originals] != [o.get_friendly_name() for o in twins]:
            raise RuntimeError("model.clone() did not preserve op order; please report this model")
        self._twin = {o.get_instance_id(): t for o, t in zip(originals, twins, strict=True)}
        self._order = [o for o in originals if o.get_instance_id() in located.tail]
        self._located = located
        self._target_inputs: list[ov.Input] = []
        target = located.target.output
        batch = model.get_parameters()[0].get_partial_shape()[0]
        computed = input_dependent(originals)
        for original in self._order:
            twin = self[original]
            for i, source in enumerate(original.input_values()):
                source_id = source.get_node().get_instance_id()
                if source_id == target.get_node().get_instance_id() and source.get_index() == target.get_index():
                    self._target_inputs.append(twin.input(i))
                elif source_id not in located.tail and source_id in computed:
                    twin.input(i).replace_source_output(source)
            if not copies or original.get_type_name() != "Reshape":
                continue
            if (pattern := batch_free_pattern(original, batch)) is not None:
                set_reshape_pattern(twin, pattern)
            elif (scaled := copies_pattern(twin.input_value(1), spatial_sizes(located.target)[2])) is not None:
                twin.input(1).replace_source_output(scaled)

    def __getitem__(self, original: ov.Node) -> ov.Node:
        return self._twin[original.get_instance_id()]

    def feed_target(self, value: ov.Output) -> None:
        """Make the clone read `value` where the original reads the target."""
        for target_input in self._target_inputs:
            target_input.replace_source_output(value)

    def replace_uses(self, original: ov.Node, value: ov.Output) -> None:
        """Make the clone's consumers of `original`'s output read `value` instead."""
        for consumer in list(self[original].output(0).get_target_inputs()):
            consumer.replace_source_output(value)

    @property
    def order(self) -> list[ov.Node]:
        """The original tail's ops, in topological order."""
        return self._order

    def value(self, original: ov.Output) -> ov.Output:
        """The clone's counterpart of the tail tensor `original`, its shapes settled."""
        return self.settled(self[original.get_node()].output(original.get_index()))

    def settled(self, value: ov.Output) -> ov.Output:
        """`value` (a tensor of the clone) with the shapes of the clone's ops it is computed from inferred anew.

        Only those: an op a shortcut bypassed may not fit its new inputs.
        """
        needed, stack = set(), [value.get_node()]
        while stack:
            node = stack.pop()
            for source in node.input_values():
                if (i := source.get_node().get_instance_id()) not in needed:
                    needed.add(i)
                    stack.append(source.get_node())
        needed.add(value.get_node().get_instance_id())
        for node in self._order:
            if (twin := self[node]).get_instance_id() in needed:
                twin.validate_and_infer_types()
        return value


def input_dependent(ordered_ops: list[ov.Node]) -> set[int]:
    """Instance ids of the ops whose value depends on a model input (all but constant subgraphs)."""
    found: set[int] = set()
    for op in ordered_ops:
        if op.get_type_name() == "Parameter" or any(v.get_node().get_instance_id() in found for v in op.input_values()):
            found.add(op.get_instance_id())
    return found
