"""Power-average pooling, as ``torch.nn.functional.lp_pool1d/2d/3d``, and its gradient.

torch defines it through average pooling, and so does this module, step for step (in one
compiled pass, :func:`convwise.kernels.pool.lp_pool`, once it is loaded; NumPy until then)::

    a = avg_pool(x ** p, kernel_size, stride, padding=0, ceil_mode)
    y = (sign(a) * relu(abs(a)) * prod(kernel_size)) ** (1 / p)

so with ``ceil_mode`` a partial last window is still scaled by the full kernel size, as
in torch. ``p = inf`` is ``max_pool(abs(x))`` and ``p = -inf`` is ``-max_pool(-abs(x))``.
The gradient follows torch's autograd through the same steps; where ``a`` is 0 it is 0
(``relu``'s gradient at 0), as torch documents.

>>> lp_pool1d(np.array([[3.0, 4.0, 1.0, 1.0]]), 2, 2).tolist()
[[5.0, 1.4142135623730951]]
"""

from __future__ import annotations

import math

import numpy as np

from .. import arithmetic
from ..algorithms import pooling as kernels
from ._args import from_batched
from ._dtypes import as_array, check_dtype
from .pooling import _input, avg_pool_nd, avg_pool_nd_backward, max_pool_nd, max_pool_nd_backward

__all__ = ["lp_pool1d", "lp_pool2d", "lp_pool3d", "lp_pool_nd", "lp_pool_nd_backward"]

def _norm(norm_type, fn: str) -> float:
    if isinstance(norm_type, (bool, np.bool_)) or not isinstance(norm_type, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: norm_type must be a real number, got {type(norm_type).__name__} {norm_type!r}")
    if norm_type == 0 or math.isnan(norm_type):      # torch divides by it (ZeroDivisionError) or returns NaN
        raise ValueError(f"{fn}: norm_type must be non-zero and not NaN (the result is a 1/norm_type power), "
                         f"got norm_type={norm_type!r}")
    return float(norm_type)


def _kernel_volume(kernel_size, spatial: int, fn: str) -> int:
    return math.prod(arithmetic.ntuple(kernel_size, spatial, fn=fn, name="kernel_size", minimum=1))


def lp_pool_nd(input, norm_type, kernel_size, stride=None, ceil_mode=False, *, spatial: int, fn: str = "lp_pool"):
    """N-dimensional power-average pooling; ``lp_pool1d/2d/3d`` fix ``spatial``."""
    x = as_array(input, fn=fn, name="input")
    check_dtype(x, fn, fn=fn)
    p = _norm(norm_type, fn)
    if x.dtype == np.float16:
        return lp_pool_nd(x.astype(np.float32), p, kernel_size, stride, ceil_mode, spatial=spatial,
                          fn=fn).astype(np.float16)
    volume = _kernel_volume(kernel_size, spatial, fn)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if p == math.inf:
            return max_pool_nd(np.abs(x), kernel_size, stride, 0, 1, ceil_mode, spatial=spatial, fn=fn)
        if p == -math.inf:
            return -max_pool_nd(-np.abs(x), kernel_size, stride, 0, 1, ceil_mode, spatial=spatial, fn=fn)
    batched, unbatched = _input(x, spatial, fn)
    geometry = arithmetic.pool_geometry(batched.shape[2:], kernel_size, stride, 0, 1, ceil_mode, fn=fn)
    return from_batched(kernels.lp_pool(batched, geometry, p, volume, fn=fn), unbatched)


def lp_pool_nd_backward(grad_output, input, norm_type, kernel_size, stride=None, ceil_mode=False, *, spatial: int,
                        fn: str = "lp_pool_backward"):
    """Gradient of :func:`lp_pool_nd` with respect to its input (torch's autograd, step by step).

    >>> grad = lp_pool_nd_backward(np.ones((1, 1)), np.array([[3.0, 4.0]]), 2, 2, spatial=1)
    >>> grad.round(12).tolist()
    [[0.6, 0.8]]
    """
    x = as_array(input, fn=fn, name="input")
    p = _norm(norm_type, fn)
    g = as_array(grad_output, fn=fn, name="grad_output")
    if x.dtype.name not in ("float32", "float64") or g.dtype != x.dtype:
        raise TypeError(f"{fn}: input and grad_output must both be float32 or both float64, got {x.dtype} and "
                        f"{g.dtype}")
    volume = x.dtype.type(_kernel_volume(kernel_size, spatial, fn))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if abs(p) == math.inf:
            sign = 1 if p > 0 else -1
            pooled, indices = max_pool_nd(sign * np.abs(x), kernel_size, stride, 0, 1, ceil_mode, True,
                                          spatial=spatial, fn=fn)
            if g.shape != pooled.shape:
                raise ValueError(f"{fn}: grad_output must have the forward output's shape {pooled.shape}, "
                                 f"got {g.shape}")
            grad = max_pool_nd_backward(g, sign * np.abs(x), indices, kernel_size, stride, 0, 1, ceil_mode,
                                        spatial=spatial, fn=fn)
            return grad * np.sign(x)          # d|x|/dx, with the two signs of -max(-|x|) cancelling
        xp = kernels.torch_power(x, p)
        a = avg_pool_nd(xp, kernel_size, stride, 0, ceil_mode, spatial=spatial, fn=fn)
        if g.shape != a.shape:
            raise ValueError(f"{fn}: grad_output must have the forward output's shape {a.shape}, got {g.shape}")
        t = a * volume
        grad_t = g * x.dtype.type(1.0 / p) * kernels.torch_power(t, 1.0 / p - 1.0)
        grad_rectified = grad_t * volume * np.sign(a)
        grad_a = np.where(np.abs(a) <= 0, x.dtype.type(0), grad_rectified) * np.sign(a)
        grad_xp = avg_pool_nd_backward(grad_a, xp, kernel_size, stride, 0, ceil_mode, True, None,
                                       spatial=spatial, fn=fn)
        if p == 0:
            return np.zeros_like(x)
        return grad_xp * x.dtype.type(p) * kernels.torch_power(x, p - 1.0)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """1D power-average pooling, as ``torch.nn.functional.lp_pool1d``.

    Parameters
    ----------
    input : array ``(N, C, L)`` or ``(C, L)``, float16/32/64
    norm_type : float ``p`` (``inf`` gives max pooling of ``abs(x)``)
    kernel_size : int
    stride : int, default ``kernel_size``
    ceil_mode : bool

    Shape
    -----
    ``L_out = floor_or_ceil((L - kernel_size) / stride) + 1`` (no padding).

    Examples
    --------
    >>> lp_pool1d(np.array([[1.0, 2.0, 2.0]]), 1, 3).tolist()
    [[5.0]]
    """
    return lp_pool_nd(input, norm_type, kernel_size, stride, ceil_mode, spatial=1, fn="lp_pool1d")


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """2D power-average pooling, as ``torch.nn.functional.lp_pool2d``.

    ``y = (sum over the window of x ** p) ** (1 / p)``; see :func:`lp_pool1d`.

    >>> lp_pool2d(np.ones((1, 4, 4)), 2, 2).tolist()
    [[[2.0, 2.0], [2.0, 2.0]]]
    """
    return lp_pool_nd(input, norm_type, kernel_size, stride, ceil_mode, spatial=2, fn="lp_pool2d")


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """3D power-average pooling, as ``torch.nn.functional.lp_pool3d`` (float32/float64, as torch)."""
    return lp_pool_nd(input, norm_type, kernel_size, stride, ceil_mode, spatial=3, fn="lp_pool3d")
