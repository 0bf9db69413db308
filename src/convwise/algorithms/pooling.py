"""Pooling kernels: the convolution's windowing followed by a different reduction.

The loops run over kernel taps (or adaptive-window taps), never over output positions.
Max and average pooling go over chunks of planes small enough to stay in cache; each
chunk is laid out in stride phases (:class:`convwise.algorithms._windows.FlatPhases`,
shared with the depthwise convolution) so that every tap is one long contiguous ufunc
operand. :mod:`convwise.functional.pooling` validates arguments and calls these.

Max pooling follows PyTorch's scan exactly: taps are visited in row-major order and a
tap replaces the running maximum when it is strictly greater *or NaN*, so ties go to the
first maximum and a NaN window reports its last NaN. Indices are flat positions in each
unpadded input plane (``int64``). Padding cells never win.

Average pooling divides by PyTorch's divisor: the window clipped to the padded input
(``count_include_pad=True``), or to the input itself (``False``), or ``divisor_override``.
With ``ceil_mode`` the last window may run past the padded input; those cells count for
neither divisor.
"""

from __future__ import annotations

import math

import numpy as np

from .._guard import require_memory, require_steps
from ..arithmetic import PoolGeometry, adaptive_end, adaptive_start
from ..kernels import pooling as _compiled
from ._windows import FlatPhases, tap_window

__all__ = ["max_pool", "avg_pool", "avg_pool_backward", "lp_pool", "divisor", "scatter_by_index", "adaptive_avg_pool",
           "adaptive_avg_pool_backward", "adaptive_max_pool", "torch_power"]

# NaN and Inf propagate through pooling as in torch; NumPy must not warn about them.
def _quiet():
    return np.errstate(invalid="ignore", over="ignore", divide="ignore")
#: Scratch per chunk of planes: small enough to stay in a core's cache.
_CHUNK_BYTES = 1 << 19


def _grid(vectors: list[np.ndarray], sizes: tuple[int, ...]) -> np.ndarray:
    """Flat plane index of per-dimension coordinate vectors, broadcast over the output grid."""
    d = len(vectors)
    flat = np.zeros((1,) * d, dtype=np.int64)
    for axis, (c, i) in enumerate(zip(vectors, sizes)):
        flat = flat * i + c.reshape((1,) * axis + (-1,) + (1,) * (d - axis - 1))
    return flat


def _chunks(fn: str, planes: int, bytes_per_plane: int, taps: int) -> list[slice]:
    """Cache-sized chunks of planes, in order (one thread: each chunk is many short NumPy
    calls, and two Python threads taking turns at the GIL measured 3.5x slower than one)."""
    step = max(1, min(planes, _CHUNK_BYTES // max(bytes_per_plane, 1)))
    require_steps(fn, -(-planes // step) * taps, what="chunk x tap steps")
    return [slice(start, min(start + step, planes)) for start in range(0, planes, step)]


def _bytes_per_plane(layout: FlatPhases, itemsize: int, with_indices: bool) -> int:
    scratch = len(layout.phases) * layout.size * itemsize + layout.length * itemsize
    if with_indices:
        scratch += layout.length * 3
    return scratch + math.prod(layout.geometry.input_size) * itemsize


def _phases(layout: FlatPhases, xc: np.ndarray, fill: float) -> np.ndarray:
    """``(phases, planes * size)``: the chunk ``xc (planes, *input)`` in the phase layout."""
    buffer = np.empty((len(layout.phases), xc.shape[0], layout.size), dtype=xc.dtype)
    layout.fill(buffer, xc, fill)
    return buffer.reshape(len(layout.phases), -1)


def _crop(layout: FlatPhases, flat: np.ndarray, planes: int) -> np.ndarray:
    return layout.crop(flat.reshape(planes, layout.size)[:, :layout.length])


def _first_taps(geometry: PoolGeometry) -> np.ndarray:
    """torch's starting tap per output: the first at or after input coordinate 0 in every
    dimension, as a row-major tap number broadcast over the output grid."""
    d = geometry.ndim
    number = np.zeros((1,) * d, dtype=np.int64)
    for axis, (o, k, s, dil, (lo, _)) in enumerate(zip(geometry.output_size, geometry.kernel_size, geometry.stride,
                                                      geometry.dilation, geometry.padding)):
        start = np.arange(o, dtype=np.int64) * s - lo
        first = np.where(start < 0, -(start // dil), 0)
        number = number * k + first.reshape((1,) * axis + (-1,) + (1,) * (d - axis - 1))
    return number


def max_pool(x: np.ndarray, geometry: PoolGeometry, with_indices: bool, *, fn: str = "max_pool"):
    """``(y, indices or None)`` of max pooling ``x (N, C, *S)``.

    torch's scan with branch-free ufuncs: per tap ``greater`` gives the update mask,
    ``maximum`` the running value (ties keep the running, earlier value, so signed zeros
    match torch too) and the winning tap number is the largest flagged one (updates come
    in increasing tap order); tap numbers become flat input indices once per chunk. A
    chunk holding NaN (``dot(x, x)`` is NaN exactly when some element is) takes the exact
    step: ``| isnan`` in the mask and masked copies. Without indices the value is a plain
    ``maximum`` fold, which propagates NaN by itself.
    """
    n, c = x.shape[:2]
    planes = n * c
    out_cells = planes * math.prod(geometry.output_size)
    require_memory(fn, out_cells * (x.itemsize + (8 if with_indices else 0)) + _scratch_bytes(x), what="output")
    require_steps(fn, math.prod(geometry.kernel_size), what="kernel taps")
    compiled = _compiled.max_pool(x, geometry, with_indices)     # the numba kernel, once it is loaded
    if compiled is not None:
        return compiled
    layout = FlatPhases(geometry)
    xs = x.reshape((planes,) + geometry.input_size)
    y = np.empty((planes,) + geometry.output_size, dtype=x.dtype)
    ntaps = len(layout.taps)
    tap_type = np.int8 if ntaps <= 127 else np.int16 if ntaps <= 32767 else np.int32
    index = init = lut = base = None
    if with_indices:
        index = np.empty((planes,) + geometry.output_size, dtype=np.int64)
        init = np.zeros(layout.wide, dtype=tap_type)
        init[tuple(slice(0, o) for o in geometry.output_size)] = _first_taps(geometry)
        init = init.reshape(-1)                 # torch's starting tap; every later winner has a larger number
        plane_strides = [math.prod(geometry.input_size[axis + 1:]) for axis in range(geometry.ndim)]
        lut = np.array([sum(t * d * q for t, d, q in zip(tap, geometry.dilation, plane_strides))
                        for tap in np.ndindex(*geometry.kernel_size)], dtype=np.int64)
        starts = [np.arange(o, dtype=np.int64) * s - lo
                  for o, s, (lo, _) in zip(geometry.output_size, geometry.stride, geometry.padding)]
        base = _grid(starts, geometry.input_size)

    def work(chunk: slice) -> None:
        xc = xs[chunk]
        p = xc.shape[0]
        q = _phases(layout, xc, -np.inf)
        span = (p - 1) * layout.size + layout.length
        best = np.empty(p * layout.size, dtype=x.dtype)
        run = best[:span]
        slot, offset = layout.taps[0]
        if not with_indices:
            np.copyto(run, q[slot, offset:offset + span])
            for slot, offset in layout.taps[1:]:
                np.maximum(q[slot, offset:offset + span], run, out=run)
            y[chunk] = _crop(layout, best, p)
            return
        flat = xc.reshape(-1)
        exact = bool(np.isnan(np.dot(flat, flat))) if flat.size else False
        taps = np.empty(p * layout.size, dtype=tap_type)
        taps.reshape(p, -1)[:, :layout.length] = init
        won = taps[:span]
        run.fill(-np.inf)
        update = np.empty(span, dtype=bool)
        number_if = np.empty(span, dtype=tap_type)
        nan = np.empty(span, dtype=bool) if exact else None
        for number, (slot, offset) in enumerate(layout.taps):
            value = q[slot, offset:offset + span]
            np.greater(value, run, out=update)
            if nan is not None:                         # torch: NaN always replaces the running maximum
                np.logical_or(update, np.isnan(value, out=nan), out=update)
                np.copyto(run, value, where=update)
            else:                                       # branch-free; ties keep the earlier (running) value
                np.maximum(value, run, out=run)
            np.multiply(update, tap_type(number), out=number_if)
            np.maximum(won, number_if, out=won)
        y[chunk] = _crop(layout, best, p)
        np.add(base, np.take(lut, _crop(layout, taps, p)), out=index[chunk])  # type: ignore[index,arg-type]

    with _quiet():
        for chunk in _chunks(fn, planes, _bytes_per_plane(layout, x.itemsize, with_indices), ntaps):
            work(chunk)
    y = y.reshape((n, c) + geometry.output_size)
    return y, (index.reshape(y.shape) if index is not None else None)


def divisor(geometry: PoolGeometry, count_include_pad: bool, divisor_override, dtype) -> np.ndarray:
    """PyTorch's divisor for every output position (0 marks an empty window)."""
    d = geometry.ndim
    result = np.ones((1,) * d, dtype=np.int64)
    empty = np.zeros((1,) * d, dtype=bool)
    for axis, (i, k, s, (p, _), o) in enumerate(zip(geometry.input_size, geometry.kernel_size, geometry.stride,
                                                    geometry.padding, geometry.output_size)):
        start = np.arange(o, dtype=np.int64) * s - p
        end = np.minimum(start + k, i + p)                      # clipped to the padded input
        inside = np.minimum(end, i) - np.maximum(start, 0)      # cells of the input itself
        shape = (1,) * axis + (-1,) + (1,) * (d - axis - 1)
        result = result * ((end - start) if count_include_pad else inside).reshape(shape)
        empty = empty | (inside <= 0).reshape(shape)
    if divisor_override is not None:
        result = np.full(result.shape, divisor_override, dtype=np.int64)
    return np.where(empty, 0, result).astype(dtype)


def avg_pool(x: np.ndarray, geometry: PoolGeometry, divide_by: np.ndarray, *, fn: str = "avg_pool",
             compiled: tuple[bool, int | None] | None = None) -> np.ndarray:
    """Average pooling of ``x (N, C, *S)``: window sums (in torch's tap order) over :func:`divisor`.

    ``compiled=(count_include_pad, divisor_override)`` lets the numba kernel answer once it is loaded
    (it computes the divisor itself)."""
    n, c = x.shape[:2]
    planes = n * c
    require_memory(fn, planes * math.prod(geometry.output_size) * x.itemsize + _scratch_bytes(x), what="output")
    require_steps(fn, math.prod(geometry.kernel_size), what="kernel taps")
    if compiled is not None:
        result = _compiled.avg_pool(x, geometry, *compiled)
        if result is not None:
            return result
    layout = FlatPhases(geometry)
    xs = x.reshape((planes,) + geometry.input_size)
    y = np.empty((planes,) + geometry.output_size, dtype=x.dtype)
    divide_by = np.where(divide_by == 0, 1, divide_by)       # an empty window sums to 0 and stays 0
    with _quiet():
        for chunk in _chunks(fn, planes, _bytes_per_plane(layout, x.itemsize, False), len(layout.taps)):
            xc = xs[chunk]
            p = xc.shape[0]
            q = _phases(layout, xc, 0.0)
            span = (p - 1) * layout.size + layout.length
            total = np.empty(p * layout.size, dtype=x.dtype)
            run = total[:span]
            slot, offset = layout.taps[0]
            np.copyto(run, q[slot, offset:offset + span])
            for slot, offset in layout.taps[1:]:
                np.add(run, q[slot, offset:offset + span], out=run)
            np.divide(_crop(layout, total, p), divide_by, out=y[chunk])
    return y.reshape((n, c) + geometry.output_size)


def avg_pool_backward(grad: np.ndarray, geometry: PoolGeometry, divide_by: np.ndarray, input_shape,
                      *, fn: str = "avg_pool_backward", compiled: tuple[bool, int | None] | None = None) -> np.ndarray:
    """Each output gradient, divided by its window's divisor, spread over the window's cells.

    ``compiled=(count_include_pad, divisor_override)`` lets the numba kernel answer once it is
    loaded (it computes the divisor itself, and gathers in torch's order)."""
    require_steps(fn, math.prod(geometry.kernel_size), what="kernel taps")
    if compiled is not None:
        require_memory(fn, (math.prod(input_shape) + grad.size) * grad.itemsize, what="gradient and shares")
        result = _compiled.avg_pool_backward(grad, geometry, *compiled, input_shape)
        if result is not None:
            return result
    with _quiet():
        share = np.divide(grad, divide_by, out=np.zeros_like(grad), where=divide_by != 0)
    extent = tuple(max(i + lo, (o - 1) * s + k_eff) for i, (lo, _), o, s, k_eff in
                   zip(geometry.input_size, geometry.padding, geometry.output_size, geometry.stride,
                       geometry.effective_kernel))
    require_memory(fn, math.prod(input_shape[:2]) * math.prod(extent) * grad.itemsize, what="padded gradient")
    buffer = np.zeros(tuple(input_shape[:2]) + extent, dtype=grad.dtype)
    with _quiet():                                          # inf + -inf in a cell is NaN, as in torch
        for tap in np.ndindex(*geometry.kernel_size):
            buffer[(Ellipsis,) + tap_window(tap, geometry)] += share
    inside = tuple(slice(lo, lo + i) for (lo, _), i in zip(geometry.padding, geometry.input_size))
    return np.ascontiguousarray(buffer[(Ellipsis,) + inside])


def scatter_by_index(grad: np.ndarray, indices: np.ndarray, input_shape, *, fn: str = "max_pool_backward"
                     ) -> np.ndarray:
    """Add each output gradient into the input cell its index names (overlaps accumulate; an index
    outside the plane, which torch reports for a window of padding only, adds nowhere)."""
    require_memory(fn, math.prod(input_shape) * 8 + indices.size * 8, what="gradient")
    compiled = _compiled.max_pool_backward(grad, indices, input_shape)     # the numba kernel, once it is loaded
    return compiled if compiled is not None else _scatter_numpy(grad, indices, input_shape)


def _scatter_numpy(grad: np.ndarray, indices: np.ndarray, input_shape) -> np.ndarray:
    """:func:`scatter_by_index` by one ``bincount`` (accumulated in float64)."""
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
    return total.astype(grad.dtype).reshape(tuple(input_shape))


# --------------------------------------------------------------------------- power-average pooling


def torch_power(x: np.ndarray, p: float) -> np.ndarray:
    """``x ** p`` with torch's special exponents (``pow(tensor, scalar)``): 0.5 is ``sqrt`` and -0.5
    ``1 / sqrt`` (so ``-inf`` gives NaN and ``-0`` gives ``-inf``), 2, 3, -1 and -2 products."""
    one = x.dtype.type(1)
    with _quiet():
        if p == 0.5:
            return np.sqrt(x)
        if p == -0.5:
            return one / np.sqrt(x)
        if p == 2:
            return x * x
        if p == 3:
            return x * x * x
        if p == -1:
            return one / x
        if p == -2:
            return one / (x * x)
        return np.power(x, x.dtype.type(p))


def lp_pool(x: np.ndarray, geometry: PoolGeometry, p: float, volume: int, *, fn: str = "lp_pool") -> np.ndarray:
    """torch's ``lp_pool`` of ``x (N, C, *S)`` for a finite ``p`` (``geometry`` without padding or dilation)::

        a = avg_pool(x ** p, ceil_mode's divisor);  y = (sign(a) * relu(abs(a)) * volume) ** (1 / p)

    ``sign(a) * relu(abs(a))`` is ``a + 0`` (it turns ``-0`` into ``+0``, and keeps NaN)."""
    require_memory(fn, x.shape[0] * x.shape[1] * math.prod(geometry.output_size) * x.itemsize + x.nbytes,
                   what="output and powers")
    require_steps(fn, math.prod(geometry.kernel_size), what="kernel taps")
    compiled = _compiled.lp_pool(x, geometry, p, volume)      # the numba kernel, once it is loaded
    if compiled is not None:
        return compiled
    powers = torch_power(x, p)
    a = avg_pool(powers, geometry, divisor(geometry, True, None, x.dtype), fn=fn, compiled=(True, None))
    with _quiet():
        return torch_power(a * x.dtype.type(volume) + x.dtype.type(0), 1.0 / p)


# --------------------------------------------------------------------------- adaptive pooling


def _scratch_bytes(x: np.ndarray) -> int:
    """The chunk scratch a pooling call takes: one chunk, or less for a small input (its padded copy)."""
    return min(_CHUNK_BYTES, 2 * x.nbytes)


def _check_adaptive(x: np.ndarray, output_size: tuple[int, ...], fn: str, extra: int) -> None:
    """Refuse before any index array or output is allocated (window bounds: three int64 per output)."""
    require_memory(fn, 24 * sum(output_size) + math.prod(x.shape[:2]) * math.prod(output_size) * (x.itemsize + extra),
                   what="output and window bounds")


def _bounds(size: int, out: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``(starts, ends, longest window)`` of one dimension's adaptive windows (vectorised)."""
    j = np.arange(out, dtype=np.int64)
    starts, ends = adaptive_start(j, size, out), adaptive_end(j, size, out)
    return starts, ends, int((ends - starts).max()) if out else 0


def adaptive_avg_pool(x: np.ndarray, output_size: tuple[int, ...], *, fn: str = "adaptive_avg_pool") -> np.ndarray:
    """Separable adaptive average pooling: per dimension, the window's cells summed tap by tap
    (in order, masked past each window's end) and divided by its length."""
    _check_adaptive(x, output_size, fn, 0)
    y = x
    with _quiet():
        for axis, out in enumerate(output_size, start=2):
            starts, ends, longest = _bounds(y.shape[axis], out)
            require_steps(fn, longest, what="window taps")
            shape = list(y.shape)
            shape[axis] = out
            require_memory(fn, math.prod(shape) * x.itemsize * 2, what="output")
            total = np.zeros(shape, dtype=x.dtype)
            view = (1,) * (axis - 2) + (-1,) + (1,) * (y.ndim - axis - 1)
            for t in range(longest):
                cells = starts + t
                valid = cells < ends
                taken = np.take(y, np.minimum(cells, y.shape[axis] - 1), axis=axis)
                total += np.where(valid.reshape(view), taken, 0) if not valid.all() else taken
            y = total / (ends - starts).reshape(view).astype(x.dtype)
    return y.astype(x.dtype, copy=False)


def adaptive_avg_pool_backward(grad: np.ndarray, input_shape, *, fn: str = "adaptive_avg_pool_backward"):
    """Each window's gradient spread evenly over its cells, dimension by dimension (last first)."""
    g = grad
    for axis in reversed(range(2, len(input_shape))):
        size, out = input_shape[axis], g.shape[axis]
        starts, ends, longest = _bounds(size, out)
        require_steps(fn, longest, what="window taps")
        shape = list(g.shape)
        shape[axis] = size
        spread = np.zeros(shape, dtype=grad.dtype)
        view = (1,) * (axis - 2) + (-1,) + (1,) * (g.ndim - axis - 1)
        share = g / (ends - starts).reshape(view).astype(grad.dtype)
        moved = np.moveaxis(spread, axis, -1)
        for t in range(longest):
            cells = starts + t
            valid = cells < ends
            contribution = np.moveaxis(share, axis, -1)[..., valid]
            np.add.at(moved, (..., cells[valid]), contribution)  # type: ignore[arg-type]
        g = spread
    return g


def adaptive_max_pool(x: np.ndarray, output_size: tuple[int, ...], *, fn: str = "adaptive_max_pool"):
    """``(values, indices)``: torch's scan over the taps of the longest window of each dimension."""
    _check_adaptive(x, output_size, fn, 8)
    n, c = x.shape[:2]
    input_size = x.shape[2:]
    bounds = [_bounds(i, o) for i, o in zip(input_size, output_size)]
    starts = [b[0] for b in bounds]
    ends = [b[1] for b in bounds]
    longest = [b[2] for b in bounds]
    require_steps(fn, math.prod(longest), what="window taps")
    out = (n, c, *output_size)
    require_memory(fn, math.prod(out) * (x.itemsize + 8) * 2, what="output and indices")
    best = np.full(out, -np.inf, dtype=x.dtype)
    index = np.broadcast_to(_grid(starts, input_size), out).copy()
    d = len(output_size)
    with _quiet():
        for tap in np.ndindex(*longest):
            coords = [st + t for st, t in zip(starts, tap)]
            valid = np.ones((1,) * d, dtype=bool)
            gather = []
            for axis, (co, e, i) in enumerate(zip(coords, ends, input_size)):
                shape = (1,) * axis + (-1,) + (1,) * (d - axis - 1)
                valid = valid & (co < e).reshape(shape)
                gather.append(np.minimum(co, i - 1).reshape(shape))
            value = x[(slice(None), slice(None)) + tuple(gather)]
            update = ((value > best) | np.isnan(value)) & valid
            np.copyto(best, value, where=update)
            np.copyto(index, _grid(coords, input_size), where=update)
    return best, index
