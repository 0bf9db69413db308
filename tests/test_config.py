"""Process settings: the BLAS thread limit used around small GEMMs."""

import numpy as np
import pytest

from convwise import _config

threadpoolctl = pytest.importorskip("threadpoolctl")


def _counts():
    return [lib.get_num_threads() for lib in _config._blas_libraries()]


def test_numpy_blas_is_among_the_controlled_libraries():
    np.ones((2, 2)) @ np.ones((2, 2))
    assert _config._blas_libraries(), "threadpoolctl sees no BLAS library"


def test_blas_threads_limits_inside_the_block_and_restores_after():
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = _counts()
        with _config.blas_threads(1):
            assert _counts() == [1] * len(before)
        assert _counts() == before


def test_blas_threads_restores_after_an_error():
    before = _counts()
    with pytest.raises(RuntimeError):
        with _config.blas_threads(1):
            raise RuntimeError("boom")
    assert _counts() == before


def test_small_gemm_threads_only_limits_small_products_with_several_threads():
    import convwise as cw

    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = _counts()
        with cw.config(threads=2):
            with _config.small_gemm_threads(_config.SMALL_GEMM_FLOPS / 2):
                assert _counts() == [1] * len(before)
            with _config.small_gemm_threads(_config.SMALL_GEMM_FLOPS * 2):
                assert _counts() == before
        with cw.config(threads=1):
            with _config.small_gemm_threads(10.0):           # one thread configured: nothing to do
                pass
