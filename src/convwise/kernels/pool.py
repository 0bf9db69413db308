"""Max and average pooling loops compiled by numba, with PyTorch's scan and divisor rules.

Planes are 3-D ``(P, D, H, W)`` (``P`` = batch x channels; 1-D and 2-D pooling arrive with
unit leading dimensions). ``geo`` is one int64 array, as in :mod:`.conv`::

    geo = [kernel_d, kernel_h, kernel_w, stride_d, stride_h, stride_w,
           dilation_d, dilation_h, dilation_w, pad_lo_d, pad_lo_h, pad_lo_w]

Max pooling is torch's scan: the running maximum starts at ``-inf`` with the index of
the window's first in-bounds cell, and the taps in row-major order replace it when
strictly greater *or NaN* (ties keep the first maximum; a NaN window reports its last
NaN). Per output row the taps are visited tap-row by tap-row with the row's outputs in
the inner loop, which keeps each output's visiting order and lets the loop vectorise.

Average pooling sums the in-bounds cells and divides by torch's divisor: the window
clipped to the padded input (``count_include_pad``), or to the input itself, or the
override (``override != 0``); a window without input cells gives 0.

Power-average (lp) pooling is torch's composition in one pass: the window sum of
``x ** p`` (no padding), over the window's cell count (the ``ceil_mode`` divisor), times the
full kernel volume, ``** (1 / p)``. Powers follow torch's special cases (``mode``): 1 is
``x``, 2 ``x * x``, 3 ``x * x * x``, 0.5 ``sqrt`` (NaN at ``-inf``), -0.5 ``1 / sqrt`` (``-inf``
at ``-0``), -1 ``1 / x``, -2 ``1 / (x * x)``; any other exponent is the caller's ``pow``; torch's
``sign(a) * relu(abs(a))`` is ``a + 0`` (it only turns ``-0`` into ``+0``).

The backward kernels accumulate in torch's order, each input cell summing its
contributions in row-major output order: max pooling scatters ``grad_output`` through the
indices plane by plane (indices outside the plane are skipped); average pooling gathers,
per input row, the divided gradients of the windows that cover it.

Inner loops index flat arrays with unsigned offsets (see
:func:`convwise.kernels.winograd._split_quads`): numba checks signed indices for
wrap-around, which keeps a loop from vectorising.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .conv import _column_span

__all__ = ["avg_pool", "avg_pool_backward", "lp_pool", "max_pool", "max_pool_backward"]


@numba.njit(cache=True, inline="always")
def _first(start, dilation):
    """torch's first visited coordinate of a window starting at ``start`` (steps of ``dilation`` past the padding)."""
    while start < 0:
        start += dilation
    return start


@numba.njit(cache=True, parallel=True)
def max_pool(x, geo, with_index, y, index):
    """``y, index (P, *out)``: the maxima of ``x (P, *in)`` and (``with_index``) their flat indices in each plane."""
    planes, d_in, h_in, w_in = x.shape
    _, d_out, h_out, w_out = y.shape
    kd, kh, kw, sd, sh, sw = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5]
    dd, dh, dw, pd, ph, pw = geo[6], geo[7], geo[8], geo[9], geo[10], geo[11]
    for row in prange(planes * d_out * h_out):
        oy = row % h_out
        oz = (row // h_out) % d_out
        p = row // (h_out * d_out)
        best = y[p, oz, oy]
        where = index[p, oz, oy] if with_index else index[0, 0, 0]     # (index is 1x1x1x1 without)
        z0 = oz * sd - pd
        y0 = oy * sh - ph
        best[:] = -np.inf
        if with_index:
            corner = (_first(z0, dd) * h_in + _first(y0, dh)) * w_in
            for j in range(w_out):
                where[j] = corner + _first(j * sw - pw, dw)
        for tz in range(kd):
            iz = z0 + tz * dd
            if iz < 0 or iz >= d_in:
                continue
            for ty in range(kh):
                iy = y0 + ty * dh
                if iy < 0 or iy >= h_in:
                    continue
                src = x[p, iz, iy]
                base = (iz * h_in + iy) * w_in
                for tx in range(kw):
                    offset = tx * dw - pw
                    lo = 0 if offset >= 0 else (-offset + sw - 1) // sw
                    top = w_in - 1 - offset
                    hi = min(w_out, top // sw + 1) if top >= 0 else 0
                    if hi <= lo:
                        continue
                    seg = src[lo * sw + offset::sw]          # views indexed from 0: no wrap-around checks
                    run = best[lo:hi]
                    won = where[lo:hi]
                    if not with_index:                        # a NaN-propagating running maximum
                        for j in range(hi - lo):
                            value = seg[j]
                            current = run[j]
                            run[j] = value if (value > current) | np.isnan(value) else current
                        continue
                    first = base + lo * sw + offset
                    for j in range(hi - lo):                  # selects, not branches (unpredictable on data)
                        value = seg[j]
                        current = run[j]
                        take = (value > current) | np.isnan(value)
                        run[j] = value if take else current
                        won[j] = first + j * sw if take else won[j]
    return y, index


@numba.njit(cache=True, parallel=True)
def avg_pool(x, geo, count_include_pad, override, y):
    """``y (P, *out)``: window sums of ``x (P, *in)`` over torch's divisor (see the module docstring)."""
    planes, d_in, h_in, w_in = x.shape
    _, d_out, h_out, w_out = y.shape
    kd, kh, kw, sd, sh, sw = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5]
    pd, ph, pw = geo[9], geo[10], geo[11]
    for row in prange(planes * d_out * h_out):
        oy = row % h_out
        oz = (row // h_out) % d_out
        p = row // (h_out * d_out)
        total = y[p, oz, oy]
        z0 = oz * sd - pd
        y0 = oy * sh - ph
        z1 = min(z0 + kd, d_in + pd)
        y1 = min(y0 + kh, h_in + ph)
        for j in range(w_out):
            total[j] = 0.0
        for iz in range(max(z0, 0), min(z1, d_in)):
            for iy in range(max(y0, 0), min(y1, h_in)):
                src = x[p, iz, iy]
                for tx in range(kw):
                    offset = tx - pw
                    lo, hi = _column_span(tx, sw, pw, w_in, w_out)
                    if hi <= lo:
                        continue
                    seg = src[lo * sw + offset::sw]
                    run = total[lo:hi]
                    for j in range(hi - lo):
                        run[j] += seg[j]
        inside_zy = (min(z1, d_in) - max(z0, 0)) * (min(y1, h_in) - max(y0, 0))
        padded_zy = (z1 - z0) * (y1 - y0)
        for j in range(w_out):
            x0 = j * sw - pw
            x1 = min(x0 + kw, w_in + pw)
            inside = min(x1, w_in) - max(x0, 0)
            if inside <= 0 or inside_zy <= 0:
                total[j] = 0.0
                continue
            if override != 0:
                divisor = override
            elif count_include_pad:
                divisor = padded_zy * (x1 - x0)
            else:
                divisor = inside_zy * inside
            total[j] = total[j] / divisor
    return y


@numba.njit(cache=True, inline="always")
def _power(value, mode, unit):
    """``value ** p`` for torch's special exponents ``p`` (``mode``: 1 to 7 in
    :data:`convwise.kernels.pooling.POWER_MODES`)."""
    if mode == 2:
        return value * value
    if mode == 3:
        return value * value * value
    if mode == 4:
        return np.sqrt(value)
    if mode == 5:
        return unit / np.sqrt(value)
    if mode == 6:
        return unit / value
    if mode == 7:
        return unit / (value * value)
    return value


@numba.njit(cache=True, inline="always")
def _raise_line(source, target, start, count, mode, unit):
    """``target[start + j] = source[start + j] ** p`` for ``j < count``: one loop per mode, so each vectorises."""
    start, count = np.uint64(start), np.uint64(count)
    if mode == 2:
        for j in range(count):
            target[start + j] = source[start + j] * source[start + j]
    elif mode == 4:
        for j in range(count):
            target[start + j] = np.sqrt(source[start + j])
    else:
        for j in range(count):
            target[start + j] = _power(source[start + j], mode, unit)


@numba.njit(cache=True, parallel=True)
def lp_pool(x, geo, mode, inverse_mode, volume, y):
    """``y (P, *out)``: ``(window sum of x ** p / cells * volume + 0) ** (1 / p)`` of ``x (P, *in)``.

    No padding or dilation (``geo``'s are ignored); ``volume`` has ``x``'s dtype. ``mode``
    and ``inverse_mode`` name torch's special exponents (:func:`_power`); for any other ``p``
    the caller passes ``x ** p`` itself with ``mode`` 1, and with ``inverse_mode`` 0 the
    kernel leaves ``t = a * volume + 0`` for the caller's ``t ** (1 / p)`` (SIMD powers that
    numba's scalar ``pow`` would not match in speed). The powers are taken once per cell,
    into a scratch copy, then summed window by window as in :func:`avg_pool`.
    """
    planes, d_in, h_in, w_in = x.shape
    _, d_out, h_out, w_out = y.shape
    kd, kh, kw, sd, sh, sw = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5]
    unit = np.ones(1, dtype=x.dtype)[0]
    zero = unit - unit
    flat_y = y.reshape(y.size)
    source = x.reshape(x.size)
    if mode != 1:
        powers = np.empty(x.size, dtype=x.dtype)
        for line in prange(planes * d_in * h_in):
            _raise_line(source, powers, line * w_in, w_in, mode, unit)
        source = powers
    step = np.uint64(sw)
    for row in prange(planes * d_out * h_out):
        oy = row % h_out
        oz = (row // h_out) % d_out
        plane = row // (h_out * d_out)
        out = np.uint64(row * w_out)
        for j in range(np.uint64(w_out)):
            flat_y[out + j] = zero
        z0 = oz * sd
        y0 = oy * sh
        z1 = min(z0 + kd, d_in)
        y1 = min(y0 + kh, h_in)
        for iz in range(z0, z1):
            for iy in range(y0, y1):
                line = np.uint64(((plane * d_in + iz) * h_in + iy) * w_in)
                for tx in range(min(kw, w_in)):
                    hi = np.uint64(min(w_out, (w_in - 1 - tx) // sw + 1))
                    first = line + np.uint64(tx)
                    if sw == 1:                                # contiguous: vectorises
                        for j in range(hi):
                            flat_y[out + j] += source[first + j]
                    else:
                        for j in range(hi):
                            flat_y[out + j] += source[first + j * step]
        cells_zy = (z1 - z0) * (y1 - y0)
        for j in range(w_out):
            x0 = j * sw
            k = out + np.uint64(j)
            flat_y[k] = flat_y[k] / (cells_zy * (min(x0 + kw, w_in) - x0))     # rounded to y's dtype
            t = flat_y[k] * volume + zero
            flat_y[k] = t if inverse_mode == 0 else _power(t, inverse_mode, unit)
    return y


@numba.njit(cache=True, parallel=True)
def max_pool_backward(grad, index, gx):
    """``gx (P, S)``: zero, then ``grad (P, M)`` added at ``index (P, M)`` of each plane, in output order
    (an index outside ``[0, S)`` is skipped: torch's for a window of padding only, or a caller's)."""
    planes, cells = gx.shape
    outputs = np.uint64(grad.shape[1])
    size = np.uint64(cells)
    flat_g = grad.reshape(grad.size)
    flat_i = index.reshape(index.size)
    flat_x = gx.reshape(gx.size)
    for plane in prange(planes):
        base = np.uint64(plane) * size
        for k in range(size):
            flat_x[base + k] = 0
        first = np.uint64(plane) * outputs
        for j in range(outputs):
            where = np.uint64(flat_i[first + j])            # a negative index wraps past the plane
            if where < size:
                flat_x[base + where] += flat_g[first + j]
    return gx


@numba.njit(cache=True, parallel=True)
def avg_pool_backward(grad, geo, count_include_pad, override, gx):
    """``gx (P, *in)``: each cell's sum, in row-major output order, of ``grad (P, *out)`` over torch's
    divisor for the windows that hold the cell (as :func:`avg_pool`; dilation is 1)."""
    planes, d_out, h_out, w_out = grad.shape
    _, d_in, h_in, w_in = gx.shape
    kd, kh, kw, sd, sh, sw = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5]
    pd, ph, pw = geo[9], geo[10], geo[11]
    flat_g = grad.reshape(grad.size)
    flat_x = gx.reshape(gx.size)
    share = np.empty(grad.size, dtype=grad.dtype)
    for row in prange(planes * d_out * h_out):                 # each output over its divisor
        oy = row % h_out
        oz = (row // h_out) % d_out
        z0 = oz * sd - pd
        y0 = oy * sh - ph
        z1 = min(z0 + kd, d_in + pd)
        y1 = min(y0 + kh, h_in + ph)
        inside_zy = (min(z1, d_in) - max(z0, 0)) * (min(y1, h_in) - max(y0, 0))
        padded_zy = (z1 - z0) * (y1 - y0)
        out = np.uint64(row * w_out)
        for j in range(w_out):
            x0 = j * sw - pw
            x1 = min(x0 + kw, w_in + pw)
            inside = min(x1, w_in) - max(x0, 0)
            k = out + np.uint64(j)
            if inside <= 0 or inside_zy <= 0:
                share[k] = 0                                   # an empty window holds no cell
            elif override != 0:
                share[k] = flat_g[k] / override
            elif count_include_pad:
                share[k] = flat_g[k] / (padded_zy * (x1 - x0))
            else:
                share[k] = flat_g[k] / (inside_zy * inside)
    step = np.uint64(sw)
    for line in prange(planes * d_in * h_in):                  # each input row gathers its windows
        iy = line % h_in
        iz = (line // h_in) % d_in
        plane = line // (h_in * d_in)
        row = np.uint64(line * w_in)
        for j in range(np.uint64(w_in)):
            flat_x[row + j] = 0
        oz0 = max(0, (iz + pd - kd + sd) // sd)                  # first window with iz < start + kd
        oz1 = min(d_out, (iz + pd) // sd + 1)                    # past the last with start <= iz
        oy0 = max(0, (iy + ph - kh + sh) // sh)
        oy1 = min(h_out, (iy + ph) // sh + 1)
        for oz in range(oz0, oz1):
            for oy in range(oy0, oy1):
                out = np.uint64(((plane * d_out + oz) * h_out + oy) * w_out)
                for tx in range(kw - 1, -1, -1):               # later taps are earlier windows
                    offset = tx - pw
                    lo, hi = _column_span(tx, sw, pw, w_in, w_out)
                    if hi <= lo:
                        continue
                    first = row + np.uint64(lo * sw + offset)
                    source = out + np.uint64(lo)
                    if sw == 1:                                # contiguous: vectorises
                        for j in range(np.uint64(hi - lo)):
                            flat_x[first + j] += share[source + j]
                    else:
                        for j in range(np.uint64(hi - lo)):
                            flat_x[first + j * step] += share[source + j]
    return gx
