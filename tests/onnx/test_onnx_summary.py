"""Summaries of torch models follow forward (residual, reordered, two-branch) or refuse; the
summary CLI on .onnx files in every format; load refuses unsupported ops by name."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

pytest.importorskip("onnx")
import torch  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402
from torch import nn  # noqa: E402

import convwise  # noqa: E402
import convwise.onnx as cwo  # noqa: E402
from convwise import arithmetic  # noqa: E402
from convwise.cli import main  # noqa: E402
from onnx_build import one_node  # noqa: E402
from onnx_nets import ResNetLike, export  # noqa: E402


class Residual(nn.Module):
    """One ReLU module used twice and a skip-add: registration order says neither."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv2(self.relu(self.conv1(x))) + x)


class Reordered(nn.Module):
    """Registered head first, used last."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8 * 4 * 4, 10)
        self.pool = nn.MaxPool2d(2)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.conv(x)), 1))


class TwoBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.left = nn.Conv2d(3, 4, 3, padding=1)
        self.right = nn.Sequential(nn.Conv2d(3, 2, 1), nn.Conv2d(2, 2, 5, padding=2, groups=2))
        self.fuse = nn.Conv2d(6, 5, 1)

    def forward(self, x):
        return self.fuse(torch.cat([self.left(x), self.right(x)], 1))


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 3, 3)
        self.b = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.a(x) if x.sum() > 0 else self.b(x)


class UsesLayerNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3)
        self.norm = nn.LayerNorm([3, 6, 6])

    def forward(self, x):
        return self.norm(self.conv(x))


def test_residual_follows_forward():
    net = Residual()
    s = convwise.summary(net, (4, 8, 8))
    assert [row.type for row in s.layers] == ["Conv", "Relu", "Conv", "Add", "Relu"]   # the ReLU twice, the add
    add = s.layers[3]
    assert len(add.inputs) == 2 and "input" in add.inputs
    assert s.total_params == sum(p.numel() for p in net.parameters())
    assert s.layers[-1].rf_size == (5, 5)            # the longer of the two paths


def test_reordered_follows_forward():
    net = Reordered()
    s = convwise.summary(net, (3, 8, 8), batch=2)
    assert [row.type for row in s.layers] == ["Conv", "MaxPool", "Flatten", "Gemm"]
    assert s.output_shape == (2, 10) and s.layers[0].output_shape == (2, 8, 8, 8)
    assert s.total_params == sum(p.numel() for p in net.parameters())
    assert s.layers[0].macs == arithmetic.conv_macs(3, 8, (3, 3), (8, 8), batch=2)
    assert s.layers[-1].macs == 2 * 128 * 10


def test_two_branch_follows_forward():
    net = TwoBranch()
    s = convwise.summary(net, (3, 10, 10))
    assert [row.type for row in s.layers] == ["Conv", "Conv", "Conv", "Concat", "Conv"]
    grouped = s.layers[2]
    assert grouped.groups == 2 and grouped.params == 2 * 1 * 25 + 2
    assert grouped.macs == arithmetic.conv_macs(2, 2, (5, 5), (10, 10), groups=2)
    assert s.layers[3].rf_size == (5, 5) and s.layers[-1].rf_size == (5, 5)   # union of the branches
    assert s.total_params == sum(p.numel() for p in net.parameters())


def test_plain_sequential_still_walks_layers():
    s = convwise.summary(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), (1, 5, 5))
    assert type(s).__name__ == "ModelSummary"


@pytest.mark.parametrize("net, message", [(DataDependent(), "cannot be followed faithfully"),
                                          (UsesLayerNorm(), "unsupported op LayerNormalization")])
def test_untraceable_models_are_refused(net, message):
    with pytest.raises(ValueError, match=message):
        convwise.summary(net, (3, 8, 8))


def test_unsupported_op_refused_at_load_naming_op_and_node():
    model = one_node("LpNormalization", (1, 3, 4, 4))
    model.graph.node[0].name = "my_norm"
    with pytest.raises(ValueError, match="unsupported op LpNormalization in node 'my_norm'"):
        cwo.load(model)
    with pytest.raises(ValueError, match="only 'nearest'"):
        cwo.load(one_node("Resize", (1, 1, 2, 2), {"mode": "linear"}, weights=[None, np.ones(4, np.float32)],
                          opset=13))


def test_bad_inputs():
    with pytest.raises(ValueError, match="no such ONNX file"):
        cwo.load("/nonexistent/model.onnx")
    with pytest.raises(TypeError, match="path must be"):
        cwo.load(3)
    with pytest.raises(ValueError, match="not an ONNX model"):
        cwo.load(b"not a model")
    model = cwo.load(one_node("Conv", (1, 2, 5, 5), {}, weights=[np.ones((3, 2, 3, 3), np.float32)]))
    with pytest.raises(ValueError, match="must be 4-D"):
        model(np.ones((2, 5, 5), np.float32))
    with pytest.raises(ValueError, match='Conv node ".*": .*channels'):
        model(np.ones((1, 4, 5, 5), np.float32))
    with pytest.raises(ValueError, match="missing"):
        model.run({})


def test_conv_and_memory_guard_name_the_node():
    node = helper.make_node("Pad", ["x", "p"], ["y"], name="huge")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[helper.make_tensor("p", TensorProto.INT64, [8],
                                                              [0, 0, 10**6, 10**6, 0, 0, 10**6, 10**6])])
    model = cwo.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    with pytest.raises(ValueError, match='Pad node "huge": needs .* of memory'):
        model(np.ones((1, 1, 2, 2), np.float32))


@pytest.mark.parametrize("fmt", ["json", "csv", "text", "github"])
def test_cli_formats(fmt, tmp_path, capsys):
    path = tmp_path / "resnet.onnx"
    torch.manual_seed(0)
    export(ResNetLike(), (1, 3, 32, 32), path)
    args = ["summary", str(path), "--input-shape", "3,64,64", "--batch", "2"]
    args += ["--json"] if fmt == "json" else ["--style", fmt] if fmt == "github" else ["--format", fmt]
    assert main(args) == 0
    out = capsys.readouterr().out
    expected = cwo.summary(str(path), (3, 64, 64), batch=2)
    if fmt == "json":
        data = json.loads(out)
        assert data["total_params"] == expected.total_params and data["input_shape"] == [2, 3, 64, 64]
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert sum(int(r["params"]) for r in rows) == expected.total_params
        assert rows[0]["output_shape"] == "x".join(map(str, expected.layers[0].output_shape))
    else:
        assert f"total params: {expected.total_params:,}" in out and "/stem/stem.0/Conv" in out


def test_cli_bad_onnx_file(tmp_path, capsys):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"junk")
    assert main(["summary", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "not an ONNX model" in captured.err and "Traceback" not in captured.err
