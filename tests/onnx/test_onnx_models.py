"""Torch-exported ResNet-, MobileNetV2- and U-Net-like graphs: outputs equal ONNX Runtime's,
summary totals equal the parameter counts, receptive fields match a gradient probe."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import rel_error

pytest.importorskip("onnxruntime")
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from onnx import numpy_helper  # noqa: E402

import convwise.onnx as cwo  # noqa: E402
from convwise import arithmetic  # noqa: E402
from onnx_nets import (  # noqa: E402
    MobileNetV2Like,
    ResNetLike,
    UNetLike,
    export,
    randomise_batch_norms,
)

NETS = {"resnet": (ResNetLike, (2, 3, 32, 32)), "mobilenet": (MobileNetV2Like, (2, 3, 24, 24)),
        "unet": (UNetLike, (1, 3, 16, 16))}


def make(name: str, seed: int = 0):
    torch.manual_seed(seed)
    cls, shape = NETS[name]
    return randomise_batch_norms(cls(), seed), shape


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "batchnorm-kept"])
@pytest.mark.parametrize("name", list(NETS))
def test_equals_onnxruntime(name, fold, tmp_path):
    net, shape = make(name)
    path = tmp_path / f"{name}.onnx"
    export(net, shape, path, fold=fold)
    model = cwo.load(str(path))
    if not fold:
        assert "BatchNormalization" in {node.op for node in model.graph.nodes}
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    ours = model(x)
    reference = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert ours.dtype == np.float32 and rel_error(ours, reference) <= 1e-4
    with torch.no_grad():  # and torch itself, in float64
        expected = net.double()(torch.from_numpy(x.astype(np.float64))).numpy()
    assert rel_error(ours, expected) <= 1e-4


@pytest.mark.parametrize("name", list(NETS))
def test_summary_totals_and_shapes(name, tmp_path):
    net, shape = make(name)
    data = export(net, shape, fold=False)
    s = cwo.summary(data)
    proto = onnx.load_from_string(data)
    # the exporter keeps weights and statistics as initializers, configuration (Resize scales) as Constant nodes
    floats = sum(numpy_helper.to_array(t).size for t in proto.graph.initializer if t.data_type == 1)
    assert s.total_params == sum(p.numel() for p in net.parameters())
    assert s.total_buffers == sum(b.numel() for n, b in net.named_buffers() if "running" in n)
    assert s.total_params + s.total_buffers == floats
    model = cwo.load(data)  # every row's shape is the shape the runtime produces
    x = np.zeros(shape, dtype=np.float32)
    first_output = {node.name: node.outputs[0] for node in model.graph.nodes}
    names = [first_output[row.name] for row in s.layers]   # rows: the nodes on the data path
    produced = model.run({"input": x}, outputs=names)
    assert [row.output_shape for row in s.layers] == [produced[n].shape for n in names]
    assert {row.type for row in s.layers}.isdisjoint({"Constant", "Shape"})


def test_macs_grouped_and_transposed():
    net, shape = make("mobilenet")
    s = cwo.summary(export(net, shape))
    depthwise = [row for row in s.layers if row.type == "Conv" and row.groups and row.groups > 1]
    assert depthwise, "the depthwise convolutions are in the graph"
    for row in depthwise:
        c = row.groups
        n, _, *out = row.output_shape
        assert row.macs == n * c * int(np.prod(out)) * int(np.prod(row.kernel_size))   # one channel per group
    unet, shape = make("unet")
    s = cwo.summary(export(unet, shape))
    (up,) = [row for row in s.layers if row.type == "ConvTranspose"]
    n, c_in, *size = next(r.output_shape for r in s.layers if r.name == up.inputs[0])
    assert up.macs == arithmetic.conv_transpose_macs(16, 16, (2, 2), size, batch=n) == n * 16 * 16 * 4 * 4 * 4  # C_in*C_out/g*k*k
    # per input cell
    assert up.rf_size is None


def probe(net: torch.nn.Module, shape, layer_output, unit):
    """Bounding box of the input cells whose change moves ``layer_output[..., unit]`` (gradient probe)."""
    x = torch.rand(shape, dtype=torch.float64, requires_grad=True)
    y = layer_output(x)
    y[(0, slice(None), *unit)].sum().backward()
    nonzero = np.argwhere(x.grad[0].abs().sum(0).numpy() > 0)
    return nonzero.min(0), nonzero.max(0)


class TwoBranch(torch.nn.Module):
    """Two branches of different reach (3x7 then strided vs pooled then 5x4) added, then concatenated with a skip."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Sequential(torch.nn.Conv2d(2, 4, (3, 7), padding=(1, 3)), torch.nn.ReLU(),
                                     torch.nn.Conv2d(4, 4, 3, stride=2, padding=(0, 2)))
        self.b = torch.nn.Sequential(torch.nn.AvgPool2d(2, 2), torch.nn.Conv2d(2, 4, (5, 4), padding=(2, 2)))
        self.skip = torch.nn.Conv2d(2, 2, 3, stride=2, padding=(0, 3), dilation=(1, 2))
        self.head = torch.nn.Conv2d(6, 3, 3, padding=1)

    def forward(self, x):
        return self.head(torch.cat([torch.relu(self.a(x) + self.b(x)), self.skip(x)], 1))


class PaddedChain(torch.nn.Module):
    """Asymmetric constant padding (a Pad node), a strided dilated conv, a ceil-mode pool."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 3, (3, 2), stride=(2, 1), dilation=(1, 2))
        self.pool = torch.nn.AvgPool2d(3, 2, padding=1, ceil_mode=True)

    def forward(self, x):
        return self.pool(self.conv(torch.nn.functional.pad(x, (3, 0, 1, 2))))


@pytest.mark.parametrize("unit", [(0, 0), (3, 5), (6, 2)])
@pytest.mark.parametrize("cls", [TwoBranch, PaddedChain])
def test_receptive_field_matches_gradient_probe(cls, unit):
    torch.manual_seed(0)
    net = cls().double()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()      # positive weights and inputs: every dependency shows in the gradient
    shape = (1, 2, 17, 16)
    summary = cwo.summary(export(net.float(), shape))
    if cls is PaddedChain:
        assert "Pad" in {row.type for row in summary.layers}
    row = summary.layers[-1]
    unit = tuple(min(u, s - 1) for u, s in zip(unit, row.output_shape[2:]))
    lo, hi = probe(net.double(), shape, net, unit)
    expected_lo = [max(u * j + low, 0) for u, j, low in zip(unit, row.rf_jump, row.rf_lo)]
    expected_hi = [min(u * j + h, s - 1) for u, j, h, s in zip(unit, row.rf_jump, row.rf_hi, shape[2:])]
    assert list(lo) == expected_lo and list(hi) == expected_hi


def test_receptive_field_of_a_chain_equals_arithmetic():
    layers = [dict(kernel_size=7, stride=2, padding=3), dict(kernel_size=3, stride=2, padding=1)]
    net, shape = make("resnet")
    s = cwo.summary(export(net, shape))
    pool = next(row for row in s.layers if row.type == "MaxPool")
    field = arithmetic.receptive_field(layers, 2)[-1]
    assert (pool.rf_size, pool.rf_jump, pool.rf_start) == (field.size, field.jump, field.start)


def test_geometries_for_tilers():
    net, shape = make("resnet")
    items = cwo.load(export(net, shape)).geometries()
    assert items[0].op == "Conv" and items[0].geometry.stride == (2, 2)
    assert items[0].geometry.padding == ((3, 3), (3, 3)) and items[0].rf_lo == (-3, -3)
    assert items[0].rf_hi == (3, 3) and items[0].rf_jump == (2, 2)


@pytest.mark.slow
def test_dynamo_exporter_graph():
    """torch 2.x's default exporter (torch.export + onnxscript) emits ReduceMean for global pooling."""
    pytest.importorskip("onnxscript")
    net, shape = make("resnet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = torch.onnx.export(net, (torch.zeros(shape),), dynamo=True, verbose=False).model_proto
    model = cwo.load(data)
    assert "ReduceMean" in {node.op for node in model.graph.nodes}
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    session = ort.InferenceSession(data.SerializeToString(), providers=["CPUExecutionProvider"])
    assert rel_error(model(x), session.run(None, {model.input_names[0]: x})[0]) <= 1e-4
    reduce_row = next(row for row in cwo.summary(data).layers if row.type == "ReduceMean")
    pool_row = next(row for row in cwo.summary(export(net, shape)).layers if row.type == "GlobalAveragePool")
    assert (reduce_row.rf_size, reduce_row.rf_jump, reduce_row.rf_start) == \
        (pool_row.rf_size, pool_row.rf_jump, pool_row.rf_start)


@pytest.mark.parametrize("fold", [True, False])
def test_padded_chain_equals_onnxruntime(fold):
    """torch's F.pad exports as ConstantOfShape/Slice/Transpose/Cast feeding Pad (Shape too, unfolded)."""
    torch.manual_seed(0)
    net, shape = PaddedChain(), (2, 2, 17, 16)
    data = export(net, shape, fold=fold)
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    ours = cwo.load(data)(x)
    assert rel_error(ours, session.run(None, {"input": x})[0]) <= 1e-4
    row = cwo.summary(data).layers[-1]
    assert row.rf_size is not None and row.output_shape == ours.shape


@pytest.mark.parametrize("name", ["resnet", "mobilenet"])
def test_receptive_field_of_real_architectures_matches_a_nan_probe(name):
    """Max pooling hides dependencies from gradients; NaN reaches every output that reads it.

    One sample per input pixel, that pixel NaN: the pixels that make a unit of the last
    spatial tensor NaN form exactly the summary's field (clipped to the input).
    """
    net, shape = make(name)
    size = 24
    summary = cwo.summary(export(net, (1, 3, size, size)))
    last = max(i for i, row in enumerate(summary.layers) if row.type in ("GlobalAveragePool", "ReduceMean"))
    row = summary.layers[last - 1]
    features = net.layer2 if name == "resnet" else net.features
    stem = (lambda x: features(net.layer1(net.stem(x)))) if name == "resnet" else features
    x = torch.rand(size * size, 3, size, size)
    x[torch.arange(size * size), :, torch.arange(size * size) // size, torch.arange(size * size) % size] = float("nan")
    with torch.no_grad():
        out = stem(x)
    assert tuple(out.shape[1:]) == row.output_shape[1:]
    for unit in [(0, 0), tuple(s // 2 for s in out.shape[2:]), tuple(s - 1 for s in out.shape[2:])]:
        hit = torch.isnan(out[(slice(None), 0, *unit)]).numpy().reshape(size, size)
        found = np.argwhere(hit)
        expected_lo = [max(u * j + low, 0) for u, j, low in zip(unit, row.rf_jump, row.rf_lo)]
        expected_hi = [min(u * j + h, size - 1) for u, j, h in zip(unit, row.rf_jump, row.rf_hi)]
        assert list(found.min(0)) == expected_lo and list(found.max(0)) == expected_hi
