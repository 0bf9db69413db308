"""Geometry of convolution, transposed convolution and pooling, and the geometries derived from them."""

from __future__ import annotations

from dataclasses import dataclass

from ._validate import _fmt, _sizes, ntuple, resolve_padding

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


#: Geometries already validated, by the exact arguments that produced them (see :func:`_key`):
#: validation took about 40% of a small convolution's time in Python (20 us of 57).
_CACHE: dict = {}
_CACHE_SIZE = 1024


def _cached(arguments, validate):
    """The geometry ``validate()`` gives for ``arguments``, from the cache when the same arguments
    (by :func:`_key`) were validated before; failures raise every time; a full cache starts over."""
    key = _key(arguments)
    geometry = _CACHE.get(key) if key is not None else None
    if geometry is None:
        geometry = validate()
        if key is not None:
            if len(_CACHE) >= _CACHE_SIZE:
                _CACHE.clear()
            _CACHE[key] = geometry
    return geometry


def _key(value):
    """A hashable key that tells apart every argument validation could treat differently (its
    type included: ``True`` and ``1`` get different keys), or ``None`` (not cached)."""
    kind = type(value)
    if kind is int or kind is str:
        return kind, value
    if kind is tuple or kind is list:
        parts = tuple(_key(v) for v in value)
        return None if None in parts else (kind, parts)
    return None


def conv_geometry(input_size, kernel_size, stride=1, padding=0, dilation=1, *, fn: str = "conv") -> ConvGeometry:
    """Validate a convolution and compute its output size (see module docstring).

    ``input_size`` is the spatial size only (an int or a tuple); its length fixes the
    number of spatial dimensions. Results are immutable and cached by their arguments
    (failures are not: they raise again, naming ``fn``).
    """
    return _cached((input_size, kernel_size, stride, padding, dilation),
                   lambda: _conv_geometry(input_size, kernel_size, stride, padding, dilation, fn))


def _conv_geometry(input_size, kernel_size, stride, padding, dilation, fn: str) -> ConvGeometry:
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
    """Validate a transposed convolution and compute its output size (cached as :func:`conv_geometry`).

    >>> conv_transpose_output_size(28, kernel_size=4, stride=2, padding=1)
    (56,)
    """
    return _cached(("transpose", input_size, kernel_size, stride, padding, output_padding, dilation),
                   lambda: _conv_transpose_geometry(input_size, kernel_size, stride, padding, output_padding,
                                                    dilation, fn))


def _conv_transpose_geometry(input_size, kernel_size, stride, padding, output_padding, dilation,
                             fn: str) -> TransposeGeometry:
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


def pool_output_length(size: int, kernel: int, stride: int, padding: tuple[int, int], dilation: int,
                       ceil_mode: bool) -> int:
    """Pooling output length of one dimension with ``(lo, hi)`` padding, as PyTorch computes it:
    ``floor`` (or ``ceil``) of ``(size + lo + hi - dilation*(kernel-1) - 1) / stride`` plus one, where
    with ``ceil_mode`` a last window starting in the high padding is dropped.

    >>> pool_output_length(5, 2, 2, (0, 0), 1, True), pool_output_length(5, 2, 2, (0, 0), 1, False)
    (3, 2)
    """
    lo, hi = padding
    span = size + lo + hi - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + lo:
        out -= 1
    return out


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
        o = pool_output_length(i, k, s, (p, p), d, ceil_mode)
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
