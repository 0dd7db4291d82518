"""Reshape patterns that follow the batch: the input's, or the copies' (B*H*W) in a cloned tail.

Exports bake the batch into flatten shapes (ONNX's [1, 1024]) or read it from the input at run
time (torch's `x.reshape(x.shape[0], -1)`); a new input batch and the masked copies both need
such a Reshape to follow the batch it is given.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops


def batch_free_pattern(reshape: ov.Node, batch: ov.Dimension) -> np.ndarray | None:
    """For a Reshape to a literal batch ([1, 1024]), a pattern that keeps its input's batch ([0, 1024]).

    ONNX exports of static-batch models bake the batch into flatten shapes; the copies (B*H*W)
    and a new input batch both need it to follow the input instead. None when there is nothing to free.
    """
    pattern = reshape.input_value(1).get_node()
    source = reshape.get_input_partial_shape(0)
    if batch.is_dynamic or pattern.get_type_name() != "Constant" or source.rank.is_dynamic or source[0] != batch:
        return None
    values = np.asarray(pattern.get_data()).copy()
    if values.ndim != 1 or values.size == 0 or values[0] != batch.get_length():
        return None
    if not reshape.get_attributes().get("special_zero", False) and (values[1:] == 0).any():
        return None
    values[0] = 0
    return values


def set_reshape_pattern(reshape: ov.Node, values: np.ndarray) -> None:
    """Point a Reshape at `values`, with 0 meaning "keep this input dimension"."""
    reshape.input(1).replace_source_output(ops.constant(values).output(0))
    reshape.set_attribute("special_zero", True)


def copies_pattern(pattern: ov.Output, copies_per_image: int | ov.Output) -> ov.Output | None:
    """A Reshape pattern that reads the input's batch at run time (torch's `x.reshape(x.shape[0], -1)`:
    Concat(Gather(ShapeOf(x), 0), ...)), with that batch B made B * copies_per_image; else None."""
    node = pattern.get_node()
    if node.get_type_name() != "Concat" or node.get_attributes()["axis"] != 0:
        return None
    first = node.input_value(0)
    source = first
    while source.get_node().get_type_name() in ("Unsqueeze", "Convert", "Reshape", "Squeeze"):
        source = source.get_node().input_value(0)
    gather = source.get_node()
    if gather.get_type_name() != "Gather" or gather.input_value(0).get_node().get_type_name() not in ("ShapeOf",):
        return None
    index, axis = (gather.input_value(i).get_node() for i in (1, 2))
    if index.get_type_name() != "Constant" or axis.get_type_name() != "Constant":
        return None
    if [np.asarray(n.get_data()).reshape(-1).tolist() for n in (index, axis)] != [[0], [0]]:
        return None
    if isinstance(copies_per_image, int):
        hw = ops.constant(np.array(copies_per_image, first.get_element_type().to_dtype()))
    else:  # a size read at run time, [1]
        hw = ops.convert(copies_per_image, first.get_element_type())
    parts = [ops.multiply(first, hw).output(0), *node.input_values()[1:]]
    return ops.concat(parts, 0).output(0)
