"""Run a chain of tile ops over a Dask array: rechunk, overlap, map_blocks. No scheduler of our own.

The plan comes from :mod:`convwise.dask._halo` (pure integers): the input is rechunked so
that block ``t`` of every spatial axis starts at the first cell tile ``t`` reads,
``dask.array.overlap.overlap`` adds a right halo from the neighbouring block
(``boundary='none'``: nothing at the array's edge; each layer pads there itself), and
``map_blocks`` runs the ops of one tile on each block. The ops and the plan travel as one
``dask.delayed`` key, so the weights are in the graph once, not once per task.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import dask
import dask.array as da
import numpy as np

from .._guard import require_memory
from ._halo import AxisPlan, output_sizes, plan_axis
from ._ops import AvgPoolOp, ConvOp, PointwiseOp, TransposeOp

__all__ = ["Chain", "plan_chain", "run_chain"]


@dataclass(frozen=True)
class Chain:
    """A planned chain over one input: the ops, one :class:`AxisPlan` per spatial axis, and the channels."""

    ops: tuple
    plans: tuple[AxisPlan, ...]
    sizes: tuple[tuple[int, ...], ...]
    mixes_channels: bool
    out_channels: int | None   # None: the input's channels (pooling and pointwise only)

    def task_bytes(self, batch: int, channels: int, itemsize: int) -> int:
        """An upper bound on the memory one task holds: its block with halo and, per layer, input + output."""
        block = batch * channels * math.prod(max(c + p.halo for c in p.cores) for p in self.plans) * itemsize
        peak = block
        current_channels = channels
        for index, op in enumerate(self.ops):
            lengths = [max(tile[index].length for tile in plan.steps) for plan in self.plans]
            spans = [max(max(tile[index].stop - tile[index].start, tile[index].length) for tile in plan.steps)
                     for plan in self.plans]
            out_channels = getattr(op, "out_channels", current_channels)
            window_bytes = batch * current_channels * math.prod(spans) * itemsize * 2  # padded copy + contiguous
            out_bytes = batch * out_channels * math.prod(lengths) * itemsize
            peak = max(peak, block + window_bytes + out_bytes)
            current_channels = out_channels
        return int(peak)


def plan_chain(ops: Sequence, input_shape: tuple[int, ...], output_chunks: Sequence[int | None],
               input_chunks: Sequence[Sequence[int]], *, fn: str) -> Chain:
    """Plan ``ops`` over a batched input of ``input_shape`` and spatial ``input_chunks``.

    ``output_chunks`` holds, per spatial axis, the wished output chunk size, or ``None`` to
    tile by the input's own chunks (no rechunking unless a chunk is shorter than the halo).
    """
    geometries = [op.geometry for op in ops]
    sizes = output_sizes(geometries, tuple(input_shape[2:]), fn=fn)
    fixed = []
    for index, op in enumerate(ops):
        if isinstance(op, AvgPoolOp):
            op = replace(op, input_size=sizes[index])
        fixed.append(op)
    plans = tuple(plan_axis(geometries, dim, sizes, output_chunks[dim],
                            None if output_chunks[dim] is not None else input_chunks[dim])
                  for dim in range(len(input_shape) - 2))
    mixes = any(isinstance(op, (ConvOp, TransposeOp)) or getattr(op, "mixes_channels", False) for op in ops)
    channels = [op.out_channels for op in ops
                if isinstance(op, (ConvOp, TransposeOp)) or getattr(op, "mixes_channels", False)]
    return Chain(tuple(fixed), plans, tuple(sizes), mixes, channels[-1] if channels else None)


def _run_tile(block: np.ndarray, payload, block_id=None) -> np.ndarray:
    ops, plans = payload
    spatial = len(plans)
    tiles = [plan.steps[block_id[2 + dim]] for dim, plan in enumerate(plans)]
    if ops:  # block t starts at cell starts[t]; keep the cells tile t reads
        index = (slice(None), slice(None)) + tuple(
            slice(tile[0].start - plan.starts[t], tile[0].stop - plan.starts[t])
            for tile, plan, t in zip(tiles, plans, block_id[2:]))
        block = block[index]
        if isinstance(ops[0], PointwiseOp):  # e.g. ReLU(inplace=True): never write into Dask's input chunk
            block = np.array(block)
    for layer, op in enumerate(ops):
        steps = [tiles[dim][layer] for dim in range(spatial)]
        if any(st.stop == st.start and st.length == 0 for st in steps):  # the next layer reads none of it
            lengths = [tiles[dim][layer + 1].stop - tiles[dim][layer + 1].start for dim in range(spatial)]
            channels = getattr(op, "out_channels", block.shape[1])
            block = np.zeros((block.shape[0], channels, *lengths), dtype=block.dtype)
        else:
            block = op.run(block, steps)
    return block


def run_chain(x: da.Array, chain: Chain, *, fn: str) -> da.Array:
    """The lazy result of ``chain`` over the batched Dask array ``x`` (checked against the memory budget)."""
    spatial = x.ndim - 2
    channels = x.shape[1]
    batch = max(x.chunks[0]) if x.chunks[0] else 1
    channel_chunk = channels if chain.mixes_channels else max(x.chunks[1])
    need = chain.task_bytes(batch, channel_chunk, x.dtype.itemsize)
    require_memory(fn, need, what="per task: tile with halo, layer buffers and output")
    chunks = (x.chunks[0], (channels,) if chain.mixes_channels else x.chunks[1], *(p.cores for p in chain.plans))
    x = x.rechunk(chunks)
    depth = {2 + dim: (0, plan.halo) for dim, plan in enumerate(chain.plans) if plan.halo > 0}
    if depth:
        x = da.overlap.overlap(x, depth={axis: depth.get(axis, 0) for axis in range(x.ndim)}, boundary="none",
                               allow_rechunk=False)
    out_channels = (chain.out_channels,) if chain.out_channels is not None else chunks[1]
    out_chunks = (x.chunks[0], out_channels, *(p.outputs for p in chain.plans))
    payload = dask.delayed((chain.ops, chain.plans), pure=True, traverse=False)
    return da.map_blocks(_run_tile, x, payload, chunks=out_chunks, dtype=x.dtype,
                         meta=np.empty((0,) * (2 + spatial), dtype=x.dtype))
