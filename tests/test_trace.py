"""The trace against the engine: summing input*weight along each output's taps reproduces it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import convwise as cw
from convwise import arithmetic
from convwise.trace import MAX_TAPS, Trace, trace


def walk(t: Trace, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Sum input * weight over the traced taps (independently of Trace.evaluate)."""
    y = np.zeros((t.out_channels,) + t.output_size)
    for step in t.steps:
        for co in range(t.out_channels):
            for ci in t.inputs_of(co):
                a, b = t.weight_channels(co, ci)
                for tap in step.taps:
                    if tap.kind == "input":
                        y[(co,) + step.output] += x[(ci,) + tap.source] * w[(a, b) + tap.weight]
                    else:
                        assert tap.source is None
    return y


CONVS = [  # input, kernel, stride, padding, dilation, groups, in, out
    ((5, 5), 3, 1, 0, 1, 1, 1, 1),
    ((6, 7), (3, 2), (2, 1), (1, 2), (1, 2), 1, 2, 3),
    ((7, 6), 3, 1, "same", 2, 2, 4, 6),
    ((8, 5), (2, 3), 3, ((1, 0), (2, 1)), 1, 3, 3, 3),
    ((9,), 3, 2, 1, 2, 2, 2, 4),
    ((6,), 4, 1, "same", 1, 1, 1, 2),
]


@pytest.mark.parametrize("size, kernel, stride, padding, dilation, groups, c_in, c_out", CONVS)
def test_conv_trace_reproduces_engine(rng, size, kernel, stride, padding, dilation, groups, c_in, c_out):
    t = trace(size, kernel, stride, padding, dilation, groups=groups, in_channels=c_in, out_channels=c_out)
    x = rng.standard_normal((c_in, *size))
    w = rng.standard_normal((c_out, c_in // groups, *t.kernel_size))
    conv = cw.conv1d if len(size) == 1 else cw.conv2d
    reference = conv(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    assert reference.shape[1:] == t.output_size
    np.testing.assert_allclose(walk(t, x, w), reference, rtol=0, atol=1e-12)
    np.testing.assert_allclose(t.evaluate(x, w), reference, rtol=0, atol=1e-12)
    assert len(t.steps) == int(np.prod(t.output_size))


TRANSPOSES = [  # input, kernel, stride, padding, output_padding, dilation, groups, in, out
    ((3, 3), 3, 2, 1, 1, 1, 1, 1, 1),
    ((2, 2), 3, 1, 0, 0, 1, 1, 1, 1),
    ((3, 4), (3, 2), (2, 3), (1, 0), (1, 2), (2, 1), 2, 2, 4),
    ((4, 3), 2, 3, 2, 0, 1, 1, 1, 2),          # padding > d*(k-1): the equivalent conv crops
    ((3,), 4, 3, 1, 2, 1, 1, 2, 2),
    ((4,), 3, 2, 0, 0, 2, 2, 2, 2),
]


@pytest.mark.parametrize("size, kernel, stride, padding, output_padding, dilation, groups, c_in, c_out", TRANSPOSES)
def test_transpose_trace_reproduces_engine(rng, size, kernel, stride, padding, output_padding, dilation, groups,
                                           c_in, c_out):
    t = trace(size, kernel, stride, padding, dilation, op="conv_transpose", output_padding=output_padding,
              groups=groups, in_channels=c_in, out_channels=c_out)
    x = rng.standard_normal((c_in, *size))
    w = rng.standard_normal((c_in, c_out // groups, *t.kernel_size))
    fn = cw.conv_transpose1d if len(size) == 1 else cw.conv_transpose2d
    reference = fn(x, w, stride=stride, padding=padding, output_padding=output_padding, groups=groups,
                   dilation=dilation)
    assert reference.shape[1:] == t.output_size
    np.testing.assert_allclose(walk(t, x, w), reference, rtol=0, atol=1e-12)


def test_transpose_grid_is_stretched_and_padded_honestly():
    t = trace((3, 3), 3, stride=2, padding=1, op="conv_transpose", output_padding=1)
    # stretched: (3-1)*2+1 = 5, padded by d*(k-1)-p = 1 low and 1+output_padding = 2 high
    assert t.grid_size == (8, 8) and t.grid_padding == ((1, 2), (1, 2))
    kinds = {kind: sum(t.cell_kind(c) == kind for c in t.cells()) for kind in ("input", "zero", "padding")}
    assert kinds == {"input": 9, "zero": 25 - 9, "padding": 64 - 25}
    for cell in t.cells():
        source = t.source_of(cell)
        if source is not None:
            assert cell == tuple(1 + 2 * j for j in source)
    # the kernel is flipped: the first tap of every window uses the last weight
    assert all(step.taps[0].weight == (2, 2) and step.taps[-1].weight == (0, 0) for step in t.steps)
    assert all(step.taps[0].offset == (0, 0) for step in t.steps)


POOLS = [
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=2, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)),
    dict(kernel_size=3, stride=1),
]


@pytest.mark.parametrize("options", POOLS)
@pytest.mark.parametrize("dilation", [1, 2])
def test_max_pool_trace_matches_torch(rng, options, dilation):
    x = rng.standard_normal((2, 7, 6))
    t = trace((7, 6), op="max_pool", in_channels=2, dilation=dilation, **options)
    reference = torch.nn.functional.max_pool2d(torch.from_numpy(x), dilation=dilation, **options).numpy()
    ours = np.zeros_like(reference)
    for step in t.steps:
        cells = [tap.source for tap in step.taps if tap.kind == "input"]
        for c in range(2):
            ours[(c,) + step.output] = max(x[(c,) + s] for s in cells)
    np.testing.assert_array_equal(ours, reference)
    np.testing.assert_array_equal(t.evaluate(x), reference)
    if hasattr(cw, "max_pool2d"):  # convwise's own pooling, once it has landed
        np.testing.assert_array_equal(cw.max_pool2d(x, dilation=dilation, **options), reference)


@pytest.mark.parametrize("options", POOLS)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool_trace_matches_torch(rng, options, count_include_pad):
    x = rng.standard_normal((2, 7, 6))
    t = trace((7, 6), op="avg_pool", in_channels=2, count_include_pad=count_include_pad, **options)
    reference = torch.nn.functional.avg_pool2d(torch.from_numpy(x), count_include_pad=count_include_pad,
                                               **options).numpy()
    np.testing.assert_allclose(t.evaluate(x), reference, rtol=0, atol=1e-12)
    if hasattr(cw, "avg_pool2d"):
        np.testing.assert_allclose(cw.avg_pool2d(x, count_include_pad=count_include_pad, **options), reference,
                                   rtol=0, atol=1e-12)


def test_ceil_mode_overhang_is_outside():
    t = trace(5, 2, op="max_pool", ceil_mode=True)
    assert t.output_size == (3,) and t.grid_size == (6,)
    assert [tap.kind for tap in t.steps[-1].taps] == ["input", "outside"]


def test_trace_is_built_on_arithmetic_geometry():
    t = trace((7, 7), 3, stride=2, padding=1, dilation=2)
    assert t.geometry == arithmetic.conv_geometry((7, 7), 3, 2, 1, 2)
    assert t.output_size == arithmetic.conv_output_size((7, 7), 3, 2, 1, 2)
    assert t.steps[4].taps[0].grid == (2, 2)   # output (1, 1) starts at 1*stride on the padded grid
    assert [tap.grid for tap in t.steps[0].taps[:3]] == [(0, 0), (0, 2), (0, 4)]  # dilation gaps


def test_to_dict_is_json_serialisable():
    t = trace((4, 4), 3, stride=2, padding=1, op="conv_transpose", output_padding=1, groups=2, in_channels=2,
              out_channels=4)
    data = json.loads(json.dumps(t.to_dict()))
    assert data["op"] == "conv_transpose" and data["output_size"] == list(t.output_size)
    assert len(data["steps"]) == len(t.steps) and data["steps"][0]["taps"][0]["kind"] in ("padding", "input")
    assert data["channels"] == [[0], [0], [1], [1]]
    assert data["explain"] == arithmetic.explain(t.geometry)


def test_channel_map():
    t = trace(5, 3, groups=3, in_channels=6, out_channels=3)
    assert [list(t.inputs_of(c)) for c in range(3)] == [[0, 1], [2, 3], [4, 5]]
    assert t.weight_channels(2, 5) == (2, 1)
    with pytest.raises(ValueError, match="does not feed"):
        t.weight_channels(0, 5)


@pytest.mark.parametrize("kwargs, error", [
    (dict(input_size=5, kernel_size=7), ValueError),
    (dict(input_size=5, kernel_size=3, op="fft"), ValueError),
    (dict(input_size=5, kernel_size=3, op=3), TypeError),
    (dict(input_size=5, kernel_size=3, groups=2, in_channels=3, out_channels=2), ValueError),
    (dict(input_size=(2000, 2000), kernel_size=3), ValueError),
    (dict(input_size=5, kernel_size="3"), TypeError),
])
def test_bad_configurations(kwargs, error):
    with pytest.raises(error):
        trace(**kwargs)


def test_max_taps_guard_message():
    with pytest.raises(ValueError, match=f"{MAX_TAPS:,}"):
        trace((1100, 1100), 1)
