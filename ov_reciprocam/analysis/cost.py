"""What a model costs, in multiply-accumulates: the floor `bench` compares the saliency branch with."""

from __future__ import annotations

import numpy as np
import openvino as ov


def macs(op: ov.Node) -> int:
    """Multiply-accumulates of one convolution or MatMul at its static shapes (0 for other ops)."""
    kind = op.get_type_name()
    out = op.get_output_partial_shape(0)
    if kind not in ("Convolution", "GroupConvolution", "MatMul") or not out.is_static:
        return 0
    weights = op.get_input_partial_shape(1)
    if not weights.is_static:
        return 0
    w = list(weights.get_shape())
    outputs = int(np.prod(list(out.get_shape())))
    if kind == "Convolution":  # [Cout, Cin, kh, kw]
        return outputs * int(np.prod(w[1:]))
    if kind == "GroupConvolution":  # [G, Cout/G, Cin/G, kh, kw]
        return outputs * int(np.prod(w[2:]))
    a = list(op.get_input_partial_shape(0).get_shape()) if op.get_input_partial_shape(0).is_static else None
    if a is None:
        return 0
    contraction = a[-2] if op.get_attributes()["transpose_a"] else a[-1]
    return outputs * contraction


def total_macs(model: ov.Model) -> int:
    return sum(macs(op) for op in model.get_ordered_ops())
