"""Compiling for a device, with OpenVINO's multi-line errors cut to one line."""

from __future__ import annotations

import openvino as ov

from ..errors import ReciproCamError
from ..model.formats import first_line

PRECISIONS = ("f32", "bf16", "f16", "auto")
F32 = {"INFERENCE_PRECISION_HINT": "f32"}  # for comparisons: differences from the models, not the device


# Devices that run on others, named after a colon (AUTO:GPU,CPU); the plain name picks them itself.
_VIRTUAL = ("AUTO", "HETERO", "MULTI", "BATCH")


def check_device(device: str) -> str:
    """`device` as OpenVINO spells it (upper case), refused unless every device it names is on this machine:
    plugins that are not there fail with their loader's text (a missing libOpenCL, an NPU compiler)."""
    name = device.strip().upper()
    present = ov.Core().available_devices
    if not name:
        raise ReciproCamError(f"`device` is empty; OpenVINO finds {', '.join(present)} here")
    kind, _, listed = name.partition(":")
    # AUTO:-GPU keeps AUTO off the GPU: a device left out need not be here.
    wanted = [d for d in listed.split(",") if d and not d.startswith("-")] if kind in _VIRTUAL else [name]
    # A single GPU is listed as GPU, several as GPU.0, GPU.1: GPU.0 asks for the first, GPU for any.
    kinds = {d.split(".")[0] for d in present}
    absent = [d for d in wanted if d not in present and d.split(".")[0] not in kinds]
    if absent:
        raise ReciproCamError(
            f"cannot compile the model for {name}: there is no {' or '.join(absent)} on this machine (OpenVINO "
            f"finds {', '.join(present)}); pick one with `device`"
        )
    return name


def compile_for(model: ov.Model, device: str = "CPU", config: dict | None = None) -> ov.CompiledModel:
    """Compile `model`, or raise a one-line error naming the device."""
    device = check_device(device)
    try:
        return ov.Core().compile_model(model, device, config or {})
    except Exception as exc:
        raise ReciproCamError(f"cannot compile the model for {device}: {first_line(exc)}", detail=str(exc)) from None


def precision_config(precision: str) -> dict | None:
    """Compile properties for an inference precision; "auto" keeps the device default."""
    return None if precision == "auto" else {"INFERENCE_PRECISION_HINT": precision}


def ran_precision(compiled: ov.CompiledModel) -> str | None:
    """The precision `compiled` computes in, spelled as `precision` is (f32, bf16, f16): what was asked only if the
    device could do it (a CPU without f16 runs bf16). None when the device does not say."""
    try:
        return compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
    except Exception:  # a plugin without the property: unknown, rather than the precision asked for
        return None


# OpenVINO's precision names -> the names a device's OPTIMIZATION_CAPABILITIES lists.
_CAPABILITY = {"f32": "FP32", "bf16": "BF16", "f16": "FP16"}


def precision_note(device: str, config: dict | None, ran: str | None) -> str | None:
    """One line saying the device runs another precision than `config` asked for, and why; None when it runs it."""
    asked = (config or {}).get("INFERENCE_PRECISION_HINT")
    if asked is None or ran is None or ran == asked:
        return None
    try:
        listed = set(ov.Core().get_property(device, "OPTIMIZATION_CAPABILITIES"))
    except Exception:  # a device that does not list them: the note says what ran, without the why
        listed = set()
    offered = [name for name, capability in _CAPABILITY.items() if capability in listed]
    lacks = offered and asked not in offered
    why = f"it computes in {' or '.join(offered)}, not {asked}" if lacks else "its plugin chose so"
    return f"note: {device} runs {ran}, not {asked}: {why}; the results record {ran}"
