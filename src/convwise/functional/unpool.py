"""``max_unpool1d/2d/3d``: the partial inverse of max pooling, as in torch.nn.functional.

Each input value is written to the cell its index names in a zero output plane (the
indices of :func:`~convwise.functional.max_pool2d` with ``return_indices=True``); every
other cell is 0. The default output size inverts the pooling shape,
``(in - 1) * stride - 2 * padding + kernel_size``; ``output_size`` picks another size
within ``stride`` of it (the sizes that pool back to ``in``). The gradient gathers the
output gradient at the indices.

>>> y, i = max_pool1d(np.array([[1.0, 5.0, 3.0, 2.0]]), 2, return_indices=True)
>>> max_unpool1d(y, i, 2).tolist()
[[0.0, 5.0, 3.0, 0.0]]
"""

from __future__ import annotations

import math

import numpy as np

from .. import arithmetic
from .._guard import require_memory
from ._dtypes import as_array, check_dtype
from .pooling import max_pool1d, max_pool2d  # noqa: F401  (doctests)

__all__ = ["max_unpool1d", "max_unpool2d", "max_unpool3d", "max_unpool_nd", "max_unpool_nd_backward",
           "unpool_output_size"]


def unpool_output_size(input_size, kernel_size, stride=None, padding=0, output_size=None, *,
                       fn: str = "max_unpool") -> tuple[int, ...]:
    """torch's ``_unpool_output_size``: the default size, or ``output_size`` checked against it.

    >>> unpool_output_size((3,), 2), unpool_output_size((3,), 2, output_size=(7,))
    ((6,), (7,))
    """
    n = len(input_size)
    kernel = arithmetic.ntuple(kernel_size, n, fn=fn, name="kernel_size", minimum=1)
    strides = kernel if stride is None else arithmetic.ntuple(stride, n, fn=fn, name="stride", minimum=1)
    pads = arithmetic.ntuple(padding, n, fn=fn, name="padding", minimum=0)
    default = tuple((i - 1) * s + k - 2 * p for i, s, k, p in zip(input_size, strides, kernel, pads))
    if output_size is None:
        result = default
    else:
        if not isinstance(output_size, (tuple, list)) or not all(arithmetic._is_int(v) for v in output_size):
            raise TypeError(f"{fn}: output_size must be a sequence of ints, got {output_size!r}")
        sizes = tuple(int(v) for v in output_size)
        if len(sizes) == n + 2:
            sizes = sizes[2:]
        if len(sizes) != n:
            raise ValueError(f"{fn}: output_size should be a sequence containing {n} or {n + 2} elements, "
                             f"but it has a length of {len(sizes)}")
        for d, (size, base, s) in enumerate(zip(sizes, default, strides)):
            if not base - s < size < base + s:
                raise ValueError(f"{fn}: invalid output_size {sizes} (dim {d} must be between {base - s} and "
                                 f"{base + s}, exclusive)")
        result = sizes
    if any(size < 1 for size in result):
        raise ValueError(f"{fn}: output size {result} must be positive (input size {tuple(input_size)}, "
                         f"kernel_size={kernel}, stride={strides}, padding={pads})")
    return result


def _arrays(input, indices, spatial: int, fn: str):
    x = as_array(input, fn=fn, name="input")
    check_dtype(x, fn if fn[-2:] in ("1d", "2d", "3d") else "max_unpool2d", fn=fn)
    idx = np.asarray(indices)
    if idx.dtype != np.int64:
        raise TypeError(f"{fn}: indices must be int64 (from max pooling with return_indices=True), "
                        f"got dtype {idx.dtype}")
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{fn}: expected a {spatial + 1}D (unbatched) or {spatial + 2}D (batched) input, "
                         f"got {x.ndim}D input of shape {x.shape}")
    if idx.shape != x.shape:
        raise ValueError(f"{fn}: indices must have the input's shape {x.shape}, got {idx.shape}")
    unbatched = x.ndim == spatial + 1
    if unbatched:
        x, idx = x[None], idx[None]
    if any(s == 0 for s in x.shape[1:]):
        raise ValueError(f"{fn}: input must have non-zero channel and spatial sizes, got shape {x.shape}")
    return x, idx, unbatched


def _flat_indices(idx: np.ndarray, plane: int, fn: str) -> np.ndarray:
    """Positions of every index in the flattened ``(N * C, plane)`` output (ValueError if out of range)."""
    rows = idx.shape[0] * idx.shape[1]
    flat = idx.reshape(rows, -1)
    if flat.size and (flat.min() < 0 or flat.max() >= plane):
        bad = flat[(flat < 0) | (flat >= plane)][0]
        raise ValueError(f"{fn}: found an invalid max index {bad} (output plane of {plane} cells)")
    return (flat + (np.arange(rows, dtype=np.int64) * plane)[:, None]).reshape(-1)


def max_unpool_nd(input, indices, kernel_size, stride=None, padding=0, output_size=None, *, spatial: int,
                  fn: str = "max_unpool"):
    """N-dimensional max unpooling; ``max_unpool1d/2d/3d`` fix ``spatial``."""
    x, idx, unbatched = _arrays(input, indices, spatial, fn)
    size = unpool_output_size(x.shape[2:], kernel_size, stride, padding, output_size, fn=fn)
    plane = math.prod(size)
    n, c = x.shape[:2]
    require_memory(fn, n * c * plane * x.itemsize, what="output")
    y = np.zeros(n * c * plane, dtype=x.dtype)
    y[_flat_indices(idx, plane, fn)] = x.reshape(-1)
    y = y.reshape((n, c) + size)
    return y[0] if unbatched else y


def max_unpool_nd_backward(grad_output, input, indices, kernel_size, stride=None, padding=0, output_size=None, *,
                           spatial: int, fn: str = "max_unpool_backward"):
    """Gradient of :func:`max_unpool_nd`: the output gradient read back at the indices.

    >>> max_unpool_nd_backward(np.arange(4.0)[None], np.zeros((1, 2)), np.array([[1, 2]]), 2, spatial=1).tolist()
    [[1.0, 2.0]]
    """
    x, idx, unbatched = _arrays(input, indices, spatial, fn)
    size = unpool_output_size(x.shape[2:], kernel_size, stride, padding, output_size, fn=fn)
    g = as_array(grad_output, fn=fn, name="grad_output")
    expected = x.shape[:2] + size
    if g.shape != (expected[1:] if unbatched else expected):
        raise ValueError(f"{fn}: grad_output must have the forward output's shape "
                         f"{expected[1:] if unbatched else expected}, got {g.shape}")
    grad = g.reshape(-1)[_flat_indices(idx, math.prod(size), fn)].reshape(x.shape)
    return grad[0] if unbatched else grad


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """1D max unpooling, as ``torch.nn.functional.max_unpool1d``.

    Parameters
    ----------
    input : array ``(N, C, L)`` or ``(C, L)``, float16/32/64 (max-pooled values)
    indices : int64 array of the same shape, flat positions in each output row
    kernel_size, stride, padding : the max pooling's (``stride`` defaults to ``kernel_size``)
    output_size : optional ``(L_out,)`` or ``(N, C, L_out)``, within ``stride`` of the default

    Shape
    -----
    ``L_out = (L - 1) * stride - 2 * padding + kernel_size`` unless ``output_size`` is given.
    """
    return max_unpool_nd(input, indices, kernel_size, stride, padding, output_size, spatial=1, fn="max_unpool1d")


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """2D max unpooling, as ``torch.nn.functional.max_unpool2d``; see :func:`max_unpool1d`.

    >>> y, i = max_pool2d(np.arange(16.0).reshape(1, 4, 4), 2, return_indices=True)
    >>> max_unpool2d(y, i, 2)[0].tolist()
    [[0.0, 0.0, 0.0, 0.0], [0.0, 5.0, 0.0, 7.0], [0.0, 0.0, 0.0, 0.0], [0.0, 13.0, 0.0, 15.0]]
    """
    return max_unpool_nd(input, indices, kernel_size, stride, padding, output_size, spatial=2, fn="max_unpool2d")


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """3D max unpooling, as ``torch.nn.functional.max_unpool3d``; see :func:`max_unpool1d`."""
    return max_unpool_nd(input, indices, kernel_size, stride, padding, output_size, spatial=3, fn="max_unpool3d")
