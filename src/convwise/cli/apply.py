"""``convwise apply``: convolve (or run a saved model over) an array on disk, chunk by chunk, into Zarr.

    convwise apply scan.npy --weight w.npy --bias b.npy --padding 1 --output out.zarr --chunk 512
    convwise apply scan.zarr --model weights.npz --output out.zarr --scheduler tcp://10.0.0.5:8786
    convwise apply scan.npy --model unet.onnx --output out.zarr

The input (``.npy`` or Zarr, ``(N, C, *spatial)`` or ``(C, *spatial)``) is read lazily in
chunks of ``--chunk`` cells per spatial axis, processed by :mod:`convwise.dask` (halos
from the weight's or model's geometry, results equal to the in-memory ones) and written
to ``--output`` with a progress bar. The Zarr output appears only when complete.
"""

from __future__ import annotations

from typing import Any

SCHEDULERS = ("threads", "processes", "synchronous")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "apply", help="convolve a .npy/Zarr array (or run a saved model over it) chunk by chunk into Zarr",
        description="Apply a convolution (--weight) or a saved convwise model (--model) to an array on disk with "
                    "Dask, writing a Zarr array chunk by chunk. Larger-than-memory inputs are fine.")
    parser.add_argument("input", metavar="INPUT", help="input array: .npy file or Zarr array")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--weight", metavar="W.npy", help="convolution weight (C_out, C_in/groups, *kernel)")
    what.add_argument("--model", metavar="MODEL",
                      help="a model saved by `convwise train --out` (.npz) or an ONNX file (.onnx)")
    parser.add_argument("--bias", metavar="B.npy", help="convolution bias (C_out,)")
    parser.add_argument("--stride", default="1", help="int or comma list, e.g. 2 or 2,1 (default 1)")
    parser.add_argument("--padding", default="0", help="int, comma list, 'same' or 'valid' (default 0)")
    parser.add_argument("--dilation", default="1", help="int or comma list (default 1)")
    parser.add_argument("--groups", type=int, default=1, help="channel groups (default 1)")
    parser.add_argument("--padding-mode", default="zeros", choices=("zeros", "reflect", "replicate", "circular"),
                        help="what the padding holds, at the array's outer edge (default zeros)")
    parser.add_argument("--output", required=True, metavar="OUT.zarr", help="Zarr array to write")
    parser.add_argument("--chunk", type=int, default=512, metavar="N",
                        help="input chunk size along each spatial axis (default 512); one sample per chunk")
    parser.add_argument("--scheduler", default="threads", metavar="ADDRESS",
                        help="threads (default), processes, synchronous, or a dask.distributed scheduler address")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    parser.set_defaults(func=run)


def _ints(text: str, name: str):
    if text in ("same", "valid") and name == "--padding":
        return text
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{name} must be an int or a comma-separated list of ints, got {text!r}") from None
    return values[0] if len(values) == 1 else values


def _load_npy(path: str, name: str):
    import numpy as np

    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(f"{name}: no such file: {path}") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"{name}: {path} is not a readable .npy array ({error})") from None


def _build(args):
    """The lazy result (validated: shapes, dtypes, memory per task) before anything is written."""
    from .. import dask as cwd
    from ..dask.io import read_array

    if args.chunk < 1:
        raise ValueError(f"--chunk must be positive, got --chunk={args.chunk}")
    if args.model is not None:
        from ..train import load

        for flag in ("bias",):
            if getattr(args, flag) is not None:
                raise ValueError(f"--{flag} applies to --weight only, not to --model")
        if str(args.model).lower().endswith(".onnx"):
            from ..onnx import load as load_onnx

            model = load_onnx(args.model, fn="apply")
            if len(model.input_shapes) != 1 or model.input_shapes[0] is None or len(model.input_shapes[0]) < 3:
                raise ValueError(f"apply: --model {args.model} must have one (N, C, *spatial) input, got input "
                                 f"shapes {model.input_shapes}")
            spatial = len(model.input_shapes[0]) - 2
        else:
            model, _ = load(args.model)
            spatial = next((len(g.kernel_size) for g in cwd.layer_geometries(model) if g.kind != "pointwise"), 2)
    else:
        weight = _load_npy(args.weight, "--weight")
        spatial = weight.ndim - 2
        if spatial not in (1, 2, 3):
            raise ValueError(f"--weight must be 3D, 4D or 5D (C_out, C_in/groups, *kernel), got shape {weight.shape}")

    def chunks(shape):
        if len(shape) not in (spatial + 1, spatial + 2):
            raise ValueError(f"apply: input must be {spatial + 1}D (C, *spatial) or {spatial + 2}D (N, C, *spatial) "
                             f"for a {spatial}D {'model' if args.model else 'weight'}, got shape {shape}")
        lead = (shape[0],) if len(shape) == spatial + 1 else (1, shape[1])
        return lead + (args.chunk,) * spatial

    x = read_array(args.input, chunks, fn="apply")
    if args.model is not None:
        def build(chunks=None):
            return cwd.apply_model(model, x, chunks=chunks)
    else:
        bias = None if args.bias is None else _load_npy(args.bias, "--bias")
        conv = getattr(cwd, f"conv{spatial}d")

        def build(chunks=None):
            return conv(x, weight, bias, _ints(args.stride, "--stride"), _ints(args.padding, "--padding"),
                        _ints(args.dilation, "--dilation"), args.groups, padding_mode=args.padding_mode,
                        chunks=chunks)
    # Zarr wants regular chunks: cut the output every chunk * (output / input size) cells, so each task
    # writes exactly one Zarr chunk (tiling by the input's chunks would leave the first one longer).
    probe = build()
    if probe.ndim != x.ndim or probe.ndim < spatial + 1:
        return probe  # a model with a whole-plane tail (e.g. a classifier): its output is not spatial
    sizes = zip(probe.shape[-spatial:], x.shape[-spatial:])
    return build(tuple(max(1, round(args.chunk * out / size)) for out, size in sizes))


def run(args) -> int:
    import sys

    import dask

    from ..dask.io import write_zarr

    y = _build(args)
    context: Any
    if args.scheduler in SCHEDULERS:
        context = dask.config.set(scheduler=args.scheduler)
    else:
        from distributed import Client

        try:
            context = Client(args.scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as error:
            raise ValueError(f"--scheduler: cannot reach {args.scheduler!r} ({error})") from None
    with context:
        try:
            write_zarr(y, args.output, overwrite=args.overwrite, progress=not args.no_progress, fn="apply")
        except OSError as error:
            raise ValueError(f"cannot write {args.output}: {error}") from None
    sys.stderr.write(f"wrote {args.output}: shape {y.shape}, dtype {y.dtype}, chunks {y.chunksize}\n")
    return 0
