"""``convwise shape``: output shapes with the formula filled in, parameters, MACs,
receptive field and the input cells no window reads, for one layer or a chain.

A thin adapter over :mod:`convwise.arithmetic`: it parses the command line, asks
arithmetic for every size and count, and formats the answers; no formula lives here.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, field
from typing import Any, cast

from .. import arithmetic as ar
from ..layer_kinds import KINDS, WINDOW_KINDS, kind_of
from ..layer_walk import window_step
from ..notation import (
    format_padding,
    format_shape,
    format_sizes,
    parse_ints,
    parse_padding,
)
from . import _solve

__all__ = ["register", "run", "parse_input", "parse_layer"]

_DESCRIPTION = """\
Print the output shape of a convolution or pooling layer (or a chain of them) with the
size formula filled in step by step, the parameter count, the multiply-accumulates
(MACs), the receptive field, and a warning naming the input rows/columns that no window
ever reads."""

_EPILOG = """\
input size (numbers joined by 'x' or ','; the last ones are spatial):
  227            1 number:  L           (1-D, spatial only)
  32x64          2 numbers: H W         (2-D, spatial only)
  3x227x227      3 numbers: C H W       (channels, then 2-D)
  1x3x227x227    4 numbers: N C H W     (batch, channels, then 2-D)
  1x1x8x32x32    5 numbers: N C D H W   (batch, channels, then 3-D)
  --spatial N says how many trailing numbers are spatial (1-3); one number before them
  is the channel count, two are batch and channels:  --spatial 3 4x8x8x8 -> C D H W.
  Without channels, in_channels is taken as 1 (and the report says so).

one layer: the options -k/-s/-p/-d/-g/-o, --transposed/--output-padding, --pool/--ceil-mode.
  Per-dimension values are joined by 'x' (or ',' in options): -k 5x3 is a 5 (H) by 3 (W) kernel.
  --padding takes a number, per-dimension numbers (2x1), (lo,hi) pairs ((0,1) for every
  dimension, (0,1)x(1,1) per dimension), 'same' or 'valid'. Output writes padding the same way.

a chain: one LAYER spec per layer, as positional arguments or with --layer (not both):
  KIND key=value ...     KIND: conv | convT (transposed) | maxpool | avgpool
  keys: k=kernel s=stride p=padding d=dilation g=groups o=out_channels
        op=output_padding (convT)  ceil (pooling: ceil_mode)  bias=0 (no bias)
  Pooling keeps the channels, has no parameters, and its stride defaults to its kernel.
  A conv without o= keeps the channel count.

examples:
  convwise shape 227 -k 11 -s 4
  convwise shape 3x7x7 -k 3 -s 2 -p 1 -d 2 -o 8
  convwise shape 32x32 -k 4 -p same
  convwise shape 16x28x28 -k 4 -s 2 -p 1 -o 8 --transposed
  convwise shape 1x28x28 "conv k=5 o=5" "maxpool k=2"
  convwise shape 1x28x28 --layer "conv k=5 o=5" --layer "maxpool k=2" --json"""

#: the layer kinds this command computes: the window kinds of the shared table
_KINDS = WINDOW_KINDS
_KEYS = {
    "k": "kernel", "kernel": "kernel", "kernel_size": "kernel",
    "s": "stride", "stride": "stride",
    "p": "padding", "padding": "padding", "pad": "padding",
    "d": "dilation", "dilation": "dilation",
    "g": "groups", "groups": "groups",
    "o": "out_channels", "out": "out_channels", "out_channels": "out_channels",
    "op": "output_padding", "output_padding": "output_padding",
    "ceil": "ceil_mode", "ceil_mode": "ceil_mode",
    "bias": "bias",
}
#: the command's key names -> torch's; what each kind accepts comes from the shared table
_TORCH_NAMES = {"kernel": "kernel_size", "stride": "stride", "padding": "padding", "dilation": "dilation",
                "groups": "groups", "out_channels": "out_channels", "output_padding": "output_padding",
                "ceil_mode": "ceil_mode", "bias": "bias"}
_ALLOWED = {kind: {key for key, torch in _TORCH_NAMES.items() if torch in KINDS[kind].keys} for kind in _KINDS}
_OPTION_NAMES = {"kernel": "--kernel", "stride": "--stride", "padding": "--padding", "dilation": "--dilation",
                 "groups": "--groups", "out_channels": "--out-channels", "output_padding": "--output-padding",
                 "ceil_mode": "--ceil-mode", "bias": "--no-bias"}
_DIM_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
_NOUNS = {"L": ("position", "positions"), "D": ("depth slice", "depth slices"), "H": ("row", "rows"),
          "W": ("column", "columns")}


# --------------------------------------------------------------------------- parsing


@dataclass
class Layer:
    """One layer as written on the command line (values still strings)."""

    kind: str
    values: dict = field(default_factory=dict)   # canonical key -> str (or bool for ceil_mode/bias)
    written: dict = field(default_factory=dict)  # canonical key -> how the user spelled it
    text: str = ""


@dataclass(frozen=True)
class InputShape:
    batch: int | None
    channels: int | None
    spatial: tuple[int, ...]


def parse_input(text: str, spatial: int | None = None) -> InputShape:
    """Split an input size such as ``3x227x227`` into batch, channels and spatial sizes."""
    parsed = parse_ints(text, fn="shape", name="INPUT", minimum=1)
    numbers = [parsed] if isinstance(parsed, int) else list(parsed)
    if spatial is None:
        spatial = {1: 1, 2: 2, 3: 2, 4: 2, 5: 3}.get(len(numbers))
        if spatial is None:
            raise ValueError(f"shape: cannot tell which of the {len(numbers)} numbers in {text!r} are spatial; "
                             f"give --spatial N (1-3)")
    if not 1 <= spatial <= 3:
        raise ValueError(f"shape: --spatial must be 1, 2 or 3, got --spatial={spatial}")
    leading = len(numbers) - spatial
    if not 0 <= leading <= 2:
        raise ValueError(f"shape: input {text!r} has {len(numbers)} numbers; with --spatial={spatial} it needs "
                         f"{spatial} to {spatial + 2} (N C then the spatial sizes)")
    batch = numbers[0] if leading == 2 else None
    channels = numbers[leading - 1] if leading >= 1 else None
    return InputShape(batch, channels, tuple(numbers[leading:]))


def parse_layer(spec: str, index: int = 1) -> Layer:
    """Parse a layer spec such as ``"conv k=5 o=5 p=same"`` (see ``convwise shape --help``)."""
    tokens = [t for t in re.split(r"[\s,]+", spec.strip()) if t]
    if not tokens:
        raise ValueError(f"shape: layer {index} is empty; write e.g. 'conv k=3 o=16' or 'maxpool k=2'")
    kind = kind_of(tokens[0])
    if kind not in _KINDS:
        raise ValueError(f"shape: layer {index} {spec!r}: unknown layer kind {tokens[0]!r}; "
                         f"use conv, convT, maxpool or avgpool")
    layer = Layer(kind, text=spec.strip())
    for token in tokens[1:]:
        name, sep, value = token.partition("=")
        key = _KEYS.get(name.lower())
        if key is None:
            raise ValueError(f"shape: layer {index} {spec!r}: unknown key {name!r}; "
                             f"use k, s, p, d, g, o, op, ceil, bias")
        if key in ("ceil_mode", "bias"):
            flag = value.lower() if sep else "1"
            if flag not in ("0", "1", "true", "false", "yes", "no"):
                raise ValueError(f"shape: layer {index} {spec!r}: {name} takes 0 or 1, got {token!r}")
            value = flag in ("1", "true", "yes")
        elif not sep or not value:
            raise ValueError(f"shape: layer {index} {spec!r}: {name!r} needs a value, e.g. {name}=3")
        if key in layer.values:
            raise ValueError(f"shape: layer {index} {spec!r}: {name!r} is given twice")
        layer.values[key] = value
        layer.written[key] = name
    return layer


def _layer_from_options(args) -> Layer | None:
    given = {key: getattr(args, key) for key in _OPTION_NAMES
             if key != "bias" and getattr(args, key) not in (None, False)}
    if args.no_bias:
        given["bias"] = False
    if args.pool:
        kind = f"{args.pool}_pool"
    elif args.transposed:
        kind = "conv_transpose"
    else:
        kind = "conv"
    if args.pool and args.transposed:
        raise ValueError("shape: --pool and --transposed exclude each other")
    if not given and not args.pool and not args.transposed:
        return None
    return Layer(kind, dict(given), {key: _OPTION_NAMES[key] for key in given}, text="")


def _ints(text, *, fn: str, name: str):
    """``"5"`` -> 5, ``"5x3"`` -> (5, 3); a ValueError naming the argument otherwise (arithmetic checks signs)."""
    return parse_ints(text, fn=fn, name=name, negative=True)


def _padding(text, *, fn: str, ndim: int):
    return parse_padding(text, fn=fn, ndim=ndim)


# --------------------------------------------------------------------------- computing


@dataclass
class Result:
    """What arithmetic says about one layer."""

    index: int
    kind: str
    fn: str
    geometry: Any
    in_channels: int
    out_channels: int
    groups: int
    bias: bool
    params: int
    macs: int
    steps: list
    uncovered: tuple = ()
    trailing: tuple = ()
    out_channels_assumed: bool = False
    receptive_field: Any = None


def _compute(layer: Layer, index: int, spatial: tuple, channels: int, batch: int) -> Result:
    ndim = len(spatial)
    fn = f"{layer.kind}{ndim}d"
    for key in layer.values:
        if key not in _ALLOWED[layer.kind]:
            where = f"layer {index} {layer.text!r}" if layer.text else f"layer {index}"
            raise ValueError(f"{fn}: {layer.written[key]} does not apply to {layer.kind.replace('_', ' ')} "
                             f"({where})")
    if "kernel" not in layer.values:
        raise ValueError(f"{fn}: layer {index} needs a kernel size (-k/--kernel, or k= in a layer spec)")
    values = layer.values
    spec: dict[str, Any] = {"kernel_size": _ints(values["kernel"], fn=fn, name="kernel_size"),
                            "dilation": _ints(values.get("dilation", "1"), fn=fn, name="dilation"),
                            "padding": _padding(values.get("padding", "0"), fn=fn, ndim=ndim)}
    for key in ("stride", "groups", "out_channels", "output_padding"):
        if key in values:
            spec[key] = _ints(values[key], fn=fn, name=key)
    spec["ceil_mode"] = bool(values.get("ceil_mode", False))
    spec["bias"] = values.get("bias", True)
    step = window_step(layer.kind, spec, (channels, *spatial), batch=batch, fn=fn)
    geometry = step.geometry
    uncovered: tuple = ()
    trailing: tuple = ()
    if step.is_window_of_input:
        uncovered, trailing = ar.uncovered_cells(geometry), ar.uncovered_input(geometry)
    return Result(index, layer.kind, fn, geometry, step.in_channels, step.out_channels, step.groups, step.bias,
                  step.params, step.macs, ar.explain(geometry), uncovered, trailing,
                  layer.kind in ("conv", "conv_transpose") and "out_channels" not in values)


def _attach_receptive_fields(results: list[Result], ndim: int) -> None:
    window_layers = []
    for result in results:
        if result.kind == "conv_transpose":
            break  # its field, and every later one, is not a window of the input: "n/a"
        g = result.geometry
        window_layers.append({"kernel_size": g.kernel_size, "stride": g.stride, "padding": g.padding,
                              "dilation": g.dilation})
    for result, rf in zip(results, ar.receptive_field(window_layers, ndim=ndim, fn="shape")):
        result.receptive_field = rf


# --------------------------------------------------------------------------- formatting


def _shape(batch, channels, spatial) -> list[int]:
    return ([batch] if batch is not None else []) + ([channels] if channels is not None else []) + list(spatial)


def _x(values) -> str:
    return format_shape(values)


def _num(value) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _runs(cells, limit=8) -> str:
    runs, start = [], None
    for position, cell in enumerate(cells):
        if start is None:
            start = previous = cell
        elif cell != previous + 1:
            runs.append((start, previous))
            start = previous = cell
        else:
            previous = cell
        if position == len(cells) - 1:
            runs.append((start, previous))
    text = [str(a) if a == b else f"{a}-{b}" for a, b in runs[:limit]]
    if len(runs) > limit:
        text.append(f"... ({len(cells)} in all)")
    return ", ".join(text)


def _settings(result: Result) -> str:
    g = result.geometry
    parts = [f"kernel={format_sizes(g.kernel_size)}", f"stride={format_sizes(g.stride)}",
             f"padding={format_padding(g.padding)}"]
    if result.kind != "avg_pool":
        parts.append(f"dilation={format_sizes(g.dilation)}")
    if result.kind == "conv_transpose":
        parts.append(f"output_padding={format_sizes(g.output_padding)}")
    if result.kind in ("conv", "conv_transpose"):
        parts.append(f"groups={result.groups}")
        if not result.bias:
            parts.append("bias=False")
    else:
        parts.append(f"ceil_mode={g.ceil_mode}")
    return " ".join(parts)


def _warnings(result: Result, dims) -> list[str]:
    lines = []
    for dim, cells, trailing in zip(dims, result.uncovered, result.trailing):
        if not cells:
            continue
        singular, plural = _NOUNS[dim]
        noun = singular if len(cells) == 1 else plural
        reasons = []
        if trailing:
            reasons.append(f"the last window stops before {singular} {trailing[0]}")
        if len(cells) > len(trailing):
            reasons.append("gaps between windows or dilated taps")
        lines.append(f"warning: layer {result.index} ({result.fn}): input {noun} {_runs(cells)} ({dim}) "
                     f"never covered by any window ({'; '.join(reasons)})")
    return lines


def _text(shape: InputShape, results: list[Result], shapes: list[list[int]], dims) -> str:
    from tabulate import tabulate

    lines = []
    labels = (["N"] if shape.batch is not None else []) + (["C"] if shape.channels is not None else []) + list(dims)
    lines.append(f"input  {_x(shapes[0])}  ({' '.join(labels)})")
    if shape.channels is None:
        lines.append("       no channels given: in_channels = 1 assumed (write CxHxW, e.g. 3x32x32, to set it)")
    if shape.batch is not None and shape.batch != 1:
        lines.append(f"       MACs below are for the whole batch of {shape.batch}")
    warnings = []
    for result, out_shape in zip(results, shapes[1:]):
        g = result.geometry
        lines.append("")
        channels = ""
        if result.kind in ("conv", "conv_transpose"):
            channels = f", channels {result.in_channels} -> {result.out_channels}"
            if result.out_channels_assumed:
                channels += " (no out_channels given: kept)"
        lines.append(f"layer {result.index}  {result.fn}  {_settings(result)}{channels}")
        for dim, step in zip(dims, result.steps):
            formula, _, substituted = step.partition(" = ")[2].partition(" = ")
            if substituted:
                lines.append(f"  {dim}: o = {formula}")
                lines.append(f"  {' ' * len(dim)}    = {substituted}")
            else:
                lines.append(f"  {dim}: {step}")
        rows = [("output", f"{_x(out_shape)}  (spatial {_x(g.output_size)})")]
        if result.kind in ("conv", "conv_transpose"):
            weight = (result.out_channels, result.in_channels // result.groups) if result.kind == "conv" else \
                (result.in_channels, result.out_channels // result.groups)
            detail = f"weight {_x(weight + tuple(g.kernel_size))}" + (f" + bias {result.out_channels}"
                                                                      if result.bias else "")
            rows.append(("params", f"{result.params:,}  ({detail})"))
            counted = "input" if result.kind == "conv_transpose" else "output"
            rows.append(("MACs", f"{result.macs:,}  (counted on the {counted} size)"))
        else:
            rows.append(("params", "0  (pooling has no weights)"))
            rows.append(("MACs", "0  (no multiplications)"))
        rf = result.receptive_field
        rows.append(("receptive field", f"{_x(rf.size)}  (jump {_x(rf.jump)}, centre of the first at "
                                        f"{', '.join(_num(s) for s in rf.start)})" if rf else
                     "n/a  (a transposed convolution's field is not a window of the input)"))
        lines.extend(f"  {name:<16} {value}" for name, value in rows)
        warnings.extend(_warnings(result, dims))
    if len(results) > 1:
        table: list[list[Any]] = [["", "input", _x(shapes[0]), "", "", ""]]
        for result, out_shape in zip(results, shapes[1:]):
            rf = result.receptive_field
            table.append([result.index, result.fn, _x(out_shape), f"{result.params:,}", f"{result.macs:,}",
                          _x(rf.size) if rf else "n/a"])
        table.append(["", "total", "", f"{sum(r.params for r in results):,}", f"{sum(r.macs for r in results):,}",
                      ""])
        lines.append("")
        lines.append(tabulate(table, headers=["#", "layer", "output", "params", "MACs", "receptive field"],
                              colalign=("right", "left", "left", "right", "right", "left")))
    if warnings:
        lines.append("")
        lines.extend(warnings)
    return "\n".join(lines)


def _json(shape: InputShape, results: list[Result], shapes: list[list[int]], dims) -> str:
    def field_of(rf):
        return None if rf is None else {"size": list(rf.size), "jump": list(rf.jump), "start": list(rf.start)}

    layers = []
    for result, out_shape in zip(results, shapes[1:]):
        g = result.geometry
        entry = {
            "index": result.index, "kind": result.kind, "fn": result.fn,
            "input_size": list(g.input_size), "output_size": list(g.output_size), "output_shape": out_shape,
            "kernel_size": list(g.kernel_size), "stride": list(g.stride),
            "padding": [list(pair) for pair in g.padding], "dilation": list(g.dilation),
        }
        if result.kind == "conv_transpose":
            entry["output_padding"] = list(g.output_padding)
        if result.kind in ("max_pool", "avg_pool"):
            entry["ceil_mode"] = g.ceil_mode
        else:
            entry.update(groups=result.groups, bias=result.bias)
        entry.update(in_channels=result.in_channels, out_channels=result.out_channels, params=result.params,
                     macs=result.macs, receptive_field=field_of(result.receptive_field), steps=result.steps,
                     uncovered=[list(cells) for cells in result.uncovered] if result.uncovered else None)
        layers.append(entry)
    last = results[-1]
    document = {
        "input": {"shape": shapes[0], "batch": shape.batch, "channels": shape.channels,
                  "spatial": list(shape.spatial), "dims": list(dims), "in_channels_assumed": shape.channels is None},
        "output_size": list(last.geometry.output_size),
        "output_shape": shapes[-1],
        "params": sum(r.params for r in results),
        "macs": sum(r.macs for r in results),
        "receptive_field": field_of(last.receptive_field),
        "uncovered": [{"layer": r.index, "dim": dim, "cells": list(cells)}
                      for r in results for dim, cells in zip(dims, r.uncovered) if cells],
        "steps": [r.steps for r in results],
        "layers": layers,
    }
    return json.dumps(document, indent=2)


# --------------------------------------------------------------------------- command


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "shape", help="output shape, params, MACs and receptive field of conv/pool layers, explained",
        description=_DESCRIPTION, epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", metavar="INPUT", help="input size: 227 | 32x64 | 3x227x227 | 1x3x227x227 (see below)")
    parser.add_argument("specs", nargs="*", metavar="LAYER", help="layer specs of a chain, e.g. 'conv k=5 o=5' 'maxpool k=2'")
    parser.add_argument("-l", "--layer", action="append", default=[], metavar="SPEC", dest="layer_specs",
                        help="one layer spec (repeat for a chain), instead of positional LAYERs")
    parser.add_argument("--spatial", type=int, metavar="N", help="how many trailing input numbers are spatial (1-3)")
    one = parser.add_argument_group("a single layer (the one-layer chain)")
    one.add_argument("-k", "--kernel", metavar="K", help="kernel size, e.g. 3 or 5x3")
    one.add_argument("-s", "--stride", metavar="S", help="stride (default 1; pooling: the kernel size)")
    one.add_argument("-p", "--padding", metavar="P", help="padding: a number, 2x1, 'same' or 'valid' (default 0)")
    one.add_argument("-d", "--dilation", metavar="D", help="dilation (default 1)")
    one.add_argument("-g", "--groups", metavar="G", help="groups (default 1)")
    one.add_argument("-o", "--out-channels", metavar="C", dest="out_channels",
                     help="output channels (default: the input channels)")
    one.add_argument("--transposed", action="store_true", help="a transposed convolution")
    one.add_argument("--output-padding", metavar="OP", dest="output_padding",
                     help="output padding of a transposed convolution (default 0)")
    one.add_argument("--pool", choices=("max", "avg"), help="a pooling layer instead of a convolution")
    one.add_argument("--ceil-mode", action="store_true", dest="ceil_mode", help="pooling: round the output size up")
    one.add_argument("--no-bias", action="store_true", dest="no_bias", help="count no bias parameters")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    _solve.add_argument(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    if getattr(args, "solve_output", None):
        return _solve.run(args)
    shape = parse_input(args.input, args.spatial)
    if args.specs and args.layer_specs:
        raise ValueError("shape: give the layers either as positional LAYER specs or with --layer, not both")
    specs = args.specs or args.layer_specs
    single = _layer_from_options(args)
    if specs and single is not None:
        options = ", ".join(single.written.values()) or ("--pool" if args.pool else "--transposed")
        raise ValueError(f"shape: the single-layer options ({options}) cannot be combined with layer specs; "
                         f"write them in each spec (e.g. 'conv k=3 s=2')")
    if not specs and single is None:
        raise ValueError("shape: nothing to compute: give a kernel (-k 3) or layer specs ('conv k=3 o=16')")
    layers = [parse_layer(spec, index) for index, spec in enumerate(specs, start=1)] if specs else [cast(Layer, single)]

    dims = _DIM_NAMES[len(shape.spatial)]
    batch = shape.batch if shape.batch is not None else 1
    channels = shape.channels if shape.channels is not None else 1
    channels_shown = shape.channels is not None
    spatial = shape.spatial
    results, shapes = [], [_shape(shape.batch, shape.channels, spatial)]
    for index, layer in enumerate(layers, start=1):
        result = _compute(layer, index, spatial, channels, batch)
        results.append(result)
        spatial, channels = result.geometry.output_size, result.out_channels
        channels_shown = channels_shown or (result.kind.startswith("conv") and not result.out_channels_assumed)
        shapes.append(_shape(shape.batch, channels if channels_shown else None, spatial))
    _attach_receptive_fields(results, len(dims))

    print(_json(shape, results, shapes, dims) if args.json else _text(shape, results, shapes, dims))
    return 0
