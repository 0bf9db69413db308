"""The output-size formula with the numbers substituted."""

from __future__ import annotations

from ._validate import _check_geometry
from .geometry import ConvGeometry, PoolGeometry, TransposeGeometry, conv_geometry  # noqa: F401  (conv_geometry: the doctests)

# --------------------------------------------------------------------------- explanation



def explain(geometry: ConvGeometry | TransposeGeometry) -> list[str]:
    """The output-size formula with the numbers substituted, one line per dimension.

    >>> explain(conv_geometry(227, 11, 4))[0]
    'o = floor((i + lo + hi - d*(k-1) - 1) / s) + 1 = floor((227 + 0 + 0 - 1*(11-1) - 1) / 4) + 1 = floor(216 / 4) + 1 = 54 + 1 = 55'
    """
    _check_geometry(geometry, "explain", (ConvGeometry, TransposeGeometry))
    lines = []
    if isinstance(geometry, TransposeGeometry):
        for i, k, s, (lo, hi), op, d, o in zip(geometry.input_size, geometry.kernel_size, geometry.stride,
                                               geometry.padding, geometry.output_padding, geometry.dilation,
                                               geometry.output_size):
            lines.append(f"o = (i - 1)*s - lo - hi + d*(k-1) + output_padding + 1 = "
                         f"({i} - 1)*{s} - {lo} - {hi} + {d}*({k}-1) + {op} + 1 = {o}")
        return lines
    ceil = isinstance(geometry, PoolGeometry) and geometry.ceil_mode
    rounding = "ceil" if ceil else "floor"
    for i, k, s, (lo, hi), d, o in zip(geometry.input_size, geometry.kernel_size, geometry.stride,
                                       geometry.padding, geometry.dilation, geometry.output_size):
        span = i + lo + hi - d * (k - 1) - 1
        rounded = -(-span // s) if ceil else span // s
        line = (f"o = {rounding}((i + lo + hi - d*(k-1) - 1) / s) + 1 = {rounding}(({i} + {lo} + {hi} - {d}*({k}-1) - 1) / {s}) + 1"
                f" = {rounding}({span} / {s}) + 1 = {rounded} + 1 = {rounded + 1}")
        if rounded + 1 != o:
            line += f" -> {o} (the last window would start in the right padding, so it is dropped)"
        lines.append(line)
    return lines
