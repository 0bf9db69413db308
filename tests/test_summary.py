"""Model summaries: published totals, shapes against torch, duck-typed modules, files, CLI."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from convwise import arithmetic
from convwise.cli import main
from convwise.models import MODELS
from convwise.summary import summary


@pytest.mark.parametrize("name, params", [("alexnet", 61_100_840), ("vgg16", 138_357_544), ("lenet5", 61_706)])
def test_published_parameter_counts(name, params):
    assert summary(name).total_params == params


def test_macs_come_from_arithmetic():
    s = summary("alexnet")
    first = s.layers[0]
    assert first.output_shape == (64, 55, 55)
    assert first.macs == arithmetic.conv_macs(3, 64, (11, 11), (55, 55))
    assert s.total_macs == 714_188_480
    assert summary("vgg16").total_macs == 15_470_264_320
    assert summary("alexnet", batch=2).total_macs == 2 * s.total_macs


def lenet_style_torch():
    return nn.Sequential(
        nn.Conv2d(3, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1, ceil_mode=True),
        nn.Conv2d(8, 16, (3, 5), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2), nn.Tanh(),
        nn.AvgPool2d(2), nn.BatchNorm2d(16), nn.Conv2d(16, 16, 3, padding="same", bias=False),
        nn.ConvTranspose2d(16, 4, 3, stride=2, padding=1, output_padding=1), nn.Dropout(0.1),
        nn.AdaptiveAvgPool2d((3, 4)), nn.Flatten(), nn.Linear(48, 20), nn.ReLU(), nn.Linear(20, 10))


def test_lenet_style_chain_shapes_and_params_equal_torch():
    net = lenet_style_torch()
    x = torch.zeros(1, 3, 37, 41)
    shapes = []
    with torch.no_grad():
        for layer in net:
            x = layer(x)
            shapes.append(tuple(x.shape[1:]))
    s = summary(net, (3, 37, 41))
    assert [layer.output_shape for layer in s.layers] == shapes
    assert s.total_params == sum(p.numel() for p in net.parameters())
    # the same chain as layer dicts, in_channels inferred
    specs = [{"type": "conv2d", "out_channels": 8, "kernel_size": 5, "padding": 2}, {"type": "relu"},
             {"type": "max_pool2d", "kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
             {"type": "conv2d", "out_channels": 16, "kernel_size": [3, 5], "stride": [2, 1], "padding": [1, 0],
              "dilation": [1, 2], "groups": 2}, {"type": "tanh"}, {"type": "avg_pool2d", "kernel_size": 2},
             {"type": "batch_norm2d"}, {"type": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": "same",
                                        "bias": False},
             {"type": "conv_transpose2d", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1,
              "output_padding": 1}, {"type": "dropout"}, {"type": "adaptive_avg_pool2d", "output_size": [3, 4]},
             {"type": "flatten"}, {"type": "linear", "out_features": 20}, {"type": "relu"},
             {"type": "linear", "out_features": 10}]
    d = summary(specs, (3, 37, 41))
    assert [layer.output_shape for layer in d.layers] == shapes and d.total_params == s.total_params
    assert d.layers[8].rf_size is None            # undefined after a transposed convolution
    assert d.layers[0].rf_size == (5, 5) and d.layers[2].rf_jump == (2, 2)


class TorchvisionStyle(nn.Module):
    """Containers plus a torch.flatten in forward (not a module): the summary flattens at Linear."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2), nn.ReLU(), nn.MaxPool2d(2))
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(nn.Dropout(), nn.Linear(64, 10))


def test_duck_typed_module_tree():
    net = TorchvisionStyle()
    s = summary(net, (1, 3, 32, 32))
    assert s.batch == 1 and s.output_shape == (10,)
    assert s.total_params == sum(p.numel() for p in net.parameters())
    assert s.layers[0].name == "features.0 (Conv2d)" and s.layers[-1].note == "flattened"


def test_receptive_field_and_memory():
    s = summary([{"type": "conv2d", "out_channels": 2, "kernel_size": 3}] * 2, (1, 9, 9), batch=4)
    assert [layer.rf_size for layer in s.layers] == [(3, 3), (5, 5)]
    assert s.layers[1].rf_start == (2.0, 2.0)
    assert s.layers[1].activation_bytes == 4 * 2 * 5 * 5 * 4
    text = str(s)
    assert "total params: 58" in text and "4x2x5x5" in text


def test_files_and_json(tmp_path):
    spec = {"input_shape": [1, 28, 28], "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3},
                                                   {"type": "flatten"}, {"type": "linear", "out_features": 10}]}
    (tmp_path / "net.json").write_text(json.dumps(spec))
    s = summary(str(tmp_path / "net.json"))
    assert s.total_params == 4 * 9 + 4 + 4 * 26 * 26 * 10 + 10
    (tmp_path / "net.py").write_text("import torch\nmodel = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3))\n"
                                     "input_shape = (1, 8, 8)\n")
    assert summary(str(tmp_path / "net.py")).output_shape == (4, 6, 6)
    assert json.loads(json.dumps(s.to_dict()))["total_params"] == s.total_params


def test_cli_summary(capsys):
    assert main(["summary", "alexnet"]) == 0
    out = capsys.readouterr().out
    assert "61,100,840" in out and "64x55x55" in out
    assert main(["summary", "vgg16", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_params"] == 138_357_544 and len(data["layers"]) == len(MODELS["vgg16"].layers)


@pytest.mark.parametrize("argv", [
    ["summary", "resnet9000"],
    ["summary", "lenet5", "--input-shape", "1,3,3"],
    ["summary", "lenet5", "--input-shape", "x"],
    ["summary", "missing.json"],
    ["summary", "lenet5", "--batch", "0"],
])
def test_cli_summary_bad_input(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("convwise summary: error:")


@pytest.mark.parametrize("layers, message", [
    ([{"type": "conv2d", "out_channel": 4, "kernel_size": 3}], "unknown key"),
    ([{"type": "warp", "out_channels": 4}], "unknown type"),
    ([{"type": "conv2d", "kernel_size": 3}], "missing 'out_channels'"),
    ([{"type": "conv2d", "in_channels": 2, "out_channels": 4, "kernel_size": 3}], "in_channels=2"),
    ([{"type": "linear", "in_features": 7, "out_features": 4}], "in_features=7"),
])
def test_bad_layer_specs(layers, message):
    with pytest.raises(ValueError, match=message):
        summary(layers, (3, 8, 8))


def test_convwise_nn_modules():
    cnn = pytest.importorskip("convwise.nn")
    net = cnn.Sequential(cnn.Conv2d(3, 8, 3, padding=1, groups=1), cnn.ReLU(), cnn.MaxPool2d(2), cnn.Flatten(),
                         cnn.Linear(8 * 16 * 16, 10))
    s = summary(net, (3, 32, 32))
    assert [layer.output_shape for layer in s.layers] == [(8, 32, 32), (8, 32, 32), (8, 16, 16), (2048,), (10,)]
    assert s.total_params == sum(int(p.size) for p in net.parameters())


def test_top_level_callable():
    import convwise as cw

    assert cw.summary("lenet5", (1, 32, 32)).total_params == 61_706
    assert cw.summary.ModelSummary is type(cw.summary("lenet5"))


@pytest.mark.parametrize("shape, words", [
    ((32, 32), "lenet5 takes input_shape C,H,W like 1x32x32"),
    ((3, 32, 32), "lenet5 takes 1 input channel"),
    ((1, 28, 28), "in_features=400 does not match the incoming shape 256"),
    ((2, 3, 32, 32), "lenet5 takes 1 input channel"),
])
def test_builtin_models_refuse_shapes_they_cannot_take(shape, words):
    with pytest.raises(ValueError, match=words):
        summary("lenet5", shape)


def test_builtin_models_read_their_own_shapes():
    # with the batch first, or a spatial size the layers allow (AlexNet's adaptive pooling), nothing is rebuilt
    assert summary("lenet5", (8, 1, 32, 32)).total_params == 61_706
    assert summary("lenet5", (8, 1, 32, 32)).batch == 8
    assert summary("alexnet", (3, 300, 300)).total_params == 61_100_840
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 11, 4, 2), torch.nn.ReLU(), torch.nn.MaxPool2d(3, 2))
    assert summary("alexnet", (3, 300, 300)).layers[2].output_shape == tuple(net(torch.zeros(1, 3, 300, 300)).shape[1:])


def test_cli_summary_formats(capsys):
    import csv
    import io

    assert main(["summary", "lenet5", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == len(MODELS["lenet5"].layers)
    assert sum(int(r["params"]) for r in rows) == 61_706
    assert rows[0]["output"] == "6x28x28" and rows[0]["padding"] == "0"
    assert main(["summary", "lenet5", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_params"] == 61_706
    assert main(["summary", "lenet5", "--input-shape", "1x32x32"]) == 0
    by_x = capsys.readouterr().out
    assert main(["summary", "lenet5", "--input-shape", "1,32,32"]) == 0
    assert capsys.readouterr().out == by_x
    assert main(["summary", "lenet5", "--input-shape", "32,32"]) == 2
    assert "takes input_shape C,H,W" in capsys.readouterr().err


def test_table_writes_asymmetric_padding_in_the_one_notation():
    s = summary([{"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": [[0, 1], [0, 1]]}], (1, 8, 8))
    assert s.rows()[0][5] == "(0,1)"
    torch = pytest.importorskip("torch")
    y = torch.nn.functional.conv2d(torch.nn.functional.pad(torch.zeros(1, 1, 8, 8), (0, 1, 0, 1)),
                                   torch.zeros(2, 1, 3, 3))
    assert s.layers[0].output_shape == tuple(y.shape[1:])
