"""ONNX's window attributes turned into convwise geometries (one place for the rules).

ONNX lists ``pads`` as ``[x1_begin, x2_begin, ..., x1_end, x2_end]``; convwise wants one
``(lo, hi)`` pair per spatial dimension. ``auto_pad`` is

- ``NOTSET``: use ``pads`` (default all zero);
- ``VALID``: no padding;
- ``SAME_UPPER`` / ``SAME_LOWER``: pad so that ``output = ceil(input / stride)``, a total of
  ``max((output - 1) * stride + dilation * (kernel - 1) + 1 - input, 0)``, the odd cell at
  the end (UPPER) or at the beginning (LOWER).

Pooling with ``ceil_mode`` adds a last, partial window when the stride does not divide
the padded extent, but (as in PyTorch and ONNX Runtime) never one that would start in
the end padding. Sizes come from :func:`convwise.arithmetic.conv_geometry`; this module
only translates attributes.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import arithmetic
from ._graph import Node

__all__ = ["window_attrs", "resolve_pads", "conv_window", "pool_window", "TransposeWindow", "transpose_window"]

AUTO_PADS = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")


def _ints(node: Node, key: str, ndim: int, default: int) -> tuple[int, ...]:
    value = node.attr(key)
    if value is None:
        return (default,) * ndim
    value = tuple(int(v) for v in value)
    if len(value) != ndim:
        raise ValueError(f"{node.where}: {key}={list(value)} must have {ndim} entries, one per spatial dimension")
    if any(v < 1 for v in value):
        raise ValueError(f"{node.where}: {key}={list(value)} must be positive")
    return value


def window_attrs(node: Node, kernel: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(strides, dilations)`` of a windowed node, defaults filled in."""
    ndim = len(kernel)
    return _ints(node, "strides", ndim, 1), _ints(node, "dilations", ndim, 1)


def resolve_pads(node: Node, input_size, kernel, strides, dilations) -> tuple[tuple[int, int], ...]:
    """One ``(lo, hi)`` pair per spatial dimension from ``auto_pad`` and ``pads``."""
    ndim = len(kernel)
    auto = node.attr("auto_pad", "NOTSET") or "NOTSET"
    if auto not in AUTO_PADS:
        raise ValueError(f"{node.where}: auto_pad must be one of {', '.join(AUTO_PADS)}, got {auto!r}")
    if auto == "VALID":
        return ((0, 0),) * ndim
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pairs = []
        for i, k, s, d in zip(input_size, kernel, strides, dilations):
            out = -(-i // s)
            total = max((out - 1) * s + d * (k - 1) + 1 - i, 0)
            small, large = total // 2, total - total // 2
            pairs.append((small, large) if auto == "SAME_UPPER" else (large, small))
        return tuple(pairs)
    pads = node.attr("pads")
    if pads is None:
        return ((0, 0),) * ndim
    pads = [int(p) for p in pads]
    if len(pads) != 2 * ndim:
        raise ValueError(f"{node.where}: pads={pads} must have {2 * ndim} entries (begins, then ends)")
    if any(p < 0 for p in pads):
        raise ValueError(f"{node.where}: pads={pads} must be non-negative")
    return tuple(zip(pads[:ndim], pads[ndim:]))


def conv_window(node: Node, input_size, kernel) -> arithmetic.ConvGeometry:
    """The :class:`~convwise.arithmetic.ConvGeometry` of a Conv node on ``input_size``."""
    strides, dilations = window_attrs(node, kernel)
    pads = resolve_pads(node, input_size, kernel, strides, dilations)
    return arithmetic.conv_geometry(tuple(input_size), tuple(kernel), strides, pads, dilations, fn=node.where)


def pool_window(node: Node, input_size, kernel) -> tuple[arithmetic.ConvGeometry, tuple[tuple[int, int], ...]]:
    """``(geometry, pads)`` of a pooling node.

    ``geometry`` sweeps an input padded by ``geometry.padding``: the node's own ``pads``
    plus, with ``ceil_mode``, enough extra cells at the end for the partial last window;
    ``pads`` are the node's own (what ``count_include_pad`` counts).
    """
    strides, dilations = window_attrs(node, kernel)
    pads = resolve_pads(node, input_size, kernel, strides, dilations)
    fn = node.where
    floor = arithmetic.conv_geometry(tuple(input_size), tuple(kernel), strides, pads, dilations, fn=fn)
    if not node.attr("ceil_mode", 0):
        return floor, pads
    more = tuple((lo, hi + s - 1) for (lo, hi), s in zip(pads, strides))
    ceil = arithmetic.conv_geometry(tuple(input_size), tuple(kernel), strides, more, dilations, fn=fn)
    exec_pads = []
    for i, o, s, k_eff, (lo, hi) in zip(input_size, ceil.output_size, strides, floor.effective_kernel, pads):
        if (o - 1) * s >= i + lo:  # the last window would start in the end padding
            o -= 1
        exec_pads.append((lo, max(hi, (o - 1) * s + k_eff - i - lo)))
    return arithmetic.conv_geometry(tuple(input_size), tuple(kernel), strides, tuple(exec_pads), dilations,
                                    fn=fn), pads


@dataclass(frozen=True)
class TransposeWindow:
    """A ConvTranspose node's geometry.

    The node computes the full transposed convolution (size ``(input - 1) * stride +
    dilation * (kernel - 1) + 1``) and keeps ``output_size`` cells from ``crop[d]`` on
    (cells past the full result, from ``output_padding`` or a large ``output_shape``,
    hold only the bias).
    """

    input_size: tuple[int, ...]
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    output_size: tuple[int, ...]

    @property
    def full_size(self) -> tuple[int, ...]:
        return tuple((i - 1) * s + d * (k - 1) + 1
                     for i, s, d, k in zip(self.input_size, self.stride, self.dilation, self.kernel_size))


def transpose_window(node: Node, input_size, kernel) -> TransposeWindow:
    """The geometry of a ConvTranspose node (``pads``, ``output_padding``, ``output_shape``, ``auto_pad``)."""
    ndim = len(kernel)
    strides, dilations = window_attrs(node, kernel)
    auto = node.attr("auto_pad", "NOTSET") or "NOTSET"
    if auto not in AUTO_PADS:
        raise ValueError(f"{node.where}: auto_pad must be one of {', '.join(AUTO_PADS)}, got {auto!r}")
    extra = node.attr("output_padding")
    extra = (0,) * ndim if extra is None else tuple(int(v) for v in extra)
    if len(extra) != ndim or any(v < 0 for v in extra):
        raise ValueError(f"{node.where}: output_padding={list(extra)} must be {ndim} non-negative ints")
    shape = node.attr("output_shape")
    full = [(i - 1) * s + d * (k - 1) + 1 + op for i, s, d, k, op in zip(input_size, strides, dilations, kernel, extra)]
    given = shape
    if shape is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
        if shape is not None:
            shape = tuple(int(v) for v in shape)[-ndim:]
            if len(shape) != ndim or any(v < 1 for v in shape):
                raise ValueError(f"{node.where}: output_shape={list(node.attr('output_shape'))} must end with "
                                 f"{ndim} positive spatial sizes")
        else:
            shape = tuple(i * s for i, s in zip(input_size, strides))
        pairs = []
        for f, o, st in zip(full, shape, strides):
            total = f - o
            if given is None:  # SAME without output_shape: never pad negatively (ONNX Runtime, shape inference)
                total = max(total, 0)
            if total < 0:  # a larger output_shape: cells past the full result, as an output_padding would
                if -total >= st:
                    raise ValueError(f"{node.where}: output_shape={list(shape)} exceeds the full transposed "
                                     f"convolution {tuple(full)} by a stride or more (input {tuple(input_size)}, "
                                     f"kernel {tuple(kernel)}, strides {strides}, output_padding {extra})")
                pairs.append((0, total))
                continue
            small, large = total // 2, total - total // 2
            pairs.append((small, large) if auto == "SAME_UPPER" else (large, small))
        pads = tuple(pairs)
    elif auto == "VALID":
        pads = ((0, 0),) * ndim
    else:
        pads = resolve_pads(node, input_size, kernel, strides, dilations)
    out = tuple(f - lo - hi for f, (lo, hi) in zip(full, pads))
    if any(o < 1 for o in out):
        raise ValueError(f"{node.where}: output size {out} is not positive (input {tuple(input_size)}, "
                         f"kernel {tuple(kernel)}, pads {pads})")
    return TransposeWindow(tuple(input_size), tuple(kernel), strides, dilations, pads, out)
