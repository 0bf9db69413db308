"""Animate a :class:`convwise.trace.Trace` as a GIF: the window sliding, the output filling in.

Each frame shows the input grid as the window sees it (padding grey, zeros inserted by a
transposed convolution pale yellow), the kernel's taps on it, the output grid filling
up, and the output-size formula with the numbers filled in as a caption. Input channels
are a stack of grids on the left, output channels a stack on the right, grouped by
``groups`` (colour bars); each output channel is computed from its own group's inputs.

Numeric mode (``input=``/``weight=`` or ``values=True``) writes the values in cells sized
to fit them, each tapped cell's weight (``×w``), and the window's arithmetic: with one
channel the products and their sum; with several, one line of products per input
channel, the channel sum plus the bias, and the activation. Max pooling outlines the
winning cell (torch's index). Every number comes from the engine
(:mod:`convwise.viz._numbers`).

A transposed convolution can be shown two ways: ``view="gather"`` (default) as the
equivalent plain convolution over the stretched input, ``view="scatter"`` as torch
describes it: each input cell stamps the kernel scaled by its value onto the output,
stamps add up, then ``padding`` cells are cropped from each border.

Frames: one intro frame, then one per shown window (per output channel). A frame budget
(``max_frames``, default :data:`MAX_FRAMES`) keeps large inputs watchable: beyond it the
animation strides through the output positions (every ``s``-th row and column, the last
window always shown) and says so in its title. The last frame is held (``hold`` ms).
"""

from __future__ import annotations

import itertools
import math
import os

from .._guard import require_memory
from ..notation import format_sizes
from ..trace import Trace
from . import _draw, _numbers, _text
from ._draw import COLORS, GROUP_COLORS, save_gif
from ._layout import Layout, auto_cell, layout
from .gallery import GALLERY, gallery, gallery_entries

__all__ = ["COLORS", "GROUP_COLORS", "Layout", "layout", "render", "animate", "save_gif", "window_texts",
           "gallery", "GALLERY", "gallery_entries", "MAX_FRAMES", "plan_positions"]

#: frames per animation (beyond the intro) unless the caller asks for more
MAX_FRAMES = 60


def plan_positions(shape: tuple[int, ...], budget: int) -> tuple[list[tuple[int, ...]], tuple[int, ...]]:
    """Positions of a grid of ``shape`` to show within ``budget`` frames, and the stride per dimension.

    Every position when they fit; otherwise every ``s``-th one per dimension (the
    dimension with the most shown positions strided first) plus the last one.

    >>> plan_positions((24, 24), 40)[1], len(plan_positions((24, 24), 40)[0])
    ((4, 4), 37)
    """
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"animate: max_frames must be a positive int, got max_frames={budget!r}")
    strides = [1] * len(shape)

    def shown() -> list[int]:
        return [math.ceil(n / s) for n, s in zip(shape, strides)]

    while math.prod(shown()) > budget:
        counts = shown()
        strides[counts.index(max(counts))] += 1
    positions = list(itertools.product(*(range(0, n, s) for n, s in zip(shape, strides))))
    last = tuple(n - 1 for n in shape)
    if positions[-1] != last and len(positions) < budget:
        positions.append(last)
    elif positions[-1] != last:
        positions[-1] = last
    return positions, tuple(strides)


def _plan(t: Trace, shape, max_frames: int, what: str):
    per_channel = max(1, max_frames // max(1 if what == "input cells" else t.out_channels, 1))
    positions, strides = plan_positions(shape, per_channel)
    total = math.prod(shape)
    note = ""
    if len(positions) < total:
        note = (f"Frame budget: {len(positions)} of {total} {what} shown (stride {format_sizes(strides)} "
                f"through the positions, and the last); the rest fill in between.")
    return positions, note


def _progress(frames, enabled: bool):
    if not enabled:
        return frames
    from tqdm import tqdm

    return tqdm(frames, desc="drawing frames", unit="frame", leave=False)


def render(t: Trace, *, input=None, weight=None, bias=None, activation: str | None = None,
           values: bool | None = None, cell: int | None = None, seed: int = 0, max_frames: int = MAX_FRAMES,
           view: str = "gather", progress: bool = False):
    """Draw every frame of the animation of ``t``; returns ``(frames, layout)`` (RGB Pillow images).

    ``input``/``weight`` (one channel: spatial arrays; several: ``(C_in, *spatial)`` and
    the engine's weight shape), ``bias`` and ``activation`` (``'relu'``, ``'tanh'``,
    ``'sigmoid'``) switch on numeric mode; ``values=True`` alone draws small random
    integers. ``view='scatter'`` shows a transposed convolution as stamps.
    """
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
        raise ValueError(f"animate: max_frames must be a positive int, got max_frames={max_frames!r}")
    if view not in ("gather", "scatter"):
        raise ValueError(f"animate: view must be 'gather' or 'scatter', got view={view!r}")
    if view == "scatter" and t.op != "conv_transpose":
        raise ValueError(f"animate: the scatter view is for transposed convolutions, got op={t.op!r}")
    numeric = bool(values) or any(v is not None for v in (input, weight, bias, activation))
    nums = None
    if numeric:
        if input is None or (weight is None and not t.is_pool):
            x0, w0 = _numbers.random_values(t, seed)
            input = x0 if input is None else input
            weight = w0 if weight is None else weight
        nums = _numbers.numbers(t, input, weight, bias, activation)
    if view == "scatter":
        from ._scatter import render_scatter

        return render_scatter(t, nums, cell=cell, max_frames=max_frames, progress=progress)
    return _render_gather(t, nums, cell=cell, max_frames=max_frames, progress=progress)


def _texts(t: Trace, nums, co: int, step) -> list[str]:
    if t.in_channels == 1 and t.out_channels == 1 and nums.bias is None and not nums.activation:
        return [_text.window_text(t, step, nums.grids[0], nums.kernel(t, 0, 0), float(nums.pre[(0,) + tuple(step.output)]))]
    grids = {ci: nums.grids[ci] for ci in t.inputs_of(co)}
    kernels = {ci: nums.kernel(t, co, ci) for ci in t.inputs_of(co)}
    if t.is_pool:
        partials = {co: float(nums.pre[(co,) + tuple(step.output)])}
    else:
        partials = {ci: float(nums.partials[(co, ci,) + tuple(step.output)]) for ci in t.inputs_of(co)}
    bias = None if nums.bias is None else float(nums.bias[co])
    return _text.channel_texts(t, step, co, grids, kernels, partials, float(nums.pre[(co,) + tuple(step.output)]), bias,
                               nums.activation)


def _render_gather(t: Trace, nums, *, cell, max_frames, progress):
    from PIL import ImageDraw

    positions, note = _plan(t, t.output_size, max_frames, "windows")
    index_of = {step.output: i for i, step in enumerate(t.steps)}
    frames_spec = [(co, index_of[p]) for co in range(t.out_channels) for p in positions]
    kinds = {c: t.cell_kind(c) for c in t.cells()}
    legend = _text.legend(t, set(kinds.values()), [("max (torch's index)", "winner")] if
                          (nums is not None and t.op == "max_pool") else [])
    body = _text.font(13)
    texts: dict = {}
    if nums is not None:
        import numpy as np

        finite = nums.grids[np.isfinite(nums.grids)]
        weights = () if nums.w is None else nums.w.ravel()
        cell = cell or _draw.cell_for(list(finite) + list(nums.y.ravel()), weights)
        probe = layout(t, cell=cell, note=note, legend_width=_draw.legend_width(legend))
        width = probe.width - 2 * _draw.MARGIN
        for co, i in frames_spec:
            lines = _texts(t, nums, co, t.steps[i])
            texts[(co, i)] = [part for line in lines for part in
                              _text.wrap(line, body, width, " + " if " + " in line else ", ")]
    cell = cell or auto_cell(t)
    lay = layout(t, cell=cell, note=note, legend_width=_draw.legend_width(legend),
                 numeric_lines=max((len(v) for v in texts.values()), default=0))
    names = ("input (stretched, padded)" if t.op == "conv_transpose" else "input",
             "output" + (f" (after {_text.ACTIVATIONS[nums.activation][0]})" if nums and nums.activation else ""))
    n = len(t.steps)

    def input_cell(draw, ci, c, kind, tap=None, kernel=None):
        fill = COLORS[("tap" if kind == "input" else "tap_padding") if tap is not None else kind]
        value = weight = None
        if nums is not None and kind != "outside" and not (kind == "padding" and t.op == "max_pool"):
            value = _text.fmt(float(nums.grids[(ci,) + tuple(c)]))
        if tap is not None and kernel is not None:
            weight = "×" + _text.fmt(float(kernel[tap.weight]))
        _draw.cell(draw, lay.box("input", *_rc(c), channel=ci), fill,
                   outline=COLORS["grid_line"] if kind == "input" else COLORS["muted"], value=value, weight=weight,
                   ink=COLORS["text"] if kind == "input" else COLORS["muted"])

    def output_cell(draw, key, state):
        c2, j = divmod(key, n)
        value = None
        if nums is not None and state != "pending":
            value = _text.fmt(float(nums.y[(c2,) + tuple(t.steps[j].output)]))
        _draw.cell(draw, lay.box("output", *_rc(t.steps[j].output), channel=c2), COLORS[state], value=value,
                   ink=COLORS["background"] if state == "current" else COLORS["text"])

    # what does not change between frames is drawn once: every cell in its plain state; then each frame
    # draws only the window's cells, and the outputs computed so far accumulate on a running image
    running = _draw.background(lay, t, legend, names)
    draw = ImageDraw.Draw(running)
    for ci in range(t.in_channels):
        for c, kind in kinds.items():
            input_cell(draw, ci, c, kind)
    for key in range(t.out_channels * n):
        output_cell(draw, key, "pending")
    done_upto = 0
    frames = []
    for frame in _progress([None] + frames_spec, progress):
        co, i = frame if frame else (0, -1)
        now = co * n + i if frame else -1
        for key in range(done_upto, max(now, 0)):
            output_cell(draw, key, "done")
        done_upto = max(done_upto, now)
        image = running.copy()
        if frame is None:
            frames.append(image)
            continue
        step = t.steps[i]
        canvas = ImageDraw.Draw(image)
        active = sorted(t.inputs_of(co))
        for ci in active:
            kernel = nums.kernel(t, co, ci) if nums is not None else None
            for tap in step.taps:
                input_cell(canvas, ci, tap.grid, kinds[tap.grid], tap, kernel)
            b0 = lay.box("input", *_rc(step.taps[0].grid), channel=ci)
            b1 = lay.box("input", *_rc(step.taps[-1].grid), channel=ci)
            canvas.rectangle([b0[0], b0[1], b1[2], b1[3]], outline=COLORS["window"], width=2)
            if nums is not None and t.op == "max_pool":  # torch's winner, over the window's outline
                winner = lay.box("input", *_rc(nums.winners[(co, step.output)]), channel=ci)
                canvas.rectangle(winner, outline=COLORS["winner"], width=3)
        output_cell(canvas, now, "current")
        canvas.rectangle(lay.box("output", *_rc(step.output), channel=co), outline=COLORS["window"], width=2)
        if lay.channel_labels:
            colour = _draw.group_colour(co // max(t.out_channels // t.groups, 1)) if not t.is_pool else \
                _draw.group_colour(co)
            ox, oy, orows, _ = lay.grids[lay.key("output", co)]
            for ci in active:
                ix, iy, irows, icols = lay.grids[lay.key("input", ci)]
                canvas.line([(ix + icols * lay.cell + 4, iy + irows * lay.cell // 2),
                             (ox - 34, oy + orows * lay.cell // 2)], fill=colour, width=2)
        for k, line in enumerate(texts.get((co, i), [])):
            canvas.text((_draw.MARGIN, lay.numeric_y + k * (lay.line_height + 2)), line, fill=COLORS["text"],
                        font=body)
        frames.append(image)
    return frames, lay


def _rc(cell: tuple[int, ...]) -> tuple[int, int]:
    return (0, cell[0]) if len(cell) == 1 else (cell[0], cell[1])


def window_texts(t: Trace, input, weight=None, bias=None, activation: str | None = None) -> list[str]:
    """Numeric mode's text per window (per output channel, then position), lines joined by newlines.

    The values come from the engine (``convwise.conv2d`` etc.).

    >>> from convwise.trace import trace
    >>> window_texts(trace(3, 2), [1.0, 2.0, 3.0], [1.0, -1.0])
    ['1×1 + 2×−1 = −1', '2×1 + 3×−1 = −1']
    """
    nums = _numbers.numbers(t, input, weight, bias, activation)
    return ["\n".join(_texts(t, nums, co, step)) for co in range(t.out_channels) for step in t.steps]


def animate(t: Trace, path=None, *, input=None, weight=None, bias=None, activation: str | None = None,
            values: bool | None = None, cell: int | None = None, frames_dir=None, duration: int = 700,
            hold: int = 2000, seed: int = 0, max_frames: int = MAX_FRAMES, view: str = "gather",
            progress: bool = False):
    """Render ``t`` (see :func:`render`) and write a GIF to ``path`` (and PNG frames to ``frames_dir``).

    Returns ``(frames, layout)``; frame ``0`` is the intro frame.
    """
    if not isinstance(t, Trace):
        raise TypeError(f"animate: expected a convwise.trace.Trace, got {type(t).__name__}")
    shown = min(len(t.steps), max_frames) + 1 if isinstance(max_frames, int) and max_frames > 0 else len(t.steps) + 1
    pixels = (math.prod(t.grid_size) + math.prod(t.output_size)) * (cell if isinstance(cell, int) and cell > 0 else 40) ** 2
    require_memory("animate", shown * pixels * 3, what=f"{shown} RGB frames")
    frames, lay = render(t, input=input, weight=weight, bias=bias, activation=activation, values=values, cell=cell,
                         seed=seed, max_frames=max_frames, view=view, progress=progress)
    if path is not None:
        save_gif(frames, path, duration=duration, hold=hold, progress=progress)
    if frames_dir is not None:
        os.makedirs(frames_dir, exist_ok=True)
        for index, frame in enumerate(frames):
            frame.save(os.path.join(frames_dir, f"frame_{index:03d}.png"), optimize=True)
    return frames, lay


