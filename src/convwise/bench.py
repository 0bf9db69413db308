"""Benchmark convwise against PyTorch on a fixed suite of layers (``convwise bench``).

The suite lives in ``benchmarks/suite.toml`` (``[[layer]]`` entries; ``[[quick]]`` for a
fast smoke run). Every layer is run by convwise and by torch (when installed) in the
same process with the same thread count, interleaved in blocks (ABBA per layer, a short
pause and a warm-up call before each block, see ``_time_pair``) so that both see the same
machine load; the median of about ``repeat`` timed calls per library is reported. The machine's sgemm
rate (``np.matmul`` of two 2048x2048 float32 matrices) is measured in the same run, so each layer's effective GFLOP/s can be
shown as a percentage of what BLAS reaches on a large square product.

Backward layers (``op = "conv2d_backward"``) time input + weight gradients:
``convwise.functional.conv_nd_backward`` against ``torch.autograd.grad`` on a forward
graph built before timing. An op convwise (or torch) lacks is reported as ``n/a``.

>>> from convwise.bench import load_suite
>>> [layer["op"] for layer in load_suite(quick=True)][:2]
['conv2d', 'conv2d']
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, published as tomli
    import tomli as tomllib  # type: ignore[no-redef]
from typing import Any

import numpy as np

from . import arithmetic
from ._config import config, get_config

__all__ = ["load_suite", "default_suite_path", "run_suite", "sgemm_gflops", "format_table", "layer_flops", "PEERS"]

#: Engines ``run_suite(against=...)`` can time beside torch.
PEERS = ("onnxruntime",)


def default_suite_path() -> Path:
    """``benchmarks/suite.toml`` of the source checkout (or ``$CONVWISE_BENCH_SUITE``)."""
    override = os.environ.get("CONVWISE_BENCH_SUITE")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "benchmarks" / "suite.toml"


def load_suite(path: str | os.PathLike | None = None, *, quick: bool = False,
               filter: str | None = None) -> list[dict]:
    """Layers of the suite file (``quick``: the ``[[quick]]`` ones), optionally filtered by a name substring."""
    path = Path(path) if path is not None else default_suite_path()
    if not path.is_file():
        raise ValueError(f"bench: suite file {str(path)!r} not found (pass --suite PATH)")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"bench: suite file {str(path)!r} is not valid TOML: {error}") from None
    layers = data.get("quick" if quick else "layer", [])
    for layer in layers:
        for key in ("name", "op", "input"):
            if key not in layer:
                raise ValueError(f"bench: suite layer {layer!r} lacks {key!r}")
        layer.setdefault("kwargs", {})
    if filter:
        layers = [layer for layer in layers if filter.lower() in layer["name"].lower() or filter == layer["op"]]
    return layers


def sgemm_gflops(size: int = 2048, repeat: int = 5) -> float:
    """This machine's float32 GEMM rate: median over ``repeat`` products of two ``size^2`` matrices."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - start)
    return 2.0 * size**3 / statistics.median(times) / 1e9


# --------------------------------------------------------------------------- per layer


def _tuple(value, n):
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * n


def layer_flops(layer: dict) -> float:
    """Floating-point operations of a layer (2 per multiply-add; a max-pool counts 1 per comparison)."""
    op, x_shape, kw = layer["op"], layer["input"], layer["kwargs"]
    spatial = len(x_shape) - 2
    if op.startswith("max_pool") or op.startswith("avg_pool"):
        kernel = _tuple(kw["kernel_size"], spatial)
        out = arithmetic.pool_output_size(x_shape[2:], kernel, kw.get("stride"), kw.get("padding", 0),
                                          kw.get("dilation", 1), kw.get("ceil_mode", False))
        return float(x_shape[0] * x_shape[1] * math.prod(out) * math.prod(kernel))
    w_shape = layer["weight"]
    groups = kw.get("groups", 1)
    if op.startswith("conv_transpose"):
        macs = arithmetic.conv_transpose_macs(w_shape[0], w_shape[1] * groups, w_shape[2:], x_shape[2:],
                                              groups=groups, batch=x_shape[0])
        return 2.0 * macs
    out = arithmetic.conv_output_size(x_shape[2:], w_shape[2:], kw.get("stride", 1), kw.get("padding", 0),
                                      kw.get("dilation", 1))
    macs = arithmetic.conv_macs(x_shape[1], w_shape[0], w_shape[2:], out, groups=groups, batch=x_shape[0])
    return 2.0 * macs * (2 if op.endswith("_backward") else 1)


def _method(layer: dict) -> str:
    """Name of the algorithm(s) convwise's ``auto`` picks for this layer."""
    from .algorithms import select

    op, x_shape, kw = layer["op"], tuple(layer["input"]), layer["kwargs"]
    if "weight" not in layer:
        from . import kernels

        kernel = "max_pool" if op.startswith("max_pool") else "avg_pool" if op.startswith("avg_pool") else None
        if kernel is None:
            return "-"
        return "compiled" if kernels.ready(kernel, np.float32, start=False) else "numpy"
    w_shape = tuple(layer["weight"])
    groups = kw.get("groups", 1)
    dtype = np.float32
    if op.startswith("conv_transpose"):
        transposed = arithmetic.conv_transpose_geometry(x_shape[2:], w_shape[2:], kw.get("stride", 1),
                                                        kw.get("padding", 0), kw.get("output_padding", 0),
                                                        kw.get("dilation", 1))
        return select.choose_method("transpose", x_shape, w_shape, transposed, groups, dtype)
    geometry = arithmetic.conv_geometry(x_shape[2:], w_shape[2:], kw.get("stride", 1), kw.get("padding", 0),
                                        kw.get("dilation", 1))
    if not op.endswith("_backward"):
        return select.choose_method("forward", x_shape, w_shape, geometry, groups, dtype)
    back = arithmetic.input_gradient_geometry(geometry)
    dy_shape = (x_shape[0], w_shape[0], *geometry.output_size)
    return (select.choose_method("transpose", dy_shape, w_shape, back, groups, dtype) + "+"
            + select.choose_method("weight_grad", x_shape, w_shape, geometry, groups, dtype))


def _callables(layer: dict, torch, against: tuple[str, ...] = (), threads: int = 1):
    """``(convwise_fn, torch_fn, {peer: fn})``: zero-argument callables, or None where an op is missing."""
    from . import functional as cwf

    rng = np.random.default_rng(0)
    op, kw = layer["op"], dict(layer["kwargs"])
    x = rng.standard_normal(layer["input"], dtype=np.float32)
    w = rng.standard_normal(layer["weight"], dtype=np.float32) if "weight" in layer else None
    if op.endswith("_backward"):
        base = op[: -len("_backward")]
        spatial = len(layer["input"]) - 2
        y_shape = (layer["input"][0], layer["weight"][0],
                   *arithmetic.conv_output_size(layer["input"][2:], layer["weight"][2:], kw.get("stride", 1),
                                                kw.get("padding", 0), kw.get("dilation", 1)))
        dy = rng.standard_normal(y_shape, dtype=np.float32)
        backward = getattr(cwf, "conv_nd_backward", None)
        ours = None
        if backward is not None:
            settings = (kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1), kw.get("groups", 1))
            ours = lambda: backward(dy, x, w, *settings, spatial=spatial)  # noqa: E731
        theirs = None
        if torch is not None and hasattr(torch.nn.functional, base):
            tx = torch.from_numpy(x).requires_grad_()
            tw = torch.from_numpy(w).requires_grad_()
            ty = getattr(torch.nn.functional, base)(tx, tw, **kw)
            tdy = torch.from_numpy(dy)
            theirs = lambda: torch.autograd.grad(ty, (tx, tw), tdy, retain_graph=True)  # noqa: E731
        return ours, theirs, {}
    ours_fn = getattr(cwf, op, None)
    args = (x,) if w is None else (x, w)
    ours = (lambda: ours_fn(*args, **kw)) if ours_fn is not None else None  # noqa: E731
    theirs = None
    if torch is not None and hasattr(torch.nn.functional, op):
        torch_fn = getattr(torch.nn.functional, op)
        targs = tuple(torch.from_numpy(a) for a in args)

        def theirs():
            with torch.no_grad():
                return torch_fn(*targs, **kw)
    peers = {}
    if "onnxruntime" in against:
        from .bench_onnxruntime import session_callable

        try:
            peers["onnxruntime"] = session_callable(layer, x, w, threads)
        except ValueError:
            peers["onnxruntime"] = None
    return ours, theirs, peers


# Seconds to let the other library's idle worker threads stop spinning before a block.
# OpenBLAS workers spin (sched_yield) for about 0.1 s after each call and GNU OpenMP's a
# little; measured on the 2-core dev VM, a torch conv started inside that window ran 2-10x
# slower (64->64 56x56 k3: 6-32 ms instead of 1.7-2.7 ms), and NumPy after torch ~30 %.
SETTLE_SECONDS = 0.2


def _time_pair(ours, theirs, repeat: int, settle: float = SETTLE_SECONDS, *others) -> tuple[float | None, ...]:
    """Medians (seconds) of timed calls, in blocks ABBA (ABCCBA with peers in ``others``,
    whose medians follow in the result): each block waits ``settle``
    seconds, makes one untimed warm-up call, then ``ceil(repeat / 2)`` timed calls.

    Blocks rather than call-by-call alternation: with more than one thread, a call
    straight after the other library's call measures their thread pools fighting over
    the cores (see :data:`SETTLE_SECONDS`), which no real program does; with one thread
    there are no worker threads and ``settle`` is 0. Two blocks each, in mirrored order,
    keep slow drifts of the machine's load fair to both.
    """
    everyone = (ours, theirs, *others)
    calls = [f for f in everyone if f is not None]
    samples: dict[int, list[float]] = {id(f): [] for f in calls}
    per_block = -(-repeat // 2)
    for order in (calls, calls[::-1]):
        for f in order:
            if settle and len(calls) > 1:
                time.sleep(settle)
            f()
            for _ in range(per_block):
                start = time.perf_counter()
                f()
                samples[id(f)].append(time.perf_counter() - start)
    return tuple(statistics.median(samples[id(f)]) if f is not None else None for f in everyone)


def _geomean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def run_suite(layers: list[dict], *, repeat: int = 5, threads: int | None = None, use_torch: bool = True,
              progress: bool = True, sgemm_size: int = 2048, against: tuple[str, ...] = (),
              wait_for_kernels: bool = True, compiled: bool = True) -> dict:
    """Time every layer; returns the JSON-ready report (see ``convwise bench --json``).

    ``against``: peers timed beside torch in the same blocks (``"onnxruntime"``).
    ``wait_for_kernels``: load (or compile) the numba kernels first, so that the compiled
    algorithm competes from the first layer (as after ``convwise warmup``).
    ``compiled=False`` times convwise without its numba kernels (NumPy algorithms only).
    """
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"bench: repeat must be a positive int, got repeat={repeat!r}")
    unknown = set(against) - set(PEERS)
    if unknown:
        raise ValueError(f"bench: against must name peers among {list(PEERS)}, got {sorted(unknown)}")
    if "onnxruntime" in against:
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError:
            raise ValueError("bench: --against onnxruntime needs onnx and onnxruntime "
                             "(pip install 'convwise[bench]')") from None
    from . import kernels
    from .algorithms import select

    if not compiled:
        with kernels.disabled():
            select.clear_cache()
            try:
                return run_suite(layers, repeat=repeat, threads=threads, use_torch=use_torch, progress=progress,
                                 sgemm_size=sgemm_size, against=against, wait_for_kernels=False) | {"compiled": False}
            finally:
                select.clear_cache()
    torch: Any = None
    if use_torch:                          # before the kernels: numba's OpenMP settings must not reach torch's
        try:
            import torch
        except ImportError:
            torch = None
    if wait_for_kernels:
        kernels.wait()
    threads = threads or get_config().threads
    with config(threads=threads):
        if torch is not None:
            previous_torch_threads = torch.get_num_threads()
            torch.set_num_threads(threads)
        try:
            peak = sgemm_gflops(sgemm_size)
            rows = []
            iterator: Any = layers
            if progress:
                from tqdm import tqdm

                iterator = tqdm(layers, desc="convwise bench", unit="layer", leave=False)
            for layer in iterator:
                if progress:
                    iterator.set_postfix_str(layer["name"])
                rows.append(_run_layer(layer, torch, repeat, peak, SETTLE_SECONDS if threads > 1 else 0.0,
                                       tuple(against), threads))
        finally:
            if torch is not None:
                torch.set_num_threads(previous_torch_threads)
    forward = [r["ratio"] for r in rows if r["direction"] == "forward"]
    backward = [r["ratio"] for r in rows if r["direction"] == "backward"]
    return {
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "numpy": np.__version__,
                    "torch": getattr(torch, "__version__", None)},
        "threads": threads, "repeat": repeat, "sgemm_gflops": peak, "compiled": True,
        "layers": rows,
        "geomean_ratio": {"forward": _geomean(forward), "backward": _geomean(backward)},
        "against": list(against),
        "geomean_ratio_peers": {peer: _geomean([r["peers"][peer]["ratio"] for r in rows
                                                if r["peers"].get(peer, {}).get("ratio")]) for peer in against},
    }


def _run_layer(layer: dict, torch, repeat: int, peak: float, settle: float, against: tuple[str, ...] = (),
               threads: int = 1) -> dict:
    row = {"name": layer["name"], "op": layer["op"], "input": list(layer["input"]),
           "weight": list(layer["weight"]) if "weight" in layer else None, "kwargs": dict(layer["kwargs"]),
           "direction": "backward" if layer["op"].endswith("_backward") else "forward",
           "method": None, "convwise_ms": None, "torch_ms": None, "gflops": None, "percent_of_peak": None,
           "ratio": None, "note": None, "peers": {}}
    try:
        ours, theirs, peers = _callables(layer, torch, against, threads)
    except (ValueError, TypeError) as error:
        row["note"] = f"error: {error}"
        return row
    if ours is None:
        row["note"] = f"convwise lacks {layer['op']}"
    else:
        row["method"] = _method(layer)
    names = [peer for peer in against if peers.get(peer) is not None]
    ours_s, theirs_s, *peer_s = _time_pair(ours, theirs, repeat, settle, *(peers[peer] for peer in names))
    for peer, seconds in zip(names, peer_s):
        if seconds is not None:
            row["peers"][peer] = {"ms": seconds * 1e3, "ratio": seconds / ours_s if ours_s else None}
    flops = layer_flops(layer)
    if ours_s is not None:
        row["convwise_ms"] = ours_s * 1e3
        row["gflops"] = flops / ours_s / 1e9
        row["percent_of_peak"] = 100.0 * row["gflops"] / peak if peak else None
    if theirs_s is not None:
        row["torch_ms"] = theirs_s * 1e3
    if ours_s and theirs_s:
        row["ratio"] = theirs_s / ours_s
    return row


def _num(value, digits=2):
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_table(report: dict) -> str:
    """The report as a text table with the geometric means below it."""
    from tabulate import tabulate

    peers = report.get("against", [])
    headers = ["layer", "method", "convwise ms", "torch ms", "GFLOP/s", "% sgemm", "torch/convwise"]
    for peer in peers:
        headers += [f"{peer} ms", f"{peer}/convwise"]
    body = []
    for r in report["layers"]:
        line = [r["name"], r["method"] or "-", _num(r["convwise_ms"]), _num(r["torch_ms"]), _num(r["gflops"], 1),
                _num(r["percent_of_peak"], 0), _num(r["ratio"])]
        for peer in peers:
            timing = r.get("peers", {}).get(peer, {})
            line += [_num(timing.get("ms")), _num(timing.get("ratio"))]
        body.append(line)
    means = report["geomean_ratio"]
    lines = [tabulate(body, headers=headers, tablefmt="github", disable_numparse=True), "",
             f"sgemm (2048^2 float32): {report['sgemm_gflops']:.1f} GFLOP/s, threads={report['threads']}, "
             f"median of {report['repeat']}",
             f"geometric mean torch/convwise: forward {_num(means['forward'])}, backward {_num(means['backward'])}"]
    for peer in peers:
        lines.append(f"geometric mean {peer}/convwise: forward {_num(report['geomean_ratio_peers'].get(peer))}")
    return "\n".join(lines)
