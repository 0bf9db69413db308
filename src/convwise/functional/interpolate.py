"""``interpolate`` in the nearest modes, as ``torch.nn.functional.interpolate``, and its gradient.

Output cell ``j`` of a dimension copies input cell ``min(floor(j * scale), in - 1)``
(``'nearest'``) or ``min(floor((j + 0.5) * scale), in - 1)`` (``'nearest-exact'``), where
``scale = 1 / scale_factor`` when a scale factor is given (and not recomputed) and
``in / out`` otherwise, computed in float32 exactly as torch's CPU kernel does, so the
same cells are chosen (including torch's shortcut for ``out`` equal to ``in`` or ``2 * in``,
see :func:`_plan`). The gradient adds each output gradient into the cell it copied.

>>> interpolate(np.array([[[1.0, 2.0, 3.0]]]), scale_factor=2).tolist()
[[[1.0, 1.0, 2.0, 2.0, 3.0, 3.0]]]
>>> interpolate(np.array([[[1.0, 2.0, 3.0]]]), size=4).tolist()
[[[1.0, 1.0, 2.0, 3.0]]]
"""

from __future__ import annotations

import math

import numpy as np

from .. import arithmetic
from .._guard import require_memory
from ._dtypes import as_array, check_dtype

__all__ = ["interpolate", "interpolate_backward"]

MODES = ("nearest", "nearest-exact")


def _plan(shape: tuple[int, ...], size, scale_factor, mode, align_corners, recompute_scale_factor, fn: str,
          backward: bool = False):
    """Output spatial size and one source-index vector per spatial dimension.

    torch's ``'nearest'`` copies cell ``j`` (``out == in``) or ``j // 2`` (``out == 2 * in``)
    whatever the scale factor in its 2D forward kernel and in every backward kernel, but
    applies the scale in its 1D and 3D forward kernels; ``shortcut`` mirrors that.
    """
    if not isinstance(mode, str):
        raise TypeError(f"{fn}: mode must be a string, got {mode!r}")
    if mode not in MODES:
        raise ValueError(f"{fn}: mode={mode!r} is not supported; convwise implements {MODES[0]!r} and {MODES[1]!r}")
    if align_corners is not None:
        raise ValueError(f"{fn}: align_corners can only be set with the interpolating modes "
                         f"(linear, bilinear, bicubic, trilinear), got align_corners={align_corners!r}")
    spatial = len(shape) - 2
    if spatial not in (1, 2, 3):
        raise ValueError(f"{fn}: input must be 3D, 4D or 5D (N, C, *spatial), got shape {shape}")
    if any(s == 0 for s in shape[1:]):
        raise ValueError(f"{fn}: input must have non-zero channel and spatial sizes, got shape {shape}")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{fn}: exactly one of size or scale_factor should be defined, got size={size!r} "
                         f"and scale_factor={scale_factor!r}")
    in_size = shape[2:]
    scales: tuple[float | None, ...] = (None,) * spatial
    if size is not None:
        out = arithmetic.ntuple(size, spatial, fn=fn, name="size", minimum=1)
        if recompute_scale_factor is not None and recompute_scale_factor:
            raise ValueError(f"{fn}: recompute_scale_factor is not meaningful with an explicit size")
    else:
        factors = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * spatial
        if len(factors) != spatial or not all(isinstance(f, (int, float, np.integer, np.floating))
                                              and not isinstance(f, bool) for f in factors):
            raise TypeError(f"{fn}: scale_factor must be a number or a sequence of {spatial} numbers, "
                            f"got scale_factor={scale_factor!r}")
        if any(not math.isfinite(f) or f <= 0 for f in factors):
            raise ValueError(f"{fn}: scale_factor must be positive and finite, got scale_factor={scale_factor!r}")
        out = tuple(math.floor(float(i * f)) for i, f in zip(in_size, factors))
        if any(o < 1 for o in out):
            raise ValueError(f"{fn}: input size {in_size} with scale_factor={scale_factor!r} gives output size "
                             f"{out}; each must be at least 1")
        if not recompute_scale_factor:
            scales = tuple(float(f) for f in factors)
    shortcut = backward or spatial == 2
    maps = []
    for i, o, factor in zip(in_size, out, scales):
        scale = np.float32(1.0 / factor) if factor is not None and factor > 0 else np.float32(i) / np.float32(o)
        j = np.arange(o, dtype=np.float32)
        if mode == "nearest" and shortcut and o in (i, 2 * i):
            src = np.arange(o, dtype=np.int64) // (o // i)
        elif mode == "nearest":
            src = np.floor(j * scale).astype(np.int64)
        else:
            src = np.floor((j + np.float32(0.5)) * scale).astype(np.int64)
        maps.append(np.minimum(src, i - 1))
    return out, maps


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize ``(N, C, *spatial)`` by copying the nearest input cell, as torch's ``interpolate``.

    Parameters
    ----------
    input : array ``(N, C, L)``, ``(N, C, H, W)`` or ``(N, C, D, H, W)``, float16/32/64
    size : int or tuple, the output spatial size (or give ``scale_factor``)
    scale_factor : float or tuple; the output size is ``floor(in * scale_factor)``
    mode : ``'nearest'`` (torch's default) or ``'nearest-exact'``
    align_corners : must be None (meaningless for the nearest modes, as in torch)
    recompute_scale_factor : bool; when true the scale is recomputed as ``in / out``
    antialias : must be False

    Examples
    --------
    >>> interpolate(np.arange(4.0).reshape(1, 1, 2, 2), scale_factor=2)[0, 0].tolist()
    [[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0], [2.0, 2.0, 3.0, 3.0]]
    """
    fn = "interpolate"
    x = as_array(input, fn=fn, name="input")
    check_dtype(x, fn, fn=fn)
    if antialias:
        raise ValueError(f"{fn}: antialias=True is only available for the bilinear and bicubic modes")
    out, maps = _plan(x.shape, size, scale_factor, mode, align_corners, recompute_scale_factor, fn)
    require_memory(fn, math.prod(x.shape[:2]) * math.prod(out) * x.itemsize, what="output")
    y = x
    for axis, index in enumerate(maps):
        y = np.take(y, index, axis=axis + 2)
    return np.ascontiguousarray(y)


def interpolate_backward(grad_output, input_shape, size=None, scale_factor=None, mode="nearest",
                         recompute_scale_factor=None):
    """Gradient of :func:`interpolate` with respect to its input: each copy's gradient summed back.

    >>> interpolate_backward(np.ones((1, 1, 4)), (1, 1, 2), scale_factor=2).tolist()
    [[[2.0, 2.0]]]
    """
    fn = "interpolate_backward"
    g = as_array(grad_output, fn=fn, name="grad_output")
    if not isinstance(input_shape, (tuple, list)) or not all(arithmetic._is_int(s) for s in input_shape):
        raise TypeError(f"{fn}: input_shape must be a tuple of ints, got {input_shape!r}")
    shape = tuple(int(s) for s in input_shape)
    out, maps = _plan(shape, size, scale_factor, mode, None, recompute_scale_factor, fn, backward=True)
    if g.shape != shape[:2] + tuple(out):
        raise ValueError(f"{fn}: grad_output must have the output shape {shape[:2] + tuple(out)}, got {g.shape}")
    work = g.astype(np.float32) if g.dtype == np.float16 else g
    for axis, index in enumerate(maps):
        moved = np.moveaxis(work, axis + 2, 0)
        total = np.zeros((shape[axis + 2],) + moved.shape[1:], dtype=work.dtype)
        np.add.at(total, index, moved)
        work = np.moveaxis(total, 0, axis + 2)
    return np.ascontiguousarray(work.astype(g.dtype))
