"""Black-box saliency baselines on a plain OpenVINO classifier: Score-CAM and RISE.

Both perturb the preprocessed model input (as their authors' code does: masked-out pixels become
0 in normalized space) and push every perturbed copy through the same compiled model, streamed: batches
in several inference requests at once, the next made while the ones before it infer.
Only the Score-CAM activations come from inside the model, as an extra output of the target
feature map that `methods.locate` finds for Recipro-CAM (a transformer's tokens entering its last
block); nothing is patched.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import openvino as ov

from ..errors import ReciproCamError
from ..inference.device import compile_for
from ..inference.explainer import THROUGHPUT
from ..inference.scores import probabilities
from ..methods import locate
from ..methods.base import FeatureMap
from ..model.formats import read_model
from ..model.reshape import set_batch
from ..patching import is_patched
from ..photos.preprocess import resize_maps
from ..vocabulary import Affine, Layout, ScoreKind

DEFAULT_BATCH = 32
_EPS = 1e-12


def upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear [N, h, w] -> [N, H, W] for size (W, H), as Recipro-CAM's maps reach the photo."""
    return resize_maps(np.asarray(maps, np.float32), *size)


def min_max(saliency: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a flat map becomes all zeros (it ranks nothing above anything else)."""
    low, high = float(saliency.min()), float(saliency.max())
    return (saliency - low) / (high - low) if high - low > _EPS else np.zeros_like(saliency)


@dataclass
class BlackBox:
    """A compiled plain classifier with a dynamic batch and its target feature map as an extra output.

    Compiled for throughput (unless `config` gives a hint): perturbed copies go through `stream`, `batch` inputs a
    request, as many requests at once as the device wants.
    layout: of the model input ("NCHW" or "NHWC"), so that [H, W] masks broadcast onto inputs.
    """

    compiled: ov.CompiledModel
    target: FeatureMap
    layout: str
    kind: ScoreKind  # what the scores output holds
    batch: int = DEFAULT_BATCH
    dequantize: Affine = Affine()  # a quantized scores output's values -> the model's scores
    # Normalized inputs -> what the input port takes (an integer input quantizes them): perturbations
    # happen in normalized space, as the baselines' authors did.
    encode: Callable[[np.ndarray], np.ndarray] | None = None
    images_run: int = 0  # inputs inferred so far, for eval's inferences per map
    _requests: list[ov.InferRequest] = field(default_factory=list, init=False, repr=False)

    @classmethod
    def build(
        cls,
        model: ov.Model | str | os.PathLike,
        layout: str,
        *,
        device: str = "CPU",
        config: dict | None = None,
        target: str | None = None,
        batch: int = DEFAULT_BATCH,
        encode: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> BlackBox:
        loaded = read_model(model)
        if is_patched(loaded):
            raise ReciproCamError("the model was patched before; pass the plain model")
        if loaded.get_parameters()[0].get_partial_shape()[0].is_static:
            set_batch(loaded, -1)  # perturbed copies go through in batches of any size
        located = locate(loaded, target)
        scores = loaded.get_results()[located.output_index].input_value(0)
        probe = ov.Model([ov.opset13.result(scores), ov.opset13.result(located.target.output)], loaded.get_parameters())
        compiled = compile_for(probe, device, THROUGHPUT | (config or {}))  # a hint given wins
        return cls(compiled, located.target, layout, located.kind, batch, located.dequantize, encode)

    @property
    def input_size(self) -> tuple[int, int]:
        """(W, H) of the model input."""
        shape = self.compiled.input(0).get_partial_shape()
        h, w = Layout(self.layout).spatial(shape)
        return w.get_length(), h.get_length()

    def probs(self, inputs: np.ndarray) -> np.ndarray:
        """Class probabilities [N, classes] of normalized model inputs [N, ...]."""
        return self.stream([inputs])

    def stream(self, chunks: Iterable[np.ndarray]) -> np.ndarray:
        """Class probabilities [N, classes] of the normalized inputs [n, ...] that `chunks` yields, in order.

        Regrouped into requests of `batch` inputs, as many in flight as the device wants, taken in turn: a
        generator makes its next chunk while the ones before it infer (OpenVINO infers without the GIL), and
        waits for the request it reuses, which bounds the copies in memory. Scores are copied out here, in this
        thread, never in OpenVINO's.
        """
        if not self._requests:
            count = self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
            self._requests = [self.compiled.create_infer_request() for _ in range(count)]
        scores: list[np.ndarray] = []
        pending: dict[int, int] = {}  # request -> the index of its scores

        def collect(slot: int) -> None:
            if slot in pending:
                self._requests[slot].wait()
                scores[pending.pop(slot)] = self._requests[slot].get_output_tensor(0).data.copy()

        for n, inputs in enumerate(_regrouped(chunks, self.batch)):
            slot = n % len(self._requests)
            collect(slot)
            self.images_run += len(inputs)
            scores.append(np.empty(0))
            self._requests[slot].start_async(self.encode(inputs) if self.encode else inputs)
            pending[slot] = n
        for slot in list(pending):
            collect(slot)
        if not scores:
            return np.empty((0, 0))
        joined = np.concatenate([s.reshape(s.shape[0], -1) for s in scores]).astype(np.float64)
        return probabilities(joined, self.kind, self.dequantize)

    def features(self, x: np.ndarray) -> np.ndarray:
        """The target feature map of one input, as [K, h, w]."""
        self.images_run += 1
        # Copied in: a shared input (OpenVINO's default here) crashed eval, the model compiled for throughput.
        fmap = np.asarray(self.compiled(self.encode(x[None]) if self.encode else x[None], share_inputs=False)[1])
        t = self.target
        if t.layout is Layout.TOKENS:  # [P + h*w, D], row-major patch tokens after the prefix, which has no place
            return fmap[0][-t.height * t.width :].T.reshape(t.channels, t.height, t.width)
        return fmap[0] if t.layout == Layout.NCHW else fmap[0].transpose(2, 0, 1)

    def masked_probs(self, x: np.ndarray, masks: Iterator[np.ndarray]) -> np.ndarray:
        """Probabilities [N, classes] of x times each mask, masks coming as [n, H, W] chunks."""
        axis = -1 if self.layout == Layout.NHWC else 1
        return self.stream(x[None] * np.expand_dims(m, axis) for m in masks)


def _regrouped(chunks: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """The rows of `chunks`, `size` at a time (the last fewer)."""
    pending: list[np.ndarray] = []
    count = 0
    for chunk in chunks:
        pending.append(chunk)
        count += len(chunk)
        while count >= size:
            joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
            yield joined[:size]
            pending, count = ([joined[size:]] if count > size else []), count - size
    if count:
        yield np.concatenate(pending)


def score_cam(box: BlackBox, x: np.ndarray, class_id: int) -> np.ndarray:
    """Score-CAM (Wang et al. 2020) of one input x (no batch axis): [h, w] at feature resolution, in [0, 1].

    As in the authors' code: each activation map, upsampled to the input and min-max scaled, masks
    the input; the class probability of that masked input weights the map. Flat maps are skipped.
    Upsampling is linear, so the weighted sum is taken at feature resolution.
    """
    acts = box.features(x).astype(np.float64)
    lows, highs = acts.min(axis=(1, 2)), acts.max(axis=(1, 2))
    kept = np.nonzero(highs - lows > _EPS)[0]

    def masks() -> Iterator[np.ndarray]:
        for i in range(0, len(kept), box.batch):
            k = kept[i : i + box.batch]
            scaled = (acts[k] - lows[k, None, None]) / (highs - lows)[k, None, None]
            yield upsample(scaled, box.input_size)

    weights = np.zeros(len(acts))
    if len(kept):
        weights[kept] = box.masked_probs(x, masks())[:, class_id]
    return min_max(np.maximum(np.tensordot(weights, acts, axes=1), 0.0))


RISE_CELLS = 7  # the authors' mask grid


def rise(
    box: BlackBox,
    x: np.ndarray,
    class_id: int,
    masks: int = 4000,
    cells: int = RISE_CELLS,
    p: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """RISE (Petsiuk et al. 2018) of one input x: [H, W] at input resolution, in [0, 1].

    `masks` random binary cells x cells grids (each cell kept with probability p), upsampled
    bilinearly to (cells + 1) cell sizes and randomly shifted, as in the authors' code; the map is
    the probability-weighted mean of the masks. Seeded: the same seed draws the same masks.
    """
    rng = np.random.default_rng(seed)
    w, h = box.input_size
    cell_w, cell_h = -(-w // cells), -(-h // cells)
    grids = (rng.random((masks, cells, cells)) < p).astype(np.float32)
    shifts = rng.integers(0, [cell_h, cell_w], size=(masks, 2))

    def chunks() -> Iterator[np.ndarray]:
        for i in range(0, masks, box.batch):
            big = upsample(grids[i : i + box.batch], ((cells + 1) * cell_w, (cells + 1) * cell_h))
            yield np.stack(
                [m[dy : dy + h, dx : dx + w] for m, (dy, dx) in zip(big, shifts[i : i + box.batch], strict=True)]
            )

    def weighted() -> Iterator[np.ndarray]:
        # Second pass over the same masks: regenerating them costs less than keeping masks x H x W floats.
        for chunk, probs in zip(chunks(), _chunked(scores, box.batch), strict=True):
            yield np.tensordot(probs, chunk, axes=1)

    scores = box.masked_probs(x, chunks())[:, class_id]
    return min_max(np.asarray(sum(weighted()) / (masks * p)))  # sum's start, 0, types as a number


def _chunked(values: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for i in range(0, len(values), size):
        yield values[i : i + size]
