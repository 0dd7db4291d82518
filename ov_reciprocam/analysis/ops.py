"""Facts about single ops that every reader of the graph shares: which ops reduce, which inputs are constants."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import openvino as ov

REDUCE_OPS = frozenset({"ReduceMean", "ReduceMax", "ReduceSum", "ReduceMin", "ReduceL2", "ReduceProd"})
# What a frontend puts between a weight and its use: decompression, and reshapes of constants.
WEIGHT_STEPS = frozenset({"Convert", "Reshape", "Unsqueeze", "Squeeze"})


def constant_node(value: ov.Output, through: Collection[str] = ()) -> ov.Node | None:
    """The Constant that `value` is, looking back through ops of the kinds in `through`; None if it is none."""
    node = value.get_node()
    while node.get_type_name() in through:
        node = node.input_value(0).get_node()
    return node if node.get_type_name() == "Constant" else None


def is_constant(value: ov.Output, through: Collection[str] = ()) -> bool:
    return constant_node(value, through) is not None


def constant_value(value: ov.Output, through: Collection[str] = ()) -> np.ndarray | None:
    """The constant's data, as `constant_node` finds it; None if `value` is no constant."""
    node = constant_node(value, through)
    return None if node is None else np.asarray(node.get_data())


def constant_ints(value: ov.Output) -> list[int] | None:
    """A constant's values as a flat list of ints (axes, permutations); None if `value` is no constant."""
    data = constant_value(value)
    return None if data is None else [int(x) for x in data.reshape(-1)]
