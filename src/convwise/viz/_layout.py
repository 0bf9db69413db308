"""Where everything of an animation frame goes, in pixels: deterministic given the trace and options.

Input channels are drawn as a stack of grids on the left and output channels as a stack
on the right, channels of one group together and groups apart (each with its colour
bar), so a grouped or depthwise convolution shows which inputs feed which outputs.
Tests and other tools find a cell with ``layout.box(grid, row, col, channel)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..trace import Trace
from . import _text

__all__ = ["Layout", "layout", "MARGIN", "MAX_CHANNELS", "auto_cell"]

MARGIN = 16
#: channels drawn per side at most (a picture, not a dump)
MAX_CHANNELS = 8
_LINE = 16
_CHANNEL_GAP, _GROUP_GAP, _LABEL = 10, 22, 30


@dataclass(frozen=True)
class Layout:
    """Pixel positions of one animation's parts."""

    cell: int
    width: int
    height: int
    grids: dict = field(default_factory=dict)   # "input"/"output" (+ ".c" for channel c > 0) -> (x, y, rows, cols)
    title: tuple = ()                           # lines; the first ``heads`` are the bold headline
    heads: int = 1
    caption: tuple = ()
    title_y: int = 0
    label_y: int = 0
    legend_y: int = 0
    numeric_y: int = 0
    caption_y: int = 0
    line_height: int = _LINE
    channel_labels: bool = False

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def key(self, grid: str, channel: int = 0) -> str:
        return grid if channel == 0 else f"{grid}.{channel}"

    def box(self, grid: str, row: int, col: int, channel: int = 0) -> tuple[int, int, int, int]:
        """Pixel box ``(x0, y0, x1, y1)`` (inclusive) of a cell of ``grid`` (``"input"``/``"output"``)."""
        key = self.key(grid, channel)
        if key not in self.grids:
            raise ValueError(f"layout: there is no {grid} channel {channel}")
        x, y, rows, cols = self.grids[key]
        if not (0 <= row < rows and 0 <= col < cols):
            raise ValueError(f"layout: cell ({row}, {col}) is outside the {rows}x{cols} {grid} grid")
        x0, y0 = x + col * self.cell, y + row * self.cell
        return x0, y0, x0 + self.cell - 1, y0 + self.cell - 1

    def centre(self, grid: str, row: int, col: int, channel: int = 0) -> tuple[int, int]:
        x0, y0, x1, y1 = self.box(grid, row, col, channel)
        return (x0 + x1) // 2, (y0 + y1) // 2

    def probe(self, grid: str, row: int, col: int, channel: int = 0) -> tuple[int, int]:
        """A pixel inside the cell's fill that no outline or text ever covers."""
        x0, y0, _, _ = self.box(grid, row, col, channel)
        return x0 + 3, y0 + 3


def rows_cols(size: tuple[int, ...]) -> tuple[int, int]:
    return (1, size[0]) if len(size) == 1 else (size[0], size[1])


def auto_cell(t: Trace, grid_size=None, output_size=None) -> int:
    """The cell size for plain frames: 32 px, shrunk so a frame stays within about 1000 x 800 px."""
    rows_in, cols_in = rows_cols(grid_size or t.grid_size)
    rows_out, cols_out = rows_cols(output_size or t.output_size)
    rows = max(rows_in * t.in_channels, rows_out * t.out_channels)
    return max(12, min(32, 880 // max(cols_in + cols_out, 1), 640 // max(rows, 1)))


def _stack(count: int, groups: int, rows: int, cell: int) -> list[int]:
    """Top offsets of ``count`` grids of ``rows`` cells, groups set apart."""
    per_group = max(count // groups, 1)
    offsets, y = [], 0
    for index in range(count):
        if index and index % per_group == 0:
            y += _GROUP_GAP - _CHANNEL_GAP
        offsets.append(y)
        y += rows * cell + _CHANNEL_GAP
    return offsets


def layout(t: Trace, *, cell: int = 32, numeric_lines: int = 0, min_width: int = 560, view: str = "gather",
           in_size=None, out_size=None, note: str = "", legend_width: int = 0) -> Layout:
    """Compute the layout of an animation of ``t``.

    ``in_size``/``out_size`` override the grids drawn (the scatter view of a transposed
    convolution draws the input itself and the uncropped output).
    """
    if t.ndim > 2:
        raise ValueError(f"animate: only 1-D and 2-D operations can be drawn, got {t.ndim}-D input "
                         f"{'x'.join(map(str, t.input_size))}")
    if not isinstance(cell, int) or isinstance(cell, bool) or cell < 12:
        raise ValueError(f"animate: cell must be an int >= 12 pixels, got cell={cell!r}")
    if max(t.in_channels, t.out_channels) > MAX_CHANNELS:
        raise ValueError(f"animate: at most {MAX_CHANNELS} channels per side can be drawn, got in_channels="
                         f"{t.in_channels}, out_channels={t.out_channels}")
    rows_in, cols_in = rows_cols(in_size or t.grid_size)
    rows_out, cols_out = rows_cols(out_size or t.output_size)
    labels = max(t.in_channels, t.out_channels) > 1
    label = _LABEL if labels else 0
    gap = max(2 * cell, 56)
    in_offsets = _stack(t.in_channels, t.groups, rows_in, cell)
    out_offsets = _stack(t.out_channels, t.groups, rows_out, cell)
    in_height = in_offsets[-1] + rows_in * cell
    out_height = out_offsets[-1] + rows_out * cell
    grid_w = label + cols_in * cell + gap + label + cols_out * cell
    width = max(grid_w + 2 * MARGIN, min_width, legend_width + 2 * MARGIN)
    text_width = width - 2 * MARGIN
    headline, explanation = _text.title_lines(t, view=view, note=note)
    heads = _text.wrap(headline, _text.font(13, bold=True), text_width, "  ", indent="")
    body_lines = [part for line in explanation for part in _text.wrap(line, _text.font(13), text_width, " ", "")]
    caption = _text.caption_lines(t, _text.font(12), text_width)
    title_y = MARGIN
    label_y = title_y + (len(heads) + len(body_lines)) * (_LINE + 2) + 8
    top = label_y + 22
    body = max(in_height, out_height)
    x_in = MARGIN + (text_width - grid_w) // 2 + label
    x_out = x_in + cols_in * cell + gap + label
    grids = {}
    for channel, offset in enumerate(in_offsets):
        key = "input" if channel == 0 else f"input.{channel}"
        grids[key] = (x_in, top + (body - in_height) // 2 + offset, rows_in, cols_in)
    for channel, offset in enumerate(out_offsets):
        key = "output" if channel == 0 else f"output.{channel}"
        grids[key] = (x_out, top + (body - out_height) // 2 + offset, rows_out, cols_out)
    legend_y = top + body + 14
    numeric_y = legend_y + _LINE + 10
    caption_y = numeric_y + numeric_lines * (_LINE + 2) + (6 if numeric_lines else 0)
    height = caption_y + len(caption) * (_LINE - 1) + MARGIN
    return Layout(cell=cell, width=width, height=height, grids=grids, title=tuple(heads + body_lines),
                  heads=len(heads), caption=tuple(caption), title_y=title_y, label_y=label_y, legend_y=legend_y,
                  numeric_y=numeric_y, caption_y=caption_y, channel_labels=labels)
