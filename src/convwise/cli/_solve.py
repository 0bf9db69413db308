"""``convwise shape INPUT -k K --solve-output SIZE``: every small setting that gives SIZE.

A helper of ``convwise shape`` (not a subcommand of its own): the options ``-k``,
``-s``, ``-p``, ``-d``, ``--output-padding``, ``--transposed``, ``--pool`` and
``--ceil-mode`` keep their meaning; what is given is held fixed and the rest is searched
by :func:`convwise.arithmetic.solve_output_size`.
"""

from __future__ import annotations

import json
import re

from .. import arithmetic

__all__ = ["add_argument", "run"]

_DIMS = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def add_argument(parser) -> None:
    """Add ``--solve-output`` to the ``shape`` parser."""
    parser.add_argument("--solve-output", metavar="SIZE", dest="solve_output",
                        help="list every small stride/padding/dilation/output_padding setting that gives this "
                             "output size, e.g. 4x4 (what -s, -p, -d, --output-padding give is held fixed)")


def _size(text: str, ndim: int) -> tuple[int, ...]:
    parts = re.split(r"[x×X,]", text.strip())
    if not all(part.strip().isdigit() for part in parts) or len(parts) not in (1, ndim):
        raise ValueError(f"shape: --solve-output must be {ndim} positive int(s) joined by 'x' like the input's "
                         f"spatial size, got --solve-output={text!r}")
    numbers = tuple(int(part) for part in parts)
    if any(n < 1 for n in numbers):
        raise ValueError(f"shape: --solve-output must be positive, got --solve-output={text!r}")
    return numbers * ndim if len(numbers) == 1 else numbers


def run(args) -> int:
    """Solve and print; returns the exit status (1 when some dimension has no solution)."""
    from .shape import _ints, parse_input

    fn = "shape --solve-output"
    shape = parse_input(args.input, args.spatial)
    if args.specs or args.layer_specs:
        raise ValueError(f"{fn}: solves one layer; give it with -k (and --pool/--transposed), not layer specs")
    if args.kernel is None:
        raise ValueError(f"{fn}: needs the kernel size, e.g. -k 3")
    if args.pool and args.transposed:
        raise ValueError("shape: --pool and --transposed exclude each other")
    op = f"{args.pool}_pool" if args.pool else "conv_transpose" if args.transposed else "conv"
    ndim = len(shape.spatial)
    wanted = _size(args.solve_output, ndim)
    if args.padding is not None and str(args.padding).strip().lower() in ("same", "valid"):
        raise ValueError(f"{fn}: padding is what gets solved; give a number or leave -p out, got -p {args.padding}")

    def given(value, name):
        return None if value is None else _ints(value, fn=fn, name=name)

    solutions = arithmetic.solve_output_size(
        shape.spatial, wanted, _ints(args.kernel, fn=fn, name="kernel"), op=op,
        stride=given(args.stride, "stride"), padding=given(args.padding, "padding"),
        dilation=given(args.dilation, "dilation"), output_padding=given(args.output_padding, "output_padding"),
        ceil_mode=True if args.ceil_mode else None, fn=fn)
    names = _DIMS[ndim]
    if getattr(args, "json", False):
        print(json.dumps({"op": op, "input_size": list(shape.spatial), "output_size": list(wanted),
                          "settings": {name: [s.to_dict() for s in found] for name, found in zip(names, solutions)}}))
        return 0 if all(solutions) else 1
    source = "x".join(map(str, shape.spatial))
    target = "x".join(map(str, wanted))
    print(f"{op} {source} -> {target}, kernel {args.kernel}: settings per dimension "
          f"(stride <= {arithmetic.SOLVE_MAX_STRIDE}, dilation <= {arithmetic.SOLVE_MAX_DILATION}, "
          f"padding <= {arithmetic.SOLVE_MAX_PADDING} unless given)")
    for name, i, o, found in zip(names, shape.spatial, wanted, solutions):
        print(f"{name}: {i} -> {o}: " + ("none in range" if not found else f"{len(found)} setting(s)"))
        for s in found:
            extra = f" output_padding={s.output_padding}" if op == "conv_transpose" else ""
            extra += " ceil_mode=True" if s.ceil_mode else ""
            print(f"  stride={s.stride} padding={s.padding} dilation={s.dilation}{extra}")
    return 0 if all(solutions) else 1
