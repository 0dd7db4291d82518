"""Class names: from a labels file, from rt_info model_info, or from a labels.txt beside the model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import openvino as ov

from ..errors import ReciproCamError
from .rt_info import EXACT_LABELS, LABELS


def read_labels(path: str | os.PathLike) -> list[str]:
    """Class names, one per line; blank lines are skipped, but at least one name must be there."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # -sig: a byte-order mark is not part of the first name
    except OSError as exc:
        raise ReciproCamError(f"cannot read labels {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ReciproCamError(
            f"labels file {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}): "
            "save it as UTF-8, or give another file with `labels`"
        ) from None
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if not labels:
        raise ReciproCamError(f"labels file {path} holds no class names (one a line): give another with `labels`")
    return labels


def labels_of(model: ov.Model) -> list[str] | None:
    """Class names from rt_info: as written (ours), else model_info/labels (space-separated, as Model API's)."""
    if (exact := EXACT_LABELS.read(model)) is not None:
        return list(json.loads(exact))
    text = LABELS.read(model)
    return text.split() if text else None


def write_labels(model: ov.Model, labels: list[str]) -> None:
    # Model API keeps labels space-separated, so a space inside a name becomes "_" there.
    LABELS.write(model, " ".join(label.replace(" ", "_") for label in labels))
    EXACT_LABELS.write(model, json.dumps(list(labels)))


def find_labels(model: ov.Model, source: ov.Model | str | os.PathLike | None = None) -> list[str] | None:
    """Class names from rt_info, else from a labels.txt beside `source` (the model's file)."""
    return labels_of(model) or labels_beside(source)


def labels_beside(model: ov.Model | str | os.PathLike | None) -> list[str] | None:
    """The labels.txt next to a model file, if there is one."""
    if model is None or isinstance(model, ov.Model):
        return None
    path = Path(model).with_name("labels.txt")
    return read_labels(path) if path.is_file() else None
