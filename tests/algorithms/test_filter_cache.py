"""Filter transforms kept between calls (:mod:`convwise.algorithms._filter_cache`): reused only while
the weight's bytes are unchanged, never for the flipped copies transposed paths make, bounded in size."""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as F

import convwise as cw
from conftest import rel_error, to_torch
from convwise import kernels
from convwise.algorithms import _filter_cache, fft, winograd
from convwise.arithmetic import conv_geometry


@pytest.fixture(autouse=True)
def empty_cache():
    _filter_cache.clear()
    yield
    _filter_cache.clear()


def test_a_hit_needs_the_same_bytes(rng):
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    calls = []

    def compute():
        calls.append(1)
        return w * 2

    first = _filter_cache.transform(w, "k", compute)
    assert _filter_cache.transform(w, "k", compute) is first and len(calls) == 1
    assert not first.flags.writeable
    w[0, 0, 0, 0] += 1                                   # written in place, as optimisers and users do
    again = _filter_cache.transform(w, "k", compute)
    assert len(calls) == 2 and again[0, 0, 0, 0] == 2 * w[0, 0, 0, 0]
    w[0, 0, 0, 0] = np.nan                               # NaN equals itself bit for bit: a hit after the miss
    _filter_cache.transform(w, "k", compute)
    _filter_cache.transform(w, "k", compute)
    assert len(calls) == 3
    _filter_cache.transform(w, "other key", compute)
    assert len(calls) == 4
    w[0, 0, 0, 0] = -0.0                                 # -0.0 and 0.0 differ bit for bit
    _filter_cache.transform(w, "k", compute)
    w[0, 0, 0, 0] = 0.0
    _filter_cache.transform(w, "k", compute)
    assert len(calls) == 6


def test_fft_forward_stays_exact_when_the_weight_changes_in_place(rng):
    x = rng.standard_normal((1, 4, 20, 20)).astype(np.float64)
    w = rng.standard_normal((3, 4, 9, 9))
    for _ in range(3):
        y = cw.conv2d(x, w, padding=4, method="fft")
        assert rel_error(y, F.conv2d(to_torch(x), to_torch(w), padding=4).numpy()) < 1e-10
        w[1, 2, 3, 4] += 0.5
    assert len(_filter_cache._entries) == 1


def test_winograd_keeps_the_callers_filters_but_not_transposed_copies(rng):
    assert kernels.wait(winograd.FUSED_KERNELS, ["float32"])
    x = rng.standard_normal((1, 8, 16, 16)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    geometry = conv_geometry((16, 16), 3, 1, 1)
    for _ in range(2):
        y = winograd.forward(x, w, geometry, 1, tile=4)
    assert len(_filter_cache._entries) == 1
    assert rel_error(y, F.conv2d(to_torch(x).double(), to_torch(w).double(), padding=1).numpy()) < 2e-5
    for _ in range(2):
        cw.conv_transpose2d(x, w, padding=1, method="winograd")
        cw.conv_transpose2d(x, w, padding=1, method="fft")
    assert len(_filter_cache._entries) == 1


def test_size_is_bounded_by_the_workspace_budget(rng):
    with cw.config(workspace_mib=1):
        kept = []
        for _ in range(8):
            w = rng.standard_normal((48, 48, 3, 3)).astype(np.float32)     # 81 KiB, its transform 243 KiB
            kept.append(w)
            _filter_cache.transform(w, "k", lambda w=w: np.concatenate([w.ravel()] * 3))
            assert _filter_cache._held <= 2**20
        assert 1 <= len(_filter_cache._entries) <= 3                        # the most recent ones
        big = rng.standard_normal((96, 96, 3, 3)).astype(np.float32)        # over half the budget: not kept
        _filter_cache.transform(big, "k", lambda: np.concatenate([big.ravel()] * 3))
        assert all(key[0] != id(big) for key in _filter_cache._entries)
    cw.set_config(workspace_mib=cw.get_config().workspace_mib + 1)
    cw.set_config(workspace_mib=cw.get_config().workspace_mib - 1)
    assert not _filter_cache._entries


def test_fft_geometry_is_part_of_the_key(rng):
    x = rng.standard_normal((1, 2, 30, 30))
    w = rng.standard_normal((2, 2, 7, 7))
    for stride, dilation in ((1, 1), (2, 1), (1, 2)):
        geometry = conv_geometry((30, 30), 7, stride, 3, dilation)
        y = fft.forward(x, w, geometry, 1)
        expected = F.conv2d(to_torch(x), to_torch(w), stride=stride, padding=3, dilation=dilation).numpy()
        assert rel_error(y, expected) < 1e-10
