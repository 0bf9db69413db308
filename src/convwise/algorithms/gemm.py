"""im2col + GEMM: unfold input windows into columns, multiply by the weight matrix (BLAS).

The column buffer is the only large scratch allocation; it is built tile by tile (over
the batch, then over rows of the first output dimension) so that it stays within the
configured workspace budget (:func:`convwise.get_config`).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._config import get_config
from ..arithmetic import ConvGeometry, TransposeGeometry
from . import register
from .direct import crop, full_size, pad_zeros, tap_window


def windows(padded: np.ndarray, geometry: ConvGeometry, lead: int) -> np.ndarray:
    """Strided view ``(*lead_dims, *output, *kernel)`` of every window of ``padded``.

    ``lead`` is the number of leading non-spatial axes. No data is copied. Pooling uses
    the same view (conv and pooling differ only in the reduction).
    """
    spatial = tuple(range(lead, padded.ndim))
    view = sliding_window_view(padded, geometry.effective_kernel, axis=spatial)
    index = (slice(None),) * lead
    index += tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(geometry.output_size, geometry.stride))
    index += tuple(slice(None, None, d) for d in geometry.dilation)
    return view[index]


def tiles(batch: int, rows: int, bytes_per_row: int) -> list[tuple[slice, slice]]:
    """Split ``batch x rows`` work into (batch, row) slices whose scratch fits the budget."""
    budget = get_config().workspace_bytes
    per_sample = bytes_per_row * rows
    if per_sample <= budget:
        step = max(1, min(batch, budget // max(per_sample, 1)))
        return [(slice(b, min(b + step, batch)), slice(0, rows)) for b in range(0, batch, step)]
    row_step = max(1, budget // max(bytes_per_row, 1))
    return [(slice(b, b + 1), slice(r, min(r + row_step, rows))) for b in range(batch) for r in range(0, rows, row_step)]


def _row_geometry(geometry: ConvGeometry, rows: slice) -> tuple[ConvGeometry, slice]:
    """Geometry of output rows ``rows`` (first spatial dim) and the padded-input rows it reads."""
    first = rows.start * geometry.stride[0]
    count = rows.stop - rows.start
    span = (count - 1) * geometry.stride[0] + geometry.effective_kernel[0]
    sub = ConvGeometry((span,) + geometry.input_size[1:], geometry.kernel_size, geometry.stride,
                       ((0, 0),) + geometry.padding[1:], geometry.dilation, (count,) + geometry.output_size[1:])
    return sub, slice(first, first + span)


def _columns(padded: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    """Column matrix ``(n, groups, C_in/groups * K, L)`` of a padded tile."""
    n, c_in = padded.shape[:2]
    grouped = padded.reshape(n, groups, c_in // groups, *padded.shape[2:])
    view = windows(grouped, geometry, lead=3)                                  # (n, g, c, *out, *k)
    d = geometry.ndim
    order = (0, 1, 2) + tuple(range(3 + d, 3 + 2 * d)) + tuple(range(3, 3 + d))  # (n, g, c, *k, *out)
    cols = view.transpose(order)
    return cols.reshape(n, groups, (c_in // groups) * math.prod(geometry.kernel_size), math.prod(geometry.output_size))


def _row_bytes(x: np.ndarray, geometry: ConvGeometry) -> int:
    return x.shape[1] * math.prod(geometry.kernel_size) * math.prod(geometry.output_size[1:]) * x.itemsize


def conv_forward(x: np.ndarray, weight: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    padded = pad_zeros(x, geometry)
    w = weight.reshape(groups, c_out // groups, -1)
    y = np.empty((n, groups, c_out // groups, *geometry.output_size), dtype=x.dtype)
    for batch, rows in tiles(n, geometry.output_size[0], _row_bytes(x, geometry)):
        sub, inputs = _row_geometry(geometry, rows)
        cols = _columns(padded[batch, :, inputs], sub, groups)
        out = np.matmul(w, cols)                                              # (b, g, co, L)
        y[batch, :, :, rows] = out.reshape(out.shape[:3] + sub.output_size)
    return y.reshape(n, c_out, *geometry.output_size)


def conv_weight_grad(x: np.ndarray, grad_output: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    n, c_in = x.shape[:2]
    c_out = grad_output.shape[1]
    padded = pad_zeros(x, geometry)
    dy = grad_output.reshape(n, groups, c_out // groups, *geometry.output_size)
    grad = np.zeros((groups, c_out // groups, (c_in // groups) * math.prod(geometry.kernel_size)), dtype=x.dtype)
    for batch, rows in tiles(n, geometry.output_size[0], _row_bytes(x, geometry)):
        sub, inputs = _row_geometry(geometry, rows)
        cols = _columns(padded[batch, :, inputs], sub, groups)                # (b, g, CK, L)
        gy = dy[batch, :, :, rows].reshape(cols.shape[0], groups, c_out // groups, -1)
        grad += np.matmul(gy, cols.transpose(0, 1, 3, 2)).sum(axis=0)
    return grad.reshape(c_out, c_in // groups, *geometry.kernel_size)


def conv_transpose(x: np.ndarray, weight: np.ndarray, geometry: TransposeGeometry, groups: int) -> np.ndarray:
    """Columns = W^T x by one GEMM per batch tile, then scatter-add them (col2im)."""
    n, c_in = x.shape[:2]
    c_out = weight.shape[1] * groups
    kernel = geometry.kernel_size
    w = weight.reshape(groups, c_in // groups, -1).transpose(0, 2, 1)          # (g, co*K, ci)
    xg = x.reshape(n, groups, c_in // groups, -1)
    buffer = np.zeros((n, groups, c_out // groups, *full_size(geometry)), dtype=x.dtype)
    forward = geometry.forward
    per_sample = c_out * math.prod(kernel) * math.prod(geometry.input_size) * x.itemsize
    for batch, _ in tiles(n, 1, per_sample):
        cols = np.matmul(w, xg[batch])                                        # (b, g, co*K, L_in)
        cols = cols.reshape(cols.shape[0], groups, c_out // groups, *kernel, *geometry.input_size)
        for tap in np.ndindex(*kernel):
            buffer[(batch, slice(None), slice(None)) + tap_window(tap, forward)] += cols[(slice(None),) * 3 + tap]
    return np.ascontiguousarray(crop(buffer, geometry)).reshape(n, c_out, *geometry.output_size)


register("gemm", forward=conv_forward, transpose=conv_transpose, weight_grad=conv_weight_grad)
