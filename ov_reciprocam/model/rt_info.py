"""Every rt_info entry this package reads or writes, named once here with the helpers that read and write them.

Two namespaces. `ov_reciprocam`, ours: how the saliency output was built (PatchInfo, whose field names are its
keys), the labels as given, whether the recipe is built into the model or pixels go in as they are. `model_info`,
the Open Model Zoo / OTX / Model API convention: the preprocessing recipe, the labels, and the keys Model API
picks its wrapper by. Other modules take a `Key` from here and never spell one; what a value means (a recipe's
numbers, a label list's JSON) is theirs to parse.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from enum import Enum

import openvino as ov

from ..vocabulary import Affine, DetectorKind, Kernel, Layout, Score, ScoreKind, TailKind

OURS = "ov_reciprocam"
MODEL_INFO = "model_info"


@dataclass(frozen=True)
class Key:
    """One rt_info entry, held as text."""

    namespace: str
    name: str

    @property
    def path(self) -> list[str]:
        return [self.namespace, self.name]

    def read(self, model: ov.Model) -> str | None:
        return model.get_rt_info(self.path).astype(str) if self.present(model) else None

    def present(self, model: ov.Model) -> bool:
        return model.has_rt_info(self.path)

    def write(self, model: ov.Model, text: str) -> None:
        model.set_rt_info(text, self.path)


# Ours, beside PatchInfo's fields.
EXACT_LABELS = Key(OURS, "labels")  # JSON, the names as given: model_info's labels turn spaces into "_"
EMBEDDED_PREPROCESSING = Key(OURS, "embedded_preprocessing")  # the recipe built into the model, described
# An integer input fed the pixels as they are (`raw_pixels`), which mean 0 and scale 1 alone cannot say: for an
# integer input they describe the floats its dequantize step stands for.
RAW_PIXELS = Key(OURS, "raw_pixels")
PATH = Key(OURS, "path")  # PatchInfo.path
PROBABILITIES = Key(OURS, "probabilities")  # read only: models patched before score_kind was recorded
DETECTOR = Key(OURS, "detector")  # DetectionInfo.detector: a detector's record, which PatchInfo is not

# model_info: the recipe in Model API's spellings, and what Model API's `Model.create_model` reads.
MEAN_VALUES = Key(MODEL_INFO, "mean_values")
SCALE_VALUES = Key(MODEL_INFO, "scale_values")
REVERSE_INPUT_CHANNELS = Key(MODEL_INFO, "reverse_input_channels")
RESIZE_TYPE = Key(MODEL_INFO, "resize_type")
INTERPOLATION = Key(MODEL_INFO, "interpolation")  # ours: any of cv2's; Model API knows only interpolation_mode's
INTERPOLATION_MODE = Key(MODEL_INFO, "interpolation_mode")
PAD_VALUE = Key(MODEL_INFO, "pad_value")  # Model API's: the pixel value a fit or letterbox resize pads with
LABELS = Key(MODEL_INFO, "labels")  # space-separated
MODEL_TYPE = Key(MODEL_INFO, "model_type")
MULTILABEL = Key(MODEL_INFO, "multilabel")
RECIPE_KEYS = (MEAN_VALUES, SCALE_VALUES, REVERSE_INPUT_CHANNELS, RESIZE_TYPE)  # none of them: no recipe to follow

_PICKED = "+picked"
# Models patched before `path` was recorded scored their copies with the CNN family's mosaic.
_UNRECORDED_TAIL = "generic"


def write_entries(model: ov.Model, values: Mapping[Key, str], *, keep: bool = False) -> None:
    """Each entry of `values`; keep: leave those the model has already."""
    for key, text in values.items():
        if not (keep and key.present(model)):
            key.write(model, text)


def numbers_text(values: Iterable[float]) -> str:
    """Numbers as model_info holds them: space-separated, each in its shortest form."""
    return " ".join(f"{v:g}" for v in values)


def write_model_api_type(model: ov.Model, multilabel: bool = False) -> None:
    """The keys Model API's `Model.create_model` reads to choose and configure its wrapper."""
    write_entries(model, {MODEL_TYPE: "Classification", MULTILABEL: str(multilabel)})


@dataclass(frozen=True)
class PatchInfo:
    """How the saliency output of a patched model was built: each field is the key of its entry, but `tail` and
    `picked`, which `path` joins, and `family_fields`."""

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
    tail: TailKind  # one of the explaining family's kinds
    picked: bool  # the cloned tail computes only the top-k classes' logits
    top_k: int  # 0: maps for every class
    upsampled: bool
    kernel: Kernel | None = None  # what each copy keeps (None: patched before CNNs recorded it, onehot)
    # A quantized scores output (uint8 TFLite, QDQ ONNX): score = (value - zero_point) * scale.
    scores_scale: float = 1.0
    scores_zero_point: float = 0.0
    # Our entries this schema does not name: the method family's own (`Family.record`), which the family names and
    # parses, so that a new family adds fields without a change here.
    family_fields: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if clash := set(self.family_fields) & _NAMED:
            raise ValueError(f"a family's rt_info fields {sorted(clash)} would overwrite the shared ones")

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
        for name in _FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, Enum):
                value = value.value
            texts[name] = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        return texts | {PATH.name: self.path} | dict(self.family_fields)

    def write(self, model: ov.Model) -> None:
        write_entries(model, {Key(OURS, name): text for name, text in self._texts().items()})

    @classmethod
    def read(cls, model: ov.Model) -> PatchInfo | None:
        """The record of a model patched by this package, or None."""
        ours = _ours(model)
        if "version" not in ours or DETECTOR.name in ours:
            return None
        # The fields read from `ours` are in every record this read has ever accepted; those read from `text` (None
        # when absent) are missing from models patched before they were recorded.
        text = {name: ours.get(name) for name in _FIELDS}
        path = ours.get(PATH.name) or _UNRECORDED_TAIL
        channels, height, width = (int(v) for v in ours["feature_shape"].split(","))
        return cls(
            version=ours["version"],
            target=ours["target"],
            layout=Layout(ours["layout"]),
            feature_shape=(channels, height, width),
            classes=int(ours["classes"]),
            output_index=int(ours["output_index"]),
            score_kind=_score_kind(text["score_kind"], ours.get(PROBABILITIES.name)),
            score=Score(ours["score"]),
            normalize=text["normalize"] == "True",
            dtype=ours["dtype"],
            tail=TailKind.of(path.removesuffix(_PICKED)),
            picked=path.endswith(_PICKED),
            top_k=int(text["top_k"] or 0),
            upsampled=text["upsampled"] == "True",
            kernel=Kernel(text["kernel"]) if text["kernel"] else None,
            scores_scale=float(text["scores_scale"] or 1.0),
            scores_zero_point=float(text["scores_zero_point"] or 0.0),
            family_fields={name: value for name, value in ours.items() if name not in _NAMED},
        )


def _text(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _ours(model: ov.Model) -> dict[str, str]:
    entries = model.get_rt_info([OURS]).value if model.has_rt_info([OURS]) else {}
    return {name: str(text) for name, text in entries.items()}


@dataclass(frozen=True)
class DetectionInfo:
    """How a detector's `detections` and per-detection `saliency_map` were built; each field is its entry's key.

    A record of its own beside PatchInfo, whose fields (one target, one scores output, `classes` maps per image)
    speak of classifiers; `detector` marks it, and PatchInfo.read answers None for it.
    """

    version: str
    detector: DetectorKind
    cut: tuple[str, ...]  # the cut tensors' names, finest first (JSON in rt_info: a name may hold a comma)
    copy_grid: tuple[int, int]
    detections: int  # K
    score_threshold: float
    iou_threshold: float
    classes: int  # foreground classes: the class column of `detections` counts from 0
    levels: str  # the anchors' levels, rows x columns x anchors per cell, in the outputs' order

    def write(self, model: ov.Model) -> None:
        texts = {f.name: _text(getattr(self, f.name)) for f in fields(self)} | {"cut": json.dumps(list(self.cut))}
        write_entries(model, {Key(OURS, name): text for name, text in texts.items()})

    @classmethod
    def read(cls, model: ov.Model) -> DetectionInfo | None:
        """The record of a detector patched by this package, or None."""
        ours = _ours(model)
        if DETECTOR.name not in ours:
            return None
        rows, columns = (int(v) for v in ours["copy_grid"].split(","))
        return cls(
            version=ours["version"],
            detector=DetectorKind(ours["detector"]),
            cut=tuple(json.loads(ours["cut"])),
            copy_grid=(rows, columns),
            detections=int(ours["detections"]),
            score_threshold=float(ours["score_threshold"]),
            iou_threshold=float(ours["iou_threshold"]),
            classes=int(ours["classes"]),
            levels=ours["levels"],
        )


# The fields written under their own names (`tail` and `picked` go into `path`).
_FIELDS = tuple(f.name for f in fields(PatchInfo) if f.name not in ("tail", "picked", "family_fields"))
_NAMED = frozenset(_FIELDS) | {
    k.name for k in (EXACT_LABELS, EMBEDDED_PREPROCESSING, RAW_PIXELS, PATH, PROBABILITIES, DETECTOR)
}


def _score_kind(text: str | None, probabilities: str | None) -> ScoreKind:
    """The recorded kind; models patched before kinds were recorded say only whether they end in a softmax."""
    if text:
        return ScoreKind(text)
    return ScoreKind.PROBABILITIES if probabilities == "True" else ScoreKind.LOGITS
