"""convwise._blas: NumPy's own CBLAS gemm with leading dimensions and beta, against np.matmul."""

from __future__ import annotations

import numpy as np
import pytest

from convwise import _blas


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_strided_accumulating_product_matches_matmul(dtype, rng):
    gemm = _blas.gemm(dtype)
    if gemm is None:
        pytest.skip("NumPy's BLAS has no CBLAS gemm this process can call")
    a = rng.standard_normal((7, 12)).astype(dtype)      # A: 7 x 5, rows 12 apart
    b = rng.standard_normal((5, 40)).astype(dtype)      # B: 5 x 30 from column 3, rows 40 apart
    c = rng.standard_normal((7, 33)).astype(dtype)      # C: 7 x 30, rows 33 apart
    expected = c.copy()
    expected[:, :30] += a[:, :5] @ b[:, 3:33]
    gemm(7, 30, 5, a.ctypes.data, 12, b.ctypes.data + 3 * b.itemsize, 40, c.ctypes.data, 33, 1.0)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    assert np.abs(c - expected).max() <= tolerance * np.abs(expected).max()
    gemm(7, 30, 5, a.ctypes.data, 12, b.ctypes.data, 40, c.ctypes.data, 33, 0.0)    # beta 0 overwrites
    assert np.abs(c[:, :30] - a[:, :5] @ b[:, :30]).max() <= tolerance * 10
    assert np.array_equal(c[:, 30:], expected[:, 30:])                            # outside C untouched


def test_other_dtypes_have_none_and_a_wrong_function_is_refused():
    assert _blas.gemm(np.float16) is None and _blas.gemm(np.int32) is None
    assert _blas.library(np.complex64) is None

    def does_nothing(*args):
        return None

    assert not _blas._agrees(does_nothing, "float32")

    def raises(*args):
        raise OSError("no such symbol")

    assert not _blas._agrees(raises, "float64")
