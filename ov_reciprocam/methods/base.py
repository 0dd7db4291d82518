"""What every method family finds in a classifier: the feature map to explain and the scores."""

from __future__ import annotations

from dataclasses import dataclass, field

import openvino as ov

from ..analysis.dataflow import DataGraph, node_name, on_chain
from ..analysis.head import binary_kind, find_scores, kind_of
from ..errors import ReciproCamError
from ..vocabulary import Affine, Layout, ScoreKind


@dataclass(frozen=True)
class FeatureMap:
    """A 4-D tensor that Recipro-CAM can mask: its layout and its static sizes."""

    output: ov.Output = field(compare=False, repr=False)
    name: str
    layout: Layout | None  # None while no op says (a target always has one)
    channels: int
    height: int
    width: int
    tensor_names: tuple[str, ...] = ()
    path: str = ""  # `dataflow.chain_path`: a name that a later read of the model finds again

    @property
    def reference(self) -> str:
        """How rt_info, `inspect` and `target` name this map: its tensor name, else its path."""
        return self.tensor_names[0] if self.tensor_names else self.path or self.name

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, height, width), whatever the layout; -1 for a size that follows the input's."""
        return (self.channels, self.height, self.width)

    @property
    def static_size(self) -> bool:
        return self.height >= 0 and self.width >= 0

    @property
    def several_positions(self) -> bool:
        """More than one spatial position, or a size only known at run time; in both readings while the
        layout is unknown (ConvNeXt's head norm [N, 1, 1, 768] is no map in its true NHWC reading)."""
        if not self.static_size:
            return True
        if self.layout is None:  # (channels, height, width) hold the NCHW reading of the dims
            return self.height * self.width > 1 and self.channels * self.height > 1
        return self.height * self.width > 1


@dataclass(frozen=True)
class Located:
    """Everything the saliency branch needs: the scores, their kind, the target and the tail between."""

    output_index: int
    scores: ov.Output = field(repr=False)  # the float class scores the output reads (behind any quantize step)
    logits: ov.Output | None = field(repr=False)  # before the softmax/sigmoid; None if not one per class
    kind: ScoreKind
    classes: int
    target: FeatureMap
    candidates: tuple[FeatureMap, ...]
    tail: frozenset = field(repr=False)  # instance ids of the ops between target and scores
    dequantize: Affine = Affine()  # the output's values -> the scores (a quantized output's scale)


@dataclass(frozen=True)
class Head:
    """What every family reads first: the class scores, their kind, and the tensors every path to them takes."""

    graph: DataGraph = field(repr=False)
    output_index: int
    scores: ov.Output = field(repr=False)
    logits: ov.Output | None = field(repr=False)
    kind: ScoreKind
    dequantize: Affine
    chain: list[ov.Output] = field(repr=False)  # the scores' dominators, nearest first

    @classmethod
    def read(cls, model: ov.Model, output: str | None = None) -> Head:
        """The head of a single-input classifier; `output` names the scores output where structure leaves a choice."""
        require_single_input(model)
        graph = DataGraph(model)
        output_index, scores, dequantize = find_scores(model, graph, output)
        logits, kind = kind_of(scores)
        if scores.get_partial_shape()[1].get_length() == 1:
            kind = binary_kind(kind)
        return cls(graph, output_index, scores, logits, kind, dequantize, graph.dominators(scores))

    @property
    def classes(self) -> int:
        """The classes the maps explain: a binary classifier's one unit stands for two."""
        return 2 if self.kind.binary else int(self.scores.get_partial_shape()[1].get_length())

    def located(self, target: FeatureMap, candidates: tuple[FeatureMap, ...]) -> Located:
        """The Located of `target` (one of `candidates`) under this head."""
        return Located(
            output_index=self.output_index,
            scores=self.scores,
            logits=self.logits,
            kind=self.kind,
            classes=self.classes,
            target=target,
            candidates=candidates,
            tail=self.graph.between(target.output, self.scores),
            dequantize=self.dequantize,
        )


def require_single_input(model: ov.Model) -> None:
    params = model.get_parameters()
    if len(params) != 1:
        names = ", ".join(p.get_friendly_name() for p in params) or "none"
        raise ReciproCamError(
            f"the model has {len(params)} inputs ({names}); Recipro-CAM explains single-input image classifiers"
        )


def named_target_output(model: ov.Model, name: str, chain: list[ov.Output]) -> ov.Output:
    """The tensor called `name`: a tensor name, a friendly name, or a path on `chain` (`dataflow.chain_path`)."""
    matches = [
        out
        for op in model.get_ordered_ops()
        for out in op.outputs()
        if name in out.get_names() or name in (node_name(out), op.get_friendly_name() if out.get_index() == 0 else None)
    ]
    if not matches and (found := on_chain(name, chain)) is not None:
        matches = [found]
    if not matches:
        raise ReciproCamError(
            f"target '{name}' is neither a tensor name, a node's friendly name nor a path (TYPE#N) in the model"
        )
    return matches[0]
