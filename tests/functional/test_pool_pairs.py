"""(lo, hi) padding pairs for max/avg pooling (an extension beyond torch), against torch.

Symmetric pairs must give torch's own result (values, indices, ceil_mode, divisors);
asymmetric pairs must equal torch pooling of the input padded explicitly with ``F.pad``
(``-inf`` for max, zeros for average; the divisor without padding cells is torch's average
pooling of a mask of ones).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convwise.functional as cf
from conftest import TOLERANCE, rel_error

DTYPES = (np.float32, np.float64)


def _cases(rng, spatial, count):
    for _ in range(count):
        kernel = tuple(int(v) for v in rng.integers(1, 5, spatial))
        stride = tuple(int(v) for v in rng.integers(1, 4, spatial))
        pairs = tuple((int(rng.integers(0, k // 2 + 1)), int(rng.integers(0, k // 2 + 1))) for k in kernel)
        size = tuple(int(k + rng.integers(0, 5)) for k in kernel)
        yield kernel, stride, pairs, size


@pytest.mark.parametrize("spatial", (1, 2, 3))
@pytest.mark.parametrize("dtype", DTYPES)
def test_symmetric_pairs_equal_torch(spatial, dtype):
    rng = np.random.default_rng(spatial)
    for kernel, stride, pairs, size in _cases(rng, spatial, 15):
        pairs = tuple((lo, lo) for lo, _ in pairs)
        padding = tuple(lo for lo, _ in pairs)
        ceil_mode = bool(rng.random() < 0.5)
        x = rng.standard_normal((2, 2) + size).astype(dtype)
        xt = torch.from_numpy(x)
        y, i = getattr(cf, f"max_pool{spatial}d")(x, kernel, stride, pairs, 1, ceil_mode, True)
        yt, it = getattr(F, f"max_pool{spatial}d")(xt, kernel, stride, padding, 1, ceil_mode, True)
        assert np.array_equal(y, yt.numpy()) and np.array_equal(i, it.numpy())
        for include in (True, False):
            a = getattr(cf, f"avg_pool{spatial}d")(x, kernel, stride, pairs, ceil_mode, include)
            at = getattr(F, f"avg_pool{spatial}d")(xt.double(), kernel, stride, padding, ceil_mode, include)
            assert rel_error(a, at) <= TOLERANCE[dtype][0]


@pytest.mark.parametrize("spatial", (1, 2, 3))
@pytest.mark.parametrize("dtype", DTYPES)
def test_asymmetric_pairs_equal_explicit_padding(spatial, dtype):
    rng = np.random.default_rng(10 + spatial)
    for kernel, stride, pairs, size in _cases(rng, spatial, 15):
        x = rng.standard_normal((2, 2) + size).astype(dtype)
        flat_pad = tuple(v for lo, hi in reversed(pairs) for v in (lo, hi))
        xt = torch.from_numpy(x).double()
        y, i = getattr(cf, f"max_pool{spatial}d")(x, kernel, stride, pairs, return_indices=True)
        yt, it = getattr(F, f"max_pool{spatial}d")(F.pad(xt, flat_pad, value=-np.inf), kernel, stride,
                                                   return_indices=True)
        assert np.array_equal(y, yt.numpy().astype(dtype))
        padded_shape = tuple(s + lo + hi for s, (lo, hi) in zip(size, pairs))
        coords = np.unravel_index(it.numpy(), padded_shape)
        expected = np.ravel_multi_index([c - lo for c, (lo, _) in zip(coords, pairs)], size)
        assert np.array_equal(i, expected)
        avg = getattr(F, f"avg_pool{spatial}d")
        a = getattr(cf, f"avg_pool{spatial}d")(x, kernel, stride, pairs, count_include_pad=True)
        assert rel_error(a, avg(F.pad(xt, flat_pad), kernel, stride)) <= TOLERANCE[dtype][0]
        a = getattr(cf, f"avg_pool{spatial}d")(x, kernel, stride, pairs, count_include_pad=False)
        ones = F.pad(torch.ones_like(xt), flat_pad)
        ref = avg(F.pad(xt, flat_pad), kernel, stride) / avg(ones, kernel, stride)
        assert rel_error(a, ref) <= TOLERANCE[dtype][0]


def test_pairs_errors_and_unbatched():
    x = np.arange(12.0).reshape(3, 4)
    assert np.array_equal(cf.max_pool1d(x, 2, padding=((1, 0),)), cf.max_pool1d(x[None], 2, padding=((1, 0),))[0])
    with pytest.raises(ValueError, match=r"max_pool1d: padding=\(\(2, 0\),\) must be smaller than"):
        cf.max_pool1d(x, 2, padding=((2, 0),))
    with pytest.raises(ValueError, match="avg_pool2d: padding must be non-negative"):
        cf.avg_pool2d(np.zeros((1, 4, 4)), 2, padding=((0, -1), (0, 0)))


def test_pairs_with_integer_and_float16_input():
    rng = np.random.default_rng(3)
    x = rng.integers(-100, 100, (2, 3, 7, 6)).astype(np.int32)
    pairs = ((1, 0), (0, 1))
    y, i = cf.max_pool2d(x, 2, padding=pairs, return_indices=True)
    yf, i_f = cf.max_pool2d(x.astype(np.float64), 2, padding=pairs, return_indices=True)
    assert y.dtype == np.int32 and np.array_equal(y, yf) and np.array_equal(i, i_f)
    h = rng.standard_normal((2, 3, 7, 6)).astype(np.float16)
    assert cf.avg_pool2d(h, 2, padding=pairs).dtype == np.float16
