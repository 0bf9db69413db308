"""One notation for shapes and padding, and one table of layer kinds shared by trace, shape and summary."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convwise import arithmetic
from convwise.cli.shape import parse_layer
from convwise.layer_kinds import KINDS, WINDOW_KINDS, kind_of
from convwise.notation import format_padding, format_shape, format_sizes, parse_ints, parse_padding
from convwise.summary import summary
from convwise.trace import trace


@pytest.mark.parametrize("text", ["3x32x32", "3,32,32", "3 x 32 x 32", "3×32×32", "3, 32, 32"])
def test_shapes_read_both_ways(text):
    assert parse_ints(text, fn="f", name="shape") == (3, 32, 32)
    assert format_shape((3, 32, 32)) == "3x32x32"


@pytest.mark.parametrize("text", ["", "3x", "3xx2", "a", "3.5", "-1", "3;2"])
def test_bad_shapes_name_the_function_and_argument(text):
    with pytest.raises(ValueError, match=r"^f: shape must be non-negative ints joined by 'x' or ','"):
        parse_ints(text, fn="f", name="shape")


@pytest.mark.parametrize("padding, text", [(((1, 1), (1, 1)), "1"), (((1, 1), (2, 2)), "1x2"),
                                           (((0, 1), (0, 1)), "(0,1)"), (((0, 1), (2, 2)), "(0,1)x2"),
                                           (((0, 1), (1, 0)), "(0,1)x(1,0)"), (((3, 3),), "3")])
def test_padding_is_written_one_way(padding, text):
    assert format_padding(padding) == text
    assert parse_padding(text, fn="f", ndim=len(padding)) in (padding, padding[0][0], tuple(p[0] for p in padding))


@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), min_size=1, max_size=3))
def test_padding_round_trips_through_arithmetic(pairs):
    padding = tuple(pairs)
    ndim = len(padding)
    text = format_padding(padding)
    # what parse_padding gives, arithmetic turns into the same canonical (lo, hi) pairs
    size = (20,) * ndim
    parsed = arithmetic.conv_geometry(size, 1, 1, parse_padding(text, fn="f", ndim=ndim)).padding
    assert parsed == arithmetic.conv_geometry(size, 1, 1, padding).padding
    assert "/" not in text


def test_format_sizes():
    assert format_sizes((3, 3)) == "3" and format_sizes((5, 3)) == "5x3"


TORCH_NAMES = {"Conv1d": "conv", "Conv2d": "conv", "Conv3d": "conv", "ConvTranspose2d": "conv_transpose",
               "MaxPool2d": "max_pool", "AvgPool1d": "avg_pool", "AdaptiveAvgPool2d": "adaptive_avg_pool",
               "AdaptiveMaxPool1d": "adaptive_max_pool", "Linear": "linear", "Flatten": "flatten",
               "BatchNorm2d": "batch_norm", "Dropout": "dropout", "ReLU": "activation", "Tanh": "activation"}


def test_torch_class_names_map_to_the_table():
    torch = pytest.importorskip("torch")
    for name, kind in TORCH_NAMES.items():
        assert hasattr(torch.nn, name)
        assert kind_of(name) == kind
    assert set(TORCH_NAMES.values()) == set(KINDS)


@pytest.mark.parametrize("kind", WINDOW_KINDS)
def test_trace_and_shape_accept_every_spelling_of_the_table(kind):
    for alias in (kind,) + KINDS[kind].aliases:
        assert trace((6, 6), 2, op=alias).op == kind
        assert parse_layer(f"{alias} k=2").kind == kind


def test_summary_accepts_every_spelling_of_the_table():
    for kind, entry in KINDS.items():
        for alias in (kind,) + entry.aliases:
            assert kind_of(alias) == kind
            assert kind_of(alias + "2d") == kind
    layers = [{"type": "convT", "out_channels": 2, "kernel_size": 2}, {"type": "maxpool", "kernel_size": 2}]
    assert summary(layers, (1, 4, 4)).output_shape == (2, 2, 2)
