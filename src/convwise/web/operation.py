"""What the operation view shows, computed by asking convwise: a thin adapter, no formulas.

:func:`explain` answers ``POST /api/explain``. Sizes, padding, parameter and MAC counts,
receptive fields and uncovered cells come from :mod:`convwise.arithmetic`; the sliding
window from :func:`convwise.trace.trace` (the same trace the GIFs render); the numbers
(an example input, weight, output and gradients) from :mod:`convwise.functional`.

Every request is bounded by :data:`LIMITS`: arithmetic answers for sizes up to
``max_size``; the drawing (trace and numbers) only while the picture stays small enough
to look at (``max_draw_*``); beyond those the answer says why nothing is drawn.
"""

from __future__ import annotations

import math
import re

from .. import arithmetic
from ..trace import trace as make_trace

__all__ = ["OPS", "LIMITS", "explain", "error_field", "gif", "code"]

#: API op name -> (trace op, number of spatial dimensions); names as in convwise.functional
OPS = {
    "conv1d": ("conv", 1), "conv2d": ("conv", 2),
    "conv_transpose1d": ("conv_transpose", 1), "conv_transpose2d": ("conv_transpose", 2),
    "max_pool1d": ("max_pool", 1), "max_pool2d": ("max_pool", 2),
    "avg_pool1d": ("avg_pool", 1), "avg_pool2d": ("avg_pool", 2),
}

#: documented bounds that keep every request fast (also served at ``GET /api/limits``)
LIMITS = {
    "max_size": 4096,          # any input size, kernel size, stride, padding, dilation
    "max_channels": 4096,      # in_channels, out_channels, groups
    "max_draw_grid": 64,       # the drawn (padded or stretched) grid, per dimension
    "max_draw_taps": 10_000,   # output positions x kernel taps in the drawn trace
    "max_draw_channels": 16,   # channels with numbers and pictures
    "max_gif_frames": 400,     # output positions in a downloadable GIF
    "max_uncovered_walk": 200_000,  # window taps walked to list every unread input cell
}

_FIELDS = ("output_padding", "output_size", "input_size", "kernel_size", "in_channels", "out_channels", "stride", "padding",
           "dilation", "groups", "ceil_mode", "count_include_pad", "op")
_PATTERNS = [(name, re.compile(rf"\b{name}\s*=")) for name in _FIELDS] + [
    ("input_size", re.compile(r"\binput size\b|\binput=")), ("kernel_size", re.compile(r"\bkernel size\b")),
    ("padding", re.compile(r"\bpadded input\b")), ("groups", re.compile(r"\bgroups\b"))]


def error_field(message: str) -> str | None:
    """The request field a message is about: the first argument it names (``stride=2`` -> ``stride``)."""
    best = None
    for name, pattern in _PATTERNS:
        match = pattern.search(message)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), name)
    return best[1] if best else None


def _check_limits(request: dict, fn: str) -> None:
    big, channels = LIMITS["max_size"], LIMITS["max_channels"]
    for name in ("input_size", "kernel_size", "stride", "padding", "dilation", "output_padding"):
        value = request.get(name)
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, int) and v > big:
                raise ValueError(f"{fn}: {name}={value} is over the explorer's limit of {big} per dimension")
    for name in ("in_channels", "out_channels", "groups"):
        value = request.get(name)
        if isinstance(value, int) and value > channels:
            raise ValueError(f"{fn}: {name}={value} is over the explorer's limit of {channels} channels")


def _geometry(request: dict):
    """Validate with convwise.arithmetic, messages naming the op (e.g. ``conv2d: groups=3 ...``)."""
    op = request["op"]
    kind, ndim = OPS[op]
    size = request["input_size"]
    if isinstance(size, list) and len(size) not in (1, ndim):
        raise ValueError(f"{op}: input_size must be an int or {ndim} ints, got input_size={size}")
    size = arithmetic.ntuple(size, ndim, fn=op, name="input_size", minimum=1)
    stride = request.get("stride")
    if kind == "conv":
        arithmetic.check_channels(request["in_channels"], request["out_channels"], request["groups"], fn=op)
        return kind, arithmetic.conv_geometry(size, request["kernel_size"], 1 if stride is None else stride,
                                              request["padding"], request["dilation"], fn=op)
    if kind == "conv_transpose":
        arithmetic.check_channels(request["in_channels"], request["out_channels"], request["groups"], fn=op)
        return kind, arithmetic.conv_transpose_geometry(size, request["kernel_size"], 1 if stride is None else stride,
                                                        request["padding"], request["output_padding"],
                                                        request["dilation"], fn=op)
    if request["groups"] != 1:
        raise ValueError(f"{op}: pooling has no groups, got groups={request['groups']}")
    if request["out_channels"] not in (None, request["in_channels"]):
        raise ValueError(f"{op}: pooling keeps the channels: out_channels={request['out_channels']} must equal "
                         f"in_channels={request['in_channels']}")
    if isinstance(request["padding"], str):
        raise ValueError(f"{op}: padding must be an int or ints for pooling, got padding={request['padding']!r}")
    dilation = request["dilation"]
    if kind == "avg_pool" and any(d != 1 for d in arithmetic.ntuple(dilation, ndim, fn=op, name="dilation")):
        raise ValueError(f"{op}: avg_pool has no dilation (as in torch), got dilation={dilation}")
    return kind, arithmetic.pool_geometry(size, request["kernel_size"], stride, request["padding"], dilation,
                                          request["ceil_mode"], fn=op)


def _args(request: dict, kind: str) -> dict:
    """Keyword arguments for convwise.functional / torch (as the user wrote them)."""
    args = {"stride": request.get("stride"), "padding": request["padding"]}
    if kind in ("conv", "conv_transpose", "max_pool"):
        args["dilation"] = request["dilation"]
    if kind in ("conv", "conv_transpose"):
        args["groups"] = request["groups"]
        if args["stride"] is None:
            args["stride"] = 1
    if kind == "conv_transpose":
        args["output_padding"] = request["output_padding"]
    if kind in ("max_pool", "avg_pool"):
        args["ceil_mode"] = request["ceil_mode"]
    if kind == "avg_pool":
        args["count_include_pad"] = request["count_include_pad"]
    return args


_DEFAULTS = {"stride": (1, None), "padding": (0,), "dilation": (1,), "groups": (1,), "output_padding": (0,),
             "ceil_mode": (False,), "count_include_pad": (True,)}


def _collapse(value):
    """``[2, 2]`` -> ``2`` (as a user would write it); other values unchanged."""
    if isinstance(value, list) and value and all(v == value[0] for v in value):
        return value[0]
    return value


def _show(value) -> str:
    value = _collapse(value)
    return repr(tuple(value)) if isinstance(value, list) else repr(value)


def code(request: dict, kind: str, geometry) -> dict:
    """Equivalent convwise and PyTorch code (only non-default arguments are written)."""
    op, ndim = request["op"], OPS[request["op"]][1]
    c_in, c_out, groups = request["in_channels"], request["out_channels"], request["groups"]
    extra = [f"{k}={_show(v)}" for k, v in _args(request, kind).items() if _collapse(v) not in _DEFAULTS[k]
             and not (k == "stride" and _collapse(v) == _collapse(request["kernel_size"]) and kind.endswith("pool"))]
    size = ", ".join(map(str, geometry.input_size))
    kernel = request["kernel_size"]
    x_line = f"x = np.random.rand(1, {c_in}, {size}).astype(np.float32)"
    if kind in ("conv", "conv_transpose"):
        k = ", ".join(map(str, geometry.kernel_size))
        w_shape = f"{c_out}, {c_in // groups}, {k}" if kind == "conv" else f"{c_in}, {c_out // groups}, {k}"
        w_line = f"w = np.random.rand({w_shape}).astype(np.float32)"
        call = f"y = cw.{op}(x, w" + "".join(f", {e}" for e in extra) + ")"
        module = ("Conv" if kind == "conv" else "ConvTranspose") + f"{ndim}d"
        layer = f"layer = torch.nn.{module}({c_in}, {c_out}, kernel_size={_show(kernel)}" + \
            "".join(f", {e}" for e in extra) + ")"
        lines = ["import numpy as np", "import convwise as cw", "", x_line, w_line, call]
    else:
        call = f"y = cw.{op}(x, kernel_size={_show(kernel)}" + "".join(f", {e}" for e in extra) + ")"
        module = ("MaxPool" if kind == "max_pool" else "AvgPool") + f"{ndim}d"
        layer = f"layer = torch.nn.{module}(kernel_size={_show(kernel)}" + "".join(f", {e}" for e in extra) + ")"
        lines = ["import numpy as np", "import convwise as cw", "", x_line, call]
    out = ", ".join(map(str, (1, c_out, *geometry.output_size)))
    lines[-1] += f"  # shape ({out})"
    torch_lines = ["import torch", "", layer, f"y = layer(torch.rand(1, {c_in}, {size}))  # torch.Size([{out}])"]
    return {"convwise": "\n".join(lines), "pytorch": "\n".join(torch_lines)}


def _numbers(request: dict, kind: str, geometry) -> dict:
    """An example input and weight (small integers, seeded) and what convwise computes from them."""
    import numpy as np

    from .. import functional as F

    op, ndim = request["op"], OPS[request["op"]][1]
    rng = np.random.default_rng(request["seed"])
    c_in, c_out, groups = request["in_channels"], request["out_channels"], request["groups"]
    x = rng.integers(1, 10, (1, c_in, *geometry.input_size)).astype(np.float64)  # 0 would look like padding
    args = _args(request, kind)
    result = {"input": x[0].tolist()}
    if kind in ("conv", "conv_transpose"):
        w_shape = (c_out, c_in // groups) if kind == "conv" else (c_in, c_out // groups)
        w = rng.choice(np.array([-1.0, 1.0, 2.0]), (*w_shape, *geometry.kernel_size))  # no zeros: every product shows
        y = getattr(F, op)(x, w, None, **args)
        dy = rng.choice(np.array([-2.0, -1.0, 1.0, 2.0]), y.shape)
        if kind == "conv":
            gx, gw, _ = F.conv_nd_backward(dy, x, w, args["stride"], args["padding"], args["dilation"], groups,
                                           spatial=ndim, needs=(True, True, False))
        else:
            gx, gw, _ = F.conv_transpose_nd_backward(dy, x, w, args["stride"], args["padding"],
                                                     args["output_padding"], groups, args["dilation"], spatial=ndim,
                                                     needs=(True, True, False))
        result.update(weight=w.tolist(), output=y[0].tolist(), grad_output=dy[0].tolist(),
                      grad_input=gx[0].tolist(), grad_weight=gw.tolist())
    else:
        y = getattr(F, op)(x, request["kernel_size"], **args)
        result.update(weight=None, output=y[0].tolist())
    return result


def _too_large(request: dict, geometry) -> str | None:
    """Why the view is not drawn (None when it may be: the trace's grid is checked once built)."""
    taps = math.prod(geometry.output_size) * math.prod(geometry.kernel_size)
    channels = max(request["in_channels"], request["out_channels"])
    if taps > LIMITS["max_draw_taps"]:
        return (f"not drawn: {taps:,} window taps, over the drawing limit of {LIMITS['max_draw_taps']:,}; "
                f"the sizes above are exact")
    if channels > LIMITS["max_draw_channels"]:
        return (f"not drawn: {channels} channels, over the drawing limit of {LIMITS['max_draw_channels']}; "
                f"the sizes above are exact")
    return None


def _grid_too_large(traced) -> str | None:
    if max(traced.grid_size) > LIMITS["max_draw_grid"]:
        return (f"not drawn: the grid would be {'x'.join(map(str, traced.grid_size))} cells, over the drawing "
                f"limit of {LIMITS['max_draw_grid']} per side; the sizes above are exact")
    return None


def _trace(request: dict, kind: str):
    return make_trace(request["input_size"], request["kernel_size"], request.get("stride"), request["padding"],
                      request["dilation"], op=kind, groups=request["groups"] if kind.startswith("conv") else 1,
                      in_channels=request["in_channels"],
                      out_channels=request["out_channels"] if kind.startswith("conv") else None,
                      output_padding=request["output_padding"] if kind == "conv_transpose" else 0,
                      ceil_mode=request["ceil_mode"] if kind.endswith("pool") else False,
                      count_include_pad=request["count_include_pad"])


def _normalise(request: dict) -> dict:
    request = dict(request)
    kind = OPS[request["op"]][0]
    if request.get("out_channels") is None:
        request["out_channels"] = request["in_channels"]
    if kind.endswith("pool") and request.get("stride") is None:
        request["stride"] = None
    return request


def explain(request: dict) -> dict:
    """The answer of ``POST /api/explain`` for a validated request dict (see :mod:`.api`)."""
    op = request["op"]
    if op not in OPS:
        raise ValueError(f"explain: op must be one of {', '.join(OPS)}, got op={op!r}")
    _check_limits(request, op)
    request = _normalise(request)
    kind, ndim = OPS[op]
    kind, geometry = _geometry(request)
    c_in, c_out, groups = request["in_channels"], request["out_channels"], request["groups"]
    answer: dict = {
        "op": op, "kind": kind, "ndim": ndim,
        "input_size": list(geometry.input_size), "output_size": list(geometry.output_size),
        "kernel_size": list(geometry.kernel_size), "stride": list(geometry.stride),
        "padding": [list(p) for p in geometry.padding], "dilation": list(geometry.dilation),
        "effective_kernel": list(geometry.effective_kernel),
        "in_channels": c_in, "out_channels": c_out, "groups": groups,
        "input_shape": [1, c_in, *geometry.input_size], "output_shape": [1, c_out, *geometry.output_size],
        "steps": math.prod(geometry.output_size),
        "formula": arithmetic.explain(geometry),
        "code": code(request, kind, geometry),
    }
    if kind in ("conv", "conv_transpose"):
        answer["params"] = arithmetic.conv_params(c_in, c_out, geometry.kernel_size, groups, True, fn=op, ndim=ndim)
        answer["weight_shape"] = [c_out, c_in // groups, *geometry.kernel_size] if kind == "conv" else \
            [c_in, c_out // groups, *geometry.kernel_size]
    else:
        answer["params"] = 0
        answer["weight_shape"] = None
    if kind == "conv":
        answer["macs"] = arithmetic.conv_macs(c_in, c_out, geometry.kernel_size, geometry.output_size, groups, fn=op)
    elif kind == "conv_transpose":
        answer["macs"] = arithmetic.conv_transpose_macs(c_in, c_out, geometry.kernel_size, geometry.input_size,
                                                        groups, fn=op)
        answer["output_padding"] = list(geometry.output_padding)
        answer["output_padding_range"] = [[r.start, r.stop - 1] for r in arithmetic.output_padding_range(
            geometry.stride, geometry.dilation, ndim=ndim, fn=op)]
        answer["stretched_size"] = list(geometry.stretched_size)
    else:  # one comparison (or addition) per tap per output
        answer["macs"] = c_out * math.prod(geometry.output_size) * math.prod(geometry.kernel_size)
    if kind == "conv_transpose":
        answer["receptive_field"] = None
        answer["uncovered"] = None
    else:
        field = arithmetic.receptive_field([{"kernel_size": geometry.kernel_size, "stride": geometry.stride,
                                             "padding": geometry.padding, "dilation": geometry.dilation}],
                                           ndim, fn=op)[-1]
        answer["receptive_field"] = {"size": list(field.size), "jump": list(field.jump), "start": list(field.start)}
        # listing every unread cell walks every tap of every window: only while that is quick
        walk = sum(o * k for o, k in zip(geometry.output_size, geometry.kernel_size))
        answer["uncovered"] = {"trailing": [list(r) for r in arithmetic.uncovered_input(geometry)],
                               "cells": [list(c) for c in arithmetic.uncovered_cells(geometry)]
                               if walk <= LIMITS["max_uncovered_walk"] else None}
    answer["ceil_mode"] = bool(getattr(geometry, "ceil_mode", False))
    reason = _too_large(request, geometry)
    traced = None
    if reason is None:
        traced = _trace(request, kind)
        reason = _grid_too_large(traced)
    answer["not_drawn"] = reason
    answer["trace"] = answer["values"] = answer["grid"] = answer["channels"] = None
    if traced is not None and reason is None:
        # per output channel, the input channels it reads (its group's)
        answer["channels"] = [[co] for co in range(c_out)] if kind.endswith("pool") else \
            [[g * (c_in // groups) + j for j in range(c_in // groups)]
             for g in (co // (c_out // groups) for co in range(c_out))]
        answer["trace"] = traced.to_dict()
        cells = list(traced.cells())
        answer["grid"] = {"kinds": [traced.cell_kind(cell) for cell in cells],
                          "sources": [None if (src := traced.source_of(cell)) is None else list(src) for cell in cells]}
        answer["values"] = _numbers(request, kind, geometry)
    return answer


def gif(request: dict) -> bytes:
    """The GIF of :mod:`convwise.viz.animate` for this request, as bytes."""
    import os
    import tempfile

    from ..viz.animate import animate

    op = request["op"]
    _check_limits(request, op)
    request = _normalise(request)
    kind, geometry = _geometry(request)
    reason = _too_large(request, geometry)
    traced = None
    if reason is None:
        traced = _trace(request, kind)
        reason = _grid_too_large(traced)
    if reason is None and math.prod(geometry.output_size) > LIMITS["max_gif_frames"]:
        reason = f"{math.prod(geometry.output_size)} frames, over the GIF limit of {LIMITS['max_gif_frames']}"
    if reason is not None or traced is None:
        raise ValueError(f"{op}: no GIF: {(reason or '').removeprefix('not drawn: ')}")
    with tempfile.TemporaryDirectory(prefix="convwise-gif-") as folder:
        path = os.path.join(folder, f"{op}.gif")
        animate(traced, path, seed=request["seed"])
        with open(path, "rb") as handle:
            return handle.read()
