"""convwise.train and the `convwise train` / `convwise predict` commands, end to end (small budget)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from convwise import train


def run_main(capsys, *args):
    """The command in-process (no interpreter start-up): ``(exit status, stdout, stderr)``."""
    from convwise.cli import main

    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def cli(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "convwise", *args], capture_output=True, text=True, timeout=240)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_train_digits_cli_end_to_end(tmp_path, capsys):
    weights = tmp_path / "weights.npz"
    result = cli("train", "digits", "--epochs", "3", "--limit", "400", "--seed", "1", "--out", str(weights), "--json")
    report = json.loads(result.stdout)
    assert report["epochs"] == 3 and report["train_samples"] == 400 and report["test_samples"] == 360
    assert report["seconds"] > 0 and 0 <= report["test_accuracy"] <= 1
    losses = [epoch["loss"] for epoch in report["history"]]
    assert losses[-1] < losses[0], losses
    assert "epoch 3/3" in result.stderr  # the progress bar

    model, meta = train.load(weights)
    assert meta["architecture"] == "digits_cnn" and meta["split"]["seed"] == 1
    with np.load(weights) as archive:
        assert set(archive.files) == set(model.state_dict()) | {train.METADATA_KEY}
    _, x_test, _, y_test = train.load_digits_split(0.2, 1)
    expected = train.predict(model, x_test)

    status, out, _ = run_main(capsys, "predict", str(weights), "--json")
    predicted = json.loads(out)
    assert predicted["predictions"] == expected.tolist()
    assert predicted["accuracy"] == report["test_accuracy"] == train.evaluate(model, x_test, y_test)

    raw = tmp_path / "x.npy"
    np.save(raw, x_test[:7, 0] * 16)  # the dataset's own units
    status, text, _ = run_main(capsys, "predict", str(weights), "--input", str(raw))
    assert status == 0 and text.strip() == "predictions (7): " + " ".join(str(v) for v in expected[:7])


def test_cli_errors(tmp_path, capsys):
    status, _, err = run_main(capsys, "predict", str(tmp_path / "missing.npz"))
    assert status == 2 and err.count("\n") == 1 and "no such file" in err
    status, _, err = run_main(capsys, "train", "digits", "--epochs", "0")
    assert status == 2 and "epochs must be >= 1" in err
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 5)))
    model = train.digits_cnn((2, 2), rng=0)
    train.save(tmp_path / "w.npz", model, {"architecture": "digits_cnn", "config": {"channels": [2, 2]}})
    status, _, err = run_main(capsys, "predict", str(tmp_path / "w.npz"), "--input", str(bad))
    assert status == 2 and "expected images shaped" in err


def test_save_load_roundtrip_and_errors(tmp_path):
    model = train.digits_cnn((4, 8), rng=0)
    path = tmp_path / "m.npz"
    train.save(path, model, {"architecture": "digits_cnn", "config": {"channels": [4, 8], "classes": 10}})
    again, meta = train.load(path)
    x = np.random.default_rng(0).random((5, 1, 8, 8)).astype(np.float32)
    assert np.array_equal(again(x), model(x)) and meta["format"] == 1
    np.savez(tmp_path / "plain.npz", w=np.zeros(3))
    with pytest.raises(ValueError, match="not a convwise weights file"):
        train.load(tmp_path / "plain.npz")
    (tmp_path / "junk.npz").write_text("junk")
    with pytest.raises(ValueError, match="not a readable .npz"):
        train.load(tmp_path / "junk.npz")


def test_fit_reduces_loss_in_process():
    x_train, _, y_train, _ = train.load_digits_split(0.2, 0)
    model = train.digits_cnn((4, 8), rng=np.random.default_rng(0))
    from convwise import optim
    history = train.fit(model, x_train[:256], y_train[:256], epochs=3, batch_size=32,
                        optimizer=optim.Adam(model.parameters(), lr=1e-2), rng=np.random.default_rng(0), progress=False)
    assert history[-1]["loss"] < history[0]["loss"]
