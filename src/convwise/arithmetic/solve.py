"""The inverse question: which settings give a wanted output size."""

from __future__ import annotations

from dataclasses import dataclass

from ._validate import ntuple
from .geometry import pool_geometry

# --------------------------------------------------------------------------- the inverse question: solving for a size
#
# "I want this output size: which padding, stride, dilation or output_padding gives it?"
# Each spatial dimension is solved on its own (the sizes of different dimensions do not
# interact). Parameters that are given are held fixed; the others range over small values:
# stride 1..SOLVE_MAX_STRIDE, dilation 1..SOLVE_MAX_DILATION, padding 0..SOLVE_MAX_PADDING
# (and, for a convolution, less than the effective kernel: more would add whole windows of
# padding only), output_padding over all the values PyTorch allows.

SOLVE_MAX_STRIDE = 8
SOLVE_MAX_DILATION = 4
SOLVE_MAX_PADDING = 16
SOLVE_OPS = ("conv", "conv_transpose", "max_pool", "avg_pool")


@dataclass(frozen=True)
class Setting:
    """One setting of one spatial dimension that yields the wanted output size.

    ``padding`` is symmetric (``lo == hi``); ``output_padding`` is 0 and ``ceil_mode``
    False except where the operation has them.
    """

    stride: int
    padding: int
    dilation: int
    output_padding: int = 0
    ceil_mode: bool = False

    def to_dict(self) -> dict:
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation,
                "output_padding": self.output_padding, "ceil_mode": self.ceil_mode}


def _solve_choices(value, ndim: int, upper: int, *, fn: str, name: str, minimum: int) -> tuple[tuple[int, ...], ...]:
    """Per dimension, the candidate values: the given one, or ``minimum..upper``."""
    if value is None:
        return (tuple(range(minimum, upper + 1)),) * ndim
    return tuple((v,) for v in ntuple(value, ndim, fn=fn, name=name, minimum=minimum))


def _solve_dimension(op: str, i: int, o: int, k: int, strides, paddings, dilations, output_paddings,
                     ceil_modes) -> list[Setting]:
    found = []
    for s in strides:
        for d in dilations:
            k_eff = d * (k - 1) + 1
            if op == "conv":
                # floor((i + 2p - k_eff) / s) + 1 == o  <=>  (o-1)*s <= i + 2p - k_eff <= (o-1)*s + s - 1
                low, high = (o - 1) * s + k_eff - i, (o - 1) * s + s - 1 + k_eff - i
                for p in paddings:
                    if low <= 2 * p <= high and p < k_eff:
                        found.append(Setting(s, p, d))
            elif op == "conv_transpose":
                # o == (i - 1)*s - 2p + k_eff + output_padding, with 0 <= output_padding < max(s, d)
                for op_ in output_paddings if output_paddings is not None else range(max(s, d)):
                    if op_ >= max(s, d):
                        continue
                    twice = (i - 1) * s + k_eff + op_ - o
                    if twice >= 0 and twice % 2 == 0 and twice // 2 in paddings:
                        found.append(Setting(s, twice // 2, d, op_))
            else:
                for p in paddings:
                    if p > k // 2:
                        continue
                    for ceil in ceil_modes:
                        try:
                            size = pool_geometry(i, k, s, p, d, ceil)
                        except ValueError:
                            continue
                        if size.output_size == (o,):
                            found.append(Setting(s, p, d, 0, ceil))
    return sorted(found, key=lambda st: (st.stride, st.dilation, st.padding, st.output_padding, st.ceil_mode))


def solve_output_size(input_size, output_size, kernel_size, *, op: str = "conv", stride=None, padding=None,
                      dilation=None, output_padding=None, ceil_mode=None,
                      fn: str = "solve_output_size") -> tuple[tuple[Setting, ...], ...]:
    """Every small setting, per spatial dimension, that turns ``input_size`` into ``output_size``.

    Parameters
    ----------
    input_size, output_size : int or sequence of ints
        Spatial sizes; an int is broadcast to the other's number of dimensions.
    kernel_size : int or sequence of ints
        Held fixed.
    op : ``'conv'``, ``'conv_transpose'``, ``'max_pool'`` or ``'avg_pool'``
    stride, padding, dilation, output_padding, ceil_mode
        ``None`` searches the small range (see the section comment); a value holds that
        parameter fixed. ``avg_pool`` has no dilation (it is held at 1); ``output_padding``
        belongs to ``conv_transpose`` and ``ceil_mode`` to pooling.

    Returns
    -------
    tuple of tuples of :class:`Setting`
        One tuple per spatial dimension, simplest first (by stride, dilation, padding);
        an empty tuple when nothing in the range works for that dimension.

    >>> [(s.stride, s.padding, s.dilation) for s in solve_output_size(7, 4, 3, stride=2)[0]]
    [(2, 1, 1), (2, 2, 2), (2, 3, 3), (2, 4, 4)]
    >>> [(s.padding, s.output_padding) for s in solve_output_size(4, 8, 3, op="conv_transpose", stride=2,
    ...                                                             dilation=1)[0]]
    [(1, 1)]
    """
    if op not in SOLVE_OPS:
        raise ValueError(f"{fn}: op must be one of {', '.join(SOLVE_OPS)}, got op={op!r}")
    ndim = len(input_size) if isinstance(input_size, (tuple, list)) else \
        len(output_size) if isinstance(output_size, (tuple, list)) else 1
    size = ntuple(input_size, ndim, fn=fn, name="input_size", minimum=1)
    wanted = ntuple(output_size, ndim, fn=fn, name="output_size", minimum=1)
    kernel = ntuple(kernel_size, ndim, fn=fn, name="kernel_size", minimum=1)
    if isinstance(padding, str):
        raise ValueError(f"{fn}: padding must be an int or a tuple of ints to solve with, got padding={padding!r}")
    if op == "avg_pool":
        if dilation not in (None, 1) and any(v != 1 for v in ntuple(dilation, ndim, fn=fn, name="dilation")):
            raise ValueError(f"{fn}: avg_pool has no dilation, got dilation={dilation!r}")
        dilation = 1
    if output_padding is not None and op != "conv_transpose":
        raise ValueError(f"{fn}: output_padding belongs to conv_transpose, not op={op!r}")
    if ceil_mode is not None and op not in ("max_pool", "avg_pool"):
        raise ValueError(f"{fn}: ceil_mode belongs to pooling, not op={op!r}")
    if ceil_mode is not None and not isinstance(ceil_mode, bool):
        raise TypeError(f"{fn}: ceil_mode must be a bool or None, got {ceil_mode!r}")
    strides = _solve_choices(stride, ndim, SOLVE_MAX_STRIDE, fn=fn, name="stride", minimum=1)
    dilations = _solve_choices(dilation, ndim, SOLVE_MAX_DILATION, fn=fn, name="dilation", minimum=1)
    paddings = _solve_choices(padding, ndim, SOLVE_MAX_PADDING, fn=fn, name="padding", minimum=0)
    output_paddings = (None,) * ndim if output_padding is None else \
        tuple((v,) for v in ntuple(output_padding, ndim, fn=fn, name="output_padding", minimum=0))
    ceil_modes = (False, True) if ceil_mode is None else (ceil_mode,)
    return tuple(tuple(_solve_dimension(op, i, o, k, s, p, d, op_, ceil_modes))
                 for i, o, k, s, p, d, op_ in zip(size, wanted, kernel, strides, paddings, dilations, output_paddings))
