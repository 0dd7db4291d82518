"""Which model output holds the class scores, and what kind of scores they are: read from structure.

Reads the graph and never edits it. An output can hold class scores if it is [N, classes] or
[N, classes, 1, 1] with a batch axis and depends on the input; among those, one made by a
softmax, sigmoid or log-softmax wins, then one made by a linear layer on pooled features. The
kind (logits, probabilities, log-probabilities, sigmoids) comes from the ops that make it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

import openvino as ov

from ..errors import ReciproCamError
from ..vocabulary import Affine, ScoreKind
from .dataflow import DataGraph, key_of, node_name
from .ops import is_constant
from .quantization import RELABEL_OPS as _RELABEL_OPS
from .quantization import scores_behind

_KINDS = {"Softmax": ScoreKind.PROBABILITIES, "LogSoftmax": ScoreKind.LOG_PROBABILITIES, "Sigmoid": ScoreKind.SIGMOIDS}
# Ops that pick or scale classes after the softmax (with constant operands).
_SELECT_OPS = frozenset({"Slice", "StridedSlice", "Gather", "Multiply", "Divide"})
_POOL_OPS = frozenset({"ReduceMean", "AvgPool", "AdaptiveAvgPool", "ReduceMax", "MaxPool", "AdaptiveMaxPool"})


class Role(Enum):
    """What `find_scores` takes a model output for."""

    CLASS_SCORES = "class scores"
    CANDIDATE = "candidate"  # could hold them, but structure singles out another or none
    SKIPPED = "skipped"  # cannot hold them (`OutputRole.why`)


@dataclass(frozen=True)
class OutputRole:
    """What `find_scores` took one model output for."""

    index: int
    name: str
    shape: str
    role: Role
    why: str | None = None  # why it was skipped

    @property
    def text(self) -> str:
        """As `inspect` prints it: the role, and for a skipped output why."""
        return f"{self.role.value}: {self.why}" if self.why else self.role.value


def output_name(model: ov.Model, index: int) -> str:
    """The output's first tensor name, or its producer's name when a converter gave it none."""
    names = sorted(model.outputs[index].get_names())
    return names[0] if names else node_name(model.get_results()[index].input_value(0))


def output_roles(model: ov.Model, graph: DataGraph | None = None) -> list[OutputRole]:
    """Every model output with what it was taken for: `inspect` lists them."""
    graph = graph or DataGraph(model)
    shape = model.get_parameters()[0].get_partial_shape()
    batch = shape[0] if shape.rank.is_static else ov.Dimension()
    roles = []
    for i, result in enumerate(model.get_results()):
        source = result.input_value(0)
        why = _not_class_scores(source, batch, graph)
        if why is None and _units(source) == 1 and not _binary_head(scores_behind(source)[0]):
            why = "one unit that is neither a sigmoid nor a linear layer's logit"
        roles.append(
            OutputRole(i, output_name(model, i), shape_text(source), Role.SKIPPED if why else Role.CANDIDATE, why)
        )
    candidates = [r for r in roles if r.role is Role.CANDIDATE]
    sources = {r.index: scores_behind(model.get_results()[r.index].input_value(0))[0] for r in candidates}
    # The strongest evidence first: an activation that makes scores, then a classifier-shaped layer.
    activated = [r for r in candidates if kind_of(sources[r.index])[1] is not ScoreKind.LOGITS]
    linear = [r for r in candidates if _is_linear_head(sources[r.index])]
    chosen = next((group for group in (activated, linear, candidates) if len(group) == 1), [])
    return [replace(r, role=Role.CLASS_SCORES) if r in chosen else r for r in roles]


def shape_text(output: ov.Output) -> str:
    return str(output.get_partial_shape()).replace(" ", "")


def _not_class_scores(source: ov.Output, batch: ov.Dimension, graph: DataGraph) -> str | None:
    """Why an output cannot hold class scores [N, classes] or [N, classes, 1, 1]; None if it can."""
    shape = source.get_partial_shape()
    if shape.rank.is_dynamic or shape.rank.get_length() < 2:
        return "rank < 2"
    rank = shape.rank.get_length()
    if rank not in (2, 4) or (rank == 4 and not all(d.is_static and d.get_length() == 1 for d in shape[2:])):
        return "not [N, classes] or [N, classes, 1, 1]"
    if not shape[1].is_static or shape[1].get_length() < 1:
        return "no classes"
    if not shape[0].compatible(batch) or (batch.is_dynamic and shape[0].is_static and shape[0].get_length() != 1):
        return "axis 0 is not the input's batch"
    if key_of(source) not in graph.order:
        return "does not depend on the input"
    return None


def _units(source: ov.Output) -> int:
    return source.get_partial_shape()[1].get_length()


def _binary_head(scores: ov.Output) -> bool:
    """One unit a binary classifier gives: a sigmoid's probability, or a linear layer's logit."""
    return kind_of(scores)[1] is ScoreKind.SIGMOIDS or _is_linear_head(scores)


def binary_kind(kind: ScoreKind) -> ScoreKind:
    """The kind of a one-unit output whose activation reads as `kind`."""
    return ScoreKind.BINARY_SIGMOID if kind is ScoreKind.SIGMOIDS else ScoreKind.BINARY_LOGIT


def _is_linear_head(source: ov.Output) -> bool:
    """Made by a linear layer on pooled or flattened features."""
    node = _skip(source, _RELABEL_OPS).get_node()
    if node.get_type_name() == "Add":
        node = next((v.get_node() for v in node.input_values() if v.get_node().get_type_name() == "MatMul"), node)
    if node.get_type_name() != "MatMul":
        return False
    features = _skip(node.input_value(0), _RELABEL_OPS - {"Reshape"})
    if features.get_node().get_type_name() in _POOL_OPS:
        return True
    # A flatten: a Reshape of a 4-D map to [N, C*H*W].
    producer = features.get_node()
    return producer.get_type_name() == "Reshape" and producer.get_input_partial_shape(0).rank.get_length() == 4


def find_scores(model: ov.Model, graph: DataGraph, name: str | None = None) -> tuple[int, ov.Output, Affine]:
    """The output that holds the class scores (by `name`, or the one structure singles out), the float
    scores it is made from (behind any quantize step), and how its values map back to them."""
    roles = output_roles(model, graph)
    if name is not None:
        found = [r for r in roles if name == r.name or name in model.outputs[r.index].get_names()]
        if not found:
            listed = ", ".join(r.name for r in roles)
            raise ReciproCamError(f"`scores_output` '{name}' is not an output of the model (it has {listed})")
        if found[0].role is Role.SKIPPED:
            raise ReciproCamError(f"`scores_output` '{name}' cannot hold class scores ({found[0].why})")
        chosen = found[0]
    else:
        picked = [r for r in roles if r.role is Role.CLASS_SCORES]
        candidates = [r for r in roles if r.role is Role.CANDIDATE]
        if not picked and candidates:
            listed = ", ".join(f"{r.name} {r.shape}" for r in candidates)
            raise ReciproCamError(
                f"several outputs could hold the class scores ({listed}); pick one with `scores_output`"
            )
        if not picked:
            shapes = ", ".join(f"{r.name} {r.shape}" for r in roles)
            raise ReciproCamError(
                f"no classification output: expected shape [N, classes] or [N, classes, 1, 1], the model has {shapes}"
            )
        chosen = picked[0]
    return chosen.index, *scores_behind(model.get_results()[chosen.index].input_value(0))


def _skip(out: ov.Output, kinds: frozenset) -> ov.Output:
    while out.get_node().get_type_name() in kinds:
        out = out.get_node().input_value(0)
    return out


def _constant_operands(node: ov.Node) -> bool:
    """Every input but the first is a constant (slice bounds, gather indices, a scale)."""
    return all(is_constant(v) for v in node.input_values()[1:])


def _before_max_shift(out: ov.Output) -> ov.Output:
    """x for x - max(x), the stabilising shift of a written-out softmax; else `out` itself."""
    node = out.get_node()
    if node.get_type_name() == "Subtract":
        x, shift = node.input_values()
        if shift.get_node().get_type_name() == "ReduceMax" and shift.get_node().input_value(0) == x:
            return x
    return out


def kind_of(scores: ov.Output) -> tuple[ov.Output | None, ScoreKind]:
    """What `scores` holds, and the logits behind it (None when they do not hold one value per class).

    Recognised: Softmax, LogSoftmax, Sigmoid, and the softmax written out (Exp / ReduceSum / Divide),
    each maybe followed by ops that pick or scale classes (TF's Slice of 1001 to 1000 classes).
    """
    out = _skip(scores, _RELABEL_OPS)
    selected = False
    while out.get_node().get_type_name() in _SELECT_OPS and _constant_operands(out.get_node()):
        selected, out = True, _skip(out.get_node().input_value(0), _RELABEL_OPS)
    node = out.get_node()
    kind = _KINDS.get(node.get_type_name())
    logits = node.input_value(0) if kind else None
    if kind is None and node.get_type_name() == "Divide":
        numerator, denominator = (v.get_node() for v in node.input_values())
        if (
            numerator.get_type_name() == "Exp"
            and denominator.get_type_name() == "ReduceSum"
            and denominator.input_value(0).get_node().get_instance_id() == numerator.get_instance_id()
        ):
            kind, logits = ScoreKind.PROBABILITIES, _before_max_shift(numerator.input_value(0))
    if kind is None:
        return scores, ScoreKind.LOGITS
    return (None if selected else logits), kind
