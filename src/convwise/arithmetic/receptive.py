"""Receptive fields of a chain of layers, and the input window of one output unit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ._validate import ntuple, resolve_padding

# --------------------------------------------------------------------------- receptive field


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of one output unit after a layer, per spatial dimension.

    ``size``: input cells one output sees; ``jump``: input cells between neighbouring
    outputs (the effective stride); ``start``: input coordinate of the centre of the
    first output's field (negative when it lies in the padding).
    """

    size: tuple[int, ...]
    jump: tuple[int, ...]
    start: tuple[float, ...]


def receptive_field(layers: Iterable, ndim: int = 2, *, fn: str = "receptive_field") -> list[ReceptiveField]:
    """Receptive field after each layer of a chain.

    ``layers`` yields mappings (or objects) with ``kernel_size`` and optional ``stride``,
    ``padding`` (ints or per-dimension tuples; ``'same'``/``'valid'`` allowed) and
    ``dilation``. A layer with ``transposed=True`` is not supported (its field is not a
    window of the input) and raises ValueError.

    >>> [rf.size for rf in receptive_field([{"kernel_size": 3}, {"kernel_size": 3}], ndim=1)]
    [(3,), (5,)]
    """
    size = (1,) * ndim
    jump = (1,) * ndim
    start = (0.0,) * ndim
    result = []
    for index, layer in enumerate(layers):
        get = layer.get if isinstance(layer, dict) else (lambda key, default=None, _l=layer: getattr(_l, key, default))
        if get("transposed", False):
            raise ValueError(f"{fn}: layer {index} is a transposed convolution; its receptive field is not a window")
        kernel = ntuple(get("kernel_size"), ndim, fn=fn, name="kernel_size", minimum=1)
        stride = get("stride", 1)
        strides = kernel if stride is None else ntuple(stride, ndim, fn=fn, name="stride", minimum=1)
        dilation = get("dilation", 1)
        dil = ntuple(1 if dilation is None else dilation, ndim, fn=fn, name="dilation", minimum=1)
        pads = resolve_padding(get("padding", 0) or 0, kernel, strides, dil, ndim=ndim, fn=fn)
        new_size, new_jump, new_start = [], [], []
        for r, j, st, k, s, d, (lo, _hi) in zip(size, jump, start, kernel, strides, dil, pads):
            k_eff = d * (k - 1) + 1
            new_size.append(r + (k_eff - 1) * j)
            new_jump.append(j * s)
            new_start.append(st + ((k_eff - 1) / 2 - lo) * j)
        size, jump, start = tuple(new_size), tuple(new_jump), tuple(new_start)
        result.append(ReceptiveField(size, jump, start))
    return result


def receptive_window(field: ReceptiveField, unit, *, fn: str = "receptive_window") -> tuple[tuple[int, int], ...]:
    """Per dimension, the first and last input index that output ``unit`` of a layer sees.

    ``field`` is that layer's :class:`ReceptiveField` (from :func:`receptive_field`): unit
    ``j`` is centred on input coordinate ``start + j * jump`` and spans ``size`` cells.
    Indices may fall outside the input (into the padding); clip them to show them.

    >>> rf = receptive_field([{"kernel_size": 11, "stride": 4, "padding": 2}], ndim=1)[-1]
    >>> receptive_window(rf, (5,))
    ((18, 28),)
    """
    index = ntuple(list(unit) if isinstance(unit, tuple) else unit, len(field.size), fn=fn, name="unit", minimum=0)
    window = []
    for j, size, jump, start in zip(index, field.size, field.jump, field.start):
        first = round(start + j * jump - (size - 1) / 2)
        window.append((first, first + size - 1))
    return tuple(window)
