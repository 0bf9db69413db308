"""Drawing with Pillow: colours, the static background of a frame, cells with their numbers, GIF writing.

Cells are sized to their text by :func:`cell_for`: the widest number a frame shows
(and the ``×w`` weight under it) fits inside its cell, whatever the values.
"""

from __future__ import annotations

from .. import trace as _trace
from . import _text
from ._layout import MARGIN, Layout

__all__ = ["COLORS", "GROUP_COLORS", "cell_for", "background", "cell", "save_gif", "to_palette", "palette",
           "group_colour", "VALUE_FONT", "WEIGHT_FONT"]

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
    "winner": (203, 24, 29),
    "cropped": (236, 231, 242),
}
GROUP_COLORS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (140, 86, 75), (227, 119, 194),
                (188, 189, 34), (23, 190, 207)]
VALUE_FONT, WEIGHT_FONT = 13, 10


def group_colour(index: int) -> tuple[int, int, int]:
    return GROUP_COLORS[index % len(GROUP_COLORS)]


def cell_for(values, weights=(), minimum: int = 40) -> int:
    """Cell size (px) that fits every value text and, under it, every ``×w`` weight text."""
    value_face, weight_face = _text.font(VALUE_FONT), _text.font(WEIGHT_FONT)
    widest = max((value_face.getlength(_text.fmt(float(v))) for v in values), default=0)
    widest_weight = max((weight_face.getlength("×" + _text.fmt(float(v))) for v in weights), default=0)
    return max(minimum, int(widest) + 12, int(widest_weight) + 8)


def palette():
    """A fixed GIF palette: our colours plus blends of text over every fill (antialiasing)."""
    colours = list(dict.fromkeys(list(COLORS.values()) + GROUP_COLORS))
    fills = [COLORS[k] for k in ("background", "input", "padding", "zero", "tap", "tap_padding", "done",
                                 "current", "outside", "cropped")]
    inks = [COLORS["text"], COLORS["muted"], COLORS["window"], COLORS["winner"], COLORS["background"]]
    for fill in fills:
        for ink in inks:
            for a in (0.25, 0.5, 0.75):
                colours.append(tuple(round(f + a * (i - f)) for f, i in zip(fill, ink)))
    return list(dict.fromkeys(colours))[:256]


def to_palette(frames, colours):
    """RGB images -> "P" images on ``colours``, every pixel mapped to its exactly nearest entry.

    (Pillow's own ``quantize(palette=...)`` approximates the nearest colour and may move
    a palette colour onto a neighbour; the tests read colours back exactly.)
    """
    import numpy as np
    from PIL import Image

    table = np.asarray(colours, dtype=np.int64)
    known = np.empty(0, dtype=np.int64)      # sorted packed RGB colours seen so far
    index_of = np.empty(0, dtype=np.uint8)   # their palette indices
    flat = [v for c in colours for v in c]
    images = []
    for frame in frames:
        rgb = np.asarray(frame, dtype=np.int64)
        packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        position = np.searchsorted(known, packed).clip(0, max(len(known) - 1, 0))
        missing = packed[known[position] != packed] if len(known) else packed.ravel()
        if missing.size:
            new = np.unique(missing)
            rgb_new = np.stack([(new >> 16) & 255, (new >> 8) & 255, new & 255], axis=1)
            nearest = ((rgb_new[:, None, :] - table[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
            known = np.concatenate([known, new])
            index_of = np.concatenate([index_of, nearest.astype(np.uint8)])
            order = np.argsort(known, kind="stable")
            known, index_of = known[order], index_of[order]
            position = np.searchsorted(known, packed)
        image = Image.fromarray(index_of[position], "P")
        image.putpalette(flat)
        images.append(image)
    return images


def save_gif(frames, path, *, duration: int = 700, hold: int = 2000, progress: bool = False) -> None:
    """Write frames as a looping GIF on a fixed palette (exact colours, small files); the last is held."""
    if progress:
        from tqdm import tqdm

        frames = tqdm(frames, desc="writing GIF", unit="frame", leave=False)
    quantised = to_palette(frames, palette())
    durations = [duration] * len(frames)
    durations[0] = max(duration, 900)
    durations[-1] = hold
    quantised[0].save(path, save_all=True, append_images=quantised[1:], duration=durations, loop=0,
                      optimize=True, disposal=1)


def cell(draw, box, fill, *, outline=None, value: str | None = None, weight: str | None = None,
         ink=None, border=None) -> None:
    """One cell: its fill, outline, the value (upper middle) and a ``×w`` weight (lower right)."""
    draw.rectangle(box, fill=fill, outline=outline or COLORS["grid_line"])
    x0, y0, x1, y1 = box
    size = x1 - x0 + 1
    if value is not None:
        y = y0 + (size * 0.42 if weight is not None else size / 2)
        draw.text(((x0 + x1 + 1) / 2, y), value, fill=ink or COLORS["text"], font=_text.font(VALUE_FONT),
                  anchor="mm")
    if weight is not None:
        draw.text((x1 - 3, y1 - 2), weight, fill=COLORS["window"], font=_text.font(WEIGHT_FONT), anchor="rd")
    if border is not None:
        draw.rectangle(box, outline=border, width=3)


def _labels(draw, lay: Layout, t: _trace.Trace, names: tuple[str, str]) -> None:
    label_face, small = _text.font(14, bold=True), _text.font(11)
    for grid, name, count in (("input", names[0], t.in_channels), ("output", names[1], t.out_channels)):
        x, y, rows, cols = lay.grids["input" if grid == "input" else "output"]
        draw.text((x + cols * lay.cell / 2, lay.label_y + 14), name, fill=COLORS["text"], font=label_face,
                  anchor="mb")
        if not lay.channel_labels:
            continue
        per_group = max(count // t.groups, 1) if not t.is_pool else 1
        for channel in range(count):
            gx, gy, rows, _ = lay.grids[lay.key(grid, channel)]
            colour = group_colour(channel // per_group)
            draw.rectangle([gx - 7, gy, gx - 4, gy + rows * lay.cell - 1], fill=colour)
            draw.text((gx - 10, gy + rows * lay.cell / 2), str(channel), fill=COLORS["muted"], font=small,
                      anchor="rm")


def background(lay: Layout, t: _trace.Trace, legend, names=("input", "output")):
    """The static part of every frame: title, grid names, channel labels, arrow, legend and caption."""
    from PIL import Image, ImageDraw

    base = Image.new("RGB", lay.size, COLORS["background"])
    draw = ImageDraw.Draw(base)
    body, head = _text.font(13), _text.font(13, bold=True)
    for index, line in enumerate(lay.title):
        bold = index < lay.heads
        draw.text((MARGIN, lay.title_y + index * (lay.line_height + 2)), line,
                  fill=COLORS["text"] if bold else COLORS["muted"], font=head if bold else body)
    _labels(draw, lay, t, names)
    x_in, y_in, rows_in, cols_in = lay.grids["input"]
    x_out = lay.grids["output"][0]
    ys = [g[1] for g in lay.grids.values()]
    bottoms = [g[1] + g[2] * lay.cell for g in lay.grids.values()]
    arrow_y = (min(ys) + max(bottoms)) // 2
    a0 = x_in + cols_in * lay.cell + 10
    a1 = x_out - (40 if lay.channel_labels else 10)
    if not lay.channel_labels:  # with several channels, lines join each output to its inputs instead
        draw.line([(a0, arrow_y), (a1, arrow_y)], fill=COLORS["muted"], width=2)
        draw.polygon([(a1, arrow_y), (a1 - 8, arrow_y - 5), (a1 - 8, arrow_y + 5)], fill=COLORS["muted"])
    lx = MARGIN
    for name, colour in legend:
        draw.rectangle([lx, lay.legend_y, lx + 12, lay.legend_y + 12], fill=COLORS[colour],
                       outline=COLORS["grid_line"])
        draw.text((lx + 17, lay.legend_y + 6), name, fill=COLORS["muted"], font=body, anchor="lm")
        lx += 17 + int(body.getlength(name)) + 16
    for index, line in enumerate(lay.caption):
        draw.text((MARGIN, lay.caption_y + index * (lay.line_height - 1)), line, fill=COLORS["text"],
                  font=_text.font(12))
    return base


def legend_width(legend) -> int:
    body = _text.font(13)
    return sum(17 + int(body.getlength(name)) + 16 for name, _ in legend) - 16
