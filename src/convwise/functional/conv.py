"""Convolution and transposed convolution with torch.nn.functional's names and semantics."""

from __future__ import annotations

import numpy as np

from .. import arithmetic
from ._args import (
    as_float_array,
    check_bias,
    check_groups,
    check_same_dtype,
    check_spatial_nonempty,
    from_batched,
    to_batched,
)
from ._plan import ConvPlan, make_plan

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "convolve",
           "ConvPlan"]


def _prepare(input, weight, bias, groups, spatial: int, fn: str):
    """Validate the arrays of a (transposed) convolution; returns canonical arrays."""
    x = as_float_array(input, fn=fn, name="input")
    w = as_float_array(weight, fn=fn, name="weight")
    check_same_dtype(x, w, fn=fn, name="weight")
    x, unbatched = to_batched(x, spatial, fn=fn)
    if w.ndim != spatial + 2:
        raise ValueError(f"{fn}: weight must be {spatial + 2}D (out_channels, in_channels/groups, *kernel), "
                         f"got {w.ndim}D weight of shape {w.shape}")
    groups = check_groups(groups, fn=fn)
    check_spatial_nonempty(x, fn=fn)
    if any(s == 0 for s in w.shape):
        raise ValueError(f"{fn}: weight must have non-zero sizes, got shape {w.shape}")
    return x, w, unbatched, groups


def check_conv(x: np.ndarray, w: np.ndarray, groups: int, *, fn: str) -> None:
    """Channel rules of a convolution (weight ``(C_out, C_in/groups, *K)``)."""
    c_out = w.shape[0]
    if c_out % groups:
        raise ValueError(f"{fn}: groups={groups} must divide out_channels={c_out} (weight shape {w.shape})")
    if x.shape[1] % groups:
        raise ValueError(f"{fn}: groups={groups} must divide in_channels={x.shape[1]}")
    if x.shape[1] != w.shape[1] * groups:
        raise ValueError(f"{fn}: input has {x.shape[1]} channels but weight {w.shape} with groups={groups} "
                         f"expects in_channels={w.shape[1] * groups}")


def check_conv_transpose(x: np.ndarray, w: np.ndarray, groups: int, *, fn: str) -> None:
    """Channel rules of a transposed convolution (weight ``(C_in, C_out/groups, *K)``)."""
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"{fn}: input has {x.shape[1]} channels but weight {w.shape} expects in_channels={w.shape[0]}")
    if w.shape[0] % groups:
        raise ValueError(f"{fn}: groups={groups} must divide in_channels={w.shape[0]}")


def plan_conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, spatial: int,
              method: str = "auto", fn: str = "conv"):
    """Validate a convolution once: ``(plan, x, w, bias, unbatched)`` with batched arrays."""
    x, w, unbatched, groups = _prepare(input, weight, bias, groups, spatial, fn)
    check_conv(x, w, groups, fn=fn)
    b = check_bias(bias, x, w.shape[0], fn=fn)
    geometry = arithmetic.conv_geometry(x.shape[2:], w.shape[2:], stride, padding, dilation, fn=fn)
    return make_plan(fn, False, x, w, geometry, groups, method), x, w, b, unbatched


def plan_conv_transpose(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *,
                        spatial: int, method: str = "auto", fn: str = "conv_transpose"):
    """Validate a transposed convolution once: ``(plan, x, w, bias, unbatched)`` with batched arrays."""
    x, w, unbatched, groups = _prepare(input, weight, bias, groups, spatial, fn)
    check_conv_transpose(x, w, groups, fn=fn)
    b = check_bias(bias, x, w.shape[1] * groups, fn=fn)
    geometry = arithmetic.conv_transpose_geometry(x.shape[2:], w.shape[2:], stride, padding, output_padding,
                                                  dilation, fn=fn)
    return make_plan(fn, True, x, w, geometry, groups, method), x, w, b, unbatched


def conv_nd(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, spatial: int,
            method: str = "auto", fn: str = "conv"):
    """N-dimensional cross-correlation; ``conv1d``/``conv2d``/``conv3d`` fix ``spatial``."""
    plan, x, w, b, unbatched = plan_conv(input, weight, bias, stride, padding, dilation, groups, spatial=spatial,
                                         method=method, fn=fn)
    return from_batched(plan.run(x, w, b), unbatched)


def conv_transpose_nd(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                      *, spatial: int, method: str = "auto", fn: str = "conv_transpose"):
    """N-dimensional transposed convolution (the input gradient of ``conv_nd``)."""
    plan, x, w, b, unbatched = plan_conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                                                   dilation, spatial=spatial, method=method, fn=fn)
    return from_batched(plan.run(x, w, b), unbatched)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, method="auto"):
    """1D cross-correlation over ``(N, C_in, L)`` or ``(C_in, L)`` input, as ``torch.nn.functional.conv1d``.

    Shape: ``L_out = floor((L + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``.

    >>> conv1d(np.array([[1., 2., 3., 4.]]), np.array([[[1., -1.]]])).tolist()
    [[-1.0, -1.0, -1.0]]
    """
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, spatial=1, method=method, fn="conv1d")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, method="auto"):
    """2D cross-correlation, as ``torch.nn.functional.conv2d`` (the kernel is *not* flipped).

    Parameters
    ----------
    input : array ``(N, C_in, H, W)`` or ``(C_in, H, W)``, float32 or float64
    weight : array ``(C_out, C_in / groups, kH, kW)`` of the same dtype
    bias : optional array ``(C_out,)``
    stride, dilation : int or (int, int)
    padding : int, (int, int), per-side pairs ``((top, bottom), (left, right))``, ``'same'`` or ``'valid'``
    groups : int dividing both channel counts
    method : ``'auto'``, ``'measure'`` or an algorithm name from :func:`convwise.algorithms.available`

    Shape
    -----
    ``H_out = floor((H + 2*padding[0] - dilation[0]*(kH - 1) - 1) / stride[0]) + 1``, likewise ``W_out``.

    Examples
    --------
    >>> x = np.array([[1, 2, 3, 0, 1], [0, 1, 5, 1, 0], [1, 0, 2, 2, 1], [1, 1, 2, 0, 0], [1, 0, 1, 1, 1]], float)
    >>> k = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], float)
    >>> conv2d(x[None, None], k[None, None])[0, 0].tolist()
    [[8.0, 9.0, 8.0], [8.0, 5.0, 9.0], [6.0, 5.0, 5.0]]
    """
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, spatial=2, method=method, fn="conv2d")


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, method="auto"):
    """3D cross-correlation over ``(N, C_in, D, H, W)`` input, as ``torch.nn.functional.conv3d``.

    Shape: per dimension, ``out = floor((in + 2*padding - dilation*(k - 1) - 1) / stride) + 1``.
    """
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, spatial=3, method=method, fn="conv3d")


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                     *, method="auto"):
    """1D transposed convolution, as ``torch.nn.functional.conv_transpose1d``.

    Shape: ``L_out = (L - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1``.
    Weight: ``(C_in, C_out / groups, kernel_size)``.
    """
    return conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups, dilation, spatial=1,
                             method=method, fn="conv_transpose1d")


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                     *, method="auto"):
    """2D transposed convolution, as ``torch.nn.functional.conv_transpose2d``.

    Shape: ``H_out = (H - 1)*stride[0] - 2*padding[0] + dilation[0]*(kH - 1) + output_padding[0] + 1``.

    >>> conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), stride=2).shape
    (1, 1, 4, 4)
    """
    return conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups, dilation, spatial=2,
                             method=method, fn="conv_transpose2d")


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                     *, method="auto"):
    """3D transposed convolution, as ``torch.nn.functional.conv_transpose3d``."""
    return conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups, dilation, spatial=3,
                             method=method, fn="conv_transpose3d")


def convolve(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, method="auto"):
    """True (flipped-kernel) convolution, the operation of signal processing.

    Deep-learning "convolution" (``conv2d`` here and in torch) is cross-correlation: the
    kernel slides unflipped. True convolution flips the kernel along every spatial axis
    first, so ``convolve(x, w) == conv2d(x, w[..., ::-1, ::-1])``; with ``padding='valid'``
    it equals ``scipy.signal.convolve2d(x, w, mode='valid')``. The number of spatial
    dimensions follows the weight (``weight.ndim - 2``).

    >>> x = np.arange(9.0).reshape(1, 1, 3, 3); w = np.array([[[[1.0, 2.0]]]])
    >>> convolve(x, w)[0, 0].tolist()   # each output is 2*x[j] + 1*x[j+1]
    [[1.0, 4.0], [10.0, 13.0], [19.0, 22.0]]
    >>> conv2d(x, w)[0, 0].tolist()     # cross-correlation: 1*x[j] + 2*x[j+1]
    [[2.0, 5.0], [11.0, 14.0], [20.0, 23.0]]
    """
    w = as_float_array(weight, fn="convolve", name="weight")
    spatial = w.ndim - 2
    if spatial not in (1, 2, 3):
        raise ValueError(f"convolve: weight must be 3D, 4D or 5D (out, in/groups, *kernel), got shape {w.shape}")
    flipped = np.ascontiguousarray(w[(...,) + (slice(None, None, -1),) * spatial])
    return conv_nd(input, flipped, bias, stride, padding, dilation, groups, spatial=spatial, method=method,
                   fn="convolve")
