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
   input cells (a fast real-FFT length) giving ``B = L - Q + 1`` outputs each, ``Q`` the
   (phase) kernel length. ``L`` is chosen per dimension by the cost model below: one big
   block for large kernels, small blocks when many channels make the kernel spectra
   (``C_out * C_in`` of them) the expensive part.
4. **Transforms once, reuse everywhere**: each input tile channel and each filter is
   transformed once (``scipy.fft.rfftn``, ``workers=get_config().threads``; small filters
   by a separable DFT matrix product, cheaper than an FFT of a mostly-zero block), the
   channel sum is a batched complex matmul over frequencies (``(C_out x C_in) @ (C_in x
   tiles)`` per frequency), and each output channel is inverse-transformed once.
5. **Workspace**: tiles are processed in chunks (over the batch, then over rows of tiles)
   and filters in chunks of output channels so scratch stays within
   ``get_config().workspace_bytes``.

float32 runs in complex64 where the error bound holds (see :func:`eligible`), float64 in
complex128.

Cost model (:func:`cost`): estimated real floating-point operations, weighted by how
fast NumPy/SciPy run each kind relative to BLAS GEMM (weight 1): FFT flops
``2.5 * P * log2(P)`` per real transform of ``P`` points, weight 2; complex GEMM
``8`` flops per multiply-add, weight 1 (plus a per-frequency call overhead); element-wise
passes (tile gathering, scattering the output) 4 flop-equivalents per element touched.
The result is comparable with ``2 * MACs`` of a direct/GEMM convolution.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

from .._config import get_config
from ..arithmetic import ConvGeometry, TransposeGeometry
from . import register

__all__ = ["forward", "transpose", "weight_grad", "correlate", "eligible", "ineligible_reason", "cost",
           "weight_grad_cost", "plan"]

# weights of the cost model (flop-equivalents per flop of that kind, BLAS GEMM = 1)
_FFT_WEIGHT = 4.0
_PASS_WEIGHT = 4.0          # per element touched by a copy/transpose pass
_MATMUL_CALL = 2000.0       # fixed overhead of one small GEMM call, in flop-equivalents
_LOOP_CHANNELS = 4          # contraction by broadcast multiply-add when C_in (per group) <= this

# float32 accuracy guard: complex64 FFT error grows with the transform size and the
# number of terms summed; beyond this many terms per output we compute in complex128.
_FLOAT32_MAX_TERMS = 1 << 22


# --------------------------------------------------------------------------- planning


def _fft_flops(points: int) -> float:
    return 2.5 * points * math.log2(max(points, 2))


def _kernel_spectrum_flops(q: tuple[int, ...], lengths: tuple[int, ...]) -> tuple[float, bool]:
    """Flops of one filter spectrum, and whether the DFT-matrix route is the cheaper one."""
    points = math.prod(lengths)
    fft = _FFT_WEIGHT * _fft_flops(points)
    # separable DFT: last axis real -> half spectrum, then each other axis complex
    sizes = list(q)
    sizes[-1] = lengths[-1] // 2 + 1
    flops = 2.0 * math.prod(q) * sizes[-1]
    for axis in range(len(q) - 2, -1, -1):
        rows = math.prod(sizes) // sizes[axis]
        flops += 8.0 * rows * q[axis] * lengths[axis]
        sizes[axis] = lengths[axis]
    return (min(fft, flops), flops < fft)


def _candidates(q: int, m: int) -> list[int]:
    """Fast real-FFT lengths worth trying for one dimension: from ~2q up to one block."""
    top = scipy.fft.next_fast_len(m, real=True)
    lengths = {top}
    value = max(q + 1, 2 * q, 8)
    while value < m:
        lengths.add(scipy.fft.next_fast_len(value, real=True))
        value = int(value * 1.35) + 1
    return sorted(v for v in lengths if v >= q)


@functools.lru_cache(maxsize=4096)
def plan(batch: int, channels: int, out_channels: int, groups: int, q: tuple[int, ...], out: tuple[int, ...],
         itemsize: int, budget: int) -> tuple[float, tuple[int, ...], int] | None:
    """Cheapest block lengths for a stride-1 valid correlation in the phase domain.

    ``channels`` counts (phase) input channels, ``q`` the (phase) kernel and ``out`` the
    output size. Returns ``(cost, lengths, peak_bytes)``, where ``peak_bytes`` is the
    smallest workspace the plan needs (one row of tiles of one sample plus one chunk of
    filter spectra).
    """
    c_in_g = channels // groups
    c_out_g = out_channels // groups
    per_dim = [_candidates(k, o + k - 1) for k, o in zip(q, out)]
    complex_size = 2 * itemsize
    best = None
    for lengths in _product(per_dim):
        blocks = tuple(length - k + 1 for length, k in zip(lengths, q))
        tiles = math.prod(-(-o // b) for o, b in zip(out, blocks))
        points = math.prod(lengths)
        freqs = points // lengths[-1] * (lengths[-1] // 2 + 1)
        n_tiles = batch * tiles
        flops = _FFT_WEIGHT * n_tiles * (channels + out_channels) * _fft_flops(points)
        if c_in_g <= _LOOP_CHANNELS:
            flops += 2 * _PASS_WEIGHT * n_tiles * out_channels * c_in_g * freqs
        else:
            flops += 8.0 * n_tiles * out_channels * c_in_g * freqs + _MATMUL_CALL * freqs * groups
            flops += 2 * _PASS_WEIGHT * n_tiles * (channels + out_channels) * freqs   # layout transposes
        kernel_flops, _ = _kernel_spectrum_flops(q, lengths)
        flops += out_channels * c_in_g * kernel_flops
        flops += _PASS_WEIGHT * n_tiles * (channels + out_channels) * points         # gather and scatter
        row_tiles = tiles // -(-out[0] // blocks[0])
        peak = row_tiles * _tile_bytes(channels, out_channels, points, freqs, itemsize) + 3 * c_in_g * freqs * complex_size
        if peak <= budget and (best is None or flops < best[0]):
            best = (flops, lengths, peak)
    return best


def _tile_bytes(channels: int, out_channels: int, points: int, freqs: int, itemsize: int) -> int:
    """Scratch of one tile: gathered input, its spectrum and contraction layout (input side);
    product spectrum, its inverse-transform copy and the real output with its reordering."""
    return (channels * (points * itemsize + 6 * freqs * itemsize)
            + out_channels * (6 * freqs * itemsize + 2 * points * itemsize))


def _product(lists):
    if not lists:
        yield ()
        return
    for head in lists[0]:
        for tail in _product(lists[1:]):
            yield (head,) + tail


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
    ndim = len(q)
    full = tuple(qq * s for qq, s in zip(q, stride))
    if full == tuple(weight.shape[2:]) and all(d == 1 for d in dilation):
        wd = weight
    else:
        wd = np.zeros((c_out, c_g, *full), dtype=weight.dtype)
        wd[(slice(None), slice(None)) + tuple(slice(0, ke, d) for ke, d in zip(k_eff, dilation))] = weight
    if all(s == 1 for s in stride):
        return wd
    split = wd.reshape((c_out, c_g) + tuple(v for qq, s in zip(q, stride) for v in (qq, s)))
    order = (0, 1) + tuple(3 + 2 * i for i in range(ndim)) + tuple(2 + 2 * i for i in range(ndim))
    return split.transpose(order).reshape(c_out, c_g * math.prod(stride), *q)


def _expand(b):
    """Real ``(..., 2K, 2N)`` matrix ``E`` with ``(a.view(real) @ E).view(complex) == a @ b``.

    Complex GEMM runs as one real GEMM on the interleaved (re, im) layout, without copies
    of ``a``: OpenBLAS's complex kernels thread poorly on small matrices.
    """
    real, imag = b.real, b.imag
    out = np.empty(b.shape[:-2] + (b.shape[-2], 2, b.shape[-1], 2), dtype=real.dtype)
    out[..., :, 0, :, 0] = real
    out[..., :, 0, :, 1] = imag
    out[..., :, 1, :, 0] = -imag
    out[..., :, 1, :, 1] = real
    return out.reshape(b.shape[:-2] + (2 * b.shape[-2], 2 * b.shape[-1]))


def _kernel_spectrum(w, lengths, cdtype, use_dft):
    """conj(DFT(w)) on the rfftn frequency grid, laid out ``(*freqs, C_out, C_g)``."""
    ndim = len(lengths)
    q = w.shape[2:]
    real = np.float32 if cdtype == np.complex64 else np.float64
    if not use_dft:
        spec = scipy.fft.rfftn(w.astype(real, copy=False), s=lengths, axes=range(2, 2 + ndim),
                               workers=get_config().threads)
        spec = np.conj(spec, out=spec)
        return np.ascontiguousarray(np.moveaxis(spec, (0, 1), (-2, -1)))
    spec = w.astype(real, copy=False)
    for axis in range(ndim - 1, -1, -1):
        length = lengths[axis]
        f = np.arange(length // 2 + 1 if axis == ndim - 1 else length)
        matrix = np.exp(2j * np.pi * np.outer(np.arange(q[axis]), f) / length).astype(cdtype)   # (q, F)
        moved = np.ascontiguousarray(np.moveaxis(spec, 2 + axis, -1))
        if axis == ndim - 1:                       # real input: [cos | sin] interleaved
            dft = np.empty((q[axis], f.size, 2), dtype=real)
            dft[..., 0], dft[..., 1] = matrix.real, matrix.imag
            product = (moved @ dft.reshape(q[axis], -1)).view(cdtype)
        else:
            product = (moved.view(real) @ _expand(matrix)).view(cdtype)
        spec = np.moveaxis(product, -1, 2 + axis)
    return np.ascontiguousarray(np.moveaxis(spec, (0, 1), (-2, -1)))


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
    if all(s == 1 for s in stride):
        return buffer
    b, c = buffer.shape[:2]
    ndim = len(stride)
    m = tuple(n // s for n, s in zip(buffer.shape[2:], stride))
    split = buffer.reshape((b, c) + tuple(v for mm, s in zip(m, stride) for v in (mm, s)))
    order = (0, 1) + tuple(3 + 2 * i for i in range(ndim)) + tuple(2 + 2 * i for i in range(ndim))
    return split.transpose(order).reshape(b, c * math.prod(stride), *m)


def correlate(x, weight, start, output_size, stride, dilation, groups):
    """``y[n, o, j] = sum_{c, k} x[n, g(o)*C_g + c, start + j*stride + k*dilation] * weight[o, c, k]``.

    ``x``: ``(N, C_in, *S)``; ``weight``: ``(C_out, C_in/groups, *K)``; ``start`` (per
    dimension, may be negative or beyond ``S``: cells outside ``x`` read as zero) is the
    input index that output 0's first tap meets, i.e. minus the low padding. Returns
    ``(N, C_out, *output_size)`` in ``x``'s dtype.
    """
    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    ndim = len(output_size)
    kernel = weight.shape[2:]
    k_eff, q = _phase_sizes(output_size, kernel, stride, dilation)
    phases = math.prod(stride)
    channels = c_in * phases
    c_in_g = channels // groups
    c_out_g = c_out // groups
    cdtype = _complex_dtype(x.dtype, c_in_g * math.prod(q))
    csize = np.dtype(cdtype).itemsize
    budget = get_config().workspace_bytes
    chosen = plan(n, channels, c_out, groups, tuple(q), tuple(output_size), csize // 2, budget)
    if chosen is None:
        smallest = plan(n, channels, c_out, groups, tuple(q), tuple(output_size), csize // 2, 1 << 62)[2]
        raise ValueError(f"fft convolution needs at least {smallest / 2**20:.1f} MiB of workspace, more than "
                         f"the configured workspace_mib={get_config().workspace_mib:g}")
    lengths = chosen[1]
    blocks = tuple(length - k + 1 for length, k in zip(lengths, q))
    tiles = tuple(-(-o // b) for o, b in zip(output_size, blocks))
    points = math.prod(lengths)
    freq_shape = tuple(lengths[:-1]) + (lengths[-1] // 2 + 1,)
    freqs = math.prod(freq_shape)
    axes = tuple(range(-ndim, 0))
    workers = get_config().threads

    # filter spectra in chunks of output channels: whole groups, or a part of one group
    per_filter = 3 * c_in_g * freqs * csize          # spectrum plus its construction temporaries
    per_tile = _tile_bytes(c_in_g, c_out_g, points, freqs, csize // 2)
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
    _, use_dft = _kernel_spectrum_flops(tuple(q), lengths)
    c_in_orig_g = c_in // groups

    y = np.empty((n, c_out, *output_size), dtype=x.dtype)
    for co0, co1 in chunks:
        g0, g1 = co0 // c_out_g, (co1 - 1) // c_out_g + 1                          # groups touched
        spectrum = _kernel_spectrum(wp[co0:co1], lengths, cdtype, use_dft)
        chunk_g = g1 - g0
        spectrum = spectrum.reshape(freqs, chunk_g, (co1 - co0) // chunk_g, c_in_g)      # (F, g, co, cg)
        if c_in_g <= _LOOP_CHANNELS:
            mode = "loop"
        elif n * math.prod(tiles) <= (co1 - co0) // chunk_g:
            mode = "tiles"      # expand the (smaller) tile spectra per block
        else:
            mode = "filters"    # expand the (smaller) filter spectra once: (F, g, 2 cg, 2 co) real
            spectrum = _expand(spectrum.transpose(0, 1, 3, 2))
        x_groups = x[:, g0 * c_in_orig_g:g1 * c_in_orig_g]
        row_bytes = row_tiles * _tile_bytes(chunk_g * c_in_g, co1 - co0, points, freqs, csize // 2)
        for batch, rows in _split(n, tiles[0], row_bytes, budget - spectrum.nbytes):
            _block(x_groups[batch], spectrum, mode, y[batch, co0:co1], start, stride, rows, tiles, blocks, lengths,
                   output_size, chunk_g, cdtype, axes, workers, x.shape[2:])
        del spectrum
    return y


def _split(batch: int, rows: int, row_bytes: int, budget: int) -> list[tuple[slice, slice]]:
    """(batch, tile-row) chunks whose scratch fits ``budget`` (at least one tile row each)."""
    per_sample = row_bytes * rows
    if per_sample <= budget:
        step = max(1, min(batch, budget // max(per_sample, 1)))
        return [(slice(b, min(b + step, batch)), slice(0, rows)) for b in range(0, batch, step)]
    row_step = max(1, budget // max(row_bytes, 1))
    return [(slice(b, b + 1), slice(r, min(r + row_step, rows))) for b in range(batch) for r in range(0, rows, row_step)]


def _block(x, spectrum, mode, y, start, stride, rows, tiles, blocks, lengths, output_size, groups, cdtype, axes,
           workers, dims):
    """One chunk of tiles: gather, transform, contract, inverse transform, scatter into ``y``."""
    ndim = len(lengths)
    b = x.shape[0]
    t_rows = (rows.start, rows.stop)
    region = [(t_rows[0] * blocks[0], (t_rows[1] - 1) * blocks[0] + lengths[0])]
    region += [(0, (t - 1) * bl + length) for t, bl, length in zip(tiles[1:], blocks[1:], lengths[1:])]
    block = _gather(x, start, stride, region, dims)                                  # (b, C', *region)
    window = sliding_window_view(block, lengths, axis=tuple(range(2, 2 + ndim)))
    window = window[(slice(None), slice(None)) + tuple(slice(None, None, bl) for bl in blocks)]
    real = np.dtype(cdtype().real.dtype)
    if window.dtype != real:
        window = window.astype(real)
    spec_x = scipy.fft.rfftn(window, s=lengths, axes=axes, workers=workers)         # (b, C', *T, *F)
    del window, block
    tile_shape = spec_x.shape[2:2 + ndim]
    n_tiles = math.prod(tile_shape)
    freq_shape = spec_x.shape[2 + ndim:]
    freqs = math.prod(freq_shape)
    c_out = y.shape[1]
    c_out_g = c_out // groups
    c_g = spec_x.shape[1] // groups
    spec_x = spec_x.reshape(b, groups, c_g, n_tiles, freqs)
    n_cols = b * n_tiles
    if mode == "loop":
        spec_w = spectrum.transpose(1, 2, 3, 0)                                      # (g, co, c, F)
        spec_y = np.zeros((b, groups, c_out_g, n_tiles, freqs), dtype=spec_x.dtype)
        for c in range(c_g):
            spec_y += spec_x[:, :, None, c] * spec_w[None, :, :, c, None]
    elif mode == "tiles":
        # expand the (smaller) tile spectra: W (F, g, co, c) @ X (F, g, c, b*T)
        xe = _expand(spec_x.transpose(4, 1, 2, 0, 3).reshape(freqs, groups, c_g, n_cols))
        del spec_x
        yt = (spectrum.view(real) @ xe).view(cdtype)                                 # (F, g, co, b*T)
        del xe
        spec_y = yt.reshape(freqs, groups, c_out_g, b, n_tiles).transpose(3, 1, 2, 4, 0)
    else:
        # expand the (smaller) filter spectra: X (F, g, b*T, c) @ W^T (F, g, c, co)
        xt = np.ascontiguousarray(spec_x.transpose(4, 1, 0, 3, 2)).reshape(freqs, groups, n_cols, c_g)
        del spec_x
        yt = (xt.view(real) @ spectrum).view(cdtype)                                 # (F, g, b*T, co)
        del xt
        spec_y = yt.reshape(freqs, groups, b, n_tiles, c_out_g).transpose(2, 1, 4, 3, 0)
    spec_y = spec_y.reshape(b, c_out, *tile_shape, *freq_shape)
    out = scipy.fft.irfftn(spec_y, s=lengths, axes=axes, workers=workers)           # (b, co, *T, *L)
    del spec_y
    out = out[(Ellipsis,) + tuple(slice(0, bl) for bl in blocks)]
    order = (0, 1) + tuple(v for i in range(ndim) for v in (2 + i, 2 + ndim + i))
    out = out.transpose(order).reshape(b, c_out, *(t * bl for t, bl in zip(tile_shape, blocks)))
    first = t_rows[0] * blocks[0]
    last = min(t_rows[1] * blocks[0], output_size[0])
    dst = (slice(None), slice(None), slice(first, last)) + tuple(slice(0, o) for o in output_size[1:])
    y[dst] = out[(slice(None), slice(None), slice(0, last - first)) + tuple(slice(0, o) for o in output_size[1:])]


# --------------------------------------------------------------------------- registry signatures


def forward(x: np.ndarray, weight: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    start = tuple(-lo for lo, _ in geometry.padding)
    return correlate(x, weight, start, geometry.output_size, geometry.stride, geometry.dilation, groups)


def _stuff(x: np.ndarray, stride) -> np.ndarray:
    if all(s == 1 for s in stride):
        return x
    n, c = x.shape[:2]
    out = np.zeros((n, c, *((i - 1) * s + 1 for i, s in zip(x.shape[2:], stride))), dtype=x.dtype)
    out[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)] = x
    return out


def _transpose_weight(weight: np.ndarray, groups: int) -> np.ndarray:
    """``(C_in, C_out/g, *K)`` transposed-conv weight -> flipped ``(C_out, C_in/g, *K)`` forward weight."""
    c_in, c_out_g = weight.shape[:2]
    kernel = weight.shape[2:]
    w = weight.reshape(groups, c_in // groups, c_out_g, *kernel).swapaxes(1, 2)
    w = w.reshape(groups * c_out_g, c_in // groups, *kernel)
    return np.ascontiguousarray(w[(slice(None), slice(None)) + (slice(None, None, -1),) * len(kernel)])


def transpose(x: np.ndarray, weight: np.ndarray, geometry: TransposeGeometry, groups: int) -> np.ndarray:
    """Transposed convolution: the zero-stuffed input correlated with the flipped filters."""
    start = tuple(lo - (k_eff - 1) for (lo, _), k_eff in zip(geometry.padding, geometry.effective_kernel))
    return correlate(_stuff(x, geometry.stride), _transpose_weight(weight, groups), start, geometry.output_size,
                     (1,) * geometry.ndim, geometry.dilation, groups)


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


# --------------------------------------------------------------------------- selector hooks


def _problem(x_shape, w_shape, geometry, groups):
    """``(batch, channels, out_channels, groups, q, out)`` of the core correlation of a forward
    (:class:`ConvGeometry`) or transposed (:class:`TransposeGeometry`) convolution."""
    if isinstance(geometry, TransposeGeometry):
        c_out = w_shape[1] * groups
        q = geometry.effective_kernel
        return x_shape[0], x_shape[1], c_out, groups, tuple(q), tuple(geometry.output_size)
    _, q = _phase_sizes(geometry.output_size, geometry.kernel_size, geometry.stride, geometry.dilation)
    phases = math.prod(geometry.stride)
    return x_shape[0], x_shape[1] * phases, w_shape[0], groups, tuple(q), tuple(geometry.output_size)


def _weight_grad_problem(x_shape, w_shape, geometry, groups):
    n, c_in = x_shape[:2]
    k_eff = tuple(s * (o - 1) + 1 for o, s in zip(geometry.output_size, geometry.stride))
    q = tuple(-(-k // d) for k, d in zip(k_eff, geometry.dilation))
    phases = math.prod(geometry.dilation)
    return c_in // groups, groups * n * phases, w_shape[0], groups, q, tuple(geometry.kernel_size)


def _itemsize(dtype, problem) -> int:
    terms = problem[1] // problem[3] * math.prod(problem[4])
    return 8 if np.dtype(dtype) == np.float64 or terms > _FLOAT32_MAX_TERMS else 4


def _kind_problem(kind, x_shape, w_shape, geometry, groups):
    if kind == "weight_grad":
        return _weight_grad_problem(x_shape, w_shape, geometry, groups)
    if kind not in ("forward", "transpose"):
        raise ValueError(f"fft: kind must be 'forward', 'transpose' or 'weight_grad', got kind={kind!r}")
    return _problem(x_shape, w_shape, geometry, groups)


def eligible(x_shape, w_shape, geometry, groups: int, dtype, *, kind: str = "forward") -> bool:
    """True for float32/float64, any dimensionality, stride, dilation, padding and groups, as
    long as the smallest block plan fits the workspace budget. float32 accuracy is kept by
    switching to complex128 when more than ``2**22`` terms are summed per output.

    ``kind``: ``"forward"``/``"transpose"`` (geometry a ConvGeometry/TransposeGeometry, shapes
    of x and weight) or ``"weight_grad"`` (the forward problem's shapes and geometry).
    """
    return ineligible_reason(x_shape, w_shape, geometry, groups, dtype, kind=kind) is None


def ineligible_reason(x_shape, w_shape, geometry, groups: int, dtype, *, kind: str = "forward") -> str | None:
    if np.dtype(dtype) not in (np.float32, np.float64):
        return f"it computes float32/float64 only, got dtype={np.dtype(dtype).name}"
    problem = _kind_problem(kind, x_shape, w_shape, geometry, groups)
    if plan(*problem, _itemsize(dtype, problem), get_config().workspace_bytes) is None:
        return (f"its smallest block plan does not fit the workspace budget of "
                f"{get_config().workspace_mib:g} MiB")
    return None


def cost(x_shape, w_shape, geometry, groups: int, *, kind: str = "forward") -> float:
    """Estimated flop-equivalents (comparable with ``2 * MACs`` of GEMM; see module notes);
    ``inf`` when no plan fits the workspace budget. ``kind`` as in :func:`eligible`."""
    found = plan(*_kind_problem(kind, x_shape, w_shape, geometry, groups), 4, get_config().workspace_bytes)
    return math.inf if found is None else found[0]


def weight_grad_cost(x_shape, w_shape, geometry, groups: int) -> float:
    return cost(x_shape, w_shape, geometry, groups, kind="weight_grad")


register("fft", forward=forward, transpose=transpose, weight_grad=weight_grad)
