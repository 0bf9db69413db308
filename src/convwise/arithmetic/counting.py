"""Counting: channel checks, parameters and multiply-accumulates."""

from __future__ import annotations

import math

from ._validate import _is_int, _sizes, ntuple

# --------------------------------------------------------------------------- counting


def check_channels(in_channels: int, out_channels: int, groups: int = 1, *, fn: str = "conv") -> None:
    """Raise unless ``groups`` is a positive int dividing both channel counts."""
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
        if not _is_int(value):
            raise TypeError(f"{fn}: {name} must be an int, got {value!r}")
        if value < 1:
            raise ValueError(f"{fn}: {name} must be positive, got {name}={value}")
    if in_channels % groups:
        raise ValueError(f"{fn}: groups={groups} must divide in_channels={in_channels}")
    if out_channels % groups:
        raise ValueError(f"{fn}: groups={groups} must divide out_channels={out_channels}")


def conv_params(in_channels: int, out_channels: int, kernel_size, groups: int = 1, bias: bool = True,
                *, fn: str = "conv", ndim: int | None = None) -> int:
    """Trainable parameters of a convolution: ``C_out * C_in/groups * prod(kernel) (+ C_out)``.

    The same count holds for a transposed convolution (its weight is
    ``(C_in, C_out/groups, *kernel)``). An int ``kernel_size`` is one-dimensional unless
    ``ndim`` says how many spatial dimensions it covers.

    >>> conv_params(3, 64, 7, bias=False) == 64 * 3 * 7
    True
    >>> conv_params(3, 64, 7, bias=False, ndim=2) == 64 * 3 * 7 * 7
    True
    """
    check_channels(in_channels, out_channels, groups, fn=fn)
    if ndim is None:
        ndim = len(kernel_size) if isinstance(kernel_size, (tuple, list)) else 1
    kernel = ntuple(kernel_size, ndim, fn=fn, name="kernel_size", minimum=1)
    return out_channels * (in_channels // groups) * math.prod(kernel) + (out_channels if bias else 0)


def conv_macs(in_channels: int, out_channels: int, kernel_size, output_size, groups: int = 1, batch: int = 1,
              *, fn: str = "conv") -> int:
    """Multiply-accumulates of a convolution: one per kernel tap per output element."""
    check_channels(in_channels, out_channels, groups, fn=fn)
    out = _sizes(output_size, fn=fn, name="output size")
    kernel = ntuple(kernel_size, len(out), fn=fn, name="kernel_size", minimum=1)
    return batch * math.prod(out) * out_channels * (in_channels // groups) * math.prod(kernel)


def conv_transpose_macs(in_channels: int, out_channels: int, kernel_size, input_size, groups: int = 1,
                        batch: int = 1, *, fn: str = "conv_transpose") -> int:
    """Multiply-accumulates of a transposed convolution, counted on its *input* size.

    Each input element is multiplied by every tap of its ``C_out/groups`` kernels and
    scattered into the output; counting on the output size instead (as several public
    FLOP counters do) over-counts by roughly ``stride**ndim``.
    """
    check_channels(in_channels, out_channels, groups, fn=fn)
    size = _sizes(input_size, fn=fn, name="input size")
    kernel = ntuple(kernel_size, len(size), fn=fn, name="kernel_size", minimum=1)
    return batch * math.prod(size) * in_channels * (out_channels // groups) * math.prod(kernel)
