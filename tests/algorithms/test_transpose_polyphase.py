"""Strided transposed convolution by output phases (gemm.transpose's polyphase gather).

Checked against float64 torch ``conv_transpose{1,2,3}d`` and the ``direct`` algorithm on a
grid of strides (including stride > kernel), kernels, paddings, output paddings, dilations
(including dilation and stride sharing factors, where some phases get no tap), groups and
batch sizes, plus the input gradient of strided convolutions.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch.nn.functional as F

import convwise.functional as cwf
from conftest import peak_memory, rel_error, to_torch
from convwise import arithmetic
from convwise.algorithms import direct, gemm

TORCH_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
TOL = {np.float32: 1e-5, np.float64: 1e-12}


def _check(rng, size, kernel, stride, padding, output_padding, dilation, groups, batch, dtype):
    spatial = len(size)
    try:
        geometry = arithmetic.conv_transpose_geometry(size, kernel, stride, padding, output_padding, dilation)
    except ValueError:
        pytest.skip("output size not positive")
    c_in, c_out_g = 2 * groups, 3
    x = rng.standard_normal((batch, c_in, *size)).astype(dtype)
    w = rng.standard_normal((c_in, c_out_g, *kernel)).astype(dtype)
    y = gemm.transpose(x, w, geometry, groups)
    assert y.dtype == dtype and y.flags.c_contiguous
    reference = TORCH_TRANSPOSE[spatial](to_torch(x), to_torch(w), stride=stride, padding=padding,
                                         output_padding=output_padding, dilation=dilation, groups=groups).numpy()
    assert rel_error(y, reference) <= TOL[dtype], (geometry,)
    slow = direct.transpose(x.astype(np.float64), w.astype(np.float64), geometry, groups)
    assert rel_error(y, slow) <= TOL[dtype], (geometry,)


def _cases_1d():
    for stride, k, pad, dil in itertools.product((1, 2, 3, 4), (1, 2, 3, 4, 5), (0, 1, 2, 3), (1, 2, 3)):
        if pad > dil * (k - 1):                      # torch rejects padding beyond the kernel's reach
            continue
        for op in range(max(stride, dil)):
            yield stride, k, pad, op, dil


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride, k, pad, op, dil", list(_cases_1d()))
def test_conv_transpose1d_grid(rng, stride, k, pad, op, dil, dtype):
    groups = 1 + (stride + k + pad) % 2
    batch = 1 + (k + dil + op) % 2
    _check(rng, (5,), (k,), (stride,), (pad,), (op,), (dil,), groups, batch, dtype)


def _cases_2d(count=80):
    generator = np.random.default_rng(1234)
    cases = []
    while len(cases) < count:
        stride = tuple(int(s) for s in generator.integers(1, 5, 2))
        if stride == (1, 1):
            continue
        kernel = tuple(int(k) for k in generator.integers(1, 6, 2))
        dil = tuple(int(d) for d in generator.integers(1, 4, 2))
        pad = tuple(int(generator.integers(0, min(3, d * (k - 1)) + 1)) for k, d in zip(kernel, dil))
        op = tuple(int(generator.integers(0, max(s, d))) for s, d in zip(stride, dil))
        cases.append((stride, kernel, pad, op, dil, int(generator.integers(1, 3)), int(generator.integers(1, 3))))
    return cases


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride, kernel, pad, op, dil, groups, batch", _cases_2d())
def test_conv_transpose2d_grid(rng, stride, kernel, pad, op, dil, groups, batch, dtype):
    _check(rng, (4, 6), kernel, stride, pad, op, dil, groups, batch, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride, kernel, pad, op, dil, groups", [
    ((2, 2, 2), (4, 4, 4), (1, 1, 1), (0, 0, 0), (1, 1, 1), 1),
    ((2, 3, 1), (3, 2, 3), (1, 0, 2), (1, 2, 0), (1, 1, 1), 2),
    ((4, 2, 3), (2, 5, 1), (0, 3, 0), (3, 1, 2), (1, 2, 1), 1),
    ((2, 2, 3), (3, 3, 2), (2, 1, 1), (1, 0, 2), (2, 2, 3), 2),      # d, s share factors: empty phases
])
def test_conv_transpose3d(rng, stride, kernel, pad, op, dil, groups, dtype):
    _check(rng, (3, 4, 3), kernel, stride, pad, op, dil, groups, 2, dtype)


def test_stride_beyond_kernel_leaves_unreached_cells_zero(rng):
    geometry = arithmetic.conv_transpose_geometry((5, 5), (2, 2), 4, 0, 3)
    x = rng.standard_normal((1, 2, 5, 5))
    w = rng.standard_normal((2, 3, 2, 2))
    y = gemm.transpose(x, w, geometry, 1)
    assert geometry.output_size == (21, 21)
    assert not y[:, :, 2::4].any() and not y[:, :, :, 3::4].any()
    assert rel_error(y, direct.transpose(x, w, geometry, 1)) <= 1e-12


@pytest.mark.parametrize("method", ["gemm", "auto"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spatial, size, kernel, stride, padding, dilation, groups", [
    (1, (17,), (3,), 2, 1, 1, 1),
    (1, (16,), (5,), 3, 2, 2, 2),
    (2, (13, 12), (3, 3), 2, 1, 1, 1),
    (2, (14, 11), (4, 2), (3, 2), (1, 0), (1, 2), 2),
    (2, (16, 16), (2, 2), 3, 0, 1, 1),                 # stride > kernel: unread input cells
    (3, (7, 8, 6), (3, 2, 3), (2, 3, 2), 1, 1, 1),
])
def test_strided_conv_input_gradient(rng, spatial, size, kernel, stride, padding, dilation, groups, dtype, method):
    x = rng.standard_normal((2, 2 * groups, *size)).astype(dtype)
    w = rng.standard_normal((4, 2, *kernel)).astype(dtype)
    xt = to_torch(x).requires_grad_(True)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[spatial]
    yt = conv(xt, to_torch(w), stride=stride, padding=padding, dilation=dilation, groups=groups)
    dy = rng.standard_normal(tuple(yt.shape)).astype(dtype)
    yt.backward(to_torch(dy))
    gx, _, _ = cwf.conv_nd_backward(dy, x, w, stride, padding, dilation, groups, spatial=spatial,
                                    needs=(True, False, False), method=method)
    assert gx.shape == x.shape and gx.dtype == dtype
    assert rel_error(gx, xt.grad.numpy()) <= TOL[dtype]


def test_workspace_stays_within_budget_plus_output(rng):

    import convwise as cw

    geometry = arithmetic.conv_transpose_geometry((20, 20), (4, 4), 2, 1)
    x = rng.standard_normal((4, 32, 20, 20)).astype(np.float32)
    w = rng.standard_normal((32, 16, 4, 4)).astype(np.float32)
    columns = x.shape[0] * 16 * 16 * 400 * 4
    assert columns > 2**20                           # all samples' columns at once exceed the budget
    with cw.config(workspace_mib=1):
        y, peak = peak_memory(gemm.transpose, x, w, geometry, 1)
    # columns within the budget, the output, and one phase's accumulator (a quarter of it here)
    assert peak <= 2**20 + 1.25 * y.nbytes + 64 * 2**10, (peak, y.nbytes)
    assert rel_error(y, direct.transpose(x.astype(np.float64), w.astype(np.float64), geometry, 1)) <= 1e-5
