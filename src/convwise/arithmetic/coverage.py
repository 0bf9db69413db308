"""Coverage: the input cells that no window (or no kernel tap) reads."""

from __future__ import annotations

from ._validate import _check_geometry
from .geometry import ConvGeometry, conv_geometry  # noqa: F401  (conv_geometry: the doctests)


def uncovered_input(geometry: ConvGeometry) -> tuple[range, ...]:
    """Per dimension, the trailing input indices past the last window's last tap.

    They exist when ``i + lo + hi - k_eff`` is not a multiple of the stride: the last
    window stops short of the end. An empty range means no trailing cells are lost;
    cells *between* windows (stride larger than the effective kernel) or between the
    taps of a dilated kernel may still go unread: :func:`uncovered_cells` lists every
    unread cell.

    >>> uncovered_input(conv_geometry(8, kernel_size=3, stride=2))
    (range(7, 8),)
    """
    _check_geometry(geometry, "uncovered_input", ConvGeometry)
    result = []
    for o, s, (lo, _hi), k_eff, i in zip(geometry.output_size, geometry.stride, geometry.padding,
                                         geometry.effective_kernel, geometry.input_size):
        end = (o - 1) * s + k_eff - lo  # one past the last input index the last window touches
        result.append(range(min(max(end, 0), i), i))
    return tuple(result)


def uncovered_cells(geometry: ConvGeometry) -> tuple[tuple[int, ...], ...]:
    """Per dimension, every input index that no kernel tap of any window reads.

    The complement of the union of all windows' taps: the trailing cells of
    :func:`uncovered_input`, the gaps between windows when the stride exceeds the
    effective kernel, and the holes of a dilated kernel that no other window fills.

    >>> uncovered_cells(conv_geometry(9, kernel_size=2, stride=3))
    ((2, 5, 8),)
    >>> uncovered_cells(conv_geometry(7, kernel_size=2, stride=4, dilation=2))
    ((1, 3, 5),)
    """
    from .._guard import require_steps

    _check_geometry(geometry, "uncovered_cells", ConvGeometry)
    result = []
    for o, k, s, (lo, _hi), d, i in zip(geometry.output_size, geometry.kernel_size, geometry.stride,
                                        geometry.padding, geometry.dilation, geometry.input_size):
        k_eff = d * (k - 1) + 1
        if (d == 1 or k == 1) and s <= k_eff:   # windows touch or overlap: only cells past the last are unread
            end = (o - 1) * s + k_eff - lo
            require_steps("uncovered_cells", i - end, what="unread input cells")
            result.append(tuple(range(min(max(end, 0), i), i)))
            continue
        require_steps("uncovered_cells", i + o * k, what="input cells and kernel taps")
        read = bytearray(i)
        for j in range(o):
            first = j * s - lo
            for t in range(k):
                cell = first + t * d
                if 0 <= cell < i:
                    read[cell] = 1
        result.append(tuple(x for x in range(i) if not read[x]))
    return tuple(result)
