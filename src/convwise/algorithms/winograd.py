"""Winograd minimal filtering F(m x m, 3 x 3) for 2-D 3x3 stride-1 dilation-1 layers.

Each ``m x m`` output tile is ``A^T [(G g G^T) * (B^T d B)] A`` for the ``a x a`` input
tile ``d`` (``a = m + 2``) that produces it. Every stage is one large BLAS call or one
strided copy; there are no per-row slice passes:

1. filters: ``U = (G (x) G) vec(g)`` for all ``C_out * C_in/g`` filters at once, one GEMM
   ``(a*a, 9) @ (9, C_out*C_in/g)`` that lands directly in the ``(a*a, g, C_out/g, C_in/g)``
   layout of step 3;
2. input: the zero-padded block is read once into the overlapping tiles
   ``D (a*a, C_in, tiles)`` by one strided copy, then ``V = (B^T (x) B^T) D`` is one GEMM
   with the ``a^2 x a^2`` Kronecker matrix (it is tiny; this measured 3-10x faster than
   separable slice passes, which touch the data ``2a`` times);
3. the element-wise stage is one batched GEMM: for each of the ``a*a`` transform points
   (and group), ``(C_out x C_in) @ (C_in x tiles)``;
4. output: ``Y = (A^T (x) A^T) M``, one GEMM, then one strided copy into the output.

Work is cut into chunks of (samples, rows of tiles), about :data:`_CHUNK_BYTES` of
scratch each (taken from the thread's reused scratch buffer, :mod:`convwise._workspace`),
which also keeps the scratch within ``get_config().workspace_bytes``. Chunk size, 1 thread,
medians of 18 interleaved runs, 3 / 6 / 12 MiB: 64@56 2.48 / 2.26 / 2.21 ms, N=8 64@56
19.8 / 18.4 / 17.1, 256@14 2.97 / 2.67 / 2.60, 128@28 2.24 / 1.83 / 1.78 (wider GEMMs; the
dev box's large shared L3 holds the chunk). Chunks run in order and BLAS uses the configured
threads: on an idle 2-core machine that measured 1.2-2x faster than running chunks on a
thread pool with single-threaded BLAS (64->64 56x56: 2.3 vs 2.6-4.1 ms; 256->256 14x14:
2.5-3.4 vs 4.9-7.0 ms), which only helped while other jobs loaded the cores.

Tiles: F(2x2,3x3) (``a = 4``, 2.25x fewer multiplications than direct) and F(4x4,3x3)
(``a = 6``, 4x fewer). F(4x4) is less accurate: its transform constants (up to 5 in
``B``, 8 in ``A``, 1/24 in ``G``) amplify rounding. Measured float32 relative error
(max |err| / max |ref|, float64 torch reference), see ``tests/algorithms/test_fast_algorithms.py``:
F(2x2) ~1e-7 throughout; F(4x4) grows with ``C_in`` roughly like ``2e-7 * sqrt(C_in)`` on
N(0,1) data, larger on data of mixed scales, so float32 uses F(4x4) only up to
:data:`F4_MAX_CHANNELS` input channels per group. Within that, :func:`tile_size` picks
the tile with the lower modelled cost (F(2x2) wins when the filter transform, ``a^2``
values per filter, or too few tiles per GEMM dominate: small images, many channels).

Compiled transforms (:mod:`convwise.kernels.winograd`): once loaded, F(4x4) runs its filter, input
and output transforms as one parallel numba pass each, straight from ``x`` and into ``y``
(:func:`_forward_fused`; 64->64 56x56, one thread: 0.65 ms of transforms against ~1.3 ms here), the
filter transform is kept between calls with the same weights (:mod:`._filter_cache`), and the record
gains a weight gradient, the adjoint of F(4x4) in the filter (:func:`weight_grad`); the NumPy stages
below answer until then.

Cost (:func:`cost`, seconds): the batched GEMM at the GEMM rate, the ``K = a^2`` transform
GEMMs, every element copied (padding, tile gather, output scatter, filter transform) and
a fixed cost per small GEMM call; the weights are in ``calibration.json`` ("winograd")
and whole-call predictions were within about 1.5x of measured times on the 64-channel
56x56 and 256-channel 14x14 layers.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import kernels
from .._config import SMALL_GEMM_FLOPS, get_config, small_gemm_threads
from .._workspace import with_scratch
from ..arithmetic import ConvGeometry, TransposeGeometry, transpose_as_direct
from . import _cost, _filter_cache
from ._parallel import plan_tiles, run
from ._record import Algorithm, Problem
from ._windows import direct_operands

__all__ = ["forward", "transpose", "weight_grad", "why_ineligible", "cost", "tile_size", "F4_MAX_CHANNELS", "RECORD"]

# (B^T, G, A^T) for F(2x2, 3x3) and F(4x4, 3x3) (Lavin & Gray 2016); points 0, +-1, (+-2), inf
_MATRICES = {
    2: (np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64),
        np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64),
        np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)),
    4: (np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                  [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=np.float64),
        np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=np.float64),
        np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
                 dtype=np.float64)),
}

# float32 uses F(4x4) only up to this many input channels per group (error ~ sqrt(C_in))
F4_MAX_CHANNELS = 512
_CHUNK_BYTES = 12 << 20        # scratch per chunk of tiles (measured, see forward)


def why_ineligible(problem: Problem) -> str | None:
    """Forward and transpose (the input gradient): 2-D, 3x3 kernel, stride 1, dilation 1, any
    padding and groups (float32 with many channels per group falls back to F(2x2), see
    :func:`tile_size`); the weight gradient too, once the compiled F(4x4) transforms are loaded."""
    geometry = problem.geometry
    if geometry.ndim != 2 or tuple(geometry.kernel_size) != (3, 3):
        return f"it needs a 2-D 3x3 kernel, got kernel_size={geometry.kernel_size}"
    if tuple(geometry.stride) != (1, 1) or tuple(geometry.dilation) != (1, 1):
        return f"it needs stride 1 and dilation 1, got stride={geometry.stride}, dilation={geometry.dilation}"
    if problem.kind == "weight_grad" and not fused(problem.dtype, GRAD_KERNELS):
        return ("its weight gradient runs on the compiled F(4x4) transforms, which are not loaded (yet: "
                "`convwise warmup` compiles them ahead)")
    return None


#: the numba kernels of the fused F(4x4) transforms (:mod:`convwise.kernels.winograd`)
FUSED_KERNELS = ("winograd_filter", "winograd_input", "winograd_output")


#: the kernels of the weight gradient (the input transform is the forward's)
GRAD_KERNELS = ("winograd_input", "winograd_grad_output", "winograd_filter_grad")


def fused(dtype, names=FUSED_KERNELS) -> bool:
    """Whether the compiled F(4x4) transforms ``names`` can run for ``dtype`` now (asking starts
    their loading in the background: until then the NumPy transforms answer)."""
    name = np.dtype(dtype).name
    return name in kernels.DTYPES and all([kernels.ready(kernel, name) for kernel in names])


def tile_size(x_shape, w_shape, geometry: ConvGeometry, groups: int, dtype) -> int:
    """Output tile edge ``m``: 2 where accuracy says so (float32 with more than
    :data:`F4_MAX_CHANNELS` input channels per group) or outputs are smaller than 4;
    otherwise whichever of 2 and 4 has the lower modelled cost (:func:`_tile_cost`), F(4x4) priced
    with the compiled transforms when they are ready (:func:`fused`: a fraction of the NumPy ones)."""
    c_in_g = x_shape[1] // groups
    if np.dtype(dtype) == np.float32 and c_in_g > F4_MAX_CHANNELS:
        return 2
    if min(geometry.output_size) < 4:
        return 2
    four = _tile_cost(x_shape, w_shape, geometry, groups, 4, fused=fused(dtype))
    return 4 if four <= _tile_cost(x_shape, w_shape, geometry, groups, 2) else 2


def _tile_cost(x_shape, w_shape, geometry, groups, m, *, fused: bool = False) -> float:
    """Flop-equivalents of :func:`forward` with tile ``m`` (weights in ``calibration.json``);
    ``fused``: F(4x4) with the compiled transforms, whose passes cost about ``element_weight``
    per transformed value (measured 0.68 ms for the ~1e6 of 64@56) and whose filter transform
    is bound by writing ``U`` (1.1 ms for the 2.4e6 values of 256->256)."""
    weights = _cost.CALIBRATION["winograd"]
    a = m + 2
    n, c_in = x_shape[:2]
    c_out = w_shape[0]
    c_in_g = c_in // groups
    out_h, out_w = geometry.output_size
    tiles_h, tiles_w = -(-out_h // m), -(-out_w // m)
    if fused:
        tiles = n * tiles_h * (tiles_w + 1)
        cols = max(tiles_w, min(tiles, (tiles_w + 1) * max(1, _CHUNK_BYTES // max(
            (tiles_w + 1) * a * a * (c_in + c_out) * 4, 1))))
        gemm = 2.0 * a * a * c_out * c_in_g * tiles * weights["gemm_weight"] * (1 + 32 / cols)
        transformed = a * a * (c_in + c_out) * tiles
        return (gemm + weights["element_weight"] * (transformed + a * a * c_out * c_in_g / 2)
                + weights["call_weight"] * a * a * groups * -(-tiles // cols))
    tiles = n * tiles_h * tiles_w
    per_row = tiles_w * _scratch_per_tile(c_in, c_out, m, 4)
    cols = max(tiles_w, min(tiles, tiles_w * max(1, _CHUNK_BYTES // max(per_row, 1))))   # tiles per chunk
    chunks = -(-tiles // cols)
    gemm = 2.0 * a * a * c_out * c_in_g * tiles * weights["gemm_weight"] * (1 + 32 / cols)
    kron = 2.0 * a * a * (a * a * c_in + m * m * c_out) * tiles * weights["kron_weight"]
    elements = c_in * n * (out_h + 2) * (out_w + 2) + a * a * c_in * tiles + c_out * n * out_h * out_w
    elements += a * a * c_out * c_in_g                                              # filter transform
    return gemm + kron + weights["element_weight"] * elements + weights["call_weight"] * a * a * groups * chunks


def _forward_problem(problem: Problem):
    """``(x_shape, w_shape, geometry)`` of the forward convolution the kernel runs."""
    if problem.kind != "transpose":
        return problem.x_shape, problem.w_shape, problem.geometry
    direct = transpose_as_direct(problem.geometry).geometry
    c_out = problem.w_shape[1] * problem.groups
    return ((problem.x_shape[0], problem.x_shape[1], *direct.input_size),
            (c_out, problem.x_shape[1] // problem.groups, *direct.kernel_size), direct)


def cost(problem: Problem) -> float:
    """F(m x m, 3 x 3): ``a*a`` batched GEMMs ``(C_out/g x C_in/g) @ (C_in/g x tiles)`` plus the
    transform passes and copies, which run on one thread (Winograd gains little from a second).
    The weight gradient: F(4x4), ``36`` GEMMs ``(C_out/g x tiles) @ (tiles x C_in/g)``."""
    x_shape, w_shape, geometry = _forward_problem(problem)
    itemsize = problem.itemsize
    m = 4 if problem.kind == "weight_grad" else tile_size(x_shape, w_shape, geometry, problem.groups,
                                                          problem.dtype)
    a = m + 2
    n, c_in, c_out = x_shape[0], x_shape[1], w_shape[0]
    groups = problem.groups
    tiles = n * math.prod(-(-o // m) for o in geometry.output_size)
    passes = _cost.pass_seconds((c_in * 2 * a + c_out * 2 * m) * a * tiles * itemsize, 4)
    if m == 4 and fused(problem.dtype):    # one compiled pass per transform, in parallel (measured ~0.4x)
        passes *= 0.4 / min(get_config().threads, 2)
        tiles += tiles // max(1, -(-geometry.output_size[1] // m))            # the slack column per tile row
    passes += _cost.pass_seconds(2 * a * a * c_out * (c_in // groups) * itemsize, 4)   # filter transform
    if problem.kind == "weight_grad":
        gemm = _cost.gemm_seconds(c_out // groups, tiles, c_in // groups, a * a * groups, itemsize)
        return _cost.CALIBRATION["winograd"]["scale"] * (gemm + passes)
    gemm = _cost.gemm_seconds(c_out // groups, c_in // groups, tiles, a * a * groups, itemsize)
    return _cost.CALIBRATION["winograd"]["scale"] * (gemm + passes)


@functools.lru_cache(maxsize=16)
def _kron(m, which, dtype):
    """``X (x) X`` for X = B^T (which 0), G (1) or A^T (2) of F(m x m, 3 x 3), read-only."""
    matrix = _MATRICES[m][which]
    out = np.kron(matrix, matrix).astype(dtype)
    out.flags.writeable = False
    return out


def filter_transform(weight, groups, m, dtype):
    """``U = G g G^T`` for every filter as one GEMM with ``G (x) G``: ``(a*a, groups, C_out/g, C_in/g)``."""
    c_out, c_g = weight.shape[:2]
    a = m + 2
    kg = _kron(m, 1, np.dtype(dtype))                                                # (a*a, 9)
    u = kg @ weight.reshape(c_out * c_g, 9).astype(dtype, copy=False).T                # (a*a, C_out*C_g)
    return u.reshape(a * a, groups, c_out // groups, c_g)


def _scratch_per_tile(c_in, c_out, m, itemsize):
    """Bytes of scratch per tile in one chunk: padded rows, gathered tiles D, V, M, Y and the output grid."""
    a = m + 2
    return itemsize * (c_in * (m * m + 2 * a * a) + c_out * (a * a + 2 * m * m))


def forward(x: np.ndarray, weight: np.ndarray, geometry: ConvGeometry, groups: int, *, tile: int | None = None,
            keep_filters: bool = True) -> np.ndarray:
    """``keep_filters``: the compiled path keeps the caller's filter transform for its next call
    (:mod:`convwise.algorithms._filter_cache`, used only while the weight's bytes are unchanged)."""
    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    m = tile or tile_size(x.shape, weight.shape, geometry, groups, x.dtype)
    if m == 4 and fused(x.dtype):
        return _forward_fused(x, weight, geometry, groups, keep_filters)
    out_h, out_w = geometry.output_size
    tiles_h, tiles_w = -(-out_h // m), -(-out_w // m)
    u = filter_transform(weight, groups, m, x.dtype)                                  # (a*a, g, co, cg)
    y = np.empty((n, c_out, out_h, out_w), dtype=x.dtype)
    budget = max(get_config().workspace_bytes - u.nbytes, get_config().workspace_bytes // 4)
    per_row = tiles_w * _scratch_per_tile(c_in, c_out, m, x.itemsize)
    # chunks of (samples, tile rows) run one after another (BLAS threads within each), so
    # there is no point in cutting more of them than the size asks for: at two threads,
    # halving the 64@56 image into two chunks made every GEMM half as wide (3.1 vs 2.4 ms)
    chunks = plan_tiles(n, tiles_h, lambda b, r: b * r * per_row, min(_CHUNK_BYTES, budget))
    kb, ka = _kron(m, 0, x.dtype), _kron(m, 2, x.dtype)
    lows = (geometry.padding[0][0], geometry.padding[1][0])
    sizes = (tiles_w, out_h, out_w)
    for batch, rows in chunks:  # BLAS spreads each chunk's GEMMs over the threads
        _tile_rows(x, u, y, batch, rows, lows, m, kb, ka, groups, sizes)
    return y


@with_scratch
def _tile_rows(pad, x, u, y, batch, rows, lows, m, kb, ka, groups, sizes):
    tiles_w, out_h, out_w = sizes
    a = m + 2
    x = x[batch]
    b, c_in, in_h, in_w = x.shape
    c_out = y.shape[1]
    t0, t1 = rows.start, rows.stop
    th = t1 - t0
    # zero-padded input block, channels first: (C, b, th*m + 2, tiles_w*m + 2)
    height, width = th * m + 2, tiles_w * m + 2
    top, left = t0 * m - lows[0], -lows[1]
    block = pad.zeros((c_in, b, height, width), x.dtype)
    r0, r1 = max(top, 0), min(top + height, in_h)
    c0, c1 = max(left, 0), min(left + width, in_w)
    if r1 > r0 and c1 > c0:
        block[:, :, r0 - top:r1 - top, c0 - left:c1 - left] = x[:, :, r0:r1, c0:c1].transpose(1, 0, 2, 3)
    # the overlapping a x a tiles, gathered in one strided copy: D (a, a, C, b, th, tiles_w)
    s = block.strides
    tiles = as_strided(block, (a, a, c_in, b, th, tiles_w), (s[2], s[3], s[0], s[1], m * s[2], m * s[3]))
    cols = b * th * tiles_w
    d = pad.empty((a * a, c_in * cols), x.dtype)
    np.copyto(d.reshape(tiles.shape), tiles)
    v = np.matmul(kb, d, out=pad.empty(d.shape, x.dtype))                            # V = (B^T (x) B^T) D
    with small_gemm_threads(2 * (c_out // groups) * (c_in // groups) * cols):
        mm = np.matmul(u, v.reshape(a * a, groups, c_in // groups, cols),              # (a*a, g, co, cols)
                       out=pad.empty((a * a, groups, c_out // groups, cols), x.dtype))
    out = np.matmul(ka, mm.reshape(a * a, c_out * cols), out=pad.empty((m * m, c_out * cols), x.dtype))
    out = out.reshape(m, m, c_out, b, th, tiles_w).transpose(3, 2, 4, 0, 5, 1)       # (b, co, th, m, tw, m)
    first, last = t0 * m, min(t1 * m, out_h)
    target = y[batch, :, first:last]
    if last - first == th * m and out_w == tiles_w * m:
        np.copyto(target.reshape(out.shape), out)
    else:
        grid = pad.empty(out.shape, y.dtype)
        np.copyto(grid, out)
        grid = grid.reshape(b, c_out, th * m, tiles_w * m)
        target[...] = grid[:, :, :last - first, :out_w]


def _forward_fused(x: np.ndarray, weight: np.ndarray, geometry: ConvGeometry, groups: int,
                   keep_filters: bool = False) -> np.ndarray:
    """F(4x4, 3x3) with the compiled transforms (:mod:`convwise.kernels.winograd`): the filter
    transform, then per chunk of (samples, tile rows) one input-transform pass straight from
    ``x``, the batched GEMM (BLAS) and one output-transform pass straight into ``y``."""
    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    out_h, out_w = geometry.output_size
    tiles_h, span = -(-out_h // 4), -(-out_w // 4) + 1           # + 1: the transforms' slack column
    constants = _constants(x.dtype)
    x = np.ascontiguousarray(x)
    if keep_filters:
        u = _filter_cache.transform(weight, ("winograd", 4), lambda: _filter_transform_fused(weight, constants))
    else:
        u = _filter_transform_fused(weight, constants)
    u = u.reshape(36, groups, c_out // groups, c_in // groups)
    y = np.empty((n, c_out, out_h, out_w), dtype=x.dtype)
    budget = max(get_config().workspace_bytes - u.nbytes, get_config().workspace_bytes // 4)
    per_row = span * 36 * (c_in + c_out) * x.itemsize
    top, left = geometry.padding[0][0], geometry.padding[1][0]
    flops = 2 * 36 * c_out * c_in // groups * span * n * tiles_h
    if flops >= FORWARD_CHUNK_FLOPS:           # chunks side by side, each on one thread (see _chunks)
        chunks, threads = _chunks(n, tiles_h, per_row, budget, flops)
    else:                                      # chunks in turn, each stage parallel inside
        chunks, threads = plan_tiles(n, tiles_h, lambda b, r: b * r * per_row, min(_CHUNK_BYTES, budget)), 1
    if threads > 1:
        run([functools.partial(_fused_chunk, x[batch], u, y[batch], rows, top, left, groups, constants, True)
             for batch, rows in chunks], threads)
    else:
        for batch, rows in chunks:
            _fused_chunk(x[batch], u, y[batch], rows, top, left, groups, constants)
    return y


def _chunks(n: int, tiles_h: int, per_row: int, budget: int, flops: int):
    """``(chunks of (samples, tile rows), threads)`` of :func:`weight_grad`: with two or more threads
    and enough work (:data:`PARALLEL_CHUNK_FLOPS`), a multiple of the threads in chunks, run side by
    side, each on one thread (one-thread numba launches, single-threaded BLAS), so that every stage
    uses every core with no fork-join between the stages: 64->64 56x56 N8, two threads, 7.7 ms against
    12.5 on one (its 36 small products, 64 x 64 over ~600 tiles each, split badly inside BLAS);
    otherwise chunks in turn. The forward pass does the same from :data:`FORWARD_CHUNK_FLOPS`."""
    threads = get_config().threads
    if threads < 2 or flops < PARALLEL_CHUNK_FLOPS or n * tiles_h < 2:
        threads = 1
    limit = min(_CHUNK_BYTES, budget // threads)
    chunks = plan_tiles(n, tiles_h, lambda b, r: b * r * per_row, limit, pieces=threads)
    if threads > 1 and len(chunks) % threads:             # a multiple of the threads: no thread idles at the end
        chunks = plan_tiles(n, tiles_h, lambda b, r: b * r * per_row, limit,
                            pieces=-(-len(chunks) // threads) * threads)
    return chunks, min(threads, len(chunks))


#: GEMM flops of a Winograd call below which its chunks are not run side by side
PARALLEL_CHUNK_FLOPS = 20e6
#: The same for the forward pass, whose chunks are cheaper: at two threads (blocks of five calls
#: after a 0.1 s pause, medians of 30; five runs with and without torch in the process) side by
#: side took 64->64 56x56 N8 (5e8 flops) from 10.1-11.0 to 6.1-9.2 ms, but was no faster or slower
#: on single samples (64@56 6e7 flops: 1.3-1.8 in turn, 1.5-1.6 side by side; 256@14 9e7: 2.1-2.8
#: against 2.9-3.1).
FORWARD_CHUNK_FLOPS = 2e8


def _filter_transform_fused(weight: np.ndarray, constants: np.ndarray) -> np.ndarray:
    """``U = G g G^T`` of every filter, ``(36, C_out * C_in/g)``, by the compiled kernel."""
    filters = np.ascontiguousarray(weight.reshape(-1, 3, 3))
    u = np.empty((36, filters.shape[0]), dtype=weight.dtype)
    kernels.launch("winograd_filter", filters, constants, u, work=36 * 20 * u.shape[1])
    return u


@with_scratch
def _fused_chunk(pad, x, u, y, rows, top, left, groups, constants, alone=False):
    """One chunk of :func:`_forward_fused`; ``alone``: it runs beside others (one-thread launches,
    plain products under the caller's single-threaded BLAS)."""
    b, c_in = x.shape[:2]
    c_out = y.shape[1]
    v = _input_tiles(pad, x, constants, rows, top, left, y.shape[3], alone)
    th, span = v.shape[3:]
    cols = b * th * span
    out = pad.empty((36, groups, c_out // groups, cols), x.dtype)
    mm = _products(u, v.reshape(36, groups, c_in // groups, cols), out, alone)
    work = 0 if alone else 36 * 10 * c_out * cols
    kernels.launch("winograd_output", mm.reshape(36, c_out, b, th, span), constants, rows.start * 4,
                   _workers(c_out * b, work), y, work=work)


def _input_tiles(pad, x, constants, rows, top, left, out_w, alone):
    """``B^T d B`` of the input tiles of tile rows ``rows`` (output width ``out_w``), into scratch
    ``(36, C_in, b, tile rows, tiles + 1)``; ``alone``: a one-thread launch (a chunk beside others)."""
    b, c_in = x.shape[:2]
    v = pad.empty((36, c_in, b, rows.stop - rows.start, -(-out_w // 4) + 1), x.dtype)
    work = 0 if alone else 36 * 12 * v[0].size
    kernels.launch("winograd_input", x, constants, rows.start * 4 - top, -left, _workers(c_in * b, work), v,
                   work=work)
    return v


def _products(a: np.ndarray, b: np.ndarray, out: np.ndarray, alone: bool) -> np.ndarray:
    """The 36 per-point products: plain under the caller's single-threaded BLAS when the chunk runs
    beside others (``alone``), else shared out by :func:`_points_matmul`."""
    return np.matmul(a, b, out=out) if alone else _points_matmul(a, b, out)


def _workers(items: int, work: int) -> int:
    return max(1, min(items, kernels.threads(work)))


def weight_grad(x: np.ndarray, grad_output: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    """The weight gradient by F(4x4, 3x3), the adjoint of :func:`forward` in ``g``:
    ``dL/dg = G^T [sum over tiles (A dy A^T) * (B^T d B)] G``. Per chunk of (samples, tile
    rows): the input transform (the forward's kernel), the transform of ``dy``'s 4x4 tiles,
    and 36 GEMMs ``(C_out/g x tiles) @ (tiles x C_in/g)`` summed over the chunks; then one
    pass back to 3x3 (``G^T . G``)."""
    n, c_in = x.shape[:2]
    c_out = grad_output.shape[1]
    out_h, out_w = geometry.output_size
    tiles_h, span = -(-out_h // 4), -(-out_w // 4) + 1
    constants = _constants(x.dtype)
    x, dy = np.ascontiguousarray(x), np.ascontiguousarray(grad_output)
    products = np.zeros((36, groups, c_out // groups, c_in // groups), dtype=x.dtype)
    per_row = span * 36 * (c_in + c_out) * x.itemsize
    budget = max(get_config().workspace_bytes - 3 * products.nbytes, get_config().workspace_bytes // 4)
    top, left = geometry.padding[0][0], geometry.padding[1][0]
    chunks, threads = _chunks(n, tiles_h, per_row, budget, 2 * 36 * c_out * c_in // groups * span * n * tiles_h)
    if threads > 1:                        # chunks side by side, each summing into its own products
        parts = [np.zeros_like(products) for _ in range(len(chunks))]
        run([functools.partial(_grad_chunk, x[batch], dy[batch], part, rows, top, left, groups, constants, True)
             for (batch, rows), part in zip(chunks, parts)], threads)
        for part in parts:
            products += part
    else:
        for batch, rows in chunks:
            _grad_chunk(x[batch], dy[batch], products, rows, top, left, groups, constants)
    grad = np.empty((c_out, c_in // groups, 3, 3), dtype=x.dtype)
    kernels.launch("winograd_filter_grad", products.reshape(36, -1), constants, grad.reshape(-1, 3, 3),
                   work=36 * 20 * grad.size // 9)
    return grad


@with_scratch
def _grad_chunk(pad, x, dy, products, rows, top, left, groups, constants, alone=False):
    """One chunk of :func:`weight_grad`, added into ``products``; ``alone`` as in :func:`_fused_chunk`."""
    b, c_in = x.shape[:2]
    c_out = dy.shape[1]
    v = _input_tiles(pad, x, constants, rows, top, left, dy.shape[3], alone)
    th, span = v.shape[3:]
    cols = b * th * span
    t = pad.empty((36, c_out, b, th, span), x.dtype)
    work = 0 if alone else 36 * 10 * t[0].size
    kernels.launch("winograd_grad_output", dy, constants, rows.start * 4, _workers(c_out * b, work), t, work=work)
    og, cg = c_out // groups, c_in // groups
    a, bb = t.reshape(36, groups, og, cols), v.reshape(36, groups, cg, cols).transpose(0, 1, 3, 2)
    partial = _products(a, bb, pad.empty(products.shape, x.dtype), alone)
    products += partial


def _points_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[t] = a[t] @ b[t]`` for the 36 transform points. Where each product is small for
    BLAS to split, the points are shared out among the configured threads instead, each with
    single-threaded BLAS."""
    threads = min(get_config().threads, a.shape[0])
    flops = 2 * a.shape[-2] * a.shape[-1] * b.shape[-1] * math.prod(a.shape[1:-2])
    if threads < 2 or flops >= SMALL_GEMM_FLOPS:
        return np.matmul(a, b, out=out)
    bounds = [a.shape[0] * i // threads for i in range(threads + 1)]
    run([functools.partial(np.matmul, a[lo:hi], b[lo:hi], out=out[lo:hi]) for lo, hi in zip(bounds, bounds[1:])],
        threads)
    return out


@functools.lru_cache(maxsize=4)
def _constants(dtype) -> np.ndarray:
    from ..kernels.winograd import CONSTANTS

    return np.array(CONSTANTS, dtype=dtype)     # writable: the kernels are compiled for writable arrays


def transpose(x: np.ndarray, weight: np.ndarray, geometry: TransposeGeometry, groups: int) -> np.ndarray:
    """Unit-stride transposed 3x3 convolution (e.g. the input gradient of a 3x3 conv):
    :func:`forward` on the equivalent direct convolution (flipped, channel-swapped kernel)."""
    operands = direct_operands(x, weight, geometry, groups)
    if operands is None:                               # every input cell cropped away: the output is zero
        return np.zeros((x.shape[0], weight.shape[1] * groups, *geometry.output_size), dtype=x.dtype)
    return forward(operands[0], operands[1], operands[2], groups, keep_filters=False)   # a new flipped array


RECORD = Algorithm("winograd", exact=False, why_ineligible=why_ineligible, cost=cost, forward=forward,
                   transpose=transpose, weight_grad=weight_grad)
