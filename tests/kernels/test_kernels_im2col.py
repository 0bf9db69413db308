"""The compiled 2-D im2col and col2im (:mod:`convwise.kernels.im2col`) behind the ``gemm`` algorithm,
against torch 2.13 and the NumPy column paths (``kernels.disabled()``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as F

import convwise as cw
from conftest import rel_error, to_torch
from convwise import kernels
from convwise.functional import conv_nd_backward


@pytest.fixture(scope="module", autouse=True)
def loaded():
    assert kernels.wait(["im2col2d", "col2im2d"]), kernels.unavailable_reason()


CONV = [  # x shape, w shape, kwargs: padding, stride, dilation, groups, per-side padding, empty padding rows
    ((2, 3, 17, 19), (4, 3, 3, 3), dict(padding=1)),
    ((1, 3, 40, 41), (8, 3, 11, 11), dict(stride=4)),
    ((1, 3, 30, 31), (5, 3, 7, 7), dict(stride=2, padding=3, dilation=2)),
    ((2, 4, 9, 9), (4, 2, 3, 3), dict(padding=(2, 0), stride=(1, 3), groups=2)),
    ((1, 2, 5, 6), (3, 2, 3, 2), dict(padding=(4, 3))),            # whole rows and columns of padding
]


def _gemm_against_torch(rng, dtype, x_shape, w_shape, kwargs, ours, theirs):
    """Operands, ``ours(x, w, method="gemm")`` checked against torch's float64 ``theirs``, and the bound."""
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    y = ours(x, w, method="gemm", **kwargs)
    bound = 1e-5 if dtype == np.float32 else 1e-12
    assert rel_error(y, theirs(to_torch(x).double(), to_torch(w).double(), **kwargs).numpy()) < bound
    return x, w, y, bound


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, kwargs", CONV)
def test_im2col_forward_and_weight_grad_match_torch_and_numpy(rng, dtype, x_shape, w_shape, kwargs):
    x, w, y, bound = _gemm_against_torch(rng, dtype, x_shape, w_shape, kwargs, cw.conv2d, F.conv2d)
    dy = rng.standard_normal(y.shape).astype(dtype)
    _, gw, _ = conv_nd_backward(dy, x, w, spatial=2, needs=(False, True, False), method="gemm", **kwargs)
    with kernels.disabled():
        numpy_y = cw.conv2d(x, w, method="gemm", **kwargs)
        _, numpy_gw, _ = conv_nd_backward(dy, x, w, spatial=2, needs=(False, True, False), method="gemm", **kwargs)
    assert rel_error(y, numpy_y) < bound
    assert rel_error(gw, numpy_gw) < bound


TRANSPOSED = [
    ((1, 8, 7, 7), (8, 4, 4, 4), dict(stride=2, padding=1)),
    ((2, 6, 7, 9), (6, 2, 3, 5), dict(stride=(2, 3), padding=(1, 2), dilation=(2, 1), output_padding=(1, 0),
                                      groups=3)),
    ((1, 3, 5, 5), (3, 4, 2, 2), dict(stride=3)),                      # stride > kernel: cells no tap reaches
    ((1, 2, 4, 4), (2, 2, 3, 3), dict(stride=2, padding=2)),           # padding crops taps away
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, kwargs", TRANSPOSED)
def test_col2im_transpose_matches_torch_and_numpy(rng, dtype, x_shape, w_shape, kwargs):
    x, w, y, bound = _gemm_against_torch(rng, dtype, x_shape, w_shape, kwargs, cw.conv_transpose2d,
                                         F.conv_transpose2d)
    with kernels.disabled():
        assert rel_error(cw.conv_transpose2d(x, w, method="gemm", **kwargs), y) < bound


def test_non_finite_values_land_where_torch_puts_them(rng):
    x = rng.standard_normal((1, 2, 9, 9)).astype(np.float32)
    x[0, 1, 4, 4] = np.inf
    x[0, 0, 0, 8] = np.nan
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    y = cw.conv2d(x, w, padding=1, stride=2, method="gemm")
    expected = F.conv2d(to_torch(x), to_torch(w), padding=1, stride=2).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(expected))
    wt = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    yt = cw.conv_transpose2d(x, wt, stride=2, padding=1, method="gemm")
    expected_t = F.conv_transpose2d(to_torch(x), to_torch(wt), stride=2, padding=1).numpy()
    np.testing.assert_array_equal(np.isnan(yt), np.isnan(expected_t))
    np.testing.assert_array_equal(np.isinf(yt), np.isinf(expected_t))
