"""Gradients of conv / transposed conv: against torch autograd and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convwise as cw
from conftest import TOLERANCE, numeric_gradient, rel_error, to_torch
from convwise.functional import conv_nd_backward, conv_transpose_nd_backward

TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
CONV = {1: cw.conv1d, 2: cw.conv2d, 3: cw.conv3d}
CONV_T = {1: cw.conv_transpose1d, 2: cw.conv_transpose2d, 3: cw.conv_transpose3d}
METHODS = ["direct", "gemm", "auto"]
SIZES = {1: (12,), 2: (9, 8), 3: (6, 5, 7)}
KERNELS = {1: (3,), 2: (3, 2), 3: (2, 3, 2)}


def _torch_grads(fn, x, w, b, *args):
    tx, tw, tb = (to_torch(a).requires_grad_() for a in (x, w, b))
    y = fn(tx, tw, tb, *args)
    dy = torch.from_numpy(np.random.default_rng(7).standard_normal(tuple(y.shape)))
    y.backward(dy)
    return dy.numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()


def _check(ours, reference, dtype, bound_index=0):
    for got, expected in zip(ours, reference):
        assert got.shape == expected.shape
        assert rel_error(got, expected) <= TOLERANCE[dtype][bound_index]


CONV_CONFIGS = [(1, 0, 1, 1), (2, 1, 1, 2), (1, "same", 2, 1), (3, 2, 2, 4), (2, "valid", 1, 1)]


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("config", CONV_CONFIGS, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", METHODS)
def test_conv_backward_matches_torch(nd, config, dtype, method, rng):
    stride, padding, dilation, groups = config
    x = rng.standard_normal((2, 4, *SIZES[nd]))
    w = rng.standard_normal((8, 4 // groups, *KERNELS[nd]))
    b = rng.standard_normal(8)
    dy, gx, gw, gb = _torch_grads(TORCH_CONV[nd], x, w, b, stride, padding, dilation, groups)
    ours = conv_nd_backward(dy.astype(dtype), x.astype(dtype), w.astype(dtype), stride, padding, dilation, groups,
                            spatial=nd, method=method)
    assert all(g.dtype == dtype for g in ours)
    _check(ours, (gx, gw, gb), dtype, bound_index=int(method == "auto"))


TRANSPOSE_CONFIGS = [(1, 0, 0, 1, 1), (2, 1, 1, 1, 2), (3, 1, 2, 2, 1), (2, 0, 1, 2, 4)]


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("config", TRANSPOSE_CONFIGS, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", METHODS)
def test_conv_transpose_backward_matches_torch(nd, config, dtype, method, rng):
    stride, padding, output_padding, dilation, groups = config
    x = rng.standard_normal((2, 4, *SIZES[nd]))
    w = rng.standard_normal((4, 8 // groups, *KERNELS[nd]))
    b = rng.standard_normal(8)
    dy, gx, gw, gb = _torch_grads(TORCH_CONV_T[nd], x, w, b, stride, padding, output_padding, groups, dilation)
    ours = conv_transpose_nd_backward(dy.astype(dtype), x.astype(dtype), w.astype(dtype), stride, padding,
                                      output_padding, groups, dilation, spatial=nd, method=method)
    _check(ours, (gx, gw, gb), dtype, bound_index=int(method == "auto"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 3), st.sampled_from([1, 2]), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2),
       st.integers(1, 3), st.booleans(), st.integers(0, 2**32 - 1))
def test_conv_backward_hypothesis(nd, groups, stride, padding, dilation, kernel, unbatched, seed):
    rng = np.random.default_rng(seed)
    size = tuple(rng.integers(kernel * dilation, kernel * dilation + 5) for _ in range(nd))
    x = rng.standard_normal((1, 2, *size))
    w = rng.standard_normal((4, 2 // groups, *(kernel,) * nd))
    b = rng.standard_normal(4)
    dy, gx, gw, gb = _torch_grads(TORCH_CONV[nd], x, w, b, stride, padding, dilation, groups)
    if unbatched:
        x, dy, gx = x[0], dy[0], gx[0]
    ours = conv_nd_backward(dy, x, w, stride, padding, dilation, groups, spatial=nd)
    _check(ours, (gx, gw, gb), np.float64)


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("config", [(1, 0, 1, 1), (2, 1, 2, 2), (1, "same", 1, 1)], ids=str)
def test_gradients_match_finite_differences(transposed, config, rng):
    """Independent of torch: d(sum(y * r))/d(x, w, b) by central differences in float64."""
    stride, padding, dilation, groups = config
    if transposed and padding == "same":
        padding = 1
    x = rng.standard_normal((2, 2, 6, 5))
    w = rng.standard_normal((2, 4 // groups, 3, 2) if transposed else (4, 2 // groups, 3, 2))
    b = rng.standard_normal(4)
    forward = ((lambda: cw.conv_transpose2d(x, w, b, stride, padding, 0, groups, dilation)) if transposed else
               (lambda: cw.conv2d(x, w, b, stride, padding, dilation, groups)))
    r = rng.standard_normal(forward().shape)
    loss = lambda: float((forward() * r).sum())  # noqa: E731
    if transposed:
        ours = conv_transpose_nd_backward(r, x, w, stride, padding, 0, groups, dilation, spatial=2)
    else:
        ours = conv_nd_backward(r, x, w, stride, padding, dilation, groups, spatial=2)
    for got, array in zip(ours, (x, w, b)):
        assert rel_error(got, numeric_gradient(loss, array)) <= 1e-7


def test_uncovered_input_cells_get_zero_gradient():
    # 8 wide, kernel 3, stride 2: column 7 is never reached by any window
    x = np.ones((1, 1, 8, 8))
    w = np.ones((1, 1, 3, 3))
    gx, _, _ = conv_nd_backward(np.ones((1, 1, 3, 3)), x, w, stride=2, spatial=2)
    assert np.all(gx[0, 0, 7, :] == 0) and np.all(gx[0, 0, :, 7] == 0)
    assert np.all(gx[0, 0, :7, :7] > 0)


def test_needs_skips_work_and_zero_batch():
    x = np.ones((0, 3, 5, 5))
    w = np.ones((2, 3, 3, 3))
    gx, gw, gb = conv_nd_backward(np.ones((0, 2, 3, 3)), x, w, spatial=2)
    assert gx.shape == x.shape and np.all(gw == 0) and gb.tolist() == [0.0, 0.0]
    gx, gw, gb = conv_nd_backward(np.ones((1, 2, 3, 3)), np.ones((1, 3, 5, 5)), w, spatial=2, needs=(False, True, False))
    assert gx is None and gb is None and gw.shape == w.shape


def test_backward_errors():
    x, w = np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"conv_backward: grad_output must have the forward output's shape \(1, 2, 3, 3\)"):
        conv_nd_backward(np.ones((1, 2, 4, 4)), x, w, spatial=2)
    with pytest.raises(TypeError, match="conv_backward: input .float64. and grad_output .float32."):
        conv_nd_backward(np.ones((1, 2, 3, 3), np.float32), x, w, spatial=2)
    with pytest.raises(ValueError, match="conv_transpose_backward"):
        conv_transpose_nd_backward(np.ones((1, 2, 7, 7)), x, w, spatial=2)
