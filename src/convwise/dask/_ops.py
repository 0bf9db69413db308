"""What one tile does for one layer: the in-memory engine on a NumPy block, with its halo.

Each op holds a :class:`~convwise.dask._halo.LayerGeometry` and what the layer needs
(weights, flags) and has ``run(block, steps)``: ``block`` is a batched NumPy array holding
exactly the input cells ``[step.start, step.stop)`` of every spatial axis (see
:func:`convwise.dask._halo.step`); ``run`` pads at the array's outer edge only (with
:func:`convwise.functional.pad`'s semantics), crops, and calls :mod:`convwise.functional`
with zero padding, so the tile's cells equal the untiled op's. Ops are plain picklable
dataclasses: under ``dask.distributed`` they travel to each worker once, as one graph key.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import functional as F
from ..functional.conv import conv_nd, conv_transpose_nd
from ..functional.pooling import avg_pool_nd, max_pool_nd
from ._halo import LayerGeometry, Step

__all__ = ["AvgPoolOp", "ConvOp", "MaxPoolOp", "PointwiseOp", "TransposeOp", "window_input"]


def _flat_pad(steps: Sequence[Step]) -> tuple[int, ...]:
    """``F.pad``'s order: the last axis first."""
    return tuple(v for st in reversed(steps) for v in (st.pad_lo, st.pad_hi))


def window_input(block: np.ndarray, steps: Sequence[Step], mode: str, value: float = 0.0) -> np.ndarray:
    """Pad ``block`` at the array's outer edges (``mode``, or ``value`` for ``'zeros'``) and crop the window span."""
    pads = _flat_pad(steps)
    if any(pads):
        if mode == "zeros":
            block = F.pad(block, pads, mode="constant", value=value)
        else:
            block = F.pad(block, pads, mode=mode)
    index = (slice(None), slice(None)) + tuple(slice(st.offset, st.offset + st.length) for st in steps)
    return block[index]


@dataclass(frozen=True)
class ConvOp:
    geometry: LayerGeometry
    weight: np.ndarray
    bias: np.ndarray | None
    groups: int
    method: str = "auto"

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[0])

    def run(self, block: np.ndarray, steps: Sequence[Step]) -> np.ndarray:
        x = np.ascontiguousarray(window_input(block, steps, self.geometry.padding_mode))
        g = self.geometry
        return conv_nd(x, self.weight, self.bias, g.stride, 0, g.dilation, self.groups, spatial=len(steps),
                       method=self.method, fn="convwise.dask")


@dataclass(frozen=True)
class TransposeOp:
    geometry: LayerGeometry
    weight: np.ndarray
    bias: np.ndarray | None
    groups: int
    method: str = "auto"

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[1]) * self.groups

    def run(self, block: np.ndarray, steps: Sequence[Step]) -> np.ndarray:
        g = self.geometry
        shape = (block.shape[0], self.out_channels, *(st.length for st in steps))
        y = np.zeros(shape, dtype=block.dtype)
        if all(st.stop > st.start for st in steps):
            local = conv_transpose_nd(np.ascontiguousarray(block), self.weight, None, g.stride, 0, 0, self.groups,
                                      g.dilation, spatial=len(steps), method=self.method, fn="convwise.dask")
            source, target = [slice(None)] * 2, [slice(None)] * 2
            for st, size in zip(steps, local.shape[2:]):
                first, last = max(st.offset, 0), min(st.offset + st.length, size)
                last = max(last, first)
                source.append(slice(first, last))
                target.append(slice(first - st.offset, last - st.offset))
            y[tuple(target)] = local[tuple(source)]
        if self.bias is not None:
            y += self.bias.reshape((-1,) + (1,) * len(steps))
        return y


@dataclass(frozen=True)
class MaxPoolOp:
    geometry: LayerGeometry

    def run(self, block: np.ndarray, steps: Sequence[Step]) -> np.ndarray:
        g = self.geometry
        x = window_input(block, steps, "zeros", -np.inf)
        return max_pool_nd(x, g.kernel_size, g.stride, 0, g.dilation, spatial=len(steps), fn="convwise.dask")


@dataclass(frozen=True)
class AvgPoolOp:
    """Average pooling as a window sum over zero padding divided by the untiled op's divisor."""

    geometry: LayerGeometry
    count_include_pad: bool = True
    divisor_override: int | None = None
    input_size: tuple[int, ...] = ()

    def _divisor(self, steps: Sequence[Step], dtype) -> np.ndarray | float:
        if self.divisor_override is not None:
            return float(self.divisor_override)
        g = self.geometry
        divisor: Any = np.ones((), dtype=np.int64)
        for dim, st in enumerate(steps):
            s, (p, _), k, size = g.stride[dim], g.padding[dim], g.kernel_size[dim], self.input_size[dim]
            first_output = (st.start - st.pad_lo + st.offset + p) // s
            outputs = (st.length - k) // s + 1
            start = (first_output + np.arange(outputs)) * s - p
            end = np.minimum(start + k, size + p)
            if self.count_include_pad:
                count = end - start
            else:
                count = np.maximum(np.minimum(end, size) - np.maximum(start, 0), 0)  # 0: an empty window
            divisor = divisor[..., None] * count
        return np.where(divisor == 0, 1, divisor).astype(dtype)

    def run(self, block: np.ndarray, steps: Sequence[Step]) -> np.ndarray:
        g = self.geometry
        x = window_input(block, steps, "zeros", 0.0)
        total = avg_pool_nd(x, g.kernel_size, g.stride, 0, False, True, 1, spatial=len(steps), fn="convwise.dask")
        return total / self._divisor(steps, block.dtype)


@dataclass(frozen=True)
class PointwiseOp:
    """A layer without spatial coupling (activation, per-channel affine): its own ``forward`` on the tile."""

    geometry: LayerGeometry
    module: Any

    def run(self, block: np.ndarray, steps: Sequence[Step]) -> np.ndarray:
        return np.asarray(copy.copy(self.module).forward(block))  # a copy keeps the tile out of module caches
