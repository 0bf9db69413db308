"""Argument validation shared by the arithmetic: ints, tuples of ints, padding spellings."""

from __future__ import annotations

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


def _check_geometry(geometry, fn: str, kinds) -> None:
    if not isinstance(geometry, kinds):
        names = " or ".join(kind.__name__ for kind in (kinds if isinstance(kinds, tuple) else (kinds,)))
        raise TypeError(f"{fn}: geometry must be a {names} (from conv_geometry, pool_geometry or "
                        f"conv_transpose_geometry), got {type(geometry).__name__} {geometry!r}")
