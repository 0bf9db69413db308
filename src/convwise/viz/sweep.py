"""How each hyperparameter of a 2-D convolution moves its parameter count and its time.

For one hyperparameter at a time (the others held at a base configuration) this
measures :func:`convwise.conv2d`'s forward time (median of a few runs; torch's beside it
when torch is installed) and asks :mod:`convwise.arithmetic` for the output size,
parameter count (:func:`~convwise.arithmetic.conv_params`) and multiply-accumulates
(:func:`~convwise.arithmetic.conv_macs`). The result is a list of rows, written as a
CSV and drawn as a four-panel PNG: parameters | MACs and output size | receptive field
(of one layer and of two stacked) | measured time.

Rules of the figures: powers of two (channels, groups) go on a log2 axis; every line
has its own marker and dash, and quantities of different scale get their own axis; the
base configuration is in the title. The kernel-size sweep keeps the output size by
using ``padding = dilation*(k-1)/2`` ("same"), and says so.

What theory says, and the figures show: parameters grow linearly with the channel counts
and with the kernel area, do not depend on stride, padding or dilation, and fall as
``1/groups``; time follows the MACs: it falls with the stride (fewer output positions)
and grows with padding (more of them).

>>> [row["params"] for row in sweep("groups", quick=True, measure=False)]
[148, 76, 40]
"""

from __future__ import annotations

import csv
import functools
import math
import os
import statistics
import time

from .. import arithmetic
from ..notation import format_shape

__all__ = ["PARAMETERS", "BASE", "QUICK_BASE", "parameter_name", "values_for", "sweep", "write_csv", "plot", "figure",
           "sweep_all", "FIGURE_SIZE"]

#: the base configuration every sweep varies one hyperparameter of
BASE = {"batch": 4, "size": 32, "in_channels": 16, "out_channels": 16, "kernel_size": 3, "stride": 1, "padding": 1,
        "dilation": 1, "groups": 1}
QUICK_BASE = {"batch": 1, "size": 12, "in_channels": 4, "out_channels": 4, "kernel_size": 3, "stride": 1,
              "padding": 1, "dilation": 1, "groups": 1}
PARAMETERS = {
    "in_channels": ([1, 2, 4, 8, 16, 32, 64], [1, 2, 4, 8]),
    "out_channels": ([1, 2, 4, 8, 16, 32, 64], [1, 2, 4, 8]),
    "kernel_size": ([1, 3, 5, 7, 9, 11], [1, 3, 5, 7]),
    "stride": ([1, 2, 3, 4, 5], [1, 2, 3, 4]),
    "padding": ([0, 1, 2, 4, 6, 8], [0, 1, 2, 4]),
    "dilation": ([1, 2, 3, 4, 5], [1, 2, 3, 4]),
    "groups": ([1, 2, 4, 8, 16], [1, 2, 4]),
}
_ALIASES = {"kernel": "kernel_size", "k": "kernel_size", "in": "in_channels", "out": "out_channels",
            "channels": "in_channels", "group": "groups", "strides": "stride", "pad": "padding"}
#: figure size in pixels (width, height)
FIGURE_SIZE = (1400, 420)
COLUMNS = ["parameter", "value", "batch", "size", "in_channels", "out_channels", "kernel_size", "stride", "padding",
           "dilation", "groups", "output_size", "params", "macs", "rf", "rf_two_layers", "convwise_ms", "torch_ms",
           "clock"]
#: swept values that are powers of two are drawn on a log2 axis
LOG2_PARAMETERS = ("in_channels", "out_channels", "groups")


def parameter_name(name: str) -> str:
    """Canonical hyperparameter name (``kernel`` -> ``kernel_size``); ValueError if unknown."""
    if not isinstance(name, str):
        raise TypeError(f"sweep: parameter must be a string, got {type(name).__name__}")
    key = _ALIASES.get(name.lower().replace("-", "_"), name.lower().replace("-", "_"))
    if key not in PARAMETERS:
        raise ValueError(f"sweep: parameter must be one of {', '.join(PARAMETERS)} (or all), got {name!r}")
    return key


def values_for(name: str, quick: bool = False) -> list[int]:
    full, small = PARAMETERS[parameter_name(name)]
    return list(small if quick else full)


_CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _median_ms(fn, repeats: int, clock: str = "wall") -> float:
    timer = _CLOCKS[clock]
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = timer()
        fn()
        times.append(timer() - start)
    return 1000 * statistics.median(times)


def _have_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def sweep(parameter: str, values=None, *, quick: bool = False, repeats: int | None = None, use_torch=None,
          measure: bool = True, threads: int | None = None, clock: str = "wall", progress=None,
          seed: int = 0) -> list[dict]:
    """Rows of one sweep: the configuration, output size, params, MACs and times in ms.

    ``use_torch=None`` times torch when it is installed; ``measure=False`` skips timing
    (the time columns are then NaN). Both libraries run with the same number of
    ``threads`` (default: ``convwise.get_config().threads``; 1 with ``quick``, where
    sizes are too small for threads to pay). ``clock="wall"`` times elapsed time;
    ``clock="cpu"`` the process's CPU time, which a busy machine does not inflate (with
    ``threads=1`` it is the compute time itself). ``progress`` is called once per value
    (tqdm's ``update``).
    """
    if clock not in _CLOCKS:
        raise ValueError(f"sweep: clock must be 'wall' or 'cpu', got {clock!r}")
    from .._config import config, get_config

    if threads is None:
        threads = 1 if quick else get_config().threads
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"sweep: threads must be a positive int, got {threads!r}")
    torch_threads = None
    if measure and (use_torch or (use_torch is None and _have_torch())):
        import torch

        torch_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
    try:
        with config(threads=threads):
            return _sweep(parameter, values, quick, repeats, use_torch, measure, clock, progress, seed)
    finally:
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)


def _sweep(parameter, values, quick, repeats, use_torch, measure, clock, progress, seed) -> list[dict]:
    import numpy as np

    from .. import functional as F

    name = parameter_name(parameter)
    values = values_for(name, quick) if values is None else list(values)
    base = dict(QUICK_BASE if quick else BASE)
    repeats = (3 if quick else 5) if repeats is None else repeats
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"sweep: repeats must be a positive int, got {repeats!r}")
    if use_torch is None:
        use_torch = measure and _have_torch()
    if use_torch and measure:
        import torch
    rng = np.random.default_rng(seed)
    rows = []
    for value in values:
        config = dict(base, **{name: value})
        if name == "groups":  # keep both channel counts divisible
            config["in_channels"] = config["out_channels"] = max(base["in_channels"], value)
        if name == "kernel_size":  # 'same' padding: the output keeps its size, only the kernel changes
            config["padding"] = config["dilation"] * (value - 1) // 2
        size, k = config["size"], config["kernel_size"]
        geometry = arithmetic.conv_geometry((size, size), k, config["stride"], config["padding"], config["dilation"],
                                            fn="sweep")
        c_in, c_out, groups = config["in_channels"], config["out_channels"], config["groups"]
        layer = {"kernel_size": k, "stride": config["stride"], "padding": config["padding"],
                 "dilation": config["dilation"]}
        fields = arithmetic.receptive_field([layer, layer], ndim=1, fn="sweep")
        row = {"parameter": name, "value": value, **config,
               "rf": fields[0].size[0], "rf_two_layers": fields[1].size[0],
               "output_size": geometry.output_size[0],
               "params": arithmetic.conv_params(c_in, c_out, (k, k), groups, fn="sweep"),
               "macs": arithmetic.conv_macs(c_in, c_out, (k, k), geometry.output_size, groups,
                                            batch=config["batch"], fn="sweep"),
               "convwise_ms": math.nan, "torch_ms": math.nan, "clock": clock}
        if measure:
            x = rng.standard_normal((config["batch"], c_in, size, size)).astype(np.float32)
            w = rng.standard_normal((c_out, c_in // groups, k, k)).astype(np.float32)
            b = rng.standard_normal(c_out).astype(np.float32)
            options = dict(stride=config["stride"], padding=config["padding"], dilation=config["dilation"],
                           groups=groups)
            row["convwise_ms"] = _median_ms(functools.partial(F.conv2d, x, w, b, **options), repeats, clock)
            if use_torch:
                tx, tw, tb = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
                with torch.no_grad():
                    row["torch_ms"] = _median_ms(functools.partial(torch.nn.functional.conv2d, tx, tw, tb, **options),
                                                 repeats, clock)
        rows.append(row)
        if progress is not None:
            progress(1)
    return rows


def write_csv(rows: list[dict], path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: (f"{row[key]:.6g}" if isinstance(row[key], float) else row[key]) for key in COLUMNS})


def describe_base(rows: list[dict]) -> str:
    """The configuration the sweep holds fixed, in the one notation (``input 16x32x32``)."""
    name, row = rows[0]["parameter"], rows[0]
    parts = [f"batch {row['batch']}"]
    if name != "in_channels":
        parts.append(f"input {format_shape((row['in_channels'], row['size'], row['size']))}")
    else:
        parts.append(f"input Cx{row['size']}x{row['size']}")
    for key in ("out_channels", "kernel_size", "stride", "padding", "dilation", "groups"):
        if key == name:
            continue
        if key == "padding" and name == "kernel_size":
            parts.append("padding (k-1)/2 ('same': output stays the input size)")
        elif key in ("in_channels", "out_channels") and name == "groups":
            continue
        else:
            parts.append(f"{key} {row[key]}")
    if name == "groups":
        parts.append("channels max(16, groups) in and out")
    return ", ".join(parts)


def plot(rows: list[dict], path) -> None:
    """Four panels against the swept value: parameters | MACs and output size | receptive field | time."""
    import matplotlib.pyplot as plt

    fig = figure(rows)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def figure(rows: list[dict]):
    """The matplotlib figure :func:`plot` saves (the caller closes it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator

    name = rows[0]["parameter"]
    values = [row["value"] for row in rows]
    dpi = 100
    fig, (p_axis, m_axis, r_axis, t_axis) = plt.subplots(1, 4, figsize=(FIGURE_SIZE[0] / dpi, FIGURE_SIZE[1] / dpi),
                                                         dpi=dpi)
    p_axis.plot(values, [row["params"] for row in rows], "o-", color="tab:blue", label="parameters")
    p_axis.set_ylabel("parameters (weights + bias)")
    p_axis.set_title("parameters", fontsize=10)
    top = max(row["macs"] for row in rows)
    scale, unit = next(((s, u) for s, u in ((1e9, "billions"), (1e6, "millions"), (1e3, "thousands")) if top >= s),
                       (1, ""))
    m_axis.plot(values, [row["macs"] / scale for row in rows], "s--", color="tab:gray", label="MACs")
    m_axis.set_ylabel(f"MACs ({unit})" if unit else "MACs")
    out_axis = m_axis.twinx()
    out_axis.plot(values, [row["output_size"] for row in rows], "^:", color="tab:green", label="output size")
    out_axis.set_ylabel("output size (per side)", color="tab:green")
    out_axis.set_ylim(0, 1.6 * max(row["output_size"] for row in rows))  # room above for the legend
    m_axis.set_title("MACs  ·  output size (right axis)", fontsize=10)
    handles = m_axis.get_lines() + out_axis.get_lines()
    m_axis.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="upper left")
    r_axis.plot(values, [row["rf"] for row in rows], "D-", color="tab:purple", label="one layer")
    r_axis.plot(values, [row["rf_two_layers"] for row in rows], "v--", color="tab:pink", label="two stacked layers")
    r_axis.set_ylabel("receptive field (input cells per side)")
    r_axis.set_title("receptive field", fontsize=10)
    r_axis.legend(fontsize=8, loc="best")
    t_axis.plot(values, [row["convwise_ms"] for row in rows], "p-", color="tab:orange", label="convwise.conv2d")
    if any(not math.isnan(row["torch_ms"]) for row in rows):
        t_axis.plot(values, [row["torch_ms"] for row in rows], "^--", color="tab:red", label="torch conv2d")
    t_axis.set_ylabel(f"forward time (ms, median{', CPU' if rows[0].get('clock') == 'cpu' else ''})")
    t_axis.set_title("measured forward time", fontsize=10)
    t_axis.legend(fontsize=8, loc="best")
    for axis in (p_axis, m_axis, r_axis, t_axis):
        if name in LOG2_PARAMETERS:
            axis.set_xscale("log", base=2)
            axis.set_xlim(min(values) / 1.3, max(values) * 1.3)
        else:
            axis.set_xlim(min(values) - 0.5, max(values) + 0.5)
        axis.xaxis.set_major_locator(FixedLocator(values))
        axis.xaxis.set_minor_locator(NullLocator())
        axis.set_xticklabels([str(v) for v in values])
        axis.set_xlabel(name + ("  (log2 axis)" if name in LOG2_PARAMETERS else ""))
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
    fig.suptitle(f"conv2d: varying {name}    base: {describe_base(rows)}", fontsize=10)
    fig.tight_layout()
    return fig


def sweep_all(directory, parameters=None, *, quick: bool = False, repeats: int | None = None, use_torch=None,
              threads: int | None = None, clock: str = "wall", progress: bool = True) -> list[str]:
    """Sweep every (or the given) hyperparameter; writes ``sweep-<name>.png``/``.csv``. Returns the paths."""
    names = [parameter_name(p) for p in (parameters or list(PARAMETERS))]
    os.makedirs(directory, exist_ok=True)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=sum(len(values_for(n, quick)) for n in names), desc="sweep", unit="config")
    paths = []
    try:
        for name in names:
            if bar is not None:
                bar.set_postfix_str(name)
            rows = sweep(name, quick=quick, repeats=repeats, use_torch=use_torch, threads=threads,
                         clock=clock, progress=bar.update if bar is not None else None)
            png, table = (os.path.join(directory, f"sweep-{name}.{ext}") for ext in ("png", "csv"))
            plot(rows, png)
            write_csv(rows, table)
            paths += [png, table]
    finally:
        if bar is not None:
            bar.close()
    return paths
