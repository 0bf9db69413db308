"""Loaded ONNX graphs (:class:`convwise.onnx.OnnxModel`) on chunked arrays, tiled by the graph's receptive field.

The receptive field comes from :func:`convwise.onnx.summary` (per tensor ``jump``, ``lo``,
``hi``: output unit ``j`` reads input cells ``j*jump + lo .. j*jump + hi``, the bounding box
over every branch of skips and concatenations). Output tile ``[A, B)`` of an axis runs the
whole graph on input ``[s, e)`` with ``s`` the read start ``A*jump + lo`` rounded *down* to a
multiple of ``jump`` (so every strided layer of the tile sees the same grid as the untiled
graph) and clipped to the array, and ``e = (B - 1)*jump + hi + 1`` clipped: inside the
array, cells the layers' padding would add at the crop's border lie outside the receptive
field of the kept outputs, and at the array's edge the crop's padding *is* the graph's.
The kept outputs start at local index ``A - s/jump``.

The graph becomes one tile op (:class:`OnnxOp`) over an equivalent window layer (kernel
``hi - lo_a + 1``, stride ``jump``, padding ``-lo_a`` before, ``lo_a = s``'s rounding of
``lo``), so the tiles, the input's rechunking, the overlap and the stitching are those of
every other network (:func:`convwise.dask._halo.plan_axis`, :mod:`convwise.dask._tiling`).

Only spatially local graphs are tiled: one input, one output, every node with a defined
field, no global pools or spatial reductions, no ``auto_pad`` SAME with a stride above 1
(its padding depends on the input size). Anything else is refused with a ValueError that
names the node.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np

from .._guard import require_memory
from ._halo import Halo, LayerGeometry, Step
from ._tiling import plan_chain, run_chain

__all__ = ["OnnxOp", "is_onnx", "onnx_apply", "onnx_field", "onnx_halo", "onnx_op"]

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


@dataclass(frozen=True)
class OnnxOp:
    """The whole graph as one tile op over an equivalent window: ``geometry`` reads, per axis, input
    ``[j*jump + lo_a, j*jump + hi]`` for output ``j`` (``lo_a``: ``lo`` rounded down to a multiple of
    ``jump``), so :func:`convwise.dask._halo.plan_axis` cuts the tiles and halos as for any layer."""

    geometry: LayerGeometry
    model: Any
    out_channels: int
    mixes_channels: bool = True

    def run(self, block: np.ndarray, steps: Sequence[Step]) -> np.ndarray:
        out = np.asarray(self.model(np.array(block)))  # a copy: never hand Dask's chunk to the graph
        index: list = [slice(None), slice(None)]
        for dim, st in enumerate(steps):
            jump, before = self.geometry.stride[dim], self.geometry.padding[dim][0]
            first = (before - st.pad_lo) // jump  # the tile's block starts at a multiple of jump (or at 0)
            count = (st.length - self.geometry.kernel_size[dim]) // jump + 1
            if out.shape[2 + dim] < first + count:  # cannot happen for a graph onnx_field accepts
                raise ValueError(f"apply_model: an ONNX tile produced {out.shape[2 + dim]} cells along axis "
                                 f"{dim}, fewer than the {first + count} needed")
            index.append(slice(first, first + count))
        return np.ascontiguousarray(out[tuple(index)])


def onnx_op(model, input_shape: tuple[int, ...], *, fn: str = "apply_model") -> OnnxOp:
    """The :class:`OnnxOp` of ``model`` for a batched input of ``input_shape`` (refusing non-local graphs)."""
    jump, lo, hi, out_shape, _ = onnx_field(model, (1, *input_shape[1:]), fn=fn)
    spatial = len(input_shape) - 2
    if len(jump) != spatial:
        raise ValueError(f"{fn}: the ONNX graph has {len(jump)} spatial dimensions, the input {spatial}")
    kernel, pads = [], []
    for d in range(spatial):
        size, total, before = input_shape[2 + d], out_shape[2 + d], -((lo[d] // jump[d]) * jump[d])
        k = hi[d] + before + 1
        after = (total - 1) * jump[d] + k - size - before
        if after < 0:  # widen the window at its end: reading more is harmless, the result is cropped
            k -= after
            after = 0
        kernel.append(k)
        pads.append((before, after))
    geometry = LayerGeometry("conv", tuple(kernel), tuple(jump), tuple(pads), (1,) * spatial)
    return OnnxOp(geometry, model, int(out_shape[1]))


def onnx_apply(model, x: da.Array, chunks: tuple[int | None, ...], *, fn: str = "apply_model") -> da.Array:
    """The lazy tiled result of the ONNX graph over the batched Dask array ``x`` ``(N, C, *spatial)``."""
    from onnx import helper

    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(model.graph.elem_types.get(model.input_names[0], 1)))
    except Exception:
        dtype = np.dtype(np.float32)
    x = x.astype(dtype)  # what OnnxModel does with its inputs
    op = onnx_op(model, x.shape, fn=fn)
    chain = plan_chain([op], x.shape, chunks, x.chunks[2:], fn=fn)
    largest = (max(x.chunks[0]), x.shape[1], *(max(c + p.halo for c in p.cores) for p in chain.plans))
    need = onnx_field(model, largest, fn=fn)[4] + 2 * math.prod(largest) * dtype.itemsize
    require_memory(fn, need, what="per task: ONNX tile with halo and the graph's activations")
    return run_chain(x, chain, fn=fn)
