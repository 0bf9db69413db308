"""Max and average pooling through the compiled kernels, when they are loaded.

``convwise.functional.pooling`` asks these first; ``None`` means "not ready yet" (the
kernel is loading in the background, or numba is unavailable) and the NumPy path
answers. Inputs are batched ``(N, C, *spatial)`` float32/float64 arrays with a validated
:class:`convwise.arithmetic.PoolGeometry`; the results have torch's values, indices
and divisors (see :mod:`convwise.kernels.pool`).
"""

from __future__ import annotations

import math

import numpy as np

from . import launch, ready

__all__ = ["avg_pool", "max_pool"]


def _planes(x: np.ndarray) -> np.ndarray:
    """``(N, C, *spatial)`` as writable C-contiguous ``(N*C, D, H, W)`` planes (a view when possible)."""
    if not (x.flags.c_contiguous and x.flags.writeable):
        x = np.array(x, order="C")
    return x.reshape((x.shape[0] * x.shape[1],) + (1,) * (5 - x.ndim) + x.shape[2:])


def _geo(geometry) -> np.ndarray:
    pad = 3 - geometry.ndim
    return np.array((1,) * pad + tuple(geometry.kernel_size) + (1,) * pad + tuple(geometry.stride)
                    + (1,) * pad + tuple(geometry.dilation) + (0,) * pad
                    + tuple(lo for lo, _ in geometry.padding), dtype=np.int64)


def _usable(x: np.ndarray, name: str) -> bool:
    return x.dtype in (np.float32, np.float64) and x.size > 0 and ready(name, x.dtype)


def max_pool(x: np.ndarray, geometry, with_indices: bool = True):
    """``(y, indices or None)`` of max pooling, or ``None`` while the kernel is not ready."""
    if not _usable(x, "max_pool"):
        return None
    shape = x.shape[:2] + tuple(geometry.output_size)
    y = np.empty(shape, dtype=x.dtype)
    index = np.empty(shape if with_indices else (1,) * len(shape), dtype=np.int64)
    launch("max_pool", _planes(x), _geo(geometry), bool(with_indices), _planes(y), _planes(index),
           work=y.size * math.prod(geometry.kernel_size))
    return y, (index if with_indices else None)


def avg_pool(x: np.ndarray, geometry, count_include_pad: bool, divisor_override: int | None):
    """Average pooling with torch's divisor, or ``None`` while the kernel is not ready."""
    if not _usable(x, "avg_pool"):
        return None
    y = np.empty(x.shape[:2] + tuple(geometry.output_size), dtype=x.dtype)
    launch("avg_pool", _planes(x), _geo(geometry), bool(count_include_pad), int(divisor_override or 0),
           _planes(y), work=y.size * math.prod(geometry.kernel_size))
    return y
