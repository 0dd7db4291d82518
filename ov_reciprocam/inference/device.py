"""Compiling for a device, with OpenVINO's multi-line errors cut to one line."""

from __future__ import annotations

import openvino as ov

from ..errors import ReciproCamError
from ..model.formats import first_line

PRECISIONS = ("f32", "bf16", "f16", "auto")
F32 = {"INFERENCE_PRECISION_HINT": "f32"}  # for comparisons: differences from the models, not the device


def compile_for(model: ov.Model, device: str = "CPU", config: dict | None = None) -> ov.CompiledModel:
    """Compile `model`, or raise a one-line error naming the device."""
    try:
        return ov.Core().compile_model(model, device, config or {})
    except Exception as exc:
        raise ReciproCamError(f"cannot compile the model for {device}: {first_line(exc)}") from None


def precision_config(precision: str) -> dict | None:
    """Compile properties for an inference precision; "auto" keeps the device default."""
    return None if precision == "auto" else {"INFERENCE_PRECISION_HINT": precision}
