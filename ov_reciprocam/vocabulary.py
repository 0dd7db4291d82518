"""The words every layer shares: enums for kinds, and the options of `patch`."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    import openvino as ov

E = TypeVar("E", bound=Enum)
D = TypeVar("D")  # a dim: an int, or OpenVINO's Dimension


class _Word(str, Enum):
    """An enum whose members read as their values wherever text is made (f-strings, rt_info, JSON)."""

    _value_: str

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


def parse(kind: type[E], value: object, name: str, hidden: tuple[Enum, ...] = ()) -> E:
    """`value` as a member of `kind`, or an error that names the option `name` and its choices (but `hidden`)."""
    from .errors import ReciproCamError

    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(str(k.value) for k in kind if k not in hidden)
        raise ReciproCamError(f"`{name}` must be one of {choices}, got '{value}'") from None


def list_items(text: str) -> list[str]:
    """'1,2,3', '1 2 3' or '[1,2,3]' (as OpenVINO's tools write lists) as ['1', '2', '3']."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return text.replace(",", " ").split()


def normalization(name: str, values: object, rt_info: bool = False) -> tuple[float, ...] | None:
    """A recipe's `mean` or `scale` as 1 or 3 floats, from a number, numbers, or text ('127.5', '1,2,3', '1 2 3',
    '[1,2,3]').

    Any other count cannot be spread over the channels; NaN, infinity or a zero scale turn every input into NaN
    or inf, and the model still answers: each is refused, naming the option (or the model's rt_info, which the
    option overrides).
    """
    from .errors import ReciproCamError

    if values is None:
        return None
    items = list_items(values) if isinstance(values, str) else values
    if not isinstance(items, (list, tuple, np.ndarray)):
        items = (items,)
    try:
        floats = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        floats = ()
    if len(floats) not in (1, 3):
        problem = "must be 1 number (every channel) or 3 (one per channel)"
    elif not all(math.isfinite(v) for v in floats):
        problem = "must be finite"
    elif name == "scale" and 0.0 in floats:
        problem = "must not be 0 (pixels are divided by it)"
    else:
        return floats
    text = values if isinstance(values, str) else " ".join(str(v) for v in np.ravel(np.asarray(items, object)))
    if rt_info:
        raise ReciproCamError(
            f"the model's rt_info says {name}_values '{text}', but the {name} {problem}: give `{name}` to override it"
        )
    raise ReciproCamError(f"`{name}` {problem}, got '{text}'")


def at_least_one(name: str, value: object) -> int:
    """A count option (`top_k`, `batch_size`) as the CLI takes it: a whole number, 1 or more."""
    from .errors import ReciproCamError

    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ReciproCamError(f"`{name}` must be a whole number, 1 or more; got {value!r}")
    return int(value)


def pixel_value(name: str, value: object) -> int:
    """A pixel option (`pad_value`): a whole number in [0, 255], as the pixels of an 8-bit photo are."""
    from .errors import ReciproCamError

    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= int(value) <= 255:
        raise ReciproCamError(f"`{name}` must be a whole number in [0, 255] (a pixel's value); got {value!r}")
    return int(value)


def zero_to_one(name: str, value: object) -> float:
    """A fraction option (`alpha`, `threshold`) as the CLI takes it: a number in [0, 1] (NaN is not)."""
    from .errors import ReciproCamError

    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ReciproCamError(f"`{name}` must be a number in [0, 1], got {value!r}")
    return float(value)


class Layout(_Word):
    """How a tensor holds an image batch: channels first or last, or a transformer's tokens [B, P + h*w, D].

    A str enum: it compares equal to "NCHW" and friends, which rt_info and flags spell out.
    """

    NCHW = "NCHW"
    NHWC = "NHWC"
    # The transformer family's, yet shared: code outside the family reads a target's layout (rt_info's `layout`,
    # `inspect`, the Score-CAM baseline, which turns tokens into maps) and `target_layout` hides it from its choices.
    TOKENS = "tokens"

    def spatial(self, shape: Sequence[D]) -> tuple[D, D]:
        """(height, width) of a 4-D image shape (dims, a PartialShape, ...) in this layout."""
        return (shape[1], shape[2]) if self is Layout.NHWC else (shape[2], shape[3])

    def channels(self, shape: Sequence[D]) -> D:
        """The channel dim of a 4-D image shape in this layout."""
        return shape[3] if self is Layout.NHWC else shape[1]

    @classmethod
    def of_image(cls, shape: ov.PartialShape) -> Layout:
        """The layout of a 4-D image input (a PartialShape): NHWC when the last dim has 1, 3 or 4 channels and
        dim 1 does not."""
        last, second = shape[3], shape[1]
        if (
            last.is_static
            and last.get_length() in (1, 3, 4)
            and not (second.is_static and second.get_length() in (1, 3, 4))
        ):
            return cls.NHWC
        return cls.NCHW


@dataclass(frozen=True)
class Affine:
    """real = (stored - zero_point) * scale: the float value an integer (or quantized-grid) value stands for."""

    scale: float = 1.0
    zero_point: float = 0.0

    @property
    def identity(self) -> bool:
        return self.scale == 1.0 and self.zero_point == 0.0

    def __str__(self) -> str:
        return f"(q - {self.zero_point:g}) * {self.scale:g}"

    def real(self, stored: np.ndarray) -> np.ndarray:
        """Stored values -> the floats they stand for (float64, so that 255 * scale is exact enough)."""
        if self.identity:
            return np.asarray(stored, np.float64)
        return (np.asarray(stored, np.float64) - self.zero_point) * self.scale

    def then(self, inner: Affine) -> Affine:
        """`inner` applied to what `self` gives: the composed map from stored values to `inner`'s reals."""
        # inner((s - z1) * s1) = ((s - z1) * s1 - z2) * s2 = (s - (z1 + z2 / s1)) * s1 * s2
        return Affine(self.scale * inner.scale, self.zero_point + inner.zero_point / self.scale)


class ScoreKind(Enum):
    """What the model's class-score output holds, as its graph says."""

    LOGITS = "logits"
    PROBABILITIES = "probabilities"  # a softmax (maybe sliced, gathered or scaled after)
    LOG_PROBABILITIES = "log_probabilities"
    SIGMOIDS = "sigmoids"  # independent per-label probabilities: a multi-label model
    # One unit: a binary classifier, explained as two classes (negative = 1 - p, positive = p).
    BINARY_SIGMOID = "binary (sigmoid)"  # the unit's probability
    BINARY_LOGIT = "binary (logit)"  # the unit's logit, from a linear head

    @property
    def multilabel(self) -> bool:
        return self is ScoreKind.SIGMOIDS

    @property
    def binary(self) -> bool:
        return self in (ScoreKind.BINARY_SIGMOID, ScoreKind.BINARY_LOGIT)


class Score(Enum):
    """What scores each masked copy."""

    AUTO = "auto"  # softmax for single-label models, sigmoid for multi-label ones
    SOFTMAX = "softmax"  # the paper's choice
    LOGITS = "logits"  # openvino_xai's
    SIGMOID = "sigmoid"  # per label

    def resolve(self, kind: ScoreKind) -> Score:
        """AUTO made concrete for a model whose scores are of `kind`."""
        if kind.binary and self is not Score.LOGITS:  # a softmax over (0, z) is the sigmoid of z
            return Score.SIGMOID
        if self is not Score.AUTO:
            return self
        return Score.SIGMOID if kind.multilabel else Score.SOFTMAX


class TailKind(_Word):
    """How the masked copies are scored; the value is what rt_info (`path`) and reports show.

    Each method family subclasses it with its own kinds (an enum without members may be subclassed): the
    layers that carry a kind (scores, rt_info, reports) never ask which it is.
    """

    @classmethod
    def of(cls, value: str) -> TailKind:
        """The kind of whichever family has `value`: the families' modules, which define them, are imported with
        the package."""
        found = next((kind for kinds in cls.__subclasses__() for kind in kinds if kind.value == value), None)
        if found is None:
            raise ValueError(f"no method family scores its copies as '{value}'")
        return found


class Kernel(_Word):
    """What masked copy n keeps of the feature map (or of the patch tokens)."""

    GAUSSIAN = "gaussian"  # the 3x3 neighbourhood of n, weighted [[1, 2, 1], [2, 4, 2], [1, 2, 1]] / 16
    ONEHOT = "onehot"  # n alone
    WINDOW = "window"  # the 3x3 neighbourhood of n, every cell whole


class Protocol(_Word):
    """How `eval` perturbs photos and averages its metrics (docs/quality.md gives each choice's source)."""

    # The Recipro-CAM authors' script: maps multiply the normalized input (a removed pixel becomes the mean
    # colour), upsampled bicubic as PIL does it, coherency and complexity on the maps as made, ADCC of the means.
    PAPER = "paper"
    # Maps multiply 0-255 pixels (a removed pixel becomes black), upsampled bilinear and clipped to [0, 1],
    # coherency and complexity on the input grid, ADCC per photo then averaged.
    PIXELS = "pixels"


class Refinement(_Word):
    """What `eval` does to each method's map before scoring it."""

    NONE = "none"  # the map as the method made it (the protocol upsamples it)
    # Upsampled as the protocol says, then the guided filter by the photo (`quality.guided`): the method's map
    # is then on the input grid, where Coherency and Complexity are taken too.
    GUIDED = "guided"


class Resize(_Word):
    """How a photo becomes the input's size."""

    STRETCH = "stretch"
    FIT = "fit"  # keep the aspect, pad right and bottom (Model API's fit_to_window)
    LETTERBOX = "letterbox"  # keep the aspect, pad both sides
    CROP = "crop"  # keep the aspect, cut what sticks out


class Interpolation(_Word):
    """The filter that resizes a photo to the input (OpenCV's)."""

    LINEAR = "linear"
    CUBIC = "cubic"
    AREA = "area"
    NEAREST = "nearest"


class EvalMethod(_Word):
    """A saliency method `eval` scores (`methods`)."""

    RECIPROCAM = "reciprocam"  # Recipro-CAM as the paper makes it: one-hot copies scored by softmax
    RECIPROCAM_LOGITS = "reciprocam-logits"  # the copies scored by their logits, as openvino_xai does
    RECIPROCAM_GAUSSIAN = "reciprocam-gaussian"  # Kernel.GAUSSIAN copies
    RECIPROCAM_WINDOW = "reciprocam-window"  # Kernel.WINDOW copies
    SCORECAM = "scorecam"  # the black-box baselines of `quality.baselines`
    RISE = "rise"
    DRISE = "drise"  # detectors only: D-RISE, the black-box baseline of `quality.drise`


class DeletionBaseline(_Word):
    """What `eval`'s deletion puts in place of the pixels it removes (`baseline`)."""

    ZERO = "zero"  # the protocol's removed pixel: zero of the normalized input (paper) or black (pixels)
    BLUR = "blur"  # the photo blurred, as insertion starts from


class QuantizePreset(_Word):
    """NNCF's QuantizationPreset, by the name `quantize` takes (`preset`)."""

    PERFORMANCE = "performance"  # symmetric activation ranges
    MIXED = "mixed"  # asymmetric activation ranges


class TargetDevice(_Word):
    """NNCF's TargetDevice: the device an INT8 model is tuned for (`target_device`; ANY: every device)."""

    CPU = "CPU"
    GPU = "GPU"
    NPU = "NPU"
    ANY = "ANY"


@dataclass(frozen=True)
class Recipe:
    """How photos become model inputs, as a user gives it; None: as the model's rt_info (or metadata) says.

    x = (resized pixel in the model's channel order - mean) / scale. raw_pixels: 0-255 BGR pixels as
    they are (for an integer input, straight into the port). mean and scale: 1 or 3 numbers, or text such as
    '123.7,116.3,103.5' (as the flags take them); held as a tuple of floats. pad_value: the pixel value (0-255)
    that fills the border `resize` fit or letterbox leaves (YOLOX's 114; Model API's `pad_value`).
    """

    mean: tuple[float, ...] | None = None
    scale: tuple[float, ...] | None = None
    rgb: bool | None = None
    raw_pixels: bool = False
    resize: Resize | None = None
    interpolation: Interpolation | None = None
    layout: Layout | None = None
    pad_value: int | None = None

    def __post_init__(self) -> None:
        for name in ("mean", "scale"):  # frozen: the checked tuple replaces what was given
            object.__setattr__(self, name, normalization(name, getattr(self, name)))
        if self.pad_value is not None:
            object.__setattr__(self, "pad_value", pixel_value("pad_value", self.pad_value))
        if self.resize is not None:
            object.__setattr__(self, "resize", parse(Resize, self.resize, "resize"))
        if self.interpolation is not None:
            object.__setattr__(self, "interpolation", parse(Interpolation, self.interpolation, "interpolation"))

    @property
    def given(self) -> bool:
        return self.raw_pixels or any(v is not None for v in self.overrides().values())

    def overrides(self) -> dict[str, object]:
        """The given fields that change a Preprocess (raw_pixels aside)."""
        fields_ = ("mean", "scale", "rgb", "resize", "interpolation", "layout", "pad_value")
        return {k: getattr(self, k) for k in fields_ if getattr(self, k) is not None}


@dataclass(frozen=True)
class PatchOptions:
    """Everything `patch` can be told; each field is also a keyword of `ov_reciprocam.patch`.

    target: tensor name, friendly name or path (TYPE#N) of the feature map; None finds the last conv block.
    score: what scores the masked copies (AUTO: softmax, or sigmoid for multi-label models).
    scores_output: the output holding the class scores, where structure leaves a choice.
    target_layout: the target's layout, where no op around it says.
    normalize: min-max scale each map to [0, 1] per image and class; uint8: maps as u8 in [0, 255].
    batch: reshape the input batch first (-1: dynamic); static: insist every shape is static (NPU).
    top_k: maps for each image's k best classes only (plus `saliency_classes` [B, k]).
    upsample: resize the maps to the input's size in-graph.
    fast: take the exact shortcuts (pooled, flatten + linear, transformers' closed form); False: the mosaic.
    replace: drop another tool's `saliency_map` output and add ours.
    kernel: what copy n keeps: position n alone, or its 3x3 neighbourhood (Gaussian-weighted, or whole); None:
        the family's paper's choice (CNNs: onehot, Recipro-CAM; transformers: gaussian, ViT-ReciproCAM).
    input_shape: reshape the input first (-1 for a dynamic dimension).
    recipe: how photos become inputs, recorded in rt_info (model_info) for later runs.
    labels: class names, recorded in rt_info; by default a labels.txt beside the model file.
    embed_preprocessing: build the recipe into the model: it then takes a uint8 BGR photo of any size.
    detection: what a detector's maps explain (`DetectionOptions`); classifiers ignore it.
    """

    target: str | None = None
    score: Score = Score.AUTO
    scores_output: str | None = None
    target_layout: Layout | None = None
    normalize: bool = True
    uint8: bool = False
    batch: int | None = None
    static: bool = False
    top_k: int | None = None
    upsample: bool = False
    fast: bool = True
    replace: bool = False
    kernel: Kernel | None = None
    input_shape: tuple[int, ...] | None = None
    recipe: Recipe = field(default_factory=Recipe)
    labels: tuple[str, ...] | None = None
    embed_preprocessing: bool = False
    detection: DetectionOptions = field(default_factory=lambda: DetectionOptions())

    @classmethod
    def of(cls, options: PatchOptions | None = None, **keywords: Any) -> PatchOptions:
        """`options` with `keywords` applied, names of kinds turned into their enums and checked."""
        from .errors import ReciproCamError

        base = options or cls()
        unknown = set(keywords) - {f.name for f in fields(cls)}
        if unknown:
            raise ReciproCamError(f"patch has no option {', '.join(sorted(unknown))}")
        o = replace(base, **keywords)
        kinds: dict[str, type[Enum]] = {"score": Score, "kernel": Kernel, "target_layout": Layout}
        parsed: dict[str, Any] = {
            name: parse(kind, value, name, hidden=(Layout.TOKENS,))
            for name, kind in kinds.items()
            if (value := getattr(o, name)) is not None and not isinstance(value, kind)
        }
        o = replace(o, **parsed)
        if o.uint8 and not o.normalize:
            raise ReciproCamError("uint8 maps need normalize: raw scores have no fixed range to quantize")
        if o.labels is not None:
            o = replace(o, labels=tuple(o.labels))
        return o


class DetectorKind(_Word):
    """How a detector's outputs hold its anchors (`analysis.detections` reads it from the graph's structure)."""

    OBJECTNESS = "objectness"  # one [N, A, 4 + 1 + C] output, raw grid offsets (YOLOX)
    DECODED = "decoded"  # boxes [N, A, 4] decoded to corners in [0, 1], scores [N, A, C] with a background column
    ANCHORED = "anchored"  # raw regressors [N, A, 4 + 2k] and logits [N, A, C] about SSD anchors (BlazeFace)
    # one [N, 4 + C, A] output, anchors last: centre-size boxes in input pixels, sigmoid class scores, no objectness
    # (Ultralytics' YOLOv8 / YOLO11 head)
    ANCHORS_LAST = "anchors-last"

    @property
    def thresholds(self) -> tuple[float, float]:
        """(score, IoU): what each kind's reference code uses (YOLOX's demo, Ultra-Light's, MediaPipe's, Ultralytics'
        predict defaults)."""
        return {"objectness": (0.3, 0.45), "decoded": (0.7, 0.3), "anchored": (0.5, 0.3), "anchors-last": (0.25, 0.7)}[
            self.value
        ]


@dataclass(frozen=True)
class DetectionOptions:
    """What `patch` makes of a detector: its `detections` [B, K, 6] and a map per detection [B, K, h, w].

    detections: K, the detections kept per photo (padded with score 0, class -1).
    score_threshold, iou_threshold: None takes the detector kind's (`DetectorKind.thresholds`).
    cut: tensor names (or friendly names, or the TYPE#N paths `inspect` shows for unnamed tensors), one per scale,
        where the masked copies are made; None: found from structure (where the neck starts mixing scales).
    copy_grid: (rows, columns) of the copies; None: the coarsest cut grid with 8 cells on its short side.
    anchors: for raw SSD heads, (rows, columns, anchors per cell) per level, in the outputs' order; None: read
        from the head convolutions.
    """

    detections: int = 10
    score_threshold: float | None = None
    iou_threshold: float | None = None
    cut: tuple[str, ...] | None = None
    copy_grid: tuple[int, int] | None = None
    anchors: tuple[tuple[int, int, int], ...] | None = None

    def __post_init__(self) -> None:
        from .errors import ReciproCamError

        at_least_one("detections", self.detections)
        for name in ("score_threshold", "iou_threshold"):
            if (value := getattr(self, name)) is not None:
                zero_to_one(name, value)
        if self.cut is not None:
            object.__setattr__(self, "cut", tuple(self.cut))
            if not self.cut:
                raise ReciproCamError("`cut` names no tensor: give one tensor name per scale, or none at all")
        if self.copy_grid is not None:
            grid = tuple(self.copy_grid)
            if len(grid) != 2 or not all(isinstance(v, int) and v >= 1 for v in grid):
                raise ReciproCamError(f"`copy_grid` must be two whole numbers, rows and columns; got {self.copy_grid}")
            object.__setattr__(self, "copy_grid", grid)
        if self.anchors is not None:
            levels = tuple(tuple(level) for level in self.anchors)
            if not levels or any(len(v) != 3 or not all(isinstance(n, int) and n >= 1 for n in v) for v in levels):
                raise ReciproCamError(
                    "`anchors` must list (rows, columns, anchors per cell) per level, e.g. 16x16x2,8x8x6; "
                    f"got {self.anchors}"
                )
            object.__setattr__(self, "anchors", levels)


class OverlayFormat(_Word):
    """The file format of `explain`'s overlays (`overlay_format`); docs/benchmarks.md measures each.

    Each member's value is also its files' suffix.
    """

    # Quality 95 with full-resolution colour: a quarter of PNG's time and bytes, 40 dB or more from its pixels.
    JPG = "jpg"
    PNG = "png"  # lossless, as overlays were before issue 33
    WEBP = "webp"  # lossy, quality 95: the smallest files, but slower to write than PNG
