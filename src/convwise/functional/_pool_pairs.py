"""Per-side ``(lo, hi)`` padding for max and average pooling: an extension beyond torch.

torch pads pooling windows symmetrically; ONNX (``pads``, ``auto_pad='SAME_UPPER'``) and
Keras (``padding='same'``) models pad one side more. Convolution already accepts a
``(lo, hi)`` pair per spatial dimension; so do ``max_pool1d/2d/3d`` and
``avg_pool1d/2d/3d`` through this module::

    max_pool2d(x, 2, padding=((0, 1), (0, 1)))    # one extra cell at the bottom and right

The rules follow torch's per side, relaxed as ONNX allows: each side is smaller than the
dilated kernel (torch: at most ``kernel_size // 2``); the output size is
``floor_or_ceil((in + lo + hi - dilation*(k - 1) - 1) / stride) + 1``, and with
``ceil_mode`` a last window starting past ``in + lo`` is dropped. Padding cells never win
a max (indices are flat positions in the unpadded input, as torch's); average pooling
divides by the window clipped to the padded input (``count_include_pad=True``), or to the
input (``False``), or by ``divisor_override``. Symmetric pairs give exactly
the torch op's result. Pairs are a forward-only extension: the ``*_backward`` functions and
the ``nn`` layers take torch's symmetric padding.

>>> import numpy as np
>>> from convwise.functional import avg_pool1d, max_pool1d
>>> max_pool1d(np.array([[1.0, 5.0, 2.0]]), 2, padding=((0, 1),)).tolist()
[[5.0, 2.0]]
>>> avg_pool1d(np.array([[1.0, 5.0, 2.0]]), 2, padding=((0, 1),)).tolist()   # (2 + 0) / 2
[[3.0, 1.0]]
"""

from __future__ import annotations

import functools
import inspect
import math

import numpy as np

from .. import arithmetic
from .._guard import require_memory

__all__ = ["is_pairs", "wrap_public"]


def is_pairs(padding, spatial: int) -> bool:
    """True for a sequence of ``spatial`` ``(lo, hi)`` sequences."""
    return (isinstance(padding, (tuple, list)) and len(padding) == spatial
            and all(isinstance(p, (tuple, list)) for p in padding))


def _window(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Validated ``(kernel, stride, dilation, pairs, output size)`` for per-side padding."""
    spatial = x.ndim - 2
    kernel = arithmetic.ntuple(kernel_size, spatial, fn=op, name="kernel_size", minimum=1)
    strides = kernel if stride is None or (isinstance(stride, (tuple, list)) and not stride) else \
        arithmetic.ntuple(stride, spatial, fn=op, name="stride", minimum=1)
    dil = arithmetic.ntuple(dilation, spatial, fn=op, name="dilation", minimum=1)
    pairs = arithmetic.resolve_padding(padding, kernel, 1, 1, ndim=spatial, fn=op)
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"{op}: ceil_mode must be a bool, got {ceil_mode!r}")
    out = []
    for i, k, s, d, (lo, hi) in zip(x.shape[2:], kernel, strides, dil, pairs):
        if lo >= d * (k - 1) + 1 or hi >= d * (k - 1) + 1:
            raise ValueError(f"{op}: padding={pairs} must be smaller than the (dilated) kernel size "
                             f"{tuple(dd * (kk - 1) + 1 for kk, dd in zip(kernel, dil))} on each side")
        o = arithmetic.pool_output_length(i, k, s, (lo, hi), d, ceil_mode)
        if o < 1:
            raise ValueError(f"{op}: output size {o} is too small: effective kernel size {d * (k - 1) + 1} exceeds "
                             f"the padded input size {i + lo + hi} (input={i}, padding=({lo}, {hi}))")
        out.append(o)
    return kernel, strides, dil, pairs, tuple(out)


def _padded(x, kernel, strides, dil, pairs, out, fill):
    """``x`` padded by ``lo`` and enough ``hi`` for every window (``fill`` in the padding)."""
    widths = [(0, 0), (0, 0)]
    for i, k, s, d, (lo, hi), o in zip(x.shape[2:], kernel, strides, dil, pairs, out):
        widths.append((lo, max(hi, (o - 1) * s + d * (k - 1) + 1 - i - lo, 0)))
    require_memory("pool", math.prod(x.shape[:2]) * math.prod(i + a + b for i, (a, b) in
                                                              zip(x.shape[2:], widths[2:])) * x.itemsize,
                   what="padded input")
    return np.pad(x, widths, constant_values=fill)


def _max_pool(function, op, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    kernel, strides, dil, pairs, out = _window(op, x, kernel_size, stride, padding, dilation, ceil_mode)
    xp = _padded(x, kernel, strides, dil, pairs, out, -np.inf)
    y, index = function(xp, kernel, strides, 0, dil, False, True)
    crop = (Ellipsis,) + tuple(slice(0, o) for o in out)
    y, index = np.ascontiguousarray(y[crop]), index[crop]
    if not return_indices:
        return y
    coords = np.unravel_index(index, xp.shape[2:])
    shifted = [np.clip(c - lo, 0, i - 1) for c, (lo, _), i in zip(coords, pairs, x.shape[2:])]
    return y, np.ravel_multi_index(shifted, x.shape[2:]).astype(np.int64)


def _avg_pool(op, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    kernel, strides, dil, pairs, out = _window(op, x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and (isinstance(divisor_override, bool)
                                         or not isinstance(divisor_override, (int, np.integer))):
        raise TypeError(f"{op}: divisor_override must be an int or None, got {divisor_override!r}")
    if divisor_override is not None and divisor_override == 0:
        raise ValueError(f"{op}: divisor_override must be non-zero, got divisor_override=0")
    xp = _padded(x, kernel, strides, dil, pairs, out, 0)
    total = np.zeros(x.shape[:2] + out, dtype=x.dtype)
    for tap in np.ndindex(*kernel):
        total += xp[(Ellipsis,) + tuple(slice(t, t + (o - 1) * s + 1, s) for t, o, s in zip(tap, out, strides))]
    divisor = np.ones((1,) * len(out), dtype=np.int64)
    for axis, (i, k, s, (lo, hi), o) in enumerate(zip(x.shape[2:], kernel, strides, pairs, out)):
        start = np.arange(o, dtype=np.int64) * s - lo
        end = np.minimum(start + k, i + hi)
        count = (end - start) if count_include_pad else (np.minimum(end, i) - np.maximum(start, 0))
        # a window of padding only sums to 0 and stays 0
        divisor = divisor * np.maximum(count, 1).reshape((1,) * axis + (-1,) + (1,) * (len(out) - axis - 1))
    if divisor_override is not None:
        divisor = np.full_like(divisor, int(divisor_override))
    return (total / divisor.astype(x.dtype)).astype(x.dtype)


def _wrap(function, op: str):
    signature = inspect.signature(function)
    spatial = int(op[-2])

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = bound.arguments
        if not is_pairs(values.get("padding"), spatial):
            return function(*args, **kwargs)
        from ._args import as_float_array, check_spatial_nonempty, to_batched

        x = as_float_array(values["input"], fn=op, name="input")
        x, unbatched = to_batched(x, spatial, fn=op)
        check_spatial_nonempty(x, fn=op)
        if op.startswith("max"):
            result = _max_pool(function, op, x, values["kernel_size"], values["stride"], values["padding"],
                               values["dilation"], values["ceil_mode"], bool(values["return_indices"]))
        else:
            result = _avg_pool(op, x, values["kernel_size"], values["stride"], values["padding"], values["ceil_mode"],
                               values["count_include_pad"], values.get("divisor_override"))
        if not unbatched:
            return result
        return tuple(r[0] for r in result) if isinstance(result, tuple) else result[0]

    wrapper.__doc__ = (function.__doc__ or "").rstrip() + _NOTE
    return wrapper


_NOTE = """

    Extension beyond torch: ``padding`` may also be one ``(lo, hi)`` pair per spatial
    dimension, e.g. ``((0, 1), (0, 1))`` (see :mod:`convwise.functional._pool_pairs`).
    """


def wrap_public(namespace: dict) -> None:
    """Let ``max_pool*``/``avg_pool*`` in ``namespace`` accept ``(lo, hi)`` pairs."""
    for op in ("max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d"):
        if op in namespace:
            namespace[op] = _wrap(namespace[op], op)
