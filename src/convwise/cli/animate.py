"""``convwise animate``: a GIF of the kernel sliding over the input (and PNG frames).

Examples::

    convwise animate -i 5 -k 3 -s 2 -p 1 -o conv.gif
    convwise animate --op conv_transpose -i 3 -k 3 -s 2 -p 1 --output-padding 1
    convwise animate --input "[[1,2,3,0,1],[0,1,5,1,0],[1,0,2,2,1],[1,1,2,0,0],[1,0,1,1,1]]" \\
                     --weight "[[1,0,1],[0,1,0],[1,0,1]]"
    convwise animate --gallery gifs/
"""

from __future__ import annotations

import contextlib
import json
import os

__all__ = ["register", "run", "parse_ints"]


def parse_ints(text: str, *, name: str) -> int | tuple[int, ...]:
    """``"3"`` -> 3, ``"3,2"`` or ``"3x2"`` -> (3, 2); ValueError naming the option otherwise."""
    parts = [p for p in str(text).replace("x", ",").replace(" ", "").split(",") if p != ""]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"{name} must be an int or comma-separated ints, got {text!r}") from None
    if not values:
        raise ValueError(f"{name} must be an int or comma-separated ints, got {text!r}")
    return values[0] if len(values) == 1 else values


def _parse_array(text: str, *, name: str):
    import numpy as np

    try:
        value = json.loads(open(text).read() if os.path.isfile(text) else text)
        array = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{name} must be a JSON array (or a file holding one), got {text[:40]!r}: {error}") from None
    if array.ndim not in (1, 2) or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D or 2-D array, got shape {array.shape}")
    return array


def register(subparsers) -> None:
    parser = subparsers.add_parser("animate", help="GIF of a convolution or pooling window sweep",
                                   description="Animate a convolution, transposed convolution or pooling: the "
                                   "kernel footprint sliding over the (padded, or stretched) input and the output "
                                   "filling in, with the size formula as a caption.")
    parser.add_argument("--op", default="conv", help="conv, conv_transpose, max_pool or avg_pool (default conv)")
    parser.add_argument("-i", "--input-size", default=None, help="spatial input size: 5, or 5,7 (default 5)")
    parser.add_argument("--ndim", type=int, choices=(1, 2), default=2,
                        help="spatial dimensions when --input-size is a single int (default 2)")
    parser.add_argument("-k", "--kernel-size", default=None, help="kernel size: 3 or 3,2 (default 3)")
    parser.add_argument("-s", "--stride", default=None, help="stride (default 1; pooling: the kernel size)")
    parser.add_argument("-p", "--padding", default="0", help="padding: int, ints, 'same' or 'valid'")
    parser.add_argument("-d", "--dilation", default="1")
    parser.add_argument("-g", "--groups", type=int, default=1)
    parser.add_argument("--in-channels", type=int, default=None)
    parser.add_argument("--out-channels", type=int, default=None)
    parser.add_argument("--output-padding", default="0", help="transposed convolution only")
    parser.add_argument("--ceil-mode", action="store_true", help="pooling only")
    parser.add_argument("--values", action="store_true", help="numeric mode with small random integers")
    parser.add_argument("--input", dest="input_values", default=None,
                        help="input values, JSON (or a JSON file); implies numeric mode")
    parser.add_argument("--weight", dest="weight_values", default=None,
                        help="kernel values, JSON (or a JSON file); implies numeric mode")
    parser.add_argument("-o", "--out", default="convwise.gif", help="GIF to write (default convwise.gif)")
    parser.add_argument("--frames", default=None, metavar="DIR", help="also write every frame as a PNG to DIR")
    parser.add_argument("--gallery", default=None, metavar="DIR", help="write the standard set of GIFs to DIR")
    parser.add_argument("--cell", type=int, default=None, help="cell size in pixels (default 32; numeric 40)")
    parser.add_argument("--duration", type=int, default=700, help="milliseconds per frame (default 700)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from .._files import atomic_file, output_folder
    from ..trace import trace
    from ..viz import animate as viz

    if args.duration < 20:
        raise ValueError(f"--duration must be at least 20 ms, got {args.duration}")
    if args.gallery:
        with output_folder(args.gallery):       # no partial output: a failure removes what it wrote
            paths = viz.gallery(args.gallery, progress=True, duration=args.duration)
        print(f"wrote {len(paths)} animations to {args.gallery}/")
        return 0
    x = _parse_array(args.input_values, name="--input") if args.input_values else None
    w = _parse_array(args.weight_values, name="--weight") if args.weight_values else None
    input_size = parse_ints(args.input_size, name="--input-size") if args.input_size else \
        (x.shape if x is not None else (5, 5))
    kernel_size = parse_ints(args.kernel_size, name="--kernel-size") if args.kernel_size else \
        (w.shape if w is not None else 3)
    if isinstance(input_size, int):
        input_size = (input_size,) * args.ndim
    padding = args.padding if args.padding in ("same", "valid") else parse_ints(args.padding, name="--padding")
    t = trace(input_size, kernel_size, None if args.stride is None else parse_ints(args.stride, name="--stride"),
              padding, parse_ints(args.dilation, name="--dilation"), op=args.op, groups=args.groups,
              in_channels=args.in_channels, out_channels=args.out_channels,
              output_padding=parse_ints(args.output_padding, name="--output-padding"), ceil_mode=args.ceil_mode)
    if not args.out.lower().endswith(".gif"):
        raise ValueError(f"--out must name a .gif file, got {args.out!r}")
    frames_folder = output_folder(args.frames) if args.frames else contextlib.nullcontext()
    with frames_folder, atomic_file(args.out) as gif:   # no partial GIF or frames on failure
        frames, _ = viz.animate(t, gif, input=x, weight=w, values=args.values or None, cell=args.cell,
                                frames_dir=args.frames, duration=args.duration)
    print(f"wrote {args.out} ({len(frames)} frames: 1 intro + {len(t.steps)} output positions)"
          + (f" and PNG frames in {args.frames}/" if args.frames else ""))
    return 0
