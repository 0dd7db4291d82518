"""Method families behind one protocol (`protocol.Family`): each locates its target and builds the saliency branch.

A new family is a folder here with a `Family` object, added to FAMILIES before the ones it is more
specific than; what two families share lives in this folder's modules (base, scoring, saliency,
tail_clone, graph_ops), never in another family's private names.
"""

from __future__ import annotations

from typing import Any

import openvino as ov

from ..vocabulary import PatchOptions
from .base import Located
from .cnn.family import CNN
from .protocol import Family, Found
from .vit.family import TOKENS

# Most specific first: a transformer has a patch-embedding convolution the CNN family would take.
FAMILIES: tuple[Family[Any], ...] = (TOKENS, CNN)


def locate_family(model: ov.Model, options: PatchOptions | None = None) -> Found[Any]:
    """The first family's answer for `model` (the CNN family answers for any classifier, or raises why not)."""
    options = options or PatchOptions()
    for family in FAMILIES:
        if (found := family.locate(model, options)) is not None:
            return found
    raise AssertionError("the CNN family answers or raises")


def locate(
    model: ov.Model, target: str | None = None, scores_output: str | None = None, target_layout: str | None = None
) -> Located:
    """Where `model` would be explained: its class scores, their kind, the target and the candidates.

    target: a tensor name, friendly name or path (TYPE#N); None: the family's automatic choice.
    scores_output, target_layout: as for `patch`. A transformer whose input size is open gets the
    size its position embeddings demand.
    """
    options = PatchOptions.of(target=target, scores_output=scores_output, target_layout=target_layout)
    return locate_family(model, options).located
