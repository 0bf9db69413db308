"""The engine's guards: memory refused before allocating, Python loops bounded, plans reused."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convwise as cw
from conftest import TOLERANCE, rel_error, to_torch
from convwise.algorithms import pooling as pool_kernels
from convwise.algorithms import select


def test_huge_transposed_output_is_refused_before_allocating():
    x = np.ones((1, 1, 2, 2), np.float32)
    w = np.ones((1, 1, 2, 2), np.float32)
    with cw.config(memory_mib=64):
        with pytest.raises(ValueError, match=r"conv_transpose2d: needs .* of memory .*budget"):
            cw.conv_transpose2d(x, w, stride=10**5)


def test_large_stride_transposed_conv_visits_only_the_phases_taps_reach(rng):
    """stride=10**5 once enumerated 10**5 phases per dimension; now only the taps' phases."""
    x = rng.standard_normal((1, 2, 3))
    w = rng.standard_normal((2, 3, 4))
    expected = F.conv_transpose1d(to_torch(x), to_torch(w), stride=10**5).numpy()
    for method in ("auto", "gemm", "direct"):
        got = cw.conv_transpose1d(x, w, stride=10**5, method=method)
        assert rel_error(got, expected) <= TOLERANCE[np.float64][0]


def test_adaptive_pooling_to_a_million_outputs_is_vectorised(rng):
    x = rng.standard_normal((1, 2, 7))
    for ours, theirs in [(cw.adaptive_avg_pool1d, F.adaptive_avg_pool1d), (cw.adaptive_max_pool1d, F.adaptive_max_pool1d)]:
        got = ours(x, 10**6)
        assert rel_error(got, theirs(to_torch(x), 10**6).numpy()) <= 1e-12


def test_pooling_loops_are_bounded(monkeypatch):
    calls = []

    def limited(fn, steps, *, what="steps", limit=100):
        calls.append(steps)
        if steps > limit:
            raise ValueError(f"{fn}: would loop over {steps:,} {what}, more than the limit of {limit:,}")

    monkeypatch.setattr(pool_kernels, "require_steps", limited)
    x = np.zeros((1, 1, 300), np.float32)
    with pytest.raises(ValueError, match="max_pool1d: would loop over .* more than the limit"):
        cw.max_pool1d(x, 101)
    with pytest.raises(ValueError, match="adaptive_max_pool1d: would loop over"):
        cw.adaptive_max_pool1d(x, 2)
    assert cw.max_pool1d(x, 50).shape == (1, 1, 6)


def test_memory_guard_under_a_low_address_space_limit():
    """With RLIMIT_AS far below what the work needs, the guard's ValueError comes first (no MemoryError)."""
    script = textwrap.dedent("""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
        import numpy as np
        import convwise as cw
        cw.set_config(memory_mib=512)
        for call in (lambda: cw.conv2d(np.ones((1, 8, 8, 8), np.float32), np.ones((4096, 8, 1, 1), np.float32),
                                       padding=2000),
                     lambda: cw.max_pool2d(np.ones((1, 1, 4, 4), np.float32), 2, stride=1, padding=1, dilation=1),
                     lambda: cw.adaptive_avg_pool2d(np.ones((1, 64, 4, 4), np.float32), (5000, 5000)),
                     lambda: cw.conv_transpose2d(np.ones((1, 1, 2, 2), np.float32), np.ones((1, 1, 2, 2), np.float32),
                                                 stride=30000)):
            try:
                call()
                print("ran")
            except ValueError as error:
                print("refused:", str(error).split(":")[0])
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:4] == ["refused: conv2d", "ran", "refused: adaptive_avg_pool2d",
                                             "refused: conv_transpose2d"]


def test_module_backward_reuses_the_forward_plan(rng, monkeypatch):
    conv = cw.nn.Conv2d(3, 4, 3, padding=1, rng=0, dtype=np.float64)
    x = rng.standard_normal((2, 3, 8, 8))
    y = conv(x)
    dy = rng.standard_normal(y.shape)
    conv.backward(dy)                                     # first backward: chooses its two kernels
    calls = []
    original = select.resolve
    monkeypatch.setattr(select, "resolve", lambda *a, **k: calls.append(a) or original(*a, **k))
    import convwise.arithmetic as arithmetic
    monkeypatch.setattr(arithmetic, "conv_geometry", lambda *a, **k: pytest.fail("backward re-validated"))
    conv.zero_grad()
    grad_x = conv.backward(dy)
    assert calls == []                                    # nothing selected again
    tx, tw = to_torch(x).requires_grad_(), to_torch(conv.weight.data).requires_grad_()
    F.conv2d(tx, tw, to_torch(conv.bias.data), padding=1).backward(to_torch(dy))
    assert rel_error(grad_x, tx.grad.numpy()) <= 1e-12
    assert rel_error(conv.weight.grad, tw.grad.numpy()) <= 1e-12


def test_plan_backward_of_a_transposed_conv_matches_torch(rng):
    conv = cw.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, rng=0, dtype=np.float64)
    x = rng.standard_normal((2, 4, 5, 5))
    y = conv(x)
    dy = rng.standard_normal(y.shape)
    grad_x = conv.backward(dy)
    tx, tw = to_torch(x).requires_grad_(), to_torch(conv.weight.data).requires_grad_()
    torch.nn.functional.conv_transpose2d(tx, tw, to_torch(conv.bias.data), 2, 1, 1, 2).backward(to_torch(dy))
    assert rel_error(grad_x, tx.grad.numpy()) <= 1e-12
    assert rel_error(conv.weight.grad, tw.grad.numpy()) <= 1e-12
