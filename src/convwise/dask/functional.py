"""Convolution and pooling on Dask arrays, with :mod:`convwise.functional`'s names and signatures.

Each op validates exactly as the in-memory op does (it runs it on a zero-sample probe of
the input's shape, so the messages are the same), then plans the tiles with
:mod:`convwise.dask._halo` and returns a lazy Dask array. Batch chunks are kept; spatial
chunks get halos and stride-aligned output boundaries; channels are gathered into one
chunk for convolutions (pooling keeps channel chunks). Results equal the in-memory
results for every stride, dilation, groups, padding and padding mode.

Extra keyword arguments, all keyword-only:

- ``padding_mode`` (convolutions): ``'zeros'`` (default), ``'reflect'``, ``'replicate'`` or
  ``'circular'``, as ``torch.nn.Conv2d``'s: applied at the array's outer edge only, with
  :func:`convwise.functional.pad`'s rules (``'circular'`` needs the whole axis in one tile).
- ``chunks``: wished output chunk size per spatial axis (an int or a tuple); by default
  each input chunk makes the outputs whose windows start in it, so the input is not
  rechunked. Tiles are merged where a chunk would be shorter than the halo.
- ``method``: the in-memory algorithm (``'auto'`` by default), as in ``convwise.functional``.

>>> import numpy as np, dask.array as da
>>> x = da.from_array(np.arange(64.0).reshape(1, 1, 8, 8), chunks=(1, 1, 3, 3))
>>> y = conv2d(x, np.ones((1, 1, 3, 3)), stride=2, padding=1)
>>> y.shape, y.chunks[2:]
((1, 1, 4, 4), ((2, 2), (2, 2)))
>>> bool(np.allclose(y.compute(), F.conv2d(x.compute(), np.ones((1, 1, 3, 3)), stride=2, padding=1)))
True
"""

from __future__ import annotations

import dask.array as da
import numpy as np

from .. import arithmetic
from .. import functional as F
from ..functional._args import as_float_array, to_batched
from ..functional.conv import conv_nd, conv_transpose_nd
from ._halo import LayerGeometry
from ._ops import AvgPoolOp, ConvOp, MaxPoolOp, TransposeOp
from ._tiling import plan_chain, run_chain

__all__ = [
    "as_dask",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "run_ops",
]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def as_dask(input, *, fn: str) -> da.Array:
    """A Dask array of ``input`` (NumPy arrays become one chunk), float32 or float64."""
    if isinstance(input, da.Array):
        x = input
    else:
        x = da.from_array(as_float_array(input, fn=fn, name="input"))
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{fn}: input must be float32 or float64, got dtype {x.dtype}")
    return x


def _batched(x: da.Array, spatial: int, fn: str) -> tuple[da.Array, bool]:
    return to_batched(x, spatial, fn=fn)  # type: ignore[arg-type,return-value]  # Dask arrays have ndim and [None]


def _probe(x: da.Array) -> np.ndarray:
    """A zero-sample NumPy stand-in for ``x``: the in-memory op validates it and gives the output shape."""
    return np.empty((0, *x.shape[1:]), dtype=x.dtype)


def output_chunks(chunks, spatial: int, fn: str) -> tuple[int | None, ...]:
    """``chunks=`` normalised: ``None`` per axis tiles by the input's chunks."""
    if chunks is None:
        return (None,) * spatial
    return arithmetic.ntuple(chunks, spatial, fn=fn, name="chunks", minimum=1)


def run_ops(x: da.Array, ops, unbatched: bool, chunks, *, fn: str) -> da.Array:
    """Plan and run ``ops`` over the batched ``x``; drop the batch axis again when the input had none."""
    spatial = x.ndim - 2
    chain = plan_chain(ops, x.shape, output_chunks(chunks, spatial, fn), x.chunks[2:], fn=fn)
    y = run_chain(x, chain, fn=fn)
    return y[0] if unbatched else y


def _weights(weight, bias):
    w = np.asarray(weight.compute() if isinstance(weight, da.Array) else weight)
    b = None if bias is None else np.asarray(bias.compute() if isinstance(bias, da.Array) else bias)
    return w, b


def _conv(input, weight, bias, stride, padding, dilation, groups, *, spatial, method, padding_mode, chunks, fn):
    x = as_dask(input, fn=fn)
    x, unbatched = _batched(x, spatial, fn)
    w, b = _weights(weight, bias)
    if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
        raise ValueError(f"{fn}: padding_mode must be one of {PADDING_MODES}, got padding_mode={padding_mode!r}")
    probe = _probe(x)
    conv_nd(probe, w, b, stride, padding, dilation, groups, spatial=spatial, method=method, fn=fn)
    pairs = arithmetic.resolve_padding(padding, w.shape[2:], stride, dilation, ndim=spatial, fn=fn)
    if padding_mode != "zeros":  # the same checks as F.pad(x, ..., mode) then a conv without padding
        F.pad(probe, tuple(v for pair in reversed(pairs) for v in pair), mode=padding_mode)
    geometry = LayerGeometry("conv", tuple(w.shape[2:]), arithmetic.ntuple(stride, spatial, fn=fn, name="stride"),
                             pairs, arithmetic.ntuple(dilation, spatial, fn=fn, name="dilation"),
                             padding_mode=padding_mode)
    op = ConvOp(geometry, np.ascontiguousarray(w), b, int(groups), method)
    return run_ops(x, [op], unbatched, chunks, fn=fn)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, method="auto",
           padding_mode="zeros", chunks=None):
    """1D cross-correlation of a Dask array, as :func:`convwise.functional.conv1d` (lazy)."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, spatial=1, method=method,
                 padding_mode=padding_mode, chunks=chunks, fn="conv1d")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, method="auto",
           padding_mode="zeros", chunks=None):
    """2D cross-correlation of a Dask array ``(N, C_in, H, W)``, as :func:`convwise.functional.conv2d` (lazy).

    Shape
    -----
    ``H_out = floor((H + 2*padding[0] - dilation[0]*(kH - 1) - 1) / stride[0]) + 1``, likewise ``W_out``.
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, spatial=2, method=method,
                 padding_mode=padding_mode, chunks=chunks, fn="conv2d")


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, method="auto",
           padding_mode="zeros", chunks=None):
    """3D cross-correlation of a Dask array, as :func:`convwise.functional.conv3d` (lazy)."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, spatial=3, method=method,
                 padding_mode=padding_mode, chunks=chunks, fn="conv3d")


def _transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, *, spatial, method, chunks,
               fn):
    x = as_dask(input, fn=fn)
    x, unbatched = _batched(x, spatial, fn)
    w, b = _weights(weight, bias)
    conv_transpose_nd(_probe(x), w, b, stride, padding, output_padding, groups, dilation, spatial=spatial,
                          method=method, fn=fn)
    g = arithmetic.conv_transpose_geometry(x.shape[2:], w.shape[2:], stride, padding, output_padding, dilation,
                                           fn=fn)
    geometry = LayerGeometry("transpose", g.kernel_size, g.stride, g.padding, g.dilation, g.output_padding)
    op = TransposeOp(geometry, np.ascontiguousarray(w), b, int(groups), method)
    return run_ops(x, [op], unbatched, chunks, fn=fn)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                     *, method="auto", chunks=None):
    """1D transposed convolution of a Dask array, as :func:`convwise.functional.conv_transpose1d` (lazy)."""
    return _transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, spatial=1,
                      method=method, chunks=chunks, fn="conv_transpose1d")


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                     *, method="auto", chunks=None):
    """2D transposed convolution of a Dask array, as :func:`convwise.functional.conv_transpose2d` (lazy).

    Shape
    -----
    ``H_out = (H - 1)*stride[0] - 2*padding[0] + dilation[0]*(kH - 1) + output_padding[0] + 1``.
    """
    return _transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, spatial=2,
                      method=method, chunks=chunks, fn="conv_transpose2d")


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                     *, method="auto", chunks=None):
    """3D transposed convolution of a Dask array, as :func:`convwise.functional.conv_transpose3d` (lazy)."""
    return _transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, spatial=3,
                      method=method, chunks=chunks, fn="conv_transpose3d")


def _pool_geometry(x: da.Array, kernel_size, stride, padding, dilation, ceil_mode, spatial: int, fn: str):
    g = arithmetic.pool_geometry(x.shape[2:], kernel_size, stride, padding, dilation, ceil_mode, fn=fn)
    return LayerGeometry("pool", g.kernel_size, g.stride, g.padding, g.dilation, ceil_mode=g.ceil_mode)


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, *, spatial, chunks, fn):
    x = as_dask(input, fn=fn)
    x, unbatched = _batched(x, spatial, fn)
    if return_indices:
        raise ValueError(f"{fn}: return_indices=True is not supported on Dask arrays (use convwise.functional "
                         f"on the in-memory array), got return_indices={return_indices!r}")
    getattr(F, f"max_pool{spatial}d")(_probe(x), kernel_size, stride, padding, dilation, ceil_mode)
    op = MaxPoolOp(_pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode, spatial, fn))
    return run_ops(x, [op], unbatched, chunks, fn=fn)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False,
               *, chunks=None):
    """1D max pooling of a Dask array, as :func:`convwise.functional.max_pool1d` (no indices)."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, spatial=1,
                     chunks=chunks, fn="max_pool1d")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False,
               *, chunks=None):
    """2D max pooling of a Dask array, as :func:`convwise.functional.max_pool2d` (no indices).

    Shape
    -----
    ``H_out = floor_or_ceil((H + 2*padding[0] - dilation[0]*(kernel_size[0] - 1) - 1) / stride[0]) + 1``.
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, spatial=2,
                     chunks=chunks, fn="max_pool2d")


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False,
               *, chunks=None):
    """3D max pooling of a Dask array, as :func:`convwise.functional.max_pool3d` (no indices)."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, spatial=3,
                     chunks=chunks, fn="max_pool3d")


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, *, spatial,
              chunks, fn):
    x = as_dask(input, fn=fn)
    x, unbatched = _batched(x, spatial, fn)
    args = (kernel_size, stride, padding, ceil_mode, count_include_pad)
    if spatial == 1:
        F.avg_pool1d(_probe(x), *args)
    else:
        getattr(F, f"avg_pool{spatial}d")(_probe(x), *args, divisor_override)
    op = AvgPoolOp(_pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode, spatial, fn),
                   bool(count_include_pad), None if divisor_override is None else int(divisor_override))
    return run_ops(x, [op], unbatched, chunks, fn=fn)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, *, chunks=None):
    """1D average pooling of a Dask array, as :func:`convwise.functional.avg_pool1d`."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, spatial=1,
                     chunks=chunks, fn="avg_pool1d")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, *, chunks=None):
    """2D average pooling of a Dask array, as :func:`convwise.functional.avg_pool2d`."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                     spatial=2, chunks=chunks, fn="avg_pool2d")


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, *, chunks=None):
    """3D average pooling of a Dask array, as :func:`convwise.functional.avg_pool3d`."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                     spatial=3, chunks=chunks, fn="avg_pool3d")
