"""FFT convolution: overlap-save blocks, channel contraction in the frequency domain.

One core, :func:`correlate`, computes a stride-``s``, dilation-``d`` cross-correlation of
any number of spatial dimensions; forward, transposed and weight-gradient convolution
are all phrased as calls to it.

How it works, per call:

1. **Dilation** becomes zeros between kernel taps (``k_eff = d*(k-1)+1``).
2. **Stride** is removed by a polyphase split: ``y[o] = sum_k x[o*s + k] w[k]`` equals
   the sum over the ``s`` phases ``r`` of stride-1 correlations of ``x_r[m] = x[m*s + r]``
   with ``w_r[q] = w[q*s + r]``. Phases become extra input channels (``C_in * s**ndim``),
   sizes shrink by ``s``; nothing is computed and then thrown away.
3. **Overlap-save blocks**: the stride-1 valid correlation is cut into tiles of ``L``
   input cells (``2^k`` or ``3 * 2^k``, or one fast length covering everything) giving
   ``B = L - Q + 1`` outputs each, ``Q`` the
   (phase) kernel length. ``L`` is chosen per dimension by the cost model below: one big
   block for large kernels, small blocks when many channels make the kernel spectra
   (``C_out * C_in`` of them) the expensive part.
4. **Transforms once, reuse everywhere, no transposes**: each input tile channel and
   each filter is transformed once, and the channel sum is one batched complex GEMM over
   frequencies, ``(C_out x C_in) @ (C_in x tiles)`` per frequency (cgemm, contiguous
   operands). The layouts keep the transform axes *first*, so the FFT outputs already are
   the GEMM operands: tiles are read by one strided view ``(*L, C, b, *T)`` straight into
   ``scipy.fft.rfftn(axes=spatial)``, giving ``(*F, C, b, *T)`` = ``(F, C, tiles)``; the
   product ``(F, C_out, tiles)`` goes straight into the inverse transform, which computes
   only the ``B`` valid outputs per tile, by DFT-matrix GEMMs where that is cheaper than
   a whole-tile ``irfftn`` (small tiles, :func:`_inverse_by_dft`), and one strided copy
   scatters them into the output. Spectra and products live in the thread's reused
   scratch buffer (:mod:`convwise._workspace`; fresh ones cost page faults every call).
   Filter spectra ``(*F, C_out, C_in/g)`` come
   from one batched ``rfftn`` over all filters or, for small kernels, from separable
   DFT-matrix GEMMs (``(F, q) @ (q, C_out*C_in/g)``), whichever the model says is cheaper.
5. **Workspace and threads**: tiles are processed in chunks (over the batch, then over rows
   of tiles, about :data:`_fft_plan.FFT_CHUNK_BYTES` each) and filters in chunks of output
   channels so scratch stays within ``get_config().workspace_bytes``. With
   ``threads > 1`` the chunks (and filter-spectrum pieces) run on a thread pool, each with
   single-threaded BLAS and ``workers=1`` FFTs (:func:`convwise.algorithms._parallel.run`).

float32 runs in complex64 where the error bound holds (see :func:`eligible`), float64 in
complex128.

Cost (:func:`cost`, seconds) and the choice of block lengths: :mod:`._fft_plan`.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import as_strided

from .._config import get_config
from .._workspace import scratch, with_scratch
from ..arithmetic import ConvGeometry, TransposeGeometry, transpose_as_direct
from . import _cost, _fft_plan, _filter_cache, _parallel
from ._parallel import plan_tiles
from ._record import Algorithm, Problem
from ._windows import direct_operands, phase_split

__all__ = ["forward", "transpose", "weight_grad", "correlate", "why_ineligible", "cost", "RECORD"]

# float32 accuracy guard: complex64 FFT error grows with the transform size and the
# number of terms summed; beyond this many terms per output we compute in complex128.
_FLOAT32_MAX_TERMS = 1 << 22


# --------------------------------------------------------------------------- the core


def _phase_sizes(out, kernel, stride, dilation):
    k_eff = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    q = tuple(-(-ke // s) for ke, s in zip(k_eff, stride))
    return k_eff, q


def _complex_dtype(dtype, terms: int):
    if np.dtype(dtype) == np.float64 or terms > _FLOAT32_MAX_TERMS:
        return np.complex128
    return np.complex64


def _phase_kernel(weight, k_eff, q, stride, dilation):
    """Dilate and polyphase-split a filter bank: ``(C_out, C_g * prod(s), *q)``."""
    c_out, c_g = weight.shape[:2]
    full = tuple(qq * s for qq, s in zip(q, stride))
    if full == tuple(weight.shape[2:]) and all(d == 1 for d in dilation):
        wd = weight
    else:
        wd = np.zeros((c_out, c_g, *full), dtype=weight.dtype)
        wd[(slice(None), slice(None)) + tuple(slice(0, ke, d) for ke, d in zip(k_eff, dilation))] = weight
    if all(s == 1 for s in stride):
        return wd
    return phase_split(wd, stride).reshape(c_out, c_g * math.prod(stride), *q)


def _dft_matrix(q: int, length: int, half: bool, cdtype):
    """conj of the DFT of a length-``q`` signal zero-padded to ``length``: ``(F, q)``."""
    f = np.arange(length // 2 + 1 if half else length)
    return np.exp(2j * np.pi * np.outer(f, np.arange(q)) / length).astype(cdtype)


def _spectrum_piece(w, lengths, cdtype, use_dft, out):
    """conj(DFT(w)) of ``w`` ``(*q, R)`` (spatial axes first) on the rfftn grid, into ``out`` ``(*F, R)``."""
    ndim = len(lengths)
    if not use_dft:
        spec = scipy.fft.rfftn(w, s=lengths, axes=range(ndim), workers=1)
        np.conj(spec, out=out)
        return
    q = w.shape[:ndim]
    # last spatial axis: real input -> half spectrum (complex64 @ float32 runs as one cgemm,
    # measured 2x faster than a real GEMM on [cos; sin] plus assembling the complex result)
    last = _dft_matrix(q[-1], lengths[-1], True, cdtype)
    f_last = last.shape[0]
    lead = math.prod(q[:-1])
    columns = w.shape[-1]
    with scratch() as pad:          # temporaries from the reused buffer: no page faults (7.4 -> 4.4 ms at k13)
        wc = pad.empty(w.shape, cdtype)
        np.copyto(wc, w)
        target = out if ndim == 1 else pad.empty((lead, f_last, columns), cdtype)
        spec = np.matmul(last, wc.reshape(lead, q[-1], columns), out=target.reshape(lead, f_last, columns))
        shape = list(q[:-1]) + [f_last, columns]
        for axis in range(ndim - 2, -1, -1):                                            # the other axes: complex
            matrix = _dft_matrix(q[axis], lengths[axis], False, cdtype)
            before = math.prod(shape[:axis])
            shape[axis] = lengths[axis]
            target = out if axis == 0 else pad.empty(tuple(shape), cdtype)
            spec = np.matmul(matrix, spec.reshape(before, q[axis], -1),
                             out=target.reshape(before, lengths[axis], -1))


def _kernel_spectrum(wp, lengths, cdtype, use_dft, threads, pad):
    """conj(DFT(w)) of a filter bank ``(C_out, C_g, *q)`` on the rfftn grid: ``(*F, C_out, C_g)``,
    in ``pad`` (the caller's scratch block)."""
    c_out, c_g = wp.shape[:2]
    real = np.float32 if cdtype == np.complex64 else np.float64
    w = np.ascontiguousarray(np.moveaxis(wp, (0, 1), (-2, -1)), dtype=real).reshape(*wp.shape[2:], c_out * c_g)
    freq_shape = tuple(lengths[:-1]) + (lengths[-1] // 2 + 1,)
    out = pad.empty(freq_shape + (c_out * c_g,), cdtype)
    pieces = min(threads, c_out * c_g) if c_out * c_g * math.prod(freq_shape) >= (1 << 16) else 1
    if pieces == 1:
        _spectrum_piece(w, lengths, cdtype, use_dft, out)
        return out.reshape(freq_shape + (c_out, c_g))
    bounds = [(i * out.shape[-1] // pieces, (i + 1) * out.shape[-1] // pieces) for i in range(pieces)]

    def piece(lo, hi):
        with scratch() as own:                                   # this worker's buffer
            part = own.empty(freq_shape + (hi - lo,), cdtype)
            _spectrum_piece(np.ascontiguousarray(w[..., lo:hi]), lengths, cdtype, use_dft, part)
            out[..., lo:hi] = part

    _parallel.run([functools.partial(piece, lo, hi) for lo, hi in bounds if hi > lo], threads)
    return out.reshape(freq_shape + (c_out, c_g))


def _tile_rows_bytes(row_bytes: int, samples: int, rows: int) -> int:
    return samples * rows * row_bytes


def _gather(x, start, stride, region, dims):
    """Zero-padded phase-domain block of ``x``: ``(b, C * prod(s), *region_lengths)``.

    ``region`` is per dimension ``(m0, m1)`` in phase-domain coordinates; phase cell ``m``
    of phase ``r`` is input cell ``start + m*s + r``.
    """
    b, c = x.shape[:2]
    spans = tuple((m1 - m0) * s for (m0, m1), s in zip(region, stride))
    buffer = np.zeros((b, c, *spans), dtype=x.dtype)
    src, dst = [], []
    for (m0, _), s, st, span, size in zip(region, stride, start, spans, dims):
        first = st + m0 * s
        lo, hi = max(first, 0), min(first + span, size)
        if hi <= lo:
            return _polyphase(buffer, stride)
        src.append(slice(lo, hi))
        dst.append(slice(lo - first, hi - first))
    buffer[(slice(None), slice(None)) + tuple(dst)] = x[(slice(None), slice(None)) + tuple(src)]
    return _polyphase(buffer, stride)


def _polyphase(buffer, stride):
    """``(b, C, *S)`` -> ``(b, C * prod(s), *S/s)``: stride phases as extra channels."""
    if all(s == 1 for s in stride):
        return buffer
    split = phase_split(buffer, stride)                         # (b, C, *s, *m)
    return split.reshape(split.shape[0], -1, *split.shape[2 + len(stride):])


def correlate(x, weight, start, output_size, stride, dilation, groups, *, keep_spectrum: bool = False):
    """``y[n, o, j] = sum_{c, k} x[n, g(o)*C_g + c, start + j*stride + k*dilation] * weight[o, c, k]``.

    ``x``: ``(N, C_in, *S)``; ``weight``: ``(C_out, C_in/groups, *K)``; ``start`` (per
    dimension, may be negative or beyond ``S``: cells outside ``x`` read as zero) is the
    input index that output 0's first tap meets, i.e. minus the low padding. Returns
    ``(N, C_out, *output_size)`` in ``x``'s dtype.
    """
    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    kernel = weight.shape[2:]
    k_eff, q = _phase_sizes(output_size, kernel, stride, dilation)
    phases = math.prod(stride)
    channels = c_in * phases
    c_in_g = channels // groups
    c_out_g = c_out // groups
    cdtype = _complex_dtype(x.dtype, c_in_g * math.prod(q))
    csize = np.dtype(cdtype).itemsize
    budget = get_config().workspace_bytes
    threads = get_config().threads
    chosen = _fft_plan.plan(n, channels, c_out, groups, tuple(q), tuple(output_size), csize // 2, budget)
    if chosen is None:
        unlimited = _fft_plan.plan(n, channels, c_out, groups, tuple(q), tuple(output_size), csize // 2, 1 << 62)
        assert unlimited is not None                 # without a budget some plan always exists
        smallest = unlimited[2]
        raise ValueError(f"fft convolution needs at least {smallest / 2**20:.1f} MiB of workspace, more than "
                         f"the configured workspace_mib={get_config().workspace_mib:g}")
    lengths = chosen[1]
    blocks = tuple(length - k + 1 for length, k in zip(lengths, q))
    tiles = tuple(-(-o // b) for o, b in zip(output_size, blocks))
    points = math.prod(lengths)
    freq_shape = tuple(lengths[:-1]) + (lengths[-1] // 2 + 1,)
    freqs = math.prod(freq_shape)

    # filter spectra in chunks of output channels: whole groups, or a part of one group
    per_filter = 3 * c_in_g * freqs * csize          # spectrum plus its construction temporaries
    per_tile = _fft_plan.tile_bytes(c_in_g, c_out_g, points, freqs, csize // 2)
    row_tiles = math.prod(tiles[1:])
    w_budget = max(budget - row_tiles * per_tile, budget // 4)
    co_step = max(1, min(c_out, w_budget // max(per_filter, 1)))
    if co_step >= c_out_g:
        co_step = co_step // c_out_g * c_out_g
        chunks = [(co, min(co + co_step, c_out)) for co in range(0, c_out, co_step)]
    else:
        chunks = [(g * c_out_g + co, g * c_out_g + min(co + co_step, c_out_g))
                  for g in range(groups) for co in range(0, c_out_g, co_step)]
    wp = _phase_kernel(weight, k_eff, q, stride, dilation)
    _, use_dft = _fft_plan.kernel_spectrum_flops(tuple(q), lengths)
    c_in_orig_g = c_in // groups
    loop = c_in_g <= _fft_plan.LOOP_CHANNELS

    y = np.empty((n, c_out, *output_size), dtype=x.dtype)
    geometry = (start, stride, tiles, blocks, lengths, output_size, cdtype)
    for co0, co1 in chunks:
        with scratch() as pad:                      # this chunk's filter spectra, reused buffer
            g0, g1 = co0 // c_out_g, (co1 - 1) // c_out_g + 1                          # groups touched
            chunk_g = g1 - g0
            if keep_spectrum and len(chunks) == 1:      # the caller's weights: kept for the next call
                key = ("fft", lengths, np.dtype(cdtype).str, tuple(stride), tuple(dilation), groups, use_dft)
                spectrum = _filter_cache.transform(
                    weight, key, functools.partial(_kernel_spectrum, wp, lengths, cdtype, use_dft, threads, pad))
            else:
                spectrum = _kernel_spectrum(wp[co0:co1], lengths, cdtype, use_dft, threads, pad)  # (*F, co, cg)
            spectrum = spectrum.reshape(freqs, chunk_g, (co1 - co0) // chunk_g, c_in_g)      # (F, g, co, cg)
            x_groups = x[:, g0 * c_in_orig_g:g1 * c_in_orig_g]
            row_bytes = row_tiles * _fft_plan.tile_bytes(chunk_g * c_in_g, co1 - co0, points, freqs, csize // 2)
            available = max(budget - spectrum.nbytes, row_bytes)
            workers = max(1, min(threads, available // row_bytes))
            # about _fft_plan.FFT_CHUNK_BYTES per piece, but wide enough (>= _fft_plan.MIN_COLUMNS tiles) for an
            # efficient GEMM where the budget allows
            wide = row_bytes * -(-_fft_plan.MIN_COLUMNS // max(row_tiles, 1))
            target = min(available // workers, max(_fft_plan.FFT_CHUNK_BYTES, wide))
            pieces = plan_tiles(n, tiles[0], functools.partial(_tile_rows_bytes, row_bytes), target, workers)
            _parallel.run([functools.partial(_block, x_groups, spectrum, loop, y, (co0, co1), batch, rows, geometry)
                          for batch, rows in pieces], workers)
    return y


def _writable_view(array, shape):
    """``array`` reshaped without a copy (raises if that is impossible)."""
    view = array.view()
    view.shape = shape
    return view




def _idft_matrix(length: int, block: int, half: bool, cdtype):
    """``(block, F)``: the inverse DFT (scaled by ``1 / length``) at outputs ``0..block-1``;
    ``half``: from the half spectrum of a real signal (bins other than 0 and ``length/2``
    count twice; take the real part of the product)."""
    bins = np.arange(length // 2 + 1 if half else length)
    matrix = np.exp(2j * np.pi * np.outer(np.arange(block), bins) / length) / length
    if half:
        weights = np.full(bins.size, 2.0)
        weights[0] = 1.0
        if length % 2 == 0:
            weights[-1] = 1.0
        matrix = matrix * weights
    return matrix.astype(cdtype)


def _inverse(pad, spec_y, lengths, blocks):
    """The valid ``(*B, ...)`` corner of ``irfftn(spec_y (*F, ...), s=lengths)``: real view."""
    ndim = len(lengths)
    freq_shape = spec_y.shape[:ndim]
    rest = spec_y.shape[ndim:]
    if not _fft_plan.inverse_by_dft(lengths, blocks):
        out = scipy.fft.irfftn(spec_y, s=lengths, axes=range(ndim), workers=1)          # (*L, ...)
        return out[tuple(slice(0, b) for b in blocks)]
    current = spec_y
    shape = list(freq_shape)
    for axis in range(ndim):                                                          # axis by axis, in place of F
        matrix = _idft_matrix(lengths[axis], blocks[axis], axis == ndim - 1, spec_y.dtype)
        before = math.prod(shape[:axis])
        shape[axis] = blocks[axis]
        target = pad.empty(tuple(shape) + rest, spec_y.dtype)
        np.matmul(matrix, current.reshape(before, freq_shape[axis], -1),
                  out=target.reshape(before, blocks[axis], -1))
        current = target
    return current.real


@with_scratch
def _block(pad, x, spectrum, loop, y, co_range, batch, rows, geometry):
    """One chunk of tiles: gather, transform, contract, inverse transform, scatter into ``y``.

    Layouts keep the transform axes first, so no transposes are needed between the FFTs
    and the per-frequency GEMM: tiles ``(*L, C, b, *T)`` -> spectra ``(*F, C, b, *T)`` ->
    ``(F, g, C_g, b*T)`` -> GEMM -> ``(*F, C_out, b, *T)`` -> ``(*B, C_out, b, *T)``: the
    inverse computes only the ``B`` valid outputs of each tile (:func:`_inverse`).
    """
    start, stride, tiles, blocks, lengths, output_size, cdtype = geometry
    ndim = len(lengths)
    x = x[batch]
    b = x.shape[0]
    t_rows = (rows.start, rows.stop)
    tile_shape = (t_rows[1] - t_rows[0],) + tuple(tiles[1:])
    region = [(t_rows[0] * blocks[0], (t_rows[1] - 1) * blocks[0] + lengths[0])]
    region += [(0, (t - 1) * bl + length) for t, bl, length in zip(tiles[1:], blocks[1:], lengths[1:])]
    real = np.float32 if cdtype == np.complex64 else np.float64
    block = _gather(x, start, stride, region, x.shape[2:])                           # (b, C', *region)
    if block.dtype != real:
        block = block.astype(real)
    s = block.strides
    cp = block.shape[1]
    window = as_strided(block, (*lengths, cp, b, *tile_shape),
                        (*s[2:], s[1], s[0], *(st * bl for st, bl in zip(s[2:], blocks))), writeable=False)
    spec_x = scipy.fft.rfftn(window, axes=range(ndim), workers=1)                    # (*F, C', b, *T)
    del window, block
    freq_shape = spec_x.shape[:ndim]
    freqs = math.prod(freq_shape)
    _, groups, c_out_g, c_g = spectrum.shape
    n_cols = b * math.prod(tile_shape)
    spec_x = spec_x.reshape(freqs, groups, c_g, n_cols)
    if loop:
        spec_y = pad.empty((freqs, groups, c_out_g, n_cols), spec_x.dtype)
        for c in range(c_g):
            term = spectrum[:, :, :, c, None] * spec_x[:, :, None, c, :]
            if c == 0:
                spec_y[...] = term
            else:
                spec_y += term
            del term
    else:
        spec_y = np.matmul(spectrum, spec_x, out=pad.empty((freqs, groups, c_out_g, n_cols), spec_x.dtype))
    del spec_x
    c_out = groups * c_out_g
    spec_y = spec_y.reshape(*freq_shape, c_out, b, *tile_shape)
    valid = _inverse(pad, spec_y, lengths, blocks)                                  # (*B, co, b, *T)
    order = (ndim + 1, ndim) + tuple(v for i in range(ndim) for v in (ndim + 2 + i, i))
    source = valid.transpose(order)                                                  # (b, co, T0, B0, T1, B1, ...)
    first = t_rows[0] * blocks[0]
    last = min(t_rows[1] * blocks[0], output_size[0])
    _scatter(source, y[(batch, slice(*co_range), slice(first, last))], tile_shape, blocks)


def _scatter(source, target, tile_shape, blocks):
    """Copy ``source`` ``(b, co, T0, B0, T1, B1, ...)`` into ``target`` ``(b, co, *out)``
    (``out <= T * B``): whole tiles straight into a view of the target, the ragged last
    tile of each dimension through a small temporary."""
    lead = (slice(None), slice(None))
    out = target.shape[2:]
    full = tuple(min(t, o // bl) for t, bl, o in zip(tile_shape, blocks, out))
    if all(f > 0 for f in full):
        src = source[lead + tuple(v for f in full for v in (slice(0, f), slice(None)))]
        dst = target[lead + tuple(slice(0, f * bl) for f, bl in zip(full, blocks))]
        np.copyto(_writable_view(dst, src.shape), src)
    for axis, (f, t) in enumerate(zip(full, tile_shape)):
        if f == t:
            continue
        picks = tuple(v for i in range(len(out)) for v in (slice(f, t) if i == axis else slice(None), slice(None)))
        slab = np.ascontiguousarray(source[lead + picks])
        counts = [t - f if i == axis else tt for i, tt in enumerate(tile_shape)]
        slab = slab.reshape(slab.shape[:2] + tuple(c * bl for c, bl in zip(counts, blocks)))
        start = [f * blocks[i] if i == axis else 0 for i in range(len(out))]
        dst = target[lead + tuple(slice(st, o) for st, o in zip(start, out))]
        dst[...] = slab[lead + tuple(slice(0, o - st) for st, o in zip(start, out))]


# --------------------------------------------------------------------------- registry signatures


def forward(x: np.ndarray, weight: np.ndarray, geometry: ConvGeometry, groups: int, *,
            keep_spectrum: bool = True) -> np.ndarray:
    """``keep_spectrum``: the filter spectra of the caller's ``weight`` are kept for its next call
    (:mod:`convwise.algorithms._filter_cache`: used only while the weight's bytes are unchanged)."""
    start = tuple(-lo for lo, _ in geometry.padding)
    return correlate(x, weight, start, geometry.output_size, geometry.stride, geometry.dilation, groups,
                     keep_spectrum=keep_spectrum)


def transpose(x: np.ndarray, weight: np.ndarray, geometry: TransposeGeometry, groups: int) -> np.ndarray:
    """Transposed convolution: the equivalent direct convolution (stretched input, flipped filters)."""
    operands = direct_operands(x, weight, geometry, groups)
    if operands is None:                               # every input cell cropped away: the output is zero
        return np.zeros((x.shape[0], weight.shape[1] * groups, *geometry.output_size), dtype=x.dtype)
    return forward(operands[0], operands[1], operands[2], groups, keep_spectrum=False)   # a new flipped array


def weight_grad(x: np.ndarray, grad_output: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    """``dW[o, c, k] = sum_{n, j} dy[n, o, j] * x_pad[n, c, j*s + k*d]``: a correlation of x with dy.

    Input channels play the batch, the batch plays the channels, ``dy`` is the filter
    (dilated by the stride) and the kernel taps are the outputs (strided by the dilation).
    """
    n, c_in = x.shape[:2]
    c_out = grad_output.shape[1]
    spatial = x.shape[2:]
    a = x.reshape(n, groups, c_in // groups, *spatial).transpose(2, 1, 0, *range(3, 3 + len(spatial)))
    a = a.reshape(c_in // groups, groups * n, *spatial)
    b = grad_output.reshape(n, groups, c_out // groups, *geometry.output_size)
    b = b.transpose(1, 2, 0, *range(3, 3 + len(spatial))).reshape(c_out, n, *geometry.output_size)
    start = tuple(-lo for lo, _ in geometry.padding)
    grad = correlate(np.ascontiguousarray(a), np.ascontiguousarray(b), start, geometry.kernel_size,
                     geometry.dilation, geometry.stride, groups)                        # (C_in/g, C_out, *K)
    return np.ascontiguousarray(np.swapaxes(grad, 0, 1))


# --------------------------------------------------------------------------- record


def _core_problem(problem: Problem):
    """``(batch, channels, out_channels, groups, q, out)`` of the core correlation (phase domain)."""
    geometry, groups = problem.geometry, problem.groups
    if problem.kind == "weight_grad":
        n, c_in = problem.x_shape[:2]
        k_eff = tuple(s * (o - 1) + 1 for o, s in zip(geometry.output_size, geometry.stride))
        q = tuple(-(-k // d) for k, d in zip(k_eff, geometry.dilation))
        return c_in // groups, groups * n * math.prod(geometry.dilation), problem.w_shape[0], groups, q, \
            tuple(geometry.kernel_size)
    if problem.kind == "transpose":
        direct = transpose_as_direct(geometry).geometry
        return problem.x_shape[0], problem.x_shape[1], problem.w_shape[1] * groups, groups, \
            tuple(direct.effective_kernel), tuple(direct.output_size)
    _, q = _phase_sizes(geometry.output_size, geometry.kernel_size, geometry.stride, geometry.dilation)
    return problem.x_shape[0], problem.x_shape[1] * math.prod(geometry.stride), problem.w_shape[0], groups, q, \
        tuple(geometry.output_size)


def _plan_for(problem: Problem):
    core = _core_problem(problem)
    terms = core[1] // core[3] * math.prod(core[4])
    itemsize = 8 if problem.dtype == "float64" or terms > _FLOAT32_MAX_TERMS else 4
    return _fft_plan.plan(*core, itemsize, get_config().workspace_bytes)


def why_ineligible(problem: Problem) -> str | None:
    """Any dimensionality, stride, dilation, padding and groups, as long as the smallest block
    plan fits the workspace budget (float32 accuracy is kept by switching to complex128 when
    more than ``2**22`` terms are summed per output)."""
    if problem.kind == "transpose" and transpose_as_direct(problem.geometry).empty:
        return None
    if _plan_for(problem) is None:
        return f"its smallest block plan does not fit the workspace budget of {get_config().workspace_mib:g} MiB"
    return None


def cost(problem: Problem) -> float:
    """The cheapest block plan's flop-equivalents (for this problem's kind) at the GEMM rate,
    scaled and offset as calibrated (``calibration.json`` "fft")."""
    if problem.kind == "transpose" and transpose_as_direct(problem.geometry).empty:
        return _cost.call_seconds()
    found = _plan_for(problem)
    if found is None:
        return math.inf
    weights = _cost.CALIBRATION["fft"]
    return weights["scale"] * found[0] / _cost.gemm_rate(problem.itemsize) + weights["overhead_seconds"]


RECORD = Algorithm("fft", exact=False, why_ineligible=why_ineligible, cost=cost,
                   forward=forward, transpose=transpose, weight_grad=weight_grad)
