"""The ``depthwise`` algorithm (flattened stride phases, shift-and-accumulate) against
float64 torch and the ``direct`` reference, its workspace budget and the public API."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch.nn.functional as F

import convwise as cw
from conftest import peak_memory, rel_error, to_torch
from convwise import arithmetic
from convwise.algorithms import FORWARD, depthwise, direct

TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CW_CONV = {1: cw.conv1d, 2: cw.conv2d, 3: cw.conv3d}
BOUND = {np.float32: 1e-5, np.float64: 1e-12}

# (spatial, kernel, stride, padding, dilation)
GEOMETRIES = [
    ((9,), (3,), 1, 1, 1),
    ((17,), (5,), 3, 2, 2),
    ((12,), (4,), 1, "same", 1),                   # 'same' even kernel: asymmetric padding
    ((10,), (2,), 2, 0, 3),
    ((9, 10), (3, 3), 1, 1, 1),
    ((11, 8), (3, 2), (2, 1), (1, 0), (1, 2)),
    ((8, 8), (4, 4), 1, "same", 1),
    ((10, 9), (3, 3), 2, 0, 1),                    # stride leaves trailing cells unread
    ((13, 12), (3, 5), 3, (2, 1), (2, 1)),
    ((7, 7), (1, 1), 2, 1, 1),
    ((6, 7), (2, 3), (3, 2), 0, 1),
    ((5, 6, 7), (3, 2, 3), (1, 2, 1), 1, 1),
    ((6, 5, 8), (2, 2, 2), 1, "same", (1, 2, 1)),
    ((7, 6, 5), (3, 3, 3), (3, 1, 2), (1, 2, 0), 1),
]


def _geometry_id(g):
    return f"i{'x'.join(map(str, g[0]))}-k{'x'.join(map(str, g[1]))}-s{g[2]}-p{g[3]}-d{g[4]}".replace(" ", "")


def _reference(x, w, geometry, groups):
    """float64 torch on the explicitly (possibly asymmetrically) zero-padded input, cropped."""
    padded = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + [tuple(p) for p in geometry.padding])
    conv = TORCH_CONV[len(geometry.kernel_size)]
    y = conv(to_torch(padded), to_torch(w), stride=geometry.stride, dilation=geometry.dilation, groups=groups).numpy()
    return y[(slice(None), slice(None)) + tuple(slice(0, o) for o in geometry.output_size)]


def _operands(rng, batch, channels, multiplier, spatial, kernel, dtype):
    x = rng.standard_normal((batch, channels, *spatial)).astype(dtype)
    w = rng.standard_normal((channels * multiplier, 1, *kernel)).astype(dtype)
    return x, w


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("multiplier", [1, 2, 3])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("spec", GEOMETRIES, ids=_geometry_id)
def test_forward_matches_torch_and_direct(spec, batch, multiplier, dtype, rng):
    spatial, kernel, stride, padding, dilation = spec
    channels = 3
    x, w = _operands(rng, batch, channels, multiplier, spatial, kernel, dtype)
    geometry = arithmetic.conv_geometry(spatial, kernel, stride, padding, dilation)
    y = depthwise.forward(x, w, geometry, channels)
    assert y.dtype == dtype and y.flags.c_contiguous
    assert y.shape == (batch, channels * multiplier, *geometry.output_size)
    assert rel_error(y, _reference(x, w, geometry, channels)) <= BOUND[dtype]
    assert rel_error(y, direct.forward(x, w, geometry, channels)) <= BOUND[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("spec", GEOMETRIES, ids=_geometry_id)
def test_channels_last_path_matches_torch_and_the_per_tap_path(spec, dtype, rng, monkeypatch):
    """Many channels, multiplier 1: the channels-last einsum path, against torch and against the
    per-tap path on the same operands."""
    spatial, kernel, stride, padding, dilation = spec
    channels = depthwise.CHANNELS_LAST_MIN
    x, w = _operands(rng, 2, channels, 1, spatial, kernel, dtype)
    geometry = arithmetic.conv_geometry(spatial, kernel, stride, padding, dilation)
    assert depthwise._prefers_channels_last(channels, geometry)                     # small planes
    calls = []
    real = depthwise._channels_last
    monkeypatch.setattr(depthwise, "_channels_last", lambda *args: calls.append(1) or real(*args))
    y = depthwise.forward(x, w, geometry, channels)
    assert calls == [1]
    assert y.dtype == dtype and y.flags.c_contiguous and y.shape == (2, channels, *geometry.output_size)
    assert rel_error(y, _reference(x, w, geometry, channels)) <= BOUND[dtype]
    monkeypatch.setattr(depthwise, "_prefers_channels_last", lambda *args: False)     # the per-tap path
    assert rel_error(y, depthwise.forward(x, w, geometry, channels)) <= BOUND[dtype]
    assert calls == [1]


def test_channels_last_path_needs_one_sample_within_the_budget(rng, monkeypatch):
    channels = depthwise.CHANNELS_LAST_MIN
    geometry = arithmetic.conv_geometry((28, 28), (3, 3), 1, 1, 1)
    x, w = _operands(rng, 1, channels, 1, (28, 28), (3, 3), np.float32)
    calls = []
    real = depthwise._channels_last
    monkeypatch.setattr(depthwise, "_channels_last", lambda *args: calls.append(1) or real(*args))
    needed = depthwise._channels_last_bytes(channels, geometry, 4)
    with cw.config(workspace_mib=needed / 2 / 2**20):
        y, peak = peak_memory(depthwise.forward, x, w, geometry, channels)
    assert calls == [] and peak <= needed / 2 + y.nbytes + 2**16                 # per-tap, within budget
    assert rel_error(y, _reference(x, w, geometry, channels)) <= BOUND[np.float32]
    with cw.config(workspace_mib=2 * needed / 2**20):
        y, peak = peak_memory(depthwise.forward, x, w, geometry, channels)
    assert calls == [1] and peak <= 2 * needed + y.nbytes + 2**16


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("spec", [GEOMETRIES[1], GEOMETRIES[5], GEOMETRIES[8], GEOMETRIES[12]], ids=_geometry_id)
def test_truncated_output_size(spec, dtype, rng):
    """A geometry asking for fewer outputs than the input allows (as the input gradient does)."""
    spatial, kernel, stride, padding, dilation = spec
    x, w = _operands(rng, 2, 4, 2, spatial, kernel, dtype)
    full = arithmetic.conv_geometry(spatial, kernel, stride, padding, dilation)
    geometry = dataclasses.replace(full, output_size=tuple(max(1, o - 1) for o in full.output_size))
    y = depthwise.forward(x, w, geometry, 4)
    assert y.shape == (2, 8, *geometry.output_size)
    assert rel_error(y, _reference(x, w, geometry, 4)) <= BOUND[dtype]
    assert rel_error(y, direct.forward(x, w, geometry, 4)) <= BOUND[dtype]


@pytest.mark.parametrize("batch", [0, 1, 2, 3])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_public_api(ndim, batch, rng):
    spatial, kernel = (7, 6, 5)[:ndim], (3, 2, 3)[:ndim]
    x = rng.standard_normal((batch, 4, *spatial)).astype(np.float32)
    w = rng.standard_normal((8, 1, *kernel)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    y = CW_CONV[ndim](x, w, b, stride=2, padding=1, groups=4, method="depthwise")
    expected = TORCH_CONV[ndim](to_torch(x), to_torch(w), to_torch(b), stride=2, padding=1, groups=4).numpy()
    assert y.shape == expected.shape and y.dtype == np.float32
    assert rel_error(y, expected) <= 1e-5


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", [((2, 64, 48, 48), (128, 1, 3, 3), 1), ((2, 48, 40, 40), (48, 1, 3, 3), 2)],
                         ids=["s1-m2", "s2"])
def test_workspace_budget(case, threads, rng):
    """Scratch (phases, wide output, products) stays within the budget; the result is extra."""
    xs, ws, stride = case
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    geometry = arithmetic.conv_geometry(xs[2:], ws[2:], stride, 1, 1)
    y_bytes = xs[0] * ws[0] * np.prod(geometry.output_size) * 4
    with cw.config(workspace_mib=1, threads=threads):
        y, peak = peak_memory(depthwise.forward, x, w, geometry, xs[1])
    assert peak - y_bytes <= 2**20 + 64 * 2**10, peak - y_bytes
    assert rel_error(y, _reference(x, w, geometry, xs[1])) <= 1e-5


def test_registered_and_empty(rng):
    assert FORWARD["depthwise"] is depthwise.forward
    geometry = arithmetic.conv_geometry((5, 5), (3, 3), 1, 1, 1)
    y = depthwise.forward(np.zeros((0, 2, 5, 5), np.float32), np.ones((4, 1, 3, 3), np.float32), geometry, 2)
    assert y.shape == (0, 4, 5, 5)


def test_channels_last_only_for_small_planes():
    small = arithmetic.conv_geometry((14, 14), (3, 3), 1, 1, 1)
    medium = arithmetic.conv_geometry((28, 28), (3, 3), 1, 1, 1)
    large = arithmetic.conv_geometry((56, 56), (3, 3), 2, 1, 1)
    assert depthwise._prefers_channels_last(8, small)
    assert depthwise._prefers_channels_last(depthwise.CHANNELS_LAST_MIN, medium)
    assert not depthwise._prefers_channels_last(depthwise.CHANNELS_LAST_MIN - 1, medium)
    assert not depthwise._prefers_channels_last(1024, large)
