"""Winograd and FFT convolution against the direct reference and torch (float64 oracle)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convwise
from conftest import TOLERANCE, peak_memory, rel_error, to_torch
from convwise import kernels
from convwise.algorithms import _fft_plan, direct, fft, select, winograd
from convwise.arithmetic import ConvGeometry, conv_geometry, conv_transpose_geometry

DTYPES = [np.float32, np.float64]
TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def eligible(name, x_shape, w_shape, geometry, groups, dtype, kind="forward"):
    """Whether the registered algorithm ``name`` may run this problem (the selector's guards)."""
    return select.why_ineligible(name, kind, x_shape, w_shape, geometry, groups, dtype) is None


def torch_conv(x, w, geometry: ConvGeometry, groups):
    """float64 torch reference for any (lo, hi) padding and a possibly truncated output."""
    pads = [p for lo_hi in reversed(geometry.padding) for p in lo_hi]
    padded = F.pad(to_torch(x), pads)
    y = TORCH_CONV[geometry.ndim](padded, to_torch(w), stride=geometry.stride, dilation=geometry.dilation,
                                  groups=groups)
    return y[(Ellipsis,) + tuple(slice(0, o) for o in geometry.output_size)].numpy()


def arrays(rng, x_shape, w_shape, dtype):
    return rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)


def check(ours, x, w, geometry, groups, dtype):
    bound = TOLERANCE[dtype][1]
    assert ours.dtype == dtype
    assert rel_error(ours, torch_conv(x, w, geometry, groups)) <= bound
    assert rel_error(ours, direct.forward(x.astype(np.float64), w.astype(np.float64), geometry, groups)) <= bound


def truncated(geometry: ConvGeometry, cut) -> ConvGeometry:
    out = tuple(max(1, o - c) for o, c in zip(geometry.output_size, cut))
    return ConvGeometry(geometry.input_size, geometry.kernel_size, geometry.stride, geometry.padding,
                        geometry.dilation, out)


# --------------------------------------------------------------------------- Winograd

WINOGRAD_CASES = [
    # x_shape, padding, groups, c_out
    ((1, 3, 8, 8), 0, 1, 4),
    ((2, 4, 11, 13), 1, 1, 5),
    ((3, 4, 9, 10), ((0, 2), (1, 0)), 2, 6),      # asymmetric (lo, hi)
    ((1, 6, 5, 7), ((3, 1), (2, 2)), 3, 3),       # padding wider than the kernel
    ((2, 2, 3, 3), 1, 1, 2),                      # output smaller than a tile
    ((1, 8, 17, 6), "same", 1, 8),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("x_shape,padding,groups,c_out", WINOGRAD_CASES)
def test_winograd_matches_direct_and_torch(rng, x_shape, padding, groups, c_out, tile, dtype):
    x, w = arrays(rng, x_shape, (c_out, x_shape[1] // groups, 3, 3), dtype)
    geometry = conv_geometry(x_shape[2:], 3, 1, padding)
    assert eligible("winograd", x.shape, w.shape, geometry, groups, dtype)
    check(winograd.forward(x, w, geometry, groups, tile=tile), x, w, geometry, groups, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tile", [2, 4])
def test_winograd_truncated_output(rng, tile, dtype):
    x, w = arrays(rng, (2, 4, 12, 11), (3, 4, 3, 3), dtype)
    geometry = truncated(conv_geometry((12, 11), 3, 1, 1), (3, 2))
    check(winograd.forward(x, w, geometry, 1, tile=tile), x, w, geometry, 1, dtype)


def test_winograd_float32_accuracy_many_channels(rng):
    """F(4x4) error grows with C_in; at the F4_MAX_CHANNELS limit it stays inside the bound,
    on N(0,1) data and on data whose magnitudes span e^-6..e^6 per element."""
    c = winograd.F4_MAX_CHANNELS
    x = rng.standard_normal((1, c, 8, 8)) * np.exp(rng.uniform(-3, 3, (1, c, 8, 8)))
    w = rng.standard_normal((4, c, 3, 3)) * np.exp(rng.uniform(-3, 3, (4, c, 3, 3)))
    x, w = x.astype(np.float32), w.astype(np.float32)
    geometry = conv_geometry((8, 8), 3, 1, 1)
    error = rel_error(winograd.forward(x, w, geometry, 1, tile=4), torch_conv(x, w, geometry, 1))
    assert error <= TOLERANCE[np.float32][1] / 4
    wider = (1, 2 * c, 8, 8)
    assert winograd.tile_size(wider, (4, 2 * c, 3, 3), geometry, 1, np.float32) == 2


def test_winograd_tile_choice_follows_cost():
    """Within the accuracy limit the tile with the lower modelled cost is used: F(4x4) on a
    large image with few channels, F(2x2) where the filter transform dominates (here with the
    NumPy transforms; the compiled ones are compared in the next test)."""
    with kernels.disabled():
        _check_tile_choice()


def test_winograd_fused_tile_choice_follows_cost():
    """With the compiled F(4x4) transforms ready, F(4x4) is still chosen only where its modelled
    cost (fused transforms, the larger filter transform) is the lower one."""
    assert kernels.wait(winograd.FUSED_KERNELS, ["float32"], timeout=600)
    big = conv_geometry((56, 56), 3, 1, 1)
    assert winograd.tile_size((1, 64, 56, 56), (64, 64, 3, 3), big, 1, np.float32) == 4
    small = conv_geometry((8, 8), 3, 1, 1)
    shapes = ((1, 512, 8, 8), (512, 512, 3, 3), small)
    assert winograd._tile_cost(*shapes, 1, 4, fused=True) > winograd._tile_cost(*shapes, 1, 2)
    assert winograd.tile_size(*shapes, 1, np.float32) == 2


def _check_tile_choice():
    big = conv_geometry((56, 56), 3, 1, 1)
    assert winograd.tile_size((8, 64, 56, 56), (64, 64, 3, 3), big, 1, np.float32) == 4
    small = conv_geometry((8, 8), 3, 1, 1)
    assert winograd.tile_size((1, 512, 8, 8), (512, 512, 3, 3), small, 1, np.float32) == 2
    assert winograd.tile_size((1, 4, 3, 3), (4, 4, 3, 3), conv_geometry((3, 3), 3, 1, 1), 1, np.float64) == 2
    for shapes in (((8, 64, 56, 56), (64, 64, 3, 3), big), ((1, 512, 8, 8), (512, 512, 3, 3), small)):
        m = winograd.tile_size(*shapes[:3], 1, np.float32)
        assert winograd._tile_cost(*shapes, 1, m) == min(winograd._tile_cost(*shapes, 1, t) for t in (2, 4))
        assert m in (2, 4)


@pytest.mark.parametrize("name", ["winograd", "fft"])
def test_two_threads_match_one_and_restore_blas(rng, name):
    """threads=2 (fft: chunks on a pool with single-threaded BLAS; winograd: BLAS threads)
    agrees with one thread, and the BLAS thread setting is the same afterwards."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    x, w = arrays(rng, (3, 8, 21, 19), (6, 8, 3, 3) if name == "winograd" else (6, 8, 7, 7), np.float32)
    geometry = conv_geometry((21, 19), w.shape[2:], 1, "same")
    run = {"winograd": winograd.forward, "fft": fft.forward}[name]
    with convwise.config(threads=2, workspace_mib={"winograd": 0.05, "fft": 64}[name]):   # several chunks
        before = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        y2 = run(x, w, geometry, 1)
        after = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    with convwise.config(threads=1):
        y1 = run(x, w, geometry, 1)
    assert before == after
    assert rel_error(y2, torch_conv(x, w, geometry, 1)) <= TOLERANCE[np.float32][1]
    assert np.allclose(y1, y2, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel,stride,dilation,ndim", [
    (5, 1, 1, 2), ((3, 2), 1, 1, 2), (3, 2, 1, 2), (3, 1, 2, 2), (3, 1, 1, 1), (3, 1, 1, 3)])
def test_winograd_not_eligible(kernel, stride, dilation, ndim):
    geometry = conv_geometry((9,) * ndim, kernel, stride, 0, dilation)
    k = geometry.kernel_size
    assert not eligible("winograd", (1, 2, *geometry.input_size), (2, 2, *k), geometry, 1, np.float32)


# --------------------------------------------------------------------------- FFT forward

FFT_CASES = [
    # x_shape, w_shape, stride, padding, dilation, groups
    ((2, 3, 20), (4, 3, 5), 1, 0, 1, 1),
    ((1, 4, 33), (6, 2, 8), 3, 2, 2, 2),
    ((3, 2, 16), (2, 2, 4), 1, "same", 1, 1),            # even kernel: (lo, hi) = (1, 2)
    ((2, 3, 12, 14), (4, 3, 3, 3), 1, 1, 1, 1),
    ((1, 4, 17, 12), (6, 2, 3, 2), (3, 2), (2, 1), (2, 3), 2),
    ((2, 2, 15, 16), (2, 2, 4, 6), 1, "same", (2, 1), 1),
    ((1, 3, 40, 41), (5, 3, 11, 11), 4, 0, 1, 1),        # AlexNet-like stem
    ((1, 6, 30, 30), (6, 1, 7, 7), 1, 3, 1, 6),          # depthwise
    ((1, 8, 24, 24), (8, 8, 13, 13), 1, 6, 1, 1),        # big kernel, many channels
    ((2, 2, 6, 7, 5), (3, 2, 3, 2, 3), (1, 2, 1), 1, 1, 1),
    ((1, 4, 5, 6, 7), (4, 2, 2, 3, 2), 2, "valid", (1, 1, 2), 2),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape,w_shape,stride,padding,dilation,groups", FFT_CASES)
def test_fft_matches_direct_and_torch(rng, x_shape, w_shape, stride, padding, dilation, groups, dtype):
    x, w = arrays(rng, x_shape, w_shape, dtype)
    geometry = conv_geometry(x_shape[2:], w_shape[2:], stride, padding, dilation)
    assert eligible("fft", x.shape, w.shape, geometry, groups, dtype)
    check(fft.forward(x, w, geometry, groups), x, w, geometry, groups, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape,w_shape,stride,padding", [
    ((2, 3, 19), (4, 3, 5), 2, 2), ((1, 2, 14, 15), (3, 2, 4, 3), (2, 1), 1)])
def test_fft_truncated_output(rng, x_shape, w_shape, stride, padding, dtype):
    x, w = arrays(rng, x_shape, w_shape, dtype)
    geometry = truncated(conv_geometry(x_shape[2:], w_shape[2:], stride, padding), (2, 1))
    check(fft.forward(x, w, geometry, 1), x, w, geometry, 1, dtype)


def test_fft_large_kernel_float32_bound(rng):
    x, w = arrays(rng, (1, 1, 300, 300), (1, 1, 31, 31), np.float32)
    geometry = conv_geometry((300, 300), 31, 1, 15)
    check(fft.forward(x, w, geometry, 1), x, w, geometry, 1, np.float32)


@pytest.mark.parametrize("lengths, blocks", [((24, 24), (12, 12)), ((9,), (5,)), ((8, 6, 10), (3, 6, 7)),
                                             ((128,), (98,)), ((32, 48), (20, 36)), ((7, 12), (7, 1))])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_fft_valid_inverse_equals_irfftn_corner(rng, lengths, blocks, dtype):
    """Both routes (DFT matrices for small tiles, irfftn otherwise) give the valid corner of irfftn."""
    import scipy.fft

    from convwise._workspace import scratch

    signal = rng.standard_normal(tuple(lengths) + (3, 2))
    spectrum = scipy.fft.rfftn(signal, axes=range(len(lengths))).astype(dtype)
    corner = tuple(slice(0, b) for b in blocks)
    expected = scipy.fft.irfftn(spectrum.astype(np.complex128), s=lengths, axes=range(len(lengths)))[corner]
    with scratch() as pad:
        got = np.array(fft._inverse(pad, spectrum, lengths, blocks))
    assert got.shape == expected.shape
    bound = 1e-6 if dtype == np.complex64 else 1e-13
    assert rel_error(got, expected) <= bound
    assert rel_error(got, signal[corner]) <= bound


def test_fft_valid_inverse_takes_both_routes():
    assert _fft_plan.inverse_by_dft((24, 24), (12, 12))           # k13 tiles: DFT matrices
    assert not _fft_plan.inverse_by_dft((128,), (98,))             # long 1-D tiles: inverse FFT


# --------------------------------------------------------------------------- FFT transposed / weight grad


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape,w_shape,stride,padding,output_padding,dilation,groups", [
    ((2, 4, 7, 6), (4, 3, 3, 2), 2, 1, 1, 1, 2),
    ((1, 3, 9), (3, 5, 4), 3, 2, 0, 2, 1),
    ((2, 2, 4, 5, 3), (2, 3, 2, 3, 2), (1, 2, 1), 0, 0, 1, 1),
    ((1, 2, 6, 6), (2, 2, 3, 3), 1, 3, 0, 1, 1),         # padding > kernel - 1
])
def test_fft_transpose(rng, x_shape, w_shape, stride, padding, output_padding, dilation, groups, dtype):
    x, w = arrays(rng, x_shape, w_shape, dtype)
    geometry = conv_transpose_geometry(x_shape[2:], w_shape[2:], stride, padding, output_padding, dilation)
    ours = fft.transpose(x, w, geometry, groups)
    reference = TORCH_TRANSPOSE[geometry.ndim](to_torch(x), to_torch(w), stride=stride, padding=padding,
                                               output_padding=output_padding, groups=groups, dilation=dilation)
    assert ours.dtype == dtype
    assert rel_error(ours, reference.numpy()) <= TOLERANCE[dtype][1]
    assert rel_error(ours, direct.transpose(x, w, geometry, groups)) <= TOLERANCE[dtype][1]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape,w_shape,stride,padding,dilation,groups", [
    ((2, 4, 9, 8), (6, 2, 3, 2), 2, 1, 1, 2),
    ((1, 3, 20), (5, 3, 4), 3, 2, 2, 1),
    ((2, 2, 6, 5, 7), (3, 2, 2, 3, 2), (1, 2, 1), 1, (2, 1, 1), 1),
    ((2, 3, 40, 40), (4, 3, 11, 11), 1, 5, 1, 1),
])
def test_fft_weight_grad(rng, x_shape, w_shape, stride, padding, dilation, groups, dtype):
    x, w = arrays(rng, x_shape, w_shape, dtype)
    geometry = conv_geometry(x_shape[2:], w_shape[2:], stride, padding, dilation)
    dy = rng.standard_normal((x_shape[0], w_shape[0], *geometry.output_size)).astype(dtype)
    ours = fft.weight_grad(x, dy, geometry, groups)
    tw = to_torch(w).requires_grad_(True)
    TORCH_CONV[geometry.ndim](to_torch(x), tw, stride=stride, padding=padding, dilation=dilation,
                              groups=groups).backward(to_torch(dy))
    assert ours.dtype == dtype and ours.shape == w.shape
    assert rel_error(ours, tw.grad.numpy()) <= TOLERANCE[dtype][1]
    assert rel_error(ours, direct.weight_grad(x, dy, geometry, groups)) <= TOLERANCE[dtype][1]


# --------------------------------------------------------------------------- public API, eligibility, budget


@pytest.mark.parametrize("dtype", DTYPES)
def test_public_api_methods(rng, dtype):
    x, w = arrays(rng, (2, 4, 10, 9), (6, 4, 3, 3), dtype)
    b = rng.standard_normal(6).astype(dtype)
    reference = F.conv2d(to_torch(x), to_torch(w), to_torch(b), padding=1).numpy()
    for method in ("winograd", "fft"):
        ours = convwise.conv2d(x, w, b, padding=1, method=method)
        assert rel_error(ours, reference) <= TOLERANCE[dtype][1]
    x1, w1 = arrays(rng, (3, 50), (2, 3, 9), dtype)                     # unbatched conv1d
    reference = F.conv1d(to_torch(x1)[None], to_torch(w1), stride=2, padding="valid").numpy()[0]
    assert rel_error(convwise.conv1d(x1, w1, stride=2, method="fft"), reference) <= TOLERANCE[dtype][1]
    xt, wt = arrays(rng, (1, 2, 5, 6), (2, 3, 4, 4), dtype)
    reference = F.conv_transpose2d(to_torch(xt), to_torch(wt), stride=2, padding=1).numpy()
    ours = convwise.conv_transpose2d(xt, wt, stride=2, padding=1, method="fft")
    assert rel_error(ours, reference) <= TOLERANCE[dtype][1]


def test_fft_eligibility_and_cost():
    geometry = conv_geometry((64, 64), 13, 1, 6)
    shapes = ((1, 64, 64, 64), (64, 64, 13, 13), geometry, 1)
    assert eligible("fft", *shapes, np.float32)
    seconds = select.predict_seconds("fft", "forward", *shapes, np.float32)
    assert 0 < seconds < select.predict_seconds("direct", "forward", *shapes, np.float32)
    with convwise.config(workspace_mib=0.01):                             # no block plan fits
        assert not eligible("fft", *shapes, np.float32)
        assert select.predict_seconds("fft", "forward", *shapes, np.float32) == float("inf")
        with pytest.raises(ValueError, match="workspace"):
            fft.forward(np.zeros(shapes[0], np.float32), np.zeros(shapes[1], np.float32), geometry, 1)
    small = conv_geometry((56, 56), 3, 1, 1)
    shapes = ((1, 64, 56, 56), (64, 64, 3, 3), small, 1, np.float32)
    assert select.predict_seconds("winograd", "forward", *shapes) < select.predict_seconds("gemm", "forward", *shapes)


@pytest.mark.parametrize("name", ["winograd", "fft"])
def test_workspace_budget_honoured(rng, name):
    x, w = arrays(rng, (4, 16, 48, 48), (16, 16, 3, 3), np.float32)
    geometry = conv_geometry((48, 48), 3, 1, 1)
    run = {"winograd": winograd.forward, "fft": fft.forward}[name]
    budget_mib = 1.0
    with convwise.config(workspace_mib=budget_mib):
        y, peak = peak_memory(run, x, w, geometry, 1)
    assert rel_error(y, torch_conv(x, w, geometry, 1)) <= TOLERANCE[np.float32][1]
    slack = 256 * 1024
    assert peak <= budget_mib * 2**20 + y.nbytes + slack, peak


def test_fft_weight_grad_budget(rng):
    x, w = arrays(rng, (2, 8, 64, 64), (8, 8, 9, 9), np.float32)
    geometry = conv_geometry((64, 64), 9, 1, 4)
    dy = rng.standard_normal((2, 8, 64, 64)).astype(np.float32)
    with convwise.config(workspace_mib=2.0):
        grad, peak = peak_memory(fft.weight_grad, x, dy, geometry, 1)
    assert rel_error(grad, direct.weight_grad(x, dy, geometry, 1)) <= TOLERANCE[np.float32][1]
    # the transposed copies of x and dy are the only other allocations
    assert peak <= 2 * 2**20 + x.nbytes + dy.nbytes + grad.nbytes + 256 * 1024, peak


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding, output_padding, groups, size", [
    (0, 0, 1, (7, 9)), (1, 0, 2, (8, 8)), (2, 0, 1, (6, 5)), (1, 0, 4, (11, 6)), (2, 0, 1, (3, 3))])
def test_winograd_transpose_matches_torch(rng, dtype, padding, output_padding, groups, size):
    """Unit-stride 3x3 transposed conv through Winograd (the rewritten forward conv)."""
    x, w = arrays(rng, (2, 8, *size), (8, 12 // groups, 3, 3), dtype)
    expected = F.conv_transpose2d(to_torch(x), to_torch(w), None, 1, padding, output_padding, groups).numpy()
    got = convwise.conv_transpose2d(x, w, None, 1, padding, output_padding, groups, method="winograd")
    assert got.dtype == dtype
    assert rel_error(got, expected) <= TOLERANCE[dtype][1]
    assert eligible("winograd", x.shape, w.shape, conv_transpose_geometry(size, 3, 1, padding), groups, dtype,
                             kind="transpose")
    assert not eligible("winograd", x.shape, w.shape, conv_transpose_geometry(size, 3, 2, padding), groups, dtype,
                                 kind="transpose")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_input_gradient_matches_autograd(rng, dtype):
    """The input gradient of a 3x3 conv (incl. 'same' and unread trailing cells) via Winograd."""
    from convwise.functional import conv_nd_backward

    for padding, size in [("same", (10, 9)), (0, (9, 8)), (1, (6, 12))]:
        x, w = arrays(rng, (2, 6, *size), (5, 6, 3, 3), dtype)
        tx = to_torch(x).requires_grad_()
        y = F.conv2d(tx, to_torch(w), padding=padding)
        dy = torch.from_numpy(rng.standard_normal(tuple(y.shape)))
        y.backward(dy)
        gx, _, _ = conv_nd_backward(dy.numpy().astype(dtype), x, w, 1, padding, spatial=2, method="winograd",
                                    needs=(True, False, False))
        assert rel_error(gx, tx.grad.numpy()) <= TOLERANCE[dtype][1]
