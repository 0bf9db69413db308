"""The numbers of numeric-mode frames, every one computed by the engine (``convwise.functional``).

The drawing code never adds or multiplies: outputs, per-channel partial sums, the
max-pool winner (torch's index) and the running sums of the scatter view all come
from :mod:`convwise.functional` calls on the user's arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..trace import Trace

__all__ = ["Numbers", "numbers", "random_values", "scatter_sums", "ACTIVATION_FUNCTIONS"]

ACTIVATION_FUNCTIONS = {"relu": lambda a: np.maximum(a, 0.0), "tanh": np.tanh,
                        "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a))}


@dataclass
class Numbers:
    """Numeric mode's arrays, channel first; see :func:`numbers`."""

    x: np.ndarray                   # (C_in, *input_size)
    w: np.ndarray | None            # as the engine takes it
    bias: np.ndarray | None         # (C_out,)
    pre: np.ndarray                 # (C_out, *output_size): engine output, bias included, before the activation
    y: np.ndarray                   # after the activation
    grids: np.ndarray               # (C_in, *grid_size): the input as the window sees it
    partials: np.ndarray | None     # (C_out, C_in, *output_size): each input channel's share (no bias)
    winners: dict                   # (out_channel, output index) -> grid cell of the max (max pooling)
    activation: str | None = None

    def kernel(self, t: Trace, out_channel: int, in_channel: int):
        """The spatial kernel pairing ``in_channel`` with ``out_channel`` (None for pooling)."""
        if self.w is None:
            return None
        a, b = t.weight_channels(out_channel, in_channel)
        return self.w[a, b]


def _fn(t: Trace, name: str):
    from .. import functional as F

    return getattr(F, f"{name}{t.ndim}d")


def _engine_weight_shape(t: Trace) -> tuple[int, ...]:
    if t.op == "conv_transpose":
        return (t.in_channels, t.out_channels // t.groups, *t.kernel_size)
    return (t.out_channels, t.in_channels // t.groups, *t.kernel_size)


def random_values(t: Trace, seed: int = 0):
    """Small integers for ``--values``: inputs 0..3, weights −1..2 (so negative products show)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, size=(t.in_channels, *t.input_size)).astype(float)
    w = None if t.is_pool else rng.integers(-1, 3, size=_engine_weight_shape(t)).astype(float)
    return x, w


def _conv(t: Trace, x, w, bias=None, groups=None):
    options = dict(stride=t.stride, dilation=t.dilation, groups=t.groups if groups is None else groups)
    if t.op == "conv":
        return _fn(t, "conv")(x[None], w, bias, padding=t.padding, **options)[0]
    return _fn(t, "conv_transpose")(x[None], w, bias, padding=tuple(lo for lo, _ in t.padding),
                                    output_padding=t.output_padding, **options)[0]


def numbers(t: Trace, input, weight=None, bias=None, activation: str | None = None) -> Numbers:
    """Check the user's arrays against ``t`` and compute everything numeric frames show.

    One channel: ``input`` is spatial and ``weight`` a spatial kernel. Several:
    ``input`` is ``(C_in, *spatial)`` and ``weight`` has the engine's shape.
    """
    x = np.asarray(input, dtype=np.float64)
    if x.shape == t.input_size:
        x = x[None]
    if x.shape != (t.in_channels, *t.input_size):
        raise ValueError(f"animate: input values of shape {x.shape} do not match the input "
                         f"{'x'.join(map(str, (t.in_channels, *t.input_size)))} (channels first)")
    if not np.all(np.isfinite(x)):
        raise ValueError("animate: input values must be finite")
    w = b = None
    if t.is_pool:
        if weight is not None or bias is not None:
            raise ValueError(f"animate: {t.op} has no weight or bias")
    else:
        w = np.asarray(weight, dtype=np.float64)
        shape = _engine_weight_shape(t)
        if w.shape == t.kernel_size and math.prod(shape[:2]) == 1:
            w = w.reshape(shape)
        if w.shape != shape:
            raise ValueError(f"animate: kernel values of shape {w.shape} do not match the weight shape "
                             f"{'x'.join(map(str, shape))} (kernel_size {'x'.join(map(str, t.kernel_size))})")
        if bias is not None:
            b = np.asarray(bias, dtype=np.float64).reshape(-1)
            if b.shape != (t.out_channels,):
                raise ValueError(f"animate: bias must hold {t.out_channels} value(s), got {b.size}")
    if activation is not None and activation not in ACTIVATION_FUNCTIONS:
        raise ValueError(f"animate: activation must be one of {', '.join(ACTIVATION_FUNCTIONS)}, "
                         f"got {activation!r}")
    winners: dict = {}
    partials = None
    pads = tuple(lo for lo, _ in t.padding)
    if t.op == "max_pool":
        pre, index = _fn(t, "max_pool")(x[None], t.kernel_size, t.stride, pads, t.dilation, ceil_mode=t.ceil_mode,
                                        return_indices=True)
        pre, index = pre[0], index[0]
        for step in t.steps:
            for channel in range(t.out_channels):
                source = tuple(int(s) for s in np.unravel_index(int(index[(channel,) + tuple(step.output)]),
                                                                 t.input_size))
                winners[(channel, step.output)] = next(tap.grid for tap in step.taps if tap.source == source)
    elif t.op == "avg_pool":
        pre = _fn(t, "avg_pool")(x[None], t.kernel_size, t.stride, pads, ceil_mode=t.ceil_mode,
                                 count_include_pad=t.count_include_pad)[0]
    else:
        weights: Any = w
        pre = _conv(t, x, weights, b)
        partials = np.zeros((t.out_channels, t.in_channels, *t.output_size))
        for co in range(t.out_channels):
            for ci in t.inputs_of(co):
                a, c = t.weight_channels(co, ci)
                partials[co, ci] = _conv(t, x[ci:ci + 1], weights[a:a + 1, c:c + 1], groups=1)[0]
    y = _activate(activation, pre)
    grids = t.grid_values(x, fill=-math.inf if t.op == "max_pool" else 0.0)
    return Numbers(x, w, b, np.asarray(pre, float), np.asarray(y, float), grids, partials, winners, activation)


def _activate(activation: str | None, values):
    if not activation:
        return values
    function: Any = ACTIVATION_FUNCTIONS[activation]
    return function(values)


def scatter_sums(canvas: Trace, x, w, order) -> list[np.ndarray]:
    """Running sums of the scatter view: the uncropped output after the first 1, 2, ... input cells of ``order``.

    ``canvas`` is the trace of the same transposed convolution without padding; each
    sum is the engine's transposed convolution of the input with the later cells zeroed.
    """
    masked = np.zeros_like(x)
    sums = []
    for source in order:
        masked[(slice(None),) + tuple(source)] = x[(slice(None),) + tuple(source)]
        sums.append(_conv(canvas, masked, w))
    return sums
