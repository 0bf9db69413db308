"""Adaptive pooling: output sizes and the input window of each output."""

from __future__ import annotations

from ._validate import _is_int, _sizes


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
