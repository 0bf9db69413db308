"""`convwise tour` runs end to end and produces every file it announces."""

from __future__ import annotations

import os
import subprocess
import sys

from PIL import Image


def test_tour_end_to_end(tmp_path):
    out = tmp_path / "tour"
    result = subprocess.run([sys.executable, "-m", "convwise", "tour", "--out", str(out)], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for number in range(1, 8):
        assert f"[{number}/7]" in text
    assert "conv2d(x, w) gives the same 3x3 output: True" in text
    assert "= 8" in text and "8  9  8" in text and "61,706" in text
    announced = [line.strip() for line in text.split("Files written:")[1].splitlines() if line.strip()]
    assert len(announced) == 7
    assert sorted(os.path.basename(p) for p in announced) == sorted(os.listdir(out))
    for path in announced:
        assert os.path.getsize(path) > 0
    with Image.open(out / "conv-5x5-example.gif") as gif:
        assert gif.n_frames == 10
    from convwise.viz.sweep import FIGURE_SIZE

    with Image.open(out / "sweep-kernel_size.png") as png:
        assert png.size == FIGURE_SIZE


def test_tour_bad_out(tmp_path, capsys):
    from convwise.cli import main

    (tmp_path / "file").write_text("x")
    assert main(["tour", "--out", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("convwise tour: error:")
