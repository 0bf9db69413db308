"""Algorithm selection (guards, cost model, measured mode) and the exact algorithms it chooses from.

gemm, shift, depthwise and pointwise are checked against the ``direct`` reference and against
torch in float64, forward, transposed (input gradient) and weight gradient.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convwise as cw
from conftest import TOLERANCE, assert_error, rel_error, to_torch
from convwise import algorithms, arithmetic
from convwise.algorithms import FORWARD, TRANSPOSE, WEIGHT_GRAD, direct, select, winograd
from convwise.arithmetic import input_gradient_geometry as _input_gradient_geometry

DTYPES = [np.float32, np.float64]
TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CW_CONV = {1: cw.conv1d, 2: cw.conv2d, 3: cw.conv3d}

# (input shape, weight shape, stride, padding, dilation, groups): depthwise-shaped, pointwise and general
DEPTHWISE = [
    ((2, 4, 9, 10), (4, 1, 3, 3), 1, 1, 1, 4),
    ((1, 3, 11, 8), (6, 1, 3, 2), (2, 1), (1, 0), (1, 2), 3),            # multiplier 2, mixed geometry
    ((2, 2, 8, 8), (6, 1, 4, 4), 1, "same", 1, 2),                       # multiplier 3, 'same' even kernel
    ((1, 4, 10, 9), (4, 1, 3, 3), 2, 0, 1, 4),                           # stride leaves trailing cells unread
    ((3, 5, 17), (10, 1, 5), 3, 2, 2, 5),                                # 1d
    ((1, 2, 5, 6, 7), (4, 1, 3, 2, 3), (1, 2, 1), 1, 1, 2),              # 3d
    ((1, 6, 7, 7), (6, 1, 1, 1), 2, 1, 1, 6),                            # 1x1 depthwise
]
POINTWISE = [
    ((2, 6, 9, 11), (4, 6, 1, 1), 1, 0, 1, 1),
    ((2, 6, 9, 11), (4, 6, 1, 1), (2, 3), (1, 2), 1, 1),
    ((1, 4, 8, 8), (6, 2, 1, 1), 2, 0, 3, 2),                            # dilation has no effect
    ((3, 6, 10), (4, 6, 1), 3, 2, 1, 1),
    ((1, 4, 3, 4, 5), (2, 2, 1, 1, 1), 2, 1, 1, 2),
]
GENERAL = [
    ((2, 4, 9, 10), (6, 4, 3, 3), 1, 1, 1, 1),
    ((1, 4, 12, 11), (6, 2, 3, 4), (2, 1), (1, 2), (1, 2), 2),
    ((2, 3, 10, 10), (5, 3, 4, 4), 1, "same", 1, 1),
    ((1, 3, 10, 10), (4, 3, 2, 3), 1, "same", (2, 1), 1),
    ((2, 4, 23), (6, 2, 5), 2, 3, 2, 2),
    ((1, 2, 6, 7, 8), (4, 2, 3, 3, 2), (2, 1, 1), 1, (1, 1, 2), 1),
    ((1, 3, 13, 13), (2, 3, 7, 7), 4, 0, 1, 1),
]
CASES = [("depthwise", c) for c in DEPTHWISE] + [("pointwise", c) for c in POINTWISE] + \
        [("gemm", c) for c in GENERAL + DEPTHWISE + POINTWISE] + \
        [("shift", c) for c in GENERAL + DEPTHWISE + POINTWISE if c[2] == 1]         # shift: unit stride only


def _case_id(case):
    name, (xs, ws, s, p, d, g) = case
    return f"{name}-x{'x'.join(map(str, xs))}-w{'x'.join(map(str, ws))}-s{s}-p{p}-d{d}-g{g}"


def _problem(case, dtype, rng):
    xs, ws, stride, padding, dilation, groups = case
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    geometry = arithmetic.conv_geometry(xs[2:], ws[2:], stride, padding, dilation)
    return x, w, geometry, groups


@pytest.fixture(scope="module")
def torch_double():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_exact_algorithms_match_direct_and_torch(case, dtype, rng):
    method, spec = case
    x, w, geometry, groups = _problem(spec, dtype, rng)
    spatial = x.ndim - 2
    tolerance = TOLERANCE[dtype][0]
    xs, ws, stride, padding, dilation, _ = spec
    # forward
    got = CW_CONV[spatial](x, w, None, stride, padding, dilation, groups, method=method)
    assert got.dtype == dtype
    tx, tw = to_torch(x).requires_grad_(), to_torch(w).requires_grad_()
    reference = TORCH_CONV[spatial](tx, tw, None, stride, padding, dilation, groups)
    assert rel_error(got, reference.detach().numpy()) <= tolerance
    assert rel_error(got, direct.forward(x, w, geometry, groups)) <= tolerance
    # gradients: input gradient is the transposed conv, weight gradient a correlation
    dy = rng.standard_normal(reference.shape).astype(dtype)
    reference.backward(to_torch(dy))
    if select.why_ineligible(method, "weight_grad", x.shape, w.shape, geometry, groups, dtype) is None:
        grad_w = WEIGHT_GRAD[method](x, dy, geometry, groups)
        assert grad_w.dtype == dtype
        assert rel_error(grad_w, tw.grad.numpy()) <= tolerance
    back = _input_gradient_geometry(geometry)
    if select.why_ineligible(method, "transpose", dy.shape, w.shape, back, groups, dtype) is None:
        grad_x = TRANSPOSE[method](dy, w, back, groups)
        assert grad_x.dtype == dtype
        assert rel_error(grad_x, tx.grad.numpy()) <= tolerance


@pytest.mark.parametrize("method", ["gemm", "shift", "depthwise", "pointwise"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_truncated_output_size_matches_direct(method, dtype, rng):
    """Algorithms honour geometry.output_size even when it is smaller than the natural one."""
    spec = {"gemm": GENERAL[1], "shift": GENERAL[2], "depthwise": DEPTHWISE[1], "pointwise": POINTWISE[1]}[method]
    x, w, geometry, groups = _problem(spec, dtype, rng)
    short = dataclasses.replace(geometry, output_size=tuple(max(1, o - 2) for o in geometry.output_size))
    expected = direct.forward(x, w, short, groups)
    got = FORWARD[method](x, w, short, groups)
    assert got.shape == expected.shape
    assert rel_error(got, expected) <= TOLERANCE[dtype][0]


@pytest.mark.parametrize("method", ["gemm", "depthwise", "pointwise"])
@pytest.mark.parametrize("stride, padding, output_padding", [(1, 0, 0), (2, 1, 1), (3, 2, 0), (1, 2, 0)])
def test_public_conv_transpose_matches_torch(method, stride, padding, output_padding, rng):
    c_in, groups = 4, (4 if method == "depthwise" else 2)
    kernel = (1, 1) if method == "pointwise" else (3, 2)
    x = rng.standard_normal((2, c_in, 5, 6))
    w = rng.standard_normal((c_in, 3 if method != "depthwise" else 1, *kernel))
    if method == "pointwise" and padding > 0 and stride == 1:
        padding = 0                                       # negative output size for a 1x1 kernel
    expected = F.conv_transpose2d(to_torch(x), to_torch(w), None, stride, padding, output_padding, groups).numpy()
    got = cw.conv_transpose2d(x, w, None, stride, padding, output_padding, groups, method=method)
    assert rel_error(got, expected) <= 1e-12


# --------------------------------------------------------------------------- guards


def _geometry(kernel=(3, 3), stride=1, padding=1, dilation=1, size=(16, 16)):
    return arithmetic.conv_geometry(size, kernel, stride, padding, dilation)


@pytest.fixture(autouse=True)
def fresh_choices():
    """These tests patch the registry and cost models under the cache of predicted choices."""
    select.clear_cache()
    yield
    select.clear_cache()


def _register_fake(name, *, exact=False, cost=0.0, why=lambda problem: None, **kernels):
    kernels = kernels or {"forward": lambda x, w, geometry, groups: direct.forward(x, w, geometry, groups)}
    algorithms.register(algorithms.Algorithm(name, exact=exact, why_ineligible=why, cost=lambda problem: cost,
                                             **kernels))


@pytest.fixture
def fake_fast():
    """A registered inexact record that claims to be free and float32-only."""
    _register_fake("fakefast", why=lambda problem: None if problem.dtype == "float32" else "float32 only")
    yield
    algorithms.unregister("fakefast")


@pytest.fixture
def eager_winograd():
    """Winograd's record with a zero cost: only its own guards stop it."""
    real = algorithms.RECORDS["winograd"]
    algorithms.register(dataclasses.replace(real, cost=lambda problem: 0.0))
    yield
    algorithms.register(real)


def test_auto_never_picks_an_ineligible_fast_method(fake_fast):
    g = _geometry()
    assert select.choose_method("forward", (1, 8, 16, 16), (8, 8, 3, 3), g, 1, np.float32) == "fakefast"
    for kernel in [(3, 3), (5, 5)]:
        g = _geometry(kernel=kernel, padding=kernel[0] // 2)
        choice = select.choose_method("forward", (1, 8, 16, 16), (8, 8, *kernel), g, 1, np.float64)
        assert choice != "fakefast"
        assert select.why_ineligible(choice, "forward", (1, 8, 16, 16), (8, 8, *kernel), g, 1, np.float64) is None


def test_auto_never_picks_a_fast_method_on_non_finite_or_untamed_operands(fake_fast):
    g = _geometry()
    for finite, tame in [(False, False), (True, False)]:
        problem = algorithms.make_problem("forward", (1, 8, 16, 16), (8, 8, 3, 3), g, 1, "float32", finite=finite,
                                          tame=tame)
        assert select.choose(problem).exact
        assert all(r.exact for r in select.eligible(problem))
        rows = {row["algorithm"]: row for row in select.explain(problem)}
        assert "NaN" in rows["fakefast"]["reason"] or "overflow" in rows["fakefast"]["reason"]


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_input_auto_matches_torch_and_explicit_fast_method_refuses(value):
    x = np.ones((1, 4, 12, 12), np.float32)
    x[0, 1, 5, 6] = value
    w = np.ones((4, 4, 3, 3), np.float32)
    expected = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=1).numpy()
    got = cw.conv2d(x, w, padding=1)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    for method in ("winograd", "fft"):
        assert_error(lambda m=method: cw.conv2d(x, w, padding=1, method=m), ValueError,
                     [f"conv2d: method={method!r} cannot run this problem", "NaN or Inf"])


def test_huge_magnitudes_keep_to_exact_methods():
    x = np.full((1, 4, 12, 12), 3e18, np.float32)          # squares overflow float32: untamed
    w = np.full((4, 4, 3, 3), 1e-18, np.float32)
    expected = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=1).numpy()
    assert rel_error(cw.conv2d(x, w, padding=1), expected) <= TOLERANCE[np.float32][0]
    assert_error(lambda: cw.conv2d(x, w, padding=1, method="fft"), ValueError, ["overflow"])


def test_unregistered_method_is_a_value_error_and_a_registered_one_runs_explicitly():
    x = np.ones((1, 8, 16, 16), np.float32)
    w = np.ones((8, 8, 3, 3), np.float32)
    assert_error(lambda: cw.conv2d(x, w, padding=1, method="unvetted"), ValueError, ["method must be one of"])
    _register_fake("unvetted", exact=True, cost=float("inf"))
    try:
        assert "unvetted" not in select.candidates("forward", x.shape, w.shape, _geometry(), 1, np.float32)
        assert cw.conv2d(x, w, padding=1, method="unvetted").shape == (1, 8, 16, 16)
    finally:
        algorithms.unregister("unvetted")


@pytest.mark.parametrize("stride, dilation", [(2, 1), (1, 2), ((1, 2), 1), (1, (2, 1))])
def test_auto_never_picks_winograd_strided_or_dilated(eager_winograd, stride, dilation):
    g = _geometry(stride=stride, dilation=dilation, padding=2)
    assert select.choose_method("forward", (1, 8, 16, 16), (8, 8, 3, 3), g, 1, np.float32) != "winograd"
    reason = select.why_ineligible("winograd", "forward", (1, 8, 16, 16), (8, 8, 3, 3), g, 1, np.float32)
    assert "stride" in reason and "dilation" in reason
    assert select.choose_method("forward", (1, 8, 16, 16), (8, 8, 3, 3), _geometry(), 1, np.float32) == "winograd"


def test_explicit_strided_winograd_is_a_value_error(eager_winograd):
    x = np.ones((1, 2, 8, 8), np.float32)
    w = np.ones((2, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"conv2d: method='winograd' cannot run this problem: .*stride"):
        cw.conv2d(x, w, stride=2, method="winograd")


@pytest.mark.skipif("winograd" not in FORWARD, reason="winograd not registered")
@pytest.mark.parametrize("kwargs", [dict(stride=2), dict(dilation=2)])
def test_real_winograd_refuses_strided_or_dilated(kwargs):
    with pytest.raises(ValueError, match=r"conv2d: method='winograd'"):
        cw.conv2d(np.ones((1, 2, 9, 9), np.float32), np.ones((2, 2, 3, 3), np.float32), method="winograd", **kwargs)


@pytest.mark.parametrize("method, kwargs, weight, words", [
    ("pointwise", {}, (4, 4, 3, 3), ["1x1", "kernel_size=(3, 3)"]),
    ("depthwise", {}, (4, 4, 3, 3), ["groups", "in_channels"]),
    ("depthwise", {"groups": 2}, (4, 2, 3, 3), ["groups=2", "4 input channels"]),
])
def test_explicit_ineligible_exact_method_names_function_method_and_reason(method, kwargs, weight, words):
    x = np.ones((1, 4, 8, 8))
    message = assert_error(lambda: cw.conv2d(x, np.ones(weight), method=method, **kwargs), ValueError, words)
    assert message.startswith("conv2d: ") and repr(method) in message


def test_unknown_and_non_string_methods():
    x, w = np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d: method must be one of .*'measure'.*got method='magic'"):
        cw.conv2d(x, w, method="magic")
    with pytest.raises(TypeError, match="conv2d: method must be a string"):
        cw.conv2d(x, w, method=3)


PROBLEMS = [  # (x_shape, w_shape, stride, padding, dilation, groups)
    ((1, 16, 20, 20), (16, 16, 3, 3), 1, 1, 1, 1), ((1, 16, 20, 20), (16, 16, 3, 3), 2, 1, 1, 1),
    ((1, 16, 20, 20), (16, 16, 3, 3), 1, 2, 2, 1), ((2, 16, 20, 20), (32, 1, 3, 3), 1, 1, 1, 16),
    ((1, 16, 20, 20), (8, 16, 1, 1), 1, 0, 1, 1), ((1, 16, 20, 20), (8, 4, 1, 1), 2, 0, 1, 4),
    ((1, 2, 40, 40), (2, 2, 11, 11), 1, 5, 1, 1), ((1, 8, 100), (8, 8, 31), 1, 15, 1, 1),
    ((1, 4, 6, 8, 8), (4, 4, 3, 3, 3), 1, 1, 1, 1), ((1, 16, 12, 12), (16, 4, 3, 3), 1, 1, 1, 4),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: f"x{p[0]}w{p[1]}s{p[2]}d{p[4]}g{p[5]}")
def test_auto_only_chooses_eligible_methods_for_every_kind(problem, dtype):
    xs, ws, stride, padding, dilation, groups = problem
    geometry = arithmetic.conv_geometry(xs[2:], ws[2:], stride, padding, dilation)
    for kind, x_shape, geo in [("forward", xs, geometry), ("weight_grad", xs, geometry),
                               ("transpose", (xs[0], ws[0], *geometry.output_size), _input_gradient_geometry(geometry))]:
        choice = select.choose_method(kind, x_shape, ws, geo, groups, dtype)
        assert select.why_ineligible(choice, kind, x_shape, ws, geo, groups, dtype) is None, (kind, choice)
        if dtype == np.float64:
            assert choice in select.EXACT or select.why_ineligible(choice, kind, x_shape, ws, geo, groups, dtype) is None
        if geometry.stride != (1,) * geometry.ndim or geometry.dilation != (1,) * geometry.ndim:
            assert choice != "winograd"
        if choice != "direct":
            assert choice in select.candidates(kind, x_shape, ws, geo, groups, dtype)


def test_cost_model_prefers_the_specialised_kernels():
    g = _geometry()
    # depthwise layers with large planes (measured 1.7-2x faster than gemm/shift); small ones are a tie
    for threads in (1, 2):
        with cw.config(threads=threads):
            g112 = _geometry(size=(112, 112))
            assert select.choose_method("forward", (1, 96, 112, 112), (96, 1, 3, 3), g112, 96, np.float32) in ("depthwise", "compiled")
            g56s1 = _geometry(size=(56, 56))
            chosen = select.choose_method("forward", (8, 144, 56, 56), (144, 1, 3, 3), g56s1, 144, np.float32)
            assert chosen in ("depthwise", "compiled")
            g28 = _geometry(size=(28, 28))
            assert select.choose_method("forward", (1, 256, 28, 28), (256, 1, 3, 3), g28, 256, np.float32) in ("depthwise", "compiled")
    # never the slow fast algorithms on depthwise / few-channel grouped layers
    for x_shape, w_shape, groups in [((1, 256, 14, 14), (256, 1, 5, 5), 256), ((2, 512, 7, 7), (512, 1, 3, 3), 512),
                                     ((1, 128, 28, 28), (128, 4, 3, 3), 32)]:
        gg = _geometry(size=x_shape[2:], kernel=w_shape[2:], padding=w_shape[-1] // 2)
        assert select.choose_method("forward", x_shape, w_shape, gg, groups, np.float32) in ("depthwise", "gemm", "shift",
                                                                                             "compiled")
    g1 = _geometry(kernel=(1, 1), padding=0)
    assert select.choose_method("forward", (1, 64, 16, 16), (32, 64, 1, 1), g1, 1, np.float32) == "pointwise"
    # stride-1 dense 3x3 at ResNet sizes: Winograd forward in float32 (measured 17.9 ms vs shift 24.8, gemm
    # 32.9, benchmarks/calibrate.py, 1 thread); the weight gradient by the compiled F(4x4) adjoint once its
    # kernels are loaded (2 threads: 10.5-12 ms against gemm's 15.8), else im2col GEMM (gemm 18.6-20.2 ms,
    # shift 22.4-24.3; one large GEMM spreads over the threads, shift's nine per sample do not)
    g56 = _geometry(size=(56, 56))
    with cw.config(threads=2):
        assert select.choose_method("forward", (8, 64, 56, 56), (64, 64, 3, 3), g56, 1, np.float32) == "winograd"
        wgrad = select.choose_method("weight_grad", (8, 64, 56, 56), (64, 64, 3, 3), g56, 1, np.float32)
        assert wgrad == ("winograd" if winograd.fused(np.float32, winograd.GRAD_KERNELS) else "gemm")
    g2 = arithmetic.conv_geometry((56, 56), (3, 3), 2, 1, 1)
    assert select.choose_method("forward", (1, 128, 56, 56), (128, 128, 3, 3), g2, 1, np.float32) == "gemm"
    for name in select.candidates("forward", (1, 64, 16, 16), (64, 64, 3, 3), g, 1, np.float32):
        assert select.predict_seconds(name, "forward", (1, 64, 16, 16), (64, 64, 3, 3), g, 1, np.float32) > 0


# --------------------------------------------------------------------------- measured mode


def test_measure_returns_times_and_caches_the_choice(monkeypatch):
    select.clear_cache()
    shapes = ((1, 8, 16, 16), (8, 8, 3, 3), _geometry(), 1, np.float32)
    choice, times = select.choose_method("forward", *shapes, measure=True)
    assert len(times) > 1
    assert choice in times and set(times) <= set(select.candidates("forward", *shapes))
    assert all(t > 0 for t in times.values())
    assert times[choice] == min(times.values())
    calls = []
    monkeypatch.setitem(FORWARD, choice, lambda *args: calls.append(args))
    assert select.choose_method("forward", *shapes, measure=True) == (choice, times)   # cached: nothing re-run
    assert calls == []
    select.clear_cache()


def test_measure_mode_and_benchmark_mode_give_correct_results(rng):
    x = rng.standard_normal((1, 4, 9, 9))
    w = rng.standard_normal((4, 1, 3, 3))
    expected = cw.conv2d(x, w, padding=1, groups=4, method="direct")
    assert rel_error(cw.conv2d(x, w, padding=1, groups=4, method="measure"), expected) <= 1e-12
    previous = select.benchmark_mode(True)
    try:
        assert select.benchmark_mode() is True
        assert rel_error(cw.conv2d(x, w, padding=1, groups=4), expected) <= 1e-12
    finally:
        select.benchmark_mode(previous)
    with pytest.raises(TypeError, match="benchmark_mode"):
        select.benchmark_mode("yes")
    select.clear_cache()


def test_measure_never_times_an_ineligible_method(eager_winograd):
    select.clear_cache()
    g = _geometry(stride=2)
    choice, times = select.choose_method("forward", (1, 4, 16, 16), (4, 4, 3, 3), g, 1, np.float32, measure=True)
    assert "winograd" not in times and choice != "winograd"
    select.clear_cache()


# --------------------------------------------------------------------------- threads


def test_threads_setting_reaches_blas():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with cw.config(threads=1):
        assert all(info["num_threads"] == 1 for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas")


def test_predicted_choice_is_cached_and_forgotten_when_the_registry_changes():
    g = _geometry()
    problem = ("forward", (1, 8, 16, 16), (8, 8, 3, 3), g, 1, np.float32)
    first = select.choose_method(*problem)
    assert first != "freebie"
    assert select.choose_method(*problem) == first
    try:
        _register_fake("freebie", exact=True)
        assert select.choose_method(*problem) == "freebie"          # not the choice cached before
    finally:
        algorithms.unregister("freebie")
    assert select.choose_method(*problem) == first


def test_weight_gradient_is_costed_as_a_weight_gradient():
    """The old selector costed FFT's weight gradient as a forward pass (N=8 64@56: 41.6 ms
    predicted against 134.6 ms); each record now costs the problem's own kind."""
    g = arithmetic.conv_geometry((56, 56), (3, 3), 1, 1, 1)
    shapes = ((8, 64, 56, 56), (64, 64, 3, 3), g, 1, "float32")
    forward = select.predict_seconds("fft", "forward", *shapes)
    weight_grad = select.predict_seconds("fft", "weight_grad", *shapes)
    assert weight_grad > 2 * forward


def test_explain_lists_every_record_with_reason_or_seconds():
    g = _geometry()
    rows = algorithms.explain("forward", (1, 8, 16, 16), (8, 8, 3, 3), g, 1, "float32")
    assert [row["algorithm"] for row in rows] == sorted(algorithms.RECORDS)
    assert sum(row["chosen"] for row in rows) == 1
    for row in rows:
        assert (row["reason"] is None) == (row["seconds"] is not None)
    chosen = next(row for row in rows if row["chosen"])
    finite = [row["seconds"] for row in rows if row["seconds"] is not None]
    assert chosen["seconds"] == min(finite)
