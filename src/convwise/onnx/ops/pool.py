"""MaxPool, AveragePool, LpPool and the global pools, with ONNX's padding rules.

ONNX pads may be asymmetric and as large as the kernel, which torch-style pooling does
not allow; so each node pads explicitly first (``-inf`` for max, ``0`` for sums) to the
extent its :func:`~convwise.onnx._geometry.pool_window` sweeps, then pools with no
padding. Averages divide the window sums by the count of cells ONNX counts: the input
cells only (``count_include_pad=0``, the default) or input and ``pads`` cells, never the
cells a ``ceil_mode`` window hangs past the pads.
"""

from __future__ import annotations

import math

import numpy as np

from ... import functional as F
from .._geometry import pool_window
from .._graph import Node
from . import Op
from ._common import by_rank, float_input, kernel_of, require_output, spatial_input

__all__ = ["OPS"]


def _padded(node: Node, x: np.ndarray, padding, fill: float) -> np.ndarray:
    if all(lo == 0 and hi == 0 for lo, hi in padding):
        return x
    shape = (*x.shape[:2], *(i + lo + hi for i, (lo, hi) in zip(x.shape[2:], padding)))
    require_output(node, shape, x.dtype)
    flat = [v for lo_hi in reversed(padding) for v in lo_hi]  # torch order: last dimension first
    return F.pad(x, tuple(flat), value=fill)


def _window_sums(node: Node, x: np.ndarray, geometry) -> np.ndarray:
    """Sum of each window of ``x`` padded with zeros by ``geometry.padding``, dilation included."""
    xp = _padded(node, x, geometry.padding, 0.0)
    return _sums(xp, geometry)


def _sums(xp: np.ndarray, geometry) -> np.ndarray:
    """Sum of each window of an already padded ``xp``."""
    spatial = xp.ndim - 2
    if any(d != 1 for d in geometry.dilation):  # a depthwise convolution with a kernel of ones
        c = xp.shape[1]
        ones = np.ones((c, 1, *geometry.kernel_size), dtype=xp.dtype)
        return by_rank("conv", spatial)(xp, ones, None, geometry.stride, 0, geometry.dilation, c)
    if spatial == 1:  # avg_pool1d has no divisor_override: run it as a 2-D pool of height 1
        y = F.avg_pool2d(xp[:, :, None, :], (1, *geometry.kernel_size), (1, *geometry.stride),
                         divisor_override=1)
        return y[:, :, 0, :]
    return by_rank("avg_pool", spatial)(xp, geometry.kernel_size, geometry.stride, divisor_override=1)


def _counts(node: Node, x: np.ndarray, geometry, pads, include_pad: bool) -> np.ndarray:
    """How many cells each window averages over, shaped to broadcast against the output."""
    counted = [(i + lo + hi) if include_pad else i for i, (lo, hi) in zip(x.shape[2:], pads)]
    mask = np.ones((1, 1, *counted), dtype=np.float64)
    if include_pad:  # the node's own pads count; only the ceil_mode overhang does not
        around = tuple((glo - lo, ghi - hi) for (glo, ghi), (lo, hi) in zip(geometry.padding, pads))
    else:
        around = geometry.padding
    return _sums(np.pad(mask, ((0, 0), (0, 0), *around)), geometry)


def max_pool(node: Node, inputs, opset: int):
    x = inputs[0]
    spatial = spatial_input(node, x)
    geometry, _ = pool_window(node, x.shape[2:], kernel_of(node, spatial))
    xp = _padded(node, x, geometry.padding, -np.inf)
    return [by_rank("max_pool", spatial)(xp, geometry.kernel_size, geometry.stride, 0, geometry.dilation)]


def _check_max_pool(node: Node, opset: int) -> None:
    if len(node.outputs) > 1 and node.outputs[1]:
        raise ValueError(f"{node.where}: the Indices output of MaxPool is not supported")
    if node.attr("storage_order", 0):
        raise ValueError(f"{node.where}: storage_order=1 is not supported")


def average_pool(node: Node, inputs, opset: int):
    x = inputs[0]
    spatial = spatial_input(node, x)
    geometry, pads = pool_window(node, x.shape[2:], kernel_of(node, spatial))
    sums = _window_sums(node, x, geometry)
    counts = _counts(node, x, geometry, pads, bool(node.attr("count_include_pad", 0)))
    with np.errstate(invalid="ignore", divide="ignore"):  # a window of padding only: 0/0 -> NaN, as ONNX Runtime
        return [(sums / counts.astype(x.dtype)).astype(x.dtype, copy=False)]


def lp_pool(node: Node, inputs, opset: int):
    x = inputs[0]
    spatial = spatial_input(node, x)
    geometry, _ = pool_window(node, x.shape[2:], kernel_of(node, spatial))
    p = float(node.attr("p", 2))
    powered = np.abs(x) ** x.dtype.type(p)
    return [_root(_window_sums(node, powered, geometry), p)]


def _root(sums: np.ndarray, p: float) -> np.ndarray:
    if p == 1:
        return sums
    if p == 2:
        return np.sqrt(sums)
    return sums ** sums.dtype.type(1.0 / p)


def _global(reduce):
    def run(node: Node, inputs, opset: int):
        x = float_input(node, inputs[0])
        if x.ndim < 3:
            raise ValueError(f"{node.where}: input must be (N, C, *spatial), got shape {x.shape}")
        return [reduce(node, x, tuple(range(2, x.ndim)))]
    return run


def _global_lp(node: Node, x: np.ndarray, axes) -> np.ndarray:
    p = float(node.attr("p", 2))
    return _root(np.sum(np.abs(x) ** x.dtype.type(p), axis=axes, keepdims=True), p)


def _check_lp(node: Node, opset: int) -> None:
    p = node.attr("p", 2)
    if not isinstance(p, (int, float)) or not math.isfinite(p) or p <= 0:
        raise ValueError(f"{node.where}: p={p!r} must be a positive number")


OPS = {
    "MaxPool": Op(max_pool, _check_max_pool),
    "AveragePool": Op(average_pool),
    "LpPool": Op(lp_pool, _check_lp),
    "GlobalMaxPool": Op(_global(lambda node, x, axes: np.max(x, axis=axes, keepdims=True))),
    "GlobalAveragePool": Op(_global(lambda node, x, axes: np.mean(x, axis=axes, keepdims=True, dtype=x.dtype))),
    "GlobalLpPool": Op(_global(_global_lp), _check_lp),
}
