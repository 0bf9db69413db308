"""Direct convolution loops compiled by numba: forward, transposed and weight gradient.

Every kernel works on 3-D planes ``(N, C, D, H, W)``; 1-D and 2-D problems arrive with
unit leading spatial dimensions (a reshape, no copy). The geometry travels as one int64
array ``geo`` so that every kernel has exactly one signature per dtype (what
``convwise warmup`` compiles and numba caches on disk)::

    geo = [stride_d, stride_h, stride_w, dilation_d, dilation_h, dilation_w,
           pad_lo_d, pad_lo_h, pad_lo_w]

The loops are the definition::

    y[n, o, z, y, x] = sum_{c in group(o)} sum_{taps} x[n, c, z*s - p + k*d, ...] * w[o, c, k]

The forward kernel and :func:`conv_weight_grad_planes` work by whole padded planes (see
:func:`conv_forward`); the caller also runs stride-1 transposed convolutions on the forward
kernel. The strided transposed kernel and :func:`conv_weight_grad` (for non-finite inputs)
go row by row (``prange`` over output rows, or over weight channel pairs) and never
materialise padding: for each kernel tap, :func:`_spans` gives the outputs whose input cell
lies inside the input. The caller keeps non-finite weights (forward) and gradients (weight
gradient), where ``0 * inf`` would be NaN, on the NumPy reference. No fast-math flag
assumes finite values (the weight-gradient sums allow reassociation and contraction only):
NaN and Inf propagate as in the plain sum.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

__all__ = ["conv_forward", "conv_transpose", "conv_weight_grad", "conv_weight_grad_planes"]


@numba.njit(cache=True)
def _spans(size_in, size_out, kernel, stride, dilation, pad):
    """Per tap ``t``: the outputs ``j`` in ``[lo, hi)`` with ``0 <= j*stride + t*dilation - pad < size_in``."""
    spans = np.empty((kernel, 2), dtype=np.int64)
    for t in range(kernel):
        offset = t * dilation - pad
        lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
        top = size_in - 1 - offset
        hi = min(size_out, top // stride + 1) if top >= 0 else 0
        spans[t, 0] = lo
        spans[t, 1] = max(lo, hi)
    return spans


@numba.njit(cache=True, inline="always")
def _dot(a, start, stride, b, n, total):
    """``total + sum(a[start::stride][:n] * b[:n])`` (reassociated: see ``conv_weight_grad``)."""
    if stride == 1:
        seg = a[start:start + n]
        for j in range(n):
            total += seg[j] * b[j]
    else:
        seg = a[start::stride]
        for j in range(n):
            total += seg[j] * b[j]
    return total


@numba.njit(cache=True, inline="always")
def _tap(plane, ty, tx, sh, sw, dh, dw, wq, length):
    """The flat run of padded-phase ``plane`` that tap ``(ty, tx)`` reads for every (wide) output."""
    start = ((ty * dh) // sh) * wq + (tx * dw) // sw
    return plane[((ty * dh) % sh) * sw + (tx * dw) % sw, start:start + length]


@numba.njit(cache=True)
def _taps3x3(acc, plane, weight, sh, sw, dh, dw, wq, length):
    """``acc += `` the nine taps of a 3x3 kernel in one pass (the sum kept in registers, not in ``acc``)."""
    p0, p1, p2 = _tap(plane, 0, 0, sh, sw, dh, dw, wq, length), _tap(plane, 0, 1, sh, sw, dh, dw, wq, length), \
        _tap(plane, 0, 2, sh, sw, dh, dw, wq, length)
    p3, p4, p5 = _tap(plane, 1, 0, sh, sw, dh, dw, wq, length), _tap(plane, 1, 1, sh, sw, dh, dw, wq, length), \
        _tap(plane, 1, 2, sh, sw, dh, dw, wq, length)
    p6, p7, p8 = _tap(plane, 2, 0, sh, sw, dh, dw, wq, length), _tap(plane, 2, 1, sh, sw, dh, dw, wq, length), \
        _tap(plane, 2, 2, sh, sw, dh, dw, wq, length)
    w0, w1, w2 = weight[0, 0], weight[0, 1], weight[0, 2]
    w3, w4, w5 = weight[1, 0], weight[1, 1], weight[1, 2]
    w6, w7, w8 = weight[2, 0], weight[2, 1], weight[2, 2]
    for k in range(length):
        acc[k] += (p0[k] * w0 + p1[k] * w1 + p2[k] * w2 + p3[k] * w3 + p4[k] * w4 + p5[k] * w5
                   + p6[k] * w6 + p7[k] * w7 + p8[k] * w8)


@numba.njit(cache=True)
def _fill_phases_flat(x, plane, h_in, w_in, sh, sw, ph, pw, phases, base, hq, wq):
    """Copy the input plane ``x[plane:plane + h_in*w_in]`` (flat) into its zero-padded stride phases:
    phase ``(rh, rw)`` holds padded cell ``(qy*sh + rh, qx*sw + rw)`` at
    ``phases[base + (rh*sw + rw) * hq*wq + qy*wq + qx]``. Unsigned offsets (see :func:`_copy_run`).
    Only the input's cells are written: the padding cells are zeroed once when ``phases`` is
    allocated, and every plane of a call has the same geometry. Stride 2 along rows goes to
    :func:`_fill_phase_pairs`."""
    if sw == 2:
        _fill_phase_pairs(x, plane, h_in, w_in, sh, ph, pw, phases, base, hq, wq)
        return
    for rh in range(sh):
        for rw in range(sw):
            target = base + (rh * sw + rw) * hq * wq
            lo, hi = _column_span(rw, sw, pw, w_in, wq)
            if hi <= lo:
                continue
            y0 = rh - ph                                   # input row of qy = 0
            first = 0 if y0 >= 0 else (-y0 + sh - 1) // sh
            for qy in range(first, hq):
                u = qy * sh + y0
                if u >= h_in:
                    break
                _copy_run(x, plane + u * w_in + lo * sw + rw - pw, sw, phases, target + qy * wq + lo, hi - lo)


@numba.njit(cache=True)
def _fill_phase_pairs(x, plane, h_in, w_in, sh, ph, pw, phases, base, hq, wq):
    """:func:`_fill_phases_flat` for stride 2 along rows: both column phases of an input row in one
    loop of paired loads (a strided loop per phase ran at a third of the speed: depthwise 144@56 s2)."""
    size = hq * wq
    lo0, hi0 = _column_span(0, 2, pw, w_in, wq)
    lo1, hi1 = _column_span(1, 2, pw, w_in, wq)
    both_lo, both_hi = max(lo0, lo1), min(hi0, hi1)
    for rh in range(sh):
        y0 = rh - ph                                       # input row of qy = 0
        first = 0 if y0 >= 0 else (-y0 + sh - 1) // sh
        target0 = base + rh * 2 * size
        target1 = target0 + size
        for qy in range(first, hq):
            u = qy * sh + y0
            if u >= h_in:
                break
            row = plane + u * w_in
            line = qy * wq
            if both_hi <= both_lo:
                if hi0 > lo0:
                    _copy_run(x, row + lo0 * 2 - pw, 2, phases, target0 + line + lo0, hi0 - lo0)
                if hi1 > lo1:
                    _copy_run(x, row + lo1 * 2 + 1 - pw, 2, phases, target1 + line + lo1, hi1 - lo1)
                continue
            if lo0 < both_lo:
                _copy_run(x, row + lo0 * 2 - pw, 2, phases, target0 + line + lo0, both_lo - lo0)
            if hi0 > both_hi:
                _copy_run(x, row + both_hi * 2 - pw, 2, phases, target0 + line + both_hi, hi0 - both_hi)
            if lo1 < both_lo:
                _copy_run(x, row + lo1 * 2 + 1 - pw, 2, phases, target1 + line + lo1, both_lo - lo1)
            if hi1 > both_hi:
                _copy_run(x, row + both_hi * 2 + 1 - pw, 2, phases, target1 + line + both_hi, hi1 - both_hi)
            _copy_pairs(x, row + both_lo * 2 - pw, phases, target0 + line + both_lo, target1 + line + both_lo,
                        both_hi - both_lo)


@numba.njit(cache=True, inline="always")
def _column_span(rw, sw, pw, w_in, wq):
    """``[lo, hi)``: the columns ``qx`` of phase ``rw`` whose input column ``qx*sw + rw - pw`` is inside."""
    x0 = rw - pw
    lo = 0 if x0 >= 0 else (-x0 + sw - 1) // sw
    top = w_in - 1 - x0
    hi = min(wq, top // sw + 1) if top >= 0 else 0
    return lo, max(lo, hi)


@numba.njit(cache=True, inline="always")
def _copy_pairs(src, start, dst, first0, first1, count):
    """``dst[first0 + j] = src[start + 2j]`` and ``dst[first1 + j] = src[start + 2j + 1]`` (unsigned offsets)."""
    start, first0, first1 = np.uint64(start), np.uint64(first0), np.uint64(first1)
    two, one = np.uint64(2), np.uint64(1)
    for j in range(np.uint64(count)):
        dst[first0 + j] = src[start + two * j]
        dst[first1 + j] = src[start + two * j + one]


@numba.njit(cache=True, inline="always")
def _copy_run(src, start, step, dst, first, count):
    """``dst[first + j] = src[start + j*step]`` for ``j < count``. Unsigned offsets: numba checks a
    signed index for wraparound, which stops the loop from vectorising, and a slice made here would
    cost reference counting on every call (both measured in :mod:`.winograd`)."""
    start, step, first = np.uint64(start), np.uint64(step), np.uint64(first)
    if step == 1:
        for j in range(np.uint64(count)):
            dst[first + j] = src[start + j]
    else:
        for j in range(np.uint64(count)):
            dst[first + j] = src[start + j * step]


@numba.njit(cache=True, inline="always")
def _taps3x3_flat(acc, plane, o0, o1, o2, o3, o4, o5, o6, o7, o8, w, wo, length):
    """``acc[k] += sum_t plane[o_t + k] * w[wo + t]`` over the nine taps of a 3x3 kernel, the sum
    kept in registers (one pass over ``acc``)."""
    o0, o1, o2, o3, o4 = np.uint64(o0), np.uint64(o1), np.uint64(o2), np.uint64(o3), np.uint64(o4)
    o5, o6, o7, o8 = np.uint64(o5), np.uint64(o6), np.uint64(o7), np.uint64(o8)
    w0, w1, w2, w3, w4 = w[wo], w[wo + 1], w[wo + 2], w[wo + 3], w[wo + 4]
    w5, w6, w7, w8 = w[wo + 5], w[wo + 6], w[wo + 7], w[wo + 8]
    for k in range(np.uint64(length)):
        acc[k] += (plane[o0 + k] * w0 + plane[o1 + k] * w1 + plane[o2 + k] * w2 + plane[o3 + k] * w3
                   + plane[o4 + k] * w4 + plane[o5 + k] * w5 + plane[o6 + k] * w6 + plane[o7 + k] * w7
                   + plane[o8 + k] * w8)


@numba.njit(cache=True, inline="always")
def _tap_flat(acc, plane, start, weight, length):
    """``acc[k] += plane[start + k] * weight`` for ``k < length``."""
    start = np.uint64(start)
    for k in range(np.uint64(length)):
        acc[k] += plane[start + k] * weight


@numba.njit(cache=True, parallel=True)
def conv_forward(x, w, geo, groups, block, workers, y):
    """``y (N, C_out, *out)`` = grouped cross-correlation of ``x (N, C_in, *in)`` with ``w (C_out, C_in/g, *k)``.

    By whole planes, so that each tap is one long unit-stride loop, on ``workers`` threads.
    A work item is (batch, group, output depth, ``block`` of the group's output channels):
    the ``C_in/g x k_d`` input planes it reads are written zero-padded into their stride
    phases once (:func:`_fill_phases_flat`), so tap ``(ty, tx)`` of every output is the flat
    run ``phase[(ty*dh)//sh * wq + (tx*dw)//sw + k]`` of one phase, with each output plane
    kept ``wq`` wide (the extra columns are scratch, dropped at the end). On the short rows
    of CNN layers this beats a per-row loop (depthwise 256@28, one thread: 0.31 against
    0.77 ms): fewer, longer inner loops. All arrays are read through flat views at unsigned
    offsets (no slices in the loops: see :func:`_copy_run`).
    """
    n, c_in, d_in, h_in, w_in = x.shape
    c_out, cg, kd, kh, kw = w.shape
    _, _, d_out, h_out, w_out = y.shape
    og = c_out // groups
    sd, sh, sw, dd, dh, dw, pd, ph, pw = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5], geo[6], geo[7], geo[8]
    wq = w_out + ((kw - 1) * dw) // sw
    hq = h_out + ((kh - 1) * dh) // sh + 1           # one row of slack for the wide tail's reads
    length = h_out * wq
    phase_size = hq * wq
    plane_size = sh * sw * phase_size                # one input plane's phases
    blocks = (og + block - 1) // block
    items = n * groups * d_out * blocks
    flat_x = x.reshape(x.size)
    flat_w = w.reshape(w.size)
    flat_y = y.reshape(y.size)
    phases = np.zeros((workers, cg * kd * plane_size), dtype=x.dtype)    # padding stays zero
    wide = np.empty((workers, length), dtype=x.dtype)
    for worker in prange(workers):
        mine = phases[worker]
        acc = wide[worker]
        for item in range(worker * items // workers, (worker + 1) * items // workers):
            part = item % blocks
            oz = (item // blocks) % d_out
            group = (item // (blocks * d_out)) % groups
            b = item // (blocks * d_out * groups)
            for c in range(cg):
                for tz in range(kd):
                    iz = oz * sd - pd + tz * dd
                    if 0 <= iz < d_in:
                        plane = (((b * c_in) + group * cg + c) * d_in + iz) * h_in * w_in
                        _fill_phases_flat(flat_x, plane, h_in, w_in, sh, sw, ph, pw, mine,
                                          (c * kd + tz) * plane_size, hq, wq)
            for o in range(group * og + part * block, min(group * og + (part + 1) * block, (group + 1) * og)):
                acc[:] = 0.0
                for c in range(cg):
                    for tz in range(kd):
                        iz = oz * sd - pd + tz * dd
                        if iz < 0 or iz >= d_in:
                            continue
                        base = (c * kd + tz) * plane_size
                        wo = ((o * cg + c) * kd + tz) * kh * kw
                        if kh == 3 and kw == 3:
                            _taps3x3_flat(acc, mine,
                                          base + _tap_offset(0, 0, sh, sw, dh, dw, wq, phase_size),
                                          base + _tap_offset(0, 1, sh, sw, dh, dw, wq, phase_size),
                                          base + _tap_offset(0, 2, sh, sw, dh, dw, wq, phase_size),
                                          base + _tap_offset(1, 0, sh, sw, dh, dw, wq, phase_size),
                                          base + _tap_offset(1, 1, sh, sw, dh, dw, wq, phase_size),
                                          base + _tap_offset(1, 2, sh, sw, dh, dw, wq, phase_size),
                                          base + _tap_offset(2, 0, sh, sw, dh, dw, wq, phase_size),
                                          base + _tap_offset(2, 1, sh, sw, dh, dw, wq, phase_size),
                                          base + _tap_offset(2, 2, sh, sw, dh, dw, wq, phase_size),
                                          flat_w, wo, length)
                            continue
                        for ty in range(kh):
                            for tx in range(kw):
                                _tap_flat(acc, mine, base + _tap_offset(ty, tx, sh, sw, dh, dw, wq, phase_size),
                                          flat_w[wo + ty * kw + tx], length)
                out = (((b * c_out) + o) * d_out + oz) * h_out * w_out
                for oy in range(h_out):
                    _copy_run(acc, oy * wq, 1, flat_y, out + oy * w_out, w_out)
    return y


@numba.njit(cache=True, inline="always")
def _tap_offset(ty, tx, sh, sw, dh, dw, wq, phase_size):
    """Offset in an input plane's phases of the run that tap ``(ty, tx)`` reads (see :func:`_tap`)."""
    return ((ty * dh) % sh * sw + (tx * dw) % sw) * phase_size + ((ty * dh) // sh) * wq + (tx * dw) // sw


@numba.njit(cache=True, parallel=True)
def conv_transpose(x, w, geo, groups, workers, y):
    """``y (N, C_out, *out)`` = adjoint of the forward conv ``out -> in`` given by ``geo``.

    ``x (N, C_in, *in)``, ``w (C_in, C_out/g, *k)``; output cell ``u`` gathers every
    input cell ``j`` and tap ``t`` with ``u = j*s - p + t*d`` (the scatter, read backwards),
    one output row at a time, the rows shared out among ``workers`` threads. Along a row, tap
    ``tx`` adds a contiguous run of the input row to the outputs of one column phase
    ``u % s_w``: the sums are kept per phase (contiguous, so they vectorise) and interleaved
    into the row once at the end, instead of a strided add per tap. Every division is done
    before the loop (tables of source rows and planes; rows stepped by carries). Flat arrays at
    unsigned offsets, as in :func:`conv_forward`. Depthwise 144@56 s2 N8, input gradient, one
    thread: 7.4 ms with a slice and a strided add per tap, 5.6 with phase sums, 3.0 without the
    per-row divisions.
    """
    n, c_in, d_in, h_in, w_in = x.shape
    _, og, kd, kh, kw = w.shape
    _, c_out, d_out, h_out, w_out = y.shape
    cg = c_in // groups
    sd, sh, sw, dd, dh, dw, pd, ph, pw = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5], geo[6], geo[7], geo[8]
    spans = _spans(w_out, w_in, kw, sw, dw, pw)      # input cells j whose output j*s + t*d - p exists
    flat_x = x.reshape(x.size)
    flat_w = w.reshape(w.size)
    flat_y = y.reshape(y.size)
    rows = n * c_out * d_out * h_out
    per_phase = (w_out + sw - 1) // sw               # outputs of one column phase
    # every division done once here, none per row (they had cost as much as the adds):
    # the input row/plane each output row/plane reads through each tap (-1: none), and where
    # in the row's phase sums each column tap's run starts
    rows_in = _sources(h_out, kh, sh, dh, ph, h_in)
    planes_in = _sources(d_out, kd, sd, dd, pd, d_in)
    starts = np.empty(kw, dtype=np.int64)
    for tx in range(kw):
        first = spans[tx, 0] * sw + tx * dw - pw     # the first output the tap reaches
        starts[tx] = (first % sw) * per_phase + first // sw
    workers = max(1, min(rows, workers))
    sums = np.empty((workers, sw * per_phase), dtype=y.dtype)
    for worker in prange(workers):
        acc = sums[worker]
        start = worker * rows // workers
        uy, uz = start % h_out, (start // h_out) % d_out       # the row's place, then stepped (no division)
        o, b = (start // (h_out * d_out)) % c_out, start // (h_out * d_out * c_out)
        group, m = o // og, o % og
        for row in range(start, (worker + 1) * rows // workers):
            _zero_run(acc, 0, sw * per_phase)
            for c in range(group * cg, group * cg + cg):
                for tz in range(kd):
                    jz = planes_in[uz, tz]
                    if jz < 0:
                        continue
                    for ty in range(kh):
                        jy = rows_in[uy, ty]
                        if jy < 0:
                            continue
                        src = (((b * c_in + c) * d_in + jz) * h_in + jy) * w_in
                        taps = (((c * og + m) * kd + tz) * kh + ty) * kw
                        for tx in range(kw):
                            lo, hi = spans[tx, 0], spans[tx, 1]
                            if hi > lo:
                                _axpy(flat_x, src + lo, acc, starts[tx], hi - lo, flat_w[taps + tx])
            _interleave(acc, per_phase, sw, flat_y, row * w_out, w_out)   # y is C-contiguous, rows in order
            uy += 1
            if uy == h_out:
                uy = 0
                uz += 1
                if uz == d_out:
                    uz = 0
                    o += 1
                    m += 1
                    if m == og:
                        m = 0
                        group += 1
                    if o == c_out:
                        o, m, group = 0, 0, 0
                        b += 1
    return y


@numba.njit(cache=True)
def _sources(size_out, kernel, stride, dilation, pad, size_in):
    """``table[u, t]``: the input index ``j`` with ``j*stride - pad + t*dilation == u`` inside the
    input, or -1 (a transposed convolution's gather, one axis)."""
    table = np.full((size_out, kernel), -1, dtype=np.int64)
    for u in range(size_out):
        for t in range(kernel):
            r = u + pad - t * dilation
            if r >= 0 and r % stride == 0 and r // stride < size_in:
                table[u, t] = r // stride
    return table


@numba.njit(cache=True, inline="always")
def _axpy(src, start, dst, first, count, weight):
    """``dst[first + j] += src[start + j] * weight`` for ``j < count`` (unsigned offsets)."""
    start, first = np.uint64(start), np.uint64(first)
    for j in range(np.uint64(count)):
        dst[first + j] += src[start + j] * weight


@numba.njit(cache=True, inline="always")
def _interleave(sums, per_phase, step, dst, first, count):
    """``dst[first + q*step + r] = sums[r*per_phase + q]`` for the ``count`` cells of a row (the column
    phases woven back together; two phases by paired stores)."""
    first, per = np.uint64(first), np.uint64(per_phase)
    if step == 1:
        for j in range(np.uint64(count)):
            dst[first + j] = sums[j]
    elif step == 2:
        two, one = np.uint64(2), np.uint64(1)
        pairs = np.uint64(count // 2)
        for q in range(pairs):
            dst[first + two * q] = sums[q]
            dst[first + two * q + one] = sums[per + q]
        if count % 2:
            dst[first + two * pairs] = sums[pairs]
    else:
        for r in range(step):
            for q in range((count - r + step - 1) // step):
                dst[first + np.uint64(q * step + r)] = sums[r * per_phase + q]


@numba.njit(cache=True, inline="always")
def _zero_run(dst, first, count):
    """``dst[first:first + count] = 0`` (unsigned offsets)."""
    first = np.uint64(first)
    for j in range(np.uint64(count)):
        dst[first + j] = 0.0


@numba.njit(cache=True, parallel=True, fastmath={"reassoc", "contract"})
def conv_weight_grad(x, dy, geo, groups, dw_out):
    """``dw_out (C_out, C_in/g, *k)`` = correlation of ``x (N, C_in, *in)`` with ``dy (N, C_out, *out)``.

    The only fast-math flags are reassociation and contraction, so that each tap's long sum
    vectorises; no flag assumes finite values, so NaN and Inf still propagate.
    """
    n, _, d_in, h_in, w_in = x.shape
    _, c_out, d_out, h_out, w_out = dy.shape
    _, cg, kd, kh, kw = dw_out.shape
    og = c_out // groups
    sd, sh, sw, dd, dh, dw, pd, ph, pw = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5], geo[6], geo[7], geo[8]
    spans = _spans(w_in, w_out, kw, sw, dw, pw)
    for pair in prange(c_out * cg):
        o = pair // cg
        c = pair % cg
        channel = (o // og) * cg + c
        grad = dw_out[o, c]
        grad[:] = 0.0
        for b in range(n):
            for oz in range(d_out):
                for tz in range(kd):
                    iz = oz * sd - pd + tz * dd
                    if iz < 0 or iz >= d_in:
                        continue
                    for oy in range(h_out):
                        g = dy[b, o, oz, oy]
                        for ty in range(kh):
                            iy = oy * sh - ph + ty * dh
                            if iy < 0 or iy >= h_in:
                                continue
                            src = x[b, channel, iz, iy]
                            taps = grad[tz, ty]
                            for tx in range(kw):
                                lo, hi = spans[tx, 0], spans[tx, 1]
                                taps[tx] = _dot(src, lo * sw + tx * dw - pw, sw, g[lo:hi], hi - lo, taps[tx])
    return dw_out


@numba.njit(cache=True, parallel=True, fastmath={"reassoc", "contract"})
def conv_weight_grad_planes(x, dy, geo, groups, workers, dw_out):
    """:func:`conv_weight_grad` by whole planes, for finite ``x`` only, on ``workers`` threads.

    Each (batch, output channel, output depth) slice of ``dy`` is laid out ``wq`` wide
    with zeros in the extra columns, and each input plane it meets is written into its
    padded stride phases as in :func:`conv_forward`; tap ``(ty, tx)``'s gradient is then
    one long dot product of a phase run with the wide ``dy``. The extra columns multiply
    real input cells by zero, which is exact only when those cells are finite (the caller
    checks; ``0 * inf`` would be NaN).
    """
    n, c_in, d_in, h_in, w_in = x.shape
    _, c_out, d_out, h_out, w_out = dy.shape
    _, cg, kd, kh, kw = dw_out.shape
    og = c_out // groups
    sd, sh, sw, dd, dh, dw, pd, ph, pw = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5], geo[6], geo[7], geo[8]
    wq = w_out + ((kw - 1) * dw) // sw
    hq = h_out + ((kh - 1) * dh) // sh + 1
    length = h_out * wq
    flat_x = x.reshape(x.size)
    phases = np.zeros((workers, sh * sw, hq * wq), dtype=x.dtype)      # padding cells stay zero
    wide = np.zeros((workers, length), dtype=x.dtype)                   # extra columns stay zero
    for worker in prange(workers):
        mine = phases[worker]
        grad_wide = wide[worker]
        for o in range(worker * c_out // workers, (worker + 1) * c_out // workers):
            grad = dw_out[o]
            grad[:] = 0.0
            first = (o // og) * cg
            for b in range(n):
                for oz in range(d_out):
                    g = dy[b, o, oz]
                    for oy in range(h_out):
                        row = grad_wide[oy * wq:oy * wq + w_out]
                        src = g[oy]
                        for j in range(w_out):
                            row[j] = src[j]
                    for c in range(cg):
                        for tz in range(kd):
                            iz = oz * sd - pd + tz * dd
                            if iz < 0 or iz >= d_in:
                                continue
                            plane = ((b * c_in + first + c) * d_in + iz) * h_in * w_in
                            _fill_phases_flat(flat_x, plane, h_in, w_in, sh, sw, ph, pw, mine.reshape(mine.size), 0,
                                              hq, wq)
                            for ty in range(kh):
                                for tx in range(kw):
                                    run = _tap(mine, ty, tx, sh, sw, dh, dw, wq, length)
                                    total = grad[c, tz, ty, tx]
                                    for k in range(length):
                                        total += run[k] * grad_wide[k]
                                    grad[c, tz, ty, tx] = total
    return dw_out
