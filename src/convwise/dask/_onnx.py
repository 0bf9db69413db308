"""Loaded ONNX graphs (:class:`convwise.onnx.OnnxModel`) on chunked arrays, tiled by the graph's receptive field.

The receptive field comes from :func:`convwise.onnx.summary` (per tensor ``jump``, ``lo``,
``hi``: output unit ``j`` reads input cells ``j*jump + lo .. j*jump + hi``, the bounding box
over every branch of skips and concatenations). Output tile ``[A, B)`` of an axis runs the
whole graph on input ``[s, e)`` with ``s`` the read start ``A*jump + lo`` rounded *down* to a
multiple of ``jump`` (so every strided layer of the tile sees the same grid as the untiled
graph) and clipped to the array, and ``e = (B - 1)*jump + hi + 1`` clipped: inside the
array, cells the layers' padding would add at the crop's border lie outside the receptive
field of the kept outputs, and at the array's edge the crop's padding *is* the graph's.
The kept outputs start at local index ``A - s/jump``. Tiles are cut with
:func:`convwise.dask._halo.split_evenly` and the result has the numbers of
:class:`convwise.dask.Halo`.

Only spatially local graphs are tiled: one input, one output, every node with a defined
field, no global pools or spatial reductions, no ``auto_pad`` SAME with a stride above 1
(its padding depends on the input size). Anything else is refused with a ValueError that
names the node.
"""

from __future__ import annotations

import math
from itertools import product

import dask
import dask.array as da
import numpy as np

from .._guard import require_memory
from ._halo import Halo, split_evenly

__all__ = ["is_onnx", "onnx_apply", "onnx_field", "onnx_halo"]

_GLOBAL = {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "ReduceMean", "ReduceMax", "ReduceSum"}


def is_onnx(model) -> bool:
    """Whether ``model`` is a loaded :class:`convwise.onnx.OnnxModel` (without importing onnx)."""
    return type(model).__name__ == "OnnxModel" and type(model).__module__.startswith("convwise.onnx")


def onnx_field(model, input_shape=None, *, fn: str = "apply_model"):
    """``(jump, lo, hi, output_shape, activation_bytes)`` of the graph's output, refusing non-local graphs."""
    from ..onnx.summary import summary

    if len(model.input_names) != 1 or len(model.output_names) != 1:
        raise ValueError(f"{fn}: the ONNX graph must have one input and one output, got inputs "
                         f"{model.input_names} and outputs {model.output_names}")
    info = summary(model, input_shape, fn=fn)
    nodes = {node.name: node for node in model.graph.nodes}
    output = model.output_names[0]
    last = None
    for row in info.layers:
        node = nodes[row.name]
        where = f"{fn}: node {row.name!r} ({row.type})"
        if row.type in _GLOBAL or row.rf_jump is None or row.rf_lo is None or row.rf_hi is None:
            why = "a global pool or spatial reduction" if row.type in _GLOBAL else \
                f"not spatially local ({row.note or 'no receptive field'})"
            raise ValueError(f"{where} is {why}; convwise.dask tiles ONNX graphs whose output cells each read "
                             f"a fixed window of the input (run the graph up to that node, or in memory)")
        auto_pad = node.attr("auto_pad", "NOTSET")
        if auto_pad in ("SAME_UPPER", "SAME_LOWER") and any(s > 1 for s in (row.stride or ())):
            raise ValueError(f"{where} has auto_pad={auto_pad} with stride {row.stride}: its padding depends on "
                             f"the input size, so tiles would pad differently from the whole array")
        if any(lo >= jump for lo, jump in zip(row.rf_lo, row.rf_jump)):
            raise ValueError(f"{where} crops its input (receptive field starts at {row.rf_lo}, past its stride "
                             f"{row.rf_jump}); convwise.dask does not tile cropping graphs")
        if output in node.outputs:
            last = row
    if last is None or last.rf_jump is None or last.rf_lo is None or last.rf_hi is None:
        raise ValueError(f"{fn}: the ONNX graph's output {output!r} is computed from constants only")
    total = sum(row.activation_bytes for row in info.layers)
    return last.rf_jump, last.rf_lo, last.rf_hi, last.output_shape, total


def onnx_halo(model, input_shape=None) -> Halo:
    """:class:`Halo` of an ONNX graph: output tile ``[A, B)`` needs input ``[A*alignment - before, B*alignment + after)``."""
    jump, lo, hi, _, _ = onnx_field(model, input_shape, fn="halo")
    return Halo(tuple(h - lo_ + 1 for lo_, h in zip(lo, hi)), tuple(jump), tuple(-lo_ for lo_ in lo),
                tuple(h + 1 - j for j, h in zip(jump, hi)))


def _bounds(total: int, jump: int, output_chunk: int | None, input_chunks) -> list[int]:
    if output_chunk is not None:
        pieces = split_evenly(total, output_chunk)
    else:  # about one tile per input chunk
        pieces = split_evenly(total, max(1, round(max(input_chunks) / jump)))
    bounds = [0]
    for piece in pieces:
        bounds.append(bounds[-1] + piece)
    return bounds


def _run_tile(block: np.ndarray, model, keep) -> np.ndarray:
    out = np.asarray(model(block))
    index = (slice(None), slice(None), *(slice(a, b) for a, b in keep))
    for (_a, b), size in zip(keep, out.shape[2:]):
        if size < b:  # cannot happen for a graph onnx_field accepts
            raise ValueError(f"apply_model: an ONNX tile produced {size} cells, fewer than the {b} needed")
    return np.ascontiguousarray(out[index])


def onnx_apply(model, x: da.Array, chunks: tuple[int | None, ...], *, fn: str = "apply_model") -> da.Array:
    """The lazy tiled result of the ONNX graph over the batched Dask array ``x`` ``(N, C, *spatial)``."""
    spatial = x.ndim - 2
    jump, lo, hi, out_shape, _ = onnx_field(model, (1, *x.shape[1:]), fn=fn)
    if len(jump) != spatial:
        raise ValueError(f"{fn}: the ONNX graph has {len(jump)} spatial dimensions, the input {spatial}")
    from onnx import helper

    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(model.graph.elem_types.get(model.input_names[0], 1)))
    except Exception:
        dtype = np.dtype(np.float32)
    axes = []
    for d in range(spatial):
        size, total = x.shape[2 + d], out_shape[2 + d]
        bounds = _bounds(total, jump[d], chunks[d], x.chunks[2 + d])
        tiles = []
        for a, b in zip(bounds, bounds[1:]):
            start = max(0, (a + lo[d] // jump[d]) * jump[d])
            stop = min(size, max((b - 1) * jump[d] + hi[d] + 1, start + 1))
            tiles.append((start, stop, a - start // jump[d], b - start // jump[d]))
        axes.append(tiles)
    largest = (max(x.chunks[0]), *x.shape[1:2], *(max(t[1] - t[0] for t in tiles) for tiles in axes))
    need = onnx_field(model, largest, fn=fn)[4] + 2 * math.prod(largest) * dtype.itemsize
    require_memory(fn, need, what="per task: ONNX tile with halo and the graph's activations")
    payload = dask.delayed(model, pure=True, traverse=False)
    x = x.rechunk({1: -1})
    blocks: dict = {}
    for combo in product(*(range(len(tiles)) for tiles in axes)):
        picked = [axes[d][t] for d, t in enumerate(combo)]
        region = (slice(None), slice(None), *(slice(s, e) for s, e, _, _ in picked))
        crop = x[region]
        crop = crop.rechunk({2 + d: -1 for d in range(spatial)})
        keep = tuple((a, b) for _, _, a, b in picked)
        out_chunks = (crop.chunks[0], (out_shape[1],), *((b - a,) for a, b in keep))
        blocks[combo] = da.map_blocks(_run_tile, crop, payload, keep, chunks=out_chunks, dtype=dtype,
                                      meta=np.empty((0,) * x.ndim, dtype=dtype))

    def nest(prefix: tuple) -> list | da.Array:
        if len(prefix) == spatial:
            return blocks[prefix]
        return [nest((*prefix, t)) for t in range(len(axes[len(prefix)]))]

    return da.block(nest(()))
