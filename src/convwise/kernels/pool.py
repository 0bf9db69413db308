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
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

__all__ = ["avg_pool", "max_pool"]


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
                    lo = 0 if offset >= 0 else (-offset + sw - 1) // sw
                    top = w_in - 1 - offset
                    hi = min(w_out, top // sw + 1) if top >= 0 else 0
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
