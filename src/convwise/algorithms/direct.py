"""The slow, obviously correct reference: one loop over kernel taps.

For each kernel tap the strided slice of the (zero-padded) input that the tap meets at
every output position is multiplied by that tap's weights and accumulated. Each fast
algorithm is tested against these three functions.
"""

from __future__ import annotations

import numpy as np

from ..arithmetic import ConvGeometry, TransposeGeometry
from . import register


def tap_window(tap: tuple[int, ...], geometry: ConvGeometry) -> tuple[slice, ...]:
    """Slices of the padded input that kernel tap ``tap`` meets across all outputs."""
    return tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                 for t, d, o, s in zip(tap, geometry.dilation, geometry.output_size, geometry.stride))


def pad_zeros(x: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
    if not any(lo or hi for lo, hi in geometry.padding):
        return x
    return np.pad(x, ((0, 0), (0, 0), *geometry.padding))


def conv_forward(x: np.ndarray, weight: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    padded = pad_zeros(x, geometry).reshape(n, groups, c_in // groups, *geometry.padded_size)
    w = weight.reshape(groups, c_out // groups, c_in // groups, *geometry.kernel_size)
    y = np.zeros((n, groups, c_out // groups, *geometry.output_size), dtype=x.dtype)
    for tap in np.ndindex(*geometry.kernel_size):
        patch = padded[(slice(None),) * 3 + tap_window(tap, geometry)]           # (n, g, c, *out)
        y += np.einsum("ngc...,goc->ngo...", patch, w[(...,) + tap])
    return y.reshape(n, c_out, *geometry.output_size)


def conv_weight_grad(x: np.ndarray, grad_output: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    """Gradient of ``conv_forward`` with respect to the weight: a correlation of x with dy."""
    n, c_in = x.shape[:2]
    c_out = grad_output.shape[1]
    padded = pad_zeros(x, geometry).reshape(n, groups, c_in // groups, *geometry.padded_size)
    dy = grad_output.reshape(n, groups, c_out // groups, -1)
    grad = np.empty((groups, c_out // groups, c_in // groups, *geometry.kernel_size), dtype=x.dtype)
    for tap in np.ndindex(*geometry.kernel_size):
        patch = padded[(slice(None),) * 3 + tap_window(tap, geometry)]
        grad[(...,) + tap] = np.einsum("ngcl,ngol->goc", patch.reshape(dy.shape[:2] + (c_in // groups, -1)), dy)
    return grad.reshape(c_out, c_in // groups, *geometry.kernel_size)


def full_size(geometry: TransposeGeometry) -> tuple[int, ...]:
    """Size of the uncropped scatter buffer of a transposed convolution."""
    return tuple(max(stretched + k_eff - 1, lo + o) for stretched, k_eff, (lo, _), o in
                 zip(geometry.stretched_size, geometry.effective_kernel, geometry.padding, geometry.output_size))


def crop(buffer: np.ndarray, geometry: TransposeGeometry) -> np.ndarray:
    return buffer[(...,) + tuple(slice(lo, lo + o) for (lo, _), o in zip(geometry.padding, geometry.output_size))]


def conv_transpose(x: np.ndarray, weight: np.ndarray, geometry: TransposeGeometry, groups: int) -> np.ndarray:
    """Scatter each input cell times each tap into a buffer, then crop the padding."""
    n, c_in = x.shape[:2]
    c_out = weight.shape[1] * groups
    xg = x.reshape(n, groups, c_in // groups, *geometry.input_size)
    w = weight.reshape(groups, c_in // groups, c_out // groups, *geometry.kernel_size)
    buffer = np.zeros((n, groups, c_out // groups, *full_size(geometry)), dtype=x.dtype)
    forward = geometry.forward
    for tap in np.ndindex(*geometry.kernel_size):
        region = tap_window(tap, forward)
        buffer[(slice(None),) * 3 + region] += np.einsum("ngc...,gco->ngo...", xg, w[(...,) + tap])
    return np.ascontiguousarray(crop(buffer, geometry)).reshape(n, c_out, *geometry.output_size)


register("direct", forward=conv_forward, transpose=conv_transpose, weight_grad=conv_weight_grad)
