"""The per-thread scratch buffer: live allocations never overlap, blocks nest, it grows and is reused."""

import threading

import numpy as np
import pytest

from convwise import _workspace
from convwise._workspace import scratch


@pytest.fixture(autouse=True)
def empty_buffer():
    _workspace.release()
    yield
    _workspace.release()


def _span(array):
    start = array.__array_interface__["data"][0]
    return start, start + array.nbytes


def _disjoint(arrays):
    spans = sorted(_span(a) for a in arrays)
    return all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:]))


def test_live_arrays_never_overlap_and_hold_their_values():
    shapes = [((3, 5), np.float32), (7, np.float64), ((2, 2, 2), np.complex64), (1, np.uint8), ((4, 9), np.float32)]
    for call in range(2):                                # first call grows the buffer, second reuses it
        with scratch() as pad:
            arrays = [pad.empty(shape, dtype) for shape, dtype in shapes]
            for i, a in enumerate(arrays):
                a[...] = i + 1
            assert all((a == i + 1).all() for i, a in enumerate(arrays))
            assert _disjoint(arrays)
            if call:
                assert all(_span(a)[0] % 64 == 0 for a in arrays)
            assert [a.shape for a in arrays] == [(3, 5), (7,), (2, 2, 2), (1,), (4, 9)]


def test_second_call_reuses_the_buffer_grown_by_the_first():
    with scratch() as pad:
        first = pad.empty((1000,), np.float32)
        assert not np.shares_memory(first, _workspace._local.pad.buffer)      # did not fit: a plain array
    with scratch() as pad:
        buffer = _workspace._local.pad.buffer
        assert buffer.nbytes >= 4000
        again = pad.empty((1000,), np.float32)
        assert np.shares_memory(again, buffer)
    with scratch() as pad:
        assert np.shares_memory(pad.empty((1000,), np.float32), buffer)    # kept, not reallocated


def test_nested_blocks_release_only_their_own_arrays():
    with scratch() as pad:
        pad.empty(10_000, np.uint8)
    with scratch() as pad:
        outer = pad.empty(100, np.float32)
        outer[...] = 7
        with scratch() as inner_pad:
            assert inner_pad is pad
            inner = inner_pad.empty(100, np.float32)
            inner[...] = -1
            assert _disjoint([outer, inner])
        after = pad.empty(100, np.float32)             # reuses the inner block's bytes
        assert _span(after)[0] == _span(inner)[0]
        assert (outer == 7).all()


def test_zeros_are_zero_even_on_reused_bytes():
    with scratch() as pad:
        pad.empty(64, np.float64)[...] = 5.0
    with scratch() as pad:
        assert not pad.zeros((8, 8), np.float64).any()


def test_buffers_above_the_retention_cap_are_not_kept(monkeypatch):
    monkeypatch.setattr(_workspace, "RETAIN_BYTES", 1 << 16)
    with scratch() as pad:
        pad.empty(1 << 20, np.uint8)
    with scratch() as pad:
        assert pad.buffer.nbytes == 0
        pad.empty(1 << 12, np.uint8)
    with scratch() as pad:
        assert 1 << 12 <= pad.buffer.nbytes <= 1 << 16


def test_each_thread_has_its_own_buffer():
    with scratch() as pad:
        pad.empty(4096, np.uint8)
    seen = {}

    def worker():
        with scratch() as pad:
            seen["pad"] = pad
            seen["array"] = pad.empty(16, np.float32)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["pad"] is not _workspace._local.pad


def test_set_config_workspace_change_releases_the_buffer():
    import convwise as cw

    with scratch() as pad:
        pad.empty(1 << 16, np.uint8)
    with scratch() as pad:
        assert pad.buffer.nbytes >= 1 << 16
    with cw.config(workspace_mib=32):
        with scratch() as pad:
            assert pad.buffer.nbytes == 0


def test_release_reaches_the_buffers_of_other_threads():
    sizes = {}
    ready, go, done = threading.Event(), threading.Event(), threading.Event()

    def worker():
        with scratch() as pad:
            pad.empty(1 << 16, np.uint8)
        with scratch() as pad:
            sizes["before"] = pad.buffer.nbytes
        ready.set()
        go.wait()
        with scratch() as pad:
            sizes["after"] = pad.buffer.nbytes
        done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    ready.wait()
    _workspace.release()
    go.set()
    thread.join()
    assert sizes["before"] >= 1 << 16 and sizes["after"] == 0


def test_with_scratch_passes_a_pad_and_returns_the_result():
    @_workspace.with_scratch
    def total(pad, values):
        buffer = pad.empty(len(values), np.float64)
        buffer[...] = values
        return float(buffer.sum())

    assert total([1.0, 2.0, 3.5]) == 6.5
    assert _workspace._local.pad.used == 0                 # the block was closed
