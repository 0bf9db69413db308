"""The shift-GEMM (kn2row) algorithm: agreement with direct and torch (unit and larger strides, both
GEMM paths), tiling, budget, threads, kept tap weights."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import convwise as cw
from conftest import TOLERANCE, peak_memory, rel_error, to_torch
from convwise import _blas, arithmetic
from convwise.algorithms import FORWARD, TRANSPOSE, WEIGHT_GRAD, direct, select, shift
from convwise.arithmetic import input_gradient_geometry as _input_gradient_geometry

TORCH_CONV = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}
MIB = 2**20

# (input shape, weight shape, padding, dilation, groups)
CASES = [
    ((1, 3, 11), (4, 3, 3), 1, 1, 1),
    ((2, 4, 13), (6, 2, 4), "same", 2, 2),
    ((3, 2, 9), (2, 2, 2), ((2, 1),), 3, 1),
    ((1, 3, 7, 9), (5, 3, 3, 3), 1, 1, 1),
    ((2, 4, 8, 7), (4, 2, 4, 2), "same", 1, 2),
    ((2, 6, 9, 10), (6, 2, 3, 2), ((1, 2), (0, 3)), (2, 1), 3),
    ((3, 2, 12, 12), (4, 2, 3, 3), 4, 4, 1),
    ((1, 4, 6, 6), (8, 4, 3, 3), 0, 1, 1),
    ((2, 4, 10, 10), (4, 1, 3, 3), 1, 1, 4),
    ((1, 2, 5, 6, 7), (3, 2, 3, 2, 3), ((1, 1), (0, 1), (2, 0)), (1, 2, 1), 1),
    ((2, 4, 4, 5, 6), (4, 2, 2, 3, 3), "same", 1, 2),
]


def _ids(case):
    xs, ws, p, d, g = case
    return f"x{'x'.join(map(str, xs))}-w{'x'.join(map(str, ws))}-p{p}-d{d}-g{g}".replace(" ", "")


def _setup(case, dtype, rng):
    xs, ws, padding, dilation, groups = case
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    pad = padding
    if isinstance(padding, tuple) and isinstance(padding[0], tuple):
        pad = padding                                   # already (lo, hi) pairs
    geometry = arithmetic.conv_geometry(xs[2:], ws[2:], 1, pad, dilation)
    return x, w, geometry, groups


def _torch_reference(x, w, geometry, groups):
    """float64 torch conv with explicit (possibly asymmetric) zero padding."""
    tx = to_torch(x).requires_grad_()
    tw = to_torch(w).requires_grad_()
    flat = [p for pair in reversed(geometry.padding) for p in pair]
    padded = torch.nn.functional.pad(tx, flat)
    y = TORCH_CONV[geometry.ndim](padded, tw, None, 1, 0, geometry.dilation, groups)
    return tx, tw, y


@pytest.fixture(params=["accumulate", "stack"])
def path(request, monkeypatch):
    """Run with each tap one accumulating CBLAS product on the grids (every channel count), or
    with the copied tap stack and one GEMM (none)."""
    if request.param == "accumulate":
        monkeypatch.setattr(shift, "ACCUMULATE_MIN_CHANNELS", 1)
        if _blas.gemm(np.float32) is None or _blas.gemm(np.float64) is None:
            pytest.skip("NumPy's BLAS has no CBLAS gemm this process can call")
    else:
        monkeypatch.setattr(shift, "ACCUMULATE_MIN_CHANNELS", 10**9)
    return request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_forward_and_gradients_match_torch_and_direct(case, dtype, path, rng):
    x, w, geometry, groups = _setup(case, dtype, rng)
    tolerance = TOLERANCE[dtype][0]
    tx, tw, reference = _torch_reference(x, w, geometry, groups)
    y = shift.forward(x, w, geometry, groups)
    assert y.dtype == dtype and y.shape == reference.shape
    assert rel_error(y, reference.detach().numpy()) <= tolerance
    assert rel_error(y, direct.forward(x, w, geometry, groups)) <= tolerance
    dy = rng.standard_normal(reference.shape).astype(dtype)
    reference.backward(to_torch(dy))
    grad_w = shift.weight_grad(x, dy, geometry, groups)
    assert grad_w.dtype == dtype and grad_w.shape == w.shape
    assert rel_error(grad_w, tw.grad.numpy()) <= tolerance
    back = _input_gradient_geometry(geometry)
    grad_x = shift.transpose(dy, w, back, groups)
    assert grad_x.dtype == dtype and grad_x.shape == x.shape
    assert rel_error(grad_x, tx.grad.numpy()) <= tolerance


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", [CASES[1], CASES[5], CASES[6], CASES[9]], ids=_ids)
def test_truncated_output_size_matches_direct(case, dtype, rng):
    """Gradients build geometries whose output_size is smaller than the natural one."""
    x, w, geometry, groups = _setup(case, dtype, rng)
    short = dataclasses.replace(geometry, output_size=tuple(max(1, o - 2) for o in geometry.output_size))
    expected = direct.forward(x, w, short, groups)
    got = shift.forward(x, w, short, groups)
    assert got.shape == expected.shape
    assert rel_error(got, expected) <= TOLERANCE[dtype][0]
    dy = rng.standard_normal(expected.shape).astype(dtype)
    assert rel_error(shift.weight_grad(x, dy, short, groups),
                     direct.weight_grad(x, dy, short, groups)) <= TOLERANCE[dtype][0]


@pytest.mark.parametrize("stride, padding, output_padding, dilation", [(1, 0, 0, 1), (1, 2, 0, 1), (1, 1, 0, 2),
                                                                         (1, 3, 0, 1)])
def test_public_conv_transpose_matches_torch(stride, padding, output_padding, dilation, rng):
    x = rng.standard_normal((2, 4, 5, 6))
    w = rng.standard_normal((4, 3, 3, 2))
    got = cw.conv_transpose2d(x, w, None, stride, padding, output_padding, 2, dilation, method="shift")
    reference = torch.nn.functional.conv_transpose2d(to_torch(x), to_torch(w), None, stride, padding, output_padding,
                                                     2, dilation)
    assert rel_error(got, reference.numpy()) <= 1e-12


def test_registered_with_every_kind_and_strided_transposed_is_refused(rng):
    assert FORWARD["shift"] is shift.forward
    assert TRANSPOSE["shift"] is shift.transpose
    assert WEIGHT_GRAD["shift"] is shift.weight_grad
    x = rng.standard_normal((1, 2, 8, 8))
    w = rng.standard_normal((2, 2, 3, 3))
    with pytest.raises(ValueError, match=r"method='shift'.*stride"):
        cw.conv_transpose2d(x, w, stride=2, method="shift")
    g = arithmetic.conv_geometry((8, 8), (3, 3), 2, 1, 1)
    for kind in ("forward", "weight_grad"):
        assert select.why_ineligible("shift", kind, x.shape, w.shape, g, 1, np.float64) is None


# (input shape, weight shape, stride, padding, dilation, groups): strided layers run on the
# stride-phase grids; the last two have a stride larger than the kernel (phases nobody reads)
STRIDED = [
    ((2, 20, 17, 19), (24, 20, 3, 3), 2, 1, 1, 1),
    ((1, 18, 20, 20), (8, 18, 5, 3), (3, 2), ((2, 1), (1, 0)), (2, 1), 1),
    ((2, 32, 15, 15), (8, 16, 3, 3), 2, 1, 1, 2),
    ((1, 16, 9, 8, 9), (4, 16, 3, 2, 3), 2, 1, (1, 2, 1), 1),
    ((2, 16, 50), (6, 16, 5), 3, 2, 2, 1),
    ((1, 3, 23, 23), (4, 3, 7, 7), 2, 3, 1, 1),
    ((1, 4, 13, 13), (4, 4, 2, 2), 4, 0, 1, 1),
    ((2, 6, 11), (4, 3, 1), 3, 1, 1, 2),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", STRIDED, ids=[f"strided{i}" for i in range(len(STRIDED))])
def test_strided_forward_and_weight_gradient_match_torch_and_direct(case, dtype, path, rng):
    xs, ws, stride, padding, dilation, groups = case
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    geometry = arithmetic.conv_geometry(xs[2:], ws[2:], stride, padding, dilation)
    tx, tw = to_torch(x).requires_grad_(), to_torch(w).requires_grad_()
    flat = [p for pair in reversed(geometry.padding) for p in pair]
    reference = TORCH_CONV[geometry.ndim](torch.nn.functional.pad(tx, flat), tw, None, geometry.stride, 0,
                                          geometry.dilation, groups)
    tolerance = TOLERANCE[dtype][0]
    y = shift.forward(x, w, geometry, groups)
    assert y.dtype == dtype and rel_error(y, reference.detach().numpy()) <= tolerance
    assert rel_error(y, direct.forward(x, w, geometry, groups)) <= tolerance
    dy = rng.standard_normal(reference.shape).astype(dtype)
    reference.backward(to_torch(dy))
    grad_w = shift.weight_grad(x, dy, geometry, groups)
    assert grad_w.dtype == dtype and rel_error(grad_w, tw.grad.numpy()) <= tolerance


def test_accumulating_path_is_taken_where_numpy_carries_openblas(rng):
    """NumPy's wheels carry OpenBLAS: its CBLAS must be found, so that wide layers run one
    product per tap on the grids (and the stack path is not silently the only one)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not any(info.get("internal_api") == "openblas" for info in threadpoolctl.threadpool_info()):
        pytest.skip("NumPy here is not built on OpenBLAS")
    assert _blas.library(np.float32) is not None and _blas.gemm(np.float64) is not None
    assert shift._accumulates(64, np.float32) and not shift._accumulates(4, np.float32)
    x = rng.standard_normal((1, 32, 12, 12)).astype(np.float32)
    w = rng.standard_normal((16, 32, 3, 3)).astype(np.float32)
    geometry = arithmetic.conv_geometry((12, 12), (3, 3), 2, 1, 1)
    calls = []
    real = shift._accumulate
    try:
        shift._accumulate = lambda *args: calls.append(1) or real(*args)
        y = shift.forward(x, w, geometry, 1)
    finally:
        shift._accumulate = real
    assert calls and rel_error(y, direct.forward(x, w, geometry, 1)) <= 1e-5


def test_tap_weights_follow_in_place_writes(rng):
    """The per-tap weight matrices are kept between calls, but a weight written in place is
    laid out again (the cache compares bytes), as an optimiser step needs."""
    x = rng.standard_normal((1, 32, 10, 10))
    w = rng.standard_normal((16, 32, 3, 3))
    geometry = arithmetic.conv_geometry((10, 10), (3, 3), 1, 1, 1)
    first = shift.forward(x, w, geometry, 1)
    assert rel_error(shift.forward(x, w, geometry, 1), first) == 0.0
    w[3, 5, 1, 2] += 1.0
    assert rel_error(shift.forward(x, w, geometry, 1), direct.forward(x, w, geometry, 1)) <= 1e-12


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("budget", [0.05, 256])
def test_tiling_and_threads_give_the_same_result(threads, budget, rng):
    x = rng.standard_normal((3, 8, 20, 17)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    geometry = arithmetic.conv_geometry(x.shape[2:], w.shape[2:], 1, ((2, 1), (1, 0)), (2, 1))
    dy = rng.standard_normal((3, 6, *geometry.output_size)).astype(np.float32)
    expected = direct.forward(x.astype(np.float64), w.astype(np.float64), geometry, 2)
    expected_w = direct.weight_grad(x.astype(np.float64), dy.astype(np.float64), geometry, 2)
    old = shift.PARALLEL_MIN_FLOPS
    shift.PARALLEL_MIN_FLOPS = 0.0                                  # force the worker split on small tiles
    try:
        with cw.config(threads=threads, workspace_mib=budget):
            assert len(shift._plan(3, 8, 6, geometry, 4, "forward")) > (1 if budget < 1 else 0)
            assert rel_error(shift.forward(x, w, geometry, 2), expected) <= 1e-5
            assert rel_error(shift.weight_grad(x, dy, geometry, 2), expected_w) <= 1e-5
    finally:
        shift.PARALLEL_MIN_FLOPS = old


def test_row_tiles_cover_everything_within_the_budget():
    geometry = arithmetic.conv_geometry((57, 40), (3, 3), 1, 1, 2)
    with cw.config(workspace_mib=0.3):
        for kind in ("forward", "weight_grad"):
            plan = shift._plan(3, 16, 8, geometry, 4, kind)
            covered = {(b, r) for batch, rows in plan for b in range(batch.start, batch.stop)
                       for r in range(rows.start, rows.stop)}
            assert covered == {(b, r) for b in range(3) for r in range(geometry.output_size[0])}
            assert all(shift.tile_bytes(16, 8, geometry, 4, b.stop - b.start, r.stop - r.start, kind) <= 0.3 * MIB
                       for b, r in plan)


@pytest.mark.parametrize("threads", [1, 2])
def test_workspace_budget_is_honoured(threads, rng):
    x = rng.standard_normal((2, 32, 48, 48)).astype(np.float32)
    w = rng.standard_normal((16, 32, 3, 3)).astype(np.float32)
    geometry = arithmetic.conv_geometry(x.shape[2:], w.shape[2:], 1, 1, 1)
    dy = rng.standard_normal((2, 16, *geometry.output_size)).astype(np.float32)
    slack = 96 * 2**10
    with cw.config(workspace_mib=1, threads=threads):
        y, peak = peak_memory(lambda: shift.forward(x, w, geometry, 1))
        # the workers' tile buffers together stay within the budget
        assert peak <= 1 * MIB + y.nbytes + w.nbytes + slack, (peak, y.nbytes)
        grad, peak_w = peak_memory(lambda: shift.weight_grad(x, dy, geometry, 1))
        assert peak_w <= 1 * MIB + (threads + 2) * 2 * grad.nbytes + slack, peak_w
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    assert rel_error(y, direct.forward(x64, w64, geometry, 1)) <= 1e-5
    assert rel_error(grad, direct.weight_grad(x64, dy64, geometry, 1)) <= 1e-5


def test_auto_refuses_shift_when_one_row_exceeds_the_budget(rng):
    x = rng.standard_normal((1, 64, 4, 512)).astype(np.float32)
    w = rng.standard_normal((4, 64, 3, 3)).astype(np.float32)
    geometry = arithmetic.conv_geometry(x.shape[2:], w.shape[2:], 1, 1, 1)
    with cw.config(workspace_mib=0.25):
        assert select.why_ineligible("shift", "forward", x.shape, w.shape, geometry, 1, np.float32) is not None
        with pytest.raises(ValueError, match=r"method='shift'.*workspace"):
            cw.conv2d(x, w, padding=1, method="shift")
        assert "shift" not in select.candidates("forward", x.shape, w.shape, geometry, 1, np.float32)


def test_transposed_calls_leave_the_weight_cache_alone(rng):
    """A transposed call runs the forward on a new flipped weight each time: its per-tap layout
    is not kept (it could never be found again and would only push useful entries out)."""
    from convwise.algorithms import _filter_cache

    _filter_cache.clear()
    x = rng.standard_normal((1, 32, 9, 9))
    w = rng.standard_normal((32, 16, 3, 3))
    back = _input_gradient_geometry(arithmetic.conv_geometry((11, 11), (3, 3), 1, 0, 1))
    shift.transpose(x, w, back, 1)
    assert not _filter_cache._entries
    forward_w = rng.standard_normal((16, 32, 3, 3))
    shift.forward(x, forward_w, arithmetic.conv_geometry((9, 9), (3, 3), 1, 1, 1), 1)
    assert len(_filter_cache._entries) == 1
