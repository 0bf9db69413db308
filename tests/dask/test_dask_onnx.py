"""apply_model and halo on loaded ONNX graphs: tiled results equal the untiled OnnxModel.

Oracle: the untiled ``OnnxModel`` on the whole array (itself checked against ONNX Runtime in
test_onnx_models.py); the receptive field of convwise.onnx.summary for the halo.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import rel_error

pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
import dask.array as da  # noqa: E402
from torch import nn  # noqa: E402

import convwise.dask as cwd  # noqa: E402
import convwise.onnx as cwo  # noqa: E402
from onnx_build import one_node  # noqa: E402
from onnx_nets import BasicBlock, export, randomise_batch_norms  # noqa: E402

BOUND = 1e-5


class ResNetTrunk(nn.Module):
    """Stem (7x7 stride 2, BatchNorm, max pool stride 2) and two residual blocks, one strided: fully convolutional."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 7, 2, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        self.layer1 = BasicBlock(8, 8, 1)
        self.layer2 = BasicBlock(8, 16, 2)

    def forward(self, x):
        return self.layer2(self.layer1(self.stem(x)))


class TwoBranch(nn.Module):
    """A 5x5 dilated branch and a strided-pool branch, concatenated along channels."""

    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(2, 4, 3, 2, 1), nn.ReLU(), nn.Conv2d(4, 4, 3, 1, 2, dilation=2))
        self.b = nn.Sequential(nn.AvgPool2d(3, 2, 1, ceil_mode=False), nn.Conv2d(2, 3, 1))
        self.head = nn.Conv2d(7, 5, 3, padding=1)

    def forward(self, x):
        return torch.sigmoid(self.head(torch.cat([self.a(x), self.b(x)], dim=1)))


def _model(net, shape):
    torch.manual_seed(0)
    return cwo.load(export(randomise_batch_norms(net), shape))


@pytest.mark.parametrize("chunk", [5, 7, 13])
def test_resnet_trunk_tiled_equals_untiled(chunk):
    model = _model(ResNetTrunk(), (1, 3, 150, 131))
    x = np.random.default_rng(0).standard_normal((2, 3, 150, 131)).astype(np.float32)
    h = cwd.halo(model, input_shape=x.shape)
    assert h.alignment == (8, 8) and min(h.before) > chunk  # chunks smaller than the halo, not stride multiples
    y = cwd.apply_model(model, da.from_array(x, chunks=(1, 3, chunk, chunk)))
    assert len(y.chunks[2]) > 1
    assert rel_error(y.compute(), model(x)) <= BOUND


@pytest.mark.parametrize("chunks", [None, 3, (2, 5)])
def test_two_branch_concat_tiled_equals_untiled(chunks):
    model = _model(TwoBranch(), (1, 2, 31, 26))
    x = np.random.default_rng(1).standard_normal((3, 2, 31, 26)).astype(np.float32)
    expected = model(x)
    y = cwd.apply_model(model, da.from_array(x, chunks=(2, 1, 6, 7)), chunks=chunks)
    assert y.shape == expected.shape
    assert rel_error(y.compute(), expected) <= BOUND
    y1 = cwd.apply_model(model, da.from_array(x[0], chunks=(2, 4, 4)))  # unbatched
    assert rel_error(y1.compute(), expected[0]) <= BOUND


def test_halo_is_the_graph_receptive_field():
    model = _model(TwoBranch(), (1, 2, 31, 26))
    last = cwo.summary(model).layers[-1]
    h = cwd.halo(model)
    assert h.alignment == last.rf_jump and h.before == tuple(-lo for lo in last.rf_lo)
    assert h.receptive_field == tuple(hi - lo + 1 for lo, hi in zip(last.rf_lo, last.rf_hi))
    assert cwd.estimate_memory(model, da.zeros((1, 2, 31, 26), chunks=(1, 2, 8, 8))) > 0


def test_non_local_graph_is_refused_naming_the_node():
    class Classifier(ResNetTrunk):
        def forward(self, x):
            return torch.flatten(nn.functional.adaptive_avg_pool2d(super().forward(x), 1), 1)

    model = _model(Classifier(), (1, 3, 32, 32))
    with pytest.raises(ValueError, match="GlobalAveragePool.*global pool"):
        cwd.apply_model(model, da.zeros((1, 3, 32, 32), chunks=8, dtype=np.float32))


def test_same_padding_with_stride_is_refused_and_without_is_tiled():
    w = np.random.default_rng(2).standard_normal((3, 2, 3, 3)).astype(np.float32)
    x = np.random.default_rng(3).standard_normal((1, 2, 17, 13)).astype(np.float32)
    strided = cwo.load(one_node("Conv", x.shape, {"auto_pad": "SAME_UPPER", "strides": [2, 2]}, weights=[w]))
    with pytest.raises(ValueError, match="node 'Conv_0' .*auto_pad=SAME_UPPER"):
        cwd.apply_model(strided, da.from_array(x, chunks=5))
    model = cwo.load(one_node("Conv", x.shape, {"auto_pad": "SAME_LOWER"}, weights=[w]))
    assert rel_error(cwd.apply_model(model, da.from_array(x, chunks=4)).compute(), model(x)) <= BOUND


def test_cli_apply_runs_an_onnx_file_chunk_by_chunk(tmp_path):
    """``convwise apply x.npy --model net.onnx``: the graph tiled over chunks equals the in-memory graph
    (and ONNX Runtime's reading of the same file); a graph that is not fully convolutional is one line, exit 2."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import zarr

    torch.manual_seed(0)
    export(randomise_batch_norms(TwoBranch()), (1, 2, 40, 36), tmp_path / "net.onnx")
    x = np.random.default_rng(1).standard_normal((2, 2, 40, 36)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "convwise", "apply", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300, check=False)

    result = cli("x.npy", "--model", "net.onnx", "--output", "y.zarr", "--chunk", "11", "--no-progress")
    assert result.returncode == 0, result.stderr
    model = cwo.load(tmp_path / "net.onnx")
    expected = np.concatenate([model(x[i:i + 1]) for i in range(2)])
    assert rel_error(zarr.open_array(str(tmp_path / "y.zarr"), mode="r")[:], expected) <= BOUND
    result = cli("x.npy", "--model", "net.onnx", "--bias", "x.npy", "--output", "z.zarr")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and "--bias" in result.stderr
    assert not (tmp_path / "z.zarr").exists()
