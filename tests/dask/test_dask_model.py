"""apply_model and the halo compiler: tiled networks equal the untiled network.

Oracles: the untiled convwise model on the whole array; arithmetic.receptive_field for the
receptive field and jump; NaN probes of the untiled model for which inputs each output reads.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convwise
import convwise.dask as cwd
from conftest import rel_error
from convwise import arithmetic, nn
from convwise.train import digits_cnn

BOUND = 1e-6


def _net_2d():
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, rng=0), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, padding=2, padding_mode="reflect", rng=1), nn.ReLU(),
        nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        nn.Conv2d(4, 6, (3, 2), stride=(2, 1), dilation=2, groups=2, padding=(1, 2), rng=2),
        nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
    )


def _decoder_2d():
    return nn.Sequential(
        nn.Conv2d(1, 4, 4, stride=2, padding=1, rng=3), nn.ReLU(),
        nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1, rng=4), nn.ReLU(),
        nn.Conv2d(2, 1, 3, padding="same", padding_mode="replicate", rng=5),
    )


def _net_1d():
    return nn.Sequential(nn.Conv1d(3, 5, 5, stride=3, padding=2, rng=6), nn.ReLU(),
                         nn.ConvTranspose1d(5, 2, 3, stride=2, output_padding=1, dilation=2, rng=7),
                         nn.MaxPool1d(2, ceil_mode=True), nn.Conv1d(2, 2, 3, padding=1, padding_mode="circular",
                                                                  rng=8))


def _net_3d():
    return nn.Sequential(nn.Conv3d(1, 2, 3, padding=1, rng=9), nn.ReLU(), nn.AvgPool3d(2),
                         nn.Conv3d(2, 2, (1, 3, 3), padding=(0, 1, 1), rng=10))


def _padding_beyond_kernel():
    """Edge tiles whose windows lie wholly in a layer's padding need nothing from the layer before."""
    return nn.Sequential(nn.Conv2d(1, 2, 3, rng=11), nn.Conv2d(2, 2, 1, padding=3, rng=12),
                         nn.Conv2d(2, 1, 3, padding=4, stride=2, rng=13), nn.ReLU())


@pytest.mark.parametrize("make, shape, chunks", [
    (_padding_beyond_kernel, (2, 1, 23, 19), (1, 1, 4, 3)),
    (_net_2d, (3, 2, 45, 38), (2, 2, 7, 5)),
    (_net_2d, (1, 2, 64, 64), (1, 2, 3, 64)),       # chunks far smaller than the halo along one axis
    (_decoder_2d, (2, 1, 30, 27), (1, 1, 8, 6)),
    (_net_1d, (2, 3, 70), (1, 3, 9)),
    (_net_3d, (1, 1, 12, 14, 10), (1, 1, 5, 4, 6)),
])
def test_apply_model_equals_untiled(make, shape, chunks):
    model = make()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    y = cwd.apply_model(model, da.from_array(x, chunks=chunks))
    ref = model(x)
    assert y.shape == ref.shape
    assert rel_error(y.compute(), ref) <= BOUND


def test_apply_model_is_really_tiled_and_chunks_are_honoured():
    model = _net_2d()
    x = np.random.default_rng(1).standard_normal((1, 2, 96, 96)).astype(np.float32)
    y = cwd.apply_model(model, da.from_array(x, chunks=(1, 2, 32, 32)), chunks=4)
    assert len(y.chunks[2]) >= 2 and len(y.chunks[3]) >= 2
    assert rel_error(y.compute(), model(x)) <= BOUND


def test_whole_plane_tail_runs_per_batch_chunk():
    model = digits_cnn(rng=0)
    x = np.random.default_rng(2).standard_normal((10, 1, 8, 8)).astype(np.float32)
    y = cwd.apply_model(model, da.from_array(x, chunks=(3, 1, 3, 3)))
    assert y.shape == (10, 10) and y.chunks[0] == (3, 3, 3, 1)
    assert rel_error(y.compute(), model(x)) <= BOUND


def test_inplace_activation_first_leaves_the_input_alone():
    model = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(1, 1, 1, rng=0))  # no halo: blocks are the chunks
    x = np.random.default_rng(4).standard_normal((1, 1, 20, 20)).astype(np.float32)
    xd = da.from_array(x.copy(), chunks=(1, 1, 5, 5))
    y = cwd.apply_model(model, xd).compute(scheduler="sync")
    assert rel_error(y, model(x.copy())) <= BOUND
    np.testing.assert_array_equal(xd.compute(), x)


def test_unbatched_input_and_float64():
    model = _decoder_2d().double()
    x = np.random.default_rng(3).standard_normal((1, 21, 33))
    y = cwd.apply_model(model, da.from_array(x, chunks=(1, 5, 5)))
    assert rel_error(y.compute(), model(x)) <= 1e-12


@pytest.mark.parametrize("make", [_net_2d, _net_3d])
def test_halo_matches_arithmetic_receptive_field(make):
    model = make()
    layers = [{"kernel_size": g.kernel_size, "stride": g.stride, "padding": g.padding, "dilation": g.dilation}
              for g in cwd.layer_geometries(model) if g.kind != "pointwise"]
    ndim = len(layers[0]["kernel_size"])
    field = arithmetic.receptive_field(layers, ndim)[-1]
    result = cwd.halo(model)
    assert result.receptive_field == field.size
    assert result.alignment == field.jump
    assert all(b + a + j == r for b, a, j, r in zip(result.before, result.after, result.alignment,
                                                       result.receptive_field))


@pytest.mark.parametrize("model", [
    nn.Sequential(nn.Conv1d(1, 1, 3, padding=1, rng=0), nn.MaxPool1d(2), nn.Conv1d(1, 1, 5, dilation=2, padding=3,
                                                                                   rng=1)),
    nn.Sequential(nn.Conv1d(1, 1, 4, stride=3, padding=2, rng=2), nn.AvgPool1d(3, stride=2, padding=1),
                  nn.Conv1d(1, 1, 2, rng=3)),
])
def test_halo_covers_what_each_output_reads(model):
    """NaN in input cell i reaches exactly the outputs that read it: all must lie in the predicted window."""
    model = model.double()
    result = cwd.halo(model)
    (jump,), (before,), (field,) = result.alignment, result.before, result.receptive_field
    size = 40
    base = np.ones((1, 1, size))
    for i in range(size):
        x = base.copy()
        x[0, 0, i] = np.nan
        hit = np.flatnonzero(np.isnan(model(x)[0, 0]))
        for j in hit:
            assert j * jump - before <= i < j * jump - before + field, (i, j)


def test_halo_refuses_transposed_layers_and_takes_geometry_lists():
    with pytest.raises(ValueError, match="halo: layer 2 is a transposed convolution"):
        cwd.halo(_decoder_2d())
    g = cwd.LayerGeometry("conv", (3,), (2,), ((1, 1),), (1,))
    assert cwd.halo([g, cwd.LayerGeometry("pointwise"), g]) == cwd.Halo((7,), (4,), (3,), (0,))


def test_estimate_memory_before_computing_and_budget():
    model = _net_2d()
    x = da.zeros((4, 2, 512, 512), chunks=(1, 2, 64, 64), dtype=np.float32)
    small = cwd.estimate_memory(model, x)
    large = cwd.estimate_memory(model, x.rechunk((2, 2, 256, 256)))
    assert 64 * 64 * 2 * 4 < small < large
    with convwise.config(memory_mib=small / 2**20 / 2), pytest.raises(ValueError, match="apply_model: needs"):
        cwd.apply_model(model, x)


@pytest.mark.parametrize("model, x, kind, words", [
    (nn.Sequential(nn.Conv2d(3, 2, 3)), np.zeros((1, 2, 9, 9), np.float32), ValueError,
     ["apply_model", "3 input channels", "got 2"]),
    (nn.Sequential(nn.Conv2d(2, 2, 3)), np.zeros((1, 2, 9, 9)), TypeError, ["apply_model", "dtype"]),
    (nn.Sequential(nn.Conv2d(2, 2, 5)), np.zeros((1, 2, 3, 3), np.float32), ValueError,
     ["apply_model", "layer 0", "kernel"]),
    ("not a model", np.zeros((1, 2, 9, 9), np.float32), TypeError, ["apply_model", "nn.Module"]),
    (nn.Sequential(nn.MaxPool2d(2, return_indices=True)), np.zeros((1, 2, 9, 9), np.float32), ValueError,
     ["return_indices"]),
])
def test_apply_model_bad_input(model, x, kind, words):
    with pytest.raises(kind) as info:
        cwd.apply_model(model, da.from_array(x))
    assert all(word in str(info.value) for word in words), str(info.value)


@st.composite
def chains(draw):
    """A random 1D/2D chain of convolutions (every padding mode), transposed convolutions, pools and ReLUs."""
    spatial = draw(st.sampled_from([1, 2]))
    conv, transpose = (nn.Conv1d, nn.ConvTranspose1d) if spatial == 1 else (nn.Conv2d, nn.ConvTranspose2d)
    pools = (nn.MaxPool1d, nn.AvgPool1d) if spatial == 1 else (nn.MaxPool2d, nn.AvgPool2d)
    channels, layers = 2, []
    for index in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "conv", "transpose", "pool", "relu"]))
        k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
        if kind == "conv":
            out = draw(st.sampled_from([1, 2, 4]))
            mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
            padding = draw(st.integers(0, 2 if mode != "zeros" else 3))
            layers.append(conv(channels, out, k, stride=s, padding=padding, dilation=d, padding_mode=mode,
                               groups=2 if channels % 2 == 0 and out % 2 == 0 else 1, rng=index))
            channels = out
        elif kind == "transpose":
            out = draw(st.sampled_from([1, 2]))
            layers.append(transpose(channels, out, k, stride=s, padding=draw(st.integers(0, (d * (k - 1)) // 2)),
                                    output_padding=draw(st.integers(0, max(s, d) - 1)), dilation=d, rng=index))
            channels = out
        elif kind == "pool":
            pool = draw(st.sampled_from(pools))
            extra = {"dilation": d} if pool in (nn.MaxPool1d, nn.MaxPool2d) else {}
            layers.append(pool(k, stride=s, padding=draw(st.integers(0, k // 2)), ceil_mode=draw(st.booleans()),
                               **extra))
        else:
            layers.append(nn.ReLU())
    size = tuple(draw(st.integers(12, 30)) for _ in range(spatial))
    chunks = tuple(draw(st.integers(2, n)) for n in size)
    return spatial, nn.Sequential(conv(1, 2, 1, rng=99), *layers), size, chunks


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(chains(), st.integers(0, 2**31 - 1))
def test_random_chains_equal_untiled(case, seed):
    _spatial, model, size, chunks = case
    x = np.random.default_rng(seed).standard_normal((2, 1, *size)).astype(np.float32)
    try:
        ref = model(x)
    except ValueError:  # a random chain may shrink the input below a kernel: the tiled run must refuse too
        with pytest.raises(ValueError):
            cwd.apply_model(model, da.from_array(x, chunks=(1, 1, *chunks))).compute()
        return
    y = cwd.apply_model(model, da.from_array(x, chunks=(1, 1, *chunks)))
    assert y.shape == ref.shape
    assert rel_error(y.compute(scheduler="sync"), ref) <= BOUND

