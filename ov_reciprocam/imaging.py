"""Images in and out: reading, preprocessing recipes, mapping saliency back onto the photo, overlays."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import openvino as ov

from .errors import ReciproCamError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
RESIZE_MODES = ("stretch", "fit", "crop")
# Open Model Zoo / Model API spellings of the same modes, as found in rt_info model_info.
_RESIZE_ALIASES = {
    "standard": "stretch",
    "fit_to_window": "fit",
    "fit_to_window_letterbox": "fit",
    "crop": "crop",
}
_INTERPOLATIONS = {
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "nearest": cv2.INTER_NEAREST,
}


def read_image(path: str | os.PathLike) -> np.ndarray:
    """A BGR uint8 [H, W, 3] image, or a one-line error saying why the file is not one."""
    path = Path(path)
    if not path.is_file():
        raise ReciproCamError(f"image not found: {path}")
    data = np.fromfile(path, np.uint8)  # imdecode, unlike imread, reads non-ASCII paths on every OS
    if data.size == 0:
        raise ReciproCamError(f"cannot read image {path}: the file is empty")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise ReciproCamError(f"cannot read image {path}: not an image format OpenCV decodes, or corrupt")
    return image


def _floats(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    values = tuple(float(v) for v in str(text).replace(",", " ").split())
    return values if len(values) in (1, 3) else None


def _rt(model: ov.Model, key: str) -> str | None:
    return model.get_rt_info(["model_info", key]).astype(str) if model.has_rt_info(["model_info", key]) else None


@dataclass(frozen=True)
class Preprocess:
    """How a photo becomes a model input: the recipe Open Model Zoo keeps in rt_info `model_info`.

    mean and scale apply after the channel order is set: x = (pixel - mean) / scale.
    """

    width: int
    height: int
    layout: str = "NCHW"  # of the model input
    mean: tuple[float, ...] = (0.0,)
    scale: tuple[float, ...] = (1.0,)
    rgb: bool = False  # the model wants RGB; photos are read as BGR
    resize: str = "stretch"
    interpolation: str = "linear"
    embedded: bool = False  # the model takes the raw uint8 BGR photo and preprocesses in-graph

    @classmethod
    def from_model(cls, model: ov.Model, **overrides) -> Preprocess:
        """The recipe from the model's input shape and rt_info, with non-None `overrides` on top."""
        if model.has_rt_info(["ov_reciprocam", "embedded_preprocessing"]):
            return cls(width=0, height=0, layout="NHWC", embedded=True)
        shape = model.get_parameters()[0].get_partial_shape()
        if shape.rank.is_dynamic or shape.rank.get_length() != 4:
            raise ReciproCamError(f"the model input has shape {shape}; expected a 4-D image batch")
        layout = overrides.get("layout") or _guess_layout(shape)
        h_dim, w_dim = (shape[1], shape[2]) if layout == "NHWC" else (shape[2], shape[3])
        if h_dim.is_dynamic or w_dim.is_dynamic:
            raise ReciproCamError(f"the model input {shape} has a dynamic height or width; reshape it to a fixed size")
        found = {
            "mean": _floats(_rt(model, "mean_values")),
            "scale": _floats(_rt(model, "scale_values")),
            "rgb": None
            if _rt(model, "reverse_input_channels") is None
            else _truthy(_rt(model, "reverse_input_channels")),
            "resize": _RESIZE_ALIASES.get(str(_rt(model, "resize_type")).lower()),
        }
        settings = {k: v for k, v in found.items() if v is not None}
        settings.update({k: v for k, v in overrides.items() if v is not None and k != "layout"})
        return cls(width=w_dim.get_length(), height=h_dim.get_length(), layout=layout, **settings)

    def describe(self) -> str:
        if self.embedded:
            return "embedded in the model (uint8 BGR image of any size)"
        order = "RGB" if self.rgb else "BGR"
        mean = " ".join(f"{v:g}" for v in self.mean)
        scale = " ".join(f"{v:g}" for v in self.scale)
        return (
            f"{self.resize} to {self.width}x{self.height} ({self.interpolation}), {order}, "
            f"(x - [{mean}]) / [{scale}], {self.layout}"
        )

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        """One BGR photo -> one model input (no batch axis), float32 in the model's layout."""
        if self.embedded:
            return bgr
        resized = self._geometry(bgr)
        if self.rgb:
            resized = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
        x = (resized.astype(np.float32) - np.float32(self.mean)) / np.float32(self.scale)
        return x if self.layout == "NHWC" else x.transpose(2, 0, 1)

    def _geometry(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        flag = _INTERPOLATIONS[self.interpolation]
        if self.resize == "stretch":
            return cv2.resize(image, (self.width, self.height), interpolation=flag)
        s = self._scale_factor(w, h)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        resized = cv2.resize(image, (nw, nh), interpolation=flag)
        x0, y0 = (nw - self.width) // 2, (nh - self.height) // 2
        if self.resize == "crop":
            return resized[y0 : y0 + self.height, x0 : x0 + self.width]
        canvas = np.zeros((self.height, self.width, 3), image.dtype)
        canvas[-y0 : -y0 + nh, -x0 : -x0 + nw] = resized
        return canvas

    def _scale_factor(self, w: int, h: int) -> float:
        pick = max if self.resize == "crop" else min
        return pick(self.width / w, self.height / h)

    def to_image(self, maps: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """Upsample [..., h, w] maps (model-input space) onto the photo: [..., H, W] for size (W, H).

        Bilinear, as the paper does. Photo pixels that the model never saw (outside a crop) get 0.
        """
        w, h = image_size
        flat = np.ascontiguousarray(maps.reshape(-1, *maps.shape[-2:]).transpose(1, 2, 0), np.float32)
        if self.embedded or self.resize == "stretch":
            out = _resize_channels(flat, w, h)
        else:
            s = self._scale_factor(w, h)
            nw, nh = max(1, round(w * s)), max(1, round(h * s))
            x0, y0 = (nw - self.width) // 2, (nh - self.height) // 2
            on_input = _resize_channels(flat, self.width, self.height)
            if self.resize == "fit":
                out = _resize_channels(on_input[-y0 : -y0 + nh, -x0 : -x0 + nw], w, h)
            else:
                resized = np.zeros((nh, nw, flat.shape[2]), np.float32)
                resized[y0 : y0 + self.height, x0 : x0 + self.width] = on_input
                out = _resize_channels(resized, w, h)
        return out.transpose(2, 0, 1).reshape(*maps.shape[:-2], h, w)

    def with_overrides(self, **changes) -> Preprocess:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _resize_channels(hwc: np.ndarray, w: int, h: int) -> np.ndarray:
    # cv2.resize handles at most 512 channels at once; split wider stacks.
    chunks = [
        cv2.resize(hwc[:, :, i : i + 512], (w, h), interpolation=cv2.INTER_LINEAR) for i in range(0, hwc.shape[2], 512)
    ]
    return np.concatenate([c.reshape(h, w, -1) for c in chunks], axis=2)


def _truthy(text: str) -> bool:
    return str(text).strip().lower() in ("true", "yes", "1", "on")


def _guess_layout(shape: ov.PartialShape) -> str:
    """Images have 1 or 3 channels: NHWC when the last dim is that and dim 1 is not."""
    last, second = shape[3], shape[1]
    if last.is_static and last.get_length() in (1, 3) and not (second.is_static and second.get_length() in (1, 3)):
        return "NHWC"
    return "NCHW"


def peak(saliency: np.ndarray) -> tuple[int, int]:
    """(x, y) of the hottest pixel of a 2-D map."""
    y, x = np.unravel_index(int(np.argmax(saliency)), saliency.shape)
    return int(x), int(y)


def colorize(saliency: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """A [0, 1] map as a BGR heatmap."""
    code = getattr(cv2, f"COLORMAP_{colormap.upper()}", None)
    if code is None:
        raise ReciproCamError(f"unknown colormap '{colormap}'; try jet, turbo, inferno, viridis")
    return cv2.applyColorMap(np.clip(saliency * 255.0 + 0.5, 0, 255).astype(np.uint8), code)


def overlay(bgr: np.ndarray, saliency: np.ndarray, caption: str = "", alpha: float = 0.5, colormap: str = "jet"):
    """The heatmap blended on the photo, with an optional caption in the top-left corner."""
    blended = cv2.addWeighted(bgr, 1.0 - alpha, colorize(saliency, colormap), alpha, 0.0)
    if caption:
        scale = max(0.4, min(bgr.shape[:2]) / 500)
        thickness = max(1, round(scale * 2))
        (tw, th), base = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        cv2.rectangle(blended, (0, 0), (tw + 8, th + base + 8), (0, 0, 0), -1)
        cv2.putText(
            blended, caption, (4, th + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA
        )
    return blended
