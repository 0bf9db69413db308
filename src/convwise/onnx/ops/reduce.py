"""ReduceMean, ReduceMax, ReduceSum (what exporters emit for global pooling and ``x.mean((2, 3))``)."""

from __future__ import annotations

import numpy as np

from .._graph import Node
from . import Op
from ._common import float_input

__all__ = ["OPS", "reduced_axes"]


def reduced_axes(node: Node, inputs, opset: int, ndim: int) -> tuple[int, ...]:
    """The axes a Reduce node reduces (all of them when none are given, unless ``noop_with_empty_axes``)."""
    takes_input = opset >= 18 or (node.op == "ReduceSum" and opset >= 13)
    axes = (inputs[1] if len(inputs) > 1 else None) if takes_input else node.attr("axes")
    if axes is None or len(axes) == 0:
        return () if node.attr("noop_with_empty_axes", 0) else tuple(range(ndim))
    result = []
    for axis in (int(a) for a in np.ravel(axes)):
        if not -ndim <= axis < ndim:
            raise ValueError(f"{node.where}: axis {axis} is out of range for a {ndim}-D input")
        result.append(axis % ndim)
    return tuple(sorted(set(result)))


def _reduce(function):
    def run(node: Node, inputs, opset: int):
        x = float_input(node, inputs[0])
        axes = reduced_axes(node, inputs, opset, x.ndim)
        if not axes:
            return [x.copy()]
        return [np.asarray(function(x, axis=axes, keepdims=bool(node.attr("keepdims", 1))), dtype=x.dtype)]
    return run


OPS = {
    "ReduceMean": Op(_reduce(lambda x, **kw: np.mean(x, dtype=x.dtype, **kw))),
    "ReduceMax": Op(_reduce(np.max)),
    "ReduceSum": Op(_reduce(lambda x, **kw: np.sum(x, dtype=x.dtype, **kw))),
}
