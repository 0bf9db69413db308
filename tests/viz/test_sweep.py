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


def test_kernel_sweep_keeps_the_output_size_and_says_so():
    rows = viz.sweep("kernel_size", measure=False)
    assert [row["padding"] for row in rows] == [(k - 1) // 2 for k in viz.values_for("kernel_size")]
    # torch agrees the output keeps the input's size
    for row in rows:
        layer = torch.nn.Conv2d(1, 1, row["kernel_size"], padding=row["padding"])
        assert layer(torch.zeros(1, 1, row["size"], row["size"])).shape[-1] == row["output_size"] == row["size"]
    assert "padding (k-1)/2" in viz.describe_base(rows)


def _torch_receptive_field(row, layers):
    """Input cells (per side) that reach the centre output unit: where its gradient is non-zero."""
    size = 41
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    y = x
    for _ in range(layers):
        y = torch.nn.functional.conv2d(y, torch.ones(1, 1, row["kernel_size"], row["kernel_size"]),
                                       stride=row["stride"], padding=row["padding"], dilation=row["dilation"])
    centre = y.shape[-1] // 2
    y[0, 0, centre, centre].backward()
    support = (x.grad[0, 0] != 0).any(dim=0).nonzero().ravel()
    return int(support.max() - support.min() + 1)


@pytest.mark.parametrize("parameter", ["dilation", "stride", "kernel_size"])
def test_receptive_field_rows_match_gradient_support(parameter):
    for row in viz.sweep(parameter, measure=False):
        assert row["rf"] == _torch_receptive_field(row, 1)
        assert row["rf_two_layers"] == _torch_receptive_field(row, 2)


@pytest.mark.parametrize("parameter, log2", [("in_channels", True), ("groups", True), ("stride", False),
                                             ("dilation", False)])
def test_figure_axes_lines_and_title(parameter, log2):
    import matplotlib.pyplot as plt

    rows = viz.sweep(parameter, measure=False)
    fig = viz.figure(rows)
    try:
        axes = fig.axes
        assert all(axis.get_xscale() == ("log" if log2 else "linear") for axis in axes)
        ticks = [float(t) for t in axes[0].get_xticks()]
        assert ticks == [float(v) for v in viz.values_for(parameter)]
        # every line is told apart by its marker and dash, not only its colour
        lines = [line for axis in axes for line in axis.get_lines()]
        styles = [(line.get_marker(), line.get_linestyle()) for line in lines]
        assert len(set(styles)) == len(styles)
        title = fig._suptitle.get_text()
        assert f"varying {parameter}" in title and "base: batch 4" in title and parameter + " " not in \
            title.split("base:")[1]
        assert any("receptive field" in axis.get_title() for axis in axes)
    finally:
        plt.close(fig)
