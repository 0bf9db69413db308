"""Dilated, unit-stride convolution by space-to-batch ("atrous" convolution).

With dilation ``d`` and stride 1, output ``o`` reads padded inputs ``o + t*d``: outputs
congruent to ``r`` modulo ``d`` only ever read inputs congruent to ``r``. So the padded
input splits into ``prod(d)`` phase images ``x[..., r0::d0, r1::d1, ...]``, each phase's
outputs are an ordinary (dilation-1, stride-1, unpadded) convolution of its phase image,
and the phases are interleaved back: ``y[..., r0::d0, r1::d1, ...] = conv(phase r)``. This
is how TensorFlow runs atrous convolution (``space_to_batch_nd``). The phases are stacked
as extra samples, so the dense problem runs as one batch through the algorithm ``auto``
picks for it, which for 3x3 kernels may be Winograd (never applicable to a dilated layer
itself): 64->64 64x64 k3 d4 measured 4.1 ms against shift's 4.8 on the dev box.

Accuracy is the inner algorithm's (the decomposition itself is exact), so ``auto``
considers this method wherever the inner choice is eligible. Cost: the inner prediction
plus copying the input and the output once each. Memory: the phases and their output are
extra copies of about the input and output size, so the method is only eligible while
they take at most half the workspace budget.
"""

from __future__ import annotations

import math

import numpy as np

from .._config import get_config
from ..arithmetic import ConvGeometry, conv_geometry
from . import register

__all__ = ["forward", "eligible", "cost", "phase_problem", "workspace_bytes"]

_ELEMENT_WEIGHT = 50.0        # flop-equivalents per element copied (as in fft/winograd)


def phase_problem(x_shape, w_shape, geometry: ConvGeometry):
    """``(phase x shape, phase geometry, per-dimension outputs per phase)`` of the dense
    problem: ``prod(d) * N`` samples of phase images ``q + k - 1`` long, ``q = ceil(O / d)``."""
    q = tuple(-(-o // d) for o, d in zip(geometry.output_size, geometry.dilation))
    lengths = tuple(qq + k - 1 for qq, k in zip(q, geometry.kernel_size))
    shape = (x_shape[0] * math.prod(geometry.dilation), x_shape[1], *lengths)
    return shape, conv_geometry(lengths, geometry.kernel_size, 1, 0, 1), q


def workspace_bytes(x_shape, w_shape, geometry: ConvGeometry, itemsize: int) -> int:
    """Scratch outside the inner algorithm's own: the extended padded input, its phases and
    the phases' output (the inner algorithm keeps its scratch within the budget)."""
    shape, inner, _ = phase_problem(x_shape, w_shape, geometry)
    return itemsize * (2 * math.prod(shape) + shape[0] * w_shape[0] * math.prod(inner.output_size))


def eligible(x_shape, w_shape, geometry, groups: int, dtype, *, kind: str = "forward") -> bool:
    """Forward, unit stride, some dilation > 1, and the copies fit half the workspace budget
    (the phases then run whatever ``auto`` picks for them, within that algorithm's bound)."""
    return (kind == "forward" and isinstance(geometry, ConvGeometry) and all(s == 1 for s in geometry.stride)
            and any(d > 1 for d in geometry.dilation) and np.dtype(dtype) in (np.float32, np.float64)
            and 2 * workspace_bytes(x_shape, w_shape, geometry, np.dtype(dtype).itemsize)
            <= get_config().workspace_bytes)


def _inner(x_shape, w_shape, geometry, groups, dtype):
    from . import select

    shape, inner, _ = phase_problem(x_shape, w_shape, geometry)
    return shape, inner, select.choose_method("forward", shape, w_shape, inner, groups, dtype)


def cost(x_shape, w_shape, geometry, groups: int, *, kind: str = "forward") -> float:
    """The inner algorithm's predicted cost (in the selector's flop-equivalents) plus the
    copies in and out; ``inf`` for other kinds."""
    if kind != "forward" or not eligible(x_shape, w_shape, geometry, groups, np.float32):
        return math.inf
    from . import select

    shape, inner, method = _inner(x_shape, w_shape, geometry, groups, np.float32)
    seconds = select.predict(method, "forward", shape, w_shape, inner, groups, np.float32)
    # zero-fill, phase copy, inner output, interleaved copy: one thread whatever the setting
    copies = 2 * math.prod(shape) + 2 * shape[0] * w_shape[0] * math.prod(inner.output_size)
    return seconds * select.gemm_rate(4) + _ELEMENT_WEIGHT * copies * get_config().threads


def forward(x: np.ndarray, weight: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    from . import FORWARD

    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    dilation, ndim = geometry.dilation, geometry.ndim
    shape, inner, method = _inner(x.shape, weight.shape, geometry, groups, x.dtype)
    lengths, q = inner.input_size, inner.output_size
    # the padded input, extended with zeros to d * lengths >= padded size cells per dimension
    padded = np.zeros((n, c_in, *(d * length for d, length in zip(dilation, lengths))), dtype=x.dtype)
    inside = tuple(slice(lo, lo + i) for (lo, _), i in zip(geometry.padding, geometry.input_size))
    padded[(slice(None), slice(None)) + inside] = x
    # (n, c, L0, d0, L1, d1, ...) -> (d0, d1, ..., n, c, L0, L1, ...): phases as samples
    split = padded.reshape(n, c_in, *(v for length, d in zip(lengths, dilation) for v in (length, d)))
    order = tuple(3 + 2 * i for i in range(ndim)) + (0, 1) + tuple(2 + 2 * i for i in range(ndim))
    phases = np.ascontiguousarray(split.transpose(order)).reshape(shape)
    del padded, split
    result = FORWARD[method](phases, weight, inner, groups)                      # (prod(d) * n, co, *q)
    # (d0, d1, ..., n, co, q0, q1, ...) -> (n, co, q0, d0, q1, d1, ...), cropped to the output
    result = result.reshape(*dilation, n, c_out, *q)
    order = (ndim, ndim + 1) + tuple(v for i in range(ndim) for v in (ndim + 2 + i, i))
    interleaved = result.transpose(order).reshape(n, c_out, *(qq * d for qq, d in zip(q, dilation)))
    return np.ascontiguousarray(interleaved[(slice(None), slice(None)) +
                                            tuple(slice(0, o) for o in geometry.output_size)])


register("atrous", forward=forward)
