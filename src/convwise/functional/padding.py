"""``pad`` with torch.nn.functional's argument order, modes and rules, and its gradient.

``pad`` lists ``(lo, hi)`` pairs starting from the *last* dimension:
``(left, right)`` pads the last axis, ``(left, right, top, bottom)`` the last two, and
so on. Negative values crop.

- ``constant`` pads any of the last dimensions with ``value``; a crop may remove a whole
  dimension (size 0) but not more.
- ``reflect`` (mirror without repeating the edge), ``replicate`` (repeat the edge) and
  ``circular`` (wrap around) pad the last 1, 2 or 3 dimensions of a ``(C, *S)`` or
  ``(N, C, *S)`` input, as in torch. Reflect padding must be smaller than the dimension;
  circular padding may wrap around at most once (after any crop on the same axis).

Non-constant modes are one gather per padded axis with an index map (PyTorch's own
index formula, so that crops mixed with padding agree with torch); their gradient is the
matching scatter-add, so cells copied several times accumulate.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._guard import require_memory
from ..arithmetic import _is_int
from ._args import as_float_array
from ._dtypes import as_array, check_dtype

__all__ = ["pad", "pad_backward"]

MODES = ("constant", "reflect", "replicate", "circular")


class _Axis(NamedTuple):
    axis: int
    lo: int
    hi: int
    size: int          # input size
    out: int           # output size
    source: np.ndarray | None  # output -> input coordinate (non-constant modes)


def _index_map(mode: str, size: int, lo: int, hi: int, out: int) -> np.ndarray:
    """Input coordinate of each output cell, by PyTorch's formulas."""
    j = np.arange(out, dtype=np.int64)
    if mode == "circular":                 # crop first, then wrap around the cropped input
        first = max(-lo, 0)
        kept = size - max(-lo, 0) - max(-hi, 0)
        return first + (j - max(lo, 0)) % kept
    offset = max(-lo, 0) - max(lo, 0)
    if mode == "reflect":
        i = np.where(j < lo, 2 * lo - j, np.where(j < size + lo, j, 2 * (size + lo - 1) - j))
    else:                                  # replicate
        i = np.where(j < lo, lo, np.where(j < size + lo, j, size + lo - 1))
    return i + offset


def _require_output_memory(shape: tuple[int, ...], pad: tuple[int, ...], count: int, itemsize: int, fn: str,
                           mode: str) -> None:
    """The memory guard: the padded output (and, for non-constant modes, one int64 index map per
    padded axis) must fit the budget."""
    out = list(shape)
    for k in range(count):
        out[len(shape) - 1 - k] = max(shape[len(shape) - 1 - k] + pad[2 * k] + pad[2 * k + 1], 0)
    maps = 0 if mode == "constant" else 8 * sum(out[len(shape) - count:])
    require_memory(fn, math.prod(out) * itemsize + maps,
                   what=f"a padded output of shape {tuple(out)}")


def _plan(shape: tuple[int, ...], pad, mode: str, fn: str, itemsize: int = 8) -> list[_Axis]:
    """Validate ``pad`` and ``mode`` for an input of ``shape``; one entry per padded axis."""
    if not isinstance(mode, str):
        raise TypeError(f"{fn}: mode must be a string, got {type(mode).__name__} {mode!r}")
    if mode not in MODES:
        raise ValueError(f"{fn}: mode must be one of {', '.join(repr(m) for m in MODES)}, got mode={mode!r}")
    if not isinstance(pad, (tuple, list)) or not all(_is_int(p) for p in pad):
        raise TypeError(f"{fn}: pad must be a tuple of ints, got pad={pad!r}")
    pad = tuple(int(p) for p in pad)
    ndim = len(shape)
    if len(pad) % 2:
        raise ValueError(f"{fn}: pad must have an even length (lo, hi pairs), got pad={pad} of length {len(pad)}")
    count = len(pad) // 2
    if count > ndim:
        raise ValueError(f"{fn}: pad={pad} pads {count} dimensions but the input has only {ndim} "
                         f"(shape {shape}); its length must be at most 2 * input.ndim")
    if mode != "constant":
        if count not in (1, 2, 3):
            raise ValueError(f"{fn}: mode={mode!r} pads only the last 1, 2 or 3 dimensions, got pad={pad} of "
                             f"length {len(pad)}")
        if ndim not in (count + 1, count + 2):
            raise ValueError(f"{fn}: mode={mode!r} pads the last 1, 2 or 3 dimensions of a (C, *S) or (N, C, *S) "
                             f"input: pad of length {2 * count} needs a {count + 1}D or {count + 2}D input, "
                             f"got pad={pad} and input shape {shape}")
        if mode != "circular" and any(s == 0 for s in shape[ndim - count - 1:]):
            raise ValueError(f"{fn}: mode={mode!r} needs non-zero channel and spatial sizes, got input shape {shape}")
    _require_output_memory(shape, pad, count, itemsize, fn, mode)
    plan = []
    for k in range(count):
        axis = ndim - 1 - k
        lo, hi = pad[2 * k], pad[2 * k + 1]
        size = shape[axis]
        out = size + lo + hi
        where = f"dimension {axis} of input shape {shape}"
        if mode == "constant":
            if size + min(lo, 0) + min(hi, 0) < 0:
                raise ValueError(f"{fn}: negative padding ({lo}, {hi}) crops more than the {size} cells of {where}")
            plan.append(_Axis(axis, lo, hi, size, out, None))
            continue
        if mode == "reflect" and (lo >= size or hi >= size):
            raise ValueError(f"{fn}: reflect padding must be less than the input size, got padding ({lo}, {hi}) "
                             f"for size {size} at {where}")
        if mode == "circular":
            kept = size - max(-lo, 0) - max(-hi, 0)
            if kept < 0:
                raise ValueError(f"{fn}: negative padding ({lo}, {hi}) crops more than the {size} cells of {where}")
            if max(lo, 0) > kept or max(hi, 0) > kept:
                raise ValueError(f"{fn}: circular padding ({lo}, {hi}) would wrap around more than once: each "
                                 f"side must be at most the (cropped) size {kept} at {where}")
        elif out < 0 or (out == 0 and count == 1):
            raise ValueError(f"{fn}: padding ({lo}, {hi}) leaves an output size {out} < 1 at {where}")
        index = _index_map(mode, size, lo, hi, out)
        if out and (index.min() < 0 or index.max() >= size):
            raise ValueError(f"{fn}: padding ({lo}, {hi}) in mode {mode!r} reads outside {where}")
        plan.append(_Axis(axis, lo, hi, size, out, index))
    if mode in ("reflect", "replicate") and count > 1 and all(entry.out == 0 for entry in plan):
        # torch refuses only when every padded dimension is cropped away entirely
        raise ValueError(f"{fn}: padding {pad} leaves no output cells in any padded dimension of input shape {shape}")
    return plan


def _kept(entry: _Axis) -> tuple[slice, slice]:
    """Matching (input, output) slices of the cells a constant pad copies."""
    inner = slice(max(-entry.lo, 0), entry.size - max(-entry.hi, 0))
    outer = slice(max(entry.lo, 0), entry.out - max(entry.hi, 0))
    return inner, outer


def pad(input, pad, mode="constant", value=0.0):
    """Pad (or crop) the last dimensions of an array, as ``torch.nn.functional.pad``.

    Parameters
    ----------
    input : array of any dtype torch pads: float16/32/64, integer, unsigned or bool
        (bool not in ``'reflect'``/``'replicate'`` mode, as torch)
    pad : tuple of ints ``(lo_last, hi_last, lo_second_last, hi_second_last, ...)``; negative crops
    mode : ``'constant'``, ``'reflect'``, ``'replicate'`` or ``'circular'``
    value : float, the fill of ``'constant'`` (other modes accept only 0 or None); for an
        integer input it is truncated toward zero and must fit the dtype, for a bool input
        any non-zero value is True (torch's rules)

    Shape
    -----
    Each padded dimension grows from ``size`` to ``size + lo + hi``; the others are unchanged.

    Examples
    --------
    >>> x = np.array([[0., 1., 2., 3.]])
    >>> pad(x, (2, 1), mode="reflect").tolist()
    [[2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0]]
    >>> pad(x, (1, -2), value=9.0).tolist()
    [[9.0, 0.0, 1.0]]
    """
    fn = "pad"
    x = as_array(input, fn=fn, name="input")
    check_dtype(x, "pad", fn=fn)
    if x.dtype == np.bool_ and mode in ("reflect", "replicate"):
        raise TypeError(f"{fn}: input dtype bool is not supported in mode={mode!r} (as in torch)")
    plan = _plan(x.shape, pad, mode, fn, x.itemsize)
    if value is None:
        value = 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: value must be a real number, got {type(value).__name__} {value!r}")
    if mode == "constant":
        value = _fill(value, x.dtype, fn)
    if mode != "constant":
        if value != 0:
            raise ValueError(f"{fn}: mode={mode!r} takes no fill value, got value={value!r}")
        y = x
        for entry in plan:
            y = np.take(y, entry.source, axis=entry.axis)
        return np.ascontiguousarray(y)
    shape = list(x.shape)
    source = [slice(None)] * x.ndim
    target = [slice(None)] * x.ndim
    for entry in plan:
        shape[entry.axis] = entry.out
        source[entry.axis], target[entry.axis] = _kept(entry)
    y = np.full(shape, value, dtype=x.dtype)
    y[tuple(target)] = x[tuple(source)]
    return y


def _fill(value, dtype: np.dtype, fn: str):
    """torch's conversion of the fill value to the input's dtype (ValueError if it cannot fit)."""
    if dtype == np.bool_:
        return bool(value != 0)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not (math.isfinite(value) and info.min <= value <= info.max):
            raise ValueError(f"{fn}: value={value!r} cannot be converted to dtype {dtype} without overflow")
        return int(value)            # truncation toward zero, as torch
    return value


def pad_backward(grad_output, input_shape, pad, mode):
    """Gradient of :func:`pad` with respect to its input.

    Constant padding crops the gradient back (cropped cells get zero); the other modes
    add the gradient of every copy of a cell into that cell.

    >>> pad_backward(np.ones((1, 7)), (1, 4), (2, 1), "reflect").tolist()
    [[1.0, 2.0, 3.0, 1.0]]
    """
    fn = "pad_backward"
    g = as_float_array(grad_output, fn=fn, name="grad_output")
    if not isinstance(input_shape, (tuple, list)) or not all(_is_int(s) and s >= 0 for s in input_shape):
        raise TypeError(f"{fn}: input_shape must be a tuple of non-negative ints, got {input_shape!r}")
    shape = tuple(int(s) for s in input_shape)
    plan = _plan(shape, pad, mode, fn)
    expected = list(shape)
    for entry in plan:
        expected[entry.axis] = entry.out
    if g.shape != tuple(expected):
        raise ValueError(f"{fn}: grad_output must have the padded shape {tuple(expected)}, got {g.shape}")
    if mode == "constant":
        grad = np.zeros(shape, dtype=g.dtype)
        source = [slice(None)] * len(shape)
        target = [slice(None)] * len(shape)
        for entry in plan:
            target[entry.axis], source[entry.axis] = _kept(entry)
        grad[tuple(target)] = g[tuple(source)]
        return grad
    for entry in plan:
        g = _gather_adjoint(g, entry)
    return np.ascontiguousarray(g)


def _gather_adjoint(g: np.ndarray, entry: _Axis) -> np.ndarray:
    """Adjoint of ``np.take(x, entry.source, axis)``: sum the slices that share an input index."""
    shape = list(g.shape)
    shape[entry.axis] = entry.size
    total = np.zeros(shape, dtype=g.dtype)
    if entry.out == 0:
        return total
    source = entry.source
    assert source is not None           # non-constant modes only
    order = np.argsort(source, kind="stable")
    targets, starts = np.unique(source[order], return_index=True)
    sums = np.add.reduceat(np.take(g, order, axis=entry.axis), starts, axis=entry.axis)
    total[(slice(None),) * entry.axis + (targets,)] = sums
    return total
