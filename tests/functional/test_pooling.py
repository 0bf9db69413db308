"""Pooling (max, average, adaptive) against torch 2.13: values, indices, gradients, errors.

torch in float64 is the reference; float32 results must be within 1e-5 relative error,
float64 within 1e-12 (tests/conftest.py). Max-pool indices must be identical, including
ties and NaN. Gradients are checked against torch autograd and, independently of torch,
by central differences in float64.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convwise.functional as cf
from conftest import TOLERANCE, assert_error, numeric_vjp, rel_error, to_torch
from convwise import kernels
from convwise.functional.pooling import avg_pool_nd


@pytest.fixture(autouse=True)
def numpy_pooling_kernels():
    """This file checks the NumPy pooling kernels (what answers while the numba kernels load);
    tests/kernels/test_kernels_pool.py runs the same oracle checks on the compiled kernels."""
    with kernels.disabled():
        yield


DTYPES = (np.float32, np.float64)
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                    database=None)

MAX = {1: cf.max_pool1d, 2: cf.max_pool2d, 3: cf.max_pool3d}
AVG = {1: cf.avg_pool1d, 2: cf.avg_pool2d, 3: cf.avg_pool3d}
ADA_AVG = {1: cf.adaptive_avg_pool1d, 2: cf.adaptive_avg_pool2d, 3: cf.adaptive_avg_pool3d}
ADA_MAX = {1: cf.adaptive_max_pool1d, 2: cf.adaptive_max_pool2d, 3: cf.adaptive_max_pool3d}
T_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
T_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
T_ADA_AVG = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}
T_ADA_MAX = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}


def _data(rng, shape, dtype, ties=False):
    if ties:
        return rng.integers(0, 3, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _close(ours, reference, dtype):
    """Same NaN and Inf cells, finite cells within the dtype's relative error bound."""
    assert ours.dtype == np.dtype(dtype)
    finite = np.isfinite(reference)
    assert np.array_equal(np.isnan(ours), np.isnan(reference))
    assert np.array_equal(ours[np.isinf(reference)], reference[np.isinf(reference)])
    error = rel_error(ours[finite], reference[finite])
    assert error <= TOLERANCE[np.dtype(dtype).type][0], error


def _torch_run(fn, x, grad_seed=0, **kwargs):
    """torch float64 forward (and backward with a random grad); None if torch refuses."""
    xt = to_torch(x).requires_grad_(True)
    try:
        out = fn(xt, **kwargs)
    except RuntimeError:
        return None
    y, idx = out if isinstance(out, tuple) else (out, None)
    g = np.random.default_rng(grad_seed).standard_normal(tuple(y.shape))
    if y.numel():
        y.backward(to_torch(g))
        grad = xt.grad.numpy()
    else:
        grad = np.zeros(x.shape)
    return y.detach().numpy(), (None if idx is None else idx.numpy()), g, grad


def _padding_only_window(x, spatial, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Whether some window sees only padding (torch's backward then writes out of bounds)."""
    from convwise import arithmetic
    try:
        geometry = arithmetic.pool_geometry(x.shape[-spatial:], kernel_size, stride, padding, dilation, ceil_mode)
    except ValueError:
        return False
    for i, k, s, (p, _), d, o in zip(geometry.input_size, geometry.kernel_size, geometry.stride, geometry.padding,
                                     geometry.dilation, geometry.output_size):
        if any(all(not 0 <= j * s - p + t * d < i for t in range(k)) for j in range(o)):
            return True
    return False


def check_max_pool(x, spatial, **kwargs):
    if _padding_only_window(x, spatial, **kwargs):   # compare the forward pass only
        y_ref, i_ref = T_MAX[spatial](to_torch(x), return_indices=True, **kwargs)
        y, i = MAX[spatial](x, return_indices=True, **kwargs)
        assert np.array_equal(y, y_ref.numpy()) and np.array_equal(i, i_ref.numpy())
        return
    ref = _torch_run(T_MAX[spatial], x, return_indices=True, **kwargs)
    if ref is None:
        with pytest.raises(ValueError):
            MAX[spatial](x, **kwargs)
        return
    y_ref, i_ref, g, grad_ref = ref
    y, i = MAX[spatial](x, return_indices=True, **kwargs)
    _close(y, y_ref, x.dtype)
    assert i.dtype == np.int64 and np.array_equal(i, i_ref)
    assert np.array_equal(MAX[spatial](x, **kwargs), y, equal_nan=True)
    grad = cf.max_pool_nd_backward(g.astype(x.dtype), x, i, kwargs["kernel_size"], kwargs.get("stride"),
                                   kwargs.get("padding", 0), kwargs.get("dilation", 1),
                                   kwargs.get("ceil_mode", False), spatial=spatial)
    _close(grad, grad_ref, x.dtype)


def check_avg_pool(x, spatial, **kwargs):
    ref = _torch_run(T_AVG[spatial], x, **kwargs)
    if ref is None:
        with pytest.raises(ValueError):
            AVG[spatial](x, **kwargs)
        return
    y_ref, _, g, grad_ref = ref
    _close(AVG[spatial](x, **kwargs), y_ref, x.dtype)
    grad = cf.avg_pool_nd_backward(g.astype(x.dtype), x, kwargs["kernel_size"], kwargs.get("stride"),
                                   kwargs.get("padding", 0), kwargs.get("ceil_mode", False),
                                   kwargs.get("count_include_pad", True), kwargs.get("divisor_override"),
                                   spatial=spatial)
    _close(grad, grad_ref, x.dtype)


def check_adaptive(x, spatial, output_size):
    y_ref, _, g, grad_ref = _torch_run(T_ADA_AVG[spatial], x, output_size=output_size)
    _close(ADA_AVG[spatial](x, output_size), y_ref, x.dtype)
    _close(cf.adaptive_avg_pool_nd_backward(g.astype(x.dtype), x, spatial=spatial), grad_ref, x.dtype)
    y_ref, i_ref, g, grad_ref = _torch_run(T_ADA_MAX[spatial], x, output_size=output_size, return_indices=True)
    y, i = ADA_MAX[spatial](x, output_size, return_indices=True)
    _close(y, y_ref, x.dtype)
    assert i.dtype == np.int64 and np.array_equal(i, i_ref)
    _close(cf.adaptive_max_pool_nd_backward(g.astype(x.dtype), x, i, spatial=spatial), grad_ref, x.dtype)


SIZES = {1: (7,), 2: (6, 5), 3: (5, 4, 5)}


def _inputs(spatial, seed):
    """Two inputs per configuration: float32 batched with distinct values, float64 unbatched with ties."""
    rng = np.random.default_rng(seed)
    yield _data(rng, (2, 3) + SIZES[spatial], np.float32)
    yield _data(rng, (3,) + SIZES[spatial], np.float64, ties=True)


# --------------------------------------------------------------------------- grid vs torch

MAX_GRID = [(spatial, k, s, p, d, c) for spatial, k, s, p, d, c in
            itertools.product([1, 2, 3], [1, 2, 3], [None, 1, 2], [0, 1], [1, 2], [False, True]) if p <= k // 2]
AVG_GRID = [(spatial, k, s, p, c, inc, div) for spatial, k, s, p, c, inc, div in
            itertools.product([1, 2, 3], [1, 2, 3], [None, 1, 2], [0, 1], [False, True], [True, False], [None, 3])
            if p <= k // 2 and not (spatial == 1 and div is not None)]


@pytest.mark.parametrize("spatial, kernel_size, stride, padding, dilation, ceil_mode", MAX_GRID)
def test_max_pool_grid(spatial, kernel_size, stride, padding, dilation, ceil_mode):
    for x in _inputs(spatial, kernel_size * 7 + padding):
        check_max_pool(x, spatial, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
                       ceil_mode=ceil_mode)


@pytest.mark.parametrize("spatial, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override",
                         AVG_GRID)
def test_avg_pool_grid(spatial, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    extra = {} if divisor_override is None else {"divisor_override": divisor_override}
    for x in _inputs(spatial, kernel_size * 5 + padding):
        check_avg_pool(x, spatial, kernel_size=kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode,
                       count_include_pad=count_include_pad, **extra)


@pytest.mark.parametrize("spatial, output_size", [
    (1, 1), (1, 3), (1, 7), (1, 10), (1, (4,)),
    (2, 1), (2, (2, 3)), (2, (None, 2)), (2, (4, None)), (2, (7, 9)), (2, [3, 5]),
    (3, 2), (3, (1, 3, None)), (3, (5, 4, 5)), (3, (6, 2, 3)),
])
def test_adaptive_grid(spatial, output_size):
    for x in _inputs(spatial, 3):
        check_adaptive(x, spatial, output_size)


def test_tuple_arguments_and_strides():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 9, 8))
    check_max_pool(x, 2, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), ceil_mode=True)
    check_avg_pool(x, 2, kernel_size=(3, 2), stride=(2, 3), padding=(1, 1), ceil_mode=True, count_include_pad=False)
    check_avg_pool(x[0], 2, kernel_size=[2, 3], stride=[3, 1], padding=[1, 0], divisor_override=-2)


def test_zero_batch_and_list_input():
    for spatial in (1, 2, 3):
        x = np.zeros((0, 2) + SIZES[spatial], dtype=np.float32)
        for name, kwargs in (("max", {}), ("avg", {})):
            y = (MAX if name == "max" else AVG)[spatial](x, 2, **kwargs)
            t = (T_MAX if name == "max" else T_AVG)[spatial](torch.from_numpy(x), 2)
            assert y.shape == tuple(t.shape) and y.dtype == np.float32
        assert ADA_AVG[spatial](x, 2).shape == (0, 2) + (2,) * spatial
        assert ADA_MAX[spatial](x, 2, return_indices=True)[1].shape == (0, 2) + (2,) * spatial
        check_max_pool(x.astype(np.float64), spatial, kernel_size=2)
    assert cf.max_pool1d([[1.0, 3.0, 2.0]], 2).tolist() == [[3.0]]
    # output_size 0 gives an empty result, as in torch
    assert cf.adaptive_avg_pool2d(np.ones((1, 4, 4)), (0, 2)).shape == (1, 0, 2)
    assert cf.adaptive_max_pool1d(np.ones((1, 1, 4)), 0, return_indices=True)[1].shape == (1, 1, 0)


# --------------------------------------------------------------------------- hypothesis vs torch


@st.composite
def pool_case(draw, avg=False):
    spatial = draw(st.integers(1, 3))
    sizes = tuple(draw(st.integers(1, 6)) for _ in range(spatial))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(spatial))
    kwargs = {
        "kernel_size": kernel if draw(st.booleans()) else kernel[0],
        "stride": draw(st.one_of(st.none(), st.tuples(*[st.integers(1, 3)] * spatial))),
        "padding": tuple(draw(st.integers(0, k // 2)) for k in kernel),
        "ceil_mode": draw(st.booleans()),
    }
    if isinstance(kwargs["kernel_size"], int):
        kwargs["padding"] = kwargs["padding"][0]
        kwargs["kernel_size"] = kernel[0]
        if kwargs["stride"] is not None:
            kwargs["stride"] = kwargs["stride"][0]
    if avg:
        kwargs["count_include_pad"] = draw(st.booleans())
        if spatial > 1:
            kwargs["divisor_override"] = draw(st.one_of(st.none(), st.integers(1, 5)))
    else:
        kwargs["dilation"] = draw(st.integers(1, 3))
    batch = draw(st.sampled_from([None, 0, 1, 2]))
    shape = ((draw(st.integers(1, 2)),) if batch is None else (batch, draw(st.integers(1, 2)))) + sizes
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**16))
    ties = draw(st.booleans())
    return spatial, _data(np.random.default_rng(seed), shape, dtype, ties), kwargs


@SETTINGS
@given(pool_case())
def test_max_pool_hypothesis(case):
    spatial, x, kwargs = case
    check_max_pool(x, spatial, **kwargs)


@SETTINGS
@given(pool_case(avg=True))
def test_avg_pool_hypothesis(case):
    spatial, x, kwargs = case
    check_avg_pool(x, spatial, **kwargs)


@st.composite
def adaptive_case(draw):
    spatial = draw(st.integers(1, 3))
    sizes = tuple(draw(st.integers(1, 7)) for _ in range(spatial))
    entry = st.integers(1, 8) if spatial == 1 else st.one_of(st.none(), st.integers(1, 8))   # torch: no None in 1d
    outs = tuple(draw(entry) for _ in range(spatial))
    output_size = outs[0] if spatial == 1 and outs[0] is not None and draw(st.booleans()) else outs
    batched = draw(st.booleans())
    shape = ((2,) if batched else ()) + (draw(st.integers(1, 2)),) + sizes
    dtype = draw(st.sampled_from(DTYPES))
    x = _data(np.random.default_rng(draw(st.integers(0, 2**16))), shape, dtype, draw(st.booleans()))
    return spatial, x, output_size


@SETTINGS
@given(adaptive_case())
def test_adaptive_hypothesis(case):
    spatial, x, output_size = case
    check_adaptive(x, spatial, output_size)


# --------------------------------------------------------------------------- ties, NaN, Inf


def test_ties_first_maximum_in_scan_order():
    x = np.zeros((1, 1, 4, 4))
    y, i = cf.max_pool2d(x, 3, stride=1, padding=1, return_indices=True)
    _, i_ref = F.max_pool2d(to_torch(x), 3, stride=1, padding=1, return_indices=True)
    assert np.array_equal(i, i_ref.numpy())
    assert i[0, 0, 0, 0] == 0 and i[0, 0, 2, 3] == 6


def nan_inf_data(rng, spatial: int, dtype) -> np.ndarray:
    """Pooling input ``(2, 2, *SIZES[spatial])`` with ties, a third of its cells NaN, +Inf or -Inf."""
    x = _data(rng, (2, 2) + SIZES[spatial], dtype, ties=True)
    flat = x.reshape(-1)
    cells = rng.choice(flat.size, size=flat.size // 3, replace=False)
    flat[cells[::3]] = np.nan
    flat[cells[1::3]] = np.inf
    flat[cells[2::3]] = -np.inf
    return x


@pytest.mark.parametrize("spatial", [1, 2, 3])
def test_nan_and_inf_propagate_like_torch(spatial):
    rng = np.random.default_rng(spatial)
    for dtype in DTYPES:
        x = nan_inf_data(rng, spatial, dtype)
        check_max_pool(x, spatial, kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=True)
        check_max_pool(x, spatial, kernel_size=2, stride=1)
        for output_size in (2, 3):
            for ours, theirs in ((ADA_MAX, T_ADA_MAX), (ADA_AVG, T_ADA_AVG)):
                kwargs = {"return_indices": True} if ours is ADA_MAX else {}
                got = ours[spatial](x, output_size, **kwargs)
                ref = theirs[spatial](to_torch(x), output_size, **kwargs)
                got, ref = (got, ref) if kwargs else ((got,), (ref,))
                _close(got[0], ref[0].numpy(), dtype)
                if kwargs:
                    assert np.array_equal(got[1], ref[1].numpy())
        y = AVG[spatial](x, 2, stride=1, padding=1, count_include_pad=False)
        _close(y, T_AVG[spatial](to_torch(x), 2, stride=1, padding=1, count_include_pad=False).numpy(), dtype)


def test_nan_reports_last_nan_and_all_minus_inf_first_cell():
    x = np.array([[[1.0, np.nan, 3.0, np.nan, 0.0]]])
    y, i = cf.max_pool1d(x, 5, return_indices=True)
    assert np.isnan(y).all() and i.tolist() == [[[3]]]
    y, i = cf.max_pool1d(np.full((1, 1, 3), -np.inf), 3, stride=1, padding=1, return_indices=True)
    assert i.tolist() == [[[0, 0, 1]]] and np.isneginf(y).all()
    # a window made only of padding (dilation jumps over the input): torch's -inf and index
    y, i = cf.max_pool2d(np.ones((1, 1, 2, 2)), 2, padding=1, dilation=3, return_indices=True)
    assert np.isneginf(y).all() and i.tolist() == [[[[6]]]]


# --------------------------------------------------------------------------- finite differences


@pytest.mark.parametrize("spatial", [1, 2])
def test_finite_differences(spatial):
    rng = np.random.default_rng(7)
    shape = (1, 2) + ((7,) if spatial == 1 else (5, 4))
    x = rng.permutation(np.prod(shape)).reshape(shape) / 3.0 + rng.uniform(0, 0.1, shape)   # no ties
    cases = [
        (lambda v: MAX[spatial](v, 3, 1, 1, 1, True),
         lambda g: cf.max_pool_nd_backward(g, x, MAX[spatial](x, 3, 1, 1, 1, True, True)[1], 3, 1, 1, 1, True,
                                           spatial=spatial)),
        (lambda v: MAX[spatial](v, 2, 2, 1, 2, True),
         lambda g: cf.max_pool_nd_backward(g, x, MAX[spatial](x, 2, 2, 1, 2, True, True)[1], 2, 2, 1, 2, True,
                                           spatial=spatial)),
        (lambda v: avg_pool_nd(v, 3, 2, 1, True, False, None, spatial=spatial),
         lambda g: cf.avg_pool_nd_backward(g, x, 3, 2, 1, True, False, None, spatial=spatial)),
        (lambda v: avg_pool_nd(v, 2, 1, 1, True, True, 3 if spatial > 1 else None, spatial=spatial),
         lambda g: cf.avg_pool_nd_backward(g, x, 2, 1, 1, True, True, 3 if spatial > 1 else None,
                                           spatial=spatial)),
        (lambda v: ADA_AVG[spatial](v, 3),
         lambda g: cf.adaptive_avg_pool_nd_backward(g, x, spatial=spatial)),
        (lambda v: ADA_MAX[spatial](v, 3),
         lambda g: cf.adaptive_max_pool_nd_backward(g, x, ADA_MAX[spatial](x, 3, True)[1], spatial=spatial)),
    ]
    for forward, backward in cases:
        g = rng.standard_normal(forward(x).shape)
        assert np.abs(backward(g) - numeric_vjp(forward, x, g)).max() < 1e-7


# --------------------------------------------------------------------------- errors


ERRORS = [
    (lambda: cf.max_pool2d(np.ones((4, 4)), 2), ValueError, ["max_pool2d", "3D", "4D", "2D input"]),
    (lambda: cf.avg_pool1d(np.ones((1, 1, 1, 4)), 2), ValueError, ["avg_pool1d", "2D", "3D", "4D input"]),
    (lambda: cf.max_pool2d(np.ones((1, 1, 5, 5)), 3, padding=2), ValueError,
     ["max_pool2d", "padding=(2, 2)", "half", "kernel_size=(3, 3)"]),
    (lambda: cf.avg_pool3d(np.ones((1, 1, 5, 5, 5)), 2, padding=(0, 2, 0)), ValueError,
     ["avg_pool3d", "padding=(0, 2, 0)", "half"]),
    (lambda: cf.max_pool2d(np.ones((1, 1, 2, 2)), 3), ValueError, ["max_pool2d", "output size", "too small"]),
    (lambda: cf.avg_pool1d(np.ones((1, 1, 2)), 2, padding=1, stride=0), ValueError, ["avg_pool1d", "stride", "positive"]),
    (lambda: cf.max_pool1d(np.ones((1, 1, 4)), 0), ValueError, ["max_pool1d", "kernel_size", "positive"]),
    (lambda: cf.max_pool1d(np.ones((1, 1, 4)), 2, padding=-1), ValueError, ["max_pool1d", "padding", "non-negative"]),
    (lambda: cf.max_pool1d(np.ones((1, 1, 4)), 2.5), TypeError, ["max_pool1d", "kernel_size", "2.5"]),
    (lambda: cf.max_pool2d(np.ones((1, 1, 4, 4)), (2, 2, 2)), ValueError, ["max_pool2d", "kernel_size", "(2, 2, 2)"]),
    (lambda: cf.max_pool2d(np.ones((1, 1, 4, 4), dtype=bool), 2), TypeError, ["max_pool2d", "input", "bool"]),
    (lambda: cf.avg_pool2d(np.ones((1, 1, 4, 4), dtype=np.complex128), 2), TypeError,
     ["avg_pool2d", "input", "complex128"]),
    (lambda: cf.adaptive_max_pool2d(np.ones((1, 4, 4), dtype=np.int32), 2), TypeError,
     ["adaptive_max_pool2d", "int32"]),
    (lambda: cf.max_pool1d(np.ones((1, 0, 4)), 2), ValueError, ["max_pool1d", "non-zero", "(1, 0, 4)"]),
    (lambda: cf.avg_pool2d(np.ones((1, 1, 0, 4)), 2), ValueError, ["avg_pool2d", "non-zero"]),
    (lambda: cf.max_pool2d(np.ones((1, 1, 4, 4)), 2, ceil_mode="yes"), TypeError, ["max_pool2d", "ceil_mode", "yes"]),
    (lambda: cf.avg_pool2d(np.ones((1, 1, 4, 4)), 2, divisor_override=0), ValueError,
     ["avg_pool2d", "divisor_override", "non-zero", "0"]),
    (lambda: cf.avg_pool2d(np.ones((1, 1, 4, 4)), 2, divisor_override=1.5), TypeError,
     ["avg_pool2d", "divisor_override", "1.5"]),
    (lambda: cf.avg_pool2d(np.ones((1, 1, 4, 4)), 2, count_include_pad=None), TypeError,
     ["avg_pool2d", "count_include_pad", "None"]),
    (lambda: cf.adaptive_avg_pool2d(np.ones((1, 4, 4)), (2, -1)), ValueError,
     ["adaptive_avg_pool2d", "output_size", "non-negative", "-1"]),
    (lambda: cf.adaptive_avg_pool2d(np.ones((1, 4, 4)), (2, 2, 2)), ValueError,
     ["adaptive_avg_pool2d", "output_size", "(2, 2, 2)"]),
    (lambda: cf.adaptive_max_pool2d(np.ones((1, 4, 4)), None), TypeError, ["adaptive_max_pool2d", "output_size", "None"]),
    (lambda: cf.adaptive_avg_pool1d(np.ones((1, 4)), 2.0), TypeError, ["adaptive_avg_pool1d", "output_size", "2.0"]),
    (lambda: cf.adaptive_max_pool3d(np.ones((1, 4, 4, 4)), (2, "a", 2)), TypeError, ["adaptive_max_pool3d", "'a'"]),
    (lambda: cf.adaptive_avg_pool3d(np.ones((4, 4)), 2), ValueError, ["adaptive_avg_pool3d", "4D", "5D"]),
    (lambda: cf.max_pool_nd_backward(np.ones((1, 1, 3)), np.ones((1, 1, 4)), np.zeros((1, 1, 2), np.int64),
                                     2, 2, 0, 1, False, spatial=1), ValueError,
     ["max_pool_backward", "grad_output", "(1, 1, 2)", "(1, 1, 3)"]),
    (lambda: cf.max_pool_nd_backward(np.ones((1, 1, 2)), np.ones((1, 1, 4)), np.zeros((1, 1, 2)),
                                     2, 2, 0, 1, False, spatial=1), TypeError, ["max_pool_backward", "indices", "float64"]),
    (lambda: cf.avg_pool_nd_backward(np.ones((1, 1, 2), np.float32), np.ones((1, 1, 4)), 2, 2, 0, False, True,
                                     None, spatial=1), TypeError, ["avg_pool_backward", "float32", "float64"]),
    (lambda: cf.adaptive_avg_pool_nd_backward(np.ones((1, 1, 2)), np.ones((1, 4)), spatial=1), ValueError,
     ["adaptive_avg_pool_backward", "grad_output", "(1, 1, 2)"]),
]


@pytest.mark.parametrize("call, kind, words", ERRORS)
def test_errors(call, kind, words):
    assert_error(call, kind, words)


# --------------------------------------------------------------------------- fast paths (phase layout, chunks)


@pytest.fixture
def small_chunks(monkeypatch):
    """Force many plane chunks on small inputs."""
    from convwise.algorithms import pooling
    monkeypatch.setattr(pooling, "_CHUNK_BYTES", 1)          # one plane per chunk


@pytest.mark.parametrize("dtype", DTYPES)
def test_chunked_paths_match_torch(small_chunks, dtype):
    rng = np.random.default_rng(11)
    x = _data(rng, (3, 5, 23, 18), dtype, ties=True)
    x[1, 2, 4, 7] = np.nan                 # NaN in one plane only: that chunk takes the exact step
    x[2, 0, 10:12, 3] = np.nan
    x[0, 4, 5, :] = -np.inf
    for kwargs in ({"kernel_size": 3, "stride": 2, "padding": 1},
                   {"kernel_size": (3, 2), "stride": (1, 3), "padding": (1, 0), "dilation": (2, 1), "ceil_mode": True},
                   {"kernel_size": 2}):
        y_ref, i_ref = T_MAX[2](to_torch(x), return_indices=True, **kwargs)
        y, i = cf.max_pool2d(x, return_indices=True, **kwargs)
        assert np.array_equal(y, y_ref.numpy(), equal_nan=True) and np.array_equal(i, i_ref.numpy())
        assert np.array_equal(cf.max_pool2d(x, **kwargs), y, equal_nan=True)
    check_avg_pool(_data(rng, (3, 5, 23, 18), dtype), 2, kernel_size=3, stride=2, padding=1, ceil_mode=True,
                   count_include_pad=False)
    check_max_pool(_data(rng, (2, 3, 9, 8, 7), dtype, ties=True), 3, kernel_size=2, stride=(1, 2, 3), padding=1,
                   dilation=(1, 2, 1), ceil_mode=True)


def test_signed_zero_ties_keep_torch_value():
    x = np.zeros((2, 3, 8, 9), dtype=np.float32)
    rng = np.random.default_rng(5)
    x[rng.random(x.shape) < 0.5] = -0.0
    for kwargs in ({"kernel_size": 3, "stride": 2, "padding": 1}, {"kernel_size": 2, "stride": 1}):
        y_ref, i_ref = F.max_pool2d(torch.from_numpy(x), return_indices=True, **kwargs)
        y, i = cf.max_pool2d(x, return_indices=True, **kwargs)
        assert np.array_equal(i, i_ref.numpy())
        assert np.array_equal(np.signbit(y), np.signbit(y_ref.numpy()))
        assert np.array_equal(np.signbit(cf.max_pool2d(x, **kwargs)),
                              np.signbit(F.max_pool2d(torch.from_numpy(x), **kwargs).numpy()))


def test_many_taps_use_wider_tap_numbers():
    rng = np.random.default_rng(2)
    x = _data(rng, (2, 2, 15, 14), np.float32, ties=True)      # 12 x 12 = 144 taps: past int8
    x[0, 1, 3, 3] = np.nan
    y_ref, i_ref = F.max_pool2d(torch.from_numpy(x), 12, stride=1, padding=6, return_indices=True)
    y, i = cf.max_pool2d(x, 12, stride=1, padding=6, return_indices=True)
    assert np.array_equal(y, y_ref.numpy(), equal_nan=True) and np.array_equal(i, i_ref.numpy())
