"""The transforms of Winograd F(4x4, 3x3), compiled by numba: filter, input and output.

:mod:`convwise.algorithms.winograd` runs the element-wise stage as BLAS GEMMs; in NumPy
its transforms are two strided copies and a Kronecker GEMM each, with padding and tile
gathering as separate passes. These kernels do each transform in one parallel pass,
reading the input (padding included) straight from ``x`` and writing the output (partial
edge tiles included) straight into ``y``. Layouts (``k`` the vertical, ``i`` the
horizontal transform point; ``t = 6*k + i``)::

    u (36, F)                     U = G g G^T for F = C_out * C_in/groups filters g = w (F, 3, 3)
    v (36, C, b, th, tw)          V = B^T d B for the 6x6 tile d at padded cell (4*ty, 4*tx) of a tile row block
    m (36, C_out, b, th, tw)   -> y[n, o, 4*ty + r, 4*tx + s] = (A^T M A)[r, s], clipped to y

The transform matrices are Lavin & Gray's (points 0, +-1, +-2, inf), written out as sums
(most of their entries are 0 or 1), and each pass is a few long vector loops over all tiles
of a plane. The loops index flat arrays at computed unsigned offsets instead of taking
slices: in numba every slice made inside a loop costs reference counting, and a signed index
a wraparound check that stops vectorisation (the input transform of 64@56, one thread:
0.93 ms with slices, 0.40 ms with unsigned offsets; the 8-sample batch 3.1 -> 2.6 ms).
The input and output kernels release the GIL (``nogil``): chunks of one call may run them on
several Python threads at once, each on one numba thread.
Constants travel in ``c`` (an array of the data's dtype, so that float32 stays float32):
``c = [4, 5, 2, 8, 1/4, 1/6, 1/12, 1/24]``. No fast-math: NaN and Inf propagate as in
the matrix products.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

__all__ = ["CONSTANTS", "winograd_filter", "winograd_input", "winograd_output"]

#: the transform constants, in the order the kernels read them from ``c``
CONSTANTS = (4.0, 5.0, 2.0, 8.0, 1 / 4, 1 / 6, 1 / 12, 1 / 24)


@numba.njit(cache=True, inline="always")
def _bt_lines(c, a, i0, i1, i2, i3, i4, i5, o, j0, j1, j2, j3, j4, j5, length):
    """``o[j_k + e] = (B^T d)[k]`` with ``d[r] = a[i_r + e]`` for ``e < length``: one loop
    per output line, so that each loop reads at most four lines and writes one."""
    i0, i1, i2, i3, i4, i5 = np.uint64(i0), np.uint64(i1), np.uint64(i2), np.uint64(i3), np.uint64(i4), np.uint64(i5)
    j0, j1, j2, j3, j4, j5 = np.uint64(j0), np.uint64(j1), np.uint64(j2), np.uint64(j3), np.uint64(j4), np.uint64(j5)
    length = np.uint64(length)
    four, five, two = c[0], c[1], c[2]
    for e in range(length):
        o[j0 + e] = four * a[i0 + e] - five * a[i2 + e] + a[i4 + e]
    for e in range(length):
        o[j1 + e] = a[i3 + e] + a[i4 + e] - four * (a[i1 + e] + a[i2 + e])
    for e in range(length):
        o[j2 + e] = four * (a[i1 + e] - a[i2 + e]) - a[i3 + e] + a[i4 + e]
    for e in range(length):
        o[j3 + e] = two * (a[i3 + e] - a[i1 + e]) - a[i2 + e] + a[i4 + e]
    for e in range(length):
        o[j4 + e] = two * (a[i1 + e] - a[i3 + e]) - a[i2 + e] + a[i4 + e]
    for e in range(length):
        o[j5 + e] = four * a[i1 + e] - five * a[i3 + e] + a[i5 + e]


@numba.njit(cache=True, inline="always")
def _at_lines(c, a, i0, i1, i2, i3, i4, i5, o, j0, j1, j2, j3, length):
    """``o[j_r + e] = (A^T m)[r]`` with ``m[k] = a[i_k + e]`` (four output lines)."""
    i0, i1, i2, i3, i4, i5 = np.uint64(i0), np.uint64(i1), np.uint64(i2), np.uint64(i3), np.uint64(i4), np.uint64(i5)
    j0, j1, j2, j3, length = np.uint64(j0), np.uint64(j1), np.uint64(j2), np.uint64(j3), np.uint64(length)
    four, two, eight = c[0], c[2], c[3]
    for e in range(length):
        o[j0 + e] = a[i0 + e] + a[i1 + e] + a[i2 + e] + a[i3 + e] + a[i4 + e]
    for e in range(length):
        o[j1 + e] = (a[i1 + e] - a[i2 + e]) + two * (a[i3 + e] - a[i4 + e])
    for e in range(length):
        o[j2 + e] = (a[i1 + e] + a[i2 + e]) + four * (a[i3 + e] + a[i4 + e])
    for e in range(length):
        o[j3 + e] = (a[i1 + e] - a[i2 + e]) + eight * (a[i3 + e] - a[i4 + e]) + a[i5 + e]


@numba.njit(cache=True, inline="always")
def _g_lines(c, a, i0, i1, i2, o, j, stride, length):
    """``o[j + k*stride + e] = (G g)[k]`` with ``g[r] = a[i_r + e]`` (six output lines)."""
    i0, i1, i2 = np.uint64(i0), np.uint64(i1), np.uint64(i2)
    j, stride, length = np.uint64(j), np.uint64(stride), np.uint64(length)
    quarter, sixth, twelfth, twentyfourth = c[4], c[5], c[6], c[7]
    for e in range(length):
        o[j + e] = quarter * a[i0 + e]
    for e in range(length):
        o[j + stride + e] = -sixth * (a[i0 + e] + a[i1 + e] + a[i2 + e])
    for e in range(length):
        o[j + 2 * stride + e] = -sixth * (a[i0 + e] - a[i1 + e] + a[i2 + e])
    for e in range(length):
        o[j + 3 * stride + e] = twentyfourth * a[i0 + e] + twelfth * a[i1 + e] + sixth * a[i2 + e]
    for e in range(length):
        o[j + 4 * stride + e] = twentyfourth * a[i0 + e] - twelfth * a[i1 + e] + sixth * a[i2 + e]
    for e in range(length):
        o[j + 5 * stride + e] = a[i2 + e]


@numba.njit(cache=True, inline="always")
def _taps_by_line(w, f0, n, g):
    """``g[tap*n + f] = w[(f0 + f)*9 + tap]``: filters ``f0 .. f0 + n`` regrouped by tap (one loop of nine
    contiguous loads per filter, unsigned offsets as in :func:`_split_quads`)."""
    base, count, nine = np.uint64(9 * f0), np.uint64(n), np.uint64(9)
    for f in range(count):
        src = base + nine * f
        for tap in range(nine):
            g[tap * count + f] = w[src + tap]


#: filters per work item of :func:`winograd_filter`
_FILTER_BLOCK = 1024


@numba.njit(cache=True, parallel=True)
def winograd_filter(w, c, u):
    """``u (36, F)``: ``G g G^T`` of every filter ``w (F, 3, 3)``, by blocks of filters."""
    filters = w.shape[0]
    flat_w = w.reshape(filters * 9)
    flat_u = u.reshape(36 * filters)
    blocks = (filters + _FILTER_BLOCK - 1) // _FILTER_BLOCK
    for block in prange(blocks):
        f0 = block * _FILTER_BLOCK
        n = min(filters, f0 + _FILTER_BLOCK) - f0
        g = np.empty(9 * n, dtype=w.dtype)                     # the block's taps, one line per tap
        _taps_by_line(flat_w, f0, n, g)
        t = np.empty(18 * n, dtype=w.dtype)                    # G down each column: line 3k + col
        for col in range(3):
            _g_lines(c, g, col * n, (3 + col) * n, (6 + col) * n, t, col * n, 3 * n, n)
        for k in range(6):                                     # then along each row: u[6k + i]
            _g_lines(c, t, 3 * k * n, (3 * k + 1) * n, (3 * k + 2) * n, flat_u, 6 * k * filters + f0, filters, n)
    return u


@numba.njit(cache=True, inline="always")
def _split_quads(x, row, d, line, plane, q0, q1):
    """``d[line + p*plane + q] = x[row + 4q + p]`` for ``q0 <= q < q1``: four contiguous loads
    and four stores per step (an interleaved group). Unsigned offsets: numba checks signed
    indices for wraparound, which stops the loop from vectorising (a negative ``row`` wraps
    and comes back with ``4q``, as the offsets are only ever summed)."""
    row, line, plane = np.uint64(row), np.uint64(line), np.uint64(plane)
    four, one = np.uint64(4), np.uint64(1)
    for q in range(np.uint64(q0), np.uint64(q1)):
        j = row + four * q
        d[line + q] = x[j]
        d[line + plane + q] = x[j + one]
        d[line + plane + plane + q] = x[j + one + one]
        d[line + plane + plane + plane + q] = x[j + one + one + one]


@numba.njit(cache=True, parallel=True, nogil=True)
def winograd_input(x, c, top, left, workers, v):
    """``v (36, C, b, th, tw + 1)``: ``B^T d B`` of every tile of ``x (b, C, H, W)``, on ``workers`` threads.

    Tile ``(ty, tx)`` covers input rows ``top + 4*ty + [0, 6)`` and columns
    ``left + 4*tx + [0, 6)``; cells outside ``x`` are the zero padding. Each plane is first
    copied, zero-padded, into its 4 x 4 stride phases (padded cell ``(4*qr + pr, 4*qc + pc)``
    at ``[pr, pc, qr, qc]``), so that one tap of every tile of the plane is one contiguous
    line and each transform is a few long vector loops. Column ``tw`` of ``v`` is slack (a
    tile past the last one, read from finite cells or zeros) that keeps the lines contiguous.
    """
    b, channels, h_in, w_in = x.shape
    th, span = v.shape[3], v.shape[4]
    rows = th + 1
    plane = rows * span                                        # one phase's cells
    length = th * span                                         # tiles per plane (with the slack column)
    items = channels * b
    flat_x = x.reshape(x.size)
    flat_v = v.reshape(v.size)
    line_v = items * length                                    # v's stride between transform points
    q0 = (3 - left) // 4 if left < 0 else 0                    # first q with left + 4q >= 0
    q1 = max(q0, min(span, (w_in - left) // 4))                # past the last q with left + 4q + 3 < w_in
    scratch_phases = np.zeros((workers, 16 * plane + 1), dtype=x.dtype)
    scratch_cols = np.zeros((workers, 24 * (length + 1)), dtype=x.dtype)
    for worker in prange(workers):
        phases = scratch_phases[worker]
        cols = scratch_cols[worker]
        for item in range(worker * items // workers, (worker + 1) * items // workers):
            ch = item // b
            n = item % b
            x0 = (n * channels + ch) * h_in * w_in
            for pr in range(4):
                for qr in range(rows):
                    iy = top + 4 * qr + pr
                    d = pr * 4 * plane + qr * span                 # phase (pr, 0) line of this row
                    if iy < 0 or iy >= h_in:
                        for p in range(4):
                            for q in range(span):
                                phases[d + p * plane + q] = 0.0
                        continue
                    row = x0 + iy * w_in + left
                    _split_quads(flat_x, row, phases, d, plane, q0, q1)
                    for q in range(0, q0):
                        for p in range(4):
                            j = left + 4 * q + p
                            phases[d + p * plane + q] = flat_x[row + 4 * q + p] if 0 <= j < w_in else 0.0
                    for q in range(q1, span):
                        for p in range(4):
                            j = left + 4 * q + p
                            phases[d + p * plane + q] = flat_x[row + 4 * q + p] if 0 <= j < w_in else 0.0
            stride = length + 1
            for pc in range(4):                                # B^T down the columns: line (k, pc)
                p0 = pc * plane                                # phase (pr, pc) starts at (4*pr + pc) * plane
                _bt_lines(c, phases, p0, 4 * plane + p0, 8 * plane + p0, 12 * plane + p0, p0 + span,
                          4 * plane + p0 + span, cols, pc * stride, (4 + pc) * stride, (8 + pc) * stride,
                          (12 + pc) * stride, (16 + pc) * stride, (20 + pc) * stride, length)
            out = item * length
            for k in range(6):                                 # then along the rows: v[6k + i]
                base = 4 * k * stride
                _bt_lines(c, cols, base, base + stride, base + 2 * stride, base + 3 * stride, base + 1,
                          base + stride + 1, flat_v, 6 * k * line_v + out, (6 * k + 1) * line_v + out,
                          (6 * k + 2) * line_v + out, (6 * k + 3) * line_v + out, (6 * k + 4) * line_v + out,
                          (6 * k + 5) * line_v + out, length)
    return v


@numba.njit(cache=True, parallel=True, nogil=True)
def winograd_output(m, c, row0, workers, y):
    """``y[:, :, row0 + 4*ty + r, 4*tx + s] = (A^T M A)[r, s]`` for ``m (36, C_out, b, th, tw + 1)``
    (the last column is slack), clipped to ``y (b, C_out, H, W)``, on ``workers`` threads."""
    _, channels, b, th, span = m.shape
    h_out, w_out = y.shape[2], y.shape[3]
    length = th * span
    items = channels * b
    flat_m = m.reshape(m.size)
    flat_y = y.reshape(y.size)
    line_m = items * length
    whole = w_out // 4
    scratch_half = np.empty((workers, 24 * length), dtype=y.dtype)
    scratch_quads = np.empty((workers, 16 * length), dtype=y.dtype)
    for worker in prange(workers):
        half = scratch_half[worker]                            # A^T down each column: line 6r + i
        quads = scratch_quads[worker]                          # then along the rows: line 4r + s
        for item in range(worker * items // workers, (worker + 1) * items // workers):
            src = item * length
            for i in range(6):
                _at_lines(c, flat_m, i * line_m + src, (6 + i) * line_m + src, (12 + i) * line_m + src,
                          (18 + i) * line_m + src, (24 + i) * line_m + src, (30 + i) * line_m + src,
                          half, i * length, (6 + i) * length, (12 + i) * length, (18 + i) * length, length)
            for r in range(4):
                h = 6 * r * length
                _at_lines(c, half, h, h + length, h + 2 * length, h + 3 * length, h + 4 * length, h + 5 * length,
                          quads, 4 * r * length, (4 * r + 1) * length, (4 * r + 2) * length, (4 * r + 3) * length,
                          length)
            o = item // b
            n = item % b
            for ty in range(th):
                for r in range(4):
                    oy = row0 + 4 * ty + r
                    if oy >= h_out:
                        break
                    target = ((n * channels + o) * h_out + oy) * w_out
                    q = 4 * r * length + ty * span
                    for tx in range(whole):                    # interleaved stores of four lines
                        flat_y[target + 4 * tx] = quads[q + tx]
                        flat_y[target + 4 * tx + 1] = quads[q + length + tx]
                        flat_y[target + 4 * tx + 2] = quads[q + 2 * length + tx]
                        flat_y[target + 4 * tx + 3] = quads[q + 3 * length + tx]
                    for j in range(4 * whole, w_out):
                        flat_y[target + j] = quads[q + (j % 4) * length + j // 4]
    return y


# --------------------------------------------------------------------------- weight gradient
#
# y = A^T [(G g G^T) * V] A per tile is linear in g, so the weight gradient is its adjoint:
# dL/dg = G^T [sum over tiles (A dy A^T) * V] G. The input transform V is the forward's;
# the kernels below transform the 4x4 tiles of dy (A dy A^T) and bring the summed 6x6
# products back to 3x3 (G^T . G).


@numba.njit(cache=True, inline="always")
def _a_lines(c, a, i0, i1, i2, i3, o, j0, j1, j2, j3, j4, j5, length):
    """``o[j_k + e] = (A m)[k]`` with ``m[r] = a[i_r + e]`` (four input lines, six output lines)."""
    i0, i1, i2, i3 = np.uint64(i0), np.uint64(i1), np.uint64(i2), np.uint64(i3)
    j0, j1, j2, j3, j4, j5 = np.uint64(j0), np.uint64(j1), np.uint64(j2), np.uint64(j3), np.uint64(j4), np.uint64(j5)
    length = np.uint64(length)
    four, two = c[0], c[2]
    for e in range(length):
        o[j0 + e] = a[i0 + e]
    for e in range(length):
        o[j1 + e] = (a[i0 + e] + a[i2 + e]) + (a[i1 + e] + a[i3 + e])
    for e in range(length):
        o[j2 + e] = (a[i0 + e] + a[i2 + e]) - (a[i1 + e] + a[i3 + e])
    for e in range(length):
        o[j3 + e] = (a[i0 + e] + four * a[i2 + e]) + two * (a[i1 + e] + four * a[i3 + e])
    for e in range(length):
        o[j4 + e] = (a[i0 + e] + four * a[i2 + e]) - two * (a[i1 + e] + four * a[i3 + e])
    for e in range(length):
        o[j5 + e] = a[i3 + e]


@numba.njit(cache=True, inline="always")
def _gt_lines(c, a, i0, i1, i2, i3, i4, i5, o, j0, j1, j2, length):
    """``o[j_r + e] = (G^T m)[r]`` with ``m[k] = a[i_k + e]`` (six input lines, three output lines)."""
    i0, i1, i2, i3, i4, i5 = np.uint64(i0), np.uint64(i1), np.uint64(i2), np.uint64(i3), np.uint64(i4), np.uint64(i5)
    j0, j1, j2, length = np.uint64(j0), np.uint64(j1), np.uint64(j2), np.uint64(length)
    quarter, sixth, twelfth, twentyfourth = c[4], c[5], c[6], c[7]
    for e in range(length):
        o[j0 + e] = quarter * a[i0 + e] - sixth * (a[i1 + e] + a[i2 + e]) + twentyfourth * (a[i3 + e] + a[i4 + e])
    for e in range(length):
        o[j1 + e] = twelfth * (a[i3 + e] - a[i4 + e]) - sixth * (a[i1 + e] - a[i2 + e])
    for e in range(length):
        o[j2 + e] = sixth * ((a[i3 + e] + a[i4 + e]) - (a[i1 + e] + a[i2 + e])) + a[i5 + e]


@numba.njit(cache=True, parallel=True, nogil=True)
def winograd_grad_output(dy, c, row0, workers, w):
    """``w (36, C_out, b, th, tw + 1)``: ``A dy A^T`` of every 4x4 tile of ``dy (b, C_out, H, W)``
    (tile ``(ty, tx)`` at rows ``row0 + 4*ty``, columns ``4*tx``; cells outside ``dy`` are 0,
    so the slack column, which starts past the last output column, is all zeros)."""
    b, channels, h_out, w_out = dy.shape
    th, span = w.shape[3], w.shape[4]
    plane = th * span                                          # one phase's cells = tiles per plane
    items = channels * b
    flat_dy = dy.reshape(dy.size)
    flat_w = w.reshape(w.size)
    line_w = items * plane
    q1 = max(0, min(span, w_out // 4))                        # whole quads inside a row
    scratch_phases = np.zeros((workers, 16 * plane), dtype=dy.dtype)
    scratch_cols = np.zeros((workers, 24 * plane), dtype=dy.dtype)
    for worker in prange(workers):
        phases = scratch_phases[worker]                        # [r, s, ty, tx]
        cols = scratch_cols[worker]                            # A down the columns: [k, s, ty, tx]
        for item in range(worker * items // workers, (worker + 1) * items // workers):
            o = item // b
            n = item % b
            base = (n * channels + o) * h_out * w_out
            for r in range(4):
                for ty in range(th):
                    oy = row0 + 4 * ty + r
                    d = r * 4 * plane + ty * span
                    if oy >= h_out:
                        for s in range(4):
                            for q in range(span):
                                phases[d + s * plane + q] = 0.0
                        continue
                    row = base + oy * w_out
                    _split_quads(flat_dy, row, phases, d, plane, 0, q1)
                    for q in range(q1, span):
                        for s in range(4):
                            j = 4 * q + s
                            phases[d + s * plane + q] = flat_dy[row + j] if j < w_out else 0.0
            for s in range(4):
                _a_lines(c, phases, s * plane, (4 + s) * plane, (8 + s) * plane, (12 + s) * plane,
                         cols, s * plane, (4 + s) * plane, (8 + s) * plane, (12 + s) * plane, (16 + s) * plane,
                         (20 + s) * plane, plane)
            out = item * plane
            for k in range(6):
                line = 4 * k * plane
                _a_lines(c, cols, line, line + plane, line + 2 * plane, line + 3 * plane, flat_w,
                         6 * k * line_w + out, (6 * k + 1) * line_w + out, (6 * k + 2) * line_w + out,
                         (6 * k + 3) * line_w + out, (6 * k + 4) * line_w + out, (6 * k + 5) * line_w + out, plane)
    return w


@numba.njit(cache=True, parallel=True)
def winograd_filter_grad(du, c, dw):
    """``dw (F, 3, 3) = G^T du G`` for the summed products ``du (36, F)`` of every filter."""
    filters = dw.shape[0]
    flat_du = du.reshape(36 * filters)
    flat_dw = dw.reshape(filters * 9)
    blocks = (filters + _FILTER_BLOCK - 1) // _FILTER_BLOCK
    for block in prange(blocks):
        f0 = block * _FILTER_BLOCK
        n = min(filters, f0 + _FILTER_BLOCK) - f0
        t = np.empty(18 * n, dtype=dw.dtype)                   # G^T along each row: line 3k + col
        for k in range(6):
            start = 6 * k * filters + f0
            _gt_lines(c, flat_du, start, start + filters, start + 2 * filters, start + 3 * filters,
                      start + 4 * filters, start + 5 * filters, t, 3 * k * n, (3 * k + 1) * n, (3 * k + 2) * n, n)
        g = np.empty(9 * n, dtype=dw.dtype)                    # then down each column: line 3*row + col
        for col in range(3):
            _gt_lines(c, t, col * n, (3 + col) * n, (6 + col) * n, (9 + col) * n, (12 + col) * n, (15 + col) * n,
                      g, col * n, (3 + col) * n, (6 + col) * n, n)
        for f in range(n):
            for tap in range(9):
                flat_dw[(f0 + f) * 9 + tap] = g[tap * n + f]
    return dw
