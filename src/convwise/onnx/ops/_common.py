"""Helpers shared by the op families: argument checks and the per-rank functional op."""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ..._guard import require_memory
from .._graph import Node

__all__ = ["spatial_input", "kernel_of", "by_rank", "require_output", "float_input"]


def float_input(node: Node, x: np.ndarray, what: str = "input") -> np.ndarray:
    """``x`` as float32/float64; other dtypes are refused naming the node."""
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{node.where}: {what} must be float32 or float64, got {x.dtype}")
    return x


def spatial_input(node: Node, x: np.ndarray) -> int:
    """The number of spatial dimensions of an ``(N, C, *spatial)`` input (1, 2 or 3)."""
    float_input(node, x)
    if not 3 <= x.ndim <= 5:
        raise ValueError(f"{node.where}: input must be (N, C, *spatial) with 1 to 3 spatial dimensions, "
                         f"got shape {x.shape}")
    return x.ndim - 2


def kernel_of(node: Node, spatial: int, weight_shape=None) -> tuple[int, ...]:
    """``kernel_shape`` (required by pooling; for Conv it must agree with the weight)."""
    kernel = node.attr("kernel_shape")
    if kernel is None:
        if weight_shape is None:
            raise ValueError(f"{node.where}: kernel_shape is required")
        return tuple(int(k) for k in weight_shape[2:])
    kernel = tuple(int(k) for k in kernel)
    if len(kernel) != spatial or any(k < 1 for k in kernel):
        raise ValueError(f"{node.where}: kernel_shape={list(kernel)} must be {spatial} positive ints")
    if weight_shape is not None and kernel != tuple(weight_shape[2:]):
        raise ValueError(f"{node.where}: kernel_shape={list(kernel)} disagrees with the weight shape "
                         f"{tuple(weight_shape)}")
    return kernel


def by_rank(name: str, spatial: int):
    """``convwise.functional`` op ``name`` for ``spatial`` dimensions, e.g. ``conv`` 2 -> ``conv2d``."""
    return getattr(F, f"{name}{spatial}d")


def require_output(node: Node, shape, dtype) -> None:
    """The memory guard for an array of ``shape`` the node is about to allocate."""
    require_memory(node.where, int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize,
                   what="node output")
