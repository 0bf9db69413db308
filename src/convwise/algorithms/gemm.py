"""im2col + GEMM: unfold input windows into columns, multiply by the weight matrix (BLAS).

Layout: for each sample (and group) the columns are a C-contiguous ``(C_in/groups * K, L)``
matrix (``K`` kernel taps, ``L`` output positions), so that ``W (C_out, C_in*K) @ cols``
lands directly in the NCHW output through ``np.matmul(..., out=...)`` with no transpose
or copy of the result. One reused column buffer is the only large scratch allocation; it
is filled tile by tile (over the batch, then over rows of the first output dimension;
:func:`convwise.algorithms._parallel.plan_tiles`) so that it stays within the workspace
budget and, when the budget allows, within a cache-friendly target (``TILE_TARGET_BYTES``).

A transposed convolution with unit stride is the direct convolution of
:func:`convwise.arithmetic.transpose_as_direct` (no col2im scatter); strided ones compute
the columns ``W^T x`` by GEMM and then gather each output phase ``y[..., r0::s0, ...]``
(sub-pixel / polyphase decomposition) from the column blocks of the taps that reach it
(:func:`_polyphase_transpose`): 1.1-1.8x faster than col2im's scatter on every layer tried.

For 2-D layers the compiled kernels of :mod:`convwise.kernels.im2col` take over once loaded:
the columns are filled straight from the unpadded input in one parallel pass (no padded copy,
no 6-D strided ``copyto``), and strided transposed layers scatter-add the column blocks in one
pass (:func:`_col2im_transpose`). The NumPy paths answer until then, and for 1-D and 3-D.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .. import kernels
from .._config import get_config, small_gemm_threads
from .._workspace import scratch
from ..arithmetic import ConvGeometry, TransposeGeometry
from . import _cost
from ._parallel import plan_tiles
from ._record import Algorithm, Problem
from ._windows import direct_operands, windows

__all__ = ["forward", "transpose", "weight_grad", "cost", "why_ineligible", "workspace_fits", "TILE_TARGET_BYTES",
           "RECORD"]

#: Preferred size of one column tile. With scratch reused across calls
#: (:mod:`convwise._workspace`) larger tiles won on the 2-core dev box (1 thread, medians of
#: 15 interleaved runs, 2 / 6 / 12 MiB): grouped g32 0.94 / 0.80 / 0.69 ms, k3 s2 128@56
#: 3.42 / 3.11 / 2.85, k11 s4 2.92 / 2.68 / 2.48, d4 5.50 / 4.93 / 5.13, N=8 64@56 28.9 /
#: 28.0 / 27.0. (With fresh scratch every call, page faults had made 2 MiB the best.)
TILE_TARGET_BYTES = 8 * 2**20

def _row_geometry(geometry: ConvGeometry, rows: slice) -> tuple[ConvGeometry, slice]:
    """Geometry of output rows ``rows`` (first spatial dim) and the padded-input rows it reads."""
    first = rows.start * geometry.stride[0]
    count = rows.stop - rows.start
    span = (count - 1) * geometry.stride[0] + geometry.effective_kernel[0]
    sub = ConvGeometry((span,) + geometry.input_size[1:], geometry.kernel_size, geometry.stride,
                       ((0, 0),) + geometry.padding[1:], geometry.dilation, (count,) + geometry.output_size[1:])
    return sub, slice(first, first + span)


def _row_bytes(c_in: int, geometry: ConvGeometry, itemsize: int) -> int:
    """Column bytes of one output row (first spatial dimension) of one sample."""
    return c_in * math.prod(geometry.kernel_size) * math.prod(geometry.output_size[1:]) * itemsize


def _tile_bytes(c_in: int, geometry: ConvGeometry, itemsize: int, batch: int, rows: int) -> int:
    """Scratch of a tile: its columns plus the zero-padded input rows they read."""
    padded_row = c_in * math.prod(geometry.padded_size[1:]) * itemsize
    span = (rows - 1) * geometry.stride[0] + geometry.effective_kernel[0]
    return batch * (rows * _row_bytes(c_in, geometry, itemsize) + span * padded_row)


def _plan(n: int, c_in: int, geometry: ConvGeometry, itemsize: int) -> list[tuple[slice, slice]]:
    """Tiles (batch slice, output-row slice) within ``min(TILE_TARGET_BYTES, budget)``."""
    limit = min(TILE_TARGET_BYTES, get_config().workspace_bytes)
    return plan_tiles(n, geometry.output_size[0], lambda b, r: _tile_bytes(c_in, geometry, itemsize, b, r), limit)


def _fill_columns(out: np.ndarray, padded: np.ndarray, geometry: ConvGeometry) -> None:
    """Copy every window of ``padded (b, g, c, *S)`` into ``out (b, g, c, *kernel, *output)``."""
    view = windows(padded, geometry, lead=3)                                   # (b, g, c, *out, *k)
    d = geometry.ndim
    np.copyto(out, view.transpose((0, 1, 2) + tuple(range(3 + d, 3 + 2 * d)) + tuple(range(3, 3 + d))))


def _padded_rows(x: np.ndarray, geometry: ConvGeometry, batch: slice, inputs: slice, buffer: np.ndarray | None):
    """Rows ``inputs`` (padded coordinates) of the zero-padded ``x[batch]``, padded tile by tile."""
    if not any(lo or hi for lo, hi in geometry.padding):
        return x[batch, :, inputs]
    (lo, _), size = geometry.padding[0], geometry.input_size[0]
    shape = (batch.stop - batch.start, x.shape[1], inputs.stop - inputs.start, *geometry.padded_size[1:])
    assert buffer is not None                     # the caller takes one whenever there is padding
    tile = buffer[:math.prod(shape)].reshape(shape)
    tile.fill(0)
    first, last = max(inputs.start - lo, 0), min(inputs.stop - lo, size)       # real input rows inside
    if first < last:
        inner = tuple(slice(l, l + i) for (l, _), i in zip(geometry.padding[1:], geometry.input_size[1:]))
        tile[(slice(None), slice(None), slice(first + lo - inputs.start, last + lo - inputs.start)) + inner] = \
            x[batch, :, first:last]
    return tile


def _compiled_geo(x: np.ndarray, geometry: ConvGeometry) -> np.ndarray | None:
    """The ``geo`` array of the compiled 2-D im2col (:mod:`convwise.kernels.im2col`) when it can
    fill the columns of ``x`` (2-D, float32/64, C-contiguous, kernel loaded), else ``None``."""
    if geometry.ndim != 2 or x.dtype.name not in kernels.DTYPES or not x.flags.c_contiguous:
        return None
    if not kernels.ready("im2col2d", x.dtype):
        return None
    return np.array((*geometry.stride, *geometry.dilation, geometry.padding[0][0], geometry.padding[1][0]),
                    dtype=np.int64)


def _tiled_columns(x: np.ndarray, geometry: ConvGeometry, groups: int):
    """Yield ``(batch, rows, cols)``: column tiles ``(b, g, C_in/g * K, rows * L_row)`` of ``x``.

    The column buffer and the padded-input buffer are taken once for the largest tile
    from the thread's scratch (:mod:`convwise._workspace`) and reused by every tile; neither
    exceeds the workspace budget. Consume the generator to the end (it holds the scratch).
    """
    n, c_in = x.shape[:2]
    itemsize = x.itemsize
    plan = _plan(n, c_in, geometry, itemsize)
    b_max = max(b.stop - b.start for b, _ in plan)
    r_max = max(r.stop - r.start for _, r in plan)
    with scratch() as pad:
        columns = pad.empty(b_max * r_max * _row_bytes(c_in, geometry, 1), x.dtype)
        span = (r_max - 1) * geometry.stride[0] + geometry.effective_kernel[0]
        compiled = _compiled_geo(x, geometry)
        padded_buffer = None
        if compiled is None and any(lo or hi for lo, hi in geometry.padding):
            padded_buffer = pad.empty(b_max * c_in * span * math.prod(geometry.padded_size[1:]), x.dtype)
        rows_k = (c_in // groups) * math.prod(geometry.kernel_size)
        for batch, rows in plan:
            sub, inputs = _row_geometry(geometry, rows)
            b = batch.stop - batch.start
            if compiled is not None:                  # one compiled pass straight from x
                shape = (b, c_in, *geometry.kernel_size, rows.stop - rows.start, geometry.output_size[1])
                cols = columns[:math.prod(shape)].reshape(shape)
                # on one thread: the copy is bound by memory, and a two-thread numba launch right before a
                # two-thread GEMM measured 7.9 ms against 2.2 for the stem layer in a process that had
                # loaded torch (numba then runs on torch's libgomp, whose workers spin on the GEMM's core)
                kernels.launch("im2col2d", x, compiled, batch.start, rows.start, cols, work=0)
                yield batch, rows, cols.reshape(b, groups, rows_k, -1)
                continue
            tile = _padded_rows(x, geometry, batch, inputs, padded_buffer)
            tile = tile.reshape(b, groups, c_in // groups, *tile.shape[2:])
            shape = (b, groups, c_in // groups, *geometry.kernel_size, *sub.output_size)
            cols = columns[:math.prod(shape)].reshape(shape)
            _fill_columns(cols, tile, sub)
            yield batch, rows, cols.reshape(b, groups, rows_k, -1)


def _flat_rows(y: np.ndarray, batch: slice, rows: slice) -> np.ndarray:
    """View ``(b, g, o, rows*L_row)`` of rows ``rows`` of ``y (n, g, o, R, L_row)`` (never a copy)."""
    part = y[batch, :, :, rows]
    return np.reshape(part, part.shape[:3] + (-1,), copy=False)


def forward(x: np.ndarray, weight: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    n = x.shape[0]
    c_out = weight.shape[0]
    out = geometry.output_size
    w = weight.reshape(groups, c_out // groups, -1)
    y = np.empty((n, groups, c_out // groups, out[0], math.prod(out[1:])), dtype=x.dtype)
    for batch, rows, cols in _tiled_columns(x, geometry, groups):
        with small_gemm_threads(2.0 * w.shape[1] * w.shape[2] * cols.shape[-1]):
            np.matmul(w, cols, out=_flat_rows(y, batch, rows))
    return y.reshape(n, c_out, *out)


def weight_grad(x: np.ndarray, grad_output: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    c_in = x.shape[1]
    n, c_out = grad_output.shape[:2]
    out = geometry.output_size
    dy = grad_output.reshape(n, groups, c_out // groups, out[0], math.prod(out[1:]))
    grad = np.zeros((groups, c_out // groups, (c_in // groups) * math.prod(geometry.kernel_size)), dtype=x.dtype)
    partial = np.empty_like(grad)
    for batch, rows, cols in _tiled_columns(x, geometry, groups):
        gy = _flat_rows(dy, batch, rows)
        for i in range(cols.shape[0]):                                        # dW += dy @ cols^T (BLAS trans)
            np.matmul(gy[i], cols[i].transpose(0, 2, 1), out=partial)
            grad += partial
    return grad.reshape(c_out, c_in // groups, *geometry.kernel_size)


def transpose(x: np.ndarray, weight: np.ndarray, geometry: TransposeGeometry, groups: int) -> np.ndarray:
    """Unit stride: the direct GEMM convolution it equals; strided: GEMM + output-phase gather."""
    if all(s == 1 for s in geometry.stride):
        operands = direct_operands(x, weight, geometry, groups)
        if operands is not None:
            return forward(operands[0], operands[1], operands[2], groups)
    if geometry.ndim == 2 and x.dtype.name in kernels.DTYPES and kernels.ready("col2im2d", x.dtype):
        return _col2im_transpose(x, weight, geometry, groups)
    return _polyphase_transpose(x, weight, geometry, groups)


def _col2im_transpose(x: np.ndarray, weight: np.ndarray, geometry: TransposeGeometry, groups: int) -> np.ndarray:
    """2-D strided transposed convolution: columns ``W^T x`` by one GEMM per batch tile, then the
    compiled scatter-add of every column block into its output cells (:mod:`convwise.kernels.im2col`),
    one pass instead of a NumPy pass per output phase and tap."""
    n, c_in = x.shape[:2]
    c_out = weight.shape[1] * groups
    kernel = geometry.kernel_size
    w = weight.reshape(groups, c_in // groups, -1).transpose(0, 2, 1)          # (g, co*K, ci)
    xg = x.reshape(n, groups, c_in // groups, -1)
    y = np.empty((n, c_out, *geometry.output_size), dtype=x.dtype)
    per_sample = c_out * math.prod(kernel) * math.prod(geometry.input_size) * x.itemsize
    plan = plan_tiles(n, 1, lambda b, r: b * per_sample, get_config().workspace_bytes)
    geo = np.array((*geometry.stride, *geometry.dilation, geometry.padding[0][0], geometry.padding[1][0]),
                   dtype=np.int64)
    b_max = max(b.stop - b.start for b, _ in plan)
    with scratch() as pad:
        columns = pad.empty(b_max * per_sample // x.itemsize, x.dtype)
        for batch, _ in plan:
            b = batch.stop - batch.start
            cols = columns[:b * per_sample // x.itemsize].reshape(b, groups, w.shape[1], -1)
            with small_gemm_threads(2.0 * w.shape[1] * w.shape[2] * cols.shape[-1]):
                np.matmul(w, xg[batch], out=cols)                               # (b, g, co*K, L_in)
            kernels.launch("col2im2d", cols.reshape(b, c_out, *kernel, *geometry.input_size), geo, y[batch],
                           work=cols.size)
    return y


def _phases_1d(size: int, kernel: int, stride: int, lo: int, dilation: int, out: int):
    """The output phases of one dimension that some tap reaches: ``[(r, count, [(tap, dst, src), ...]), ...]``,
    and whether other phases exist (they receive no tap: zero).

    Output ``o = q * stride + r`` (``q < count``) receives tap ``t`` from input
    ``i = q + c`` with ``c = (r + lo - t * dilation) / stride`` whenever that is an integer:
    ``dst`` is the slice of ``q`` with ``0 <= q + c < size`` and ``src`` the matching inputs.
    Only the ``r = (t * dilation - lo) mod stride`` of the taps are visited (at most
    ``kernel`` of them, whatever the stride).
    """
    phases: dict[int, list] = {}
    for t in range(kernel):
        r = (t * dilation - lo) % stride
        if r >= min(stride, out):
            continue
        count = -(-(out - r) // stride)
        c = (r + lo - t * dilation) // stride
        first, last = max(0, -c), min(count, size - c)
        taps = phases.setdefault(r, [])
        if first < last:
            taps.append((t, slice(first, last), slice(first + c, last + c)))
    found = [(r, -(-(out - r) // stride), taps) for r, taps in sorted(phases.items()) if taps]
    return found, len(found) < min(stride, out)


def _polyphase_transpose(x: np.ndarray, weight: np.ndarray, geometry: TransposeGeometry, groups: int) -> np.ndarray:
    """Columns = W^T x by one GEMM per batch tile, then a *gather* per output phase.

    Output phase ``y[..., r0::s0, r1::s1, ...]`` is the sum of the shifted column blocks
    of the kernel taps that reach it (``(r + lo - t * d) % s == 0`` per dimension), so
    each phase is written once, in place, with no zero-filled uncropped buffer, no
    scatter into a strided buffer and no final crop copy; phases no tap reaches are zero.
    """
    n, c_in = x.shape[:2]
    c_out = weight.shape[1] * groups
    og = c_out // groups
    kernel = geometry.kernel_size
    found = [_phases_1d(i, k, s, lo, d, o) for i, k, s, (lo, _), d, o in
             zip(geometry.input_size, kernel, geometry.stride, geometry.padding, geometry.dilation,
                 geometry.output_size)]
    per_dim = [phases for phases, _ in found]
    w = weight.reshape(groups, c_in // groups, -1).transpose(0, 2, 1)          # (g, co*K, ci)
    xg = x.reshape(n, groups, c_in // groups, -1)
    phases = list(itertools.product(*per_dim))
    empty = any(missing for _, missing in found)
    y = (np.zeros if empty else np.empty)((n, groups, og, *geometry.output_size), dtype=x.dtype)
    per_sample = c_out * math.prod(kernel) * math.prod(geometry.input_size) * x.itemsize
    plan = plan_tiles(n, 1, lambda b, r: b * per_sample, get_config().workspace_bytes)
    largest = max(math.prod(-(-o // s) for o, s in zip(geometry.output_size, geometry.stride)), 1)
    b_max = max(b.stop - b.start for b, _ in plan)
    with scratch() as pad:
        accumulator = pad.empty(b_max * c_out * largest, x.dtype)
        columns = pad.empty(b_max * per_sample // x.itemsize, x.dtype)      # one buffer, reused by every tile
        _gather_phases(y, xg, w, plan, phases, geometry, accumulator, columns, per_sample, groups, og)
    return y.reshape(n, c_out, *geometry.output_size)


def _gather_phases(y, xg, w, plan, phases, geometry, accumulator, columns, per_sample, groups, og):
    c_out = groups * og
    kernel = geometry.kernel_size
    for batch, _ in plan:
        b = batch.stop - batch.start
        cols = columns[:b * per_sample // columns.itemsize].reshape(b, groups, og * math.prod(kernel), -1)
        np.matmul(w, xg[batch], out=cols)                                     # (b, g, co*K, L_in)
        cols = cols.reshape(b, groups, og, *kernel, *geometry.input_size)
        for combo in phases:
            index = (batch, slice(None), slice(None)) + tuple(slice(r, None, s) for (r, _, _), s in
                                                              zip(combo, geometry.stride))
            counts = tuple(count for _, count, _ in combo)
            if any(not taps for _, _, taps in combo):
                continue                                                      # no tap: y is zeros there
            if all(len(taps) == 1 for _, _, taps in combo):                  # one tap (s >= k): copy it
                dst = tuple(taps[0][1] for _, _, taps in combo)
                src = (slice(None),) * 3 + tuple(taps[0][0] for _, _, taps in combo) + \
                    tuple(taps[0][2] for _, _, taps in combo)
                view = y[index]
                if not all(d.start == 0 and d.stop == c for d, c in zip(dst, counts)):
                    view.fill(0)
                view[(slice(None),) * 3 + dst] = cols[src]
                continue
            acc = accumulator[:b * c_out * math.prod(counts)].reshape(b, groups, og, *counts)
            started = False
            for taps in itertools.product(*(taps for _, _, taps in combo)):
                dst = (slice(None),) * 3 + tuple(d for _, d, _ in taps)
                src = (slice(None),) * 3 + tuple(t for t, _, _ in taps) + tuple(s for _, _, s in taps)
                if started:
                    acc[dst] += cols[src]
                elif all(d.start == 0 and d.stop == c for (_, d, _), c in zip(taps, counts)):
                    np.copyto(acc, cols[src])                                 # covers the whole phase
                    started = True
                else:
                    acc.fill(0)
                    acc[dst] += cols[src]
                    started = True
            y[index] = acc



# --------------------------------------------------------------------------- record


def workspace_fits(c_in: int, geometry: ConvGeometry, itemsize: int) -> bool:
    """Whether the smallest tile (one output row of one sample) fits the workspace budget."""
    return _tile_bytes(c_in, geometry, itemsize, 1, 1) <= get_config().workspace_bytes


def why_ineligible(problem: Problem) -> str | None:
    """Forward and weight gradient need one output row of columns within the workspace budget."""
    if problem.kind != "transpose" and not workspace_fits(problem.x_shape[1], problem.geometry, problem.itemsize):
        need = _tile_bytes(problem.x_shape[1], problem.geometry, problem.itemsize, 1, 1)
        return (f"one output row of im2col columns needs {need / 2**20:.1f} MiB, more than the workspace budget "
                f"of {get_config().workspace_mib:g} MiB (raise it with convwise.config(workspace_mib=...))")
    return None


def cost(problem: Problem) -> float:
    """Column copies plus one GEMM per tile; strided transposed: GEMM plus the phase gather.
    ``inf`` for 1x1 kernels: pointwise runs the same GEMM without copying the input."""
    if _cost.is_pointwise(problem):
        return math.inf
    n, c_in, c_out, taps, positions = problem.conv
    geometry, groups, itemsize = problem.geometry, problem.groups, problem.itemsize
    cg, og = c_in // groups, c_out // groups
    scale = _cost.few_channels_scale(problem)
    if problem.kind == "transpose" and any(s > 1 for s in geometry.stride):
        inputs = math.prod(geometry.input_size)
        gather = 2 * _cost.pass_seconds(n * c_out * taps * inputs * itemsize, 4) + _cost.call_seconds(n * taps)
        return scale * (_cost.gemm_seconds(og * taps, problem.x_shape[1] // groups, inputs, n * groups, itemsize)
                        + gather)
    tile = min(positions, max(1, TILE_TARGET_BYTES // max(1, c_in * taps * itemsize)))
    tiles = n * max(1, -(-positions // tile))
    copy = _cost.copy_seconds(n * c_in * taps * positions * itemsize, itemsize) + _cost.call_seconds(4 * tiles)
    weights = _cost.CALIBRATION["gemm"]
    if geometry.ndim == 2 and kernels.ready("im2col2d", problem.dtype, start=False):
        copy *= weights["compiled_copy"]     # one compiled pass from the unpadded input
    if groups == 1 and problem.kind == "forward":   # dense forward layers (calibrate.py, see calibration.json)
        scale *= weights["scale"]
    if problem.kind == "weight_grad":     # dy (og x tile) @ columns^T (tile x cg*K): the long side is N
        return scale * (copy + _cost.gemm_seconds(og, tile, cg * taps, tiles * groups, itemsize))
    return scale * (copy + _cost.gemm_seconds(og, cg * taps, tile, tiles * groups, itemsize))


RECORD = Algorithm("gemm", exact=True, why_ineligible=why_ineligible, cost=cost,
                   forward=forward, transpose=transpose, weight_grad=weight_grad)
