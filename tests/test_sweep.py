"""Sweeps: parameter counts against torch, theory's trends, the PNG and CSV, the CLI."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from PIL import Image

from convwise.cli import main
from convwise.viz import sweep as viz


def torch_params(row) -> int:
    layer = torch.nn.Conv2d(row["in_channels"], row["out_channels"], row["kernel_size"], row["stride"],
                            row["padding"], row["dilation"], row["groups"])
    return sum(p.numel() for p in layer.parameters())


@pytest.mark.parametrize("parameter", list(viz.PARAMETERS))
def test_params_match_torch_and_theory(parameter):
    rows = viz.sweep(parameter, measure=False)
    assert [row["value"] for row in rows] == viz.values_for(parameter)
    assert [row["params"] for row in rows] == [torch_params(row) for row in rows]
    params = [row["params"] for row in rows]
    macs = [row["macs"] for row in rows]
    if parameter in ("in_channels", "out_channels", "kernel_size"):
        assert params == sorted(params) and len(set(params)) == len(params)      # grows
    elif parameter in ("stride", "padding", "dilation"):
        assert len(set(params)) == 1                                            # independent
    else:
        assert params == sorted(params, reverse=True) and params[-1] < params[0]  # falls with groups
    if parameter == "stride":
        assert macs == sorted(macs, reverse=True) and macs[-1] < macs[0]
    if parameter == "padding":
        assert macs == sorted(macs) and macs[-1] > macs[0]
    assert all(math.isnan(row["convwise_ms"]) for row in rows)


def test_measured_quick_sweep_writes_png_and_csv(tmp_path):
    rows = viz.sweep("stride", [1, 2, 4], quick=True, repeats=1)
    assert all(row["convwise_ms"] > 0 and row["torch_ms"] > 0 for row in rows)
    viz.plot(rows, tmp_path / "s.png")
    viz.write_csv(rows, tmp_path / "s.csv")
    with Image.open(tmp_path / "s.png") as image:
        assert image.size == viz.FIGURE_SIZE
    with open(tmp_path / "s.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [int(r["value"]) for r in table] == [1, 2, 4]
    assert [int(r["params"]) for r in table] == [torch_params(row) for row in rows]
    assert [int(r["output_size"]) for r in table] == [12, 6, 3]


def test_cli_sweep_one(tmp_path, capsys):
    assert main(["sweep", "kernel", "--quick", "--no-torch", "--repeats", "1", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "sweep-kernel_size.png" in out and (tmp_path / "sweep-kernel_size.csv").exists()
    with open(tmp_path / "sweep-kernel_size.csv") as handle:
        table = list(csv.DictReader(handle))
    assert all(r["torch_ms"] == "nan" for r in table)


@pytest.mark.parametrize("argv", [["sweep", "kernal"], ["sweep", "stride", "--repeats", "0"],
                                  ["sweep", "stride", "--threads", "0"]])
def test_cli_sweep_bad_input(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("convwise sweep: error:")
