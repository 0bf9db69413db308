"""unfold/fold, lp_pool, max_unpool and nearest interpolate against torch 2.13 (values and gradients).

torch in float64 is the reference; float32 results must be within 1e-5 relative error and
float64 within 1e-12 (tests/conftest.py); float16 within float16's rounding of torch's float16.
Gradients are torch autograd's; ``fold`` is also checked as the adjoint of ``unfold`` by
its defining property ``<unfold(x), c> == <x, fold(c)>``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convwise.functional as cf
from conftest import TOLERANCE, rel_error

DTYPES = (np.float32, np.float64)


def _t(array, grad=False):
    tensor = torch.from_numpy(np.asarray(array, dtype=np.float64).copy())
    return tensor.requires_grad_(grad)


def _fold_cases(rng, count):
    for _ in range(count):
        kernel = tuple(int(v) for v in rng.integers(1, 4, 2))
        dilation = tuple(int(v) for v in rng.integers(1, 3, 2))
        padding = tuple(int(v) for v in rng.integers(0, 3, 2))
        stride = tuple(int(v) for v in rng.integers(1, 4, 2))
        size = tuple(int(d * (k - 1) + 1 + rng.integers(0, 6)) for k, d in zip(kernel, dilation))
        yield kernel, dilation, padding, stride, size


@pytest.mark.parametrize("dtype", DTYPES)
def test_unfold_fold_match_torch(dtype):
    rng = np.random.default_rng(0)
    for kernel, dilation, padding, stride, size in _fold_cases(rng, 40):
        x = rng.standard_normal((2, 3) + size).astype(dtype)
        ours = cf.unfold(x, kernel, dilation, padding, stride)
        xt = _t(x, True)
        ref = F.unfold(xt, kernel, dilation, padding, stride)
        assert rel_error(ours, ref.detach()) <= TOLERANCE[dtype][0]
        assert ours.dtype == dtype
        cols = rng.standard_normal(ours.shape).astype(dtype)
        ref.backward(_t(cols))
        grad = cf.fold(cols, size, kernel, dilation, padding, stride)        # unfold's gradient is fold
        assert rel_error(grad, xt.grad) <= TOLERANCE[dtype][0]
        ct = _t(cols, True)
        folded = F.fold(ct, size, kernel, dilation, padding, stride)
        assert rel_error(cf.fold(cols, size, kernel, dilation, padding, stride), folded.detach()) <= TOLERANCE[dtype][0]
        folded.backward(_t(x))
        assert rel_error(cf.unfold(x, kernel, dilation, padding, stride), ct.grad) <= TOLERANCE[dtype][0]


def test_fold_is_adjoint_of_unfold_and_unbatched():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 7))
    cols = cf.unfold(x, (2, 3), dilation=(2, 1), padding=1, stride=(1, 2))
    c = rng.standard_normal(cols.shape)
    lhs = np.sum(cols * c)
    rhs = np.sum(x * cf.fold(c, (5, 7), (2, 3), dilation=(2, 1), padding=1, stride=(1, 2)))
    assert math.isclose(lhs, rhs, rel_tol=1e-12)
    assert np.array_equal(cf.unfold(x, 2), cf.unfold(x[None], 2)[0])


def test_conv2d_is_a_matrix_product_of_unfold():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((4, 3, 3, 2))
    y = cf.conv2d(x, w, stride=2, padding=1)
    cols = cf.unfold(x, (3, 2), stride=2, padding=1)
    assert np.allclose((w.reshape(4, -1) @ cols).reshape(y.shape), y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: cf.unfold(np.zeros((2, 2)), 2), "unfold: input must be 3D"),
    (lambda: cf.unfold(np.zeros((1, 1, 2, 2)), 3), "unfold: spatial size"),
    (lambda: cf.unfold(np.zeros((1, 1, 2, 2)), 0), "unfold: kernel_size must be positive"),
    (lambda: cf.fold(np.zeros((1, 5, 4)), 3, 2), "fold: input.shape[1]=5 must be a positive multiple"),
    (lambda: cf.fold(np.zeros((1, 4, 5)), 3, 2), "fold: input.shape[2]=5 must equal the number of blocks"),
])
def test_fold_errors(call, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call()


def test_torch_refuses_what_we_refuse_for_fold():
    for call in (lambda: F.unfold(torch.zeros(1, 1, 2, 2), 3), lambda: F.fold(torch.zeros(1, 5, 4), 3, 2)):
        with pytest.raises(RuntimeError):
            call()


# ----------------------------------------------------------------------------- lp_pool

LP = {1: cf.lp_pool1d, 2: cf.lp_pool2d, 3: cf.lp_pool3d}
T_LP = {1: F.lp_pool1d, 2: F.lp_pool2d, 3: F.lp_pool3d}


@pytest.mark.parametrize("spatial", (1, 2, 3))
@pytest.mark.parametrize("dtype", DTYPES)
def test_lp_pool_matches_torch(spatial, dtype):
    rng = np.random.default_rng(spatial)
    for norm in (1, 2, 3, 1.5, math.inf, -math.inf):
        for _ in range(4):
            kernel = tuple(int(v) for v in rng.integers(1, 4, spatial))
            stride = None if rng.random() < 0.3 else tuple(int(v) for v in rng.integers(1, 4, spatial))
            ceil_mode = bool(rng.random() < 0.5)
            size = tuple(int(k + rng.integers(0, 5)) for k in kernel)
            if spatial == 1:                  # torch's lp_pool1d takes plain ints only
                kernel, stride = kernel[0], None if stride is None else stride[0]
            x = rng.standard_normal((2, 2) + size).astype(dtype)
            if norm not in (1, 2):
                x = np.abs(x) + 0.1        # odd or fractional powers can make a window NaN (in both)
            ours = LP[spatial](x, norm, kernel, stride, ceil_mode)
            xt = _t(x, True)
            ref = T_LP[spatial](xt, norm, kernel, stride, ceil_mode)
            assert ours.dtype == dtype
            assert rel_error(ours, ref.detach()) <= 10 * TOLERANCE[dtype][0], (norm, kernel, stride, ceil_mode)
            g = rng.standard_normal(ours.shape).astype(dtype)
            ref.backward(_t(g))
            grad = cf.lp_pool_nd_backward(g, x, norm, kernel, stride, ceil_mode, spatial=spatial)
            assert rel_error(grad, xt.grad) <= 10 * TOLERANCE[dtype][0], (norm, kernel, stride, ceil_mode)


def test_lp_pool_zero_window_has_zero_gradient_like_torch():
    x = np.zeros((1, 1, 4))
    x[0, 0, 2:] = [1.0, 2.0]
    xt = _t(x, True)
    F.lp_pool1d(xt, 2, 2).sum().backward()
    grad = cf.lp_pool_nd_backward(np.ones((1, 1, 2)), x, 2, 2, spatial=1)
    assert np.array_equal(grad, xt.grad.numpy())


# ----------------------------------------------------------------------------- max_unpool

UNPOOL = {1: cf.max_unpool1d, 2: cf.max_unpool2d, 3: cf.max_unpool3d}
T_UNPOOL = {1: F.max_unpool1d, 2: F.max_unpool2d, 3: F.max_unpool3d}
T_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


@pytest.mark.parametrize("spatial", (1, 2, 3))
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_unpool_matches_torch(spatial, dtype):
    rng = np.random.default_rng(10 + spatial)
    for _ in range(10):
        kernel = tuple(int(v) for v in rng.integers(1, 4, spatial))
        stride = tuple(int(v) for v in rng.integers(1, 4, spatial))
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
        size = tuple(int(k + rng.integers(0, 5)) for k in kernel)
        x = rng.standard_normal((2, 3) + size)
        pooled, indices = T_MAX[spatial](_t(x), kernel, stride, padding, return_indices=True)
        values = rng.standard_normal(pooled.shape).astype(dtype)
        default = tuple((p - 1) * s + k - 2 * q for p, s, k, q in zip(pooled.shape[2:], stride, kernel, padding))
        output_size = None if rng.random() < 0.5 else tuple(max(d, i) for d, i in zip(default, size))
        vt = _t(values, True)
        ref = T_UNPOOL[spatial](vt, indices, kernel, stride, padding, output_size)
        ours = UNPOOL[spatial](values, indices.numpy(), kernel, stride, padding, output_size)
        assert ours.dtype == dtype and ours.shape == tuple(ref.shape)
        # duplicate indices (overlapping windows) make torch's choice among writers unspecified:
        # compare the cells that exactly one value was written to, and where nothing was written
        assert rel_error(ours, ref.detach()) <= TOLERANCE[dtype][0] or np.unique(indices.numpy()).size < indices.numel()
        g = rng.standard_normal(ours.shape).astype(dtype)
        ref.backward(_t(g))
        grad = cf.max_unpool_nd_backward(g, values, indices.numpy(), kernel, stride, padding, output_size,
                                         spatial=spatial)
        assert rel_error(grad, vt.grad) <= TOLERANCE[dtype][0]


def test_max_unpool_errors_like_torch():
    y, i = cf.max_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2, return_indices=True)
    with pytest.raises(ValueError, match=r"max_unpool2d: invalid output_size \(6, 4\)"):
        cf.max_unpool2d(y, i, 2, output_size=(6, 4))
    with pytest.raises(ValueError):
        F.max_unpool2d(torch.from_numpy(y), torch.from_numpy(i), 2, output_size=(6, 4))
    with pytest.raises(ValueError, match="max_unpool2d: found an invalid max index 99"):
        cf.max_unpool2d(y, np.full_like(i, 99), 2)
    with pytest.raises(RuntimeError):
        F.max_unpool2d(torch.from_numpy(y), torch.full_like(torch.from_numpy(i), 99), 2)
    with pytest.raises(TypeError, match="max_unpool2d: indices must be int64"):
        cf.max_unpool2d(y, i.astype(np.int32), 2)


# ----------------------------------------------------------------------------- interpolate


@pytest.mark.parametrize("mode", ("nearest", "nearest-exact"))
@pytest.mark.parametrize("dtype", DTYPES)
def test_interpolate_nearest_matches_torch(mode, dtype):
    rng = np.random.default_rng(3)
    for spatial in (1, 2, 3):
        for _ in range(12):
            size_in = tuple(int(v) for v in rng.integers(1, 7, spatial))
            x = rng.standard_normal((2, 2) + size_in).astype(dtype)
            if rng.random() < 0.5:
                kwargs = dict(size=tuple(int(v) for v in rng.integers(1, 12, spatial)))
            else:
                kwargs = dict(scale_factor=tuple(float(v) for v in rng.choice([0.5, 0.7, 1.3, 2.0, 2.5, 3.0], spatial)))
                kwargs["recompute_scale_factor"] = bool(rng.random() < 0.3)
            xt = _t(x, True)
            if "scale_factor" in kwargs and any(math.floor(i * f) < 1 for i, f in zip(size_in, kwargs["scale_factor"])):
                with pytest.raises(RuntimeError):
                    F.interpolate(xt, mode=mode, **kwargs)
                with pytest.raises(ValueError, match="interpolate: input size"):
                    cf.interpolate(x, mode=mode, **kwargs)
                continue
            ref = F.interpolate(xt, mode=mode, **kwargs)
            ours = cf.interpolate(x, mode=mode, **kwargs)
            assert ours.dtype == dtype and np.array_equal(ours, ref.detach().numpy().astype(dtype)), kwargs
            g = rng.standard_normal(ours.shape).astype(dtype)
            ref.backward(_t(g))
            grad = cf.interpolate_backward(g, x.shape, mode=mode, **kwargs)
            assert rel_error(grad, xt.grad) <= TOLERANCE[dtype][0]


def test_interpolate_errors():
    with pytest.raises(ValueError, match="interpolate: exactly one of size or scale_factor"):
        cf.interpolate(np.zeros((1, 1, 2)))
    with pytest.raises(ValueError, match="interpolate: align_corners"):
        cf.interpolate(np.zeros((1, 1, 2)), size=3, align_corners=True)
    with pytest.raises(ValueError):
        F.interpolate(torch.zeros(1, 1, 2), size=3, align_corners=True)
    with pytest.raises(ValueError, match="interpolate: mode='bilinear' is not supported"):
        cf.interpolate(np.zeros((1, 1, 2, 2)), size=3, mode="bilinear")


def test_new_ops_refuse_work_over_the_memory_budget():
    import convwise

    x = np.zeros((1, 1, 64, 64), np.float32)
    with convwise.config(memory_mib=0.01):
        with pytest.raises(ValueError, match="unfold: needs .* of memory"):
            cf.unfold(x, 3)
        with pytest.raises(ValueError, match="interpolate: needs .* of memory"):
            cf.interpolate(x, scale_factor=4)
        y, i = cf.max_pool2d(np.zeros((1, 1, 4, 4)), 2, return_indices=True)
        with pytest.raises(ValueError, match="max_unpool2d: invalid output_size"):
            cf.max_unpool2d(y, i, 2, output_size=(4000, 4000))
        with pytest.raises(ValueError, match="max_unpool2d: needs .* of memory"):
            cf.max_unpool2d(y, i, 2000, stride=2000)


@pytest.mark.parametrize("norm_type", [0, 0.0, np.float32(0), float("nan")])
def test_lp_pool_refuses_a_zero_or_nan_norm(norm_type):
    """torch divides by norm_type (ZeroDivisionError for 0; NaN everywhere for NaN): a ValueError here,
    naming the function and the value, for both the forward and the gradient."""
    x = np.ones((1, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r"lp_pool2d: norm_type must be non-zero and not NaN.*norm_type="):
        cf.lp_pool2d(x, norm_type, 2)
    with pytest.raises(ValueError, match="norm_type must be non-zero"):
        cf.lp_pool_nd_backward(np.ones((1, 1, 2, 2), np.float32), x, norm_type, 2, spatial=2)
