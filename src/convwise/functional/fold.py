"""``unfold`` (im2col) and ``fold`` (col2im), as ``torch.nn.functional.unfold`` / ``fold``.

``unfold`` copies every sliding ``kH x kW`` block of a padded ``(N, C, H, W)`` input into
one column: the result is ``(N, C * kH * kW, L)`` with ``L`` the number of blocks, rows
ordered channel-major then kernel row then kernel column, columns ordered row-major over
the block grid. ``fold`` is its adjoint: it adds each column back into its block (cells
covered by several blocks accumulate) and crops the padding. So the gradient of
``unfold`` is ``fold`` and the gradient of ``fold`` is ``unfold``.

This is how a convolution becomes one matrix product::

    conv2d(x, w) == (w.reshape(C_out, -1) @ unfold(x, k)).reshape(N, C_out, H_out, W_out)

>>> x = np.arange(16.0).reshape(1, 1, 4, 4)
>>> w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
>>> cols = unfold(x, 2)                       # (1, 4, 9): 9 blocks of 4 cells
>>> (w.reshape(1, -1) @ cols).reshape(1, 1, 3, 3)[0, 0].tolist()
[[-5.0, -5.0, -5.0], [-5.0, -5.0, -5.0], [-5.0, -5.0, -5.0]]
>>> fold(unfold(np.ones((1, 1, 3, 3)), 2), (3, 3), 2)[0, 0].tolist()   # block count per cell
[[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import arithmetic
from .._guard import require_memory
from ._dtypes import as_array, check_dtype

__all__ = ["unfold", "fold"]


class _Blocks(NamedTuple):
    kernel: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[int, int]
    stride: tuple[int, int]
    size: tuple[int, int]         # input (unfold) or output (fold) spatial size
    grid: tuple[int, int]         # blocks per dimension


def _blocks(size, kernel_size, dilation, padding, stride, fn: str) -> _Blocks:
    kernel = arithmetic.ntuple(kernel_size, 2, fn=fn, name="kernel_size", minimum=1)
    dil = arithmetic.ntuple(dilation, 2, fn=fn, name="dilation", minimum=1)
    pads = arithmetic.ntuple(padding, 2, fn=fn, name="padding", minimum=0)
    strides = arithmetic.ntuple(stride, 2, fn=fn, name="stride", minimum=1)
    grid = tuple((i + 2 * p - d * (k - 1) - 1) // s + 1 for i, k, d, p, s in zip(size, kernel, dil, pads, strides))
    if any(g < 1 for g in grid):
        raise ValueError(f"{fn}: spatial size {tuple(size)} with kernel_size={kernel}, dilation={dil}, "
                         f"padding={pads}, stride={strides} gives a block grid of {grid}; each must be at least 1")
    return _Blocks(kernel, dil, pads, strides, tuple(size), grid)  # type: ignore[arg-type]


def _window(tap: tuple[int, int], blocks: _Blocks) -> tuple[slice, ...]:
    """Slices of the padded plane that tap ``(i, j)`` of every block reads."""
    return tuple(slice(t * d, t * d + (g - 1) * s + 1, s)
                 for t, d, g, s in zip(tap, blocks.dilation, blocks.grid, blocks.stride))


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding blocks into columns (im2col), as ``torch.nn.functional.unfold``.

    Parameters
    ----------
    input : array ``(N, C, H, W)`` or ``(C, H, W)``, float16/32/64
    kernel_size, dilation, stride : int or (int, int), positive
    padding : int or (int, int), zero padding on both sides

    Returns
    -------
    array ``(N, C * kH * kW, L)`` (or ``(C * kH * kW, L)``) with
    ``L = prod(floor((size + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1)``.

    Examples
    --------
    >>> unfold(np.arange(6.0).reshape(1, 2, 3), (1, 2)).tolist()
    [[0.0, 1.0, 3.0, 4.0], [1.0, 2.0, 4.0, 5.0]]
    """
    fn = "unfold"
    x = as_array(input, fn=fn, name="input")
    check_dtype(x, "unfold", fn=fn)
    if x.ndim not in (3, 4):
        raise ValueError(f"{fn}: input must be 3D (C, H, W) or 4D (N, C, H, W), got {x.ndim}D input of shape {x.shape}")
    unbatched = x.ndim == 3
    xb = x[None] if unbatched else x
    if any(s == 0 for s in xb.shape[1:]):
        raise ValueError(f"{fn}: input must have non-zero channel and spatial sizes, got shape {x.shape}")
    blocks = _blocks(xb.shape[2:], kernel_size, dilation, padding, stride, fn)
    n, c = xb.shape[:2]
    k = math.prod(blocks.kernel)
    length = math.prod(blocks.grid)
    require_memory(fn, n * c * k * length * x.itemsize, what="columns")
    pads = ((0, 0), (0, 0)) + tuple((p, p) for p in blocks.padding)
    xp = np.pad(xb, pads) if any(blocks.padding) else xb
    cols = np.empty((n, c) + blocks.kernel + blocks.grid, dtype=x.dtype)
    for tap in np.ndindex(*blocks.kernel):
        cols[(slice(None), slice(None)) + tap] = xp[(Ellipsis,) + _window(tap, blocks)]
    cols = cols.reshape(n, c * k, length)
    return cols[0] if unbatched else cols


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum columns back into an image (col2im), as ``torch.nn.functional.fold``.

    Parameters
    ----------
    input : array ``(N, C * kH * kW, L)`` or ``(C * kH * kW, L)``, float16/32/64
    output_size : int or (int, int), the spatial size ``(H, W)`` of the result
    kernel_size, dilation, stride : int or (int, int), positive
    padding : int or (int, int); the padded border is cropped away

    Returns
    -------
    array ``(N, C, H, W)`` (or ``(C, H, W)``): each cell holds the sum of every column entry
    that :func:`unfold` would have copied from it.

    Examples
    --------
    >>> fold(np.ones((1, 4, 4)), 3, 2)[0, 0].tolist()
    [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
    fn = "fold"
    cols = as_array(input, fn=fn, name="input")
    check_dtype(cols, "fold", fn=fn)
    if cols.ndim not in (2, 3):
        raise ValueError(f"{fn}: input must be 2D (C * kH * kW, L) or 3D (N, C * kH * kW, L), got {cols.ndim}D "
                         f"input of shape {cols.shape}")
    unbatched = cols.ndim == 2
    cb = cols[None] if unbatched else cols
    size = arithmetic.ntuple(output_size, 2, fn=fn, name="output_size", minimum=1)
    blocks = _blocks(size, kernel_size, dilation, padding, stride, fn)
    k = math.prod(blocks.kernel)
    n, rows, length = cb.shape
    if rows == 0 or rows % k:
        raise ValueError(f"{fn}: input.shape[{1 - unbatched}]={rows} must be a positive multiple of "
                         f"prod(kernel_size)={k} (C * kH * kW), got input shape {cols.shape}")
    if length != math.prod(blocks.grid):
        raise ValueError(f"{fn}: input.shape[{2 - unbatched}]={length} must equal the number of blocks "
                         f"{math.prod(blocks.grid)} = {blocks.grid[0]} * {blocks.grid[1]} for output_size={size}, "
                         f"kernel_size={blocks.kernel}, dilation={blocks.dilation}, padding={blocks.padding}, "
                         f"stride={blocks.stride}")
    c = rows // k
    padded = tuple(s + 2 * p for s, p in zip(size, blocks.padding))
    require_memory(fn, n * c * math.prod(padded) * cols.itemsize, what="output")
    image = np.zeros((n, c) + padded, dtype=cols.dtype)
    blocked = cb.reshape((n, c) + blocks.kernel + blocks.grid)
    for tap in np.ndindex(*blocks.kernel):
        image[(Ellipsis,) + _window(tap, blocks)] += blocked[(slice(None), slice(None)) + tap]
    crop = tuple(slice(p, p + s) for p, s in zip(blocks.padding, size))
    image = np.ascontiguousarray(image[(Ellipsis,) + crop])
    return image[0] if unbatched else image
