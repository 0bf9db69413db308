"""Compiled (numba) max, average and power-average pooling and the max/avg gradients against torch 2.13,
through the public functions.

The oracle checks of tests/functional/test_pooling.py (values, int64 indices, ties, NaN/Inf, ceil_mode,
divisors, gradients) run here with the kernels loaded, and the NumPy paths (the phase layout, the
tap-by-tap gradient spread, the ``bincount`` scatter) made to fail, so every call below is answered
by :mod:`convwise.kernels.pool`. lp_pool is checked against torch in the input's own dtype: with
mixed signs or negative powers its window sums cancel, and both sides then round alike.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convwise.functional as cf
from conftest import TOLERANCE, rel_error, to_torch
from convwise import kernels
from convwise.algorithms import pooling
from functional.test_pooling import (
    AVG_GRID,
    DTYPES,
    MAX_GRID,
    SIZES,
    T_AVG,
    T_MAX,
    _close,
    _data,
    _inputs,
    check_avg_pool,
    check_max_pool,
    nan_inf_data,
)

POOL_KERNELS = ["max_pool", "avg_pool", "lp_pool", "max_pool_backward", "avg_pool_backward"]


def _numpy_path(*args, **kwargs):
    raise AssertionError("the NumPy pooling path ran although the compiled kernel is ready")


@pytest.fixture(autouse=True)
def compiled_only(monkeypatch):
    assert kernels.wait(POOL_KERNELS), kernels.unavailable_reason()
    monkeypatch.setattr(pooling, "FlatPhases", _numpy_path)       # the NumPy kernels' phase layout
    monkeypatch.setattr(pooling, "tap_window", _numpy_path)       # avg_pool_backward's tap-by-tap spread
    monkeypatch.setattr(pooling, "_scatter_numpy", _numpy_path)   # max_pool's bincount scatter


@pytest.mark.parametrize("spatial, kernel_size, stride, padding, dilation, ceil_mode", MAX_GRID[::3])
def test_max_pool_grid(spatial, kernel_size, stride, padding, dilation, ceil_mode):
    for x in _inputs(spatial, kernel_size * 7 + padding):
        check_max_pool(x, spatial, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
                       ceil_mode=ceil_mode)


@pytest.mark.parametrize("spatial, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override",
                         AVG_GRID[::3])
def test_avg_pool_grid(spatial, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    extra = {} if divisor_override is None else {"divisor_override": divisor_override}
    for x in _inputs(spatial, kernel_size * 5 + padding):
        check_avg_pool(x, spatial, kernel_size=kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode,
                       count_include_pad=count_include_pad, **extra)


@pytest.mark.parametrize("spatial", [1, 2, 3])
def test_nan_and_inf_like_torch(spatial):
    rng = np.random.default_rng(spatial)
    for dtype in DTYPES:
        x = nan_inf_data(rng, spatial, dtype)
        check_max_pool(x, spatial, kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=True)
        check_max_pool(x, spatial, kernel_size=2, stride=1, dilation=2)
        y = cf.avg_pool2d(x, 2, stride=1, padding=1, count_include_pad=False) if spatial == 2 else None
        if y is not None:
            _close(y, F.avg_pool2d(to_torch(x), 2, stride=1, padding=1, count_include_pad=False).numpy(), dtype)


def test_scan_rules_and_all_padding_window():
    y, i = cf.max_pool1d(np.array([[[1.0, np.nan, 3.0, np.nan, 0.0]]]), 5, return_indices=True)
    assert np.isnan(y).all() and i.tolist() == [[[3]]]                       # the last NaN
    y, i = cf.max_pool1d(np.full((1, 1, 3), -np.inf), 3, stride=1, padding=1, return_indices=True)
    assert i.tolist() == [[[0, 0, 1]]] and np.isneginf(y).all()             # first in-bounds cell
    y, i = cf.max_pool2d(np.zeros((1, 1, 4, 4)), 3, stride=1, padding=1, return_indices=True)
    assert i[0, 0, 0, 0] == 0 and i[0, 0, 2, 3] == 6                         # ties: the first maximum
    y, i = cf.max_pool2d(np.ones((1, 1, 2, 2)), 2, padding=1, dilation=3, return_indices=True)
    _, i_ref = F.max_pool2d(to_torch(np.ones((1, 1, 2, 2))), 2, padding=1, dilation=3, return_indices=True)
    assert np.isneginf(y).all() and np.array_equal(i, i_ref.numpy())        # only padding: torch's index


def test_read_only_and_strided_inputs():
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 8))
    expected = F.max_pool2d(to_torch(x), 3, stride=2, padding=1).numpy()
    frozen = x.copy()
    frozen.flags.writeable = False
    assert np.array_equal(cf.max_pool2d(frozen, 3, stride=2, padding=1), expected)
    wide = np.repeat(x, 2, axis=-1)[..., ::2]                                # a non-contiguous view
    assert np.array_equal(cf.max_pool2d(wide, 3, stride=2, padding=1), expected)


def test_disabled_kernels_fall_back_to_numpy(monkeypatch):
    """While kernels load (here: disabled) the NumPy path answers, with the same oracle checks."""
    monkeypatch.undo()                                                        # the NumPy path may run again
    with kernels.disabled():
        assert not kernels.ready("max_pool", np.float32)
        for spatial, kernel_size, stride, padding, dilation, ceil_mode in MAX_GRID[1::9]:
            for x in _inputs(spatial, kernel_size * 7 + padding):
                check_max_pool(x, spatial, kernel_size=kernel_size, stride=stride, padding=padding,
                               dilation=dilation, ceil_mode=ceil_mode)
        for spatial, kernel_size, stride, padding, ceil_mode, include, divisor in AVG_GRID[1::9]:
            extra = {} if divisor is None else {"divisor_override": divisor}
            for x in _inputs(spatial, kernel_size * 5 + padding):
                check_avg_pool(x, spatial, kernel_size=kernel_size, stride=stride, padding=padding,
                               ceil_mode=ceil_mode, count_include_pad=include, **extra)
        assert not kernels.ready("lp_pool", np.float64)
        for spatial, kernel_size, stride, ceil_mode in LP_GRID[::4]:
            check_lp_pool(spatial, kernel_size, stride, ceil_mode, with_grad=True)
        for spatial in (1, 2, 3):
            check_gradients_of_non_finite(spatial, exact=False)
            check_lp_pool_non_finite(spatial)


# --------------------------------------------------------------------------- power-average pooling

LP = {1: cf.lp_pool1d, 2: cf.lp_pool2d, 3: cf.lp_pool3d}
T_LP = {1: F.lp_pool1d, 2: F.lp_pool2d, 3: F.lp_pool3d}
NORMS = (1, 2, 3, 1.5, 0.5, -0.5, -1, -2, 2.5)
LP_GRID = [(spatial, k, s, c) for spatial in (1, 2, 3) for k, s in ((2, None), (3, 2), (3, 1), (2, 3))
           for c in (False, True)]


def _same_dtype_close(ours, reference, dtype):
    """NaN and Inf in the same cells as torch in ``dtype``; the finite cells within the dtype's bound."""
    reference = np.asarray(reference)
    assert ours.dtype == np.dtype(dtype) and ours.shape == reference.shape
    assert np.array_equal(np.isnan(ours), np.isnan(reference))
    infinite = np.isinf(reference)
    assert np.array_equal(ours[infinite], reference[infinite])
    finite = np.isfinite(reference)
    assert rel_error(ours[finite], reference[finite]) <= TOLERANCE[np.dtype(dtype).type][0]


def check_lp_pool(spatial, kernel_size, stride, ceil_mode, *, with_grad=False):
    """Values for every norm on signed input (fractional powers of negatives: NaN in both) and, on
    positive input, the gradient against torch autograd."""
    rng = np.random.default_rng(spatial * 10 + kernel_size)
    for dtype in DTYPES:
        x = _data(rng, (2, 3) + SIZES[spatial], dtype)
        for norm in NORMS:
            ours = LP[spatial](x, norm, kernel_size, stride, ceil_mode)
            _same_dtype_close(ours, T_LP[spatial](torch.from_numpy(x), norm, kernel_size, stride, ceil_mode), dtype)
            if not with_grad:
                continue
            positive = np.abs(x) + dtype(0.1)
            xt = torch.from_numpy(positive).requires_grad_(True)
            y = T_LP[spatial](xt, norm, kernel_size, stride, ceil_mode)
            g = rng.standard_normal(tuple(y.shape)).astype(dtype)
            y.backward(torch.from_numpy(g))
            grad = cf.lp_pool_nd_backward(g, positive, norm, kernel_size, stride, ceil_mode, spatial=spatial)
            assert rel_error(grad, xt.grad.numpy()) <= 10 * TOLERANCE[dtype][0], (norm, dtype)


def check_lp_pool_non_finite(spatial):
    rng = np.random.default_rng(spatial)
    for dtype in DTYPES:
        x = _data(rng, (2, 2) + SIZES[spatial], dtype)
        flat = x.reshape(-1)
        cells = rng.choice(flat.size, size=flat.size // 2, replace=False)
        for part, value in enumerate((np.nan, np.inf, -np.inf, 0.0, -0.0)):
            flat[cells[part::5]] = value
        for norm in NORMS:
            for kernel_size, stride, ceil_mode in ((2, None, True), (3, 1, False)):
                ours = LP[spatial](x, norm, kernel_size, stride, ceil_mode)
                reference = T_LP[spatial](torch.from_numpy(x), norm, kernel_size, stride, ceil_mode).numpy()
                _same_dtype_close(ours, reference, dtype)
                assert np.array_equal(np.signbit(ours[ours == 0]), np.signbit(reference[ours == 0]))


@pytest.mark.parametrize("spatial, kernel_size, stride, ceil_mode", LP_GRID)
def test_lp_pool_matches_torch(spatial, kernel_size, stride, ceil_mode, monkeypatch):
    monkeypatch.setattr(pooling, "torch_power", _numpy_path)      # lp_pool's NumPy path (forward only below)
    check_lp_pool(spatial, kernel_size, stride, ceil_mode)


@pytest.mark.parametrize("spatial, kernel_size, stride, ceil_mode", LP_GRID[::3])
def test_lp_pool_gradient_through_compiled_pooling(spatial, kernel_size, stride, ceil_mode):
    check_lp_pool(spatial, kernel_size, stride, ceil_mode, with_grad=True)


@pytest.mark.parametrize("spatial", [1, 2, 3])
def test_lp_pool_nan_inf_and_signed_zero_like_torch(spatial, monkeypatch):
    monkeypatch.setattr(pooling, "torch_power", _numpy_path)
    check_lp_pool_non_finite(spatial)


def test_lp_pool_unbatched_and_tuple_arguments(monkeypatch):
    monkeypatch.setattr(pooling, "torch_power", _numpy_path)
    x = np.abs(np.random.default_rng(1).standard_normal((3, 7, 8))) + 0.1
    expected = F.lp_pool2d(torch.from_numpy(x), 2.5, (3, 2), (2, 1), True).numpy()
    _same_dtype_close(cf.lp_pool2d(x, 2.5, (3, 2), (2, 1), True), expected, np.float64)


# --------------------------------------------------------------------------- gradients


def check_gradients_of_non_finite(spatial, *, exact=True):
    """NaN and Inf in grad_output reach the input cells torch's backward sends them to; with ``exact``
    (the compiled kernels) float64 gradients are bit-identical to torch's (each cell sums in row-major
    output order; the NumPy paths sum tap by tap, or in float64)."""
    rng = np.random.default_rng(spatial + 20)
    for dtype in DTYPES:
        x = _data(rng, (2, 2) + SIZES[spatial], dtype)
        xt = torch.from_numpy(x)
        for kernel_size, stride, padding, ceil_mode in ((3, 1, 1, True), (2, 2, 1, True), (3, 2, 0, False)):
            y, index = T_MAX[spatial](xt, kernel_size, stride, padding, 1, ceil_mode, True)
            g = rng.standard_normal(tuple(y.shape)).astype(dtype)
            g.reshape(-1)[::7] = np.nan
            g.reshape(-1)[3::11] = np.inf
            g.reshape(-1)[5::13] = -np.inf
            gt = torch.from_numpy(g)
            ours = cf.max_pool_nd_backward(g, x, index.numpy(), kernel_size, stride, padding, 1, ceil_mode,
                                           spatial=spatial)
            leaf = xt.clone().requires_grad_(True)
            T_MAX[spatial](leaf, kernel_size, stride, padding, 1, ceil_mode).backward(gt)
            _same_dtype_close(ours, leaf.grad.numpy(), dtype)
            if exact and dtype == np.float64:
                assert np.array_equal(ours, leaf.grad.numpy(), equal_nan=True)
            for include in (True, False):
                leaf = xt.clone().requires_grad_(True)
                T_AVG[spatial](leaf, kernel_size, stride, padding, ceil_mode, include).backward(gt)
                ours = cf.avg_pool_nd_backward(g, x, kernel_size, stride, padding, ceil_mode, include, None,
                                               spatial=spatial)
                _same_dtype_close(ours, leaf.grad.numpy(), dtype)
                if exact and dtype == np.float64:
                    assert np.array_equal(ours, leaf.grad.numpy(), equal_nan=True)


@pytest.mark.parametrize("spatial", [1, 2, 3])
def test_gradients_of_nan_and_inf_like_torch(spatial):
    check_gradients_of_non_finite(spatial)


def test_max_pool_backward_skips_indices_outside_the_plane():
    g = np.arange(1.0, 7.0).reshape(1, 2, 3)
    index = np.array([[[0, -1, 3], [4, 2, 2]]])                  # -1 and 4 lie outside a plane of 4
    ours = cf.max_pool_nd_backward(g, np.zeros((1, 2, 4)), index, 2, 1, 0, 1, False, spatial=1)
    assert ours.tolist() == [[[1.0, 0.0, 0.0, 3.0], [0.0, 0.0, 11.0, 0.0]]]
    assert ours.dtype == np.float64
    narrow = cf.max_pool_nd_backward(g.astype(np.float32), np.zeros((1, 2, 4), np.float32), index.astype(np.int32),
                                     2, 1, 0, 1, False, spatial=1)
    assert narrow.dtype == np.float32 and np.array_equal(narrow, ours)
