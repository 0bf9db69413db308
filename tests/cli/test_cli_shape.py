"""``convwise shape`` through a real subprocess, checked against torch where it counts."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn.functional as F


def shape(*args):
    return subprocess.run([sys.executable, "-m", "convwise", "shape", *args], capture_output=True, text=True,
                          timeout=120)


def shape_json(*args):
    done = shape(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def torch_params(module):
    return sum(p.numel() for p in module.parameters())


def test_explained_text_single_layer():
    done = shape("227", "-k", "11", "-s", "4")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "o = floor((i + lo + hi - d*(k-1) - 1) / s) + 1" in out
    assert "floor((227 + 0 + 0 - 1*(11-1) - 1) / 4) + 1 = floor(216 / 4) + 1 = 54 + 1 = 55" in out
    assert "in_channels = 1 assumed" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and line.split()}
    assert lines["output"].split()[1] == "55"
    assert lines["params"].split()[1] == "12"          # 11 weights + 1 bias
    assert lines["MACs"].split()[1] == "605"           # 55 outputs x 11 taps
    assert lines["receptive"].split()[2] == "11"
    assert "warning" not in out                         # 227 = 4 * 54 + 11: every column is read
    assert done.stderr == ""


def test_json_single_layer_matches_torch():
    got = shape_json("3x7x7", "-k", "3", "-s", "2", "-p", "1", "-d", "2", "-o", "8")
    conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1, dilation=2)
    out = conv(torch.zeros(3, 7, 7))
    assert got["output_size"] == [3, 3] == list(out.shape[1:])
    assert got["output_shape"] == list(out.shape)
    assert got["params"] == torch_params(conv)
    assert got["macs"] == out.numel() * 3 * 3 * 3
    assert got["receptive_field"]["size"] == [5, 5]
    assert len(got["steps"]) == 1 and all(step.endswith("= 3") for step in got["steps"][0])
    assert got["input"]["channels"] == 3 and got["input"]["batch"] is None


def test_same_padding_even_kernel_matches_torch():
    got = shape_json("2x5x32x20", "-k", "4x3", "-p", "same", "-o", "6", "-g", "1")
    layer = got["layers"][0]
    assert layer["padding"] == [[1, 2], [1, 1]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = F.conv2d(torch.zeros(2, 5, 32, 20), torch.zeros(6, 5, 4, 3), padding="same")
    assert got["output_shape"] == list(out.shape) == [2, 6, 32, 20]
    assert got["macs"] == out.numel() * 5 * 4 * 3  # batch included


def _chain_in_torch():
    conv, pool = torch.nn.Conv2d(1, 5, 5), torch.nn.MaxPool2d(2)
    x = torch.zeros(1, 28, 28)
    middle = conv(x)
    return middle, pool(middle), torch_params(conv)


def test_chain_text_shows_each_shape():
    done = shape("1x28x28", "conv k=5 o=5", "maxpool k=2")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    outputs = [line.split()[1] for line in out.splitlines() if line.strip().startswith("output ")]
    assert outputs == ["5x24x24", "5x12x12"]
    assert out.index("5x24x24") < out.index("5x12x12")
    assert "conv2d" in out and "max_pool2d" in out and "total" in out


def test_chain_json_matches_torch_and_both_syntaxes_agree():
    positional = shape_json("1x28x28", "conv k=5 o=5", "maxpool k=2")
    with_option = shape_json("1x28x28", "--layer", "conv k=5 o=5", "--layer", "maxpool k=2")
    assert positional == with_option
    middle, final, params = _chain_in_torch()
    assert [layer["output_shape"] for layer in positional["layers"]] == [list(middle.shape), list(final.shape)]
    assert positional["output_shape"] == [5, 12, 12] and positional["output_size"] == [12, 12]
    assert positional["params"] == params == 130
    assert positional["macs"] == middle.numel() * 1 * 25
    assert [layer["receptive_field"]["size"] for layer in positional["layers"]] == [[5, 5], [6, 6]]


def test_transposed_json_matches_torch():
    got = shape_json("2x16x9x9", "-k", "4", "-s", "2", "-p", "1", "--output-padding", "1", "-o", "8", "-g", "2",
                     "--transposed")
    layer = torch.nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1, output_padding=1, groups=2)
    x = torch.zeros(2, 16, 9, 9)
    out = layer(x)
    assert got["output_shape"] == list(out.shape)
    assert got["params"] == torch_params(layer)
    assert got["macs"] == x.numel() * (8 // 2) * 16   # counted on the input
    assert got["receptive_field"] is None
    assert got["layers"][0]["steps"][0].endswith("= 19")


@pytest.mark.parametrize("pool, extra, torch_pool", [
    ("max", ["-d", "2"], lambda x: F.max_pool2d(x, 3, 2, 1, 2, ceil_mode=True)),
    ("avg", [], lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True)),
])
def test_pool_json_matches_torch(pool, extra, torch_pool):
    got = shape_json("4x10x11", "--pool", pool, "-k", "3", "-s", "2", "-p", "1", "--ceil-mode", *extra)
    out = torch_pool(torch.zeros(1, 4, 10, 11))
    assert got["output_shape"] == list(out.shape[1:])
    assert got["params"] == 0 and got["macs"] == 0


def test_uncovered_warning_names_the_unread_cells():
    done = shape("3x224x224", "-k", "11", "-s", "4", "-o", "2")
    assert done.returncode == 0, done.stderr
    warnings_ = [line for line in done.stdout.splitlines() if line.startswith("warning:")]
    assert len(warnings_) == 2
    assert "input row 223 (H)" in warnings_[0] and "input column 223 (W)" in warnings_[1]
    assert "the last window stops before row 223" in warnings_[0]
    # independently: the input cells whose gradient vanishes through a ones-weight conv
    x = torch.zeros(1, 1, 224, 224, requires_grad=True)
    F.conv2d(x, torch.ones(1, 1, 11, 11), stride=4).sum().backward()
    unread_rows = [r for r in range(224) if not torch.any(x.grad[0, 0, r])]
    assert unread_rows == [223]
    got = shape_json("3x224x224", "-k", "11", "-s", "4", "-o", "2")
    assert got["uncovered"] == [{"layer": 1, "dim": "H", "cells": [223]}, {"layer": 1, "dim": "W", "cells": [223]}]


def test_uncovered_gaps_match_gradient_support():
    got = shape_json("20", "-k", "2", "-s", "3", "-d", "2")
    x = torch.zeros(1, 1, 20, requires_grad=True)
    F.conv1d(x, torch.ones(1, 1, 2), stride=3, dilation=2).sum().backward()
    unread = [i for i in range(20) if x.grad[0, 0, i] == 0]
    assert got["uncovered"] == [{"layer": 1, "dim": "L", "cells": unread}]


def test_help_documents_the_input_rule_and_the_chain_syntax():
    done = shape("--help")
    assert done.returncode == 0
    for words in ("N C H W", "--spatial", "--layer", "maxpool k=2", "convT", "op=output_padding", "same"):
        assert words in done.stdout, words


@pytest.mark.parametrize("args, words", [
    (["5x5", "-k", "7"], "effective kernel size 7 exceeds padded input size 5"),
    (["4x8x8", "-k", "3", "-g", "3"], "conv2d: groups=3 must divide in_channels=4"),
    (["8x8", "-k", "3", "-s", "2", "-p", "same"], "padding='same' is not supported for strided convolutions"),
    (["3xAx4", "-k", "3"], "INPUT must be non-negative ints joined by 'x' or ','"),
    (["3x0x4", "-k", "3"], "INPUT must be >= 1"),
    (["8", "-k", "3", "-p", "(1;2)"], "padding must be"),
    (["8", "-k", "3", "--bogus"], "unrecognized arguments: --bogus"),
    (["8", "conv k=3 z=1"], "unknown key 'z'"),
    (["8", "pool k=2"], "unknown layer kind 'pool'"),
    (["8", "-k", "3", "-s", "2", "--output-padding", "2", "--transposed"], "output_padding must be smaller"),
    (["8", "--pool", "max", "-k", "3", "-p", "2"], "max_pool1d: padding=2 must be at most half of kernel_size=3"),
    (["8", "--pool", "avg", "-k", "3", "-d", "2"], "--dilation does not apply to avg pool"),
    (["2x3x4x5x6x7", "-k", "1"], "--spatial"),
    (["8", "conv k=3", "-k", "3"], "cannot be combined with layer specs"),
    (["8"], "nothing to compute"),
    (["8", "-k", "3x3"], "kernel_size must be an int or a sequence of 1 ints"),
])
def test_bad_input_is_one_line_and_exit_2(args, words):
    done = shape(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.endswith("\n"), done.stderr
    assert words in done.stderr, done.stderr


def test_one_notation_in_and_out():
    # 3x32x32 and 3,32,32 are the same input; asymmetric padding is written (lo,hi) and read back the same way
    by_x, by_comma = shape("3x32x32", "-k", "3", "--json"), shape("3,32,32", "-k", "3", "--json")
    assert json.loads(by_x.stdout) == json.loads(by_comma.stdout)
    done = shape("1x9x9", "-k", "3", "-s", "2", "-p", "(0,1)")
    assert "padding=(0,1)" in done.stdout and "channels 1 -> 1" in done.stdout
    torch = pytest.importorskip("torch")
    x = torch.nn.functional.pad(torch.zeros(1, 1, 9, 9), (0, 1, 0, 1))
    expected = torch.nn.functional.conv2d(x, torch.zeros(1, 1, 3, 3), stride=2).shape
    assert json.loads(shape("1x9x9", "-k", "3", "-s", "2", "-p", "(0,1)", "--json").stdout)["output_shape"] == \
        list(expected[1:])
    per_dim = shape("1x9x9", "-k", "3", "-p", "(0,1)x2")
    assert "padding=(0,1)x2" in per_dim.stdout
