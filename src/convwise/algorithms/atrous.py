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

import dataclasses
import math

import numpy as np

from .._config import get_config
from ..arithmetic import ConvGeometry, conv_geometry
from . import _cost
from ._record import Algorithm, Problem
from ._windows import phase_merge, phase_split

__all__ = ["forward", "why_ineligible", "cost", "phase_problem", "workspace_bytes", "RECORD"]


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


def why_ineligible(problem: Problem) -> str | None:
    """Forward, unit stride, some dilation > 1, and the copies fit half the workspace budget
    (the phases then run whatever ``auto`` picks for them, within that algorithm's bound)."""
    geometry = problem.geometry
    if problem.kind != "forward":
        return f"it has no {problem.kind} kernel"
    if any(s != 1 for s in geometry.stride) or all(d == 1 for d in geometry.dilation):
        return f"it needs stride 1 and some dilation > 1, got stride={geometry.stride}, dilation={geometry.dilation}"
    if 2 * workspace_bytes(problem.x_shape, problem.w_shape, geometry, problem.itemsize) > get_config().workspace_bytes:
        return f"its phase copies need more than half the workspace budget of {get_config().workspace_mib:g} MiB"
    return None


def _inner(problem: Problem):
    """The dense phase problem and the record ``auto`` picks for it."""
    from . import select

    shape, inner, _ = phase_problem(problem.x_shape, problem.w_shape, problem.geometry)
    dense = dataclasses.replace(problem, x_shape=shape, geometry=inner)
    return dense, select.choose(dense)


def cost(problem: Problem) -> float:
    """The inner algorithm's predicted seconds plus the copies in and out (zero-fill, phase
    copy, inner output, interleaved copy: one thread whatever the setting), scaled by the
    measured overhead of many small phase images (``scale``: 64->64 64x64 d4 ran 2.9-4.5 ms
    against a prediction of 2.9, and lost to gemm's compiled im2col, 2.2-2.4 ms)."""
    dense, record = _inner(problem)
    copies = 2 * math.prod(dense.x_shape) + 2 * dense.x_shape[0] * problem.w_shape[0] * math.prod(
        dense.geometry.output_size)
    weights = _cost.CALIBRATION["atrous"]
    return weights["scale"] * (record.cost(dense) + weights["element_weight"] * copies / _cost.gemm_rate(4) *
                               _cost.threads())


def forward(x: np.ndarray, weight: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    from ._record import make_problem

    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    dilation = geometry.dilation
    dense, record = _inner(make_problem("forward", x.shape, weight.shape, geometry, groups, x.dtype))
    lengths, q = dense.geometry.input_size, dense.geometry.output_size
    # the padded input, extended with zeros to d * lengths >= padded size cells per dimension
    padded = np.zeros((n, c_in, *(d * length for d, length in zip(dilation, lengths))), dtype=x.dtype)
    inside = tuple(slice(lo, lo + i) for (lo, _), i in zip(geometry.padding, geometry.input_size))
    padded[(slice(None), slice(None)) + inside] = x
    # (n, c, *d*L) -> (n, c, *d, *L) -> (*d, n, c, *L): phases as samples
    split = phase_split(padded, dilation)
    ndim = geometry.ndim
    order = tuple(range(2, 2 + ndim)) + (0, 1) + tuple(range(2 + ndim, 2 + 2 * ndim))
    phases = np.ascontiguousarray(split.transpose(order)).reshape(dense.x_shape)
    del padded, split
    result = record.forward(phases, weight, dense.geometry, groups)              # (prod(d) * n, co, *q)
    result = result.reshape(*dilation, n, c_out, *q)
    order = (ndim, ndim + 1) + tuple(range(ndim)) + tuple(range(ndim + 2, 2 * ndim + 2))
    interleaved = phase_merge(result.transpose(order))                            # (n, co, *q*d)
    return np.ascontiguousarray(interleaved[(slice(None), slice(None)) +
                                            tuple(slice(0, o) for o in geometry.output_size)])


RECORD = Algorithm("atrous", exact=False, why_ineligible=why_ineligible, cost=cost, forward=forward)
