"""MNIST IDX reading and ``convwise train mnist --data DIR`` on small IDX files written here."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest

from convwise import datasets
from convwise.cli import main
from convwise.mnist import mnist_cnn, train_mnist
from convwise.train import load


def _idx(array: np.ndarray, code: int = 0x08) -> bytes:
    """An IDX file written from its specification (independently of the reader)."""
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    big = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    return header + array.astype(big).tobytes()


def _write(path, data: bytes, gz: bool):
    if gz:
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


def _mnist_folder(tmp_path, n_train=120, n_test=40, gz=True, seed=0):
    """Synthetic MNIST: each label lights a different 6x6 square of a 28x28 image (learnable)."""
    rng = np.random.default_rng(seed)
    suffix = ".gz" if gz else ""
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            row, col = divmod(int(label), 5)
            images[i, 4 + row * 12:10 + row * 12, 2 + col * 5:7 + col * 5] = 255
        _write(tmp_path / f"{split}-images-idx3-ubyte{suffix}", _idx(images), gz)
        _write(tmp_path / f"{split}-labels-idx1-ubyte{suffix}", _idx(labels), gz)
    return tmp_path


@pytest.mark.parametrize("code, dtype", [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32),
                                          (0x0D, np.float32), (0x0E, np.float64)])
@pytest.mark.parametrize("gz", (False, True))
def test_read_idx_round_trips_every_type(tmp_path, code, dtype, gz):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if code == 0x08:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x.idx"
    _write(path, _idx(array, code), gz)
    result = datasets.read_idx(path)
    assert result.dtype == dtype and result.dtype.isnative and np.array_equal(result, array)


def test_read_idx_refuses_bad_files(tmp_path):
    good = _idx(np.arange(10, dtype=np.uint8))
    cases = {
        "magic": (b"\x01\x00" + good[2:], "bad magic number"),
        "type": (good[:2] + b"\x07" + good[3:], "bad magic number"),
        "short": (good[:3], "truncated"),
        "header": (good[:6], "truncated inside its header"),
        "data": (good[:-1], "truncated: shape (10,) needs 10 bytes of data, found 9"),
        "extra": (good + b"\x00", "1 unexpected bytes"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            datasets.read_idx(path)
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b" + b"garbage")
    with pytest.raises(ValueError, match="not a readable gzip file"):
        datasets.read_idx(tmp_path / "bad.gz")
    with pytest.raises(ValueError, match="no such file"):
        datasets.read_idx(tmp_path / "missing")


def test_load_mnist_scales_and_checks(tmp_path):
    _mnist_folder(tmp_path, gz=False)
    x, y = datasets.load_mnist(tmp_path, "train")
    assert x.shape == (120, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.max() == 1.0 and x.min() >= 0.0
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx(np.zeros(3, np.uint8)))
    with pytest.raises(ValueError, match="has 40 images but .* has 3 labels"):
        datasets.load_mnist(tmp_path, "test")


def test_train_mnist_learns_the_synthetic_digits(tmp_path):
    _mnist_folder(tmp_path, n_train=300, n_test=100)
    model, report = train_mnist(tmp_path, epochs=4, batch_size=32, lr=5e-3, progress=False, out=tmp_path / "w.npz")
    assert report["train_samples"] == 300 and report["test_samples"] == 100
    assert report["test_accuracy"] > 0.5          # chance is 0.1
    reloaded, metadata = load(tmp_path / "w.npz")
    x = datasets.load_mnist(tmp_path, "test")[0][:5]
    model.eval()
    assert np.array_equal(reloaded(x), model(x)) and metadata["architecture"] == "mnist_cnn"


def test_mnist_network_shapes():
    model = mnist_cnn(rng=0)
    x = np.zeros((1, 1, 28, 28), np.float32)
    shapes = []
    for layer in model:
        x = layer(x)
        shapes.append(x.shape[1:])
    assert shapes[0] == (5, 24, 24) and shapes[2] == (5, 12, 12) and shapes[-1] == (10,)


def test_cli_train_mnist(tmp_path, capsys):
    _mnist_folder(tmp_path, gz=True)
    assert main(["train", "mnist", "--data", str(tmp_path), "--epochs", "1", "--limit", "64", "--json",
                 "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dataset"] == "mnist" and report["train_samples"] == 64 and report["epochs"] == 1


def test_cli_train_mnist_missing_files_is_one_line(tmp_path, capsys):
    assert main(["train", "mnist", "--data", str(tmp_path), "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "train-images-idx3-ubyte[.gz] not found" in lines[0] and "http" in lines[0]
    assert main(["train", "mnist", "--no-progress"]) == 2
    assert "--data DIR" in capsys.readouterr().err
