"""The words and numbers of an animation: fonts, number format, titles, captions, window texts.

Everything a frame *says* is decided here, apart from where it is drawn
(:mod:`convwise.viz._layout`) and how (:mod:`convwise.viz._draw`). Shapes and padding
are written in the one notation of :mod:`convwise.notation`.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os

from .. import arithmetic
from ..notation import format_padding, format_shape, format_sizes
from ..trace import Trace

__all__ = ["font", "fmt", "wrap", "title_lines", "caption_lines", "legend", "window_text", "channel_texts",
           "OP_NAMES", "ACTIVATIONS"]

OP_NAMES = {"conv": "conv", "conv_transpose": "conv_transpose", "max_pool": "max_pool", "avg_pool": "avg_pool"}

#: activations numeric mode can apply after the channel sum (name -> (label, function of a float))
ACTIVATIONS = {"relu": ("ReLU", lambda v: max(v, 0.0)), "tanh": ("tanh", math.tanh),
               "sigmoid": ("sigmoid", lambda v: 1.0 / (1.0 + math.exp(-v)))}


@functools.cache
def font(size: int, bold: bool = False):
    """DejaVu Sans (from matplotlib's data: every glyph we need, × − ∞) at ``size`` pixels."""
    from PIL import ImageFont

    spec = importlib.util.find_spec("matplotlib")
    if spec and spec.submodule_search_locations:
        name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
        path = os.path.join(list(spec.submodule_search_locations)[0], "mpl-data", "fonts", "ttf", name)
        if os.path.exists(path):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def fmt(value: float) -> str:
    """A number as a learner reads it: integers exact, others to 4 decimals, true minus signs.

    >>> fmt(12345.0), fmt(-2.5), fmt(1 / 3), fmt(2e-7), fmt(float("-inf"))
    ('12345', '−2.5', '0.3333', '2e−07', '−∞')
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == round(value) and abs(value) < 1e15:
        text = str(int(round(value)))
    elif 1e-3 <= abs(value) < 1e12:
        text = f"{value:.4f}".rstrip("0").rstrip(".")
    else:
        text = f"{value:.4g}"
    return text.replace("-", "−")


def wrap(text: str, face, width: int, sep: str, indent: str = "    ") -> list[str]:
    """Break ``text`` at ``sep`` only (never inside an expression) so each line fits ``width``."""
    parts = text.split(sep)
    lines, current = [], parts[0]
    leads = sep.strip() in ("+", "=", "")   # an operator starts the next line; a comma ends this one
    for part in parts[1:]:
        candidate = current + sep + part
        if face.getlength(candidate) <= width:
            current = candidate
        elif leads:
            lines.append(current)
            current = indent + sep.lstrip() + part
        else:
            lines.append(current + sep.rstrip())
            current = indent + part
    lines.append(current)
    return lines


def _dims(t: Trace) -> list[str]:
    return ["L"] if t.ndim == 1 else ["H", "W"]


def caption_lines(t: Trace, face, width: int) -> list[str]:
    """The output-size formula per dimension: the rule on one line, the numbers filled in below.

    Lines break only between ``=`` steps, never inside an expression.
    """
    lines = []
    for name, line in zip(_dims(t), arithmetic.explain(t.geometry)):
        steps = line.split(" = ")   # "o", the rule, then the numbers filled in, step by step
        lines.append(f"{name}: o = {steps[1]}")
        lines += wrap("   = " + " = ".join(steps[2:]), face, width, " = ", indent="   ")
    return lines


def title_lines(t: Trace, *, view: str = "gather", note: str = "") -> tuple[str, list[str]]:
    """``(headline, explanation lines)`` of an animation of ``t``."""
    name = f"{OP_NAMES[t.op]}{t.ndim}d"
    parts = [name, f"input {format_shape(t.input_size)}", f"kernel {format_sizes(t.kernel_size)}",
             f"stride {format_sizes(t.stride)}", f"padding {format_padding(t.padding)}"]
    if t.op != "avg_pool":
        parts.append(f"dilation {format_sizes(t.dilation)}")
    if t.op == "conv_transpose" and any(t.output_padding):
        parts.append(f"output_padding {format_sizes(t.output_padding)}")
    if t.groups != 1:
        parts.append(f"groups {t.groups}")
    if t.ceil_mode:
        parts.append("ceil_mode")
    parts.append(f"→ output {format_shape(t.output_size)}")
    lines = []
    if any(lo != hi for lo, hi in t.padding):
        lines.append("padding (lo,hi): lo cells before the first input cell, hi after the last")
    if t.op == "conv_transpose" and view == "gather":
        zeros = format_sizes(tuple(s - 1 for s in t.stride))
        lines.append(f"Gather view: the same result as a plain convolution with the flipped kernel, stride 1, over "
                     f"the input stretched by {zeros} zero(s) between cells and padded by d*(k-1) - padding "
                     f"(+ output_padding high) = {format_padding(t.grid_padding)} cells.")
    elif t.op == "conv_transpose":
        lines.append("Scatter view: each input cell stamps the kernel, scaled by its value, onto the output "
                     "(stamps `stride` cells apart); overlaps add up, then `padding` cells are cropped from each "
                     "border.")
    if t.in_channels > 1 or t.out_channels > 1:
        if t.is_pool:
            lines.append(f"{t.in_channels} channels, each pooled on its own")
        elif t.groups > 1:
            lines.append(f"{t.groups} groups: channels {t.in_channels} -> {t.out_channels}; each output channel "
                         f"sums only the {t.in_channels // t.groups} input channel(s) of its group")
        else:
            lines.append(f"channels {t.in_channels} -> {t.out_channels}: each output channel sums every input "
                         f"channel, each with its own kernel")
    if note:
        lines.append(note)
    return "  ".join(parts), lines


def legend(t: Trace, kinds, extra=()) -> list[tuple[str, str]]:
    """``(label, colour name)`` for the cell kinds present, then the kernel and output states."""
    entries = [("input", "input")]
    labels = {"padding": "padding", "zero": "inserted zero", "outside": "outside (ceil_mode)"}
    entries += [(labels[kind], kind) for kind in ("padding", "zero", "outside") if kind in kinds]
    return entries + list(extra) + [("kernel tap", "tap"), ("computed", "done"), ("current", "current")]


def window_text(t: Trace, step, grid, w, value: float) -> str:
    """One window's arithmetic on one channel: the products and their sum (or the max/mean)."""
    if t.op == "max_pool":
        seen = [fmt(float(grid[tap.grid])) for tap in step.taps if tap.kind == "input"]
        return f"max({', '.join(seen)}) = {fmt(value)}"
    if t.op == "avg_pool":
        counted = ("input", "padding") if t.count_include_pad else ("input",)
        seen = [fmt(float(grid[tap.grid])) for tap in step.taps if tap.kind in counted]
        return f"({' + '.join(seen)}) / {len(seen)} = {fmt(value)}"
    terms = [f"{fmt(float(grid[tap.grid]))}×{fmt(float(w[tap.weight]))}" for tap in step.taps
             if tap.kind != "outside"]
    return " + ".join(terms) + f" = {fmt(value)}"


def channel_texts(t: Trace, step, out_channel, grids, weights, partials, total, bias, activation) -> list[str]:
    """Several channels: one line of products per input channel, the channel sum with the bias, the activation.

    ``partials[ci]``: the window's sum on input channel ``ci`` alone; ``total``: the output
    before the activation (bias included). All come from the engine.
    """
    lines = [f"in {ci}: " + window_text(t, step, grids[ci], weights[ci], partials[ci])
             for ci in t.inputs_of(out_channel)]
    if t.is_pool:
        return lines
    terms = " + ".join(fmt(partials[ci]) for ci in t.inputs_of(out_channel))
    if bias is not None:
        terms += f" + bias {fmt(bias)}"
    lines.append(f"out {out_channel} = {terms} = {fmt(total)}")
    if activation:
        label, function = ACTIVATIONS[activation]
        lines.append(f"{label}({fmt(total)}) = {fmt(function(total))}")
    return lines
