"""Max, average and power-average pooling (and the max/avg gradients) through the compiled kernels, when loaded.

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

#: torch's special exponents of ``pow(tensor, scalar)`` -> the kernel's ``mode`` (:func:`convwise.kernels.pool._power`);
#: any other exponent is mode 0, ``pow``
POWER_MODES = {1.0: 1, 2.0: 2, 3.0: 3, 0.5: 4, -0.5: 5, -1.0: 6, -2.0: 7}

__all__ = ["POWER_MODES", "avg_pool", "avg_pool_backward", "lp_pool", "max_pool", "max_pool_backward"]


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


def lp_pool(x: np.ndarray, geometry, p: float, volume: int):
    """torch's ``lp_pool`` for a finite ``p`` (no padding, dilation 1), or ``None`` while the kernel is not ready.

    Exponents without a special case (:data:`POWER_MODES`) are NumPy's ``power`` (SIMD) on
    either side of the kernel."""
    if not _usable(x, "lp_pool"):
        return None
    y = np.empty(x.shape[:2] + tuple(geometry.output_size), dtype=x.dtype)
    scalar = x.dtype.type
    inverse = 1.0 / p
    mode, inverse_mode = POWER_MODES.get(p, 0), POWER_MODES.get(inverse, 0)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        source = x if mode else np.power(x, scalar(p))
        launch("lp_pool", _planes(source), _geo(geometry), mode or 1, inverse_mode, scalar(volume), _planes(y),
               work=y.size * math.prod(geometry.kernel_size))
        if not inverse_mode:
            np.power(y, scalar(inverse), out=y)
    return y


def max_pool_backward(grad: np.ndarray, indices: np.ndarray, input_shape):
    """The input gradient of max pooling (``grad`` scattered through ``indices``), or ``None`` while not ready."""
    if not _usable(grad, "max_pool_backward"):
        return None
    planes = input_shape[0] * input_shape[1]
    gx = np.empty(tuple(input_shape), dtype=grad.dtype)
    index = np.ascontiguousarray(indices, dtype=np.int64).reshape(planes, -1)
    launch("max_pool_backward", np.ascontiguousarray(grad).reshape(planes, -1), index, gx.reshape(planes, -1),
           work=gx.size + grad.size)
    return gx


def avg_pool_backward(grad: np.ndarray, geometry, count_include_pad: bool, divisor_override: int | None,
                      input_shape):
    """The input gradient of average pooling, or ``None`` while the kernel is not ready."""
    if not _usable(grad, "avg_pool_backward"):
        return None
    gx = np.empty(tuple(input_shape), dtype=grad.dtype)
    launch("avg_pool_backward", _planes(grad), _geo(geometry), bool(count_include_pad), int(divisor_override or 0),
           _planes(gx), work=grad.size * math.prod(geometry.kernel_size))
    return gx
