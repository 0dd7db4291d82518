"""Reshaping a model: its input's size and batch, and Reshape patterns that follow the batch.

Exports bake the batch into flatten shapes (ONNX's [1, 1024]) or read it from the input at run
time (torch's `x.reshape(x.shape[0], -1)`); a new input batch and the masked copies (B*H*W) in a
cloned tail both need such a Reshape to follow the batch it is given.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ..errors import ReciproCamError
from ..vocabulary import Layout
from .formats import first_line


def set_input_shape(model: ov.Model, dims: tuple[int, ...]) -> None:
    """Reshape the single input to `dims` (-1: dynamic), or a one-line error naming `input_shape`."""
    param = model.get_parameters()[0]
    shape = param.get_partial_shape()
    asked = ",".join(map(str, dims))
    if any(d == 0 or d < -1 for d in dims):
        raise ReciproCamError(f"`input_shape` {asked}: each size must be 1 or more, or -1 (dynamic)")
    if shape.rank.is_static and shape.rank.get_length() != len(dims):
        rank = shape.rank.get_length()
        raise ReciproCamError(f"`input_shape` has {len(dims)} dimensions, the input {shape} has {rank}")
    try:
        model.reshape({param.output(0): ov.PartialShape([ov.Dimension(d) for d in dims])})
    except Exception as exc:
        raise ReciproCamError(_shape_refused(shape, dims), detail=str(exc)) from None


def _shape_refused(shape: ov.PartialShape, dims: tuple[int, ...]) -> str:
    """Why the input cannot take `dims`: most often an image shape given in the other layout's order."""
    asked = ",".join(map(str, dims))
    if len(dims) != 4 or shape.rank.is_dynamic:
        return f"the input {shape} cannot take the shape {asked} (`input_shape`): its layers fix some of its sizes"
    layout = Layout.of_image(shape)
    expects = f"the input {shape} is {layout}, so `input_shape` is {','.join(layout.value)}"
    channels, other = layout.channels(shape), Layout.NCHW if layout is Layout.NHWC else Layout.NHWC
    if channels.is_static and layout.channels(dims) != channels.get_length():
        if other.channels(dims) != channels.get_length():
            return f"{expects}, with {channels} channels, not {layout.channels(dims)} as in {asked}"
        (h, w), c = other.spatial(dims), other.channels(dims)
        reordered = (dims[0], h, w, c) if layout is Layout.NHWC else (dims[0], c, h, w)
        return f"{expects}: {','.join(map(str, reordered))}, not {asked}"
    return f"{expects}, and its layers take no {asked} (a size fixed by a flatten or reshape?)"


def set_batch(model: ov.Model, batch: int) -> None:
    """Reshape the single input's first (batch) dimension; -1 makes it dynamic."""
    if batch == 0 or batch < -1:
        raise ReciproCamError(f"`batch` must be a positive number or -1 (dynamic), got {batch}")
    param = model.get_parameters()[0]
    shape = param.get_partial_shape()
    if shape.rank.is_dynamic:
        raise ReciproCamError("the model input has a dynamic rank; reshape it to a fixed image shape first")
    for op in model.get_ordered_ops():
        if op.get_type_name() == "Reshape" and (pattern := batch_free_pattern(op, shape[0])) is not None:
            set_reshape_pattern(op, pattern)
    merges = batch_merges(model, shape[0])
    for op, pattern in merges:
        set_reshape_pattern(op, pattern)
    left = [op for op in _merging(model, shape[0]) if all(op is not m for m, _ in merges)]
    shape[0] = ov.Dimension(-1) if batch == -1 else ov.Dimension(batch)
    try:
        model.reshape({param.output(0): shape})
    except Exception as exc:
        if left:
            raise ReciproCamError(
                f"cannot set the batch to {batch}: the Reshape '{left[0].get_friendly_name()}' folds the batch into "
                f"{left[0].get_output_partial_shape(0)} with a literal shape, and what follows does not keep the "
                "photos' rows apart; export the model at the batch you need"
            ) from None
        raise ReciproCamError(f"cannot set the batch to {batch}: {first_line(exc)}") from None


def _merging(model: ov.Model, batch: ov.Dimension) -> list[ov.Node]:
    """Reshapes that fold the batch into their first axis (`_merges_batch`)."""
    if batch.is_dynamic:
        return []
    return [
        op
        for op in model.get_ordered_ops()
        if op.get_type_name() == "Reshape" and _merges_batch(op, batch.get_length())
    ]


def require_static(model: ov.Model) -> None:
    """Raise unless every tensor in `model` has a static shape."""
    for op in model.get_ordered_ops():
        for out in op.outputs():
            if out.get_partial_shape().is_dynamic:
                raise ReciproCamError(
                    f"'{op.get_friendly_name()}' has the dynamic shape {out.get_partial_shape()}; "
                    "set a static batch and input size for devices that need static shapes (NPU)"
                )


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


def batch_merges(model: ov.Model, batch: ov.Dimension) -> list[tuple[ov.Node, np.ndarray]]:
    """Reshapes that merge the batch into their first axis and later split it out again, with patterns that follow it.

    Ultra-Light flattens its scores [1, 4420, 2] to [4420, 2] for a softmax over each row, then reshapes them to
    [1, 4420, 2]: both patterns are literal. In row-major order the batch stays the outermost factor of the merged
    first axis, so [-1, 2] and [-1, 4420, 2] follow any batch, provided every op between the two works row by row
    (`_row_wise`). A merge with any other reader is left alone: the batch could not be told apart behind it.
    """
    found = []
    for op in _merging(model, batch):
        splits = _splits_after(op, batch.get_length())
        if splits is not None:
            found += [
                (r, np.array([-1, *r.get_output_partial_shape(0).to_shape()[1:]], np.int64)) for r in [op, *splits]
            ]
    return found


def _merges_batch(reshape: ov.Node, batch: int) -> bool:
    """[b, d1, ..., dn] -> [b * d1 * ... * dj, d(j+1), ..., dn] with j >= 1, under a constant pattern."""
    source, target = reshape.get_input_partial_shape(0), reshape.get_output_partial_shape(0)
    if reshape.input_value(1).get_node().get_type_name() != "Constant" or not (source.is_static and target.is_static):
        return False
    src, out = list(source.to_shape()), list(target.to_shape())
    j = len(src) - len(out)
    return j >= 1 and src[0] == batch and src[j + 1 :] == out[1:] and out[0] == int(np.prod(src[: j + 1]))


def _splits_after(merge: ov.Node, batch: int) -> list[ov.Node] | None:
    """The Reshapes that split the batch out of `merge`'s rows again, every path to them row-wise; else None."""
    splits, stack = [], [merge.output(0)]
    while stack:
        for reader in stack.pop().get_target_inputs():
            node = reader.get_node()
            if node.get_type_name() == "Reshape" and reader.get_index() == 0 and _splits_batch(node, batch):
                splits.append(node)
            elif _row_wise(node, reader.get_index()):
                stack.append(node.output(0))
            else:
                return None
    return splits or None


def _splits_batch(reshape: ov.Node, batch: int) -> bool:
    """[b * m, ...] -> [b, ...] under a constant pattern."""
    source, target = reshape.get_input_partial_shape(0), reshape.get_output_partial_shape(0)
    if reshape.input_value(1).get_node().get_type_name() != "Constant" or not (source.is_static and target.is_static):
        return False
    return target.to_shape()[0] == batch and source.to_shape()[0] % batch == 0


_ROW_WISE = frozenset({"Convert", "Sigmoid", "Exp", "Log", "Relu", "Clamp", "Abs", "Negative", "Sqrt", "Tanh"})


def _row_wise(node: ov.Node, index: int) -> bool:
    """Whether `node` treats its input `index`'s first axis as independent rows: an elementwise op with a constant
    that does not span that axis, or a softmax over another axis."""
    kind = node.get_type_name()
    rank = node.get_input_partial_shape(index).rank.get_length()
    if kind in _ROW_WISE:
        return True
    if kind in ("Softmax", "LogSoftmax"):
        return node.get_attributes()["axis"] % rank != 0
    if kind in ("Add", "Subtract", "Multiply", "Divide") and node.get_input_size() == 2:
        other = node.input_value(1 - index)
        shape = other.get_partial_shape()
        return _constant(other) and shape.is_static and (len(shape) < rank or shape.to_shape()[0] == 1)
    return False


def _constant(value: ov.Output) -> bool:
    return value.get_node().get_type_name() == "Constant"


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
