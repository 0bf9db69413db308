"""Max, average and adaptive pooling with torch.nn.functional's names and semantics.

This module validates arguments (shapes by :mod:`convwise.arithmetic`) and calls the
pooling kernels of the engine, :mod:`convwise.algorithms.pooling`, which share the
convolution's windowing and stride-phase primitives.
"""

from __future__ import annotations

import numpy as np

from .. import arithmetic
from ..algorithms import pooling as kernels
from ._args import as_float_array, check_spatial_nonempty, from_batched, to_batched

__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d",
    "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "max_pool_nd", "avg_pool_nd", "adaptive_avg_pool_nd", "adaptive_max_pool_nd",
    "max_pool_nd_backward", "avg_pool_nd_backward", "adaptive_avg_pool_nd_backward",
    "adaptive_max_pool_nd_backward",
]

# --------------------------------------------------------------------------- shared helpers


def _input(input, spatial: int, fn: str) -> tuple[np.ndarray, bool]:
    x = as_float_array(input, fn=fn, name="input")
    x, unbatched = to_batched(x, spatial, fn=fn)
    check_spatial_nonempty(x, fn=fn)
    return x, unbatched


def _grad(grad_output, x: np.ndarray, unbatched: bool, output_size: tuple[int, ...], fn: str) -> np.ndarray:
    """Validate ``grad_output`` against the forward output shape; return it batched."""
    g = as_float_array(grad_output, fn=fn, name="grad_output")
    if g.dtype != x.dtype:
        raise TypeError(f"{fn}: input ({x.dtype}) and grad_output ({g.dtype}) must have the same dtype")
    expected = x.shape[:2] + tuple(output_size)
    if g.shape != (expected[1:] if unbatched else expected):
        shown = expected[1:] if unbatched else expected
        raise ValueError(f"{fn}: grad_output must have the forward output's shape {shown}, got {g.shape}")
    return g[None] if unbatched else g


def _indices(indices, g: np.ndarray, unbatched: bool, fn: str) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{fn}: indices must be an integer array (int64 from the forward pass), got dtype {idx.dtype}")
    if unbatched:
        idx = idx[None]
    if idx.shape != g.shape:
        raise ValueError(f"{fn}: indices must have grad_output's shape {g.shape[1 if unbatched else 0:]}, "
                         f"got {idx.shape[1 if unbatched else 0:]}")
    return idx


def max_pool_nd(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False,
                *, spatial: int, fn: str = "max_pool"):
    """N-dimensional max pooling; ``max_pool1d``/``2d``/``3d`` fix ``spatial``."""
    x, unbatched = _input(input, spatial, fn)
    _check_return_indices(return_indices, fn)
    geometry = arithmetic.pool_geometry(x.shape[2:], kernel_size, stride, padding, dilation, ceil_mode, fn=fn)
    y, indices = kernels.max_pool(x, geometry, bool(return_indices), fn=fn)
    y = from_batched(y, unbatched)
    return (y, from_batched(indices, unbatched)) if return_indices else y


def max_pool_nd_backward(grad_output, input, indices, kernel_size, stride, padding, dilation, ceil_mode,
                         *, spatial: int, fn: str = "max_pool_backward"):
    """Gradient of max pooling with respect to its input.

    Each output gradient is added to the input cell its index names; cells chosen by
    several overlapping windows accumulate, cells never chosen get zero.

    >>> x = np.array([[[1., 3., 2., 0.]]])
    >>> y, i = max_pool1d(x, 2, stride=1, return_indices=True)
    >>> max_pool_nd_backward(np.ones_like(y), x, i, 2, 1, 0, 1, False, spatial=1).tolist()
    [[[0.0, 2.0, 1.0, 0.0]]]
    """
    x, unbatched = _input(input, spatial, fn)
    geometry = arithmetic.pool_geometry(x.shape[2:], kernel_size, stride, padding, dilation, ceil_mode, fn=fn)
    g = _grad(grad_output, x, unbatched, geometry.output_size, fn)
    idx = _indices(indices, g, unbatched, fn)
    return from_batched(kernels.scatter_by_index(g, idx, x.shape, fn=fn), unbatched)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1D max pooling over ``(N, C, L)`` or ``(C, L)`` input, as ``torch.nn.functional.max_pool1d``.

    Parameters
    ----------
    input : array ``(N, C, L)`` or ``(C, L)``, float32 or float64
    kernel_size : int
    stride : int, default ``kernel_size``
    padding : int, at most ``kernel_size // 2``; padding cells never win
    dilation : int
    ceil_mode : bool, round the output size up (a last, partial window)
    return_indices : bool, also return the int64 index of each maximum in its input row

    Shape
    -----
    ``L_out = floor_or_ceil((L + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``;
    with ``ceil_mode`` minus one if the last window would start in the right padding.

    Examples
    --------
    >>> y, i = max_pool1d(np.array([[1., 3., 3., 0., 5.]]), 2, ceil_mode=True, return_indices=True)
    >>> y.tolist(), i.tolist()
    ([[3.0, 3.0, 5.0]], [[1, 2, 4]])
    """
    return max_pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, spatial=1,
                       fn="max_pool1d")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2D max pooling, as ``torch.nn.functional.max_pool2d``.

    Parameters
    ----------
    input : array ``(N, C, H, W)`` or ``(C, H, W)``, float32 or float64
    kernel_size : int or (int, int)
    stride : int or (int, int), default ``kernel_size``
    padding : int or (int, int), at most half the kernel size
    dilation : int or (int, int)
    ceil_mode : bool
    return_indices : bool, also return int64 indices into each ``H * W`` input plane

    Shape
    -----
    ``H_out = floor_or_ceil((H + 2*padding[0] - dilation[0]*(kH - 1) - 1) / stride[0]) + 1``, likewise
    ``W_out``.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 4, 4)
    >>> y, i = max_pool2d(x, 2, return_indices=True)
    >>> y.tolist(), i.tolist()
    ([[[5.0, 7.0], [13.0, 15.0]]], [[[5, 7], [13, 15]]])
    """
    return max_pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, spatial=2,
                       fn="max_pool2d")


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """3D max pooling over ``(N, C, D, H, W)`` or ``(C, D, H, W)``, as ``torch.nn.functional.max_pool3d``.

    Shape
    -----
    Per dimension ``out = floor_or_ceil((in + 2*padding - dilation*(k - 1) - 1) / stride) + 1``.

    Examples
    --------
    >>> max_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), 2).tolist()
    [[[[7.0]]]]
    """
    return max_pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, spatial=3,
                       fn="max_pool3d")


# --------------------------------------------------------------------------- average pooling


def _check_return_indices(return_indices, fn: str) -> None:
    if not isinstance(return_indices, (bool, np.bool_)):
        raise TypeError(f"{fn}: return_indices must be a bool, got {type(return_indices).__name__} {return_indices!r}")


def _check_divisor(divisor_override, fn: str):
    if divisor_override is None:
        return None
    if isinstance(divisor_override, bool) or not isinstance(divisor_override, (int, np.integer)):
        raise TypeError(f"{fn}: divisor_override must be an int or None, got {divisor_override!r}")
    if divisor_override == 0 or abs(divisor_override) >= 2**63:
        raise ValueError(f"{fn}: divisor_override must be non-zero and fit an int64, got divisor_override={divisor_override}")
    return int(divisor_override)


def _avg_setup(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, fn):
    geometry = arithmetic.pool_geometry(x.shape[2:], kernel_size, stride, padding, 1, ceil_mode, fn=fn)
    if not isinstance(count_include_pad, (bool, np.bool_)):
        raise TypeError(f"{fn}: count_include_pad must be a bool, got {count_include_pad!r}")
    override = _check_divisor(divisor_override, fn)
    return geometry, kernels.divisor(geometry, bool(count_include_pad), override, x.dtype)


def avg_pool_nd(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                divisor_override=None, *, spatial: int, fn: str = "avg_pool"):
    """N-dimensional average pooling; ``avg_pool1d``/``2d``/``3d`` fix ``spatial``."""
    x, unbatched = _input(input, spatial, fn)
    geometry, divisor = _avg_setup(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                   divisor_override, fn)
    return from_batched(kernels.avg_pool(x, geometry, divisor, fn=fn,
                                         compiled=(bool(count_include_pad), divisor_override)), unbatched)


def avg_pool_nd_backward(grad_output, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                         divisor_override, *, spatial: int, fn: str = "avg_pool_backward"):
    """Gradient of average pooling with respect to its input.

    Each output gradient, divided by its window's divisor, is spread over the window's
    input cells (padding cells take their share and drop it).

    >>> avg_pool_nd_backward(np.ones((1, 1, 2)), np.zeros((1, 1, 3)), 2, 1, 0, False, True, None,
    ...                      spatial=1).tolist()
    [[[0.5, 1.0, 0.5]]]
    """
    x, unbatched = _input(input, spatial, fn)
    geometry, divisor = _avg_setup(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                   divisor_override, fn)
    g = _grad(grad_output, x, unbatched, geometry.output_size, fn)
    return from_batched(kernels.avg_pool_backward(g, geometry, divisor, x.shape, fn=fn,
                                                  compiled=(bool(count_include_pad), divisor_override)), unbatched)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1D average pooling, as ``torch.nn.functional.avg_pool1d``.

    Parameters
    ----------
    input : array ``(N, C, L)`` or ``(C, L)``, float32 or float64
    kernel_size : int
    stride : int, default ``kernel_size``
    padding : int, zero padding of at most ``kernel_size // 2``
    ceil_mode : bool
    count_include_pad : bool, whether padding cells count in the divisor

    Shape
    -----
    ``L_out = floor_or_ceil((L + 2*padding - kernel_size) / stride) + 1``.

    Examples
    --------
    >>> x = np.array([[1., 2., 3., 4., 5.]])
    >>> avg_pool1d(x, 2, ceil_mode=True).tolist()
    [[1.5, 3.5, 5.0]]
    >>> avg_pool1d(x, 3, stride=2, padding=1, count_include_pad=False).tolist()
    [[1.5, 3.0, 4.5]]
    """
    return avg_pool_nd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, spatial=1,
                       fn="avg_pool1d")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2D average pooling, as ``torch.nn.functional.avg_pool2d``.

    Parameters
    ----------
    input : array ``(N, C, H, W)`` or ``(C, H, W)``, float32 or float64
    kernel_size, stride, padding : int or (int, int); stride defaults to ``kernel_size``
    ceil_mode : bool
    count_include_pad : bool
    divisor_override : int, optional, used instead of the window size

    Shape
    -----
    ``H_out = floor_or_ceil((H + 2*padding[0] - kH) / stride[0]) + 1``, likewise ``W_out``.

    Examples
    --------
    >>> avg_pool2d(np.arange(16.0).reshape(1, 4, 4), 2).tolist()
    [[[2.5, 4.5], [10.5, 12.5]]]
    >>> avg_pool2d(np.ones((1, 2, 2)), 2, divisor_override=1).tolist()
    [[[4.0]]]
    """
    return avg_pool_nd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                       spatial=2, fn="avg_pool2d")


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """3D average pooling over ``(N, C, D, H, W)`` or ``(C, D, H, W)``, as ``torch.nn.functional.avg_pool3d``.

    Shape
    -----
    Per dimension ``out = floor_or_ceil((in + 2*padding - k) / stride) + 1``.

    Examples
    --------
    >>> avg_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), 2).tolist()
    [[[[3.5]]]]
    """
    return avg_pool_nd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                       spatial=3, fn="avg_pool3d")


# --------------------------------------------------------------------------- adaptive pooling


def _output_size(x: np.ndarray, output_size, spatial: int, fn: str) -> tuple[int, ...]:
    """Adaptive pooling's output size (``None`` keeps an input size), validated by arithmetic."""
    if output_size is None or not (arithmetic._is_int(output_size) or isinstance(output_size, (tuple, list))):
        raise TypeError(f"{fn}: output_size must be an int or a tuple of {spatial} ints (or None entries), "
                        f"got {type(output_size).__name__} {output_size!r}")
    return arithmetic.adaptive_output_size(x.shape[2:], output_size, fn=fn)


def adaptive_avg_pool_nd(input, output_size, *, spatial: int, fn: str = "adaptive_avg_pool"):
    """N-dimensional adaptive average pooling (separable: one mean per dimension)."""
    x, unbatched = _input(input, spatial, fn)
    return from_batched(kernels.adaptive_avg_pool(x, _output_size(x, output_size, spatial, fn), fn=fn), unbatched)


def adaptive_avg_pool_nd_backward(grad_output, input, *, spatial: int, fn: str = "adaptive_avg_pool_backward"):
    """Gradient of adaptive average pooling: each bin's gradient spread evenly over its window.

    >>> adaptive_avg_pool_nd_backward(np.ones((1, 2)), np.zeros((1, 3)), spatial=1).tolist()
    [[0.5, 1.0, 0.5]]
    """
    x, unbatched = _input(input, spatial, fn)
    g = as_float_array(grad_output, fn=fn, name="grad_output")
    output_size = g.shape[1:] if unbatched else g.shape[2:]
    if len(output_size) != spatial:
        raise ValueError(f"{fn}: grad_output must be {spatial + 1 if unbatched else spatial + 2}D like the forward "
                         f"output, got shape {g.shape}")
    g = _grad(g, x, unbatched, _output_size(x, tuple(output_size), spatial, fn), fn)
    return from_batched(kernels.adaptive_avg_pool_backward(g, x.shape, fn=fn), unbatched)


def adaptive_max_pool_nd(input, output_size, return_indices=False, *, spatial: int, fn: str = "adaptive_max_pool"):
    """N-dimensional adaptive max pooling (loops over the taps of the longest window)."""
    x, unbatched = _input(input, spatial, fn)
    _check_return_indices(return_indices, fn)
    y, indices = kernels.adaptive_max_pool(x, _output_size(x, output_size, spatial, fn), fn=fn)
    y = from_batched(y, unbatched)
    return (y, from_batched(indices, unbatched)) if return_indices else y


def adaptive_max_pool_nd_backward(grad_output, input, indices, *, spatial: int,
                                  fn: str = "adaptive_max_pool_backward"):
    """Gradient of adaptive max pooling: scatter-add through the forward indices.

    >>> x = np.array([[4., 1., 3.]])
    >>> y, i = adaptive_max_pool1d(x, 2, return_indices=True)
    >>> adaptive_max_pool_nd_backward(np.ones_like(y), x, i, spatial=1).tolist()
    [[1.0, 0.0, 1.0]]
    """
    x, unbatched = _input(input, spatial, fn)
    g = as_float_array(grad_output, fn=fn, name="grad_output")
    if g.ndim != x.ndim - unbatched:
        raise ValueError(f"{fn}: grad_output must have the input's rank {x.ndim - unbatched}, got shape {g.shape}")
    output_size = g.shape[1:] if unbatched else g.shape[2:]
    g = _grad(g, x, unbatched, tuple(output_size), fn)
    idx = _indices(indices, g, unbatched, fn)
    return from_batched(kernels.scatter_by_index(g, idx, x.shape, fn=fn), unbatched)


def adaptive_avg_pool1d(input, output_size):
    """1D adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool1d``.

    Output ``j`` averages input ``[floor(j*L/L_out), ceil((j+1)*L/L_out))``.

    Shape
    -----
    ``(N, C, L) -> (N, C, output_size)``.

    Examples
    --------
    >>> adaptive_avg_pool1d(np.array([[1., 2., 3., 4., 5.]]), 2).tolist()
    [[2.0, 4.0]]
    """
    return adaptive_avg_pool_nd(input, output_size, spatial=1, fn="adaptive_avg_pool1d")


def adaptive_avg_pool2d(input, output_size):
    """2D adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool2d``.

    Parameters
    ----------
    input : array ``(N, C, H, W)`` or ``(C, H, W)``, float32 or float64
    output_size : int or (int or None, int or None); ``None`` keeps that input size

    Shape
    -----
    ``(N, C, H, W) -> (N, C, *output_size)``.

    Examples
    --------
    >>> adaptive_avg_pool2d(np.arange(16.0).reshape(1, 4, 4), (1, None)).tolist()
    [[[6.0, 7.0, 8.0, 9.0]]]
    """
    return adaptive_avg_pool_nd(input, output_size, spatial=2, fn="adaptive_avg_pool2d")


def adaptive_avg_pool3d(input, output_size):
    """3D adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool3d``.

    Shape
    -----
    ``(N, C, D, H, W) -> (N, C, *output_size)``.

    Examples
    --------
    >>> adaptive_avg_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), 1).tolist()
    [[[[3.5]]]]
    """
    return adaptive_avg_pool_nd(input, output_size, spatial=3, fn="adaptive_avg_pool3d")


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """1D adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool1d``.

    Shape
    -----
    ``(N, C, L) -> (N, C, output_size)``; indices are int64 positions in each input row.

    Examples
    --------
    >>> y, i = adaptive_max_pool1d(np.array([[1., 5., 2., 4., 3.]]), 2, return_indices=True)
    >>> y.tolist(), i.tolist()
    ([[5.0, 4.0]], [[1, 3]])
    """
    return adaptive_max_pool_nd(input, output_size, return_indices, spatial=1, fn="adaptive_max_pool1d")


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """2D adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool2d``.

    Shape
    -----
    ``(N, C, H, W) -> (N, C, *output_size)``; indices are int64 positions in each ``H * W`` plane.

    Examples
    --------
    >>> adaptive_max_pool2d(np.arange(16.0).reshape(1, 4, 4), 2).tolist()
    [[[5.0, 7.0], [13.0, 15.0]]]
    """
    return adaptive_max_pool_nd(input, output_size, return_indices, spatial=2, fn="adaptive_max_pool2d")


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """3D adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool3d``.

    Shape
    -----
    ``(N, C, D, H, W) -> (N, C, *output_size)``.

    Examples
    --------
    >>> adaptive_max_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), 1).tolist()
    [[[[7.0]]]]
    """
    return adaptive_max_pool_nd(input, output_size, return_indices, spatial=3, fn="adaptive_max_pool3d")
