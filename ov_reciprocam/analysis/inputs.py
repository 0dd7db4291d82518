"""The model's image input, read from its shape: the layout and the height and width photos are resized to."""

from __future__ import annotations

import openvino as ov

from ..errors import ReciproCamError
from ..vocabulary import Layout


def input_layout(shape: ov.PartialShape) -> Layout:
    """The layout of a 4-D image input (`Layout.of_image`, which the model layer reads too)."""
    return Layout.of_image(shape)


def input_size(model: ov.Model) -> tuple[int, int]:
    """(height, width) of the single image input, whichever its layout."""
    shape = model.get_parameters()[0].get_partial_shape()
    dims = input_layout(shape).spatial(shape)
    if not all(d.is_static for d in dims):
        raise ReciproCamError(f"cannot upsample to an input of dynamic size {shape}; reshape the model first")
    return dims[0].get_length(), dims[1].get_length()
