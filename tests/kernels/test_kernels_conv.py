"""The ``compiled`` algorithm (numba direct loops) against torch 2.13 and the NumPy ``direct`` loop.

Forward, transposed and weight-gradient kernels over 1-D/2-D/3-D, stride, dilation,
padding, depthwise (with channel multipliers) and grouped layers, float32 and float64,
through the public functions with ``method="compiled"``; NaN/Inf where torch puts them;
the eligibility rules and the loading rule of :mod:`convwise.kernels`.
"""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convwise as cw
from conftest import TOLERANCE, rel_error, to_torch
from convwise import arithmetic, kernels
from convwise.algorithms import compiled, direct, select
from convwise.functional import conv_nd_backward

DTYPES = (np.float32, np.float64)
CONV = {1: cw.conv1d, 2: cw.conv2d, 3: cw.conv3d}
TCONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TRANSPOSE = {1: cw.conv_transpose1d, 2: cw.conv_transpose2d, 3: cw.conv_transpose3d}
TTRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
SIZES = {1: (13,), 2: (9, 8), 3: (5, 6, 7)}
#: (in channels, out channels, groups): depthwise, depthwise x2 multiplier, grouped, dense few-channel
CHANNELS = [(4, 4, 4), (3, 6, 3), (6, 4, 2), (2, 3, 1)]
GRID = [(spatial, k, s, p, d, ch) for spatial, k, s, p, d, ch in
        itertools.product([1, 2, 3], [1, 3], [1, 2], [0, 1], [1, 2], CHANNELS)
        if not (spatial == 3 and (ch[2] == 1 or d == 2))]


@pytest.fixture(scope="module", autouse=True)
def loaded():
    assert kernels.wait(["conv_forward", "conv_transpose", "conv_weight_grad"]), kernels.unavailable_reason()


def _operands(rng, spatial, k, channels, dtype, transposed=False):
    c_in, c_out, groups = channels
    x = rng.standard_normal((2, c_in) + SIZES[spatial]).astype(dtype)
    shape = (c_in, c_out // groups) if transposed else (c_out, c_in // groups)
    return x, rng.standard_normal(shape + (k,) * spatial).astype(dtype), groups


@pytest.mark.parametrize("spatial, k, stride, padding, dilation, channels", GRID)
def test_forward_and_gradients_match_torch(spatial, k, stride, padding, dilation, channels):
    rng = np.random.default_rng(len(GRID))
    for dtype in DTYPES:
        x, w, groups = _operands(rng, spatial, k, channels, dtype)
        kwargs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        xt, wt = to_torch(x).requires_grad_(True), to_torch(w).requires_grad_(True)
        ref = TCONV[spatial](xt, wt, **kwargs)
        got = CONV[spatial](x, w, method="compiled", **kwargs)
        exact = TOLERANCE[dtype][0]
        assert got.dtype == dtype and rel_error(got, ref.detach().numpy()) <= exact
        dy = rng.standard_normal(ref.shape).astype(dtype)
        gx, gw = torch.autograd.grad(ref, (xt, wt), to_torch(dy))
        ours_x, ours_w, _ = conv_nd_backward(dy, x, w, stride, padding, dilation, groups, spatial=spatial,
                                             method="compiled")
        assert rel_error(ours_x, gx.numpy()) <= exact
        assert rel_error(ours_w, gw.numpy()) <= exact


@pytest.mark.parametrize("spatial, k, stride, padding, dilation, channels", GRID[::4])
def test_transposed_matches_torch_and_direct(spatial, k, stride, padding, dilation, channels):
    rng = np.random.default_rng(7)
    output_padding = max(stride, dilation) - 1
    for dtype in DTYPES:
        x, w, groups = _operands(rng, spatial, k, channels, dtype, transposed=True)
        kwargs = {"stride": stride, "padding": padding, "output_padding": output_padding, "groups": groups,
                  "dilation": dilation}
        got = TRANSPOSE[spatial](x, w, method="compiled", **kwargs)
        ref = TTRANSPOSE[spatial](to_torch(x), to_torch(w), **kwargs).numpy()
        assert rel_error(got, ref) <= TOLERANCE[dtype][0]
        geometry = arithmetic.conv_transpose_geometry(x.shape[2:], w.shape[2:], stride, padding, output_padding,
                                                      dilation)
        assert rel_error(got, direct.transpose(x, w, geometry, groups)) <= TOLERANCE[dtype][0]


@pytest.mark.parametrize("workers", [1, 2, 3, 7])
def test_transposed_kernel_splits_rows_among_workers_exactly(workers):
    """Each worker steps through its rows (sample, channel, plane, row) by carries from its first
    row: every split, including ones that start mid-plane and mid-group, gives the direct result."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 4, 3, 5, 4))                       # (N, C_in, D, H, W), groups 2
    w = rng.standard_normal((4, 3, 2, 3, 3))                       # (C_in, C_out/g, k): C_out 6
    geometry = arithmetic.conv_transpose_geometry((3, 5, 4), (2, 3, 3), (2, 1, 3), (0, 1, 1), (1, 0, 2), (1, 1, 2))
    y = np.empty((3, 6, *geometry.output_size))
    kernels.launch("conv_transpose", x, w, compiled._geo(geometry), 2, workers, y)
    assert rel_error(y, direct.transpose(x, w, geometry, 2)) <= 1e-12


def test_depthwise_suite_shapes_match_direct():
    rng = np.random.default_rng(3)
    for shape, stride in (((1, 32, 28, 28), 1), ((2, 16, 17, 15), 2)):
        x = rng.standard_normal(shape).astype(np.float32)
        w = rng.standard_normal((shape[1], 1, 3, 3)).astype(np.float32)
        geometry = arithmetic.conv_geometry(shape[2:], (3, 3), stride, 1, 1)
        reference = direct.forward(x.astype(np.float64), w.astype(np.float64), geometry, shape[1])
        assert rel_error(compiled.forward(x, w, geometry, shape[1]), reference) <= 1e-5
        for threads in (1, 2):
            with cw.config(threads=threads):
                assert rel_error(compiled.forward(x, w, geometry, shape[1]), reference) <= 1e-5


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_land_where_torch_puts_them(bad):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 4, 7, 7))
    x[0, 1, 3, 2] = bad
    x[0, 2, 0, 0] = bad
    w = rng.standard_normal((4, 1, 3, 3))
    for kwargs in ({"padding": 1, "groups": 4}, {"padding": 2, "stride": 2, "dilation": 2, "groups": 4}):
        expected = F.conv2d(to_torch(x), to_torch(w), **kwargs).numpy()
        got = cw.conv2d(x, w, method="compiled", **kwargs)
        assert np.array_equal(np.isnan(got), np.isnan(expected))
        assert np.array_equal(np.isposinf(got), np.isposinf(expected))
        assert np.array_equal(np.isneginf(got), np.isneginf(expected))
    w[2, 0, 0, 0] = bad                      # a non-finite weight meets the zero padding: 0 * inf = NaN, as in torch
    expected = F.conv2d(to_torch(x), to_torch(w), padding=1, groups=4).numpy()
    got = cw.conv2d(x, w, padding=1, groups=4, method="compiled")
    assert np.array_equal(np.isnan(got), np.isnan(expected))


def test_read_only_input():
    x = np.random.default_rng(2).standard_normal((1, 3, 6, 6))
    w = np.ones((3, 1, 3, 3))
    x.flags.writeable = False
    expected = F.conv2d(to_torch(x), to_torch(w), padding=1, groups=3).numpy()
    assert rel_error(cw.conv2d(x, w, padding=1, groups=3, method="compiled"), expected) <= 1e-12


def _problem(kind="forward", x_shape=(1, 8, 10, 10), w_shape=(8, 1, 3, 3), groups=8, dtype="float32"):
    geometry = arithmetic.conv_geometry(x_shape[2:], w_shape[2:], 1, 1, 1)
    return compiled.Problem(kind, x_shape, w_shape, geometry, groups, dtype)


def test_eligibility_reasons_and_cost():
    assert compiled.why_ineligible(_problem()) is None
    reason = compiled.why_ineligible(_problem(x_shape=(1, 64, 10, 10), w_shape=(64, 64, 3, 3), groups=1))
    assert "few channels per group" in reason and "64 x 64" in reason
    assert "float32 and float64" in compiled.why_ineligible(_problem(dtype="float16"))
    with cw.config(workspace_mib=1e-3):
        assert "workspace budget" in compiled.why_ineligible(_problem())
    with kernels.disabled():
        assert "still loading" in compiled.why_ineligible(_problem())
        assert "compiled" not in select.candidates("forward", (1, 8, 10, 10), (8, 1, 3, 3),
                                                   _problem().geometry, 8, np.float32)
    small, large = compiled.cost(_problem()), compiled.cost(_problem(x_shape=(8, 8, 40, 40)))
    assert 0 < small < large
    big = _problem(x_shape=(8, 64, 64, 64), w_shape=(64, 1, 3, 3), groups=64)     # above PARALLEL_MIN_WORK
    with cw.config(threads=1):
        one = compiled.cost(big), compiled.cost(_problem())
    with cw.config(threads=2):
        assert compiled.cost(big) < one[0]
        assert compiled.cost(_problem()) == one[1]                                # small work: one thread


def test_auto_may_choose_it_once_loaded():
    x = np.random.default_rng(4).standard_normal((1, 16, 12, 12)).astype(np.float32)
    w = np.ones((16, 1, 3, 3), dtype=np.float32)
    geometry = arithmetic.conv_geometry(x.shape[2:], (3, 3), 1, 1, 1)
    assert "compiled" in select.candidates("forward", x.shape, w.shape, geometry, 16, np.float32)
    assert select.why_ineligible("compiled", "forward", x.shape, w.shape, geometry, 16, np.float32) is None


def test_import_does_not_load_numba():
    code = "import sys, convwise; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_forked_child_falls_back_to_numpy_instead_of_aborting():
    """GNU OpenMP aborts a forked child that launches the parent's workers; convwise must not."""
    code = """
import os, numpy as np, convwise as cw
from convwise import kernels
assert kernels.wait(["conv_forward", "max_pool"], ["float32"])
x, w = np.ones((1, 8, 10, 10), np.float32), np.ones((8, 1, 3, 3), np.float32)
parent = cw.conv2d(x, w, padding=1, groups=8, method="compiled")
pid = os.fork()
if pid == 0:
    ok = np.array_equal(cw.conv2d(x, w, padding=1, groups=8), parent) and cw.max_pool2d(x, 2).sum() == 200
    ok = ok and "forked" in kernels.unavailable_reason()
    os._exit(0 if ok else 1)
print(os.waitpid(pid, 0)[1])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0", out.stderr


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_weight_gradient_of_non_finite_input_like_torch(bad):
    """Non-finite inputs take the row kernel (the planes kernel's scratch columns would make 0 * inf)."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 4, 9, 9))
    x[0, 1, 0, 8] = bad                          # a corner cell: read by few taps only
    w = rng.standard_normal((4, 1, 3, 3))
    xt, wt = to_torch(x).requires_grad_(True), to_torch(w).requires_grad_(True)
    out = F.conv2d(xt, wt, padding=1, groups=4)
    dy = rng.standard_normal(out.shape)
    expected = torch.autograd.grad(out, wt, to_torch(dy))[0].numpy()
    geometry = arithmetic.conv_geometry((9, 9), (3, 3), 1, 1, 1)
    got = compiled.weight_grad(x, dy, geometry, 4)
    assert np.array_equal(np.isnan(got), np.isnan(expected)) and np.array_equal(np.isinf(got), np.isinf(expected))
    assert np.isfinite(got).sum() > 0 and rel_error(got[np.isfinite(got)], expected[np.isfinite(expected)]) <= 1e-12
    clean = np.nan_to_num(x, nan=0.0, posinf=0.0)                 # finite input: the planes kernel
    reference = direct.weight_grad(clean, dy, geometry, 4)
    assert rel_error(compiled.weight_grad(clean, dy, geometry, 4), reference) <= 1e-12


def test_warmup_command_loads_every_kernel():
    out = subprocess.run([sys.executable, "-m", "convwise", "warmup", "--no-progress"], capture_output=True,
                         text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr
    count = len(kernels.KERNELS) * len(kernels.DTYPES)
    assert out.stdout.startswith(f"{count} kernels ready in ") and "threading layer" in out.stdout
    assert "Traceback" not in out.stderr


def test_a_numba_failure_is_a_reason_not_an_error(monkeypatch):
    monkeypatch.setattr(kernels, "_failure", "numba could not be imported (ImportError: test)")
    monkeypatch.setattr(kernels, "_ready", set())
    select.clear_cache()                                        # choices made while the kernels were loaded
    assert compiled.why_ineligible(_problem()) == "numba could not be imported (ImportError: test)"
    x = np.random.default_rng(6).standard_normal((1, 8, 10, 10))
    w = np.ones((8, 1, 3, 3))
    expected = F.conv2d(to_torch(x), to_torch(w), padding=1, groups=8).numpy()
    assert rel_error(cw.conv2d(x, w, padding=1, groups=8), expected) <= 1e-12        # another algorithm answers
    assert rel_error(cw.max_pool2d(x, 2), F.max_pool2d(to_torch(x), 2).numpy()) == 0.0
    select.clear_cache()


def test_warmup_in_this_thread_leaves_launches_on_the_configured_threads():
    """Loading a kernel in the calling thread runs its first call on one numba thread; the next launch
    from that thread must still use the configured thread count."""
    numba = pytest.importorskip("numba")
    expected = min(2, numba.config.NUMBA_NUM_THREADS)
    with cw.config(threads=2):
        kernels.launch("conv_forward", *_tiny_forward(), work=10**9)     # this thread now runs on 2
        assert numba.get_num_threads() == expected
        kernels._ready.discard(("avg_pool", "float64"))
        kernels._prepare("avg_pool", "float64")             # reloads in this thread (from the disk cache)
        assert numba.get_num_threads() == 1
        kernels.launch("conv_forward", *_tiny_forward(), work=10**9)
        assert numba.get_num_threads() == expected


def _tiny_forward():
    x = np.zeros((1, 1, 1, 4, 4), np.float32)
    w = np.zeros((1, 1, 1, 3, 3), np.float32)
    y = np.zeros((1, 1, 1, 2, 2), np.float32)
    geo = np.array((1, 1, 1, 1, 1, 1, 0, 0, 0), np.int64)
    return x, w, geo, 1, 1, 1, y


_OWN_RUNTIME = """
import os, sys, numpy as np
import torch                                   # torch first: its libgomp.so.1 in the global scope
if {simulate_old}:
    del os.RTLD_DEEPBIND                       # what convwise did before: bind to whatever is loaded
torch.set_num_threads(2)
torch.nn.functional.conv2d(torch.ones(1, 8, 64, 64), torch.ones(8, 8, 3, 3))   # torch's worker starts
import convwise as cw
from convwise import kernels
assert kernels.wait(["conv_forward"], ["float32"])
before = set(os.listdir("/proc/self/task"))
with cw.config(threads=2):
    x, w = np.ones((8, 64, 1, 64, 64), np.float32), np.ones((64, 1, 1, 3, 3), np.float32)
    geo = np.array([1, 1, 1, 1, 1, 1, 0, 1, 1])                      # unit stride/dilation, padding 1
    kernels.launch("conv_forward", x, w, geo, 64, 1, 2, np.empty_like(x), work=1e12)   # two threads
print(len(set(os.listdir("/proc/self/task")) - before))
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "RTLD_DEEPBIND") or not __import__("os").path.isdir("/proc/self/task"),
                    reason="needs RTLD_DEEPBIND and /proc (Linux)")
@pytest.mark.parametrize("simulate_old", [False, True])
def test_numba_runs_its_own_openmp_runtime_beside_torchs(simulate_old):
    """With torch imported first, numba's two-thread launch starts a worker of its own OpenMP
    runtime (one loaded for it, with convwise's short spin) instead of running on torch's: torch's
    workers spin for milliseconds and starved the OpenBLAS GEMM of the next layer. The old
    binding (simulated) reuses torch's worker, and starts no thread: the check can tell them apart."""
    pytest.importorskip("torch")
    code = _OWN_RUNTIME.format(simulate_old=simulate_old)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    started = int(out.stdout.strip().splitlines()[-1])
    assert (started == 0) if simulate_old else (started >= 1), out.stdout
