"""``pad`` and ``pad_backward`` against torch 2.13: every mode, crops, ranks, gradients, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convwise.functional as cf
from conftest import TOLERANCE, assert_error, numeric_vjp, rel_error, to_torch

MODES = ("constant", "reflect", "replicate", "circular")
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                    database=None)


def _torch_pad(x, pad, mode, value, seed=0):
    """torch float64 output and input gradient (for a random output gradient), or None if torch refuses."""
    xt = to_torch(x).requires_grad_(True)
    try:
        y = F.pad(xt, pad, mode=mode, value=value if mode == "constant" else None)
    except (RuntimeError, NotImplementedError, ValueError):
        return None
    g = np.random.default_rng(seed).standard_normal(tuple(y.shape))
    if y.numel():
        y.backward(to_torch(g))
        grad = xt.grad.numpy()
    else:
        grad = np.zeros(x.shape)
    return y.detach().numpy(), g, grad


def check_pad(x, pad, mode, value=0.0):
    ref = _torch_pad(x, pad, mode, value)
    assert ref is not None, "torch refused a configuration the test expects to be valid"
    y_ref, g, grad_ref = ref
    y = cf.pad(x, pad, mode=mode, value=value)
    tolerance = TOLERANCE[x.dtype.type][0]
    assert y.dtype == x.dtype and y.shape == y_ref.shape
    assert rel_error(y, y_ref) <= tolerance
    grad = cf.pad_backward(g.astype(x.dtype), x.shape, pad, mode)
    assert grad.dtype == x.dtype and rel_error(grad, grad_ref) <= tolerance


GRID = [
    ("constant", 3, (1, 2)), ("constant", 3, (-1, 2, 0, -1)), ("constant", 4, (2, -3, 1, 1, 0, 1, 1, 0)),
    ("constant", 2, (0, 0, 3, 1)), ("constant", 1, (2, 2)), ("constant", 5, (1, 0, 0, 1, -1, 1)),
    ("reflect", 2, (2, 3)), ("reflect", 3, (3, 1)), ("reflect", 3, (1, 2, 2, 0)), ("reflect", 4, (0, 3, 3, 3)),
    ("reflect", 4, (1, 1, 2, 2, 3, 3)), ("reflect", 5, (2, 0, 1, 3, 0, 1)), ("reflect", 3, (-1, 2)),
    ("reflect", 4, (2, -1, -2, 3)),
    ("replicate", 2, (5, 1)), ("replicate", 3, (0, 7)), ("replicate", 3, (2, 1, 1, 6)), ("replicate", 4, (3, 3, 1, 0)),
    ("replicate", 4, (1, 2, 3, 4, 5, 0)), ("replicate", 5, (1, 1, 0, 2, 2, 0)), ("replicate", 3, (-2, 3)),
    ("circular", 2, (2, 3)), ("circular", 3, (4, 4)), ("circular", 3, (1, 2, 3, 0)), ("circular", 4, (0, 2, 4, 1)),
    ("circular", 4, (1, 1, 1, 1, 1, 1)), ("circular", 5, (2, 0, 0, 3, 1, 1)), ("circular", 3, (-1, 2)),
    ("circular", 3, (2, -1, -2, 0)),
]


@pytest.mark.parametrize("mode, ndim, pad", GRID)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pad_grid(mode, ndim, pad, dtype):
    rng = np.random.default_rng(len(pad) * 10 + ndim)
    shape = (2, 3, 4, 5, 6)[-ndim:] if ndim < 5 else (2, 2, 4, 5, 6)
    x = rng.standard_normal(shape).astype(dtype)
    check_pad(x, pad, mode, value=1.5 if mode == "constant" else 0.0)


def test_constant_fill_crop_and_empty():
    x = np.arange(4.0).reshape(1, 4)
    assert cf.pad(x, (-4, 0)).shape == (1, 0)
    assert cf.pad(x, (-3, -1)).shape == (1, 0)
    assert cf.pad(x, (1, 1, 1, 0), value=-2.0).tolist() == [[-2.0] * 6, [-2.0, 0.0, 1.0, 2.0, 3.0, -2.0]]
    assert cf.pad(np.zeros((0, 3), np.float32), (1, 1)).shape == (0, 5)
    assert cf.pad(x, ()).tolist() == x.tolist()
    assert cf.pad([[1.0, 2.0]], [1, 0], "replicate").tolist() == [[1.0, 1.0, 2.0]]
    assert cf.pad(x, (1, 1), "reflect", value=None).tolist() == [[1.0, 0.0, 1.0, 2.0, 3.0, 2.0]]
    assert cf.pad(x[None], (4, 0), "circular").tolist() == [[[0.0, 1.0, 2.0, 3.0] * 2]]


@st.composite
def pad_case(draw):
    mode = draw(st.sampled_from(MODES))
    count = draw(st.integers(1, 3))
    ndim = draw(st.integers(count + 1, count + 2)) if mode != "constant" else draw(st.integers(count, 4))
    shape = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    pad = tuple(draw(st.integers(-4, 5)) for _ in range(2 * count))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    x = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal(shape).astype(dtype)
    return x, pad, mode


def _circular_wraps_past_crop(shape, pad):
    for k in range(len(pad) // 2):
        size = shape[-1 - k]
        lo, hi = pad[2 * k], pad[2 * k + 1]
        kept = size - max(-lo, 0) - max(-hi, 0)
        if kept < 0 or max(lo, 0) > kept or max(hi, 0) > kept:
            return True
    return False


@SETTINGS
@given(pad_case())
def test_pad_hypothesis(case):
    """Where torch pads, we match it (values and gradient); where torch refuses, we refuse."""
    x, pad, mode = case
    if mode == "circular" and _circular_wraps_past_crop(x.shape, pad):
        # torch reads uninitialised memory or overlapping slices here; we refuse
        with pytest.raises(ValueError, match="circular|crops"):
            cf.pad(x, pad, mode)
        return
    ref = _torch_pad(x, pad, mode, 0.0)
    if ref is None:
        with pytest.raises(ValueError):
            cf.pad(x, pad, mode)
        return
    check_pad(x, pad, mode)


@pytest.mark.parametrize("mode, pad", [("constant", (2, -1, 1, 1)), ("reflect", (2, 1, 0, 2)),
                                       ("replicate", (3, 1, 2, 0)), ("circular", (2, 3, 1, 2)),
                                       ("reflect", (-1, 2)), ("circular", (2, -1))])
def test_finite_differences(mode, pad):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 3, 4))
    g = rng.standard_normal(cf.pad(x, pad, mode).shape)
    numeric = numeric_vjp(lambda v: cf.pad(v, pad, mode), x, g)
    assert np.abs(cf.pad_backward(g, x.shape, pad, mode) - numeric).max() < 1e-7


ERRORS = [
    (lambda: cf.pad(np.ones((2, 3)), (1, 1, 1)), ValueError, ["pad", "even", "(1, 1, 1)"]),
    (lambda: cf.pad(np.ones(3), (1, 1, 1, 1)), ValueError, ["pad", "2 dimensions", "only 1"]),
    (lambda: cf.pad(np.ones((1, 3)), (1, 1), mode="wrap"), ValueError, ["pad", "mode", "'wrap'", "'circular'"]),
    (lambda: cf.pad(np.ones((1, 3)), (1, 1), mode=3), TypeError, ["pad", "mode", "3"]),
    (lambda: cf.pad(np.ones((1, 3)), (1.0, 1)), TypeError, ["pad", "ints", "1.0"]),
    (lambda: cf.pad(np.ones((1, 3)), 1), TypeError, ["pad", "tuple of ints", "pad=1"]),
    (lambda: cf.pad(np.ones((1, 4)), (4, 0), "reflect"), ValueError, ["pad", "reflect", "less than", "(4, 0)", "4"]),
    (lambda: cf.pad(np.ones((1, 1, 3, 3)), (0, 0, 1, 3), "reflect"), ValueError, ["reflect", "(1, 3)", "size 3"]),
    (lambda: cf.pad(np.ones((1, 4)), (-4, 0), "replicate"), ValueError, ["pad", "output size 0"]),
    (lambda: cf.pad(np.ones((1, 4)), (5, 0), "circular"), ValueError, ["pad", "circular", "more than once", "(5, 0)"]),
    (lambda: cf.pad(np.ones((1, 4)), (-2, 3), "circular"), ValueError, ["pad", "circular", "cropped", "2"]),
    (lambda: cf.pad(np.ones((1, 4)), (-5, 2)), ValueError, ["pad", "negative padding", "(-5, 2)", "4 cells"]),
    (lambda: cf.pad(np.ones(4), (1, 1), "reflect"), ValueError, ["pad", "'reflect'", "2D or 3D", "(4,)"]),
    (lambda: cf.pad(np.ones((1, 1, 1, 4)), (1, 1), "replicate"), ValueError, ["pad", "2D or 3D", "(1, 1, 1, 4)"]),
    (lambda: cf.pad(np.ones((1, 2, 2)), (1, 1, 1, 1, 1, 1, 1, 1), "constant"), ValueError, ["pad", "4 dimensions"]),
    (lambda: cf.pad(np.ones((1, 2, 2, 2, 2, 2)), (1,) * 8, "circular"), ValueError, ["'circular'", "1, 2 or 3", "length 8"]),
    (lambda: cf.pad(np.ones((1, 0, 3)), (1, 1), "reflect"), ValueError, ["pad", "non-zero", "(1, 0, 3)"]),
    (lambda: cf.pad(np.ones((1, 4)), (1, 1), "reflect", value=2.0), ValueError, ["pad", "'reflect'", "value=2.0"]),
    (lambda: cf.pad(np.ones((1, 4)), (1, 1), value="x"), TypeError, ["pad", "value", "'x'"]),
    (lambda: cf.pad(np.ones((1, 4), dtype=np.complex128), (1, 1)), TypeError, ["pad", "input", "complex128"]),
    (lambda: cf.pad(np.ones((1, 4), dtype=np.complex64), (1, 1)), TypeError, ["pad", "input", "complex64"]),
    (lambda: cf.pad_backward(np.ones((1, 5)), (1, 4), (1, 1), "reflect"), ValueError,
     ["pad_backward", "grad_output", "(1, 6)", "(1, 5)"]),
    (lambda: cf.pad_backward(np.ones((1, 6)), (1, 4.0), (1, 1), "reflect"), TypeError, ["pad_backward", "input_shape"]),
]


@pytest.mark.parametrize("call, kind, words", ERRORS)
def test_errors(call, kind, words):
    assert_error(call, kind, words)


def test_matches_torch_errors_on_the_same_cases():
    """The refusals above are torch's refusals too (where torch refuses at all)."""
    x = torch.ones(1, 4, dtype=torch.float64)
    for pad, mode in [((4, 0), "reflect"), ((-4, 0), "replicate"), ((5, 0), "circular"), ((-5, 2), "constant")]:
        with pytest.raises(RuntimeError):
            F.pad(x, pad, mode=mode)
