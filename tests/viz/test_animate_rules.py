"""The rules behind the animations: frame budget, cells sized to their text, several channels with
bias and activation, groups, the max-pool winner, the scatter view of a transposed convolution."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from convwise.cli import main
from convwise.trace import trace
from convwise.viz import _text
from convwise.viz import animate as viz
from convwise.viz._draw import VALUE_FONT, WEIGHT_FONT


def rc(cell):
    return (0, cell[0]) if len(cell) == 1 else cell


# --------------------------------------------------------------------------- frame budget


@pytest.mark.parametrize("shape, budget", [((24, 24), 60), ((24, 24), 7), ((100,), 10), ((3, 5), 60),
                                           ((7, 9), 1), ((50, 3), 12)])
def test_plan_positions_strides_within_the_budget(shape, budget):
    positions, strides = viz.plan_positions(shape, budget)
    assert len(positions) <= budget
    assert positions[-1] == tuple(n - 1 for n in shape)
    assert budget == 1 or positions[0] == (0,) * len(shape)
    assert positions == sorted(set(positions))                      # row-major, no repeats
    if math.prod(shape) <= budget:
        assert len(positions) == math.prod(shape) and set(strides) == {1}
    for position in positions[:-1]:                                 # a regular stride through each dimension
        assert all(p % s == 0 for p, s in zip(position, strides))


def test_large_input_respects_the_budget_and_says_so(tmp_path):
    t = trace((28, 28), 5)
    frames, lay = viz.animate(t, tmp_path / "big.gif", max_frames=30)
    assert 2 <= len(frames) <= 31
    assert any("Frame budget" in line for line in lay.title)
    assert lay.width <= 1000 and lay.height <= 800
    # the last frame shows every output computed
    last = frames[-1]
    for row, col in ((0, 0), (12, 7), (23, 23)):
        assert last.getpixel(lay.probe("output", row, col)) in (viz.COLORS["done"], viz.COLORS["current"])


def test_cli_frame_budget(tmp_path, capsys):
    assert main(["animate", "-i", "28", "-k", "5", "-o", str(tmp_path / "m.gif"), "--max-frames", "20"]) == 0
    out = capsys.readouterr().out
    assert "of 576, strided to fit the frame budget" in out


# --------------------------------------------------------------------------- cells fit their text


@pytest.mark.parametrize("values", [[[12345.678, -98765.0, 3.0], [0.5, -0.25, 1e7], [-1.0, 2.0, 1 / 3]],
                                    [[-1e-5, 7.0, -7.0], [123456.0, 1.5, -2.5], [0.0, 0.0, 9999.0]]])
def test_numbers_fit_their_cells(tmp_path, values):
    weight = [[-1234.5, 2.0], [0.001, -77777.0]]
    t = trace((3, 3), 2)
    frames, lay = viz.animate(t, None, input=values, weight=weight)
    value_face, weight_face = _text.font(VALUE_FONT), _text.font(WEIGHT_FONT)
    engine = torch.nn.functional.conv2d(torch.tensor(values, dtype=torch.float64)[None, None],
                                        torch.tensor(weight, dtype=torch.float64)[None, None])[0, 0].numpy()
    texts = [_text.fmt(v) for v in np.ravel(values)] + [_text.fmt(v) for v in engine.ravel()]
    for text in texts:
        left, top, right, bottom = value_face.getbbox(text)
        assert right - left <= lay.cell - 6 and bottom - top <= lay.cell / 2, (text, lay.cell)
    for w in np.ravel(weight):
        left, _, right, _ = weight_face.getbbox("×" + _text.fmt(w))
        assert right - left <= lay.cell - 6
    # and in the pixels: no text crosses a cell's outline (the border between cells stays the grid colour)
    grid_line = viz.COLORS["grid_line"]
    for frame in frames:
        for name, (_x, _y, rows, cols) in lay.grids.items():
            grid = name.split(".")[0]
            for row in range(rows):
                for col in range(cols):
                    x0, y0, x1, y1 = lay.box(grid, row, col)
                    column = [frame.getpixel((x1, yy)) for yy in range(y0 + 1, y1)]
                    assert all(p in (grid_line, viz.COLORS["window"]) for p in column), (name, row, col)
    # sums are not rounded to 3 significant figures: the text shows the engine's value to 4 decimals
    text = viz.window_texts(t, values, weight)[0]
    assert text.rsplit(" = ", 1)[1] == _text.fmt(engine[0, 0])
    assert abs(float(text.rsplit(" = ", 1)[1].replace("−", "-")) - engine[0, 0]) <= 5e-5 * max(1, abs(engine[0, 0]))


def test_fmt_keeps_large_and_negative_values_whole():
    assert _text.fmt(12345.0) == "12345" and _text.fmt(-98765.0) == "−98765"
    assert _text.fmt(12.3456789) == "12.3457" and _text.fmt(-0.25) == "−0.25"


# --------------------------------------------------------------------------- several channels


def test_multichannel_numeric_texts_match_torch():
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 4, size=(3, 4, 4)).astype(float)
    w = rng.integers(-2, 3, size=(2, 3, 3, 3)).astype(float)
    b = np.array([0.5, -40.0])
    t = trace((4, 4), 3, in_channels=3, out_channels=2)
    texts = viz.window_texts(t, x, w, bias=b, activation="relu")
    tx, tw = torch.tensor(x)[None], torch.tensor(w)
    full = torch.nn.functional.conv2d(tx, tw, torch.tensor(b))[0].numpy()
    assert len(texts) == 2 * 4
    for index, text in enumerate(texts):
        co, position = divmod(index, 4)
        r, c = divmod(position, 2)
        lines = text.split("\n")
        assert [line.split(":")[0] for line in lines[:3]] == ["in 0", "in 1", "in 2"]
        for ci in range(3):
            share = torch.nn.functional.conv2d(tx[:, ci:ci + 1], tw[co:co + 1, ci:ci + 1])[0, 0, r, c].item()
            assert lines[ci].endswith(f"= {_text.fmt(share)}")
        assert lines[3].startswith(f"out {co} = ") and f"bias {_text.fmt(b[co])}" in lines[3]
        assert lines[3].endswith(f"= {_text.fmt(full[co, r, c])}")
        assert lines[4] == f"ReLU({_text.fmt(full[co, r, c])}) = {_text.fmt(max(full[co, r, c], 0.0))}"


def test_groups_are_separate_stacks_feeding_their_own_outputs():
    t = trace((3, 3), 3, padding=1, groups=2, in_channels=4, out_channels=2)
    frames, lay = viz.render(t)
    n = len(t.steps)
    tap = {viz.COLORS["tap"], viz.COLORS["tap_padding"]}
    # frames 1..n compute output channel 0 (group 0: inputs 0, 1); frames n+1..2n channel 1 (inputs 2, 3)
    for frame_index, feeding in ((1, {0, 1}), (n + 1, {2, 3})):
        frame = frames[frame_index]
        for ci in range(4):
            lit = any(frame.getpixel(lay.probe("input", r, c, channel=ci)) in tap for r in range(5) for c in range(5))
            assert lit == (ci in feeding), (frame_index, ci)
    # group 0's grids sit above group 1's, with a wider gap between the groups than within one
    ys = [lay.grids[lay.key("input", ci)][1] for ci in range(4)]
    assert ys[1] - ys[0] < ys[2] - ys[1]


def test_max_pool_winner_is_torchs_index():
    x = np.array([[1, 5, 2, 0], [3, 5, 1, 4], [0, 2, 9, 1], [6, 1, 1, 8]], dtype=float)
    t = trace((4, 4), 2, op="max_pool")
    frames, lay = viz.render(t, input=x)
    _, index = torch.nn.functional.max_pool2d(torch.tensor(x)[None, None], 2, return_indices=True)
    for position, step in enumerate(t.steps):
        flat = int(index[0, 0][step.output].item())
        winner = divmod(flat, 4)
        x0, y0, x1, y1 = lay.box("input", *winner)
        frame = frames[position + 1]
        assert frame.getpixel((x0 + 1, (y0 + y1) // 2)) == viz.COLORS["winner"]
        for tap in step.taps:
            if tap.grid != winner:
                bx0, by0, _, by1 = lay.box("input", *tap.grid)
                assert frame.getpixel((bx0 + 1, (by0 + by1) // 2)) != viz.COLORS["winner"]


# --------------------------------------------------------------------------- transposed convolution, both ways


@pytest.mark.parametrize("stride, padding, output_padding, dilation", [(2, 0, 0, 1), (2, 1, 1, 1), (3, 1, 2, 1),
                                                                       (1, 0, 0, 2)])
def test_scatter_view_stamps_and_sums(stride, padding, output_padding, dilation):
    x = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
    w = np.array([[1.0, 2.0], [-1.0, 3.0]])
    t = trace((2, 3), 2, stride=stride, padding=padding, dilation=dilation, output_padding=output_padding,
              op="conv_transpose")
    frames, lay = viz.render(t, input=x, weight=w, view="scatter")
    assert len(frames) == 1 + 6
    # frame j lights exactly the canvas cells input j stamps: j*stride + tap*dilation (torch's definition)
    for j, source in enumerate(np.ndindex(2, 3)):
        lit = {cell for cell in np.ndindex(lay.grids["output"][2], lay.grids["output"][3])
               if frames[j + 1].getpixel(lay.probe("output", *cell)) == viz.COLORS["tap"]}
        expected = {(source[0] * stride + a * dilation, source[1] * stride + b * dilation)
                    for a in range(2) for b in range(2)}
        assert lit == expected
    # the running sums are the engine's; after the last stamp the uncropped middle is torch's output
    from convwise.viz._numbers import numbers, scatter_sums
    from convwise.viz._scatter import canvas_trace

    nums = numbers(t, x, w)
    final = scatter_sums(canvas_trace(t), nums.x, nums.w, list(np.ndindex(2, 3)))[-1][0]
    ref = torch.nn.functional.conv_transpose2d(torch.tensor(x)[None, None], torch.tensor(w)[None, None],
                                               stride=stride, padding=padding, output_padding=output_padding,
                                               dilation=dilation)[0, 0].numpy()
    cropped = final[padding:padding + ref.shape[0], padding:padding + ref.shape[1]]
    np.testing.assert_allclose(cropped, ref, rtol=1e-12, atol=1e-12)


def test_transposed_views_are_labelled():
    t = trace((3, 3), 3, stride=2, padding=1, output_padding=1, op="conv_transpose")
    _, gather = viz.render(t)
    _, scatter = viz.render(t, view="scatter")
    assert any("Gather view" in line for line in gather.title)
    assert any("Scatter view" in line for line in scatter.title)
    with pytest.raises(ValueError, match="scatter view is for transposed"):
        viz.render(trace((3, 3), 3), view="scatter")


def test_titles_use_the_one_padding_notation():
    _, lay = viz.render(trace((5, 5), 3, stride=2, padding=((0, 1), (0, 1))))
    assert "padding (0,1)" in lay.title[0] and "/" not in " ".join(lay.title)
    _, lay = viz.render(trace((5, 5), 3, padding=(1, 2)))
    assert "padding 1x2" in lay.title[0]


def test_cli_reads_channels_from_the_arrays(tmp_path, capsys):
    x = "[[[1,2,0],[3,4,1],[0,0,1]],[[0,1,1],[1,0,2],[1,1,1]]]"
    w = "[[[[1,0],[0,1]],[[1,1],[0,0]]],[[[1,0],[0,1]],[[0,0],[1,1]]],[[[2,0],[0,1]],[[0,1],[1,1]]]]"
    assert main(["animate", "-k", "2", "--input", x, "--weight", w, "--bias", "1,0,-1", "--activation", "relu",
                 "-o", str(tmp_path / "c.gif")]) == 0
    assert "13 frames: 1 intro + 12 windows" in capsys.readouterr().out      # 3 output channels x 2x2 positions
    wt = "[[[[1,0],[0,1]],[[1,1],[0,0]],[[2,0],[0,0]]],[[[1,0],[0,1]],[[0,0],[1,1]],[[0,0],[0,2]]]]"
    assert main(["animate", "--op", "conv_transpose", "-k", "2", "-s", "2", "--input", "[[[1,2],[3,4]],[[0,1],[1,0]]]",
                 "--weight", wt, "-o", str(tmp_path / "t.gif")]) == 0
    assert "49 frames: 1 intro + 48 windows" in capsys.readouterr().out      # 3 output channels x 4x4 positions
    assert main(["animate", "-k", "2", "--input", x, "--weight", "[[1,0],[0,1]]", "-o", str(tmp_path / "b.gif")]) == 2
    assert "do not match the weight shape" in capsys.readouterr().err
