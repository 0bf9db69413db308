"""Conv and ConvTranspose on :mod:`convwise.functional` (1, 2 or 3 spatial dimensions)."""

from __future__ import annotations

import numpy as np

from .._geometry import conv_window, transpose_window
from .._graph import Node
from . import Op
from ._common import by_rank, kernel_of, require_output, spatial_input

__all__ = ["OPS"]


def _weights(node: Node, inputs):
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    spatial = spatial_input(node, x)
    if w.ndim != spatial + 2:
        raise ValueError(f"{node.where}: weight must be {spatial + 2}D, got shape {w.shape}")
    group = int(node.attr("group", 1))
    if group < 1:
        raise ValueError(f"{node.where}: group={group} must be positive")
    return x, w, b, spatial, group


def conv(node: Node, inputs, opset: int):
    x, w, b, spatial, group = _weights(node, inputs)
    geometry = conv_window(node, x.shape[2:], kernel_of(node, spatial, w.shape))
    y = by_rank("conv", spatial)(x, w, b, geometry.stride, geometry.padding, geometry.dilation, group)
    return [y]


def conv_transpose(node: Node, inputs, opset: int):
    x, w, b, spatial, group = _weights(node, inputs)
    window = transpose_window(node, x.shape[2:], kernel_of(node, spatial, w.shape))
    run = by_rank("conv_transpose", spatial)
    natural = tuple(f - lo - hi for f, (lo, hi) in zip(window.full_size, window.padding))
    extra = tuple(o - n for o, n in zip(window.output_size, natural))
    if all(lo >= 0 and hi >= 0 for lo, hi in window.padding) and \
            all(0 <= e < max(s, d) for e, s, d in zip(extra, window.stride, window.dilation)):
        return [run(x, w, b, window.stride, window.padding, extra, group, window.dilation)]
    # a crop or extension convwise's (torch's) rules do not allow: compute the full result, then window it
    full = run(x, w, None, window.stride, 0, 0, group, window.dilation)
    c_out = full.shape[1]
    shape = (x.shape[0], c_out, *window.output_size)
    require_output(node, shape, x.dtype)
    y = np.zeros(shape, dtype=x.dtype)
    source, target = [slice(None)] * 2, [slice(None)] * 2
    for f, o, (lo, _hi) in zip(window.full_size, window.output_size, window.padding):
        first, last = max(lo, 0), min(lo + o, f)
        source.append(slice(first, max(last, first)))
        target.append(slice(first - lo, max(last, first) - lo))
    y[tuple(target)] = full[tuple(source)]
    if b is not None:
        y += b.astype(x.dtype, copy=False).reshape((-1,) + (1,) * spatial)
    return [y]


OPS = {"Conv": Op(conv), "ConvTranspose": Op(conv_transpose)}
