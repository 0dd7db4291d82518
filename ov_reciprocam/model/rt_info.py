"""What `patch` records in a model's rt_info, as one schema that every reader shares.

Under `ov_reciprocam`: how the saliency output was built (PatchInfo). Under `model_info` (the Open
Model Zoo / OTX / Model API convention), the preprocessing recipe and labels are written by
`preprocess.Preprocess.write_rt_info`; here only the keys Model API needs to pick its wrapper.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum

import openvino as ov

from ..vocabulary import Affine, Kernel, Layout, Score, ScoreKind, TailKind

RT_KEY = "ov_reciprocam"
MODEL_INFO = "model_info"
_PICKED = "+picked"


def _get(model: ov.Model, *path: str) -> str | None:
    return model.get_rt_info(list(path)).astype(str) if model.has_rt_info(list(path)) else None


def read_model_info(model: ov.Model, key: str) -> str | None:
    """One `model_info` entry as text, or None."""
    return _get(model, MODEL_INFO, key)


def write_model_info(model: ov.Model, values: dict[str, str]) -> None:
    for key, value in values.items():
        model.set_rt_info(value, [MODEL_INFO, key])


def write_model_api_type(model: ov.Model, multilabel: bool = False) -> None:
    """The keys Model API's `Model.create_model` reads to choose and configure its wrapper."""
    write_model_info(model, {"model_type": "Classification", "multilabel": str(multilabel)})


@dataclass(frozen=True)
class PatchInfo:
    """How the saliency output of a patched model was built."""

    version: str
    target: str  # the feature map's tensor name, else its path (a name a later read finds again)
    layout: Layout  # of the feature map: NCHW, NHWC, or a transformer's tokens
    feature_shape: tuple[int, int, int]  # channels, height, width
    classes: int
    output_index: int  # the model output that holds the class scores
    score_kind: ScoreKind  # what that output holds
    score: Score  # what scores the masked copies (never AUTO: the choice it made)
    normalize: bool
    dtype: str  # of the maps: f32 or u8
    tail: TailKind
    picked: bool  # the cloned tail computes only the top-k classes' logits
    top_k: int  # 0: maps for every class
    upsampled: bool
    kernel: Kernel | None = None  # what each copy keeps (None: patched before CNNs recorded it, onehot)
    prefix_tokens: int = 0  # transformers: CLS, distillation tokens
    # A quantized scores output (uint8 TFLite, QDQ ONNX): score = (value - zero_point) * scale.
    scores_scale: float = 1.0
    scores_zero_point: float = 0.0

    @property
    def dequantize(self) -> Affine:
        """The scores output's values -> the scores the model means."""
        return Affine(self.scores_scale, self.scores_zero_point)

    @property
    def path(self) -> str:
        """The tail as reports show it: the kind, "+picked" when only the picked classes are scored."""
        return self.tail.value + (_PICKED if self.picked else "")

    def _texts(self) -> dict[str, str]:
        texts = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("tail", "picked") or value is None:
                continue
            if isinstance(value, Enum):
                value = value.value
            texts[f.name] = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        texts["path"] = self.path
        return texts

    def write(self, model: ov.Model) -> None:
        for key, value in self._texts().items():
            model.set_rt_info(value, [RT_KEY, key])

    @classmethod
    def read(cls, model: ov.Model) -> PatchInfo | None:
        """The record of a model patched by this package, or None."""
        if _get(model, RT_KEY, "version") is None:
            return None
        text = {f.name: _get(model, RT_KEY, f.name) for f in fields(cls)}
        path = _get(model, RT_KEY, "path") or TailKind.GENERIC.value
        return cls(
            version=text["version"],
            target=text["target"],
            layout=Layout(text["layout"]),
            feature_shape=tuple(int(v) for v in text["feature_shape"].split(",")),
            classes=int(text["classes"]),
            output_index=int(text["output_index"]),
            score_kind=_score_kind(model, text["score_kind"]),
            score=Score(text["score"]),
            normalize=text["normalize"] == "True",
            dtype=text["dtype"],
            tail=TailKind(path.removesuffix(_PICKED)),
            picked=path.endswith(_PICKED),
            top_k=int(text["top_k"] or 0),
            upsampled=text["upsampled"] == "True",
            kernel=Kernel(text["kernel"]) if text["kernel"] else None,
            prefix_tokens=int(text["prefix_tokens"] or 0),
            scores_scale=float(text["scores_scale"] or 1.0),
            scores_zero_point=float(text["scores_zero_point"] or 0.0),
        )


def _score_kind(model: ov.Model, text: str | None) -> ScoreKind:
    """The recorded kind; models patched before kinds were recorded say only whether they end in a softmax."""
    if text:
        return ScoreKind(text)
    return ScoreKind.PROBABILITIES if _get(model, RT_KEY, "probabilities") == "True" else ScoreKind.LOGITS
