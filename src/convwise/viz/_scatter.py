"""The scatter view of a transposed convolution: each input cell stamps a scaled kernel onto the output.

This is torch's own description of ``conv_transpose``: input cell ``j`` adds
``x[j] * weight`` to the output cells ``j*stride + tap*dilation``; stamps overlap and add
up; finally ``padding`` cells are cropped from each border (``output_padding`` adds cells
at the high end). The picture draws the output *before* cropping (the canvas), the
cropped border in lavender, so the real output is the unshaded middle.

Where each input cell lands comes from the trace of the same transposed convolution
without padding (its :meth:`~convwise.trace.Trace.stamps`), so nothing here re-derives
a formula; the running sums come from the engine (:func:`convwise.viz._numbers.scatter_sums`).
"""

from __future__ import annotations

import itertools

from ..trace import Trace, trace
from . import _draw, _text
from ._draw import COLORS
from ._layout import auto_cell, layout

__all__ = ["render_scatter", "canvas_trace"]


def canvas_trace(t: Trace) -> Trace:
    """The same transposed convolution without padding: its output is ``t``'s uncropped canvas."""
    return trace(t.input_size, t.kernel_size, t.stride, 0, t.dilation, op="conv_transpose",
                 output_padding=t.output_padding, groups=t.groups, in_channels=t.in_channels,
                 out_channels=t.out_channels)


def _rc(cell):
    return (0, cell[0]) if len(cell) == 1 else (cell[0], cell[1])


def render_scatter(t: Trace, nums, *, cell, max_frames, progress):
    from PIL import ImageDraw

    from ._numbers import scatter_sums
    from .animate import _plan, _progress

    if t.in_channels != 1 or t.out_channels != 1:
        raise ValueError(f"animate: the scatter view draws one channel, got in_channels={t.in_channels}, "
                         f"out_channels={t.out_channels}")
    canvas = canvas_trace(t)
    stamps = canvas.stamps()
    positions, note = _plan(t, t.input_size, max_frames, "input cells")
    lows = tuple(lo for lo, _ in t.padding)

    def cropped(c) -> bool:
        return any(not lo <= v < lo + n for v, lo, n in zip(c, lows, t.output_size))

    sums = texts = None
    legend = [("input", "input"), ("stamping now", "tap"), ("stamped", "done")]
    if any(lo or hi for lo, hi in t.padding):
        legend.append(("cropped by padding", "cropped"))
    body = _text.font(13)
    if nums is not None:
        order = _all_positions(t.input_size)
        running = scatter_sums(canvas, nums.x, nums.w, order)
        sums = {source: running[k][0] for k, source in enumerate(order)}
        cell = cell or _draw.cell_for(list(nums.x.ravel()) + [v for r in running for v in r.ravel()],
                                      nums.w.ravel())
        width = layout(t, cell=cell, view="scatter", in_size=t.input_size, out_size=canvas.output_size,
                       note=note, legend_width=_draw.legend_width(legend)).width - 2 * _draw.MARGIN
        texts = {}
        for source in positions:
            value = float(nums.x[(0,) + tuple(source)])
            products = [f"{_text.fmt(value)}×{_text.fmt(float(nums.w[(0, 0,) + tuple(tap.weight)]))}"
                        for _, tap in stamps.get(source, [])]
            line = (f"input ({', '.join(map(str, source))}) = {_text.fmt(value)} stamps the kernel scaled by "
                    f"{_text.fmt(value)}: " + ", ".join(products))
            texts[source] = _text.wrap(line, body, width, ", ")
    cell = cell or auto_cell(t, t.input_size, canvas.output_size)
    lay = layout(t, cell=cell, view="scatter", in_size=t.input_size, out_size=canvas.output_size, note=note,
                 legend_width=_draw.legend_width(legend),
                 numeric_lines=max((len(v) for v in (texts or {}).values()), default=0))
    base = _draw.background(lay, t, legend, ("input", "output before cropping"))
    order_index = {source: k for k, source in enumerate(_all_positions(t.input_size))}
    frames = []
    for source in _progress([None] + positions, progress):
        image = base.copy()
        draw = ImageDraw.Draw(image)
        now = order_index[source] if source is not None else -1
        for j in _all_positions(t.input_size):
            k = order_index[j]
            fill = COLORS["tap"] if k == now else COLORS["done"] if k < now else COLORS["input"]
            shown = None if nums is None else _text.fmt(float(nums.x[(0,) + tuple(j)]))
            _draw.cell(draw, lay.box("input", *_rc(j)), fill, value=shown)
        hit = {o: tap for o, tap in stamps.get(source, [])} if source is not None else {}
        reached: set = set()
        for j, targets in stamps.items():
            if order_index[j] <= now:
                reached.update(o for o, _ in targets)
        for c in _all_positions(canvas.output_size):
            fill = COLORS["tap"] if c in hit else COLORS["done"] if c in reached else COLORS["pending"]
            if cropped(c) and c not in hit:
                fill = COLORS["cropped"]
            shown = None
            if sums is not None and c in reached:
                shown = _text.fmt(float(sums[source][c]))
            weight = None
            if nums is not None and c in hit:
                weight = "×" + _text.fmt(float(nums.w[(0, 0,) + tuple(hit[c].weight)]))
            _draw.cell(draw, lay.box("output", *_rc(c)), fill, value=shown, weight=weight,
                       outline=COLORS["muted"] if cropped(c) else None)
        # the real output: the part not cropped
        x0 = lay.box("output", *_rc(tuple(lows)))[:2]
        x1 = lay.box("output", *_rc(tuple(lo + n - 1 for lo, n in zip(lows, t.output_size))))[2:]
        draw.rectangle([x0[0], x0[1], x1[0], x1[1]], outline=COLORS["window"], width=2)
        for k, line in enumerate((texts or {}).get(source, [])):
            draw.text((_draw.MARGIN, lay.numeric_y + k * (lay.line_height + 2)), line, fill=COLORS["text"],
                      font=body)
        frames.append(image)
    return frames, lay


def _all_positions(shape):
    return list(itertools.product(*(range(n) for n in shape)))
