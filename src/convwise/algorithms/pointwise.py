"""Pointwise (1x1) convolution: one GEMM on views, no columns.

A 1x1 kernel reads one input cell per output cell, so the convolution is a matrix
product per sample: ``W (C_out, C_in) @ x (C_in, H*W)``, computed by ``np.matmul`` on a
view of the input and written straight into the output (``out=``). Strides take a
strided slice of the input (copied once if it is not contiguous); zero padding only adds
a zero border to the output, so it is never materialised on the input. Dilation has no
effect on a 1x1 kernel. Groups become a batch dimension of the product.
"""

from __future__ import annotations

import numpy as np

from ..arithmetic import ConvGeometry, TransposeGeometry
from . import _cost
from ._record import Algorithm, Problem

__all__ = ["forward", "transpose", "weight_grad", "why_ineligible", "cost", "RECORD"]


def why_ineligible(problem: Problem) -> str | None:
    if not _cost.is_pointwise(problem):
        return f"it needs a 1x1 kernel, got kernel_size={problem.geometry.kernel_size}"
    return None


def cost(problem: Problem) -> float:
    """One GEMM per sample and group, plus a copy of the sampled input when strided or padded."""
    n, c_in, c_out, _, positions = problem.conv
    geometry, groups, itemsize = problem.geometry, problem.groups, problem.itemsize
    strided = any(s > 1 for s in geometry.stride) or any(lo or hi for lo, hi in geometry.padding)
    copy = n * c_in * positions * itemsize / _cost.CALIBRATION["copy_bytes_per_second"] if strided else 0.0
    return copy + _cost.gemm_seconds(c_out // groups, c_in // groups, positions, n * groups, itemsize)


def _sampled(x: np.ndarray, geometry: ConvGeometry):
    """Input cells read by the outputs that are not in the padding border.

    Returns ``(inputs (N, C, *inner), output index of those outputs)``: output ``o`` reads
    padded cell ``o * stride``, i.e. input cell ``o * stride - lo``.
    """
    source, target = [], []
    for i, s, (lo, _), o in zip(geometry.input_size, geometry.stride, geometry.padding, geometry.output_size):
        first = -(-lo // s)                                   # first output reading a real cell
        last = min(o - 1, (lo + i - 1) // s)                  # last output reading a real cell
        count = max(0, last - first + 1)
        start = first * s - lo
        source.append(slice(start, start + (count - 1) * s + 1 if count else start, s))
        target.append(slice(first, first + count))
    return x[(slice(None), slice(None)) + tuple(source)], (slice(None), slice(None)) + tuple(target)


def forward(x: np.ndarray, weight: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    w = weight.reshape(groups, c_out // groups, c_in // groups)
    inputs, index = _sampled(x, geometry)
    inner = inputs.shape[2:]
    inputs = np.ascontiguousarray(inputs).reshape(n, groups, c_in // groups, -1)
    if inner == tuple(geometry.output_size):                     # no output in the padding border
        y = np.empty((n, c_out, *geometry.output_size), dtype=x.dtype)
        np.matmul(w, inputs, out=y.reshape(n, groups, c_out // groups, -1))
        return y
    y = np.zeros((n, c_out, *geometry.output_size), dtype=x.dtype)
    y[index] = np.matmul(w, inputs).reshape(n, c_out, *inner)
    return y


def weight_grad(x: np.ndarray, grad_output: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    """``dW[g] = sum over samples of dy[g] @ x[g]^T`` (the padding border contributes nothing)."""
    n, c_in = x.shape[:2]
    c_out = grad_output.shape[1]
    inputs, index = _sampled(x, geometry)
    inputs = np.ascontiguousarray(inputs).reshape(n, groups, c_in // groups, -1)
    dy = grad_output[index]
    dy = np.ascontiguousarray(dy).reshape(n, groups, c_out // groups, -1)
    grad = np.zeros((groups, c_out // groups, c_in // groups), dtype=x.dtype)
    partial = np.empty_like(grad)
    for i in range(n):
        np.matmul(dy[i], inputs[i].transpose(0, 2, 1), out=partial)
        grad += partial
    return grad.reshape(c_out, c_in // groups, *geometry.kernel_size)


def transpose(x: np.ndarray, weight: np.ndarray, geometry: TransposeGeometry, groups: int) -> np.ndarray:
    """``W^T @ x`` per sample, placed at every ``stride``-th output cell (the adjoint of forward)."""
    n, c_in = x.shape[:2]
    c_out = weight.shape[1] * groups
    w = weight.reshape(groups, c_in // groups, c_out // groups).transpose(0, 2, 1)
    xg = x.reshape(n, groups, c_in // groups, -1)
    adjoint = geometry.forward                      # maps our output (its input) to our input (its output)
    plain = (all(s == 1 for s in geometry.stride) and all(lo == 0 for lo, _ in geometry.padding)
             and tuple(geometry.output_size) == tuple(geometry.input_size))
    if plain:
        y = np.empty((n, c_out, *geometry.output_size), dtype=x.dtype)
        np.matmul(w, xg, out=y.reshape(n, groups, c_out // groups, -1))
        return y
    y = np.zeros((n, c_out, *geometry.output_size), dtype=x.dtype)
    product = np.matmul(w, xg).reshape(n, c_out, *geometry.input_size)
    # forward-conv output o (our input cell o) reads our output cell o*stride - lo
    targets, index = _sampled(y, adjoint)           # a view of y, and which of our inputs land in it
    targets[...] = product[index]
    return y


RECORD = Algorithm("pointwise", exact=True, why_ineligible=why_ineligible, cost=cost,
                   forward=forward, transpose=transpose, weight_grad=weight_grad)
