"""im2col for 2-D convolutions, compiled by numba: every window of the (implicitly zero-padded)
input copied into GEMM columns in one parallel pass.

:mod:`convwise.algorithms.gemm` in NumPy first copies the input into a zero-padded buffer
and then gathers the windows with one strided ``copyto`` of a 6-D view, whose short inner
runs (an output row) cost far more than the bytes moved. This kernel reads ``x`` directly:
for each (sample, channel, tap row) it fills the tap's column lines row by row, the cells
before and after the input's extent set to zero and the rest one strided loop.

Layout (that of :func:`convwise.algorithms.gemm._tiled_columns`)::

    cols (b, C, kh, kw, rows, ow)   cols[n, c, ty, tx, r, ox] = x[n0 + n, c, iy, ix]  (0 outside x)
    iy = (row0 + r) * sh - ph + ty * dh,   ix = ox * sw - pw + tx * dw
    geo = [sh, sw, dh, dw, ph, pw]
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .conv import _copy_run

__all__ = ["im2col2d"]


@numba.njit(cache=True, parallel=True)
def im2col2d(x, geo, n0, row0, cols):
    """Fill ``cols (b, C, kh, kw, rows, ow)`` from samples ``n0 ..`` of ``x (N, C, H, W)``."""
    _, channels, h_in, w_in = x.shape
    b, _, kh, kw, rows, w_out = cols.shape
    sh, sw, dh, dw, ph, pw = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5]
    flat_x = x.reshape(x.size)
    flat_cols = cols.reshape(cols.size)
    line = rows * w_out                                    # one tap's columns
    for item in prange(b * channels * kh):
        ty = item % kh
        c = (item // kh) % channels
        n = item // (kh * channels)
        plane = ((n0 + n) * channels + c) * h_in * w_in
        for tx in range(kw):
            x0 = tx * dw - pw                              # input column of ox = 0
            lo = 0 if x0 >= 0 else min(w_out, (-x0 + sw - 1) // sw)
            top = w_in - 1 - x0
            hi = max(lo, min(w_out, top // sw + 1)) if top >= 0 else lo
            base = (item * kw + tx) * line
            for r in range(rows):
                iy = (row0 + r) * sh - ph + ty * dh
                out = base + r * w_out
                if iy < 0 or iy >= h_in:
                    flat_cols[out:out + w_out] = 0.0
                    continue
                flat_cols[out:out + lo] = 0.0
                _copy_run(flat_x, plane + iy * w_in + x0 + lo * sw, sw, flat_cols, out + lo, hi - lo)
                flat_cols[out + hi:out + w_out] = 0.0
    return cols


@numba.njit(cache=True, parallel=True)
def col2im2d(cols, geo, y):
    """``y (b, C, H_out, W_out)`` = the sum of the column blocks ``cols (b, C, kh, kw, H_in, W_in)``
    at their output cells: ``y[n, c, iy*sh - ph + ty*dh, ix*sw - pw + tx*dw] += cols[n, c, ty, tx, iy, ix]``
    (cells outside ``y`` dropped): a transposed convolution's scatter, one output plane per work item."""
    b, channels, kh, kw, h_in, w_in = cols.shape
    h_out, w_out = y.shape[2], y.shape[3]
    sh, sw, dh, dw, ph, pw = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5]
    flat_cols = cols.reshape(cols.size)
    flat_y = y.reshape(y.size)
    plane_in = h_in * w_in
    for item in prange(b * channels):
        out = item * h_out * w_out
        flat_y[out:out + h_out * w_out] = 0.0
        for ty in range(kh):
            for tx in range(kw):
                x0 = tx * dw - pw                          # output column of ix = 0
                lo = 0 if x0 >= 0 else min(w_in, (-x0 + sw - 1) // sw)
                top = w_out - 1 - x0
                hi = max(lo, min(w_in, top // sw + 1)) if top >= 0 else lo
                if hi <= lo:
                    continue
                src = ((item * kh + ty) * kw + tx) * plane_in
                for iy in range(h_in):
                    oy = iy * sh - ph + ty * dh
                    if oy < 0 or oy >= h_out:
                        continue
                    _strided_add(flat_cols, src + iy * w_in + lo, flat_y, out + oy * w_out + x0 + lo * sw, sw,
                                 hi - lo)
    return y


@numba.njit(cache=True, inline="always")
def _strided_add(src, start, dst, first, step, count):
    """``dst[first + j*step] += src[start + j]`` for ``j < count`` (unsigned offsets)."""
    start, first, step = np.uint64(start), np.uint64(first), np.uint64(step)
    for j in range(np.uint64(count)):
        dst[first + j * step] += src[start + j]
