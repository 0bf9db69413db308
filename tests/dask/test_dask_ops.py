"""convwise.dask ops vs the in-memory convwise ops, on randomised chunked configurations.

The oracle is convwise.functional on the whole array (itself tested against torch): the
tiled result must equal it to float32 relative error 1e-6, for chunks smaller than the
halo, strides that do not divide the chunk size, dilation, groups and every padding mode.
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
from convwise import functional as F

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BOUND = 1e-6


def _chunked(rng, shape, spatial_chunks, batch_chunk=1, dtype=np.float32):
    x = rng.standard_normal(shape).astype(dtype)
    return x, da.from_array(x, chunks=(batch_chunk, shape[1], *spatial_chunks))


@st.composite
def conv_cases(draw):
    spatial = draw(st.sampled_from([1, 2, 2, 2, 3]))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(spatial))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(spatial))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(spatial))
    top = 9 if spatial < 3 else 6
    size = tuple(draw(st.integers(d * (k - 1) + 1, d * (k - 1) + top)) for k, d in zip(kernel, dilation))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    if mode == "reflect":
        padding = tuple(draw(st.integers(0, max(0, min(3, n - 1)))) for n in size)
    elif mode == "circular":
        padding = tuple(draw(st.integers(0, min(3, n))) for n in size)
    else:
        padding = tuple(draw(st.integers(0, 4)) for _ in range(spatial))
    chunks = tuple(draw(st.integers(1, n)) for n in size)
    batch = draw(st.integers(1, 3))
    out_chunks = draw(st.one_of(st.none(), st.integers(1, 5)))
    return spatial, groups, c_in, c_out, kernel, dilation, stride, size, mode, padding, chunks, batch, out_chunks


@SETTINGS
@given(conv_cases(), st.integers(0, 2**31 - 1))
def test_conv_equals_in_memory(case, seed):
    spatial, groups, c_in, c_out, kernel, dilation, stride, size, mode, padding, chunks, batch, out_chunks = case
    rng = np.random.default_rng(seed)
    x, xd = _chunked(rng, (batch, c_in, *size), chunks, batch_chunk=max(1, batch // 2))
    w = rng.standard_normal((c_out, c_in // groups, *kernel)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    op = getattr(cwd, f"conv{spatial}d")
    ref_op = getattr(F, f"conv{spatial}d")
    if mode == "zeros":
        ref = ref_op(x, w, b, stride, padding, dilation, groups, method="gemm")
    else:
        flat = tuple(v for p in reversed(padding) for v in (p, p))
        ref = ref_op(F.pad(x, flat, mode=mode), w, b, stride, 0, dilation, groups, method="gemm")
    y = op(xd, w, b, stride, padding, dilation, groups, method="gemm", padding_mode=mode, chunks=out_chunks)
    assert y.shape == ref.shape
    assert rel_error(y.compute(scheduler="sync"), ref) <= BOUND


@st.composite
def transpose_cases(draw):
    spatial = draw(st.sampled_from([1, 2, 2, 3]))
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(spatial))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(spatial))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(spatial))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    size = tuple(draw(st.integers(1, 7 if spatial < 3 else 4)) for _ in range(spatial))
    padding = tuple(draw(st.integers(0, (d * (k - 1)) // 2 + 1)) for k, d in zip(kernel, dilation))
    chunks = tuple(draw(st.integers(1, n)) for n in size)
    out_chunks = draw(st.one_of(st.none(), st.integers(1, 6)))
    return spatial, groups, c_in, c_out, kernel, dilation, stride, output_padding, size, padding, chunks, out_chunks


@SETTINGS
@given(transpose_cases(), st.integers(0, 2**31 - 1))
def test_conv_transpose_equals_in_memory(case, seed):
    spatial, groups, c_in, c_out, kernel, dilation, stride, output_padding, size, padding, chunks, out_chunks = case
    rng = np.random.default_rng(seed)
    x, xd = _chunked(rng, (2, c_in, *size), chunks)
    w = rng.standard_normal((c_in, c_out // groups, *kernel)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    ref_op = getattr(F, f"conv_transpose{spatial}d")
    try:
        ref = ref_op(x, w, b, stride, padding, output_padding, groups, dilation, method="gemm")
    except ValueError:  # output size < 1: the dask op must refuse too
        with pytest.raises(ValueError):
            getattr(cwd, f"conv_transpose{spatial}d")(xd, w, b, stride, padding, output_padding, groups, dilation)
        return
    y = getattr(cwd, f"conv_transpose{spatial}d")(xd, w, b, stride, padding, output_padding, groups, dilation,
                                                  method="gemm", chunks=out_chunks)
    assert y.shape == ref.shape
    assert rel_error(y.compute(scheduler="sync"), ref) <= BOUND


@st.composite
def pool_cases(draw):
    spatial = draw(st.sampled_from([1, 2, 2, 3]))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(spatial))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(spatial))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(spatial))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    size = tuple(draw(st.integers(d * (k - 1) + 1, d * (k - 1) + 8)) for k, d in zip(kernel, dilation))
    chunks = tuple(draw(st.integers(1, n)) for n in size)
    ceil_mode = draw(st.booleans())
    count_include_pad = draw(st.booleans())
    divisor = draw(st.one_of(st.none(), st.integers(1, 5)))
    return spatial, kernel, dilation, stride, padding, size, chunks, ceil_mode, count_include_pad, divisor


@SETTINGS
@given(pool_cases(), st.integers(0, 2**31 - 1))
def test_pools_equal_in_memory(case, seed):
    spatial, kernel, dilation, stride, padding, size, chunks, ceil_mode, count_include_pad, divisor = case
    rng = np.random.default_rng(seed)
    x, xd = _chunked(rng, (2, 3, *size), chunks)
    xd = xd.rechunk({1: 2})  # channel chunks are kept by pooling
    ref = getattr(F, f"max_pool{spatial}d")(x, kernel, stride, padding, dilation, ceil_mode)
    y = getattr(cwd, f"max_pool{spatial}d")(xd, kernel, stride, padding, dilation, ceil_mode)
    assert y.shape == ref.shape
    np.testing.assert_array_equal(y.compute(scheduler="sync"), ref)  # max is exact
    extra = () if spatial == 1 else (divisor,)
    ref = getattr(F, f"avg_pool{spatial}d")(x, kernel, stride, padding, ceil_mode, count_include_pad, *extra)
    y = getattr(cwd, f"avg_pool{spatial}d")(xd, kernel, stride, padding, ceil_mode, count_include_pad, *extra)
    assert y.shape == ref.shape
    assert rel_error(y.compute(scheduler="sync"), ref) <= BOUND


def test_chunks_smaller_than_halo_and_uneven_strides():
    rng = np.random.default_rng(1)
    x, xd = _chunked(rng, (1, 2, 37, 29), (2, 3))
    w = rng.standard_normal((4, 2, 5, 5)).astype(np.float32)
    y = cwd.conv2d(xd, w, stride=3, padding=2, dilation=3, method="gemm")
    assert len(y.chunks[2]) > 1 and len(y.chunks[3]) > 1  # really tiled
    assert rel_error(y.compute(), F.conv2d(x, w, stride=3, padding=2, dilation=3, method="gemm")) <= BOUND


def test_float64_default_method_and_unbatched_input():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 40, 33))
    w = rng.standard_normal((5, 3, 3, 3))
    y = cwd.conv2d(da.from_array(x, chunks=(3, 7, 9)), w, padding="same")
    assert y.shape == (5, 40, 33)
    assert rel_error(y.compute(), F.conv2d(x, w, padding="same")) <= 1e-10


def test_numpy_input_and_padding_mode_for_same():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 1, 20, 20)).astype(np.float32)
    w = rng.standard_normal((1, 1, 4, 4)).astype(np.float32)
    y = cwd.conv2d(x, w, padding="same", padding_mode="reflect", chunks=3, method="gemm")
    ref = F.conv2d(F.pad(x, (1, 2, 1, 2), mode="reflect"), w, method="gemm")
    assert rel_error(y.compute(), ref) <= BOUND


def test_weight_is_one_graph_key():
    """The weight's bytes appear in exactly one task of the graph, however many tiles there are."""
    import pickle

    x = da.zeros((1, 1, 64, 64), chunks=(1, 1, 8, 8), dtype=np.float32)
    w = np.random.default_rng(5).standard_normal((1, 1, 3, 3)).astype(np.float32)
    y = cwd.conv2d(x, w, padding=1)
    graph = dict(y.__dask_graph__())
    holders = [key for key, task in graph.items() if w.tobytes() in pickle.dumps(task)]
    assert y.npartitions == 64 and len(holders) == 1


@pytest.mark.parametrize("call, kind, words", [
    (lambda x: cwd.conv2d(x, np.ones((2, 3, 3, 3), np.float32)), ValueError, ["conv2d", "channels"]),
    (lambda x: cwd.conv2d(x, np.ones((2, 2, 3, 3))), TypeError, ["conv2d", "dtype"]),
    (lambda x: cwd.conv2d(x, np.ones((2, 2, 3, 3), np.float32), groups=3), ValueError, ["conv2d", "groups=3"]),
    (lambda x: cwd.conv2d(x, np.ones((2, 2, 3, 3), np.float32), padding=9, padding_mode="reflect"), ValueError,
     ["reflect", "padding"]),
    (lambda x: cwd.conv2d(x, np.ones((2, 2, 3, 3), np.float32), padding_mode="mirror"), ValueError,
     ["conv2d", "padding_mode", "mirror"]),
    (lambda x: cwd.max_pool2d(x, 2, return_indices=True), ValueError, ["max_pool2d", "return_indices"]),
    (lambda x: cwd.max_pool2d(x, 3, padding=2), ValueError, ["max_pool2d", "padding"]),
    (lambda x: cwd.conv1d(x, np.ones((2, 2, 3), np.float32)), ValueError, ["conv1d", "3D", "4D"]),
    (lambda x: cwd.conv2d(x.astype(np.int32), np.ones((2, 2, 3, 3), np.float32)), TypeError, ["conv2d", "int32"]),
])
def test_bad_input_is_refused_like_in_memory(call, kind, words):
    x = da.zeros((1, 2, 8, 8), chunks=(1, 2, 4, 4), dtype=np.float32)
    with pytest.raises(kind) as info:
        call(x)
    assert all(word in str(info.value) for word in words), str(info.value)


def test_memory_budget_is_checked_before_computing():
    x = da.zeros((1, 64, 4096, 4096), chunks=(1, 64, 4096, 4096), dtype=np.float32)
    with convwise.config(memory_mib=64), pytest.raises(ValueError, match="conv2d: needs .*per task"):
        cwd.conv2d(x, np.ones((64, 64, 3, 3), np.float32))
