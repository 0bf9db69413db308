"""Configuration contexts are per thread and per asyncio task; set_config changes the default."""

import asyncio
import math
import threading

import numpy as np
import pytest

import convwise as cw


@pytest.fixture(autouse=True)
def _restore_defaults():
    previous = cw.get_config()
    yield
    cw.set_config(threads=previous.threads, workspace_mib=previous.workspace_mib, memory_mib=previous.memory_mib)


def test_contexts_in_concurrent_threads_do_not_see_each_other():
    barrier = threading.Barrier(4)
    seen, errors = {}, []

    def worker(index):
        try:
            with cw.config(workspace_mib=10 + index, threads=1 + index):
                barrier.wait(timeout=10)              # all four are inside their blocks at once
                inside = (cw.get_config().workspace_mib, cw.get_config().threads)
                barrier.wait(timeout=10)
            seen[index] = inside
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    default = cw.get_config()
    threads = [threading.Thread(target=worker, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert seen == {index: (10.0 + index, 1 + index) for index in range(4)}
    assert cw.get_config() == default                  # nothing left behind after all blocks exit


def test_interleaved_exits_restore_each_threads_own_value():
    """The reported leak: thread A enters, B enters, A exits, B exits -> budget left at A's value."""
    default = cw.get_config().workspace_mib
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with cw.config(workspace_mib=11):
            a_in.set()
            b_in.wait(10)
        a_out.set()
        seen["a_after"] = cw.get_config().workspace_mib

    def b():
        a_in.wait(10)
        with cw.config(workspace_mib=22):
            b_in.set()
            a_out.wait(10)
            seen["b_inside_after_a_left"] = cw.get_config().workspace_mib
        seen["b_after"] = cw.get_config().workspace_mib

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"a_after": default, "b_inside_after_a_left": 22.0, "b_after": default}
    assert cw.get_config().workspace_mib == default


def test_asyncio_tasks_have_their_own_settings():
    async def task(value, started, others):
        with cw.config(memory_mib=value):
            started.set()
            await others.wait()                       # the other task is inside its own block now
            await asyncio.sleep(0)
            return cw.get_config().memory_mib

    async def main():
        first, second = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(task(100, first, second), task(200, second, first))

    default = cw.get_config().memory_mib
    assert asyncio.run(main()) == [100.0, 200.0]
    assert cw.get_config().memory_mib == default


def test_set_config_changes_the_default_seen_by_other_threads_except_their_overrides():
    seen = {}
    changed, observed = threading.Event(), threading.Event()

    def worker():
        with cw.config(threads=1):
            changed.wait(10)
            seen["threads"], seen["workspace"] = cw.get_config().threads, cw.get_config().workspace_mib
            observed.set()

    thread = threading.Thread(target=worker)
    thread.start()
    cw.set_config(workspace_mib=77)
    changed.set()
    observed.wait(10)
    thread.join()
    assert seen == {"threads": 1, "workspace": 77.0}     # own override kept, new default seen


def test_results_do_not_depend_on_another_threads_budget():
    """A conv under a tiny workspace in one thread and a large one in another give torch's answer."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 20, 20))
    w = rng.standard_normal((8, 8, 3, 3))
    expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w)).numpy()
    results, barrier = {}, threading.Barrier(2)

    def worker(name, budget):
        with cw.config(workspace_mib=budget):
            barrier.wait(10)
            results[name] = [cw.conv2d(x, w, method="gemm") for _ in range(3)]

    threads = [threading.Thread(target=worker, args=(name, budget)) for name, budget in (("small", 0.05), ("big", 64))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for outputs in results.values():
        for y in outputs:
            np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("function", ["set_config", "config"])
def test_numpy_integers_and_floats_are_accepted(function):
    kwargs = {"threads": np.int64(2), "workspace_mib": np.float32(8), "memory_mib": np.int32(512)}
    if function == "set_config":
        cw.set_config(**kwargs)
        seen = cw.get_config()
    else:
        with cw.config(**kwargs):
            seen = cw.get_config()
    assert (seen.threads, seen.workspace_mib, seen.memory_mib) == (2, 8.0, 512.0)
    assert type(seen.threads) is int


@pytest.mark.parametrize("kwargs, error, words", [
    ({"threads": True}, TypeError, "threads must be an int, got bool"),
    ({"threads": np.bool_(True)}, TypeError, "threads must be an int, got bool"),
    ({"threads": 2.0}, TypeError, "threads must be an int"),
    ({"threads": "2"}, TypeError, "threads must be an int"),
    ({"threads": 0}, ValueError, "threads must be between 1 and 65536, got threads=0"),
    ({"threads": 2**70}, ValueError, "threads must be between 1 and 65536"),
    ({"workspace_mib": math.inf}, ValueError, "workspace_mib must be a positive finite number"),
    ({"workspace_mib": math.nan}, ValueError, "workspace_mib must be a positive finite number"),
    ({"workspace_mib": -1}, ValueError, "workspace_mib must be a positive finite number"),
    ({"workspace_mib": 2**2000}, ValueError, "workspace_mib must be a positive finite number"),
    ({"workspace_mib": False}, TypeError, "workspace_mib must be a number"),
    ({"memory_mib": math.inf}, ValueError, "memory_mib must be a positive finite number"),
    ({"memory_mib": "1"}, TypeError, "memory_mib must be a number"),
])
@pytest.mark.parametrize("function", ["set_config", "config"])
def test_bad_settings_are_refused_and_change_nothing(function, kwargs, error, words):
    before = cw.get_config()
    with pytest.raises(error, match=rf"^{function}: .*") as caught:
        if function == "set_config":
            cw.set_config(**kwargs)
        else:
            with cw.config(**kwargs):
                pass
    assert words in str(caught.value)
    assert cw.get_config() == before


def test_blas_threads_follow_a_main_thread_block_and_come_back():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from convwise import _config

    if not _config.blas_controllable():
        pytest.skip("no controllable BLAS")
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        with cw.config(threads=1):
            assert [lib.get_num_threads() for lib in _config._blas_libraries()][0] == 1
        assert [lib.get_num_threads() for lib in _config._blas_libraries()][0] == cw.get_config().threads


def test_carry_context_gives_pool_threads_the_callers_settings():
    from concurrent.futures import ThreadPoolExecutor

    from convwise._config import carry_context

    with ThreadPoolExecutor(2) as pool:
        with cw.config(workspace_mib=3):
            plain = pool.submit(lambda: cw.get_config().workspace_mib).result()
            carried = pool.submit(carry_context(lambda: cw.get_config().workspace_mib)).result()
    assert carried == 3.0
    assert plain == cw.get_config().workspace_mib            # what a bare submit sees: the default


def test_a_threads_block_sets_blas_and_leaves_torchs_own_threads_alone():
    """``threads`` reaches the BLAS pools only: torch's OpenMP pool is torch's to set (a full
    threadpoolctl limit used to set it too, and took ~1 ms per block to scan the libraries)."""
    torch = pytest.importorskip("torch")
    from convwise import _config

    if not _config.blas_controllable():
        pytest.skip("no controllable BLAS")
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with cw.config(threads=2):
            with cw.config(threads=1):
                assert torch.get_num_threads() == 2
                assert {lib.get_num_threads() for lib in _config._blas_libraries()} == {1}
            assert {lib.get_num_threads() for lib in _config._blas_libraries()} == {2}
    finally:
        torch.set_num_threads(previous)
