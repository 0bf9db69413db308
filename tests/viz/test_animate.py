"""GIF animations: frame counts, highlighted cells where the trace says, numeric mode, CLI."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

import convwise as cw
from convwise.cli import main
from convwise.trace import trace
from convwise.viz import animate as viz

CLASSIC_INPUT = [[1, 2, 3, 0, 1], [0, 1, 5, 1, 0], [1, 0, 2, 2, 1], [1, 1, 2, 0, 0], [1, 0, 1, 1, 1]]
CLASSIC_KERNEL = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
TAP_COLOURS = {viz.COLORS["tap"], viz.COLORS["tap_padding"]}


def gif_frames(path):
    with Image.open(path) as image:
        frames = []
        for index in range(image.n_frames):
            image.seek(index)
            frames.append(image.convert("RGB"))
        return frames


def rc(cell):
    return (0, cell[0]) if len(cell) == 1 else cell


def check_frame(frame, t, lay, index):
    """Tapped input cells (and only they) are highlighted; outputs are done/current/pending (output channel 0)."""
    step = t.steps[index - 1] if index else None
    tapped = {tap.grid for tap in step.taps} if step else set()
    for cell in t.cells():
        colour = frame.getpixel(lay.probe("input", *rc(cell)))
        if cell in tapped and 0 not in t.inputs_of(0):
            continue
        kind = t.cell_kind(cell)
        if cell in tapped:
            assert colour == viz.COLORS["tap" if kind == "input" else "tap_padding"], (index, cell, colour)
        else:
            assert colour == viz.COLORS[kind], (index, cell, kind, colour)
    for position, other in enumerate(t.steps):
        expected = "pending" if position >= index else "current" if position == index - 1 else "done"
        assert frame.getpixel(lay.probe("output", *rc(other.output))) == viz.COLORS[expected]


CONFIGS = [
    dict(input_size=(5, 5), kernel_size=3, stride=2, padding=1),
    dict(input_size=(6, 5), kernel_size=(2, 3), stride=(1, 2), padding=(1, 0), dilation=(2, 1)),
    dict(input_size=(2, 3), kernel_size=3, stride=2, padding=1, output_padding=1, op="conv_transpose"),
    dict(input_size=(5, 5), kernel_size=3, stride=2, padding=1, ceil_mode=True, op="max_pool"),
    dict(input_size=(7,), kernel_size=3, stride=2, padding=1, dilation=2),
    dict(input_size=(4, 4), kernel_size=3, padding=1, groups=2, in_channels=4, out_channels=2),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.get("op", "conv") + str(c["input_size"]))
def test_gif_frames_and_highlights(tmp_path, config):
    t = trace(**config)
    path = tmp_path / "a.gif"
    frames, lay = viz.animate(t, path)
    read = gif_frames(path)
    # intro frame + one per output position and output channel
    assert len(read) == len(frames) == 1 + t.out_channels * len(t.steps)
    assert read[0].size == lay.size
    n = len(t.steps)
    for index in sorted({0, 1, 2, n // 2, n}):
        check_frame(read[index], t, lay, index)


def test_numeric_classic_example(tmp_path):
    t = trace((5, 5), 3)
    texts = viz.window_texts(t, CLASSIC_INPUT, CLASSIC_KERNEL)
    engine = cw.conv2d(np.array(CLASSIC_INPUT, float)[None, None], np.array(CLASSIC_KERNEL, float)[None, None])
    assert [text.rsplit(" = ", 1)[1] for text in texts] == [f"{v:g}" for v in engine.ravel()]
    assert [text.rsplit(" = ", 1)[1] for text in texts] == ["8", "9", "8", "8", "5", "9", "6", "5", "5"]
    assert texts[0] == "1×1 + 2×0 + 3×1 + 0×0 + 1×1 + 5×0 + 1×1 + 0×0 + 2×1 = 8"
    frames, lay = viz.animate(t, tmp_path / "n.gif", input=CLASSIC_INPUT, weight=CLASSIC_KERNEL,
                              frames_dir=tmp_path / "frames")
    assert len(os.listdir(tmp_path / "frames")) == len(frames) == 10
    read = gif_frames(tmp_path / "n.gif")
    for index in (0, 1, 5, 9):
        check_frame(read[index], t, lay, index)   # probes avoid the numbers drawn in the cells


def test_numeric_pooling_and_transpose_texts():
    x = [[1.0, 2.0, 0.0], [4.0, 3.0, 1.0], [0.0, 5.0, 2.0]]
    assert viz.window_texts(trace((3, 3), 2, stride=1, op="max_pool"), x) == [
        "max(1, 2, 4, 3) = 4", "max(2, 0, 3, 1) = 3", "max(4, 3, 0, 5) = 5", "max(3, 1, 5, 2) = 5"]
    assert viz.window_texts(trace((3, 3), 2, stride=1, op="avg_pool"), x)[0] == "(1 + 2 + 4 + 3) / 4 = 2.5"
    t = trace((2, 2), 2, stride=2, op="conv_transpose")
    texts = viz.window_texts(t, [[1.0, 2.0], [3.0, 4.0]], [[1.0, 10.0], [100.0, 1000.0]])
    # output (0, 0) sees input 1 under the flipped kernel's last tap: weight[0][0]
    assert texts[0].endswith(" = 1") and texts[1].endswith(" = 10")


def test_layout_is_deterministic_and_checked():
    t = trace((5, 5), 3, padding=1)
    a, b = viz.layout(t), viz.layout(t)
    assert a == b and a.box("input", 0, 0)[2] - a.box("input", 0, 0)[0] + 1 == a.cell
    with pytest.raises(ValueError):
        a.box("input", 7, 0)
    with pytest.raises(ValueError, match="1-D and 2-D"):
        viz.layout(trace((3, 3, 3), 2))


def test_gallery_names_and_subset(tmp_path):
    for name in ("no_padding_no_strides", "arbitrary_padding_no_strides", "same_padding_no_strides",
                 "full_padding_no_strides", "no_padding_strides", "padding_strides", "padding_strides_odd",
                 "dilation", "padding_strides_odd_transposed", "dilation_transposed", "numerical_max_pooling",
                 "numerical_avg_pooling", "grouped_conv", "depthwise_conv"):
        assert name in viz.GALLERY
    # each transposed twin maps the convolution's output size back to its input size
    entries = {name: kwargs for name, kwargs, _ in viz.gallery_entries()}
    for name, kwargs in entries.items():
        if name.endswith("_transposed") and name[: -len("_transposed")] in entries:
            twin = dict(entries[name[: -len("_transposed")]])
            assert trace(**kwargs).output_size == twin["input_size"], name
            assert trace(**twin).output_size == kwargs["input_size"], name
    assert entries["padding_strides_odd_transposed"]["output_padding"] == 1
    paths = viz.gallery(tmp_path, names=["no_padding_no_strides", "numerical_max_pooling"])
    assert [os.path.basename(p) for p in paths] == ["no_padding_no_strides.gif", "numerical_max_pooling.gif"]
    assert len(gif_frames(paths[0])) == 1 + 4
    with pytest.raises(ValueError, match="unknown gallery"):
        viz.gallery(tmp_path, names=["nope"])


def test_cli_animate(tmp_path, capsys):
    out = tmp_path / "x.gif"
    assert main(["animate", "-i", "5", "-k", "3", "-s", "2", "-p", "1", "-o", str(out), "--frames",
                 str(tmp_path / "f")]) == 0
    assert len(gif_frames(out)) == 10 and len(os.listdir(tmp_path / "f")) == 10
    assert main(["animate", "--input", "[[1,2,3],[4,5,6],[7,8,9]]", "--weight", "[[1,0],[0,1]]",
                 "-o", str(tmp_path / "y.gif")]) == 0
    assert "5 frames" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["animate", "-i", "5", "-k", "7"],
    ["animate", "--op", "fft"],
    ["animate", "-k", "a"],
    ["animate", "--input", "[[1,2],[3"],
    ["animate", "-o", "x.png"],
    ["animate", "--in-channels", "2", "--values", "--view", "scatter", "--op", "conv_transpose"],
    ["animate", "--values", "--bias", "a"],
    ["animate", "--values", "--max-frames", "0"],
    ["animate", "-p", "(1;2)"],
])
def test_cli_animate_bad_input(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("convwise animate: error:")
