"""Shared test helpers: torch as the reference oracle, error measures, tolerances."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

# relative error bounds of ../shared/design.md: (exact algorithms, fast algorithms)
TOLERANCE = {np.float32: (1e-5, 1e-4), np.float64: (1e-12, 1e-10)}


def rel_error(ours, reference) -> float:
    """max |ours - ref| / max |ref| (0 when both are all zero)."""
    ours = np.asarray(ours, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    assert ours.shape == reference.shape, (ours.shape, reference.shape)
    if ours.size == 0:
        return 0.0
    scale = np.abs(reference).max()
    diff = np.abs(ours - reference).max()
    return float(diff / scale) if scale > 0 else float(diff)


def to_torch(array):
    """float64 torch tensor of a NumPy array (the float64 reference)."""
    return torch.from_numpy(np.asarray(array, dtype=np.float64).copy())


def numeric_gradient(loss, array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``loss()`` with respect to every entry of ``array``.

    ``array`` is perturbed in place (and restored), so ``loss`` must read it; float64 only.
    """
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        plus = loss()
        array[index] = saved - eps
        minus = loss()
        array[index] = saved
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def numeric_vjp(f, x: np.ndarray, cotangent: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Finite-difference vector-Jacobian product: d sum(f(x) * cotangent) / dx."""
    x = np.array(x, dtype=np.float64)
    return numeric_gradient(lambda: float(np.sum(f(x) * cotangent)), x, eps)


def assert_error(call, kind, words) -> str:
    """``call()`` raises ``kind`` whose message contains every one of ``words``; returns the message."""
    with pytest.raises(kind) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)
    return message


def peak_memory(function, *args):
    """``(function(*args), peak bytes allocated during the call)``, traced by tracemalloc."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = function(*args)
        return result, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels_loaded():
    """Load (or compile, once per cache) the numba kernels before any test (issue 11).

    They otherwise load in a background thread on first use, and whether ``auto`` could pick
    the compiled algorithm would depend on timing; tests see what a user sees after
    ``convwise warmup``. ``convwise.kernels.disabled()`` gives the NumPy-only behaviour.
    """
    from convwise import kernels

    assert kernels.wait(), kernels.unavailable_reason()


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
