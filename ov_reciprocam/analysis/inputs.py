"""The model's image input, read from its shape: the layout and the height and width photos are resized to."""

from __future__ import annotations

import openvino as ov

from ..errors import ReciproCamError
from ..vocabulary import Layout


def input_layout(shape: ov.PartialShape) -> Layout:
    """The layout of a 4-D image input: NHWC when the last dim has 1 or 3 channels and dim 1 does not."""
    last, second = shape[3], shape[1]
    if (
        last.is_static
        and last.get_length() in (1, 3, 4)
        and not (second.is_static and second.get_length() in (1, 3, 4))
    ):
        return Layout.NHWC
    return Layout.NCHW


def input_size(model: ov.Model) -> tuple[int, int]:
    """(height, width) of the single image input, whichever its layout."""
    shape = model.get_parameters()[0].get_partial_shape()
    dims = input_layout(shape).spatial(shape)
    if not all(d.is_static for d in dims):
        raise ReciproCamError(f"cannot upsample to an input of dynamic size {shape}; reshape the model first")
    return dims[0].get_length(), dims[1].get_length()
