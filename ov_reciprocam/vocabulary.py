"""The words every layer shares: enums for kinds, and the options of `patch`."""

from __future__ import annotations

from enum import Enum


class _Word(str, Enum):
    """An enum whose members read as their values wherever text is made (f-strings, rt_info, JSON)."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class Layout(_Word):
    """How a tensor holds an image batch: channels first or last, or a transformer's tokens [B, P + h*w, D].

    A str enum: it compares equal to "NCHW" and friends, which rt_info and flags spell out.
    """

    NCHW = "NCHW"
    NHWC = "NHWC"
    TOKENS = "tokens"

    def spatial(self, shape):
        """(height, width) of a 4-D image shape (dims, a PartialShape, ...) in this layout."""
        return (shape[1], shape[2]) if self is Layout.NHWC else (shape[2], shape[3])

    def channels(self, shape):
        """The channel dim of a 4-D image shape in this layout."""
        return shape[3] if self is Layout.NHWC else shape[1]


class ScoreKind(Enum):
    """What the model's class-score output holds, as its graph says."""

    LOGITS = "logits"
    PROBABILITIES = "probabilities"  # a softmax (maybe sliced, gathered or scaled after)
    LOG_PROBABILITIES = "log_probabilities"
    SIGMOIDS = "sigmoids"  # independent per-label probabilities: a multi-label model

    @property
    def multilabel(self) -> bool:
        return self is ScoreKind.SIGMOIDS


class Score(Enum):
    """What scores each masked copy."""

    AUTO = "auto"  # softmax for single-label models, sigmoid for multi-label ones
    SOFTMAX = "softmax"  # the paper's choice
    LOGITS = "logits"  # openvino_xai's
    SIGMOID = "sigmoid"  # per label

    def resolve(self, kind: ScoreKind) -> Score:
        """AUTO made concrete for a model whose scores are of `kind`."""
        if self is not Score.AUTO:
            return self
        return Score.SIGMOID if kind.multilabel else Score.SOFTMAX


class TailKind(_Word):
    """How the masked copies are scored; the value is what rt_info and reports show."""

    POOLED = "pooled"
    FLATTEN_LINEAR = "flatten_linear"
    GENERIC = "generic"
    TOKENS = "tokens"  # a transformer's masked token copies (the mosaic)
    TOKENS_PREFIX = "tokens_prefix"  # a head that reads only prefix tokens: their attention in closed form
    TOKENS_MEAN = "tokens_mean"  # a head that averages tokens: the rows a copy needs, in closed form


class Kernel(_Word):
    """Which patch tokens a transformer's masked copy n keeps."""

    GAUSSIAN = "gaussian"  # the 3x3 neighbourhood of n, weighted [[1, 2, 1], [2, 4, 2], [1, 2, 1]] / 16
    ONEHOT = "onehot"  # n alone
