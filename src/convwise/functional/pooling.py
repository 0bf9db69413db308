"""Max, average and adaptive pooling with torch.nn.functional's names and semantics.

Pooling is the convolution's windowing followed by a different reduction over the
padded input; the loops below run over kernel taps (or adaptive bins), never over
output positions. Max and average pooling run over chunks of planes small enough to stay
in cache; each chunk is rearranged into stride
phases so that every tap is one long contiguous ufunc operand (:class:`_Layout`).

Max pooling follows PyTorch's scan exactly: taps are visited in row-major order and a
tap replaces the running maximum when it is strictly greater *or NaN*, so ties go to the
first maximum and a NaN window reports its last NaN. Indices are flat positions in each
unpadded input plane (``int64``). Padding cells never win.

Average pooling divides by PyTorch's divisor: the window clipped to the padded input
(``count_include_pad=True``), or to the input itself (``False``), or
``divisor_override``. With ``ceil_mode`` the last window may run past the padded input;
those cells count for neither divisor.
"""

from __future__ import annotations

import math

import numpy as np

from .. import arithmetic
from ..algorithms.direct import tap_window
from ..kernels import pooling as _compiled
from ._args import as_float_array, check_spatial_nonempty, from_batched, to_batched

__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d",
    "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "max_pool_nd", "avg_pool_nd", "adaptive_avg_pool_nd", "adaptive_max_pool_nd",
    "max_pool_nd_backward", "avg_pool_nd_backward", "adaptive_avg_pool_nd_backward",
    "adaptive_max_pool_nd_backward",
]

# NaN and Inf propagate through pooling as in torch; NumPy must not warn about them.
_quiet = dict(invalid="ignore", over="ignore", divide="ignore")


# --------------------------------------------------------------------------- shared helpers


def _input(input, spatial: int, fn: str) -> tuple[np.ndarray, bool]:
    x = as_float_array(input, fn=fn, name="input")
    x, unbatched = to_batched(x, spatial, fn=fn)
    check_spatial_nonempty(x, fn=fn)
    return x, unbatched


def _grad(grad_output, x: np.ndarray, unbatched: bool, output_size: tuple[int, ...], fn: str) -> np.ndarray:
    """Validate ``grad_output`` against the forward output shape; return it batched."""
    g = as_float_array(grad_output, fn=fn, name="grad_output")
    if g.dtype != x.dtype:
        raise TypeError(f"{fn}: input ({x.dtype}) and grad_output ({g.dtype}) must have the same dtype")
    expected = x.shape[:2] + tuple(output_size)
    if g.shape != (expected[1:] if unbatched else expected):
        shown = expected[1:] if unbatched else expected
        raise ValueError(f"{fn}: grad_output must have the forward output's shape {shown}, got {g.shape}")
    return g[None] if unbatched else g


def _indices(indices, g: np.ndarray, unbatched: bool, fn: str) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{fn}: indices must be an integer array (int64 from the forward pass), got dtype {idx.dtype}")
    if unbatched:
        idx = idx[None]
    if idx.shape != g.shape:
        raise ValueError(f"{fn}: indices must have grad_output's shape {g.shape[1 if unbatched else 0:]}, "
                         f"got {idx.shape[1 if unbatched else 0:]}")
    return idx


def _padded(x: np.ndarray, geometry: arithmetic.PoolGeometry, fill: float) -> np.ndarray:
    """``x`` padded by ``padding`` low and, high, far enough for every (ceil-mode) window."""
    pairs = []
    for i, (lo, _hi), o, s, k_eff in zip(geometry.input_size, geometry.padding, geometry.output_size,
                                        geometry.stride, geometry.effective_kernel):
        pairs.append((lo, max(0, (o - 1) * s + k_eff - i - lo)))
    if not any(lo or hi for lo, hi in pairs):
        return x
    return np.pad(x, ((0, 0), (0, 0), *pairs), constant_values=fill)


def _flat(coordinates: list[np.ndarray], input_size: tuple[int, ...]) -> np.ndarray:
    """Flat plane index of per-dimension coordinate vectors, broadcast over the output grid."""
    d = len(coordinates)
    flat = np.zeros((1,) * d, dtype=np.int64)
    for axis, (c, i) in enumerate(zip(coordinates, input_size)):
        flat = flat * i + c.reshape((1,) * axis + (-1,) + (1,) * (d - axis - 1))
    return flat


def _keep_max(best: np.ndarray, index: np.ndarray, value: np.ndarray, tap_index: np.ndarray,
              valid: np.ndarray | None = None) -> None:
    """PyTorch's running-max step: take ``value`` where it is greater than ``best`` or NaN."""
    update = (value > best) | np.isnan(value)
    if valid is not None:
        update &= valid
    np.copyto(best, value, where=update)
    np.copyto(index, tap_index, where=update)


def _scatter(grad: np.ndarray, indices: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """Add each output gradient into the input cell its index names (overlaps accumulate)."""
    n, c = input_shape[:2]
    plane = math.prod(input_shape[2:])
    per_plane = math.prod(indices.shape[2:])
    idx = indices.reshape(n * c, per_plane).astype(np.int64)
    flat = idx + (np.arange(n * c, dtype=np.int64) * plane)[:, None]
    weights = grad.reshape(n * c, per_plane)
    if idx.size and (idx.min() < 0 or idx.max() >= plane):
        valid = (idx >= 0) & (idx < plane)      # torch may report an out-of-plane index for an all-padding window
        flat, weights = flat[valid], weights[valid]
    total = np.bincount(flat.reshape(-1), weights=weights.reshape(-1), minlength=n * c * plane)
    return total.astype(grad.dtype).reshape(input_shape)


# --------------------------------------------------------------------------- phase layout (fast paths)

# Scratch per chunk of planes: small enough to stay in a core's cache.
_CHUNK_BYTES = 1 << 19


class _Layout:
    """The padded input split into stride phases, so every kernel tap is one contiguous slice.

    Along a dimension with stride ``s``, padded coordinate ``u`` lives in phase ``u % s``
    at position ``u // s``. Tap ``t`` of output ``j`` reads ``u = j*s + t*d``: phase
    ``(t*d) % s``, position ``j + (t*d) // s``. Every phase array is laid out with the
    same shape ``qshape`` (padding cells hold ``fill``), and the running result uses
    that shape's strides with only the output's extent in the first dimension, so tap
    ``t`` of *all* outputs is the flat slice ``[offset_t, offset_t + length)`` of its
    phase: one long contiguous operand for every ufunc call. Columns past the output
    (and rows, in 3D) are scratch and cropped at the end.
    """

    def __init__(self, geometry: arithmetic.PoolGeometry):
        self.geometry = geometry
        dims = list(zip(geometry.input_size, geometry.output_size, geometry.kernel_size, geometry.stride,
                        geometry.dilation, (lo for lo, _ in geometry.padding)))
        shift = [max(t * d // s for t in range(k)) for _i, _o, k, s, d, _lo in dims]
        qshape = [o + a for (_i, o, *_rest), a in zip(dims, shift)]
        qshape[0] += 1                  # room for the last output's reads past its row end
        self.qshape = tuple(qshape)
        self.qsize = math.prod(qshape)
        self.out_shape = (geometry.output_size[0],) + self.qshape[1:]
        self.length = math.prod(self.out_shape)
        qstrides = [math.prod(qshape[axis + 1:]) for axis in range(len(qshape))]
        phases = {}
        self.taps = []                  # (phase slot, flat offset) in torch's row-major scan order
        for tap in np.ndindex(*geometry.kernel_size):
            phase = tuple(t * d % s for t, (_i, _o, _k, s, d, _lo) in zip(tap, dims))
            offset = sum(t * d // s * q for t, (_i, _o, _k, s, d, _lo), q in zip(tap, dims, qstrides))
            self.taps.append((phases.setdefault(phase, len(phases)), offset))
        # per phase and dimension: (q_start, q_stop, x_start) with q <-> x = x_start + (q - q_start) * s
        self.copies = []
        for phase in phases:
            plan = []
            for r, (i, _o, _k, s, _d, lo), q in zip(phase, dims, qshape):
                q0 = max(0, -((r - lo) // s))
                q1 = min(q, -(-(i + lo - r) // s))
                plan.append((q0, max(q0, q1), q0 * s + r - lo))
            self.copies.append(plan)

    def phases(self, x: np.ndarray, fill: float) -> np.ndarray:
        """``(phases, planes, qsize)`` scratch for ``x`` of shape ``(planes, *input_size)``."""
        planes = x.shape[0]
        q = np.empty((len(self.copies), planes) + self.qshape, dtype=x.dtype)
        for slot, plan in enumerate(self.copies):
            target = q[slot]
            for axis, (q0, q1, _x0) in enumerate(plan):   # padding slabs around the copied box
                lead = (slice(None),) * (axis + 1)
                if q0:
                    target[lead + (slice(0, q0),)] = fill
                if q1 < self.qshape[axis]:
                    target[lead + (slice(q1, None),)] = fill
            if all(q1 > q0 for q0, q1, _x0 in plan):
                box = tuple(slice(q0, q1) for q0, q1, _x0 in plan)
                src = tuple(slice(x0, x0 + (q1 - q0 - 1) * s + 1, s)
                            for (q0, q1, x0), s in zip(plan, self.geometry.stride))
                np.copyto(target[(slice(None),) + box], x[(slice(None),) + src])
        return q.reshape(len(self.copies), planes * self.qsize)

    def span(self, planes: int) -> int:
        """Flat extent of the running result for ``planes`` consecutive planes (each ``qsize`` apart)."""
        return (planes - 1) * self.qsize + self.length if planes else 0

    def crop(self, flat: np.ndarray, planes: int) -> np.ndarray:
        """The outputs proper of a flat ``planes * qsize`` result in this layout."""
        view = flat.reshape((planes, self.qsize))[:, :self.length].reshape((planes,) + self.out_shape)
        return view[(slice(None),) + tuple(slice(0, o) for o in self.geometry.output_size)]


def _chunked(work, planes: int, bytes_per_plane: int) -> None:
    """Call ``work(slice)`` over cache-sized chunks of planes, in order.

    One thread: each chunk is many short NumPy calls, and two Python threads taking turns
    at the GIL between them measured 3.5x slower than one on an idle 2-core machine.
    """
    step = max(1, min(planes, _CHUNK_BYTES // max(bytes_per_plane, 1)))
    for start in range(0, planes, step):
        work(slice(start, min(start + step, planes)))


# --------------------------------------------------------------------------- max pooling


def _first_taps(geometry: arithmetic.PoolGeometry) -> np.ndarray:
    """torch's starting tap per output: the first at or after input coordinate 0 in every dimension,
    as a row-major tap number broadcast over the output grid."""
    d = geometry.ndim
    number = np.zeros((1,) * d, dtype=np.int64)
    for axis, (o, k, s, dil, (lo, _)) in enumerate(zip(geometry.output_size, geometry.kernel_size, geometry.stride,
                                                      geometry.dilation, geometry.padding)):
        start = np.arange(o, dtype=np.int64) * s - lo
        first = np.where(start < 0, -(start // dil), 0)
        number = number * k + first.reshape((1,) * axis + (-1,) + (1,) * (d - axis - 1))
    return number


def _max_pool_fast(x: np.ndarray, geometry: arithmetic.PoolGeometry, with_indices: bool):
    """Max pooling over chunks of planes in the phase layout (see :class:`_Layout`).

    torch's scan (row-major taps, replace when strictly greater or NaN) with branch-free
    ufuncs: per tap ``greater`` gives the update mask, ``maximum`` the running value
    (ties keep the running, earlier value, so signed zeros match torch too) and the
    winning tap number is the largest flagged one (updates come in increasing tap
    order). Tap numbers become flat input indices once per chunk. A chunk holding NaN
    (``dot(x, x)`` is NaN exactly when some element is) takes the exact step instead:
    ``| isnan`` in the mask and masked copies of the value. Without indices the value is
    a plain ``maximum`` fold, which propagates NaN by itself.
    """
    n, c = x.shape[:2]
    planes = n * c
    layout = _Layout(geometry)
    xs = x.reshape((planes,) + geometry.input_size)
    y = np.empty((planes,) + geometry.output_size, dtype=x.dtype)
    ntaps = len(layout.taps)
    tap_type = np.int8 if ntaps <= 127 else np.int16 if ntaps <= 32767 else np.int32
    if with_indices:
        index = np.empty((planes,) + geometry.output_size, dtype=np.int64)
        init = np.zeros(layout.out_shape, dtype=tap_type)
        init[tuple(slice(0, o) for o in geometry.output_size)] = _first_taps(geometry)
        init = init.reshape(-1)                 # torch's starting tap; every later winner has a larger number
        plane_strides = [math.prod(geometry.input_size[axis + 1:]) for axis in range(geometry.ndim)]
        lut = np.array([sum(t * d * q for t, d, q in zip(tap, geometry.dilation, plane_strides))
                        for tap in np.ndindex(*geometry.kernel_size)], dtype=np.int64)
        starts = [np.arange(o, dtype=np.int64) * s - lo
                  for o, s, (lo, _) in zip(geometry.output_size, geometry.stride, geometry.padding)]
        base = _flat(starts, geometry.input_size)

    def work(chunk: slice) -> None:
        xc = xs[chunk]
        p = xc.shape[0]
        q = layout.phases(xc, -np.inf)
        span = layout.span(p)
        best = np.empty(p * layout.qsize, dtype=x.dtype)
        run = best[:span]
        slot, offset = layout.taps[0]
        if not with_indices:
            np.copyto(run, q[slot, offset:offset + span])
            for slot, offset in layout.taps[1:]:
                np.maximum(q[slot, offset:offset + span], run, out=run)
            y[chunk] = layout.crop(best, p)
            return
        flat = xc.reshape(-1)
        exact = bool(np.isnan(np.dot(flat, flat))) if flat.size else False
        taps = np.empty(p * layout.qsize, dtype=tap_type)
        taps.reshape(p, -1)[:, :layout.length] = init
        won = taps[:span]
        run.fill(-np.inf)
        update = np.empty(span, dtype=bool)
        number_if = np.empty(span, dtype=tap_type)
        nan = np.empty(span, dtype=bool) if exact else None
        for number, (slot, offset) in enumerate(layout.taps):
            value = q[slot, offset:offset + span]
            np.greater(value, run, out=update)
            if exact:                                   # torch: NaN always replaces the running maximum
                np.logical_or(update, np.isnan(value, out=nan), out=update)
                np.copyto(run, value, where=update)
            else:                                       # branch-free; ties keep the earlier (running) value
                np.maximum(value, run, out=run)
            # updates come in increasing tap order, so the last one is the largest flagged number
            np.multiply(update, tap_type(number), out=number_if)
            np.maximum(won, number_if, out=won)
        y[chunk] = layout.crop(best, p)
        np.add(base, np.take(lut, layout.crop(taps, p)), out=index[chunk])

    with np.errstate(**_quiet):
        _chunked(work, planes, _bytes_per_plane(layout, x.dtype, with_indices))
    y = y.reshape((n, c) + geometry.output_size)
    return y, (index.reshape(y.shape) if with_indices else None)


def _bytes_per_plane(layout: _Layout, dtype, with_indices: bool) -> int:
    item = np.dtype(dtype).itemsize
    scratch = len(layout.copies) * layout.qsize * item + layout.length * item
    if with_indices:
        scratch += layout.length * 3
    return scratch + math.prod(layout.geometry.input_size) * item


def max_pool_nd(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False,
                *, spatial: int, fn: str = "max_pool"):
    """N-dimensional max pooling; ``max_pool1d``/``2d``/``3d`` fix ``spatial``."""
    x, unbatched = _input(input, spatial, fn)
    geometry = arithmetic.pool_geometry(x.shape[2:], kernel_size, stride, padding, dilation, ceil_mode, fn=fn)
    compiled = _compiled.max_pool(x, geometry, bool(return_indices))       # issue 11: numba kernel once loaded
    y, indices = compiled if compiled is not None else _max_pool_fast(x, geometry, bool(return_indices))
    y = from_batched(y, unbatched)
    return (y, from_batched(indices, unbatched)) if return_indices else y


def max_pool_nd_backward(grad_output, input, indices, kernel_size, stride, padding, dilation, ceil_mode,
                         *, spatial: int, fn: str = "max_pool_backward"):
    """Gradient of max pooling with respect to its input.

    Each output gradient is added to the input cell its index names; cells chosen by
    several overlapping windows accumulate, cells never chosen get zero.

    >>> x = np.array([[[1., 3., 2., 0.]]])
    >>> y, i = max_pool1d(x, 2, stride=1, return_indices=True)
    >>> max_pool_nd_backward(np.ones_like(y), x, i, 2, 1, 0, 1, False, spatial=1).tolist()
    [[[0.0, 2.0, 1.0, 0.0]]]
    """
    x, unbatched = _input(input, spatial, fn)
    geometry = arithmetic.pool_geometry(x.shape[2:], kernel_size, stride, padding, dilation, ceil_mode, fn=fn)
    g = _grad(grad_output, x, unbatched, geometry.output_size, fn)
    idx = _indices(indices, g, unbatched, fn)
    return from_batched(_scatter(g, idx, x.shape), unbatched)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1D max pooling over ``(N, C, L)`` or ``(C, L)`` input, as ``torch.nn.functional.max_pool1d``.

    Parameters
    ----------
    input : array ``(N, C, L)`` or ``(C, L)``, float32 or float64
    kernel_size : int
    stride : int, default ``kernel_size``
    padding : int, at most ``kernel_size // 2``; padding cells never win
    dilation : int
    ceil_mode : bool, round the output size up (a last, partial window)
    return_indices : bool, also return the int64 index of each maximum in its input row

    Shape
    -----
    ``L_out = floor_or_ceil((L + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``;
    with ``ceil_mode`` minus one if the last window would start in the right padding.

    Examples
    --------
    >>> y, i = max_pool1d(np.array([[1., 3., 3., 0., 5.]]), 2, ceil_mode=True, return_indices=True)
    >>> y.tolist(), i.tolist()
    ([[3.0, 3.0, 5.0]], [[1, 2, 4]])
    """
    return max_pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, spatial=1,
                       fn="max_pool1d")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2D max pooling, as ``torch.nn.functional.max_pool2d``.

    Parameters
    ----------
    input : array ``(N, C, H, W)`` or ``(C, H, W)``, float32 or float64
    kernel_size : int or (int, int)
    stride : int or (int, int), default ``kernel_size``
    padding : int or (int, int), at most half the kernel size
    dilation : int or (int, int)
    ceil_mode : bool
    return_indices : bool, also return int64 indices into each ``H * W`` input plane

    Shape
    -----
    ``H_out = floor_or_ceil((H + 2*padding[0] - dilation[0]*(kH - 1) - 1) / stride[0]) + 1``, likewise
    ``W_out``.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 4, 4)
    >>> y, i = max_pool2d(x, 2, return_indices=True)
    >>> y.tolist(), i.tolist()
    ([[[5.0, 7.0], [13.0, 15.0]]], [[[5, 7], [13, 15]]])
    """
    return max_pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, spatial=2,
                       fn="max_pool2d")


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """3D max pooling over ``(N, C, D, H, W)`` or ``(C, D, H, W)``, as ``torch.nn.functional.max_pool3d``.

    Shape
    -----
    Per dimension ``out = floor_or_ceil((in + 2*padding - dilation*(k - 1) - 1) / stride) + 1``.

    Examples
    --------
    >>> max_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), 2).tolist()
    [[[[7.0]]]]
    """
    return max_pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, spatial=3,
                       fn="max_pool3d")


# --------------------------------------------------------------------------- average pooling


def _divisor(geometry: arithmetic.PoolGeometry, count_include_pad: bool, divisor_override, dtype) -> np.ndarray:
    """PyTorch's divisor for every output position (0 marks an empty window)."""
    d = geometry.ndim
    divisor = np.ones((1,) * d, dtype=np.int64)
    empty = np.zeros((1,) * d, dtype=bool)
    for axis, (i, k, s, (p, _), o) in enumerate(zip(geometry.input_size, geometry.kernel_size, geometry.stride,
                                                    geometry.padding, geometry.output_size)):
        start = np.arange(o, dtype=np.int64) * s - p
        end = np.minimum(start + k, i + p)                      # clipped to the padded input
        inside = np.minimum(end, i) - np.maximum(start, 0)      # cells of the input itself
        shape = (1,) * axis + (-1,) + (1,) * (d - axis - 1)
        divisor = divisor * ((end - start) if count_include_pad else inside).reshape(shape)
        empty = empty | (inside <= 0).reshape(shape)
    if divisor_override is not None:
        divisor = np.full(divisor.shape, divisor_override, dtype=np.int64)
    return np.where(empty, 0, divisor).astype(dtype)


def _check_divisor(divisor_override, fn: str):
    if divisor_override is None:
        return None
    if isinstance(divisor_override, bool) or not isinstance(divisor_override, (int, np.integer)):
        raise TypeError(f"{fn}: divisor_override must be an int or None, got {divisor_override!r}")
    if divisor_override == 0:
        raise ValueError(f"{fn}: divisor_override must be non-zero, got divisor_override={divisor_override}")
    return int(divisor_override)


def _avg_setup(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, fn):
    geometry = arithmetic.pool_geometry(x.shape[2:], kernel_size, stride, padding, 1, ceil_mode, fn=fn)
    if not isinstance(count_include_pad, (bool, np.bool_)):
        raise TypeError(f"{fn}: count_include_pad must be a bool, got {count_include_pad!r}")
    override = _check_divisor(divisor_override, fn)
    return geometry, _divisor(geometry, bool(count_include_pad), override, x.dtype)


def avg_pool_nd(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                divisor_override=None, *, spatial: int, fn: str = "avg_pool"):
    """N-dimensional average pooling; ``avg_pool1d``/``2d``/``3d`` fix ``spatial``."""
    x, unbatched = _input(input, spatial, fn)
    geometry, divisor = _avg_setup(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                   divisor_override, fn)
    compiled = _compiled.avg_pool(x, geometry, bool(count_include_pad), divisor_override)  # issue 11: numba
    if compiled is not None:
        return from_batched(compiled, unbatched)
    n, c = x.shape[:2]
    planes = n * c
    layout = _Layout(geometry)
    xs = x.reshape((planes,) + geometry.input_size)
    y = np.empty((planes,) + geometry.output_size, dtype=x.dtype)
    divisor = np.where(divisor == 0, 1, divisor)      # an empty window sums to 0 and stays 0

    def work(chunk: slice) -> None:
        xc = xs[chunk]
        p = xc.shape[0]
        q = layout.phases(xc, 0.0)
        span = layout.span(p)
        total = np.empty(p * layout.qsize, dtype=x.dtype)
        run = total[:span]
        slot, offset = layout.taps[0]
        np.copyto(run, q[slot, offset:offset + span])
        for slot, offset in layout.taps[1:]:
            np.add(run, q[slot, offset:offset + span], out=run)
        np.divide(layout.crop(total, p), divisor, out=y[chunk])

    with np.errstate(**_quiet):
        _chunked(work, planes, _bytes_per_plane(layout, x.dtype, False))
    return from_batched(y.reshape((n, c) + geometry.output_size), unbatched)


def avg_pool_nd_backward(grad_output, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                         divisor_override, *, spatial: int, fn: str = "avg_pool_backward"):
    """Gradient of average pooling with respect to its input.

    Each output gradient, divided by its window's divisor, is spread over the window's
    input cells (padding cells take their share and drop it).

    >>> avg_pool_nd_backward(np.ones((1, 1, 2)), np.zeros((1, 1, 3)), 2, 1, 0, False, True, None,
    ...                      spatial=1).tolist()
    [[[0.5, 1.0, 0.5]]]
    """
    x, unbatched = _input(input, spatial, fn)
    geometry, divisor = _avg_setup(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                   divisor_override, fn)
    g = _grad(grad_output, x, unbatched, geometry.output_size, fn)
    with np.errstate(**_quiet):
        share = np.divide(g, divisor, out=np.zeros_like(g), where=divisor != 0)
    padded_size = _padded(np.empty((1, 1) + geometry.input_size, dtype=np.int8), geometry, 0).shape[2:]
    buffer = np.zeros(x.shape[:2] + padded_size, dtype=x.dtype)
    for tap in np.ndindex(*geometry.kernel_size):
        buffer[(Ellipsis,) + tap_window(tap, geometry)] += share
    crop = tuple(slice(lo, lo + i) for (lo, _), i in zip(geometry.padding, geometry.input_size))
    return from_batched(np.ascontiguousarray(buffer[(Ellipsis,) + crop]), unbatched)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1D average pooling, as ``torch.nn.functional.avg_pool1d``.

    Parameters
    ----------
    input : array ``(N, C, L)`` or ``(C, L)``, float32 or float64
    kernel_size : int
    stride : int, default ``kernel_size``
    padding : int, zero padding of at most ``kernel_size // 2``
    ceil_mode : bool
    count_include_pad : bool, whether padding cells count in the divisor

    Shape
    -----
    ``L_out = floor_or_ceil((L + 2*padding - kernel_size) / stride) + 1``.

    Examples
    --------
    >>> x = np.array([[1., 2., 3., 4., 5.]])
    >>> avg_pool1d(x, 2, ceil_mode=True).tolist()
    [[1.5, 3.5, 5.0]]
    >>> avg_pool1d(x, 3, stride=2, padding=1, count_include_pad=False).tolist()
    [[1.5, 3.0, 4.5]]
    """
    return avg_pool_nd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, spatial=1,
                       fn="avg_pool1d")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2D average pooling, as ``torch.nn.functional.avg_pool2d``.

    Parameters
    ----------
    input : array ``(N, C, H, W)`` or ``(C, H, W)``, float32 or float64
    kernel_size, stride, padding : int or (int, int); stride defaults to ``kernel_size``
    ceil_mode : bool
    count_include_pad : bool
    divisor_override : int, optional, used instead of the window size

    Shape
    -----
    ``H_out = floor_or_ceil((H + 2*padding[0] - kH) / stride[0]) + 1``, likewise ``W_out``.

    Examples
    --------
    >>> avg_pool2d(np.arange(16.0).reshape(1, 4, 4), 2).tolist()
    [[[2.5, 4.5], [10.5, 12.5]]]
    >>> avg_pool2d(np.ones((1, 2, 2)), 2, divisor_override=1).tolist()
    [[[4.0]]]
    """
    return avg_pool_nd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                       spatial=2, fn="avg_pool2d")


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """3D average pooling over ``(N, C, D, H, W)`` or ``(C, D, H, W)``, as ``torch.nn.functional.avg_pool3d``.

    Shape
    -----
    Per dimension ``out = floor_or_ceil((in + 2*padding - k) / stride) + 1``.

    Examples
    --------
    >>> avg_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), 2).tolist()
    [[[[3.5]]]]
    """
    return avg_pool_nd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                       spatial=3, fn="avg_pool3d")


# --------------------------------------------------------------------------- adaptive pooling


def _bins(x: np.ndarray, output_size, spatial: int, fn: str):
    """Per-dimension ``(start, end)`` windows of adaptive pooling (``None`` keeps a size)."""
    if output_size is None or not (arithmetic._is_int(output_size) or isinstance(output_size, (tuple, list))):
        raise TypeError(f"{fn}: output_size must be an int or a tuple of {spatial} ints (or None entries), "
                        f"got {type(output_size).__name__} {output_size!r}")
    return arithmetic.adaptive_windows(x.shape[2:], output_size, fn=fn)


def adaptive_avg_pool_nd(input, output_size, *, spatial: int, fn: str = "adaptive_avg_pool"):
    """N-dimensional adaptive average pooling (separable: one mean per dimension)."""
    x, unbatched = _input(input, spatial, fn)
    y = x
    with np.errstate(**_quiet):
        for axis, bins in enumerate(_bins(x, output_size, spatial, fn), start=2):
            shape = list(y.shape)
            shape[axis] = len(bins)
            reduced = np.empty(shape, dtype=x.dtype)
            for j, (start, end) in enumerate(bins):
                lead = (slice(None),) * axis
                reduced[lead + (j,)] = y[lead + (slice(start, end),)].sum(axis=axis) / (end - start)
            y = reduced
    return from_batched(y, unbatched)


def adaptive_avg_pool_nd_backward(grad_output, input, *, spatial: int, fn: str = "adaptive_avg_pool_backward"):
    """Gradient of adaptive average pooling: each bin's gradient spread evenly over its window.

    >>> adaptive_avg_pool_nd_backward(np.ones((1, 2)), np.zeros((1, 3)), spatial=1).tolist()
    [[0.5, 1.0, 0.5]]
    """
    x, unbatched = _input(input, spatial, fn)
    g = as_float_array(grad_output, fn=fn, name="grad_output")
    output_size = g.shape[1:] if unbatched else g.shape[2:]
    all_bins = _bins(x, tuple(output_size), spatial, fn) if len(output_size) == spatial else None
    if all_bins is None:
        raise ValueError(f"{fn}: grad_output must be {spatial + 1 if unbatched else spatial + 2}D like the forward "
                         f"output, got shape {g.shape}")
    g = _grad(g, x, unbatched, tuple(output_size), fn)
    for axis in reversed(range(spatial)):
        bins = all_bins[axis]
        shape = list(g.shape)
        shape[axis + 2] = x.shape[axis + 2]
        spread = np.zeros(shape, dtype=x.dtype)
        for j, (start, end) in enumerate(bins):
            lead = (slice(None),) * (axis + 2)
            spread[lead + (slice(start, end),)] += g[lead + (slice(j, j + 1),)] / (end - start)
        g = spread
    return from_batched(g, unbatched)


def _adaptive_max(x: np.ndarray, all_bins) -> tuple[np.ndarray, np.ndarray]:
    n, c = x.shape[:2]
    input_size = x.shape[2:]
    out = (n, c, *(len(b) for b in all_bins))
    starts = [np.array([s for s, _ in b], dtype=np.int64) for b in all_bins]
    ends = [np.array([e for _, e in b], dtype=np.int64) for b in all_bins]
    longest = [int((e - s).max()) if len(s) else 0 for s, e in zip(starts, ends)]
    best = np.full(out, -np.inf, dtype=x.dtype)
    index = np.broadcast_to(_flat(starts, input_size), out).copy()
    d = len(all_bins)
    with np.errstate(**_quiet):
        for tap in np.ndindex(*longest):
            coords = [st + t for st, t in zip(starts, tap)]
            valid = np.ones((1,) * d, dtype=bool)
            gather = []
            for axis, (co, e, i) in enumerate(zip(coords, ends, input_size)):
                shape = (1,) * axis + (-1,) + (1,) * (d - axis - 1)
                valid = valid & (co < e).reshape(shape)
                gather.append(np.minimum(co, i - 1).reshape(shape))
            value = x[(slice(None), slice(None)) + tuple(gather)]
            _keep_max(best, index, value, _flat(coords, input_size), valid)
    return best, index


def adaptive_max_pool_nd(input, output_size, return_indices=False, *, spatial: int, fn: str = "adaptive_max_pool"):
    """N-dimensional adaptive max pooling (loops over the taps of the longest window)."""
    x, unbatched = _input(input, spatial, fn)
    y, indices = _adaptive_max(x, _bins(x, output_size, spatial, fn))
    y = from_batched(y, unbatched)
    return (y, from_batched(indices, unbatched)) if return_indices else y


def adaptive_max_pool_nd_backward(grad_output, input, indices, *, spatial: int,
                                  fn: str = "adaptive_max_pool_backward"):
    """Gradient of adaptive max pooling: scatter-add through the forward indices.

    >>> x = np.array([[4., 1., 3.]])
    >>> y, i = adaptive_max_pool1d(x, 2, return_indices=True)
    >>> adaptive_max_pool_nd_backward(np.ones_like(y), x, i, spatial=1).tolist()
    [[1.0, 0.0, 1.0]]
    """
    x, unbatched = _input(input, spatial, fn)
    g = as_float_array(grad_output, fn=fn, name="grad_output")
    if g.ndim != x.ndim - unbatched:
        raise ValueError(f"{fn}: grad_output must have the input's rank {x.ndim - unbatched}, got shape {g.shape}")
    output_size = g.shape[1:] if unbatched else g.shape[2:]
    g = _grad(g, x, unbatched, tuple(output_size), fn)
    idx = _indices(indices, g, unbatched, fn)
    return from_batched(_scatter(g, idx, x.shape), unbatched)


def adaptive_avg_pool1d(input, output_size):
    """1D adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool1d``.

    Output ``j`` averages input ``[floor(j*L/L_out), ceil((j+1)*L/L_out))``.

    Shape
    -----
    ``(N, C, L) -> (N, C, output_size)``.

    Examples
    --------
    >>> adaptive_avg_pool1d(np.array([[1., 2., 3., 4., 5.]]), 2).tolist()
    [[2.0, 4.0]]
    """
    return adaptive_avg_pool_nd(input, output_size, spatial=1, fn="adaptive_avg_pool1d")


def adaptive_avg_pool2d(input, output_size):
    """2D adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool2d``.

    Parameters
    ----------
    input : array ``(N, C, H, W)`` or ``(C, H, W)``, float32 or float64
    output_size : int or (int or None, int or None); ``None`` keeps that input size

    Shape
    -----
    ``(N, C, H, W) -> (N, C, *output_size)``.

    Examples
    --------
    >>> adaptive_avg_pool2d(np.arange(16.0).reshape(1, 4, 4), (1, None)).tolist()
    [[[6.0, 7.0, 8.0, 9.0]]]
    """
    return adaptive_avg_pool_nd(input, output_size, spatial=2, fn="adaptive_avg_pool2d")


def adaptive_avg_pool3d(input, output_size):
    """3D adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool3d``.

    Shape
    -----
    ``(N, C, D, H, W) -> (N, C, *output_size)``.

    Examples
    --------
    >>> adaptive_avg_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), 1).tolist()
    [[[[3.5]]]]
    """
    return adaptive_avg_pool_nd(input, output_size, spatial=3, fn="adaptive_avg_pool3d")


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """1D adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool1d``.

    Shape
    -----
    ``(N, C, L) -> (N, C, output_size)``; indices are int64 positions in each input row.

    Examples
    --------
    >>> y, i = adaptive_max_pool1d(np.array([[1., 5., 2., 4., 3.]]), 2, return_indices=True)
    >>> y.tolist(), i.tolist()
    ([[5.0, 4.0]], [[1, 3]])
    """
    return adaptive_max_pool_nd(input, output_size, return_indices, spatial=1, fn="adaptive_max_pool1d")


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """2D adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool2d``.

    Shape
    -----
    ``(N, C, H, W) -> (N, C, *output_size)``; indices are int64 positions in each ``H * W`` plane.

    Examples
    --------
    >>> adaptive_max_pool2d(np.arange(16.0).reshape(1, 4, 4), 2).tolist()
    [[[5.0, 7.0], [13.0, 15.0]]]
    """
    return adaptive_max_pool_nd(input, output_size, return_indices, spatial=2, fn="adaptive_max_pool2d")


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """3D adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool3d``.

    Shape
    -----
    ``(N, C, D, H, W) -> (N, C, *output_size)``.

    Examples
    --------
    >>> adaptive_max_pool3d(np.arange(8.0).reshape(1, 2, 2, 2), 1).tolist()
    [[[[7.0]]]]
    """
    return adaptive_max_pool_nd(input, output_size, return_indices, spatial=3, fn="adaptive_max_pool3d")
