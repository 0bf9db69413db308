"""Shift-GEMM ("kn2row" / implicit padded-row) convolution: any stride and dilation.

The input is zero-padded and split into its stride phases (phase ``r`` holds the padded
cells ``q_j * s_j + r_j``), each laid onto a *grid* just large enough for the requested
output (``g_j = o_j + ((k_j - 1) * d_j) // s_j``), spatial dims flattened. Output
``(i_0, ..., i_{D-1})`` lives at the grid's flat position ``p = sum_j i_j * G_j`` (``G_j``
the grid's row strides), and kernel tap ``t`` reads phase ``(t d) % s`` at ``p + off_t``
with ``off_t = sum_j ((t_j * d_j) // s_j) * G_j``. So the input of tap ``t`` for *every*
output is one contiguous run of one phase per channel; positions whose trailing
coordinates fall past the output ("wrap" columns) are computed and dropped. With unit
stride there is one phase and the grid is the padded input's rows.

- forward, 32+ channels per group (and a CBLAS in NumPy's BLAS, :mod:`convwise._blas`):
  each tap is one GEMM ``W_t @ grid[:, off_t : off_t + span]`` on a *view* of the grids
  (rows a whole phase grid apart), all summed into the result tile by ``beta = 1``: no
  copy of the input beyond the phase grids;
- forward otherwise: the K tap runs are copied (contiguous row copies, no strided im2col
  gather) into a ``(g, K * C_in/g, positions)`` stack and multiplied by the weight
  matrix in one GEMM per tile; either way the valid columns are then copied into ``y``;
- weight gradient: ``dy`` is laid onto the grid (zeros in the wrap columns), transposed
  once per tile, and each tap's gradient is one GEMM ``grid[:, off_t : off_t + span] @
  dy_grid^T`` with the grids read in place;
- transposed convolution (the input gradient) with unit stride is the forward conv of
  :func:`convwise.arithmetic.transpose_as_direct` (flipped, channel-swapped kernel);
  strided transposed convolutions are left to other algorithms.

Work is tiled over the batch and over rows of the first output dimension so that the
scratch (phase grids, tap stack, result tile) stays within ``min(TILE_TARGET_BYTES,
workspace budget)``; one output row of one sample must fit the budget
(:func:`workspace_fits`). Exact: only the order of float sums differs from ``direct``.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from .. import _blas
from .._config import get_config, small_gemm_threads
from .._workspace import with_scratch
from ..arithmetic import ConvGeometry, TransposeGeometry, transpose_as_direct
from . import _cost, _filter_cache, _parallel
from ._record import Algorithm, Problem
from ._windows import direct_operands

__all__ = ["forward", "transpose", "weight_grad", "why_ineligible", "cost", "workspace_fits", "tile_bytes",
           "TILE_TARGET_BYTES", "PARALLEL_MIN_FLOPS", "RECORD"]

#: Preferred scratch per tile (padded rows + tap stack + result); measured like
#: :data:`convwise.algorithms.gemm.TILE_TARGET_BYTES` (2 / 6 / 12 MiB, 1 thread: N=8 64@56
#: 27.9 / 25.4 / 25.0 ms, 256@14 3.37 / 3.05 / 2.94, d4 5.47 / 4.69 / 5.27, g32 0.99 / 0.78 / 0.74).
TILE_TARGET_BYTES = 8 * 2**20


@functools.lru_cache(maxsize=256)
def _grid(geometry: ConvGeometry):
    """``(grid, strides, taps, halo, phases)`` of the stride-phase grids the input is laid onto.

    The padded input is split into ``prod(stride)`` phases (phase ``r`` holds the padded cells
    ``q * s + r``); each phase is a grid of ``g_j = o_j + ((k_j - 1) d_j) // s_j`` cells per
    dimension (row strides ``strides``), so that tap ``t`` of output ``i`` reads phase
    ``(t d) % s`` at grid cell ``i + (t d) // s``. ``taps``: per tap in ``np.ndindex(kernel)``
    order, ``(phase index, flat shift within the phase)``; ``halo``: extra grid rows of dim 0
    a tile of output rows reads (+1, a slack row for the wrap columns). Unit stride: one phase.
    """
    out, kernel, dilation, stride = (geometry.output_size, geometry.kernel_size, geometry.dilation,
                                     geometry.stride)
    grid = tuple(o + ((k - 1) * d) // s for o, k, d, s in zip(out, kernel, dilation, stride))
    strides = tuple(math.prod(grid[j + 1:]) for j in range(len(grid)))
    taps = []
    for tap in np.ndindex(*kernel):
        phase = shift = 0
        for t, d, s, g in zip(tap, dilation, stride, strides):
            phase = phase * s + (t * d) % s
            shift += ((t * d) // s) * g
        taps.append((phase, shift))
    halo = ((kernel[0] - 1) * dilation[0]) // stride[0] + 1
    return grid, strides, tuple(taps), halo, math.prod(stride)


def _offsets(taps, rows: int, halo: int, row: int) -> list[int]:
    """Flat offset of each tap's run in a tile of ``rows`` output rows (phases of ``rows + halo`` grid rows)."""
    return [phase * (rows + halo) * row + shift for phase, shift in taps]


def tile_bytes(c_in: int, c_out: int, geometry: ConvGeometry, itemsize: int, batch: int, rows: int,
               kind: str = "forward") -> int:
    """Scratch of a tile of ``batch`` samples x ``rows`` output rows (first spatial dim)."""
    _, strides, _, halo, phases = _grid(geometry)
    taps = math.prod(geometry.kernel_size)
    row = strides[0]
    padded = c_in * phases * (rows + halo) * row
    if kind == "weight_grad":                                  # dy on the grid and its transpose
        return batch * (padded + 2 * c_out * rows * row) * itemsize
    return batch * (padded + (taps * c_in + c_out) * rows * row) * itemsize


def workspace_fits(c_in: int, c_out: int, geometry: ConvGeometry, itemsize: int, kind: str = "forward") -> bool:
    return tile_bytes(c_in, c_out, geometry, itemsize, 1, 1, kind) <= get_config().workspace_bytes


def _workers(n: int, c_in: int, c_out: int, geometry: ConvGeometry, itemsize: int, kind: str) -> int:
    """Workers that may run at once: each holds its own tile buffers, all within the budget."""
    threads = get_config().threads
    smallest = tile_bytes(c_in, c_out, geometry, itemsize, 1, 1, kind)
    return max(1, min(threads, n * geometry.output_size[0], get_config().workspace_bytes // max(smallest, 1)))


def _plan(n: int, c_in: int, c_out: int, geometry: ConvGeometry, itemsize: int, kind: str, workers: int = 1):
    """Tiles (batch slice, output-row slice), each within ``min(TILE_TARGET_BYTES, budget / workers)``."""
    limit = min(TILE_TARGET_BYTES, get_config().workspace_bytes // workers)
    return _parallel.plan_tiles(n, geometry.output_size[0],
                                lambda b, r: tile_bytes(c_in, c_out, geometry, itemsize, b, r, kind), limit)


def _fill_padded(out: np.ndarray, x: np.ndarray, geometry: ConvGeometry, batch: slice, rows: slice, grid) -> None:
    """The phase grids of ``x[batch]`` for grid rows ``[rows.start, rows.start + R)`` into
    ``out (b, C, phases, R, *grid[1:])``: grid cell ``q`` of phase ``r`` is the padded input's
    cell ``q * s + r`` (zero outside the input)."""
    out.fill(0)
    stride = geometry.stride
    for index, phase in enumerate(np.ndindex(*stride)):
        dst, src = [], []
        for j, ((lo, _), size, g, s, r) in enumerate(zip(geometry.padding, geometry.input_size, grid, stride, phase)):
            start, stop = (rows.start, rows.start + out.shape[3]) if j == 0 else (0, g)   # grid cells wanted
            first = max(start, -(-(lo - r) // s))                  # grid cells whose input cell is inside
            last = min(stop, -(-(size + lo - r) // s))
            if first >= last:
                break
            src.append(slice(first * s + r - lo, (last - 1) * s + r - lo + 1, s))
            dst.append(slice(first - start, last - start))
        else:
            out[(slice(None), slice(None), index) + tuple(dst)] = x[(batch, slice(None)) + tuple(src)]


def _padded_tile(buffer, x, geometry: ConvGeometry, batch: slice, rows: slice, groups: int):
    """Fill ``buffer`` with the phase grids of one tile; returns ``(samples, output rows,
    flat positions, flattened tile (b, groups, C_in/groups, phases * grid cells))``."""
    grid, strides, _, halo, phases = _grid(geometry)
    b, r = batch.stop - batch.start, rows.stop - rows.start
    c_in = x.shape[1]
    tile = buffer[:b * c_in * phases * (r + halo) * strides[0]].reshape(b, c_in, phases, r + halo, *grid[1:])
    _fill_padded(tile, x, geometry, batch, rows, grid)
    return b, r, r * strides[0], tile.reshape(b, groups, c_in // groups, -1)


def _buffers(pad, plan, c_in, halo, row, dtype, phases):
    b_max = max(b.stop - b.start for b, _ in plan)
    r_max = max(r.stop - r.start for _, r in plan)
    padded = pad.empty(b_max * c_in * phases * (r_max + halo) * row, dtype)
    return padded, b_max, r_max


def _run_parallel(plan, work, workers: int, flops_per_row: float):
    """Run ``work(part)`` over the plan's tiles, split across ``workers`` threads (each with
    single-threaded BLAS) when the first tile has at least :data:`PARALLEL_MIN_FLOPS`
    (``flops_per_row`` x its samples x output rows). Returns the list of ``work`` results."""
    b0, r0 = plan[0]
    tile_flops = flops_per_row * (b0.stop - b0.start) * (r0.stop - r0.start)
    if workers < 2 or len(plan) < 2 or tile_flops < PARALLEL_MIN_FLOPS:
        return [work(plan)]
    workers = min(workers, len(plan))
    return _parallel.run([functools.partial(work, plan[i::workers]) for i in range(workers)], workers)


#: Smallest tile (in flops) for which tiles are split across ``threads`` workers, each with
#: single-threaded BLAS, instead of running one multi-threaded GEMM per tile. Off by default
#: (``inf``): on the shared 2-core dev box (interleaved medians of 9, 2 threads) the split
#: ran 1.7-2x slower on 64x56x56 N=1, the d4 dilated and the g32 grouped layers and only
#: 0-15% faster on the N=8 layer. Set a number (e.g. 2e6) to re-measure on other machines.
PARALLEL_MIN_FLOPS = math.inf


class _Sizes(NamedTuple):
    n: int
    c_in: int
    cg: int
    og: int
    out: tuple
    grid: tuple
    taps: tuple           # per tap (phase, shift): see _grid
    halo: int
    row: int              # grid cells per output row (first spatial dim)
    phases: int


def _sizes(x: np.ndarray, c_out: int, geometry: ConvGeometry, groups: int) -> _Sizes:
    n, c_in = x.shape[:2]
    grid, strides, taps, halo, phases = _grid(geometry)
    return _Sizes(n, c_in, c_in // groups, c_out // groups, geometry.output_size, grid, taps, halo, strides[0],
                  phases)


#: Fewest input channels per group for which each tap is its own accumulating GEMM on a view
#: of the phase grids (:func:`_accumulate`) instead of one GEMM over a copied tap stack: below
#: it the products are too thin (conv3d 16>32 16x32x32, two threads: 6.7 ms per tap against
#: 5.9 ms for gemm and 5.8-6.0 for the stack).
ACCUMULATE_MIN_CHANNELS = 32


def _accumulates(cg: int, dtype) -> bool:
    return cg >= ACCUMULATE_MIN_CHANNELS and _blas.gemm(dtype) is not None


def _tap_weights(weight: np.ndarray, groups: int, taps: int, stacked: bool, keep: bool) -> np.ndarray:
    """The weight as ``(g, taps, og, cg)`` (one matrix per tap) or ``(g, og, taps * cg)`` (the tap
    stack's order); ``keep``: kept between calls with the same weight (:mod:`._filter_cache`)."""
    c_out, cg = weight.shape[:2]
    og = c_out // groups

    def compute():
        w = weight.reshape(groups, og, cg, taps)
        if stacked:
            return np.ascontiguousarray(np.moveaxis(w, 3, 2)).reshape(groups, og, taps * cg)
        return np.ascontiguousarray(w.transpose(0, 3, 1, 2))      # C order: each w[g, t] is one matrix

    return _filter_cache.transform(weight, ("shift", groups, stacked), compute) if keep else compute()


def _accumulate(gemm, w: np.ndarray, flat: np.ndarray, offsets: list[int], length: int, result: np.ndarray) -> None:
    """``result[i, g] = sum_t w[g, t] @ flat[i, g][:, off_t : off_t + length]``: one CBLAS product
    per tap on the phase grids in place (rows ``flat.shape[-1]`` apart), summed by ``beta = 1``."""
    b, groups, cg, ld = flat.shape
    og = w.shape[2]
    item = flat.itemsize
    with small_gemm_threads(2.0 * og * cg * length):
        for i in range(b):
            for g in range(groups):
                target = result[i, g]
                base = flat[i, g].ctypes.data
                for t, off in enumerate(offsets):
                    gemm(og, length, cg, w[g, t].ctypes.data, cg, base + off * item, ld, target.ctypes.data,
                         length, 1.0 if t else 0.0)


def forward(x: np.ndarray, weight: np.ndarray, geometry: ConvGeometry, groups: int, *,
            keep_weights: bool = True) -> np.ndarray:
    """``keep_weights``: the per-tap layout of the caller's ``weight`` is kept for its next call
    (off for a transposed call's new flipped array, which would only crowd the cache)."""
    c_out = weight.shape[0]
    z = _sizes(x, c_out, geometry, groups)
    taps = len(z.taps)
    y = np.empty((z.n, c_out, *z.out), dtype=x.dtype)
    if y.size == 0:
        return y
    gemm = _blas.gemm(x.dtype) if z.cg >= ACCUMULATE_MIN_CHANNELS else None     # None: the tap stack
    w = _tap_weights(weight, groups, taps, stacked=gemm is None, keep=keep_weights)
    workers = _workers(z.n, z.c_in, c_out, geometry, x.itemsize, "forward")
    plan = _plan(z.n, z.c_in, c_out, geometry, x.itemsize, "forward", workers)
    inner = (slice(None),) * 3 + tuple(slice(0, o) for o in z.out[1:])

    @with_scratch
    def work(pad, part):
        padded_buffer, b_max, r_max = _buffers(pad, part, z.c_in, z.halo, z.row, x.dtype, z.phases)
        if gemm is None:
            stack_buffer = pad.empty(taps * z.c_in * b_max * r_max * z.row, x.dtype)
        result_buffer = pad.empty(c_out * b_max * r_max * z.row, x.dtype)
        for batch, rows in part:
            b, r, length, flat = _padded_tile(padded_buffer, x, geometry, batch, rows, groups)
            offsets = _offsets(z.taps, r, z.halo, z.row)
            if gemm is not None:
                result = result_buffer[:b * c_out * length].reshape(b, groups, z.og, length)
                _accumulate(gemm, w, flat, offsets, length, result)
                result = result.reshape(b, c_out, r, *z.grid[1:])
            else:
                stack = stack_buffer[:groups * taps * z.cg * b * length].reshape(groups, taps, z.cg, b, length)
                for t, off in enumerate(offsets):
                    np.copyto(stack[:, t], flat[..., off:off + length].transpose(1, 2, 0, 3))
                result = result_buffer[:c_out * b * length].reshape(groups, z.og, b * length)
                with small_gemm_threads(2.0 * z.og * taps * z.cg * b * length):         # e.g. groups=32
                    np.matmul(w, stack.reshape(groups, taps * z.cg, b * length), out=result)
                result = result.reshape(c_out, b, r, *z.grid[1:]).swapaxes(0, 1)
            y[batch, :, rows] = result[inner]

    _run_parallel(plan, work, workers, 2.0 * c_out * z.cg * taps * z.row)
    return y


def weight_grad(x: np.ndarray, grad_output: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    c_out = grad_output.shape[1]
    n, c_in, cg, og, out, grid, tap_shifts, halo, row, phases = _sizes(x, c_out, geometry, groups)
    taps = len(tap_shifts)
    workers = _workers(n, c_in, c_out, geometry, x.itemsize, "weight_grad")
    if n == 0 or 0 in out:
        return np.zeros((c_out, cg, *geometry.kernel_size), dtype=x.dtype)
    plan = _plan(n, c_in, c_out, geometry, x.itemsize, "weight_grad", workers)
    inner = (slice(None),) * 3 + tuple(slice(0, o) for o in out[1:])

    @with_scratch
    def work(pad, part):
        grad = np.zeros((groups, taps, cg, og), dtype=x.dtype)
        padded_buffer, b_max, r_max = _buffers(pad, part, c_in, halo, row, x.dtype, phases)
        dy_buffer = pad.zeros(c_out * b_max * r_max * row, x.dtype)
        dyt_buffer = pad.empty(dy_buffer.shape, x.dtype)
        partial = np.empty((groups, cg, og), dtype=x.dtype)
        for batch, rows in part:
            b, r, length, flat = _padded_tile(padded_buffer, x, geometry, batch, rows, groups)
            offsets = _offsets(tap_shifts, r, halo, row)
            dy = dy_buffer[:b * c_out * length].reshape(b, c_out, r, *grid[1:])
            dy[inner] = grad_output[batch, :, rows]                          # wrap columns stay zero
            # dy^T (positions x channels), contiguous: each tap is then a plain (NN) GEMM
            # x_tap (cg x L, rows strided in place) @ dy^T (L x og), measured 1.5x faster
            # than dy @ x_tap^T on a transposed strided view (64x3248x64: 90 vs 60 GFLOP/s)
            dyt = dyt_buffer[:b * c_out * length].reshape(b, groups, length, og)
            np.copyto(dyt, dy.reshape(b, groups, og, length).transpose(0, 1, 3, 2))
            for i in range(b):
                for t, off in enumerate(offsets):
                    np.matmul(flat[i, :, :, off:off + length], dyt[i], out=partial)
                    grad[:, t] += partial
        return grad

    grads = _run_parallel(plan, work, workers, 2.0 * c_out * cg * taps * row)
    grad = grads[0]
    for other in grads[1:]:
        grad += other
    # (g, taps, cg, og) -> (g, og, cg, taps)
    return np.ascontiguousarray(grad.transpose(0, 3, 2, 1)).reshape(c_out, cg, *geometry.kernel_size)


def transpose(x: np.ndarray, weight: np.ndarray, geometry: TransposeGeometry, groups: int) -> np.ndarray:
    """Unit stride only: the forward shift conv of the equivalent direct convolution."""
    operands = direct_operands(x, weight, geometry, groups)
    if operands is None:                               # every input cell cropped away: the output is zero
        return np.zeros((x.shape[0], weight.shape[1] * groups, *geometry.output_size), dtype=x.dtype)
    return forward(operands[0], operands[1], operands[2], groups, keep_weights=False)   # a new flipped array


# --------------------------------------------------------------------------- record


def why_ineligible(problem: Problem) -> str | None:
    """Any stride, dilation, padding and groups (transposed: unit stride); one output row of a
    tile must fit the budget."""
    geometry = problem.geometry
    if problem.kind == "transpose":
        if any(s != 1 for s in geometry.stride):
            return f"transposed, it needs stride 1, got stride={geometry.stride}"
        c_in, c_out = problem.w_shape[1] * problem.groups, problem.x_shape[1]
        geometry = transpose_as_direct(geometry).geometry
    else:
        c_in, c_out = problem.x_shape[1], problem.w_shape[0]
    kind = "weight_grad" if problem.kind == "weight_grad" else "forward"
    if not workspace_fits(c_in, c_out, geometry, problem.itemsize, kind):
        return (f"one output row of its tap stack does not fit the workspace budget of "
                f"{get_config().workspace_mib} MiB")
    return None


def cost(problem: Problem) -> float:
    """Lay the input onto its phase grids, then per tile either one GEMM per tap on views of
    the grids, summed in place (:func:`_accumulate`), or copies of the K tap slices and one
    GEMM (the stack); copy the valid columns out.

    Runs on grids ``o_0 x prod(o_j + ((k_j - 1) d_j) // s_j)``; the wrap columns cost GEMM work.
    ``inf`` for 1x1 kernels: pointwise runs the same GEMM without copying the input.
    """
    if _cost.is_pointwise(problem):
        return math.inf
    n, c_in, c_out, taps, _ = problem.conv
    geometry, groups, itemsize = problem.geometry, problem.groups, problem.itemsize
    if problem.kind == "transpose":
        geometry = transpose_as_direct(geometry).geometry
    cg, og = c_in // groups, c_out // groups
    out = geometry.output_size
    if n == 0 or 0 in out:
        return _cost.call_seconds()
    phases = math.prod(geometry.stride)
    per_row = math.prod(o + ((k - 1) * d) // s for o, k, d, s in
                        zip(out[1:], geometry.kernel_size[1:], geometry.dilation[1:], geometry.stride[1:]))
    grid = out[0] * per_row
    accumulate = problem.kind != "weight_grad" and _accumulates(cg, problem.dtype)
    row_bytes = (c_in * (phases + (0 if accumulate else taps)) + c_out) * per_row * itemsize
    tile = min(grid * n, max(per_row, (TILE_TARGET_BYTES // max(row_bytes, 1)) * per_row))
    tiles = max(1, -(-grid * n // tile))
    tile = -(-grid * n // tiles)
    threads = _cost.threads()
    parallel = threads > 1 and tiles > 1 and 2.0 * c_out * cg * taps * tile >= PARALLEL_MIN_FLOPS
    workers = min(threads, tiles) if parallel else 1
    moved = n * grid * (2 * c_in * phases + c_out) * itemsize              # grid fill + result copy
    calibration = _cost.CALIBRATION["shift"]
    if problem.kind == "weight_grad":
        # per tap: x_tap (cg x len) @ dy^T (len x og), plus transposing dy once per tile. These
        # long-K products ran ~1.7x above the modelled rate on one thread and did not speed up on two
        long_k = calibration["long_k"] if min(tile, grid) >= 1024 else 1.0
        gemm = long_k * threads * _cost.gemm_seconds(
            og, cg, min(tile, grid), n * -(-grid // min(tile, grid)) * taps * groups, itemsize)
        moved += n * grid * c_out * itemsize
    elif accumulate:
        per_sample = min(tile, grid)
        count = n * -(-grid // per_sample) * taps * groups
        gemm = calibration["accumulate"] * _cost.gemm_seconds(og, cg, per_sample, count, itemsize)
    else:
        moved += n * grid * c_in * taps * itemsize * (1.0 if cg > 1 else 4.0)  # contiguous tap copies
        gemm = _cost.gemm_seconds(og, cg * taps, tile, tiles * groups, itemsize)
    copy = _cost.pass_seconds(moved, itemsize) * (1.0 if phases == 1 else calibration["phase_copy"])
    seconds = (copy + gemm * threads) / workers if workers > 1 else copy + gemm
    return _cost.few_channels_scale(problem) * calibration["scale"] * seconds


RECORD = Algorithm("shift", exact=True, why_ineligible=why_ineligible, cost=cost,
                   forward=forward, transpose=transpose, weight_grad=weight_grad)
