"""Saliency fidelity: how close model B's maps are to model A's (say INT8 to FP32), photo by photo."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ReciproCamError
from ..inference.explainer import Explainer, Prediction
from ..photos import imaging
from .metrics import pearson, spearman


@dataclass(frozen=True)
class Fidelity:
    """How far model B's saliency for one photo is from model A's, for A's top-1 class."""

    source: str
    top1_a: Prediction  # the class whose maps are compared
    top1_b: Prediction
    pearson: float
    spearman: float
    peak_a: tuple[int, int]  # (x, y) feature cell of A's hottest position
    peak_b: tuple[int, int]

    @property
    def top1_agrees(self) -> bool:
        return self.top1_a.class_id == self.top1_b.class_id

    @property
    def same_cell(self) -> bool:
        return self.peak_a == self.peak_b

    def record(self) -> dict:
        return {
            "image": self.source,
            "top1_a": {"class_id": self.top1_a.class_id, "label": self.top1_a.label, "score": self.top1_a.score},
            "top1_b": {"class_id": self.top1_b.class_id, "label": self.top1_b.label, "score": self.top1_b.score},
            "pearson": self.pearson,
            "spearman": self.spearman,
            "peak_cell_a": list(self.peak_a),
            "peak_cell_b": list(self.peak_b),
            "top1_agrees": self.top1_agrees,
            "same_peak_cell": self.same_cell,
        }


def compare(a: Explainer, b: Explainer, photos: Sequence[np.ndarray], sources: Sequence[str]) -> list[Fidelity]:
    """Per photo: correlation of the two models' maps of A's top-1 class, top-1 and peak-cell agreement."""
    found = []
    for source, ex_a, ex_b in zip(sources, a.explain(photos, top_k=1), b.explain(photos, top_k=1), strict=True):
        wanted = ex_a.classes[0]
        map_b = ex_b.classes[0].saliency
        if ex_b.classes[0].class_id != wanted.class_id:
            map_b = b.explain([ex_b.image], classes=[wanted.class_id])[0].classes[0].saliency
        if map_b.shape != wanted.saliency.shape:
            raise ReciproCamError(
                f"the maps have different shapes ({_hw(wanted.saliency)} and {_hw(map_b)}): "
                "compare models explained at feature maps of the same size"
            )
        found.append(
            Fidelity(
                source=source,
                top1_a=ex_a.predictions[0],
                top1_b=ex_b.predictions[0],
                pearson=pearson(wanted.saliency, map_b),
                spearman=spearman(wanted.saliency, map_b),
                peak_a=imaging.peak(wanted.saliency),
                peak_b=imaging.peak(map_b),
            )
        )
    return found


def _hw(saliency: np.ndarray) -> str:
    return "x".join(str(d) for d in saliency.shape)


def summary(fidelity: Sequence[Fidelity]) -> dict:
    """Means over photos, and how many agree on the top-1 class and on the peak cell."""
    return {
        "images": len(fidelity),
        "pearson_mean": float(np.nanmean([f.pearson for f in fidelity])) if fidelity else float("nan"),
        "spearman_mean": float(np.nanmean([f.spearman for f in fidelity])) if fidelity else float("nan"),
        "top1_agree": sum(f.top1_agrees for f in fidelity),
        "same_peak_cell": sum(f.same_cell for f in fidelity),
    }
