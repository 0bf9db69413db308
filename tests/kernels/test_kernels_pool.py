"""Compiled (numba) max and average pooling against torch 2.13, through the public functions.

The oracle checks of tests/functional/test_pooling.py (values, int64 indices, ties, NaN/Inf, ceil_mode,
divisors) run here with the kernels loaded, and the NumPy phase-layout path made to fail,
so every call below is answered by :mod:`convwise.kernels.pool`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as F

import convwise.functional as cf
from conftest import to_torch
from convwise import kernels
from convwise.algorithms import pooling
from functional.test_pooling import (
    AVG_GRID,
    DTYPES,
    MAX_GRID,
    SIZES,
    _close,
    _data,
    _inputs,
    check_avg_pool,
    check_max_pool,
)


@pytest.fixture(autouse=True)
def compiled_only(monkeypatch):
    assert kernels.wait(["max_pool", "avg_pool"]), kernels.unavailable_reason()

    def numpy_path(*args, **kwargs):
        raise AssertionError("the NumPy pooling path ran although the compiled kernel is ready")

    monkeypatch.setattr(pooling, "FlatPhases", numpy_path)   # the NumPy kernels' phase layout


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
        x = _data(rng, (2, 2) + SIZES[spatial], dtype, ties=True)
        flat = x.reshape(-1)
        cells = rng.choice(flat.size, size=flat.size // 3, replace=False)
        flat[cells[::3]] = np.nan
        flat[cells[1::3]] = np.inf
        flat[cells[2::3]] = -np.inf
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
