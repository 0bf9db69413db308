"""The slow, obviously correct reference: one loop over kernel taps.

For each kernel tap the strided slice of the (zero-padded) input that the tap meets at
every output position is multiplied by that tap's weights and accumulated. Every other
algorithm is tested against these three kernels (``tests/algorithms/test_algorithm_grid.py``).
"""

from __future__ import annotations

import numpy as np

from ..arithmetic import ConvGeometry, TransposeGeometry
from . import _cost
from ._record import Algorithm, Problem
from ._windows import crop, pad_zeros, scatter_size, tap_window

__all__ = ["forward", "transpose", "weight_grad", "cost", "RECORD"]


def forward(x: np.ndarray, weight: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    padded = pad_zeros(x, geometry).reshape(n, groups, c_in // groups, *geometry.padded_size)
    w = weight.reshape(groups, c_out // groups, c_in // groups, *geometry.kernel_size)
    y = np.zeros((n, groups, c_out // groups, *geometry.output_size), dtype=x.dtype)
    for tap in np.ndindex(*geometry.kernel_size):
        patch = padded[(slice(None),) * 3 + tap_window(tap, geometry)]           # (n, g, c, *out)
        y += np.einsum("ngc...,goc->ngo...", patch, w[(...,) + tap])
    return y.reshape(n, c_out, *geometry.output_size)


def weight_grad(x: np.ndarray, grad_output: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    """Gradient of :func:`forward` with respect to the weight: a correlation of x with dy."""
    n, c_in = x.shape[:2]
    c_out = grad_output.shape[1]
    padded = pad_zeros(x, geometry).reshape(n, groups, c_in // groups, *geometry.padded_size)
    dy = grad_output.reshape(n, groups, c_out // groups, -1)
    grad = np.empty((groups, c_out // groups, c_in // groups, *geometry.kernel_size), dtype=x.dtype)
    for tap in np.ndindex(*geometry.kernel_size):
        patch = padded[(slice(None),) * 3 + tap_window(tap, geometry)]
        grad[(...,) + tap] = np.einsum("ngcl,ngol->goc", patch.reshape(dy.shape[:2] + (c_in // groups, -1)), dy)
    return grad.reshape(c_out, c_in // groups, *geometry.kernel_size)


def transpose(x: np.ndarray, weight: np.ndarray, geometry: TransposeGeometry, groups: int) -> np.ndarray:
    """Scatter each input cell times each tap into a buffer, then crop the padding."""
    n, c_in = x.shape[:2]
    c_out = weight.shape[1] * groups
    xg = x.reshape(n, groups, c_in // groups, *geometry.input_size)
    w = weight.reshape(groups, c_in // groups, c_out // groups, *geometry.kernel_size)
    buffer = np.zeros((n, groups, c_out // groups, *scatter_size(geometry)), dtype=x.dtype)
    forward_geometry = geometry.forward
    for tap in np.ndindex(*geometry.kernel_size):
        region = tap_window(tap, forward_geometry)
        buffer[(slice(None),) * 3 + region] += np.einsum("ngc...,gco->ngo...", xg, w[(...,) + tap])
    return np.ascontiguousarray(crop(buffer, geometry)).reshape(n, c_out, *geometry.output_size)


def cost(problem: Problem) -> float:
    """One NumPy ``einsum`` per tap over the whole problem."""
    n, c_in, c_out, taps, positions = problem.conv
    flops = 2.0 * n * c_out * (c_in // problem.groups) * taps * positions
    return flops / _cost.CALIBRATION["einsum_flops"] + _cost.call_seconds(10 * taps)


RECORD = Algorithm("direct", exact=True, why_ineligible=lambda problem: None, cost=cost,
                   forward=forward, transpose=transpose, weight_grad=weight_grad)
