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


def test_single_threaded_blas_limits_inside_the_block_and_restores_after():
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = _counts()
        with _config.single_threaded_blas():
            assert _counts() == [1] * len(before)
            with _config.single_threaded_blas():          # nested: still one, restored only at the end
                pass
            assert _counts() == [1] * len(before)
        assert _counts() == before


def test_single_threaded_blas_restores_after_an_error():
    before = _counts()
    with pytest.raises(RuntimeError):
        with _config.single_threaded_blas():
            raise RuntimeError("boom")
    assert _counts() == before


def test_single_threaded_blas_leaves_the_setting_alone_off_the_main_thread():
    """OpenBLAS ignores raising its thread count from another thread, so a limit set there
    could not be lifted: other threads do not touch it."""
    import threading

    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = _counts()
        seen = []

        def other():
            with _config.single_threaded_blas():
                seen.append(_counts())

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert seen == [before] and _counts() == before
        with _config.single_threaded_blas():                  # the main thread: limited
            assert _counts() == [1] * len(before)
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
            with threadpoolctl.threadpool_limits(2, user_api="blas"):     # BLAS left at 2 on purpose
                with _config.small_gemm_threads(10.0):                    # one thread configured: untouched
                    assert _counts() == [2] * len(before)
