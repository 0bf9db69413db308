"""The compiled F(4x4, 3x3) transforms (:mod:`convwise.kernels.winograd`) against torch 2.13,
the NumPy transforms of the same algorithm and the transform matrices themselves."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convwise as cw
from conftest import rel_error, to_torch
from convwise import kernels
from convwise.algorithms import direct, winograd
from convwise.arithmetic import conv_geometry
from convwise.functional import conv_nd_backward
from convwise.functional.conv import plan_conv


@pytest.fixture(scope="module", autouse=True)
def loaded():
    assert kernels.wait(winograd.FUSED_KERNELS), kernels.unavailable_reason()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_filter_transform_is_g_g_gt(rng, dtype):
    """``U = G g G^T`` per filter, against the matrix products in float64."""
    w = rng.standard_normal((37, 3, 3)).astype(dtype)
    u = np.empty((36, 37), dtype=dtype)
    kernels.get("winograd_filter")(w, winograd._constants(np.dtype(dtype)), u)
    g = winograd._MATRICES[4][1]
    expected = np.einsum("ka,fab,ib->kif", g, w.astype(np.float64), g).reshape(36, 37)
    assert rel_error(u, expected) < (1e-6 if dtype == np.float32 else 1e-14)


SHAPES = [  # (x shape, c_out, padding, groups)
    ((1, 3, 7, 9), 4, 1, 1),            # outputs not a multiple of 4 in either direction
    ((2, 5, 13, 6), 3, 1, 1),
    ((1, 4, 4, 4), 2, 0, 1),            # a single 2x2 output: one partial tile
    ((3, 8, 11, 17), 6, ((2, 0), (0, 3)), 2),   # per-side padding, groups
    ((2, 6, 10, 10), 6, 2, 6),          # depthwise
    ((1, 16, 29, 23), 8, 1, 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, c_out, padding, groups", SHAPES)
def test_fused_forward_matches_torch_and_numpy_transforms(rng, dtype, shape, c_out, padding, groups):
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((c_out, shape[1] // groups, 3, 3)).astype(dtype)
    geometry = conv_geometry(shape[2:], 3, 1, padding)
    fused = winograd._forward_fused(x, w, geometry, groups)
    with kernels.disabled():
        numpy_path = winograd.forward(x, w, geometry, groups, tile=4)
    pad = padding if isinstance(padding, int) else (padding[1][0], padding[1][1], padding[0][0], padding[0][1])
    xt = F.pad(to_torch(x).double(), (pad,) * 4 if isinstance(pad, int) else pad)
    reference = F.conv2d(xt, to_torch(w).double(), groups=groups).numpy()
    bound = 2e-5 if dtype == np.float32 else 1e-12
    assert fused.shape == reference.shape
    assert rel_error(fused, reference) < bound
    assert rel_error(fused, numpy_path) < bound


def test_fused_chunks_agree_with_one_chunk(rng):
    """A tiny workspace cuts the work into (sample, tile row) chunks: same answer."""
    x = rng.standard_normal((3, 8, 30, 22)).astype(np.float32)
    w = rng.standard_normal((5, 8, 3, 3)).astype(np.float32)
    geometry = conv_geometry((30, 22), 3, 1, 1)
    whole = winograd._forward_fused(x, w, geometry, 1)
    with cw.config(workspace_mib=0.05):
        chunked = winograd._forward_fused(x, w, geometry, 1)
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-5)


@pytest.mark.parametrize("threads", [1, 2])
def test_auto_uses_fused_tiles_and_matches_torch(rng, threads):
    x = rng.standard_normal((2, 32, 28, 28)).astype(np.float32)
    w = rng.standard_normal((32, 32, 3, 3)).astype(np.float32)
    assert winograd.tile_size(x.shape, w.shape, conv_geometry((28, 28), 3, 1, 1), 1, np.float32) == 4
    with cw.config(threads=threads):
        y = cw.conv2d(x, w, padding=1, method="winograd")
    expected = torch.nn.functional.conv2d(to_torch(x).double(), to_torch(w).double(), padding=1).numpy()
    assert rel_error(y, expected) < 2e-5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, c_out, padding, groups", SHAPES)
def test_weight_grad_matches_torch_autograd(rng, dtype, shape, c_out, padding, groups):
    """The adjoint F(4x4) weight gradient against torch.autograd in float64 (edge tiles past the
    output, per-side padding, groups and depthwise included)."""
    x = rng.standard_normal(shape).astype(dtype)
    geometry = conv_geometry(shape[2:], 3, 1, padding)
    dy = rng.standard_normal((shape[0], c_out, *geometry.output_size)).astype(dtype)
    grad = winograd.weight_grad(x, dy, geometry, groups)
    pad = padding if isinstance(padding, int) else (padding[1][0], padding[1][1], padding[0][0], padding[0][1])
    xt = F.pad(to_torch(x).double(), (pad,) * 4 if isinstance(pad, int) else pad)
    wt = torch.zeros((c_out, shape[1] // groups, 3, 3), dtype=torch.float64, requires_grad=True)
    (expected,) = torch.autograd.grad(F.conv2d(xt, wt, groups=groups), wt, to_torch(dy).double())
    assert rel_error(grad, expected.numpy()) < (2e-5 if dtype == np.float32 else 1e-12)


def test_weight_grad_chunks_and_threads_agree(rng):
    x = rng.standard_normal((3, 8, 30, 22)).astype(np.float64)
    geometry = conv_geometry((30, 22), 3, 1, 1)
    dy = rng.standard_normal((3, 5, 30, 22))
    whole = winograd.weight_grad(x, dy, geometry, 1)
    with cw.config(workspace_mib=0.05, threads=2):
        chunked = winograd.weight_grad(x, dy, geometry, 1)
    np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-12)


def test_auto_backward_picks_winograd_for_dense_3x3_and_matches_torch(rng):
    """A dense 3x3 layer's backward (the path training runs): auto chooses Winograd for both
    gradients on this machine's cost model, and both agree with torch within the fast bound."""
    x = rng.standard_normal((4, 32, 28, 28)).astype(np.float32)
    w = rng.standard_normal((32, 32, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((4, 32, 28, 28)).astype(np.float32)
    plan, xb, wb, _, _ = plan_conv(x, w, padding=1, spatial=2, fn="conv2d")
    gx, gw, _ = plan.backward(dy, xb, wb)
    assert {kind: record.name for kind, record in plan._backward.items()} == {"transpose": "winograd",
                                                                               "weight_grad": "winograd"}
    xt = to_torch(x).double().requires_grad_()
    wt = to_torch(w).double().requires_grad_()
    ex, ew = torch.autograd.grad(F.conv2d(xt, wt, padding=1), (xt, wt), to_torch(dy).double())
    assert rel_error(gx, ex.numpy()) < 1e-4
    assert rel_error(gw, ew.numpy()) < 1e-4


def test_weight_grad_chunks_side_by_side_agree(rng, monkeypatch):
    """The two-thread path that runs chunks side by side (forced on a small layer) sums every chunk once."""
    monkeypatch.setattr(winograd, "PARALLEL_CHUNK_FLOPS", 0)
    x = rng.standard_normal((5, 6, 19, 23))
    geometry = conv_geometry((19, 23), 3, 1, 1)
    dy = rng.standard_normal((5, 4, 19, 23))
    with cw.config(threads=1):
        alone = winograd.weight_grad(x, dy, geometry, 2)
    with cw.config(threads=2, workspace_mib=0.2):
        chunks, threads = winograd._chunks(5, 5, 6 * 36 * 10 * 8, cw.get_config().workspace_bytes, 1)
        assert threads == 2 and len(chunks) % 2 == 0 and len(chunks) >= 2
        side = winograd.weight_grad(x, dy, geometry, 2)
    np.testing.assert_allclose(side, alone, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_chunks_side_by_side_agree_with_direct(rng, monkeypatch, dtype):
    """The forward pass's chunks run side by side (forced on small layers, a tiny workspace so that
    there are many chunks of samples and of tile rows) give the direct convolution."""
    monkeypatch.setattr(winograd, "FORWARD_CHUNK_FLOPS", 0)
    monkeypatch.setattr(winograd, "PARALLEL_CHUNK_FLOPS", 0)
    assert winograd.fused(dtype), "the compiled transforms are loaded by this module's fixtures"
    real, calls = winograd.run, []
    monkeypatch.setattr(winograd, "run", lambda tasks, threads: calls.append(len(tasks)) or real(tasks, threads))
    for shape, groups, padding in (((5, 6, 19, 23), 2, 1), ((1, 8, 30, 17), 1, ((2, 0), (0, 1)))):
        x = rng.standard_normal(shape).astype(dtype)
        w = rng.standard_normal((4, shape[1] // groups, 3, 3)).astype(dtype)
        geometry = conv_geometry(shape[2:], 3, 1, padding)
        calls.clear()
        with cw.config(threads=2, workspace_mib=0.05):
            side = winograd.forward(x, w, geometry, groups, tile=4)
        assert calls and calls[0] >= 2
        expected = direct.forward(x.astype(np.float64), w.astype(np.float64), geometry, groups)
        assert rel_error(side, expected) <= (1e-4 if dtype == np.float32 else 1e-10)


def test_weight_grad_is_ineligible_until_its_kernels_load():
    """Without the compiled transforms there is no Winograd weight gradient: auto is told why, and
    an explicit request is refused naming the reason, while the forward keeps its NumPy transforms."""
    from convwise.algorithms import make_problem

    geometry = conv_geometry((12, 12), 3, 1, 1)
    problem = make_problem("weight_grad", (1, 4, 12, 12), (4, 4, 3, 3), geometry, 1, np.float32)
    with kernels.disabled():
        assert "not loaded" in winograd.why_ineligible(problem)
        assert winograd.why_ineligible(make_problem("forward", (1, 4, 12, 12), (4, 4, 3, 3), geometry, 1,
                                                    np.float32)) is None
        x = np.ones((1, 4, 12, 12), np.float32)
        with pytest.raises(ValueError, match="winograd.*not loaded"):
            conv_nd_backward(np.ones((1, 4, 12, 12), np.float32), x, np.ones((4, 4, 3, 3), np.float32), padding=1,
                             spatial=2, needs=(False, True, False), method="winograd")
    assert winograd.why_ineligible(problem) is None
