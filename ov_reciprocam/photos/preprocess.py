"""Preprocessing recipes: how a photo becomes a model input, and how a map goes back onto the photo.

A recipe comes from the model's rt_info `model_info` (the Open Model Zoo / OTX / Model API
convention), from flags, or is embedded in the model with OpenVINO's PrePostProcessor.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
import openvino as ov
from openvino.preprocess import ColorFormat, PrePostProcessor, ResizeAlgorithm

from ..analysis.inputs import input_layout
from ..analysis.quantization import InputQuantization, input_quantization
from ..errors import ReciproCamError
from ..model.labels import write_labels
from ..model.rt_info import (
    EMBEDDED_PREPROCESSING,
    INTERPOLATION,
    INTERPOLATION_MODE,
    MEAN_VALUES,
    PAD_VALUE,
    RAW_PIXELS,
    RECIPE_KEYS,
    RESIZE_TYPE,
    REVERSE_INPUT_CHANNELS,
    SCALE_VALUES,
    numbers_text,
    write_entries,
)
from ..vocabulary import Affine, Interpolation, Layout, Recipe, Resize, normalization, parse, pixel_value
from . import imaging

# fit keeps the aspect and pads right and bottom; letterbox pads both sides equally (centred).
RESIZE_MODES = tuple(r.value for r in Resize)
# Model API spellings of the same modes, as found in rt_info model_info/resize_type.
_MODEL_API_NAMES = {
    Resize.STRETCH: "standard",
    Resize.FIT: "fit_to_window",
    Resize.LETTERBOX: "fit_to_window_letterbox",
    Resize.CROP: "crop",
}
_RESIZE_NAMES = {v: k for k, v in _MODEL_API_NAMES.items()}
_CV2_FILTERS = {
    Interpolation.LINEAR: cv2.INTER_LINEAR,
    Interpolation.CUBIC: cv2.INTER_CUBIC,
    Interpolation.AREA: cv2.INTER_AREA,
    Interpolation.NEAREST: cv2.INTER_NEAREST,
}
# Model API's interpolation_mode knows these, upper-cased
_MODEL_API_INTERPOLATIONS = (Interpolation.LINEAR, Interpolation.CUBIC, Interpolation.NEAREST)
_PPP_RESIZE = {Interpolation.LINEAR: ResizeAlgorithm.RESIZE_LINEAR, Interpolation.CUBIC: ResizeAlgorithm.RESIZE_CUBIC}
_NORMALIZATION_KEYS = {"mean": MEAN_VALUES, "scale": SCALE_VALUES}


@dataclass(frozen=True)
class Preprocess:
    """x = (resized pixel in the model's channel order - mean) / scale, in the model's layout."""

    width: int
    height: int
    layout: Layout = Layout.NCHW  # of the model input
    mean: tuple[float, ...] = (0.0,)
    scale: tuple[float, ...] = (1.0,)
    rgb: bool = False  # the model wants RGB; photos are read as BGR
    resize: Resize = Resize.STRETCH
    interpolation: Interpolation = Interpolation.LINEAR
    embedded: bool = False  # the model takes the raw uint8 BGR photo and preprocesses in-graph
    channels: int = 3  # of the model input: 1 grey, 3 BGR or RGB, 4 BGRA or RGBA
    # An integer input (uint8/int8 TFLite, QDQ ONNX): x above is the float the model's dequantize step
    # stands for, and is quantized with the input's own scale and zero point.
    quantize: InputQuantization | None = None
    # The pixel fit and letterbox pad with. YOLOX pads with 114: with 0 instead, its detections on the sample
    # photos scored up to 0.044 apart, boxes moved by up to 6.6 input pixels, one anchor changed (docs/detection.md).
    pad_value: int = 0

    def __post_init__(self) -> None:
        for name in ("mean", "scale"):  # built directly, or replaced: checked each time, as Recipe checks
            object.__setattr__(self, name, normalization(name, getattr(self, name)))
        object.__setattr__(self, "resize", parse(Resize, self.resize, "resize"))
        object.__setattr__(self, "interpolation", parse(Interpolation, self.interpolation, "interpolation"))
        object.__setattr__(self, "pad_value", pixel_value("pad_value", self.pad_value))

    @classmethod
    def from_model(cls, model: ov.Model, **overrides: Any) -> Preprocess:
        """The recipe from the model's input shape and rt_info; non-None `overrides` win."""
        if EMBEDDED_PREPROCESSING.present(model):
            return cls(width=0, height=0, layout=Layout.NHWC, embedded=True)
        shape = model.get_parameters()[0].get_partial_shape()
        if shape.rank.is_dynamic or shape.rank.get_length() != 4:
            raise ReciproCamError(f"the model input has shape {shape}; expected a 4-D image batch")
        layout = Layout(overrides.pop("layout", None) or input_layout(shape))
        h, w = layout.spatial(shape)
        if h.is_dynamic or w.is_dynamic:
            raise ReciproCamError(
                f"the model input {shape} has a dynamic height or width: photos need one size; "
                "give it one with `input_shape` (for example 1,3,224,224)"
            )
        reverse = REVERSE_INPUT_CHANNELS.read(model)
        # rt_info's values are checked only where no option overrides them, so that the option can mend them.
        found = {
            name: None if overrides.get(name) is not None else normalization(name, key.read(model), True)
            for name, key in _NORMALIZATION_KEYS.items()
        } | {
            "rgb": None if reverse is None else reverse.strip().lower() in ("true", "yes", "1"),
            "resize": _RESIZE_NAMES.get(str(RESIZE_TYPE.read(model)).lower()),
            "interpolation": _interpolation(model),
            "pad_value": None if overrides.get("pad_value") is not None else _pad_value(model),
        }
        c = layout.channels(shape)
        channels = c.get_length() if c.is_static and c.get_length() in (1, 3, 4) else 3
        recipe = cls(
            width=w.get_length(),
            height=h.get_length(),
            layout=layout,
            channels=channels,
            quantize=_quantization(model),
        )
        return recipe.with_overrides(**found).with_overrides(**overrides)

    @staticmethod
    def has_recipe(model: ov.Model) -> bool:
        """Does rt_info say how photos become inputs (or is that built into the model)?"""
        return EMBEDDED_PREPROCESSING.present(model) or any(key.present(model) for key in RECIPE_KEYS)

    def with_overrides(self, **changes: Any) -> Preprocess:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def describe(self) -> str:
        if self.embedded:
            return "embedded in the model (takes a uint8 BGR photo of any size)"
        mean = " ".join(f"{v:g}" for v in self.mean)
        scale = " ".join(f"{v:g}" for v in self.scale)
        padded = f" padded with {self.pad_value}" if self.resize in (Resize.FIT, Resize.LETTERBOX) else ""
        channels = "RGB" if self.rgb else "BGR"
        geometry = f"{self.resize} to {self.width}x{self.height}{padded} ({self.interpolation}), {channels}"
        q = self.quantize
        if q is not None and self.takes_pixels:
            low, high = q.real_range()
            return f"{geometry}, {q.dtype} pixels as they are (read by the model as [{low:g}, {high:g}]), {self.layout}"
        if q is None:
            return f"{geometry}, (x - [{mean}]) / [{scale}], {self.layout}"
        d = q.dequantize
        return (
            f"{geometry}, (x - [{mean}]) / [{scale}], quantized to {q.dtype} "
            f"(scale {d.scale:g}, zero point {d.zero_point:g}), {self.layout}"
        )

    @functools.cached_property  # asked for each photo
    def takes_pixels(self) -> bool:
        """An integer input that the recipe would fill with the pixels themselves, give or take one step over
        0..255: the model's dequantize is its recipe (TFLite's uint8 image models), so pixels go in as they are."""
        if self.quantize is None or self.quantize.bounds != (0, 255):
            return False
        d = self.quantize.dequantize
        # stored = ((p - mean) / scale) / d.scale + d.zero_point, at p = 0 and p = 255.
        ends = [(np.array([0.0, 255.0]) - m) / s / d.scale + d.zero_point for m, s in self._per_channel()]
        return all(abs(e[0]) <= 1.0 and abs(e[1] - 255.0) <= 1.0 for e in ends)

    def _per_channel(self) -> list[tuple[float, float]]:
        n = max(len(self.mean), len(self.scale))
        return [(self.mean[i % len(self.mean)], self.scale[i % len(self.scale)]) for i in range(n)]

    def check_range(self) -> None:
        """Refuse a recipe whose values miss what a quantized input stands for: they would all be clipped."""
        q = self.quantize
        if q is None or self.takes_pixels or q.dequantize.identity:  # pixels as they are, as asked
            return
        low, high = q.real_range()
        for m, s in self._per_channel():
            a, b = sorted(((0.0 - m) / s, (255.0 - m) / s))
            overlap = min(b, high) - max(a, low)
            if overlap < 0.5 * min(b - a, high - low):
                raise ReciproCamError(
                    f"the recipe maps pixels to [{a:g}, {b:g}], but the model's {q.dtype} input stands for "
                    f"[{low:g}, {high:g}]: give the `mean`/`scale` the model was trained "
                    "with, or `raw_pixels` to feed the pixels as they are"
                )

    def normalized(self, bgr: np.ndarray) -> np.ndarray:
        """One BGR photo -> the float values the model computes on (before any quantize step), no batch axis."""
        return self._laid_out(self._values(self._pixels(bgr)))

    def _values(self, pixels: np.ndarray) -> np.ndarray:
        q = self.quantize
        if q is not None and self.takes_pixels:  # the floats the model's own dequantize step makes of the pixels
            return q.dequantize.real(pixels).astype(np.float32)
        return (pixels.astype(np.float32) - np.asarray(self.mean, np.float32)) / np.asarray(self.scale, np.float32)

    def _pixels(self, bgr: np.ndarray) -> np.ndarray:
        """One BGR photo resized as the recipe says, [H, W, C] in the model's channel order."""
        pixels = self._geometry(imaging.as_channels(bgr, self.channels))
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        return _to_rgb(pixels) if self.rgb and self.channels > 1 else pixels

    def _laid_out(self, x: np.ndarray) -> np.ndarray:
        """[H, W, C] in the model's layout, C-contiguous: a batch stacked from transposed views keeps their memory
        order, and the copy into the request, on the thread that starts it, would then gather every value."""
        return x if self.layout == Layout.NHWC else np.ascontiguousarray(x.transpose(2, 0, 1))

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Normalized values -> what the input port takes: themselves, or an integer input's quantized values."""
        return x if self.quantize is None else self.quantize.quantize(x)

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        """One BGR photo -> one model input without the batch axis."""
        if self.embedded:
            return imaging.as_channels(bgr, 3)
        pixels = self._pixels(bgr)
        if self.takes_pixels and pixels.dtype == np.uint8:  # quantizing what the model's dequantize makes of them
            return self._laid_out(pixels)  # gives them back, exactly: skip the round trip through floats
        return self.encode(self._laid_out(self._values(pixels)))

    def _fitted_size(self, w: int, h: int) -> tuple[int, int]:
        """The photo's size after the aspect-keeping resize of `fit` (inside) or `crop` (covering)."""
        s = (max if self.resize is Resize.CROP else min)(self.width / w, self.height / h)
        return max(1, round(w * s)), max(1, round(h * s))

    def _offset(self, nw: int, nh: int) -> tuple[int, int]:
        """Where the resized photo's corner sits on the input (fit, letterbox) or the input on it (crop)."""
        if self.resize is Resize.FIT:  # Model API's fit_to_window: the photo at the top-left corner
            return 0, 0
        return abs(nw - self.width) // 2, abs(nh - self.height) // 2

    def _geometry(self, image: np.ndarray) -> np.ndarray:
        flag = _CV2_FILTERS[self.interpolation]
        if self.resize is Resize.STRETCH:
            return cv2.resize(image, (self.width, self.height), interpolation=flag)
        nw, nh = self._fitted_size(image.shape[1], image.shape[0])
        if self.resize is Resize.FIT:  # by scale factors, as Model API's fit_to_window does: they sample differently
            s = min(self.width / image.shape[1], self.height / image.shape[0])
            resized = cv2.resize(image, None, fx=s, fy=s, interpolation=flag)
        else:
            resized = cv2.resize(image, (nw, nh), interpolation=flag)
        x0, y0 = self._offset(nw, nh)
        if self.resize is Resize.CROP:
            return resized[y0 : y0 + self.height, x0 : x0 + self.width]
        canvas = np.full((self.height, self.width, *image.shape[2:]), self.pad_value, image.dtype)
        canvas[y0 : y0 + nh, x0 : x0 + nw] = resized
        return canvas

    def to_image(self, maps: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """Upsample [..., h, w] maps of the model input onto a (W, H) photo: [..., H, W].

        Bilinear, as in the paper. Photo pixels the model never saw (cropped away) get 0.
        """
        w, h = image_size
        flat = np.asarray(maps, np.float32).reshape(-1, *maps.shape[-2:])
        if self.embedded or self.resize is Resize.STRETCH:
            out = resize_maps(flat, w, h)
        else:
            nw, nh = self._fitted_size(w, h)
            x0, y0 = self._offset(nw, nh)
            on_input = resize_maps(flat, self.width, self.height)
            if self.resize is not Resize.CROP:
                out = resize_maps(on_input[:, y0 : y0 + nh, x0 : x0 + nw], w, h)
            else:
                resized = np.zeros((len(flat), nh, nw), np.float32)
                resized[:, y0 : y0 + self.height, x0 : x0 + self.width] = on_input
                out = resize_maps(resized, w, h)
        return out.reshape((*maps.shape[:-2], h, w))

    def boxes_to_image(self, boxes: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """[..., 4] boxes x1, y1, x2, y2 in the model input's pixels -> the same boxes in a (W, H) photo's pixels,
        the resize undone as `to_image` undoes it for maps (not clipped: a box may reach past the photo)."""
        w, h = image_size
        if self.embedded:
            raise ReciproCamError("boxes cannot be mapped back through embedded preprocessing: its input size varies")
        if self.resize is Resize.STRETCH:
            x0 = y0 = 0
            sx, sy = w / self.width, h / self.height
        else:
            nw, nh = self._fitted_size(w, h)
            x0, y0 = self._offset(nw, nh)
            if self.resize is Resize.CROP:  # the input sits inside the resized photo, not the other way round
                x0, y0 = -x0, -y0
            sx, sy = w / nw, h / nh
        shift, factor = np.array([x0, y0, x0, y0], np.float64), np.array([sx, sy, sx, sy], np.float64)
        return (np.asarray(boxes, np.float64) - shift) * factor

    def write_rt_info(self, model: ov.Model, labels: list[str] | None = None) -> None:
        """Record the recipe (and labels) in rt_info model_info, so later runs need no flags."""
        info = {
            MEAN_VALUES: numbers_text(self.mean),
            SCALE_VALUES: numbers_text(self.scale),
            REVERSE_INPUT_CHANNELS: str(self.rgb),
            RESIZE_TYPE: _MODEL_API_NAMES[self.resize],
            INTERPOLATION: self.interpolation.value,
        }
        if self.interpolation in _MODEL_API_INTERPOLATIONS:
            info[INTERPOLATION_MODE] = self.interpolation.value.upper()
        if self.pad_value:
            info[PAD_VALUE] = str(self.pad_value)
        write_entries(model, info)
        if self.quantize is not None and self.quantize.dequantize.identity:
            RAW_PIXELS.write(model, "True")
        if labels:
            write_labels(model, labels)

    def embed(self, model: ov.Model) -> ov.Model:
        """Build the recipe into `model`: it then takes a uint8 BGR [1, H, W, 3] photo of any size."""
        if self.resize is not Resize.STRETCH or self.interpolation not in _PPP_RESIZE:
            raise ReciproCamError(
                "`embed_preprocessing` supports `resize` stretch with linear or cubic `interpolation`"
            )
        if self.quantize is not None:
            raise ReciproCamError(f"embedded preprocessing needs a float input; this model takes {self.quantize.dtype}")
        ppp = PrePostProcessor(model)
        tensor = ppp.input().tensor()
        tensor.set_element_type(ov.Type.u8).set_layout(ov.Layout(Layout.NHWC.value)).set_color_format(ColorFormat.BGR)
        tensor.set_spatial_dynamic_shape()
        steps = ppp.input().preprocess().convert_element_type(ov.Type.f32)
        if self.rgb:
            steps.convert_color(ColorFormat.RGB)
        steps.resize(_PPP_RESIZE[self.interpolation])
        steps.mean(list(self.mean) if len(self.mean) == 3 else self.mean[0])
        steps.scale(list(self.scale) if len(self.scale) == 3 else self.scale[0])
        ppp.input().model().set_layout(ov.Layout(self.layout))
        embedded = ppp.build()
        EMBEDDED_PREPROCESSING.write(embedded, self.describe())
        return embedded


def recipe_for(model: ov.Model, given: Recipe | None = None, *, strict: bool = True) -> Preprocess:
    """The recipe for photos: what `given` says, else the model's rt_info (or the metadata it was read with).

    strict: refuse to guess. Without model_info and without a mean, scale, RGB swap or `raw_pixels`,
    photos would reach the model as 0-255 BGR pixels, which most models do not expect: predictions
    and maps would be quietly wrong.
    """
    given = given or Recipe()
    overrides = given.overrides()
    values = [overrides.get(k) for k in ("mean", "scale", "rgb")]
    if given.raw_pixels:
        if any(v is not None for v in values):
            raise ReciproCamError("`raw_pixels` means no mean, scale or RGB swap; drop it or drop `mean`/`scale`/`rgb`")
        overrides |= {"mean": (0.0,), "scale": (1.0,), "rgb": False}
        if (q := input_quantization(model)) is not None:
            overrides["quantize"] = _as_they_are(q)
    elif strict and all(v is None for v in values) and not Preprocess.has_recipe(model):
        raise ReciproCamError(
            "the model has no preprocessing recipe (rt_info model_info): give `mean`/`scale`/`rgb`, "
            "or `raw_pixels` if it really takes 0-255 BGR pixels (in Python: preprocess=Preprocess(...) or Recipe(...))"
        )
    recipe = Preprocess.from_model(model, **overrides)
    recipe.check_range()
    return recipe


def _to_rgb(pixels: np.ndarray) -> np.ndarray:
    """BGR(A) pixels as RGB(A), contiguous: indexing the channels ([2, 1, 0]) would leave them planar in memory, and
    each later step, the batch's copy into the request too, would stride through them (1.4 ms a batch of 8 at 224 px
    on one thread, where this takes 4 us a photo)."""
    if pixels.dtype == np.float64:  # cvtColor takes 8-bit, 16-bit or float32; the inputs are float32 anyway
        pixels = pixels.astype(np.float32)
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB if pixels.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)


def _quantization(model: ov.Model) -> InputQuantization | None:
    """How photos reach the model's integer input, if it has one: quantized, or as they are (rt_info says)."""
    q = input_quantization(model)
    return _as_they_are(q) if q is not None and RAW_PIXELS.present(model) else q


def _as_they_are(q: InputQuantization) -> InputQuantization:
    """Pixels straight into the integer port (clipped to its type's range)."""
    return InputQuantization(Affine(), q.dtype)


def _interpolation(model: ov.Model) -> Interpolation | None:
    """Ours (model_info/interpolation), else Model API's interpolation_mode."""
    known = {i.value: i for i in Interpolation}
    for key in (INTERPOLATION, INTERPOLATION_MODE):
        if (name := str(key.read(model)).lower()) in known:
            return known[name]
    return None


def _pad_value(model: ov.Model) -> int | None:
    """Model API's pad_value, a whole number in [0, 255] (refused otherwise, naming the option that mends it)."""
    text = PAD_VALUE.read(model)
    if text is None:
        return None
    try:
        value = int(str(text).strip())
    except ValueError:
        value = -1
    if not 0 <= value <= 255:
        raise ReciproCamError(f"the model's rt_info pad_value '{text}' is no pixel value (0-255): give `pad_value`")
    return value


def resize_maps(maps: np.ndarray, w: int, h: int) -> np.ndarray:
    """Bilinear resize of [N, h, w] float32 maps to [N, H, W], each map in one contiguous piece.

    One map at a time, straight into the output: as the channels of one image, they must be transposed back and
    copied twice more, and OpenCV's many-channel path is slower (3 maps onto a 500x375 photo: 2.3 -> 0.2 ms;
    1280 maps of 7x7 to 224x224: 109 -> 46 ms).
    """
    out = np.empty((len(maps), h, w), np.float32)
    for source, target in zip(maps, out, strict=True):
        cv2.resize(source, (w, h), dst=target, interpolation=cv2.INTER_LINEAR)
    return out
