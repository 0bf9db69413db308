"""``convwise apply`` through a real subprocess, and the all-or-nothing Zarr writer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr

from conftest import rel_error
from convwise import functional as F
from convwise.dask.io import read_array, write_zarr
from convwise.train import digits_cnn, save

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "convwise", "apply", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("apply")
    rng = np.random.default_rng(0)
    np.save(root / "x.npy", rng.standard_normal((2, 3, 61, 47)).astype(np.float32))
    np.save(root / "w.npy", rng.standard_normal((4, 3, 3, 5)).astype(np.float32))
    np.save(root / "b.npy", rng.standard_normal(4).astype(np.float32))
    np.save(root / "w64.npy", rng.standard_normal((4, 3, 3, 3)))
    np.save(root / "digits.npy", rng.uniform(0, 1, (7, 1, 8, 8)).astype(np.float32))
    da.to_zarr(da.from_array(np.load(root / "x.npy"), chunks=(1, 3, 20, 20)), str(root / "x.zarr"))
    model = digits_cnn(rng=0)
    save(root / "model.npz", model, {"architecture": "digits_cnn", "config": {"channels": [16, 32], "classes": 10}})
    return root


def test_apply_weight_writes_zarr_equal_to_in_memory(files):
    result = _cli("x.npy", "--weight", "w.npy", "--bias", "b.npy", "--stride", "2,1", "--padding", "1,2",
                  "--dilation", "2", "--output", "y.zarr", "--chunk", "16", cwd=files)
    assert result.returncode == 0, result.stderr
    assert "100% Completed" in result.stderr and "wrote y.zarr" in result.stderr
    x, w, b = (np.load(files / name) for name in ("x.npy", "w.npy", "b.npy"))
    ref = F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=2)
    y = zarr.open_array(str(files / "y.zarr"), mode="r")
    assert y.shape == ref.shape and y.chunks[0] == 1
    assert rel_error(y[:], ref) <= 1e-5   # default method: auto, as the in-memory reference


def test_apply_zarr_input_padding_mode_and_model(files):
    result = _cli("x.zarr", "--weight", "w.npy", "--padding", "same", "--padding-mode", "reflect",
                  "--output", "r.zarr", "--chunk", "9", "--no-progress", cwd=files)
    assert result.returncode == 0, result.stderr
    x, w = np.load(files / "x.npy"), np.load(files / "w.npy")
    ref = F.conv2d(F.pad(x, (2, 2, 1, 1), mode="reflect"), w)
    assert rel_error(zarr.open_array(str(files / "r.zarr"), mode="r")[:], ref) <= 1e-5
    result = _cli("digits.npy", "--model", "model.npz", "--output", "m.zarr", "--chunk", "3", cwd=files)
    assert result.returncode == 0, result.stderr
    from convwise.train import load

    model, _ = load(files / "model.npz")
    ref = model(np.load(files / "digits.npy"))
    assert rel_error(zarr.open_array(str(files / "m.zarr"), mode="r")[:], ref) <= 1e-5


@pytest.mark.parametrize("args, words", [
    (["missing.npy", "--weight", "w.npy"], ["no such input file", "missing.npy"]),
    (["x.npy", "--weight", "w64.npy"], ["conv2d", "float32", "float64"]),
    (["x.npy", "--weight", "w.npy", "--groups", "2"], ["groups=2", "in_channels=3"]),
    (["x.npy", "--weight", "w.npy", "--stride", "two"], ["--stride", "'two'"]),
    (["x.npy", "--weight", "w.npy", "--chunk", "0"], ["--chunk", "positive"]),
    (["x.npy", "--weight", "b.npy"], ["--weight", "4D"]),
])
def test_apply_bad_input_one_line_exit_2_no_output(files, args, words, capsys, monkeypatch):
    from convwise.cli import main

    monkeypatch.chdir(files)
    assert main(["apply", *args, "--output", "bad.zarr"]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and out == "", err
    assert all(word in lines[0] for word in words), lines[0]
    assert not [p for p in os.listdir(files) if p.startswith(("bad.zarr", ".bad.zarr"))]


def test_apply_bad_input_in_a_real_process(files):
    result = _cli("x.npy", "--weight", "w.npy", "--groups", "2", "--output", "bad.zarr", cwd=files)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not [p for p in os.listdir(files) if p.startswith(("bad.zarr", ".bad.zarr"))]


def test_existing_output_is_kept_unless_overwrite(files):
    (files / "keep.zarr").mkdir()
    result = _cli("x.npy", "--weight", "w.npy", "--output", "keep.zarr", cwd=files)
    assert result.returncode == 2 and "already exists" in result.stderr
    assert os.listdir(files / "keep.zarr") == []


def _explode(block):
    if block.sum() > -np.inf:
        raise ValueError("boom")
    return block


def test_write_zarr_leaves_nothing_when_a_chunk_fails(tmp_path):
    x = da.ones((4, 4), chunks=2).map_blocks(_explode, dtype=float)
    with pytest.raises(ValueError, match="boom"):
        write_zarr(x, tmp_path / "out.zarr", progress=False)
    assert os.listdir(tmp_path) == []


def test_read_array_is_lazy_per_chunk(tmp_path):
    data = np.arange(2 * 3 * 10 * 10, dtype=np.float64).reshape(2, 3, 10, 10)
    np.save(tmp_path / "a.npy", data)
    x = read_array(tmp_path / "a.npy", (1, 3, 4, 4))
    assert x.chunks[2] == (4, 4, 2)
    import pickle

    assert data.tobytes()[:800] not in pickle.dumps(dict(x.__dask_graph__()))  # the graph holds the path only
    np.testing.assert_array_equal(x.compute(), data)
