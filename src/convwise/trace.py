"""Which input cells each kernel tap touches, for every output position: one trace object.

A :class:`Trace` is the shared, view-independent description of a window sweep. The
GIF animation, the command line and the web explorer all render a trace; none of them
recomputes geometry. It is built on the geometries of :mod:`convwise.arithmetic` and is
JSON-serialisable with :meth:`Trace.to_dict`.

The trace lives on a *grid*: the input as the sliding window actually sees it.

- Convolution and pooling: the input padded by ``lo``/``hi`` cells per dimension (for
  pooling with ``ceil_mode`` the last window may reach past the padded input; those cells
  are ``"outside"`` and the grid is extended to show them).
- Transposed convolution is traced honestly as the equivalent direct convolution: the
  input is *stretched* by inserting ``stride - 1`` zeros between neighbours, padded by
  ``dilation*(kernel_size-1) - padding`` cells on each side (plus ``output_padding`` on
  the high side; a negative amount crops), and swept with stride 1 by the *flipped*
  kernel. Each tap records the index into the real weight, so summing
  ``input * weight`` along the trace reproduces :func:`convwise.conv_transpose2d` exactly.

Each cell of the grid has a kind: ``"input"`` (a real input element), ``"padding"``,
``"zero"`` (inserted by stretching) or ``"outside"``.

Examples
--------
>>> t = trace(5, 3, stride=2, padding=1)
>>> t.output_size, t.grid_size, len(t.steps)
((3,), (7,), 3)
>>> [(tap.grid, tap.source, tap.kind) for tap in t.steps[0].taps]
[((0,), None, 'padding'), ((1,), (0,), 'input'), ((2,), (1,), 'input')]
>>> tt = trace(2, 3, op="conv_transpose", stride=2)
>>> tt.grid_size, [tt.cell_kind((g,)) for g in range(tt.grid_size[0])]
((7,), ['padding', 'padding', 'input', 'zero', 'input', 'padding', 'padding'])
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from . import arithmetic
from .layer_kinds import WINDOW_KINDS, kind_of

__all__ = ["Tap", "Step", "Trace", "trace", "OPS", "MAX_TAPS"]

#: operations a trace can describe: the window kinds of the shared table
OPS = WINDOW_KINDS

#: a trace is for looking at: output positions x kernel taps above this are refused
MAX_TAPS = 1_000_000


@dataclass(frozen=True)
class Tap:
    """One kernel tap at one output position.

    ``offset``: the tap's position inside the sliding window, in taps (the window is
    ``kernel_size`` taps, ``dilation`` grid cells apart). ``weight``: the index into the
    op's weight along the spatial axes (the flipped index for a transposed convolution;
    equal to ``offset`` otherwise). ``grid``: the grid cell it lands on. ``source``: the
    input index it reads, or ``None`` for padding, inserted zeros and outside cells.
    ``kind``: the kind of that cell.
    """

    offset: tuple[int, ...]
    weight: tuple[int, ...]
    grid: tuple[int, ...]
    source: tuple[int, ...] | None
    kind: str

    def to_dict(self) -> dict:
        return {"offset": list(self.offset), "weight": list(self.weight), "grid": list(self.grid),
                "source": None if self.source is None else list(self.source), "kind": self.kind}


@dataclass(frozen=True)
class Step:
    """One output position and the taps of its window, in kernel order."""

    output: tuple[int, ...]
    taps: tuple[Tap, ...]

    def to_dict(self) -> dict:
        return {"output": list(self.output), "taps": [tap.to_dict() for tap in self.taps]}


@dataclass(frozen=True)
class Trace:
    """The window sweep of one operation; see the module docstring.

    ``steps`` are in row-major order of the output. ``input_offset`` and ``input_step``
    place input index ``j`` at grid cell ``input_offset + j * input_step`` (``input_step``
    is the stride for a transposed convolution, 1 otherwise). ``window_stride`` is the
    step of the window on the grid (1 for a transposed convolution).
    """

    op: str
    geometry: Any   # ConvGeometry, TransposeGeometry or PoolGeometry
    input_size: tuple[int, ...]
    output_size: tuple[int, ...]
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    grid_size: tuple[int, ...]
    input_offset: tuple[int, ...]
    input_step: tuple[int, ...]
    window_stride: tuple[int, ...]
    grid_padding: tuple[tuple[int, int], ...]
    in_channels: int
    out_channels: int
    groups: int
    output_padding: tuple[int, ...]
    ceil_mode: bool
    count_include_pad: bool
    steps: tuple[Step, ...]

    @property
    def ndim(self) -> int:
        return len(self.input_size)

    @property
    def is_pool(self) -> bool:
        return self.op in ("max_pool", "avg_pool")

    # ------------------------------------------------------------------ cells

    def source_of(self, cell) -> tuple[int, ...] | None:
        """Input index shown at grid ``cell``, or ``None`` for padding/zero/outside cells."""
        index = []
        for g, offset, step, size in zip(cell, self.input_offset, self.input_step, self.input_size):
            j, remainder = divmod(g - offset, step)
            if remainder or not 0 <= j < size:
                return None
            index.append(j)
        return tuple(index)

    def cell_kind(self, cell) -> str:
        """``"input"``, ``"padding"``, ``"zero"`` (inserted by stretching) or ``"outside"``."""
        kind = "input"
        for g, offset, step, size, (lo, hi), full in zip(cell, self.input_offset, self.input_step, self.input_size,
                                                         self.grid_padding, self.grid_size):
            first, last = offset, offset + (size - 1) * step
            if g < 0 or g >= full or g >= lo + (size - 1) * step + 1 + hi:
                return "outside"
            if g < first or g > last:
                kind = "padding"
            elif (g - first) % step and kind == "input":
                kind = "zero"
        return kind

    def cells(self):
        """Every grid cell in row-major order."""
        return itertools.product(*(range(n) for n in self.grid_size))

    # ------------------------------------------------------------------ channels

    def inputs_of(self, out_channel: int) -> range:
        """Input channels that feed output channel ``out_channel`` (its group's channels)."""
        if self.is_pool:
            return range(out_channel, out_channel + 1)
        group = out_channel // (self.out_channels // self.groups)
        per_group = self.in_channels // self.groups
        return range(group * per_group, (group + 1) * per_group)

    def weight_channels(self, out_channel: int, in_channel: int) -> tuple[int, int]:
        """The first two weight indices pairing ``in_channel`` with ``out_channel``.

        Convolution weights are ``(C_out, C_in/groups, *k)``; transposed ones ``(C_in, C_out/groups, *k)``.
        """
        if in_channel not in self.inputs_of(out_channel):
            raise ValueError(f"trace: input channel {in_channel} does not feed output channel {out_channel}")
        if self.op == "conv_transpose":
            return in_channel, out_channel % (self.out_channels // self.groups)
        return out_channel, in_channel % (self.in_channels // self.groups)

    def stamps(self) -> dict:
        """The scatter view: for each input index, the ``(output index, tap)`` pairs it reaches.

        Read backwards, a window sweep says where each input value goes: for a transposed
        convolution, input cell ``j`` stamps ``x[j] * weight`` onto the output cells listed
        here (``tap.weight`` is the weight index used at each), which is how torch
        describes ``conv_transpose``. Input cells that reach no output are absent.
        """
        result: dict = {}
        for step in self.steps:
            for tap in step.taps:
                if tap.source is not None:
                    result.setdefault(tap.source, []).append((step.output, tap))
        return result

    # ------------------------------------------------------------------ numbers

    def grid_values(self, input, fill: float = 0.0):
        """The input (``(C, *input_size)`` or ``input_size``) laid out on the grid.

        Padding and inserted zeros hold 0 (``fill`` for padding with max pooling: pass
        ``-inf``); outside cells hold NaN.
        """
        import numpy as np

        x = np.asarray(input, dtype=np.float64)
        squeeze = x.ndim == self.ndim
        if squeeze:
            x = x[None]
        if x.shape[1:] != self.input_size:
            raise ValueError(f"trace: input of spatial shape {x.shape[1:]} does not match the traced input size "
                             f"{self.input_size}")
        grid = np.zeros((x.shape[0],) + self.grid_size)
        for cell in self.cells():
            kind = self.cell_kind(cell)
            if kind == "padding":
                grid[(slice(None),) + cell] = fill
            elif kind == "outside":
                grid[(slice(None),) + cell] = np.nan
        index = tuple(slice(o, o + (n - 1) * s + 1, s) for o, n, s in zip(self.input_offset, self.input_size,
                                                                          self.input_step))
        grid[(slice(None),) + index] = x
        return grid[0] if squeeze else grid

    def evaluate(self, input, weight=None, bias=None):
        """Compute the op by walking the trace (slow, obvious; for checks and displays).

        ``input``: ``(C_in, *input_size)``; ``weight`` as the engine takes it (convolutions
        only). Returns ``(C_out, *output_size)`` in float64.
        """
        import numpy as np

        x = np.asarray(input, dtype=np.float64)
        y = np.zeros((self.out_channels,) + self.output_size)
        w = None if weight is None else np.asarray(weight, dtype=np.float64)
        if not self.is_pool and w is None:
            raise ValueError(f"trace: evaluating a {self.op} needs a weight")
        for step in self.steps:
            for co in range(self.out_channels):
                if self.is_pool:
                    values = [x[(co,) + tap.source] for tap in step.taps if tap.kind == "input"]
                    if self.op == "max_pool":
                        y[(co,) + step.output] = max(values)
                    else:
                        counted = ("input", "padding") if self.count_include_pad else ("input",)
                        y[(co,) + step.output] = sum(values) / sum(tap.kind in counted for tap in step.taps)
                    continue
                total = 0.0
                for ci in self.inputs_of(co):
                    a, b = self.weight_channels(co, ci)
                    for tap in step.taps:
                        if tap.source is not None:
                            total += x[(ci,) + tap.source] * w[(a, b) + tap.weight]
                y[(co,) + step.output] = total
        if bias is not None:
            y += np.asarray(bias, dtype=np.float64).reshape((-1,) + (1,) * self.ndim)
        return y

    # ------------------------------------------------------------------ export

    def to_dict(self) -> dict:
        """Plain lists, ints, strings and bools only (``json.dumps`` works on it)."""
        return {
            "op": self.op, "input_size": list(self.input_size), "output_size": list(self.output_size),
            "kernel_size": list(self.kernel_size), "stride": list(self.stride),
            "padding": [list(p) for p in self.padding], "dilation": list(self.dilation),
            "output_padding": list(self.output_padding), "ceil_mode": self.ceil_mode,
            "count_include_pad": self.count_include_pad,
            "grid_size": list(self.grid_size), "input_offset": list(self.input_offset),
            "input_step": list(self.input_step), "window_stride": list(self.window_stride),
            "grid_padding": [list(p) for p in self.grid_padding],
            "in_channels": self.in_channels, "out_channels": self.out_channels, "groups": self.groups,
            "channels": [list(self.inputs_of(co)) for co in range(self.out_channels)],
            "explain": arithmetic.explain(self.geometry),
            "steps": [step.to_dict() for step in self.steps],
        }


def _normalise_op(op) -> str:
    if not isinstance(op, str):
        raise TypeError(f"trace: op must be a string, got {type(op).__name__} {op!r}")
    kind = kind_of(op)
    if kind not in OPS:
        raise ValueError(f"trace: op must be one of {', '.join(OPS)}, got op={op!r}")
    return kind


def trace(input_size, kernel_size, stride=None, padding=0, dilation=1, *, op: str = "conv", groups: int = 1,
          in_channels: int | None = None, out_channels: int | None = None, output_padding=0,
          ceil_mode: bool = False, count_include_pad: bool = True) -> Trace:
    """Trace a convolution, transposed convolution, max or average pooling.

    Parameters
    ----------
    input_size : int or tuple
        Spatial input size; its length fixes the number of spatial dimensions.
    kernel_size, stride, padding, dilation
        As in the functional ops. ``stride=None`` means 1 for convolutions and
        ``kernel_size`` for pooling. Convolutions accept ``'same'``/``'valid'`` and
        ``(lo, hi)`` pairs.
    op : ``'conv'``, ``'conv_transpose'``, ``'max_pool'`` or ``'avg_pool'``
    groups, in_channels, out_channels
        Channel structure (convolutions). Channel counts default to ``groups``.
    output_padding : transposed convolution only.
    ceil_mode, count_include_pad : pooling only.

    Raises
    ------
    ValueError
        For an invalid configuration (the message comes from :mod:`convwise.arithmetic`)
        or when output positions x kernel taps exceed :data:`MAX_TAPS`.
    """
    op = _normalise_op(op)
    geometry: Any
    ndim_given = len(input_size) if isinstance(input_size, (tuple, list)) else 1
    fn = f"{op}{ndim_given}d"  # the function a learner knows (conv2d), not an internal name
    if op in ("max_pool", "avg_pool"):
        if op == "avg_pool" and dilation not in (1, (1,), [1]) and any(
                d != 1 for d in (dilation if isinstance(dilation, (tuple, list)) else (dilation,))):
            raise ValueError(f"{fn}: avg_pool has no dilation (as in torch), got dilation={dilation!r}")
        geometry = arithmetic.pool_geometry(input_size, kernel_size, stride, padding, dilation, ceil_mode, fn=fn)
        channels = in_channels if in_channels is not None else (out_channels if out_channels is not None else 1)
        if groups != 1:
            raise ValueError(f"{fn}: pooling has no groups, got groups={groups!r}")
        arithmetic.check_channels(channels, channels, 1, fn=fn)
        in_channels = out_channels = channels
    else:
        in_channels = groups if in_channels is None else in_channels
        out_channels = groups if out_channels is None else out_channels
        arithmetic.check_channels(in_channels, out_channels, groups, fn=fn)
        if op == "conv":
            geometry = arithmetic.conv_geometry(input_size, kernel_size, 1 if stride is None else stride, padding,
                                                dilation, fn=fn)
        else:
            geometry = arithmetic.conv_transpose_geometry(input_size, kernel_size, 1 if stride is None else stride,
                                                          padding, output_padding, dilation, fn=fn)
    if not isinstance(ceil_mode, bool) or not isinstance(count_include_pad, bool):
        raise TypeError(f"{fn}: ceil_mode and count_include_pad must be bools")

    ndim = geometry.ndim
    output_size = geometry.output_size
    kernel = geometry.kernel_size
    if math.prod(output_size) * math.prod(kernel) > MAX_TAPS:
        raise ValueError(f"{fn}: {math.prod(output_size)} output positions x {math.prod(kernel)} kernel taps "
                         f"exceed {MAX_TAPS:,} traced taps; a trace is for small, illustrative sizes")

    if op == "conv_transpose":
        # the equivalent direct convolution over the stretched, padded input (stride 1, flipped kernel)
        amounts = arithmetic.adjoint_padding(geometry)
        grid_padding = tuple((max(lo, 0), max(hi, 0)) for lo, hi in amounts)
        crop = tuple(max(-lo, 0) for lo, _ in amounts)
        grid_size = tuple(n + lo + hi for n, (lo, hi) in zip(geometry.stretched_size, grid_padding))
        input_offset = tuple(lo for lo, _ in grid_padding)
        input_step = geometry.stride
        window_stride = (1,) * ndim
        starts = [[o + c for o in range(out)] for out, c in zip(output_size, crop)]
        output_padding_t = geometry.output_padding
    else:
        grid_padding = geometry.padding
        input_offset = tuple(lo for lo, _ in grid_padding)
        input_step = (1,) * ndim
        window_stride = geometry.stride
        starts = [[o * s for o in range(out)] for out, s in zip(output_size, geometry.stride)]
        reach = tuple(st[-1] + d * (k - 1) + 1 for st, d, k in zip(starts, geometry.dilation, kernel))
        grid_size = tuple(max(p, r) for p, r in zip(geometry.padded_size, reach))  # ceil_mode may overhang
        output_padding_t = (0,) * ndim

    result = Trace(op=op, geometry=geometry, input_size=geometry.input_size, output_size=output_size,
                   kernel_size=kernel, stride=geometry.stride, padding=geometry.padding, dilation=geometry.dilation,
                   grid_size=grid_size, input_offset=input_offset, input_step=input_step,
                   window_stride=window_stride, grid_padding=grid_padding, in_channels=in_channels,
                   out_channels=out_channels, groups=groups if op in ("conv", "conv_transpose") else 1,
                   output_padding=output_padding_t, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                   steps=())
    flip = op == "conv_transpose"
    steps = []
    for output in itertools.product(*(range(n) for n in output_size)):
        taps = []
        for offset in itertools.product(*(range(k) for k in kernel)):
            cell = tuple(starts[axis][output[axis]] + offset[axis] * geometry.dilation[axis] for axis in range(ndim))
            weight = tuple(k - 1 - t for k, t in zip(kernel, offset)) if flip else offset
            kind = result.cell_kind(cell)
            taps.append(Tap(offset, weight, cell, result.source_of(cell) if kind == "input" else None, kind))
        steps.append(Step(output, tuple(taps)))
    object.__setattr__(result, "steps", tuple(steps))
    return result
