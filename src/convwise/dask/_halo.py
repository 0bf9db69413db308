"""Pure integer tiling arithmetic for chunked convolution, pooling and networks (no NumPy, no Dask).

A network is described to this module as a list of :class:`LayerGeometry` values, one per
layer: a window sweep (convolution or pooling), a transposed convolution, or a pointwise
layer (activations, per-channel affine layers). From that list it answers two questions,
per spatial dimension and always through :mod:`convwise.arithmetic`:

- :func:`halo`: the *halo compiler*. A network of window layers maps output tile
  ``[A, B)`` to input tile ``[A*J - before, B*J + after)`` where ``J`` (the tile alignment)
  is the product of the strides; ``before``/``after`` are the halo, and the receptive field
  is ``J + before + after``. Other tools (bioimage.io's ``halo``, StarDist's tiles) can use
  these numbers directly.
- :func:`plan_axis`: how to cut one axis into tiles whose stitched result equals the
  untiled network exactly: which input cells each output chunk reads, where each layer's
  boundary padding applies (only at the outer edge of the array), and how to chunk the
  input so that every tile is one chunk plus a right halo from its neighbour.

>>> g = LayerGeometry("conv", (3,), (1,), ((1, 1),), (1,))
>>> p = LayerGeometry("pool", (2,), (2,), ((0, 0),), (1,))
>>> halo([g, p, g], ndim=1)
Halo(receptive_field=(8,), alignment=(2,), before=(3,), after=(3,))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

from .. import arithmetic
from .._guard import require_steps

__all__ = [
    "AxisPlan",
    "Halo",
    "LayerGeometry",
    "Step",
    "halo",
    "output_sizes",
    "plan_axis",
    "split_evenly",
    "step",
]

KINDS = ("conv", "pool", "transpose", "pointwise")
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


@dataclass(frozen=True)
class LayerGeometry:
    """The spatial geometry of one layer, all tuples canonical (one entry per spatial dimension).

    ``kind`` is ``'conv'`` (cross-correlation window), ``'pool'`` (max/average window, with
    ``ceil_mode``), ``'transpose'`` (transposed convolution) or ``'pointwise'`` (no spatial
    coupling: the other fields are ignored). ``padding`` holds ``(lo, hi)`` pairs;
    ``padding_mode`` says what the padding contains (``'zeros'`` also stands for the
    ``-inf`` of max pooling: cells outside the array).
    """

    kind: str
    kernel_size: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    padding: tuple[tuple[int, int], ...] = ()
    dilation: tuple[int, ...] = ()
    output_padding: tuple[int, ...] = ()
    ceil_mode: bool = False
    padding_mode: str = "zeros"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"LayerGeometry: kind must be one of {KINDS}, got kind={self.kind!r}")
        if self.padding_mode not in PADDING_MODES:
            raise ValueError(f"LayerGeometry: padding_mode must be one of {PADDING_MODES}, "
                             f"got padding_mode={self.padding_mode!r}")

    @property
    def effective_kernel(self) -> tuple[int, ...]:
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation))


@dataclass(frozen=True)
class Halo:
    """What the halo compiler returns, per spatial dimension (see :func:`halo`)."""

    receptive_field: tuple[int, ...]
    alignment: tuple[int, ...]
    before: tuple[int, ...]
    after: tuple[int, ...]


def output_sizes(layers: Sequence[LayerGeometry], input_size: tuple[int, ...], *, fn: str = "apply_model"
                 ) -> list[tuple[int, ...]]:
    """Spatial size entering each layer, then the final size (``len(layers) + 1`` entries), from arithmetic."""
    sizes = [tuple(input_size)]
    for index, layer in enumerate(layers):
        size = sizes[-1]
        where = f"{fn}: layer {index}"
        if layer.kind == "conv":
            size = arithmetic.conv_geometry(size, layer.kernel_size, layer.stride, layer.padding, layer.dilation,
                                            fn=where).output_size
        elif layer.kind == "pool":
            size = arithmetic.pool_geometry(size, layer.kernel_size, layer.stride, [lo for lo, _ in layer.padding],
                                            layer.dilation, layer.ceil_mode, fn=where,
                                            check_input_size=False).output_size
        elif layer.kind == "transpose":
            size = arithmetic.conv_transpose_geometry(size, layer.kernel_size, layer.stride, layer.padding,
                                                      layer.output_padding, layer.dilation, fn=where).output_size
        sizes.append(tuple(size))
    return sizes


def halo(layers: Sequence[LayerGeometry], ndim: int, *, fn: str = "halo") -> Halo:
    """The halo compiler: receptive field, tile alignment and halo of a chain of window layers.

    Output cell ``j`` of the chain reads input cells ``[j*J - before, j*J - before + RF)``
    (negative or past-the-end cells are the layers' padding), so an output tile
    ``[A, B)`` needs input ``[A*J - before, B*J + after)`` with ``after = RF - J - before``
    (negative when strides skip cells). Transposed convolutions are refused: their
    outputs do not read a fixed window of the input.
    """
    size, jump, before = [1] * ndim, [1] * ndim, [0] * ndim
    for index, layer in enumerate(layers):
        if layer.kind == "pointwise":
            continue
        if layer.kind == "transpose":
            raise ValueError(f"{fn}: layer {index} is a transposed convolution; its outputs do not read a fixed "
                             f"window of the input, so it has no halo")
        if len(layer.kernel_size) != ndim:
            raise ValueError(f"{fn}: layer {index} has {len(layer.kernel_size)} spatial dimensions, expected {ndim}")
        for d in range(ndim):
            before[d] += layer.padding[d][0] * jump[d]
            size[d] += (layer.effective_kernel[d] - 1) * jump[d]
            jump[d] *= layer.stride[d]
    after = tuple(r - j - b for r, j, b in zip(size, jump, before))
    return Halo(tuple(size), tuple(jump), tuple(before), after)


class Step(NamedTuple):
    """How one layer computes output cells ``[a, b)`` of one axis inside a tile.

    The layer reads input cells ``[start, stop)`` (clipped to the array); for a window
    layer, the tile pads ``pad_lo``/``pad_hi`` cells at the array's outer edge (in the
    layer's padding mode) and crops ``length`` cells from ``offset``; for a transposed
    convolution, ``offset`` is where output ``a`` sits in the tile's local output (it
    may be negative or run past it: those cells receive no contribution).
    """

    start: int
    stop: int
    pad_lo: int
    pad_hi: int
    offset: int
    length: int


def step(layer: LayerGeometry, dim: int, a: int, b: int, size: int) -> Step:
    """The :class:`Step` of ``layer`` for outputs ``[a, b)`` along ``dim`` of an input of ``size`` cells."""
    if layer.kind == "pointwise":
        return Step(a, b, 0, 0, 0, b - a)
    if b <= a:  # no outputs wanted (the next layer's windows lie in its padding): read nothing
        cell = min(max(a * layer.stride[dim] - layer.padding[dim][0], 0), size)
        return Step(cell, cell, 0, 0, 0, 0)
    s, (lo, _hi) = layer.stride[dim], layer.padding[dim]
    k_eff = layer.effective_kernel[dim]
    if layer.kind == "transpose":
        start = max(-((k_eff - 1 - a - lo) // s), 0)  # ceil((a + lo - d*(k-1)) / s): first input reaching a
        stop = min((b - 1 + lo) // s + 1, size)
        stop = max(stop, start)
        return Step(start, stop, 0, 0, a - (start * s - lo), b - a)
    first, last = a * s - lo, (b - 1) * s - lo + k_eff  # padded-coordinate window span [first, last)
    start, stop = max(first, 0), min(last, size)
    if layer.padding_mode == "reflect":
        if first < 0:
            stop = max(stop, min(1 - first, size))
        if last > size:
            start = min(start, max(size - 1 - (last - size), 0))
    elif layer.padding_mode == "replicate":
        if first < 0:
            stop = max(stop, 1)
        if last > size:
            start = min(start, size - 1)
    elif layer.padding_mode == "circular" and (first < 0 or last > size):
        start, stop = 0, size  # wraps around: the tile must hold the whole axis
    stop = max(stop, start)
    pad_lo, pad_hi = max(-first, 0), max(last - size, 0)
    return Step(start, stop, pad_lo, pad_hi, first - (start - pad_lo), last - first)


def split_evenly(total: int, piece: int) -> tuple[int, ...]:
    """``total`` cells in chunks of ``piece`` (the last one shorter): ``split_evenly(7, 3) == (3, 3, 1)``."""
    piece = max(1, piece)
    return (piece,) * (total // piece) + ((total % piece,) if total % piece else ())


@dataclass(frozen=True)
class AxisPlan:
    """How one spatial axis is tiled.

    ``cores`` chunks the input axis (block ``t`` starts at cell ``starts[t]``); block ``t``
    also receives ``halo`` cells from block ``t + 1`` (dask's overlap with depth
    ``(0, halo)``) and then holds every cell tile ``t`` reads. ``outputs`` chunks the final output axis; ``steps[t]`` lists the
    :class:`Step` of every layer, in order, for tile ``t``.
    """

    cores: tuple[int, ...]
    starts: tuple[int, ...]
    halo: int
    outputs: tuple[int, ...]
    steps: tuple[tuple[Step, ...], ...]


def _tile_steps(layers: Sequence[LayerGeometry], dim: int, sizes: list[tuple[int, ...]], a: int, b: int
                ) -> tuple[Step, ...]:
    steps = []
    for index in range(len(layers) - 1, -1, -1):
        current = step(layers[index], dim, a, b, sizes[index][dim])
        steps.append(current)
        a, b = current.start, current.stop
    return tuple(reversed(steps))


def _first_output_reading_from(layers, dim, sizes, cell: int) -> int:
    """The first output whose tile starts reading at or after input ``cell`` (binary search; starts grow)."""
    lo, hi = 0, sizes[-1][dim]
    while lo < hi:
        mid = (lo + hi) // 2
        if _tile_steps(layers, dim, sizes, mid, mid + 1)[0].start >= cell:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _check(layers, dim, sizes, bounds: list[int], starts: list[int]):
    """The tiles of a candidate cut and the boundaries to drop (empty when the cut is valid)."""
    size = sizes[0][dim]
    tiles = [_tile_steps(layers, dim, sizes, a, b) for a, b in pairwise(bounds)]
    reads = [(tile[0].start, tile[0].stop) if layers else (a, b) for tile, (a, b) in zip(tiles, pairwise(bounds))]
    halo_cells = max([0] + [stop - nxt for (_, stop), nxt in zip(reads, starts[1:])])
    cores = [nxt - cur for cur, nxt in zip(starts, starts[1:] + [size])]
    minimum = max(halo_cells, 1)
    drop = set()
    for t in range(1, len(tiles)):
        if reads[t][0] < starts[t] or starts[t] <= starts[t - 1] or bounds[t] <= bounds[t - 1]:
            drop.add(t)
    for t, core in enumerate(cores):
        if core < minimum:  # dask's overlap wants every block at least as long as its depth
            drop.add(t + 1 if t + 1 < len(cores) else t)
    drop.discard(0)
    return tiles, halo_cells, cores, drop


def plan_axis(layers: Sequence[LayerGeometry], dim: int, sizes: list[tuple[int, ...]], output_chunk: int | None = None,
              input_chunks: Sequence[int] | None = None) -> AxisPlan:
    """Tile one axis, from the input's chunks (no rechunking where possible) or from a wished output chunk.

    With ``input_chunks``, tile ``t`` computes the outputs whose reads start in input
    chunk ``t``, so the input keeps its chunks; with ``output_chunk``, outputs are cut
    every ``output_chunk`` cells and the input is rechunked to where each tile starts
    reading. Either way tiles are merged until every block is at least as long as the
    halo (a block takes its halo from its right neighbour only), so the plan is valid
    whatever the chunk size, including chunks smaller than the halo.
    """
    total = sizes[-1][dim]
    size = sizes[0][dim]
    pieces = len(input_chunks) if input_chunks is not None else math.ceil(total / max(output_chunk or 1, 1))
    require_steps("convwise.dask", pieces * max(len(layers), 1) * max(1, total.bit_length()), what="tile steps")
    if input_chunks is not None:
        edges = [sum(input_chunks[:t]) for t in range(1, len(input_chunks))]
        bounds = [0] + [_first_output_reading_from(layers, dim, sizes, edge) for edge in edges]
        starts = [0] + edges
        keep = [t for t in range(len(bounds)) if t == 0 or 0 < bounds[t] < total]
        bounds, starts = [bounds[t] for t in keep] + [total], [starts[t] for t in keep]
    else:
        bounds = [0]
        for piece in split_evenly(total, output_chunk or total):
            bounds.append(bounds[-1] + piece)
        starts = [0] + [_tile_steps(layers, dim, sizes, a, a + 1)[0].start if layers else a for a in bounds[1:-1]]
    for _attempt in range(16):
        tiles, halo_cells, cores, drop = _check(layers, dim, sizes, bounds, starts)
        if not drop:
            outputs = tuple(b - a for a, b in pairwise(bounds))
            return AxisPlan(tuple(cores), tuple(starts), halo_cells, outputs, tuple(tiles))
        minimum = max(halo_cells, 1)
        keep = [0]  # greedy, left to right: a boundary stays if both blocks it makes are long enough
        for t in range(1, len(starts)):
            if starts[t] - starts[keep[-1]] >= minimum and size - starts[t] >= minimum \
                    and bounds[t] > bounds[keep[-1]] and (not layers or tiles[t][0].start >= starts[t]):
                keep.append(t)
        if len(keep) == len(starts):  # nothing merged: fall back to dropping every flagged boundary
            keep = [t for t in range(len(starts)) if t not in drop]
        bounds, starts = [bounds[t] for t in keep] + [total], [starts[t] for t in keep]
    tiles = [_tile_steps(layers, dim, sizes, 0, total)]  # one tile along this axis is always valid
    return AxisPlan((size,), (0,), 0, (total,), tuple(tiles))
