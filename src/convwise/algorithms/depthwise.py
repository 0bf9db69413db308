"""Depthwise (and other few-channels-per-group) convolution by shift-and-accumulate.

A depthwise convolution (``groups == C_in``, any channel multiplier ``C_out / C_in``)
has too little work per group for a GEMM: im2col would build ``K`` copies of the input
to multiply each by a ``1 x K`` row. Here each kernel tap instead multiplies the strided
input slice it meets by a per-channel weight and adds it to the output, vectorised over
batch and channels::

    y[n, c, m, :] += x_padded[n, c, tap window] * w[c, m, tap]      for every tap

The forward pass works on the zero-padded input split into its stride phases and
flattened per channel (as in :mod:`.shift`), so every tap reads one contiguous run of
one phase; wrap columns past each output row are computed and dropped. It goes in
(batch x channel) blocks whose scratch (phases, wide output, product buffer) is at most
``min(CHUNK_BYTES, workspace budget)``, so the ``K`` passes over a block hit the cache.
The phase layout is :class:`convwise.algorithms._windows.FlatPhases`, shared with pooling.
It runs on ``FORWARD_THREADS`` workers (one: short memory-bound ufunc calls measured
slower on two threads of the dev box); the transposed and weight-gradient kernels spread
chunks over ``get_config().threads`` threads (NumPy's ufuncs release the GIL).

The kernels accept any per-group channel counts (``C_in/groups`` input, ``C_out/groups``
output channels per group, looping over the input ones); they are meant for small ones.
The transposed convolution (the input gradient of a depthwise layer) is rewritten as a
forward one when the stride is 1 and otherwise scattered tap by tap.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .._config import get_config
from .._workspace import scratch, with_scratch
from ..arithmetic import ConvGeometry, TransposeGeometry
from . import _cost, _parallel
from ._record import Algorithm, Problem
from ._windows import FlatPhases, crop, direct_operands, pad_zeros, scatter_size, tap_window

__all__ = ["forward", "transpose", "weight_grad", "why_ineligible", "cost", "CHUNK_BYTES", "CHANNELS_LAST_SMALL",
           "CHANNELS_LAST_MEDIUM", "CHANNELS_LAST_MIN", "RECORD"]

#: Scratch bytes per worker (phases + wide output + product buffer): about an L2 cache of the 2-core dev box.
CHUNK_BYTES = 768 * 2**10
#: Plain depthwise layers with small planes run channels-last (:func:`_channels_last`):
#: outputs of at most ``CHANNELS_LAST_SMALL`` cells, or of at most ``CHANNELS_LAST_MEDIUM``
#: cells read from a padded plane of at most as many, with ``CHANNELS_LAST_MIN`` channels.
#: Measured speed-up over the per-tap path (3x3, one thread, C = 8 ... 768): 1.5-3.5x for
#: 7x7 and 14x14 outputs at any C; 1.3-1.9x at 28x28 (0.7-1.0x below 64 channels); on
#: 56x56 and larger planes 0.2-1.3x (transposing big planes to channels-last costs more
#: than the fused multiply-adds save). Suite layer C256 28x28: 0.80 vs 1.21 ms.
CHANNELS_LAST_SMALL = 256
CHANNELS_LAST_MEDIUM = 1024
CHANNELS_LAST_MIN = 64
#: Below this many output bytes a single thread is faster than handing work to a pool.
_PARALLEL_MIN_BYTES = 512 * 2**10

#: Forward workers: the element-wise passes are memory bound and each ufunc call is short,
#: so on the 2-core dev box a second thread measured slower than one (GIL hand-offs per
#: call); raise this on machines where it pays.
FORWARD_THREADS = 1



def _parallel_map(function, items, size_bytes: int) -> None:
    """Run ``function(item)`` for every item, on ``get_config().threads`` threads when worth it."""
    items = list(items)
    workers = min(get_config().threads, len(items)) if size_bytes >= _PARALLEL_MIN_BYTES else 1
    _parallel.run([functools.partial(function, item) for item in items], workers, blas=False)


def _blocks(n: int, groups: int, per_group: int, limit: int) -> list[tuple[slice, slice]]:
    """(batch, group) blocks of at most ``limit`` scratch bytes (at least one group each)."""
    return _parallel.plan_tiles(n, groups, lambda b, g: b * g * per_group, limit)


def _accumulate(y: np.ndarray, tmp: np.ndarray, phases: np.ndarray, weights: np.ndarray, taps, length: int) -> None:
    """``y (b, g, og, length) = sum over taps, i of phases[phase, :, :, i, off:off+length] * weights[k, i]``.

    ``weights`` is ``(K, cg, g, og, 1)``, broadcastable against ``y``; ``tmp`` is ``y``-shaped scratch.
    """
    cg = weights.shape[1]
    first = True
    for k, (phase, offset) in enumerate(taps):
        for i in range(cg):
            run = phases[phase, :, :, None, i, offset:offset + length]            # (b, g, 1, length)
            if first:
                np.multiply(run, weights[k, i], out=y)
                first = False
                continue
            np.multiply(run, weights[k, i], out=tmp)
            np.add(y, tmp, out=y)


def _scratch_per_group(cg: int, og: int, phases: int, phase_size: int, length: int, itemsize: int) -> int:
    """Scratch bytes per (sample, group): its stride phases, the wide output and the product buffer."""
    return (cg * phases * phase_size + 2 * og * length) * itemsize


def _prefers_channels_last(channels: int, geometry: ConvGeometry) -> bool:
    """Small planes (see :data:`CHANNELS_LAST_SMALL`)."""
    out, padded = math.prod(geometry.output_size), math.prod(geometry.padded_size)
    return out <= CHANNELS_LAST_SMALL or (
        channels >= CHANNELS_LAST_MIN and out <= CHANNELS_LAST_MEDIUM and padded <= CHANNELS_LAST_MEDIUM)


def _channels_last_bytes(c: int, geometry: ConvGeometry, itemsize: int) -> int:
    """Scratch of the channels-last path for one sample: padded input and output, channels last."""
    return itemsize * c * (math.prod(geometry.padded_size) + math.prod(geometry.output_size))


def _channels_last(x: np.ndarray, weight: np.ndarray, geometry: ConvGeometry, y: np.ndarray) -> None:
    """Plain depthwise (one input and one output channel per group), sample by sample: the
    zero-padded sample channels-last, then one ``einsum`` over a strided view of every
    window, ``(*kernel, *output, C)``, whose innermost axis is the channels. NumPy's
    sum-of-products loop then multiplies and adds whole contiguous channel rows at once,
    where the per-tap path needs two passes per tap over the whole plane."""
    n, c = x.shape[:2]
    ndim = geometry.ndim
    kernel, out = tuple(geometry.kernel_size), tuple(geometry.output_size)
    taps, cells = "abcdefgh"[:ndim], "pqrstuvw"[:ndim]
    weights = np.ascontiguousarray(np.moveaxis(weight.reshape(c, *kernel), 0, -1))        # (*K, C)
    inside = tuple(slice(lo, lo + i) for (lo, _), i in zip(geometry.padding, geometry.input_size))
    with scratch() as pad:
        padded = pad.zeros((*geometry.padded_size, c), x.dtype)
        result = pad.empty((*out, c), x.dtype)
        strides = padded.strides
        view_strides = (tuple(st * d for st, d in zip(strides[:ndim], geometry.dilation))
                        + tuple(st * s for st, s in zip(strides[:ndim], geometry.stride)) + (strides[-1],))
        for i in range(n):
            padded[inside] = np.moveaxis(x[i], 0, -1)
            windows = as_strided(padded, (*kernel, *out, c), view_strides, writeable=False)
            np.einsum(f"{taps}C,{taps}{cells}C->{cells}C", weights, windows, out=result)
            y[i] = np.moveaxis(result, -1, 0)


def forward(x: np.ndarray, weight: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    """Shift-and-accumulate on flattened stride phases: every tap is one contiguous run per channel.

    Work goes in (batch, channel) blocks: each block's input is gathered into its
    worker's zero-padded phase buffer (in cache), the taps accumulate into a wide output
    buffer, and its valid columns are copied to ``y``. Scratch per worker is at most
    ``min(CHUNK_BYTES, workspace budget / workers)`` (one channel plane at least).

    Plain depthwise layers on small planes run channels-last instead
    (:func:`_channels_last`, :data:`CHANNELS_LAST_SMALL`), when one sample fits the budget.
    """
    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    cg, og = c_in // groups, c_out // groups
    out = tuple(geometry.output_size)
    y = np.empty((n, c_out, *out), dtype=x.dtype)
    if y.size == 0:
        return y
    if (cg == 1 and og == 1 and _prefers_channels_last(c_in, geometry)
            and _channels_last_bytes(c_in, geometry, x.itemsize) <= get_config().workspace_bytes):
        _channels_last(x, weight, geometry, y)
        return y
    layout = FlatPhases(geometry)
    count, length = len(layout.phases), layout.length
    w = weight.reshape(groups, og, cg, -1)
    weights = np.ascontiguousarray(w.transpose(3, 2, 0, 1))[..., None]           # (K, cg, g, og, 1)
    xg = x.reshape(n, groups, cg, *geometry.input_size)
    yg = y.reshape(n, groups, og, *out)
    per_group = _scratch_per_group(cg, og, count, layout.size, length, x.itemsize)
    threads = FORWARD_THREADS if y.nbytes >= _PARALLEL_MIN_BYTES else 1
    threads = max(1, min(threads, get_config().threads))
    limit = min(CHUNK_BYTES, get_config().workspace_bytes // threads)
    blocks = _blocks(n, groups, per_group, limit)
    workers = max(1, min(threads, len(blocks)))

    @with_scratch
    def run(pad, part):
        bmax = max(b.stop - b.start for b, _ in part)
        gmax = max(g.stop - g.start for _, g in part)
        phases = pad.zeros((count, bmax * gmax * cg, layout.size), x.dtype)
        y_wide = pad.empty((bmax, gmax, og, length), x.dtype)
        tmp = pad.empty(y_wide.shape, x.dtype)
        for batch, chans in part:
            b, g = batch.stop - batch.start, chans.stop - chans.start
            ph = phases[:, :b * g * cg]
            layout.fill(ph, xg[batch, chans].reshape(b * g * cg, *geometry.input_size), None)
            ph = ph.reshape(count, b, g, cg, layout.size)
            yw, tw = y_wide[:b, :g], tmp[:b, :g]
            _accumulate(yw, tw, ph, weights[:, :, chans], layout.taps, length)
            yg[batch, chans] = layout.crop(yw)

    _parallel.run([functools.partial(run, blocks[i::workers]) for i in range(workers)], workers, blas=False)
    return y


def weight_grad(x: np.ndarray, grad_output: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    """``dW[g, o, i, tap] = sum over n, positions of dy[n, g, o] * x_padded[n, g, i, window]``."""
    n, c_in = x.shape[:2]
    c_out = grad_output.shape[1]
    cg, og = c_in // groups, c_out // groups
    padded = pad_zeros(x, geometry).reshape(n, groups, cg, *geometry.padded_size)
    dy = grad_output.reshape(n, groups, og, *geometry.output_size)
    taps = list(np.ndindex(*geometry.kernel_size))
    grad = np.empty((len(taps), groups, og, cg), dtype=x.dtype)
    spatial = "xyz"[:geometry.ndim]

    def run(k):
        patch = padded[(slice(None),) * 3 + tap_window(taps[k], geometry)]
        np.einsum(f"ngo{spatial},ngi{spatial}->goi", dy, patch, out=grad[k], optimize=False)

    _parallel_map(run, range(len(taps)), dy.nbytes * len(taps))
    return np.ascontiguousarray(grad.transpose(1, 2, 3, 0)).reshape(c_out, cg, *geometry.kernel_size)


def transpose(x: np.ndarray, weight: np.ndarray, geometry: TransposeGeometry, groups: int) -> np.ndarray:
    """Unit stride: the equivalent direct convolution; otherwise scatter each tap's product."""
    if all(s == 1 for s in geometry.stride):
        operands = direct_operands(x, weight, geometry, groups)
        if operands is not None:
            return forward(operands[0], operands[1], operands[2], groups)
    n, c_in = x.shape[:2]
    cg, og = c_in // groups, weight.shape[1]
    d = geometry.ndim
    xg = x.reshape(n, groups, cg, *geometry.input_size)
    w = weight.reshape(groups, cg, og, -1)
    taps = np.ascontiguousarray(w.transpose(3, 1, 0, 2)).reshape(w.shape[3], cg, groups, og, *(1,) * d)
    buffer = np.zeros((n, groups, og, *scatter_size(geometry)), dtype=x.dtype)
    adjoint = geometry.forward
    per_group = og * math.prod(geometry.input_size) * x.itemsize

    def run(block):
        batch, chans = block
        b = buffer[batch, chans]
        tmp = np.empty(b.shape[:3] + tuple(geometry.input_size), dtype=x.dtype)
        for k, tap in enumerate(np.ndindex(*geometry.kernel_size)):
            target = b[(slice(None),) * 3 + tap_window(tap, adjoint)]
            for i in range(cg):
                np.multiply(xg[batch, chans, i:i + 1], taps[k, i, chans], out=tmp)
                np.add(target, tmp, out=target)

    _parallel_map(run, _blocks(n, groups, per_group, CHUNK_BYTES), buffer.nbytes)
    return np.ascontiguousarray(crop(buffer, geometry)).reshape(n, groups * og, *geometry.output_size)


# --------------------------------------------------------------------------- record


def why_ineligible(problem: Problem) -> str | None:
    """Depthwise-shaped problems: one input channel per group (forward, weight grad), or the
    adjoint of one (transpose: one input or one output channel per group)."""
    groups, c_in = problem.groups, problem.x_shape[1]
    if problem.kind == "transpose":
        if groups > 1 and (c_in == groups or problem.w_shape[1] == 1):
            return None
    elif groups > 1 and c_in == groups:
        return None
    return (f"it needs groups == in_channels (one input channel per group), got groups={groups} "
            f"with {c_in} input channels")


def cost(problem: Problem) -> float:
    """Element-wise passes (two per tap and input channel of a group) over the output, the phase
    gather, per-row loop overhead and per-call costs of the blocks."""
    n, c_in, c_out, taps, positions = problem.conv
    geometry, groups, itemsize = problem.geometry, problem.groups, problem.itemsize
    cg = c_in // groups
    calibration = _cost.CALIBRATION["depthwise"]
    if problem.kind == "weight_grad":
        elements = n * c_out * positions * taps * cg
        return (elements * 2 / (_cost.CALIBRATION["einsum_flops"] * 4 * min(_cost.threads(), taps))
                + _cost.call_seconds(taps))
    if problem.kind == "forward":
        layout = FlatPhases(geometry)
        out_elements = n * c_out * layout.length
        phase_elements = n * c_in * layout.size                         # as calibrated: one phase's extent
        per_group = _scratch_per_group(cg, c_out // groups, len(layout.phases), layout.size, layout.length, itemsize)
        limit = min(CHUNK_BYTES, get_config().workspace_bytes)
        blocks = n if groups * per_group <= limit else n * -(-groups // max(1, limit // max(per_group, 1)))
    else:                                  # transposed: about the output, chunked like the forward
        out_elements = n * c_out * positions
        phase_elements = n * c_in * math.prod(geometry.output_size) * 2
        blocks = max(1, out_elements * itemsize // (256 << 10))
    passes = 2 * taps * cg - 1
    rate = calibration["elements_per_second"] / (1.0 if itemsize == 4 else calibration["float64"])
    rows = n * c_out * passes                                                # one inner loop per row and pass
    gather_rate = (_cost.CALIBRATION["strided_gather_bytes_per_second"]
                   if any(s > 1 for s in geometry.stride) and problem.kind == "forward"
                   else _cost.CALIBRATION["copy_bytes_per_second"])
    return (calibration["fixed_seconds"] + passes * out_elements / rate + rows * calibration["row_seconds"]
            + phase_elements * itemsize / gather_rate
            + out_elements * itemsize / _cost.CALIBRATION["copy_bytes_per_second"]
            + blocks * (passes + math.prod(geometry.stride) + 1) * calibration["call_seconds"])


RECORD = Algorithm("depthwise", exact=True, why_ineligible=why_ineligible, cost=cost,
                   forward=forward, transpose=transpose, weight_grad=weight_grad)
