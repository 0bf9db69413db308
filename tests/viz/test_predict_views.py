"""`convwise predict`: the input range is checked against the training data's; --show draws the network."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from convwise import train
from convwise.cli import main
from convwise.viz.filters import draw_network, kernel_mosaic, layer_outputs


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "digits.npz"
    train.train_digits(epochs=1, limit=200, progress=False, out=path)
    return path


@pytest.fixture(scope="module")
def raw_digits():
    from sklearn.datasets import load_digits

    return load_digits().images[:6]


def test_training_range_is_saved(weights):
    _, meta = train.load(weights)
    x_train, _, _, _ = train.load_digits_split()
    assert meta["input_range"] == [float(x_train[:200].min()), float(x_train[:200].max())] == [0.0, 1.0]


def test_raw_pixels_pass_and_are_said_to(weights, raw_digits, tmp_path, capsys):
    np.save(tmp_path / "raw.npy", raw_digits)
    assert main(["predict", str(weights), "--input", str(tmp_path / "raw.npy")]) == 0
    captured = capsys.readouterr()
    assert "matches the training data's [0, 1]" in captured.err
    assert captured.out.startswith("predictions (6):")


def test_images_on_another_scale_are_refused_with_the_fix(weights, raw_digits, tmp_path, capsys):
    np.save(tmp_path / "unit.npy", raw_digits / 16.0)
    assert main(["predict", str(weights), "--input", str(tmp_path / "unit.npy")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert "trained on [0, 1]" in captured.err and "--scale 1 " in captured.err
    # following the advice gives the predictions of the raw images
    np.save(tmp_path / "raw.npy", raw_digits)
    assert main(["predict", str(weights), "--input", str(tmp_path / "unit.npy"), "--scale", "1", "--json"]) == 0
    scaled = json.loads(capsys.readouterr().out)["predictions"]
    assert main(["predict", str(weights), "--input", str(tmp_path / "raw.npy"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["predictions"] == scaled
    # far too large (e.g. 0..255 images) is refused too, unless the check is switched off
    np.save(tmp_path / "bytes.npy", raw_digits * 16)
    assert main(["predict", str(weights), "--input", str(tmp_path / "bytes.npy")]) == 2
    assert "--scale 0.003906" in capsys.readouterr().err
    assert main(["predict", str(weights), "--input", str(tmp_path / "bytes.npy"), "--no-range-check"]) == 0


@pytest.mark.parametrize("argv, words", [(["--scale", "0"], "--scale must be a positive number"),
                                         (["--show", "x.gif"], "--show must name a .png"),
                                         (["--scale", "2"], "--scale applies to --input")])
def test_predict_bad_options(weights, capsys, argv, words):
    assert main(["predict", str(weights), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err


def test_show_draws_kernels_and_every_layer(weights, tmp_path, capsys):
    out = tmp_path / "net.png"
    assert main(["predict", str(weights), "--show", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    with Image.open(out) as image:
        assert image.size[0] >= 1000 and image.size[1] >= 800
    model, _ = train.load(weights)
    _, x_test, _, _ = train.load_digits_split()
    drawn = draw_network(model, x_test[0], tmp_path / "again.png")
    assert [shape for _, shape in drawn] == [(16, 8, 8), (16, 8, 8), (16, 4, 4), (32, 4, 4), (32, 4, 4), (32, 2, 2)]


def test_layer_outputs_and_mosaic_are_the_models_own(weights):
    model, _ = train.load(weights)
    _, x_test, _, _ = train.load_digits_split()
    outputs = layer_outputs(model, x_test[3])
    np.testing.assert_array_equal(outputs[-1][2], model(x_test[3:4])[0])
    weight = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    mosaic = kernel_mosaic(weight)
    assert mosaic.shape == (2 * 3 - 1, 3 * 3 - 1)
    np.testing.assert_array_equal(mosaic[3:5, 6:8], weight[1, 2])
    assert np.isnan(mosaic[2]).all() and np.isnan(mosaic[:, 2]).all()
