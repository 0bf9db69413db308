"""``convwise animate``: a GIF of the kernel sliding over the input (and PNG frames).

Examples::

    convwise animate -i 5 -k 3 -s 2 -p 1 -o conv.gif
    convwise animate -i 28 -k 5 -o mnist-layer.gif       # large: a frame budget strides through positions
    convwise animate --op conv_transpose -i 3 -k 3 -s 2 -p 1 --output-padding 1 --view scatter
    convwise animate --input "[[1,2,3,0,1],[0,1,5,1,0],[1,0,2,2,1],[1,1,2,0,0],[1,0,1,1,1]]" \\
                     --weight "[[1,0,1],[0,1,0],[1,0,1]]"
    convwise animate --in-channels 2 --out-channels 1 -i 4 --values --bias 1 --activation relu
    convwise animate --gallery gifs/
"""

from __future__ import annotations

import contextlib
import json
import os

__all__ = ["register", "run", "parse_ints"]


def parse_ints(text: str, *, name: str) -> int | tuple[int, ...]:
    """``"3"`` -> 3, ``"3,2"`` or ``"3x2"`` -> (3, 2); ValueError naming the option otherwise."""
    from ..notation import parse_ints as parse

    return parse(text, fn="animate", name=name)


def _parse_array(text: str, *, name: str, ndim: tuple[int, ...] = (1, 2, 3)):
    import numpy as np

    try:
        with open(text) if os.path.isfile(text) else _Text(text) as handle:
            value = json.loads(handle.read())
        array = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError) as error:
        raise ValueError(f"animate: {name} must be a JSON array (or a file holding one), got {text[:40]!r}: "
                         f"{error}") from None
    if array.ndim not in ndim or array.size == 0:
        raise ValueError(f"animate: {name} must be a non-empty array of {' or '.join(map(str, ndim))} dimensions, "
                         f"got shape {array.shape}")
    return array


class _Text:
    def __init__(self, text):
        self.text = text

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read(self):
        return self.text


def register(subparsers) -> None:
    from ..notation import PADDING_HELP

    parser = subparsers.add_parser("animate", help="GIF of a convolution or pooling window sweep",
                                   description="Animate a convolution, transposed convolution or pooling: the "
                                   "kernel sliding over the (padded, or stretched) input and the output filling "
                                   "in, with the size formula as a caption. Sizes are written 5, 5x7 or 5,7.")
    parser.add_argument("--op", default="conv", help="conv, conv_transpose, max_pool or avg_pool (default conv)")
    parser.add_argument("-i", "--input-size", default=None, help="spatial input size: 5, or 5x7 (default 5)")
    parser.add_argument("--ndim", type=int, choices=(1, 2), default=2,
                        help="spatial dimensions when --input-size is a single int (default 2)")
    parser.add_argument("-k", "--kernel-size", default=None, help="kernel size: 3 or 3x2 (default 3)")
    parser.add_argument("-s", "--stride", default=None, help="stride (default 1; pooling: the kernel size)")
    parser.add_argument("-p", "--padding", default="0", help=f"padding: {PADDING_HELP}")
    parser.add_argument("-d", "--dilation", default="1")
    parser.add_argument("-g", "--groups", type=int, default=1)
    parser.add_argument("--in-channels", type=int, default=None)
    parser.add_argument("--out-channels", type=int, default=None)
    parser.add_argument("--output-padding", default="0", help="transposed convolution only")
    parser.add_argument("--ceil-mode", action="store_true", help="pooling only")
    parser.add_argument("--view", choices=("gather", "scatter"), default="gather",
                        help="transposed convolution: gather (a convolution over the stretched input, default) or "
                        "scatter (each input cell stamps the scaled kernel onto the output)")
    parser.add_argument("--values", action="store_true", help="numeric mode with small random integers")
    parser.add_argument("--input", dest="input_values", default=None,
                        help="input values, JSON (or a JSON file): HxW, or CxHxW for several channels; "
                        "implies numeric mode")
    parser.add_argument("--weight", dest="weight_values", default=None,
                        help="kernel values, JSON (or a JSON file): a kHxkW kernel, or the full weight "
                        "(C_out, C_in/groups, kH, kW); implies numeric mode")
    parser.add_argument("--bias", default=None, help="numeric mode: one bias per output channel (3 or 1,-2)")
    parser.add_argument("--activation", choices=("relu", "tanh", "sigmoid"), default=None,
                        help="numeric mode: apply this after the channel sum and bias")
    parser.add_argument("-o", "--out", default="convwise.gif", help="GIF to write (default convwise.gif)")
    parser.add_argument("--frames", default=None, metavar="DIR", help="also write every frame as a PNG to DIR")
    parser.add_argument("--max-frames", type=int, default=None,
                        help="frame budget (default 60): beyond it the animation strides through the positions")
    parser.add_argument("--gallery", default=None, metavar="DIR", help="write the standard set of GIFs to DIR")
    parser.add_argument("--cell", type=int, default=None, help="cell size in pixels (default: sized to fit)")
    parser.add_argument("--duration", type=int, default=700, help="milliseconds per frame (default 700)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from .._files import atomic_file, output_folder
    from ..notation import parse_padding
    from ..trace import trace
    from ..viz import animate as viz

    if args.duration < 20:
        raise ValueError(f"animate: --duration must be at least 20 ms, got {args.duration}")
    if args.gallery:
        with output_folder(args.gallery):       # no partial output: a failure removes what it wrote
            paths = viz.gallery(args.gallery, progress=True, duration=args.duration)
        print(f"wrote {len(paths)} animations to {os.path.join(args.gallery, '')}")
        return 0
    if not args.out.lower().endswith(".gif"):
        raise ValueError(f"animate: --out must name a .gif file, got {args.out!r}")
    x = _parse_array(args.input_values, name="--input") if args.input_values else None
    w = _parse_array(args.weight_values, name="--weight", ndim=(1, 2, 3, 4)) if args.weight_values else None
    input_size = parse_ints(args.input_size, name="--input-size") if args.input_size else None
    if input_size is None:
        input_size = (x.shape[-args.ndim:] if x is not None and x.ndim > args.ndim else x.shape) if x is not None \
            else 5
    if isinstance(input_size, int):
        input_size = (input_size,) * args.ndim
    in_channels = args.in_channels
    if in_channels is None and x is not None and x.ndim == len(input_size) + 1:
        in_channels = x.shape[0]
    kernel_size = parse_ints(args.kernel_size, name="--kernel-size") if args.kernel_size else \
        (w.shape[-len(input_size):] if w is not None else 3)
    bias = None
    if args.bias is not None:
        import numpy as np

        from ..notation import parse_ints as parse_any

        try:
            bias = np.asarray([float(v) for v in args.bias.replace("x", ",").split(",")])
        except ValueError:
            parse_any(args.bias, fn="animate", name="--bias", negative=True)  # raises the one-line message
    padding = parse_padding(args.padding, fn="animate", name="--padding", ndim=len(input_size))
    out_channels = args.out_channels
    if out_channels is None and w is not None and w.ndim == len(input_size) + 2:
        from ..layer_kinds import kind_of

        kind = kind_of(args.op)
        out_channels = w.shape[0] if kind == "conv" else w.shape[1] * args.groups if kind == "conv_transpose" else None
    t = trace(input_size, kernel_size, None if args.stride is None else parse_ints(args.stride, name="--stride"),
              padding, parse_ints(args.dilation, name="--dilation"), op=args.op, groups=args.groups,
              in_channels=in_channels, out_channels=out_channels,
              output_padding=parse_ints(args.output_padding, name="--output-padding"), ceil_mode=args.ceil_mode)
    options = {} if args.max_frames is None else {"max_frames": args.max_frames}
    frames_folder = output_folder(args.frames) if args.frames else contextlib.nullcontext()
    with frames_folder, atomic_file(args.out) as gif:   # no partial GIF or frames on failure
        frames, _ = viz.animate(t, gif, input=x, weight=w, bias=bias, activation=args.activation,
                                values=args.values or None, cell=args.cell, frames_dir=args.frames,
                                duration=args.duration, view=args.view, progress=True, **options)
    shown = len(frames) - 1
    what = ("input cell" if args.view == "scatter" else "window") + ("" if shown == 1 else "s")
    total = len(t.steps) * t.out_channels if args.view != "scatter" else len(frames) - 1
    print(f"wrote {args.out} ({len(frames)} frames: 1 intro + {shown} {what}"
          + (f" of {total}, strided to fit the frame budget" if shown < total else "") + ")"
          + (f" and PNG frames in {os.path.join(args.frames, '')}" if args.frames else ""))
    return 0
