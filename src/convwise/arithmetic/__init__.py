"""Pure integer arithmetic of convolution and pooling: the one source of truth for sizes.

Nothing here imports NumPy. The engine, the command line, the animations, the web page
and the model summary all ask this module for output sizes, padding, parameter and MAC
counts and receptive fields; none of them re-derives a formula.

Every function validates its arguments and raises ``TypeError`` (wrong kind) or
``ValueError`` (bad value) with a message that names the function and the argument,
states the rule and echoes the value, e.g. ``conv2d: groups=3 must divide in_channels=4``.

Sizes follow PyTorch 2.x exactly. Per spatial dimension, with input size ``i``, kernel
``k``, stride ``s``, padding ``lo``/``hi``, dilation ``d``::

    effective kernel   k_eff = d * (k - 1) + 1
    convolution        o = floor((i + lo + hi - k_eff) / s) + 1
    transposed conv    o = (i - 1) * s - lo - hi + k_eff + output_padding
    pooling            o = floor_or_ceil((i + 2p - k_eff) / s) + 1,
                       minus one if ceil_mode and the last window starts past i + p

Examples
--------
>>> conv_output_size(227, kernel_size=11, stride=4)
(55,)
>>> conv_output_size((7, 7), kernel_size=3, stride=2, padding=1, dilation=2)
(3, 3)
>>> resolve_padding("same", kernel_size=4, stride=1, dilation=1)
((1, 2),)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ConvGeometry",
    "TransposeGeometry",
    "PoolGeometry",
    "ReceptiveField",
    "ntuple",
    "resolve_padding",
    "conv_geometry",
    "conv_output_size",
    "conv_transpose_geometry",
    "conv_transpose_output_size",
    "output_padding_range",
    "check_output_padding",
    "check_pool_padding",
    "output_padding_for_size",
    "adjoint_padding",
    "DirectEquivalent",
    "transpose_as_direct",
    "input_gradient_geometry",
    "adaptive_start",
    "adaptive_end",
    "pool_geometry",
    "pool_output_size",
    "adaptive_windows",
    "adaptive_output_size",
    "check_channels",
    "conv_params",
    "conv_macs",
    "conv_transpose_macs",
    "receptive_field",
    "uncovered_input",
    "uncovered_cells",
    "explain",
]


# --------------------------------------------------------------------------- helpers


#: Largest size, stride, padding or dilation accepted (beyond it no array could be indexed).
MAX_INT = 2**62


def _is_int(value) -> bool:
    # bool is an int subclass but never a meaningful size; NumPy integers are accepted
    # without importing NumPy (they implement __index__).
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return hasattr(value, "__index__") and not isinstance(value, float) and type(value).__name__.startswith(("int", "uint"))


def _fmt(value) -> str:
    if isinstance(value, tuple) and len(value) == 1:
        return str(value[0])
    return str(value)


def ntuple(value, n: int, *, fn: str, name: str, minimum: int | None = None) -> tuple[int, ...]:
    """Normalise an int or a sequence of ``n`` ints to an ``n``-tuple of ints.

    Raises ``TypeError`` for anything that is not an int or a sequence of ints and
    ``ValueError`` for a sequence of the wrong length or a value below ``minimum``.
    """
    if _is_int(value):
        result = (int(value),) * n
    elif isinstance(value, (tuple, list)):
        if not all(_is_int(v) for v in value):
            raise TypeError(f"{fn}: {name} must be an int or a sequence of {n} ints, got {value!r}")
        if len(value) == 1:
            result = (int(value[0]),) * n
        elif len(value) == n:
            result = tuple(int(v) for v in value)
        else:
            raise ValueError(f"{fn}: {name} must be an int or a sequence of {n} ints, got {name}={value!r}")
    else:
        raise TypeError(f"{fn}: {name} must be an int or a sequence of {n} ints, got {type(value).__name__} {value!r}")
    if any(abs(v) > MAX_INT for v in result):       # larger values cannot index an array (int64)
        raise ValueError(f"{fn}: {name} must be at most 2**62 in size, got {name}={_fmt(value)}")
    if minimum is not None and any(v < minimum for v in result):
        rule = "positive" if minimum == 1 else f">= {minimum}"
        if minimum == 0:
            rule = "non-negative"
        raise ValueError(f"{fn}: {name} must be {rule}, got {name}={_fmt(tuple(value) if isinstance(value, list) else value)}")
    return result


def _sizes(value, *, fn: str, name: str, ndim: int | None = None) -> tuple[int, ...]:
    """Normalise a spatial size (int or sequence) without knowing ndim beforehand."""
    if ndim is None:
        ndim = 1 if _is_int(value) else len(value) if isinstance(value, (tuple, list)) else 1
    if ndim < 1:
        raise ValueError(f"{fn}: {name} needs at least one spatial dimension, got {value!r}")
    return ntuple(value, ndim, fn=fn, name=name, minimum=1)


def resolve_padding(padding, kernel_size, stride=1, dilation=1, *, ndim: int | None = None,
                    fn: str = "conv") -> tuple[tuple[int, int], ...]:
    """Turn any padding spelling into ``ndim`` explicit ``(lo, hi)`` pairs.

    ``padding`` may be an int, a sequence of ``ndim`` ints (symmetric), a sequence of
    ``ndim`` ``(lo, hi)`` pairs, ``'valid'`` (no padding) or ``'same'``. ``'same'`` pads a
    total of ``dilation * (kernel_size - 1)`` per dimension, the extra cell on the high
    side when the total is odd, exactly as PyTorch does; it requires stride 1.

    >>> resolve_padding("same", kernel_size=(3, 4), stride=1, dilation=(1, 2), ndim=2)
    ((1, 1), (3, 3))
    """
    if ndim is None:
        ndim = len(kernel_size) if isinstance(kernel_size, (tuple, list)) else 1
    kernel = ntuple(kernel_size, ndim, fn=fn, name="kernel_size", minimum=1)
    dil = ntuple(dilation, ndim, fn=fn, name="dilation", minimum=1)
    strides = ntuple(stride, ndim, fn=fn, name="stride", minimum=1)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * ndim
        if padding == "same":
            if any(s != 1 for s in strides):
                raise ValueError(f"{fn}: padding='same' is not supported for strided convolutions, got stride={_fmt(strides)}")
            pairs = []
            for k, d in zip(kernel, dil):
                total = d * (k - 1)
                pairs.append((total // 2, total - total // 2))
            return tuple(pairs)
        raise ValueError(f"{fn}: padding must be an int, a tuple, 'same' or 'valid', got padding={padding!r}")
    if isinstance(padding, (tuple, list)) and len(padding) == ndim and all(isinstance(p, (tuple, list)) for p in padding):
        pairs = []
        for pair in padding:
            if len(pair) != 2 or not all(_is_int(v) for v in pair):
                raise TypeError(f"{fn}: padding pairs must be (lo, hi) ints, got padding={padding!r}")
            if not (0 <= pair[0] <= MAX_INT and 0 <= pair[1] <= MAX_INT):
                raise ValueError(f"{fn}: padding must be non-negative and at most 2**62, got padding={padding!r}")
            pairs.append((int(pair[0]), int(pair[1])))
        return tuple(pairs)
    sym = ntuple(padding, ndim, fn=fn, name="padding", minimum=0)
    return tuple((p, p) for p in sym)


# --------------------------------------------------------------------------- convolution


class _Kernel:
    """What every geometry derives from its sizes (a mixin of the geometry dataclasses)."""

    input_size: tuple[int, ...]
    kernel_size: tuple[int, ...]
    dilation: tuple[int, ...]

    @property
    def ndim(self) -> int:
        return len(self.input_size)

    @property
    def effective_kernel(self) -> tuple[int, ...]:
        """``d * (k - 1) + 1`` per dimension: the span of a dilated kernel."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation))


@dataclass(frozen=True)
class ConvGeometry(_Kernel):
    """Canonical per-dimension geometry of one convolution (or pooling) window sweep."""

    input_size: tuple[int, ...]
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    output_size: tuple[int, ...]

    @property
    def padded_size(self) -> tuple[int, ...]:
        return tuple(i + lo + hi for i, (lo, hi) in zip(self.input_size, self.padding))

    def window_start(self, dim: int, index: int) -> int:
        """First input index (negative inside the low padding) of output ``index`` along ``dim``."""
        return index * self.stride[dim] - self.padding[dim][0]


def conv_geometry(input_size, kernel_size, stride=1, padding=0, dilation=1, *, fn: str = "conv") -> ConvGeometry:
    """Validate a convolution and compute its output size (see module docstring).

    ``input_size`` is the spatial size only (an int or a tuple); its length fixes the
    number of spatial dimensions.
    """
    size = _sizes(input_size, fn=fn, name="input size")
    ndim = len(size)
    kernel = ntuple(kernel_size, ndim, fn=fn, name="kernel_size", minimum=1)
    strides = ntuple(stride, ndim, fn=fn, name="stride", minimum=1)
    dil = ntuple(dilation, ndim, fn=fn, name="dilation", minimum=1)
    pads = resolve_padding(padding, kernel, strides, dil, ndim=ndim, fn=fn)
    out = []
    for i, k, s, (lo, hi), d in zip(size, kernel, strides, pads, dil):
        k_eff = d * (k - 1) + 1
        padded = i + lo + hi
        if k_eff > padded:
            raise ValueError(f"{fn}: effective kernel size {k_eff} exceeds padded input size {padded} "
                             f"(kernel_size={k}, dilation={d}, input={i}, padding={lo}+{hi})")
        out.append((padded - k_eff) // s + 1)
    return ConvGeometry(size, kernel, strides, pads, dil, tuple(out))


def conv_output_size(input_size, kernel_size, stride=1, padding=0, dilation=1, *, fn: str = "conv") -> tuple[int, ...]:
    """Spatial output size of a convolution.

    >>> conv_output_size((32, 64), kernel_size=(5, 3), padding="same")
    (32, 64)
    """
    return conv_geometry(input_size, kernel_size, stride, padding, dilation, fn=fn).output_size


@dataclass(frozen=True)
class TransposeGeometry(_Kernel):
    """Geometry of a transposed convolution.

    ``forward`` is the ordinary convolution that maps ``output_size`` back to
    ``input_size``: the transposed convolution is its gradient with respect to the input.
    """

    input_size: tuple[int, ...]
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    output_padding: tuple[int, ...]
    dilation: tuple[int, ...]
    output_size: tuple[int, ...]

    @property
    def stretched_size(self) -> tuple[int, ...]:
        """Size of the input after inserting ``stride - 1`` zeros between neighbours."""
        return tuple((i - 1) * s + 1 for i, s in zip(self.input_size, self.stride))

    @property
    def forward(self) -> ConvGeometry:
        return ConvGeometry(self.output_size, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.input_size)


def output_padding_range(stride=1, dilation=1, *, ndim: int = 1, fn: str = "conv_transpose") -> tuple[range, ...]:
    """Allowed ``output_padding`` values per dimension: ``0 <= op < max(stride, dilation)``.

    Several input sizes of a strided convolution give the same output size; output_padding
    picks which one the transposed convolution restores.
    """
    strides = ntuple(stride, ndim, fn=fn, name="stride", minimum=1)
    dil = ntuple(dilation, ndim, fn=fn, name="dilation", minimum=1)
    return tuple(range(max(s, d)) for s, d in zip(strides, dil))


def check_output_padding(output_padding, stride=1, dilation=1, *, ndim: int = 1,
                         fn: str = "conv_transpose") -> tuple[int, ...]:
    """Normalise ``output_padding`` and check torch's rule ``0 <= op < max(stride, dilation)``."""
    strides = ntuple(stride, ndim, fn=fn, name="stride", minimum=1)
    dil = ntuple(dilation, ndim, fn=fn, name="dilation", minimum=1)
    out_pad = ntuple(output_padding, ndim, fn=fn, name="output_padding", minimum=0)
    for op, allowed in zip(out_pad, output_padding_range(strides, dil, ndim=ndim, fn=fn)):
        if op not in allowed:
            raise ValueError(f"{fn}: output_padding must be smaller than either stride or dilation, got "
                             f"output_padding={_fmt(out_pad)}, stride={_fmt(strides)}, dilation={_fmt(dil)}")
    return out_pad


def conv_transpose_geometry(input_size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1,
                            *, fn: str = "conv_transpose") -> TransposeGeometry:
    """Validate a transposed convolution and compute its output size.

    >>> conv_transpose_output_size(28, kernel_size=4, stride=2, padding=1)
    (56,)
    """
    size = _sizes(input_size, fn=fn, name="input size")
    ndim = len(size)
    kernel = ntuple(kernel_size, ndim, fn=fn, name="kernel_size", minimum=1)
    strides = ntuple(stride, ndim, fn=fn, name="stride", minimum=1)
    dil = ntuple(dilation, ndim, fn=fn, name="dilation", minimum=1)
    if isinstance(padding, str):
        raise ValueError(f"{fn}: padding must be an int or a tuple of ints (no 'same'/'valid' for "
                         f"transposed convolution), got padding={padding!r}")
    pads = resolve_padding(padding, kernel, 1, dil, ndim=ndim, fn=fn)
    out_pad = check_output_padding(output_padding, strides, dil, ndim=ndim, fn=fn)
    out = []
    for i, k, s, (lo, hi), op, d in zip(size, kernel, strides, pads, out_pad, dil):
        o = (i - 1) * s - lo - hi + d * (k - 1) + op + 1
        if o < 1:
            raise ValueError(f"{fn}: output size {o} is too small (input={i}, kernel_size={k}, stride={s}, "
                             f"padding={lo}, output_padding={op}, dilation={d}); it must be positive")
        out.append(o)
    return TransposeGeometry(size, kernel, strides, pads, out_pad, dil, tuple(out))


def conv_transpose_output_size(input_size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1,
                               *, fn: str = "conv_transpose") -> tuple[int, ...]:
    """Spatial output size of a transposed convolution."""
    return conv_transpose_geometry(input_size, kernel_size, stride, padding, output_padding, dilation,
                                   fn=fn).output_size


# --------------------------------------------------------------------------- derived geometries


def adjoint_padding(geometry: TransposeGeometry) -> tuple[tuple[int, int], ...]:
    """Per dimension, the ``(lo, hi)`` zero padding of the direct convolution that equals a
    transposed one: ``(k_eff - 1 - lo, k_eff - 1 - hi + output_padding)`` around the
    stretched input (``stride - 1`` zeros between neighbours), correlated with the flipped
    kernel at stride 1. A negative amount crops that many stretched cells instead.

    >>> adjoint_padding(conv_transpose_geometry(4, kernel_size=3, stride=2, padding=1, output_padding=1))
    ((1, 2),)
    """
    return tuple((k_eff - 1 - lo, k_eff - 1 - hi + extra) for k_eff, (lo, hi), extra in
                 zip(geometry.effective_kernel, geometry.padding, geometry.output_padding))


@dataclass(frozen=True)
class DirectEquivalent:
    """A transposed convolution as a direct one: stretch the input by ``stretch`` (insert
    ``stride - 1`` zeros), keep stretched cells ``crop`` (``(start, stop)`` per dimension),
    then run ``geometry`` (stride 1, non-negative padding) with the flipped, channel-swapped
    kernel. ``empty``: the crop keeps nothing (every input cell lies in the cropped padding)."""

    stretch: tuple[int, ...]
    crop: tuple[tuple[int, int], ...]
    geometry: ConvGeometry
    empty: bool


def transpose_as_direct(geometry: TransposeGeometry) -> DirectEquivalent:
    """The direct convolution equal to a transposed one (see :func:`adjoint_padding`).

    >>> d = transpose_as_direct(conv_transpose_geometry(5, kernel_size=3, padding=3))
    >>> d.crop, d.geometry.padding, d.geometry.output_size
    (((1, 4),), ((0, 0),), (1,))
    """
    crop, sizes, pads = [], [], []
    for stretched, (low, high) in zip(geometry.stretched_size, adjoint_padding(geometry)):
        start, stop = max(0, -low), stretched - max(0, -high)
        crop.append((start, max(start, stop)))
        sizes.append(max(0, stop - start))
        pads.append((max(0, low), max(0, high)))
    direct = ConvGeometry(tuple(sizes), geometry.kernel_size, (1,) * geometry.ndim, tuple(pads), geometry.dilation,
                          geometry.output_size)
    return DirectEquivalent(geometry.stride, tuple(crop), direct, any(s <= 0 for s in sizes))


def input_gradient_geometry(geometry: ConvGeometry) -> TransposeGeometry:
    """The transposed convolution that maps a convolution's output gradient back onto its
    whole input: the convolution's own stride, padding and dilation, with the
    ``output_padding`` that restores ``input_size`` exactly (it may exceed what the public
    API allows: input cells no window reaches, :func:`uncovered_input`, get zero gradient).

    >>> g = input_gradient_geometry(conv_geometry(8, kernel_size=3, stride=2))
    >>> g.input_size, g.output_padding, g.output_size
    ((3,), (1,), (8,))
    """
    natural = tuple((o - 1) * s - lo - hi + k for o, s, (lo, hi), k in
                    zip(geometry.output_size, geometry.stride, geometry.padding, geometry.effective_kernel))
    extra = tuple(i - n for i, n in zip(geometry.input_size, natural))
    return TransposeGeometry(geometry.output_size, geometry.kernel_size, geometry.stride, geometry.padding,
                             extra, geometry.dilation, geometry.input_size)


def output_padding_for_size(input_size, output_size, kernel_size, stride=1, padding=0, dilation=1,
                            *, fn: str = "conv_transpose") -> tuple[int, ...]:
    """torch's rule for ``ConvTransposeNd.forward(output_size=...)``: the ``output_padding``
    that makes a transposed convolution produce ``output_size`` (each between the size with
    no output padding and ``stride - 1`` more).

    >>> output_padding_for_size(28, 56, kernel_size=4, stride=2, padding=1)
    (0,)
    """
    size = _sizes(input_size, fn=fn, name="input size")
    ndim = len(size)
    wanted = ntuple(output_size, ndim, fn=fn, name="output_size", minimum=0)
    smallest = conv_transpose_geometry(size, kernel_size, stride, padding, 0, dilation, fn=fn).output_size
    strides = ntuple(stride, ndim, fn=fn, name="stride", minimum=1)
    largest = tuple(lo + s - 1 for lo, s in zip(smallest, strides))
    for want, lo, hi in zip(wanted, smallest, largest):
        if not lo <= want <= hi:
            raise ValueError(f"{fn}: requested an output size of {list(wanted)}, but valid sizes range from "
                             f"{list(smallest)} to {list(largest)} (for an input of {list(size)})")
    return tuple(want - lo for want, lo in zip(wanted, smallest))


# --------------------------------------------------------------------------- pooling


@dataclass(frozen=True)
class PoolGeometry(ConvGeometry):
    """Geometry of a pooling window sweep; ``ceil_mode`` may add a partial last window."""

    ceil_mode: bool = False


def check_pool_padding(padding, kernel_size, *, ndim: int, fn: str = "max_pool",
                       as_given: bool = False) -> tuple[int, ...]:
    """Normalise pooling ``padding`` and check torch's rule: at most half the kernel size.
    The message echoes the normalised tuples, or the arguments as given (``as_given``)."""
    kernel = ntuple(kernel_size, ndim, fn=fn, name="kernel_size", minimum=1)
    pads = ntuple(padding, ndim, fn=fn, name="padding", minimum=0)
    if any(p > k // 2 for p, k in zip(pads, kernel)):
        shown = (padding, kernel_size) if as_given else (_fmt(pads), _fmt(kernel))
        raise ValueError(f"{fn}: padding={shown[0]} must be at most half of kernel_size={shown[1]}")
    return pads


def pool_geometry(input_size, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                  *, fn: str = "max_pool", check_input_size: bool | None = None) -> PoolGeometry:
    """Validate a pooling window and compute its output size, with PyTorch's rules.

    Padding is symmetric and at most half the kernel size; with ``ceil_mode`` the last
    window must start inside the input or the left padding.

    ``check_input_size`` additionally requires every input dimension, padding not
    counted, to be at least the kernel size; PyTorch does so for ``avg_pool3d`` only,
    which is what ``None`` (the default) selects from ``fn``.

    >>> pool_output_size(5, kernel_size=2, ceil_mode=True)
    (3,)
    """
    size = _sizes(input_size, fn=fn, name="input size")
    ndim = len(size)
    kernel = ntuple(kernel_size, ndim, fn=fn, name="kernel_size", minimum=1)
    strides = kernel if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else \
        ntuple(stride, ndim, fn=fn, name="stride", minimum=1)
    dil = ntuple(dilation, ndim, fn=fn, name="dilation", minimum=1)
    pads = check_pool_padding(padding, kernel, ndim=ndim, fn=fn)
    if not isinstance(ceil_mode, bool):
        raise TypeError(f"{fn}: ceil_mode must be a bool, got {ceil_mode!r}")
    if check_input_size is None:
        check_input_size = fn.startswith("avg_pool3d")
    if check_input_size and any(i < k for i, k in zip(size, kernel)):
        raise ValueError(f"{fn}: input size {_fmt(size)} is smaller than kernel_size={_fmt(kernel)} "
                         f"(each input dimension must be at least the kernel size, padding not counted)")
    out = []
    for i, k, s, p, d in zip(size, kernel, strides, pads, dil):
        span = i + 2 * p - d * (k - 1) - 1
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= i + p:
            o -= 1
        if o < 1:
            raise ValueError(f"{fn}: output size {o} is too small: effective kernel size {d * (k - 1) + 1} "
                             f"exceeds padded input size {i + 2 * p} (input={i}, padding={p})")
        out.append(o)
    return PoolGeometry(size, kernel, strides, tuple((p, p) for p in pads), dil, tuple(out), ceil_mode)


def pool_output_size(input_size, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                     *, fn: str = "max_pool", check_input_size: bool | None = None) -> tuple[int, ...]:
    """Spatial output size of max or average pooling."""
    return pool_geometry(input_size, kernel_size, stride, padding, dilation, ceil_mode, fn=fn,
                         check_input_size=check_input_size).output_size


def adaptive_output_size(input_size, output_size, *, fn: str = "adaptive_pool") -> tuple[int, ...]:
    """Validated output size of adaptive pooling; ``None`` in ``output_size`` keeps that
    dimension's input size, zero is allowed (an empty output, as in PyTorch).

    >>> adaptive_output_size((7, 9), (3, None))
    (3, 9)
    """
    size = _sizes(input_size, fn=fn, name="input size")
    ndim = len(size)
    if output_size is None or _is_int(output_size):
        outs = (output_size,) * ndim
    elif isinstance(output_size, (tuple, list)) and len(output_size) == ndim:
        outs = tuple(output_size)
    else:
        raise ValueError(f"{fn}: output_size must be an int or a sequence of {ndim} ints, got output_size={output_size!r}")
    result = []
    for i, o in zip(size, outs):
        if o is None:
            o = i
        if not _is_int(o):
            raise TypeError(f"{fn}: output_size must contain ints or None, got output_size={output_size!r}")
        if o < 0:
            raise ValueError(f"{fn}: output_size must be non-negative, got output_size={output_size!r}")
        result.append(int(o))
    return tuple(result)


def adaptive_windows(input_size, output_size, *, fn: str = "adaptive_pool") -> tuple[tuple[tuple[int, int], ...], ...]:
    """Per dimension, the ``(start, end)`` input window of each adaptive-pooling output
    (:func:`adaptive_start`, :func:`adaptive_end`; a tuple per output, for small views:
    the engine computes the windows vectorised from those two functions).

    ``start = floor(j * i / o)``, ``end = ceil((j + 1) * i / o)``, as in PyTorch.
    ``None`` in ``output_size`` keeps that dimension's input size.
    """
    from .._guard import require_steps

    size = _sizes(input_size, fn=fn, name="input size")
    outs = adaptive_output_size(size, output_size, fn=fn)
    require_steps(fn, sum(outs), what="adaptive-pooling windows")
    return tuple(tuple((adaptive_start(j, i, o), adaptive_end(j, i, o)) for j in range(o))
                 for i, o in zip(size, outs))


def adaptive_start(index, input_size, output_size):
    """First input cell of adaptive-pooling output ``index``: ``floor(index * i / o)``.

    Only ``//``, ``*`` and ``+`` are used, so ``index`` may be an integer array (the
    engine's vectorised windows).
    """
    return (index * input_size) // output_size


def adaptive_end(index, input_size, output_size):
    """One past the last input cell of adaptive-pooling output ``index``: ``ceil((index + 1) * i / o)``."""
    return -(-((index + 1) * input_size) // output_size)


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


# --------------------------------------------------------------------------- explanation


def _check_geometry(geometry, fn: str, kinds) -> None:
    if not isinstance(geometry, kinds):
        names = " or ".join(kind.__name__ for kind in (kinds if isinstance(kinds, tuple) else (kinds,)))
        raise TypeError(f"{fn}: geometry must be a {names} (from conv_geometry, pool_geometry or "
                        f"conv_transpose_geometry), got {type(geometry).__name__} {geometry!r}")


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


__all__ += ["Setting", "solve_output_size", "SOLVE_OPS", "receptive_window"]
