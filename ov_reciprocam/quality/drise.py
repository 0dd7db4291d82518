"""D-RISE (Petsiuk et al. 2021, "Black-box explanation of object detectors via saliency maps"), on any detector.

A detection is a target: its box and class vector. Each of N random RISE masks multiplies the model input
(masked-out pixels become 0 of the normalized input, as `baselines` perturbs classifiers); the masked input's
proposals (every anchor, decoded by `detection_decode`) are compared with the target: IoU of the boxes x
cosine of the class vectors x the proposal's objectness, the best proposal's value the mask's weight. The map
is the weighted sum of the masks. A detector enters through `Detector`: its input layout and size, and
proposals for a batch of inputs; `OpenVinoDetector` is one on a plain OpenVINO model.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import openvino as ov

from ..errors import ReciproCamError
from ..inference.device import compile_for
from ..model.formats import read_model
from ..model.reshape import set_batch
from ..vocabulary import Layout
from .baselines import DEFAULT_BATCH, min_max, upsample
from .detection_decode import Decoding, Proposals

CELLS = 16  # the authors' mask grid for detectors
_EPS = 1e-12


class Detector(Protocol):
    """What D-RISE and the detection metrics need of a detector."""

    @property
    def layout(self) -> Layout: ...  # of its image input

    @property
    def input_size(self) -> tuple[int, int]: ...  # (W, H)

    def proposals(self, inputs: np.ndarray) -> list[Proposals]:
        """Each input's proposals, for prepared inputs [N, ...] in the model's layout."""
        ...


@dataclass(frozen=True)
class Target:
    """A detection to explain: its box (x1, y1, x2, y2 in input pixels) and class vector."""

    box: np.ndarray
    classes: np.ndarray

    @classmethod
    def of(cls, proposals: Proposals, anchor: int) -> Target:
        """The detection an anchor of the unmasked input made."""
        return cls(proposals.boxes[anchor], proposals.classes[anchor])


def similarity(targets: Sequence[Target], proposals: Proposals) -> np.ndarray:
    """[T]: each target's best match among the proposals, IoU x cosine of class vectors x objectness."""
    boxes = np.stack([t.box for t in targets])[:, None]  # [T, 1, 4]
    theirs = proposals.boxes[None]  # [1, A, 4]
    low, high = np.maximum(boxes[..., :2], theirs[..., :2]), np.minimum(boxes[..., 2:], theirs[..., 2:])
    inter = np.clip(high - low, 0.0, None).prod(-1)
    areas = np.clip(boxes[..., 2:] - boxes[..., :2], 0.0, None).prod(-1)
    area = np.clip(theirs[..., 2:] - theirs[..., :2], 0.0, None).prod(-1)
    iou = inter / np.maximum(areas + area - inter, _EPS)
    mine = np.stack([t.classes for t in targets])
    norms = np.linalg.norm(mine, axis=1)[:, None] * np.linalg.norm(proposals.classes, axis=1)[None]
    cosine = (mine @ proposals.classes.T) / np.maximum(norms, _EPS)
    return np.asarray((iou * cosine * proposals.objectness[None]).max(1))


def similarities(detector: Detector, inputs: np.ndarray, targets: Sequence[Target]) -> np.ndarray:
    """[N, T]: the targets' similarity to the proposals of each input [N, ...]."""
    return np.stack([similarity(targets, p) for p in detector.proposals(inputs)])


def masked(x: np.ndarray, masks: np.ndarray, layout: Layout) -> np.ndarray:
    """One input x [1, ...] times each mask [n, H, W], as [n, ...]."""
    return x * np.expand_dims(masks, -1 if layout is Layout.NHWC else 1)


def rise_masks(count: int, cells: int, p: float, size: tuple[int, int], chunk: int, seed: int) -> Iterator[np.ndarray]:
    """RISE's masks in chunks [n, H, W] for size (W, H): binary cells x cells grids (a cell kept with
    probability p), upsampled bilinearly to (cells + 1) cell sizes, each cropped at a random shift."""
    rng = np.random.default_rng(seed)
    w, h = size
    cell_w, cell_h = -(-w // cells), -(-h // cells)
    grids = (rng.random((count, cells, cells)) < p).astype(np.float32)  # drawn at once: any chunk, the same masks
    shifts = rng.integers(0, [cell_h, cell_w], size=(count, 2))
    for start in range(0, count, chunk):
        big = upsample(grids[start : start + chunk], ((cells + 1) * cell_w, (cells + 1) * cell_h))
        moved = zip(big, shifts[start : start + chunk], strict=True)
        yield np.stack([m[dy : dy + h, dx : dx + w] for m, (dy, dx) in moved])


def drise(
    detector: Detector,
    x: np.ndarray,
    targets: Sequence[Target],
    masks: int = 1000,
    cells: int = CELLS,
    p: float = 0.5,
    seed: int = 0,
    chunk: int = DEFAULT_BATCH,
) -> np.ndarray:
    """[T, H, W] at input resolution, each in [0, 1]: the D-RISE map of each target on one input x [1, ...].

    One pass: a chunk of masks is drawn, run, weighted and added, so no more than `chunk` masks are ever held.
    Seeded: the same seed draws the same masks.
    """
    w, h = detector.input_size
    total = np.zeros((len(targets), h, w))
    if not targets:
        return total
    for chunk_masks in rise_masks(masks, cells, p, (w, h), chunk, seed):
        weights = similarities(detector, masked(x, chunk_masks, detector.layout), targets)  # [n, T]
        total += np.tensordot(weights.T, chunk_masks, axes=1)
    return np.stack([min_max(m) for m in total])


@dataclass
class OpenVinoDetector:
    """A plain detector compiled with a dynamic batch when its graph lets the batch through, its outputs
    decoded as `decoding` says."""

    compiled: ov.CompiledModel
    decoding: Decoding
    layout: Layout
    batch: int = DEFAULT_BATCH
    images_run: int = 0  # inputs inferred so far

    @classmethod
    def build(
        cls,
        model: ov.Model | str | os.PathLike,
        decoding: Decoding,
        *,
        device: str = "CPU",
        config: dict | None = None,
        batch: int = DEFAULT_BATCH,
    ) -> OpenVinoDetector:
        loaded = read_model(model)
        layout = Layout.of_image(loaded.get_parameters()[0].get_partial_shape())
        batched = loaded.clone()
        try:
            set_batch(batched, -1)  # frees Reshapes to a literal batch of 1 (YOLOX's), which would mix the copies
            compiled: ov.CompiledModel | None = compile_for(batched, device, config)
        except ReciproCamError:
            compiled = None
        if compiled is not None and _batches_apart(compiled):
            return cls(compiled, decoding, layout, batch)
        # A reshape the batch cannot pass (a batch folded into a fixed shape through ops that mix rows): one input
        # at a time.
        return cls(compile_for(loaded, device, config), decoding, layout, 1)

    @property
    def input_size(self) -> tuple[int, int]:
        h, w = self.layout.spatial(self.compiled.input(0).get_partial_shape())
        return w.get_length(), h.get_length()

    def proposals(self, inputs: np.ndarray) -> list[Proposals]:
        found = []
        for start in range(0, len(inputs), self.batch):
            chunk = inputs[start : start + self.batch]
            self.images_run += len(chunk)
            result = self.compiled(chunk)
            outputs = [np.asarray(result[o]) for o in self.compiled.outputs]
            found += [self.decoding.decode([o[i] for o in outputs], self.input_size) for i in range(len(chunk))]
        return found


def _batches_apart(compiled: ov.CompiledModel) -> bool:
    """Whether two random inputs run together give what each gives alone: a model whose reshapes fold the
    batch into other axes fails to run, or mixes the two."""
    shape = [2, *(d.get_length() for d in list(compiled.input(0).get_partial_shape())[1:])]
    inputs = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    try:
        together = compiled(inputs)
        alone = [compiled(inputs[i : i + 1]) for i in range(2)]
    except RuntimeError:
        return False
    for out in compiled.outputs:
        both, each = np.asarray(together[out]), np.concatenate([np.asarray(a[out]) for a in alone])
        if both.shape != each.shape or not np.allclose(both, each, rtol=0, atol=1e-2 * (np.abs(each).max() + _EPS)):
            return False
    return True
