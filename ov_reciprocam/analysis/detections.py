"""A detector read from its graph's structure: its outputs, their anchor levels, and the cut where its neck begins.

Reads the graph and never edits it, and never reads a node's name (but the tensors `cut` names). Four layouts
(`vocabulary.DetectorKind`): one [N, A, 4 + 1 + C] output of raw grid offsets (YOLOX), decoded boxes [N, A, 4]
beside scores [N, A, C] (Ultra-Light), raw regressors with keypoints [N, A, 4 + 2k] beside one logit [N, A, 1]
(MediaPipe's BlazeFace; other raw heads are refused: their priors and box coding are not in the graph), and one
[N, 4 + C, A] output, anchors last, of decoded boxes beside sigmoid class rows (Ultralytics' YOLOv8 and YOLO11).
Each output ends in a Concat over its levels, whose inputs are the head convolutions' [N, c, h, w] maps, reshaped:
their grids are the levels, c / D the anchors per cell (anchors last: one a cell of the class rows' grids).

The cut is one tensor per level (docs/architecture.md, "A detector"): per level, the nearest common dominator of
the tensors of that grid which the backbone hands on, to its next (coarser) stage, to the neck, or to the level's
own head. The backbone is what every path from the input reaches by never growing its grid; the neck (an FPN) is
what an upsampling has touched. A neck's 1x1 lateral convolution on the coarsest level belongs to the neck, so the cut
there is its input.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import openvino as ov

from ..errors import ReciproCamError
from ..vocabulary import DetectorKind
from .dataflow import SPATIAL_OPS, DataGraph, Key, key_of, node_name
from .ops import is_constant

_NMS_OPS = frozenset(
    {"NonMaxSuppression", "MulticlassNms", "MatrixNms", "DetectionOutput", "ExperimentalDetectronDetectionOutput"}
)
_LAYOUT_OPS = frozenset({"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Convert"})
_ACTIVATIONS = frozenset({"Softmax", "Sigmoid", "LogSoftmax"})
# Per-pixel ops a lateral convolution may end in (its activation, a folded batch norm).
_PER_PIXEL = frozenset(
    {"Relu", "Swish", "Sigmoid", "HSwish", "HSigmoid", "Mish", "Clamp", "PRelu", "Elu", "Gelu", "BatchNormInference"}
)
_PER_PIXEL_WITH_CONSTANT = frozenset({"Add", "Multiply", "Subtract", "Divide"})


@dataclass(frozen=True)
class Level:
    """One scale of the head: its grid and the anchors each cell holds."""

    height: int
    width: int
    per_cell: int

    @property
    def anchors(self) -> int:
        return self.height * self.width * self.per_cell


@dataclass(frozen=True)
class DetectorHead:
    """A detector's outputs as `analysis.detections` reads them."""

    kind: DetectorKind
    scores_index: int  # the output holding the scores (the only one for OBJECTNESS)
    boxes_index: int  # the output holding the boxes or regressors
    anchors: int
    classes: int  # foreground classes: the background column of DECODED scores is not one
    background: bool  # DECODED scores' column 0 is the background (a softmax over them)
    levels: tuple[Level, ...]  # in the outputs' order
    input_size: tuple[int, int]  # (height, width) of the image input
    level_maps: tuple[ov.Output, ...] = field(repr=False)  # the head convolutions' maps, every output's
    # ANCHORS_LAST: the class rows [N, C, A] the output's Concat joins to the boxes, which the copies' scores read
    class_rows: ov.Output | None = field(default=None, repr=False)

    def describe(self) -> str:
        grids = ", ".join(f"{v.height}x{v.width}x{v.per_cell}" for v in self.levels)
        return f"{self.kind} detector, {self.anchors} anchors ({grids}), {self.classes} classes"


def refuse_inner_nms(model: ov.Model) -> None:
    """A model that selects its boxes itself has no per-anchor scores to explain, wherever the NMS sits: torchvision's
    detectors keep theirs inside an If's branch (skipped on an empty set of boxes), whose rank-2 outputs would pass
    for a classifier's."""
    for op in _ops_and_bodies(model):
        if op.get_type_name() in _NMS_OPS:
            raise ReciproCamError(
                f"the model selects its detections inside the graph ({op.get_type_name()} "
                f"'{op.get_friendly_name()}'): its maps need each anchor's scores, so export it without NMS"
            )


def _ops_and_bodies(model: ov.Model) -> Iterator[ov.Node]:
    """Every op of the model, and of the bodies of its If, Loop and TensorIterator ops, at any depth."""
    for op in model.get_ordered_ops():
        yield op
        kind = op.get_type_name()
        bodies = [op.get_then_body(), op.get_else_body()] if kind == "If" else []
        bodies += [op.get_function()] if kind in ("Loop", "TensorIterator") else []
        for body in bodies:
            yield from _ops_and_bodies(body)


def read_detector(model: ov.Model) -> DetectorHead | None:
    """The detector `model`'s outputs make, or None when they are no detector's (a classifier's, say)."""
    outputs = [r.input_value(0) for r in model.get_results()]
    shapes = [o.get_partial_shape() for o in outputs]
    if not shapes or any(s.rank.is_dynamic or s.rank.get_length() != 3 or not s[1:].is_static for s in shapes):
        return None
    anchors = {s[1].get_length() for s in shapes}
    if len(anchors) != 1 or len(outputs) > 2 or min(anchors) < 2:
        return None
    widths = [s[2].get_length() for s in shapes]
    size = _input_size(model)
    if len(outputs) == 1:
        if (last := _anchors_last(outputs[0], size)) is not None:
            return last
        if widths[0] < 6:
            return None
        levels, maps = _levels(outputs[0], widths[0])
        if not levels:  # no head's maps joined: a token model's output, say
            return None
        if sum(v.anchors for v in levels) != min(anchors):
            raise ReciproCamError(
                f"the output '{node_name(outputs[0])}' [N, {min(anchors)}, {widths[0]}] looks like a detector's, but "
                "its anchors are no head's grids: only raw YOLOX-style [N, A, 4 + 1 + C] outputs are read, and "
                "[N, 4 + C, A] ones whose C class rows end in a Sigmoid (Ultralytics')"
            )
        return DetectorHead(DetectorKind.OBJECTNESS, 0, 0, min(anchors), widths[0] - 5, False, levels, size, maps)
    scores = _scores_index(outputs, widths)
    if scores is None:
        return None
    boxes = 1 - scores
    activation = _activation(outputs[scores])
    decoded = _level_concat(outputs[boxes])[1]
    kind = DetectorKind.DECODED if decoded else DetectorKind.ANCHORED
    levels, maps = _levels(outputs[scores], widths[scores])
    _, box_maps = _levels(outputs[boxes], widths[boxes])
    if not levels:
        return None
    background = activation == "Softmax"
    classes = widths[scores] - (1 if background else 0)
    if kind is DetectorKind.DECODED and widths[boxes] != 4:
        return None
    if kind is DetectorKind.ANCHORED and (widths[boxes] == 4 or widths[scores] != 1):
        # Raw regressors about priors the graph does not hold, with logits whose activation it does not say: read
        # as MediaPipe's layout (keypoints, one logit), a torchvision SSD's boxes and softmax would come out wrong.
        raise ReciproCamError(
            f"the outputs '{node_name(outputs[boxes])}' [N, {min(anchors)}, {widths[boxes]}] and "
            f"'{node_name(outputs[scores])}' [N, {min(anchors)}, {widths[scores]}] look like a raw SSD head: its "
            "priors, box coding and score activation are not in the graph, and only MediaPipe's layout (regressors "
            "with keypoints beside one logit) is read raw; export it with its boxes decoded and its scores activated"
        )
    return DetectorHead(kind, scores, boxes, min(anchors), classes, background, levels, size, maps + box_maps)


def _anchors_last(output: ov.Output, size: tuple[int, int]) -> DetectorHead | None:
    """[N, 4 + C, A] with the anchors last: a Concat on the rows' axis of 4 box rows and C class rows that end in a
    Sigmoid, whose levels (the class branch's head maps, one anchor a cell) hold the A anchors (YOLOv8, YOLO11)."""
    node = output.get_node()
    shape = output.get_partial_shape()
    if node.get_type_name() != "Concat" or node.get_input_size() != 2 or node.get_attributes()["axis"] % 3 != 1:
        return None
    boxes, classes = node.input_values()
    if boxes.get_partial_shape()[1].get_length() != 4 or _activation(classes) != "Sigmoid":
        return None
    count = classes.get_partial_shape()[1].get_length()
    levels, maps = _levels(_activation_input(classes), count)
    levels = tuple(Level(v.height, v.width, 1) for v in levels)
    anchors = shape[2].get_length()
    if not levels or sum(v.anchors for v in levels) != anchors:
        return None
    return DetectorHead(DetectorKind.ANCHORS_LAST, 0, 0, anchors, count, False, levels, size, maps, classes)


def _activation_input(output: ov.Output) -> ov.Output:
    """What the activation an output ends in (`_activation`) reads."""
    node = output.get_node()
    while node.get_type_name() in _LAYOUT_OPS:
        node = node.input_value(0).get_node()
    return node.input_value(0)


def _input_size(model: ov.Model) -> tuple[int, int]:
    shape = model.get_parameters()[0].get_partial_shape()
    if shape.rank.is_dynamic or shape.rank.get_length() != 4 or not shape[1:].is_static:
        raise ReciproCamError("a detector needs a fixed input size to lay out its anchors; pass `input_shape`")
    a, b, c = (d.get_length() for d in shape[1:])
    return (a, b) if c in (1, 3) and a not in (1, 3) else (b, c)


def _scores_index(outputs: list[ov.Output], widths: list[int]) -> int | None:
    """Which of two outputs holds the scores: the activated one; else the one beside exactly 4 values a row (a box:
    a raw SSD or RetinaNet head's 4 regressors beside 91 logits); else the narrower (boxes with keypoints,
    BlazeFace's 16 regressors beside 1 logit)."""
    activated = [i for i, o in enumerate(outputs) if _activation(o) is not None]
    if len(activated) == 1:
        return activated[0]
    if widths.count(4) == 1:
        return 1 - widths.index(4)
    if widths[0] == widths[1] or max(widths) < 4:
        return None
    return widths.index(min(widths))


def _activation(output: ov.Output) -> str | None:
    """The Softmax or Sigmoid an output ends in, behind layout ops."""
    node = output.get_node()
    while node.get_type_name() in _LAYOUT_OPS:
        node = node.input_value(0).get_node()
    return node.get_type_name() if node.get_type_name() in _ACTIVATIONS else None


def _level_concat(output: ov.Output) -> tuple[ov.Node | None, bool]:
    """The Concat that joins an output's levels (the nearest, going back, whose inputs are head maps), and whether
    an Exp (the sizes' decode) lies between it and the output."""
    stack, seen, decoded = [output.get_node()], set(), False
    while stack:
        node = stack.pop(0)
        if node.get_instance_id() in seen or node.get_type_name() == "Parameter":
            continue
        seen.add(node.get_instance_id())
        if node.get_type_name() == "Concat" and node.get_input_size() > 1 and _level_inputs(node):
            return node, decoded
        decoded = decoded or node.get_type_name() == "Exp"
        stack.extend(v.get_node() for v in node.input_values() if not is_constant(v))
    return None, decoded


def _level_inputs(concat: ov.Node) -> list[ov.Output] | None:
    """Each input's head map, [1, c, h, w] behind layout ops, or None when an input has none."""
    maps = []
    for value in concat.input_values():
        node = value.get_node()
        while node.get_type_name() in _LAYOUT_OPS:
            value = node.input_value(0)
            node = value.get_node()
        shape = value.get_partial_shape()
        if shape.rank.is_dynamic or shape.rank.get_length() != 4 or not shape[1:].is_static:
            return None
        maps.append(value)
    return maps


def _levels(output: ov.Output, width: int) -> tuple[tuple[Level, ...], tuple[ov.Output, ...]]:
    """The levels an output's Concat joins, and their head maps; () when it joins none."""
    concat, _ = _level_concat(output)
    maps = _level_inputs(concat) if concat is not None else None
    if not maps:
        return (), ()
    levels = []
    for value in maps:
        c, h, w = (d.get_length() for d in value.get_partial_shape()[1:])
        per_cell, left = divmod(c, width)
        levels.append(Level(h, w, per_cell if not left and per_cell else 1))
    return tuple(levels), tuple(maps)


# --- the cut ---


@dataclass(frozen=True)
class Cut:
    """The tensors the masked copies replace, finest first, and the ops between them and the outputs."""

    tensors: tuple[ov.Output, ...] = field(repr=False)
    names: tuple[str, ...]  # each tensor's name, else its node's friendly name
    tail: frozenset = field(repr=False)  # instance ids of the ops the copies run (neck and heads)

    @property
    def grids(self) -> tuple[tuple[int, int], ...]:
        return tuple(_grid(t) for t in self.tensors)


def _grid(t: ov.Output) -> tuple[int, int]:
    shape = t.get_partial_shape()
    return shape[2].get_length(), shape[3].get_length()


def reference_of(t: ov.Output, graph: DataGraph) -> str:
    """How rt_info, `inspect` and `cut` name a cut tensor: its tensor name, else its op type and its depth among the
    dominators from the input ("Relu#37"), which a later read finds again (frontends number the friendly names of
    unnamed tensors, TFLite's, with a process-wide counter); else its node's friendly name."""
    names = sorted(t.get_names())
    if names:
        return names[0]
    path = _path(graph, t)
    return path if len(_by_path(graph, path)) == 1 else t.get_node().get_friendly_name()


def _path(graph: DataGraph, t: ov.Output) -> str:
    return f"{t.get_node().get_type_name()}#{len(graph.dominators(t)) - 1}"


def _by_path(graph: DataGraph, path: str) -> list[ov.Output]:
    kind = path.rpartition("#")[0]
    candidates = [graph.nodes[k[0]].output(k[1]) for k in graph.order if graph.nodes[k[0]].get_type_name() == kind]
    return [t for t in candidates if _path(graph, t) == path]


def find_cut(model: ov.Model, head: DetectorHead, names: tuple[str, ...] | None = None) -> Cut:
    """The cut `names` gives, else the one structure gives; checked to separate the input from the outputs."""
    graph = DataGraph(model)
    tensors = _named(model, graph, names) if names else _structural_cut(model, head)
    for t in tensors:
        shape = t.get_partial_shape()
        if shape.rank.is_dynamic or shape.rank.get_length() != 4 or not shape[1:].is_static:
            raise ReciproCamError(
                f"the cut tensor '{reference_of(t, graph)}' has the shape {shape}: each must be a static [N, C, h, w] "
                "map"
            )
    tensors = tuple(sorted(tensors, key=lambda t: -_grid(t)[0] * _grid(t)[1]))
    return Cut(tensors, tuple(reference_of(t, graph) for t in tensors), _tail(model, tensors))


def _named(model: ov.Model, graph: DataGraph, names: tuple[str, ...]) -> tuple[ov.Output, ...]:
    """Each name as a tensor name, a friendly name, or a path (`reference_of`)."""
    found = []
    for name in names:
        hits = [o for op in model.get_ordered_ops() for o in op.outputs() if name in o.get_names()]
        hits = hits or [op.output(0) for op in model.get_ordered_ops() if op.get_friendly_name() == name]
        if not hits and name.rpartition("#")[2].isdigit():
            hits = _by_path(graph, name)
        if len(hits) != 1:
            raise ReciproCamError(f"`cut` names '{name}', which {'no' if not hits else 'more than one'} tensor has")
        found.append(hits[0])
    return tuple(found)


def _tail(model: ov.Model, cut: tuple[ov.Output, ...]) -> frozenset:
    """The ops from the cut to the outputs; refused when one reads the input by another way than the cut."""
    graph = DataGraph(model)
    stop = {key_of(t) for t in cut}
    tail: set[int] = set()
    stack = [r.input_value(0) for r in model.get_results()]
    while stack:
        value = stack.pop()
        node = value.get_node()
        if key_of(value) in stop or node.get_instance_id() in tail or key_of(value) not in graph.order:
            continue
        if node.get_type_name() == "Parameter":
            raise ReciproCamError(
                "the cut tensors do not separate the input from the outputs: a path reaches the outputs past them; "
                "give `cut` one tensor per scale that every path goes through"
            )
        tail.add(node.get_instance_id())
        stack.extend(node.input_values())
    return frozenset(tail)


def _structural_cut(model: ov.Model, head: DetectorHead) -> tuple[ov.Output, ...]:
    graph = DataGraph(model)
    grids = sorted({(v.height, v.width) for v in head.levels}, key=lambda g: -g[0] * g[1])
    area = _areas(graph, grids)
    backbone = _backbone(graph, area)
    level_of = {k: _level(a, grids) for k, a in area.items()}
    handed: dict[int, set[Key]] = {i: set() for i in range(len(grids))}
    for k in graph.order:
        for p in graph.preds[k]:
            i = level_of[p]
            if i is None or p not in backbone:
                continue
            reader = level_of[k]
            if k not in backbone or (reader is not None and reader > i):
                handed[i].add(p)
    for value in head.level_maps:  # what each head convolution reads
        read = _head_input(value)
        if key_of(read) in backbone and (i := level_of[key_of(read)]) is not None:
            handed[i].add(key_of(read))
    cut = []
    for i, grid in enumerate(grids):
        found = _common_dominator(graph, handed[i], grid, area)
        if found is None:
            raise ReciproCamError(
                f"no tensor of the {grid[0]}x{grid[1]} level separates the backbone from the neck and heads; "
                "give `cut`, one tensor name per scale"
            )
        if i == len(grids) - 1 and len(backbone) < len(graph.order):
            found = _before_lateral(graph, found)
        level_maps = [m for m in head.level_maps if _grid(m) == grid]
        if level_maps and not any(_mixes_cells(graph, m, found) for m in level_maps):
            found = _stage_start(graph, found, area)
        cut.append(found)
    return tuple(cut)


def _mixes_cells(graph: DataGraph, head_map: ov.Output, cut: ov.Output) -> bool:
    """Whether an op with a window wider than one cell (a convolution's kernel, a pooling) lies between `cut` and
    a head map, which `cut` dominates.

    With none, as in BlazeFace, whose heads are 1x1 convolutions on the backbone's last map of each scale, a
    copy's score at an anchor reads the copy's own cell only: every detection's map would light its anchor's cell
    and nothing else, whatever the photo."""
    ops = (graph.nodes[i] for i in graph.between(cut, head_map))
    return any(
        op.get_type_name() in SPATIAL_OPS
        and not (op.get_type_name() in ("Convolution", "GroupConvolution") and _single_cell(op))
        for op in ops
    )


def _single_cell(conv: ov.Node) -> bool:
    """A 1x1 kernel (a Convolution's weights [O, I, 1, 1], a GroupConvolution's [G, O, I, 1, 1])."""
    weights = conv.get_input_partial_shape(1)
    return weights.is_static and all(d == 1 for d in list(weights.to_shape())[-2:])


def _stage_start(graph: DataGraph, value: ov.Output, area: dict[Key, float | None]) -> ov.Output:
    """The earliest tensor on the grid of `value` that dominates it: where its backbone stage begins, so that the
    copies run the stage's convolutions and a detection's map shows what around its anchor it read. Past the
    activation that alone reads it (the same maps: a masked zero stays zero), as a person names a stage's map."""
    start = value
    for k in (key_of(d) for d in graph.dominators(value)[1:]):
        earlier = graph.nodes[k[0]].output(k[1])
        if area[k] is None or _grid(earlier) != _grid(value):
            break
        start = earlier
    readers = [i.get_node() for i in graph.consumers_of(start)]
    if key_of(start) != key_of(value) and len(readers) == 1 and readers[0].get_type_name() in _PER_PIXEL:
        return readers[0].output(0)
    return start


def _areas(graph: DataGraph, grids: list[tuple[int, int]]) -> dict[Key, float | None]:
    """h * w of each map downstream of a spatial op (OpenVINO's convolutions are NCHW); None for other tensors and
    for what a layout op (a head's Transpose to NHWC, say) made of a map, but a Reshape back to [N, C, h, w] on a
    level's grid (YOLO11's attention block turns its tokens back into its 10x10 map)."""
    areas: dict[Key, float | None] = {}
    for k in graph.order:
        node = graph.nodes[k[0]]
        shape = node.get_output_partial_shape(k[1])
        relaid = node.get_type_name() in _LAYOUT_OPS | {"Gather"}
        if graph.spatial[k] and _map_again(node, shape, grids):
            areas[k] = float(shape[2].get_length() * shape[3].get_length())
        elif (
            not graph.spatial[k]
            or relaid
            or any(graph.spatial[p] and areas[p] is None for p in graph.preds[k])
            or shape.rank.is_dynamic
            or shape.rank.get_length() != 4
            or not shape[2:].is_static
        ):
            areas[k] = None
        else:
            areas[k] = float(shape[2].get_length() * shape[3].get_length())
    return areas


def _map_again(node: ov.Node, shape: ov.PartialShape, grids: list[tuple[int, int]]) -> bool:
    """A Reshape to [N, C, h, w] on a level's grid: a map again, whatever it was made from."""
    if node.get_type_name() != "Reshape" or shape.rank.is_dynamic or shape.rank.get_length() != 4:
        return False
    return shape[2:].is_static and (shape[2].get_length(), shape[3].get_length()) in grids


def _backbone(graph: DataGraph, area: dict[Key, float | None]) -> set[Key]:
    """Tensors no path from the input reaches through an upsampling (a grid at least twice the finest before)."""
    smallest: dict[Key, float] = {}
    backbone: set[Key] = set()
    for k in graph.order:  # topological
        before = [smallest[p] for p in graph.preds[k]]
        low = min(before, default=math.inf)
        own = area[k]
        if all(p in backbone for p in graph.preds[k]) and (own is None or own < 2 * low):
            backbone.add(k)
        smallest[k] = min(low, own) if own is not None else low
    return backbone


def _level(a: float | None, grids: list[tuple[int, int]]) -> int | None:
    """The level whose grid is within a factor of 2 in area (a padded map belongs to its level)."""
    if a is None:
        return None
    return next((i for i, g in enumerate(grids) if abs(math.log2(a / (g[0] * g[1]))) < 1), None)


def _common_dominator(
    graph: DataGraph, keys: set[Key], grid: tuple[int, int], area: dict[Key, float | None]
) -> ov.Output | None:
    """The nearest tensor of exactly `grid` that dominates every tensor of `keys` (each dominates itself)."""
    if not keys:
        return None
    chains = [[key_of(o) for o in graph.dominators(graph.nodes[k[0]].output(k[1]))] for k in keys]
    others = [set(c) for c in chains[1:]]
    for k in chains[0]:
        value = graph.nodes[k[0]].output(k[1])
        if all(k in c for c in others) and area[k] is not None and _grid(value) == grid:
            return value
    return None


def _before_lateral(graph: DataGraph, value: ov.Output) -> ov.Output:
    """Past a 1x1 lateral convolution (and the per-pixel ops after it) that alone reads its input."""
    node = value.get_node()
    while _per_pixel(node):
        node = next(v for v in node.input_values() if not is_constant(v)).get_node()
    if node.get_type_name() != "Convolution" or not _pointwise(node):
        return value
    source = node.input_value(0)
    if len(graph.consumers_of(source)) != 1 or _grid(source) != _grid(value):
        return value
    return source


def _head_input(value: ov.Output) -> ov.Output:
    """The tensor the convolution that makes a head map reads (past its bias and activation)."""
    node = value.get_node()
    while _per_pixel(node):
        node = next(v for v in node.input_values() if not is_constant(v)).get_node()
    return node.input_value(0) if node.get_type_name() in ("Convolution", "GroupConvolution") else value


def _per_pixel(node: ov.Node) -> bool:
    kind = node.get_type_name()
    if kind in _PER_PIXEL:
        return True
    return kind in _PER_PIXEL_WITH_CONSTANT and sum(not is_constant(v) for v in node.input_values()) == 1


def _pointwise(conv: ov.Node) -> bool:
    return _single_cell(conv) and list(conv.get_attributes()["strides"]) == [1, 1]
