"""Animate a :class:`convwise.trace.Trace` as a GIF, drawn with Pillow's ``ImageDraw``.

Each frame shows the input grid as the window sees it (padding cells grey, zeros
inserted by a transposed convolution pale yellow), the kernel footprint on it (tapped
cells orange, dilation gaps left unhighlighted inside the window's outline), the output
grid filling up, the labels "input" and "output", and the output-size formula with the
numbers filled in (:func:`convwise.arithmetic.explain`) as a caption. In numeric mode the
cells carry values, each tapped cell its weight (``×w``), and a line spells out the
products and their sum for the current window; output values come from the engine
(:func:`convwise.conv2d` and friends), not from the drawing code. With several channels
a side panel connects every output channel to the input channels of its group.

Frames: one intro frame (nothing computed yet) followed by one frame per output
position, in the trace's order. The last frame is *held* by giving it a longer duration
(``hold`` ms), not by repeating it, so ``n_frames == 1 + number of output positions``.

Geometry of the picture is fixed by :func:`layout`: tests and other tools locate a cell
with ``layout.box(grid, row, col)`` (``grid`` is ``"input"`` or ``"output"``; 1-D grids
have a single row), and ``layout.probe(...)`` gives a pixel inside a cell that no text
covers.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field

from .. import arithmetic
from .._guard import require_memory
from ..trace import Trace, trace as make_trace

__all__ = ["COLORS", "Layout", "layout", "render", "animate", "save_gif", "window_texts", "gallery", "GALLERY"]

COLORS = {
    "background": (255, 255, 255),
    "text": (34, 34, 34),
    "muted": (120, 120, 120),
    "grid_line": (90, 90, 90),
    "input": (158, 202, 225),
    "padding": (226, 226, 226),
    "zero": (255, 242, 179),
    "outside": (250, 250, 250),
    "tap": (242, 142, 43),
    "tap_padding": (249, 201, 143),
    "window": (40, 40, 40),
    "pending": (255, 255, 255),
    "done": (161, 217, 155),
    "current": (49, 163, 84),
}
GROUP_COLORS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (140, 86, 75), (227, 119, 194),
                (188, 189, 34), (23, 190, 207)]
_MAX_CHANNELS = 16
_MARGIN = 16


# --------------------------------------------------------------------------- fonts and colours


@functools.lru_cache(maxsize=None)
def _font(size: int, bold: bool = False):
    from PIL import ImageFont
    import importlib.util

    spec = importlib.util.find_spec("matplotlib")  # its DejaVu fonts have every glyph we need (×, −, ∞)
    if spec and spec.submodule_search_locations:
        name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
        path = os.path.join(spec.submodule_search_locations[0], "mpl-data", "fonts", "ttf", name)
        if os.path.exists(path):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def _palette():
    """A fixed GIF palette: our colours plus blends of text over every fill (antialiasing)."""
    colours = list(dict.fromkeys(list(COLORS.values()) + GROUP_COLORS))
    fills = [COLORS[k] for k in ("background", "input", "padding", "zero", "tap", "tap_padding", "done",
                                 "current", "outside")]
    inks = [COLORS["text"], COLORS["muted"], COLORS["window"], COLORS["grid_line"]] + GROUP_COLORS
    for fill in fills:
        for ink in inks:
            for a in (0.2, 0.4, 0.6, 0.8):
                colours.append(tuple(round(f + a * (i - f)) for f, i in zip(fill, ink)))
    return list(dict.fromkeys(colours))[:256]


def _to_palette(frames, palette):
    """RGB images -> "P" images on ``palette``, every pixel mapped to its exactly nearest entry.

    (Pillow's own ``quantize(palette=...)`` approximates the nearest colour and may move
    a palette colour onto a neighbour; the tests read colours back exactly.) Colours are
    looked up in a sorted table that grows with the few new colours each frame brings.
    """
    import numpy as np
    from PIL import Image

    table = np.asarray(palette, dtype=np.int64)
    known = np.empty(0, dtype=np.int64)      # sorted packed RGB colours seen so far
    index_of = np.empty(0, dtype=np.uint8)   # their palette indices
    flat = [v for c in palette for v in c]
    images = []
    for frame in frames:
        rgb = np.asarray(frame, dtype=np.int64)
        packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        position = np.searchsorted(known, packed).clip(0, max(len(known) - 1, 0))
        missing = packed[known[position] != packed] if len(known) else packed.ravel()
        if missing.size:
            new = np.unique(missing)
            colours = np.stack([(new >> 16) & 255, (new >> 8) & 255, new & 255], axis=1)
            nearest = ((colours[:, None, :] - table[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
            known = np.concatenate([known, new])
            index_of = np.concatenate([index_of, nearest.astype(np.uint8)])
            order = np.argsort(known, kind="stable")
            known, index_of = known[order], index_of[order]
            position = np.searchsorted(known, packed)
        image = Image.fromarray(index_of[position], "P")
        image.putpalette(flat)
        images.append(image)
    return images


def _fmt(value: float) -> str:
    if value == math.inf:
        return "∞"
    if value == -math.inf:
        return "−∞"
    if abs(value - round(value)) < 1e-9:
        return str(int(round(value))).replace("-", "−")
    return f"{value:.3g}".replace("-", "−")


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    """Where everything is drawn, in pixels. Deterministic given the trace and options."""

    cell: int
    width: int
    height: int
    grids: dict = field(default_factory=dict)   # name -> (x, y, rows, cols)
    title_y: int = 0
    label_y: int = 0
    legend_y: int = 0
    numeric_y: int = 0
    caption_y: int = 0
    channels_box: tuple | None = None           # (x, y, width, height) or None
    line_height: int = 16

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def box(self, grid: str, row: int, col: int) -> tuple[int, int, int, int]:
        """Pixel box ``(x0, y0, x1, y1)`` (inclusive) of a cell of ``grid``."""
        x, y, rows, cols = self.grids[grid]
        if not (0 <= row < rows and 0 <= col < cols):
            raise ValueError(f"layout: cell ({row}, {col}) is outside the {rows}x{cols} {grid} grid")
        x0, y0 = x + col * self.cell, y + row * self.cell
        return x0, y0, x0 + self.cell - 1, y0 + self.cell - 1

    def centre(self, grid: str, row: int, col: int) -> tuple[int, int]:
        x0, y0, x1, y1 = self.box(grid, row, col)
        return (x0 + x1) // 2, (y0 + y1) // 2

    def probe(self, grid: str, row: int, col: int) -> tuple[int, int]:
        """A pixel inside the cell's fill that no outline or text ever covers."""
        x0, y0, _, _ = self.box(grid, row, col)
        return x0 + 4, y0 + 4


def _rc(cell: tuple[int, ...]) -> tuple[int, int]:
    return (0, cell[0]) if len(cell) == 1 else (cell[0], cell[1])


def _shape(size: tuple[int, ...]) -> tuple[int, int]:
    return (1, size[0]) if len(size) == 1 else (size[0], size[1])


def _wrap(text: str, font, width: int, sep: str) -> list[str]:
    parts = text.split(sep)
    lines, current = [], parts[0]
    for part in parts[1:]:
        candidate = current + sep + part
        if font.getlength(candidate) <= width:
            current = candidate
        else:
            lines.append(current)
            current = "    " + sep.lstrip() + part
    lines.append(current)
    return lines


def _caption(t: Trace) -> list[str]:
    lines = arithmetic.explain(t.geometry)
    names = ["L"] if t.ndim == 1 else ["H", "W", "D"][: t.ndim] if t.ndim == 2 else ["D", "H", "W"]
    return [f"{name}: {line}" for name, line in zip(names, lines)]


def _title(t: Trace) -> list[str]:
    def show(values):
        values = tuple(values)
        return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))

    name = {"conv": "conv", "conv_transpose": "conv_transpose", "max_pool": "max_pool", "avg_pool": "avg_pool"}[t.op]
    parts = [f"{name}{t.ndim}d", f"input {show(t.input_size) if t.ndim == 1 else 'x'.join(map(str, t.input_size))}",
             f"kernel {show(t.kernel_size)}", f"stride {show(t.stride)}"]
    pads = t.padding
    parts.append("padding " + (show(lo for lo, _ in pads) if all(lo == hi for lo, hi in pads)
                               else ",".join(f"{lo}/{hi}" for lo, hi in pads)))
    if any(d != 1 for d in t.dilation) or t.op != "avg_pool":
        parts.append(f"dilation {show(t.dilation)}")
    if t.op == "conv_transpose" and any(t.output_padding):
        parts.append(f"output_padding {show(t.output_padding)}")
    if t.groups != 1:
        parts.append(f"groups {t.groups}")
    if t.ceil_mode:
        parts.append("ceil_mode")
    lines = ["  ".join(parts)]
    if t.op == "conv_transpose":
        zeros = "x".join(str(s - 1) for s in t.stride) if len(set(t.stride)) > 1 else str(t.stride[0] - 1)
        pads = ", ".join(f"{lo}/{hi}" for lo, hi in t.grid_padding)
        lines.append(f"= conv with the flipped kernel, stride 1, over the input stretched by {zeros} zero(s) "
                     f"between cells (stride-1) and padded by d*(k-1)-p (+output_padding high) = {pads} (low/high)")
    if t.in_channels > 1 or t.out_channels > 1:
        if t.op in ("max_pool", "avg_pool"):
            lines.append(f"{t.in_channels} channels, each pooled on its own")
        else:
            lines.append(f"in_channels {t.in_channels} -> out_channels {t.out_channels}: every output channel "
                         f"sweeps the input channels of its group")
    return lines


def _legend(t: Trace) -> list[tuple[str, tuple]]:
    kinds = {t.cell_kind(cell) for cell in t.cells()}
    legend = [("input", COLORS["input"])]
    legend += [(label, COLORS[kind]) for kind, label in (("padding", "padding"), ("zero", "inserted zero"),
                                                         ("outside", "outside (ceil_mode)")) if kind in kinds]
    return legend + [("kernel tap", COLORS["tap"]), ("computed", COLORS["done"]), ("current", COLORS["current"])]


def _legend_width(t: Trace, font) -> int:
    return sum(17 + int(font.getlength(name)) + 16 for name, _ in _legend(t)) - 16


def _title_lines(t: Trace, width: int) -> list[str]:
    lines = _title(t)
    head = _wrap(lines[0], _font(13, bold=True), width, "  ")
    return head + [part for line in lines[1:] for part in _wrap(line, _font(13), width, " ")]


def layout(t: Trace, *, cell: int = 32, numeric_lines: int = 0, min_width: int = 520) -> Layout:
    """Compute the deterministic layout of an animation of trace ``t``."""
    if t.ndim > 2:
        raise ValueError(f"animate: only 1-D and 2-D operations can be drawn, got {t.ndim}-D input {t.input_size}")
    if not isinstance(cell, int) or isinstance(cell, bool) or cell < 16:
        raise ValueError(f"animate: cell must be an int >= 16 pixels, got cell={cell!r}")
    line = 16
    rows_in, cols_in = _shape(t.grid_size)
    rows_out, cols_out = _shape(t.output_size)
    gap = max(2 * cell, 48)
    channels = max(t.in_channels, t.out_channels) > 1
    ch_width = 150 if channels else 0
    ch_height = (max(t.in_channels, t.out_channels) * 22 + 20) if channels else 0
    grid_w = cols_in * cell + gap + cols_out * cell + (gap // 2 + ch_width if channels else 0)
    width = max(grid_w + 2 * _MARGIN, min_width, _legend_width(t, _font(13)) + 2 * _MARGIN)
    text_width = width - 2 * _MARGIN
    title_lines = len(_title_lines(t, text_width))
    caption_font = _font(12)
    caption_lines = sum(len(_wrap(c, caption_font, text_width, " = ")) for c in _caption(t))
    title_y = _MARGIN
    label_y = title_y + title_lines * (line + 2) + 8
    top = label_y + 22
    body = max(rows_in * cell, rows_out * cell, ch_height)
    x_in = _MARGIN + (width - 2 * _MARGIN - grid_w) // 2
    y_in = top + (body - rows_in * cell) // 2
    x_out = x_in + cols_in * cell + gap
    y_out = top + (body - rows_out * cell) // 2
    channels_box = None
    if channels:
        channels_box = (x_out + cols_out * cell + gap // 2, top + (body - ch_height) // 2, ch_width, ch_height)
    legend_y = top + body + 14
    numeric_y = legend_y + line + 10
    caption_y = numeric_y + numeric_lines * (line + 2) + (6 if numeric_lines else 0)
    height = caption_y + caption_lines * (line - 1) + _MARGIN
    return Layout(cell=cell, width=width, height=height,
                  grids={"input": (x_in, y_in, rows_in, cols_in), "output": (x_out, y_out, rows_out, cols_out)},
                  title_y=title_y, label_y=label_y, legend_y=legend_y, numeric_y=numeric_y, caption_y=caption_y,
                  channels_box=channels_box, line_height=line)


# --------------------------------------------------------------------------- numbers


def _numeric(t: Trace, input, weight):
    """Validate numeric-mode arrays; returns (x, w, y, grid) with y from the engine."""
    import numpy as np

    from .. import functional as F

    if t.in_channels != 1 or t.out_channels != 1:
        raise ValueError(f"animate: numeric mode draws one channel, got in_channels={t.in_channels}, "
                         f"out_channels={t.out_channels}")
    x = np.asarray(input, dtype=np.float64)
    if x.shape != t.input_size:
        raise ValueError(f"animate: input values of shape {x.shape} do not match input size {t.input_size}")
    w = None
    if not t.is_pool:
        w = np.asarray(weight, dtype=np.float64)
        if w.shape != t.kernel_size:
            raise ValueError(f"animate: kernel values of shape {w.shape} do not match kernel_size {t.kernel_size}")
    n = t.ndim
    if t.op == "conv":
        y = getattr(F, f"conv{n}d")(x[None, None], w[None, None], stride=t.stride, padding=t.padding,
                                    dilation=t.dilation)[0, 0]
    elif t.op == "conv_transpose":
        y = getattr(F, f"conv_transpose{n}d")(x[None, None], w[None, None], stride=t.stride,
                                              padding=tuple(lo for lo, _ in t.padding),
                                              output_padding=t.output_padding, dilation=t.dilation)[0, 0]
    else:
        pool = getattr(F, f"{t.op}{n}d", None)
        pads = tuple(lo for lo, _ in t.padding)
        if pool is None:  # the engine's pooling has not landed: the trace itself is exact (tested against torch)
            y = t.evaluate(x[None])[0]
        elif t.op == "max_pool":
            y = pool(x[None, None], kernel_size=t.kernel_size, stride=t.stride, padding=pads, dilation=t.dilation,
                     ceil_mode=t.ceil_mode)[0, 0]
        else:
            y = pool(x[None, None], kernel_size=t.kernel_size, stride=t.stride, padding=pads, ceil_mode=t.ceil_mode,
                     count_include_pad=t.count_include_pad)[0, 0]
    grid = t.grid_values(x, fill=-math.inf if t.op == "max_pool" else 0.0)
    return x, w, np.asarray(y, dtype=np.float64), grid


def _window_text(t: Trace, step, grid, w, y) -> str:
    value = _fmt(float(y[step.output]))
    if t.op == "max_pool":
        seen = [_fmt(float(grid[tap.grid])) for tap in step.taps if tap.kind == "input"]
        return f"max({', '.join(seen)}) = {value}"
    if t.op == "avg_pool":
        counted = ("input", "padding") if t.count_include_pad else ("input",)
        seen = [_fmt(float(grid[tap.grid])) for tap in step.taps if tap.kind in counted]
        return f"({' + '.join(seen)}) / {len(seen)} = {value}"
    terms = [f"{_fmt(float(grid[tap.grid]))}×{_fmt(float(w[tap.weight]))}" for tap in step.taps
             if tap.kind != "outside"]
    return " + ".join(terms) + f" = {value}"


def window_texts(t: Trace, input, weight=None) -> list[str]:
    """Numeric mode's line per output position: the products and their sum (or the max/mean).

    The value after ``=`` comes from the engine (``convwise.conv2d`` etc.).

    >>> from convwise.trace import trace
    >>> window_texts(trace(3, 2), [1.0, 2.0, 3.0], [1.0, -1.0])
    ['1×1 + 2×−1 = −1', '2×1 + 3×−1 = −1']
    """
    _, w, y, grid = _numeric(t, input, weight)
    return [_window_text(t, step, grid, w, y) for step in t.steps]


# --------------------------------------------------------------------------- drawing


def render(t: Trace, *, input=None, weight=None, values: bool | None = None, cell: int | None = None, seed: int = 0):
    """Draw every frame of the animation of ``t``.

    ``input``/``weight`` (spatial arrays, one channel) switch on numeric mode; ``values=True``
    without them draws small random integers. Returns ``(frames, layout)`` with RGB
    Pillow images.
    """
    from PIL import Image, ImageDraw

    numeric = bool(values) or input is not None or weight is not None
    x = w = y = grid = None
    texts: list[str] = []
    if numeric:
        import numpy as np

        rng = np.random.default_rng(seed)
        if input is None:
            input = rng.integers(0, 4, size=t.input_size).astype(float)
        if weight is None and not t.is_pool:
            weight = rng.integers(0, 3, size=t.kernel_size).astype(float)
        x, w, y, grid = _numeric(t, input, weight)
        texts = [_window_text(t, step, grid, w, y) for step in t.steps]
    if cell is None:
        cell = 40 if numeric else 32
    probe = layout(t, cell=cell)
    text_width = probe.width - 2 * _MARGIN
    body_font, small_font, title_font, label_font = _font(13), _font(9), _font(13, bold=True), _font(14, bold=True)
    wrapped = [_wrap(text, body_font, text_width, " + " if " + " in text else ", ") for text in texts]
    lay = layout(t, cell=cell, numeric_lines=max((len(lines) for lines in wrapped), default=0))
    caption = [part for line in _caption(t) for part in _wrap(line, _font(12), text_width, " = ")]

    # the static background: title, labels, legend, caption, channel panel
    base = Image.new("RGB", lay.size, COLORS["background"])
    draw = ImageDraw.Draw(base)
    heads = len(_wrap(_title(t)[0], title_font, text_width, "  "))
    for index, line in enumerate(_title_lines(t, text_width)):
        head = index < heads
        draw.text((_MARGIN, lay.title_y + index * (lay.line_height + 2)), line.strip(),
                  fill=COLORS["text"] if head else COLORS["muted"], font=title_font if head else body_font)
    for name in ("input", "output"):
        gx, gy, rows, cols = lay.grids[name]
        draw.text((gx + cols * cell / 2, gy - 6), name, fill=COLORS["text"], font=label_font, anchor="mb")
    x_in, y_in, rows_in, cols_in = lay.grids["input"]
    x_out, y_out, rows_out, _ = lay.grids["output"]
    arrow_y = max(y_in + rows_in * cell // 2, y_out + rows_out * cell // 2) if rows_in == 1 else \
        y_out + rows_out * cell // 2
    a0, a1 = x_in + cols_in * cell + 10, x_out - 10
    draw.line([(a0, arrow_y), (a1, arrow_y)], fill=COLORS["muted"], width=2)
    draw.polygon([(a1, arrow_y), (a1 - 8, arrow_y - 5), (a1 - 8, arrow_y + 5)], fill=COLORS["muted"])
    lx = _MARGIN
    for name, colour in _legend(t):
        draw.rectangle([lx, lay.legend_y, lx + 12, lay.legend_y + 12], fill=colour, outline=COLORS["grid_line"])
        draw.text((lx + 17, lay.legend_y + 6), name, fill=COLORS["muted"], font=body_font, anchor="lm")
        lx += 17 + int(body_font.getlength(name)) + 16
    for index, line in enumerate(caption):
        draw.text((_MARGIN, lay.caption_y + index * (lay.line_height - 1)), line, fill=COLORS["text"],
                  font=_font(12))
    if lay.channels_box:
        _draw_channels(draw, t, lay.channels_box, body_font)

    kinds = {cell_: t.cell_kind(cell_) for cell_ in t.cells()}
    frames = []
    for frame in range(len(t.steps) + 1):
        image = base.copy()
        draw = ImageDraw.Draw(image)
        current = t.steps[frame - 1] if frame else None
        tapped = {tap.grid: tap for tap in current.taps} if current else {}
        for cell_, kind in kinds.items():
            r, c = _rc(cell_)
            box = lay.box("input", r, c)
            if cell_ in tapped:
                fill = COLORS["tap"] if kind == "input" else COLORS["tap_padding"]
            else:
                fill = COLORS[kind]
            draw.rectangle(box, fill=fill, outline=COLORS["grid_line"] if kind == "input" else COLORS["muted"])
            if numeric and kind != "outside":
                value = float(grid[cell_])
                if not (kind == "padding" and t.op == "max_pool"):
                    draw.text(((box[0] + box[2] + 1) / 2, (box[1] + box[3] + 1) / 2), _fmt(value),
                              fill=COLORS["text"] if kind == "input" else COLORS["muted"], font=body_font,
                              anchor="mm")
                if cell_ in tapped and w is not None:
                    draw.text((box[2] - 2, box[3] - 1), "×" + _fmt(float(w[tapped[cell_].weight])),
                              fill=COLORS["window"], font=small_font, anchor="rd")
        if current:
            first = _rc(current.taps[0].grid)
            last = _rc(current.taps[-1].grid)
            b0, b1 = lay.box("input", *first), lay.box("input", *last)
            draw.rectangle([b0[0], b0[1], b1[2], b1[3]], outline=COLORS["window"], width=2)
        for index, step in enumerate(t.steps):
            r, c = _rc(step.output)
            box = lay.box("output", r, c)
            state = "pending" if index >= frame else "current" if index == frame - 1 else "done"
            draw.rectangle(box, fill=COLORS[state], outline=COLORS["grid_line"])
            if numeric and state != "pending":
                draw.text(((box[0] + box[2] + 1) / 2, (box[1] + box[3] + 1) / 2), _fmt(float(y[step.output])),
                          fill=COLORS["text"] if state == "done" else COLORS["background"], font=body_font,
                          anchor="mm")
        if current:
            draw.rectangle(lay.box("output", *_rc(current.output)), outline=COLORS["window"], width=2)
            for index, line in enumerate(wrapped[frame - 1] if numeric else []):
                draw.text((_MARGIN, lay.numeric_y + index * (lay.line_height + 2)), line, fill=COLORS["text"],
                          font=body_font)
        frames.append(image)
    return frames, lay


def _draw_channels(draw, t: Trace, box, font) -> None:
    x, y, width, _height = box
    if max(t.in_channels, t.out_channels) > _MAX_CHANNELS:
        raise ValueError(f"animate: at most {_MAX_CHANNELS} channels can be drawn, got in_channels="
                         f"{t.in_channels}, out_channels={t.out_channels}")
    size, pitch = 14, 22
    left, right = x + 18, x + width - 18 - size
    draw.text((left + size / 2, y + 6), "in", fill=COLORS["muted"], font=font, anchor="mm")
    draw.text((right + size / 2, y + 6), "out", fill=COLORS["muted"], font=font, anchor="mm")
    per_group_out = t.out_channels // t.groups
    for co in range(t.out_channels):
        colour = GROUP_COLORS[(co // per_group_out) % len(GROUP_COLORS)]
        for ci in t.inputs_of(co):
            draw.line([(left + size, y + 20 + ci * pitch + size / 2), (right, y + 20 + co * pitch + size / 2)],
                      fill=colour, width=1)
    per_group_in = t.in_channels // t.groups
    for ci in range(t.in_channels):
        colour = GROUP_COLORS[(ci // per_group_in) % len(GROUP_COLORS)]
        draw.rectangle([left, y + 20 + ci * pitch, left + size, y + 20 + ci * pitch + size], fill=colour)
        draw.text((left - 4, y + 20 + ci * pitch + size / 2), str(ci), fill=COLORS["muted"], font=font, anchor="rm")
    for co in range(t.out_channels):
        colour = GROUP_COLORS[(co // per_group_out) % len(GROUP_COLORS)]
        draw.rectangle([right, y + 20 + co * pitch, right + size, y + 20 + co * pitch + size], fill=colour)
        draw.text((right + size + 4, y + 20 + co * pitch + size / 2), str(co), fill=COLORS["muted"], font=font,
                  anchor="lm")


def save_gif(frames, path, *, duration: int = 700, hold: int = 2000) -> None:
    """Write frames as a looping GIF on a fixed palette (exact colours, small files)."""
    quantised = _to_palette(frames, _palette())
    durations = [duration] * len(frames)
    durations[0] = max(duration, 900)
    durations[-1] = hold
    quantised[0].save(path, save_all=True, append_images=quantised[1:], duration=durations, loop=0,
                      optimize=True, disposal=1)


def animate(t: Trace, path=None, *, input=None, weight=None, values: bool | None = None, cell: int | None = None,
            frames_dir=None, duration: int = 700, hold: int = 2000, seed: int = 0):
    """Render ``t`` and write a GIF to ``path`` (and PNG frames to ``frames_dir``).

    Returns ``(frames, layout)`` as :func:`render` does. Frame ``0`` is the intro frame;
    frame ``f >= 1`` shows output position ``t.steps[f - 1]`` being computed.
    """
    if not isinstance(t, Trace):
        raise TypeError(f"animate: expected a convwise.trace.Trace, got {type(t).__name__}")
    pixels = (math.prod(t.grid_size) + math.prod(t.output_size)) * (cell if isinstance(cell, int) and cell > 0 else 40) ** 2
    require_memory("animate", (len(t.steps) + 1) * pixels * 3, what=f"{len(t.steps) + 1} RGB frames")  # harden guard
    frames, lay = render(t, input=input, weight=weight, values=values, cell=cell, seed=seed)
    if path is not None:
        save_gif(frames, path, duration=duration, hold=hold)
    if frames_dir is not None:
        os.makedirs(frames_dir, exist_ok=True)
        for index, frame in enumerate(frames):
            frame.save(os.path.join(frames_dir, f"frame_{index:03d}.png"), optimize=True)
    return frames, lay


# --------------------------------------------------------------------------- gallery

_CLASSIC_INPUT = [[1, 2, 3, 0, 1], [0, 1, 5, 1, 0], [1, 0, 2, 2, 1], [1, 1, 2, 0, 0], [1, 0, 1, 1, 1]]
_CLASSIC_KERNEL = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]

#: name -> convolution (input, kernel, stride, padding, dilation) of the standard set; each
#: also has a ``_transposed`` twin that maps the output size back to the input size
_CONVS = {
    "no_padding_no_strides": (4, 3, 1, 0, 1),
    "arbitrary_padding_no_strides": (5, 4, 1, 2, 1),
    "same_padding_no_strides": (5, 3, 1, 1, 1),
    "full_padding_no_strides": (5, 3, 1, 2, 1),
    "no_padding_strides": (5, 3, 2, 0, 1),
    "padding_strides": (5, 3, 2, 1, 1),
    "padding_strides_odd": (6, 3, 2, 1, 1),
    "dilation": (7, 3, 1, 0, 2),
}


def _gallery_entries():
    """``(name, trace kwargs, numeric arrays or None)`` for the standard set."""
    entries = []
    for name, (i, k, s, p, d) in _CONVS.items():
        entries.append((name, dict(input_size=(i, i), kernel_size=k, stride=s, padding=p, dilation=d), None))
    for name, (i, k, s, p, d) in _CONVS.items():
        o = arithmetic.conv_output_size(i, k, s, p, d)[0]
        # the output_padding that restores the convolution's input size (arithmetic decides it)
        extra = i - arithmetic.conv_transpose_output_size(o, k, s, p, 0, d)[0]
        entries.append((f"{name}_transposed", dict(input_size=(o, o), kernel_size=k, stride=s, padding=p,
                                                   dilation=d, output_padding=extra, op="conv_transpose"), None))
    entries.append(("numerical_conv", dict(input_size=(5, 5), kernel_size=3),
                    {"input": _CLASSIC_INPUT, "weight": _CLASSIC_KERNEL}))
    entries.append(("numerical_max_pooling", dict(input_size=(5, 5), kernel_size=3, stride=1, op="max_pool"),
                    {"input": _CLASSIC_INPUT}))
    entries.append(("numerical_avg_pooling", dict(input_size=(5, 5), kernel_size=3, stride=1, op="avg_pool"),
                    {"input": _CLASSIC_INPUT}))
    entries.append(("max_pooling_strides", dict(input_size=(6, 6), kernel_size=2, op="max_pool"), None))
    entries.append(("grouped_conv", dict(input_size=(5, 5), kernel_size=3, padding=1, groups=2, in_channels=4,
                                         out_channels=6), None))
    entries.append(("depthwise_conv", dict(input_size=(5, 5), kernel_size=3, padding=1, groups=3, in_channels=3,
                                           out_channels=3), None))
    return entries


GALLERY = tuple(name for name, _, _ in _gallery_entries())


def gallery(directory, *, names=None, progress: bool = False, duration: int = 700) -> list[str]:
    """Write the standard set of animations as ``DIRECTORY/<name>.gif``; returns the paths."""
    os.makedirs(directory, exist_ok=True)
    entries = _gallery_entries()
    if names is not None:
        unknown = sorted(set(names) - set(GALLERY))
        if unknown:
            raise ValueError(f"animate: unknown gallery entries {unknown}; choose from {', '.join(GALLERY)}")
        entries = [e for e in entries if e[0] in names]
    if progress:
        from tqdm import tqdm

        entries = tqdm(entries, desc="gallery", unit="gif")
    paths = []
    for name, kwargs, arrays in entries:
        path = os.path.join(directory, f"{name}.gif")
        animate(make_trace(**kwargs), path, duration=duration, **(arrays or {}))
        paths.append(path)
    return paths
