"""ViT-ReciproCAM's masked token copies, scored by a clone of the last block(s) and the head.

Copy n of image b keeps the P prefix tokens and patch token n (Kernel.ONEHOT), or the 3x3
neighbourhood of n weighted [[1, 2, 1], [2, 4, 2], [1, 2, 1]] / 16, cut at the borders
(Kernel.GAUSSIAN). As in openvino_xai's ViTReciproCAM, the mask applies twice: to the residual
stream entering the block and to the output of the block's first norm, which the original model
already computed on the unmasked tokens (a per-token norm gives kept tokens the same value).
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ...vocabulary import Kernel
from ..graph_ops import i64
from ..kernels import copy_weights_in_graph
from ..scoring import CopyScores, ScoreSource
from ..tail_clone import TailClone
from .locate import TokenLocated
from .shortcut import TokenTail, closed_form_scores


def token_masks(h: int, w: int, prefix: int, kernel: Kernel, dtype: ov.Type) -> ov.Output:
    """[h*w, P + h*w]: copy n's weight for every token, the prefix tokens kept whole."""
    masks = copy_weights_in_graph(h, w, kernel)
    if prefix:
        masks = ops.concat([ops.constant(np.ones((h * w, prefix), np.float32)), masks], 1).output(0)
    return ops.convert(masks, dtype).output(0) if dtype != ov.Type.f32 else masks


def _masked_copies(tokens: ov.Output, masks: ov.Output) -> ov.Output:
    """[B*h*w, T, D]: tokens [B, T, D] times each copy's mask."""
    d = tokens.get_partial_shape()[2].get_length()
    t = tokens.get_partial_shape()[1].get_length()
    copies = ops.multiply(ops.unsqueeze(tokens, i64(1)), ops.unsqueeze(masks, i64(0, 3)))  # masks as [1, h*w, T, 1]
    return ops.reshape(copies, i64(-1, t, d), special_zero=False).output(0)


def tail_scores(
    model: ov.Model, found: TokenLocated, source: ScoreSource, kernel: Kernel = Kernel.GAUSSIAN, fast: bool = True
) -> CopyScores:
    """`source.tensor` [B*h*w, classes] for the masked token copies.

    With `fast`, heads that read only prefix tokens or average tokens take the closed form
    (`shortcut`); any other runs the mosaic: the rest of the model on every copy.
    """
    located, block = found.located, found.block
    t = located.target
    masks = token_masks(t.height, t.width, found.prefix, kernel, t.output.get_element_type())
    closed = closed_form_scores(model, found, source, masks, kernel) if fast else None
    if closed is not None:
        return closed
    clone = TailClone(model, located)
    clone.feed_target(_masked_copies(t.output, masks))
    clone.replace_uses(block.norm.get_node(), _masked_copies(block.norm, masks))
    return CopyScores(clone.value(source.tensor), TokenTail.MOSAIC)
