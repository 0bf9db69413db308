"""The standard set of animations (``convwise animate --gallery DIR``).

conv_arithmetic's classic figures (no/arbitrary/same/full padding, strides, dilation),
each with its transposed twin drawn both ways (gather and scatter), the numeric 5x5
example, pooling with the max winner, a multi-channel numeric convolution with bias and
ReLU, and grouped and depthwise convolutions drawn as separate channel stacks.
"""

from __future__ import annotations

import os

from .. import arithmetic
from ..trace import trace as make_trace

__all__ = ["GALLERY", "gallery", "gallery_entries", "CLASSIC_INPUT", "CLASSIC_KERNEL"]

CLASSIC_INPUT = [[1, 2, 3, 0, 1], [0, 1, 5, 1, 0], [1, 0, 2, 2, 1], [1, 1, 2, 0, 0], [1, 0, 1, 1, 1]]
CLASSIC_KERNEL = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]

#: name -> convolution (input, kernel, stride, padding, dilation); each also has a
#: ``_transposed`` twin that maps the output size back to the input size
_CONVS = {
    "no_padding_no_strides": (4, 3, 1, 0, 1),
    "arbitrary_padding_no_strides": (5, 4, 1, 2, 1),
    "same_padding_no_strides": (5, 3, 1, 1, 1),
    "full_padding_no_strides": (5, 3, 1, 2, 1),
    "no_padding_strides": (5, 3, 2, 0, 1),
    "padding_strides": (5, 3, 2, 1, 1),
    "padding_strides_odd": (6, 3, 2, 1, 1),
    "dilation": (7, 3, 1, 0, 2),
}

_TWO_CHANNELS = [[[1, 0, 2, 1], [0, 3, 1, 0], [2, 1, 0, 1], [1, 0, 1, 2]],
                 [[0, 1, 0, 2], [1, 0, 2, 1], [3, 1, 0, 0], [0, 2, 1, 1]]]


def gallery_entries():
    """``(name, trace kwargs, animate kwargs)`` for the standard set."""
    entries = []
    for name, (i, k, s, p, d) in _CONVS.items():
        entries.append((name, dict(input_size=(i, i), kernel_size=k, stride=s, padding=p, dilation=d), {}))
    for name, (i, k, s, p, d) in _CONVS.items():
        o = arithmetic.conv_output_size(i, k, s, p, d)[0]
        # the output_padding that restores the convolution's input size (arithmetic decides it)
        extra = i - arithmetic.conv_transpose_output_size(o, k, s, p, 0, d)[0]
        kwargs = dict(input_size=(o, o), kernel_size=k, stride=s, padding=p, dilation=d, output_padding=extra,
                      op="conv_transpose")
        entries.append((f"{name}_transposed", kwargs, {}))
        entries.append((f"{name}_transposed_scatter", kwargs, {"view": "scatter"}))
    entries.append(("numerical_conv", dict(input_size=(5, 5), kernel_size=3),
                    {"input": CLASSIC_INPUT, "weight": CLASSIC_KERNEL}))
    entries.append(("numerical_max_pooling", dict(input_size=(5, 5), kernel_size=3, stride=1, op="max_pool"),
                    {"input": CLASSIC_INPUT}))
    entries.append(("numerical_avg_pooling", dict(input_size=(5, 5), kernel_size=3, stride=1, op="avg_pool"),
                    {"input": CLASSIC_INPUT}))
    entries.append(("max_pooling_strides", dict(input_size=(6, 6), kernel_size=2, op="max_pool"), {}))
    entries.append(("numerical_two_channels", dict(input_size=(4, 4), kernel_size=3, in_channels=2,
                                                   out_channels=1),
                    {"input": _TWO_CHANNELS, "weight": [[[[1, 0, -1], [1, 0, -1], [1, 0, -1]],
                                                         [[0, 1, 0], [1, -1, 1], [0, 1, 0]]]],
                     "bias": [-2], "activation": "relu"}))
    entries.append(("numerical_transposed_scatter", dict(input_size=(2, 2), kernel_size=3, stride=2,
                                                         op="conv_transpose"),
                    {"input": [[1, 2], [3, -1]], "weight": [[1, 0, 1], [0, 2, 0], [1, 0, 1]], "view": "scatter"}))
    entries.append(("grouped_conv", dict(input_size=(3, 3), kernel_size=3, padding=1, groups=2, in_channels=4,
                                         out_channels=4), {}))
    entries.append(("depthwise_conv", dict(input_size=(3, 3), kernel_size=3, padding=1, groups=3, in_channels=3,
                                           out_channels=3), {}))
    return entries


GALLERY = tuple(name for name, _, _ in gallery_entries())


def gallery(directory, *, names=None, progress: bool = False, duration: int = 700) -> list[str]:
    """Write the standard set of animations as ``DIRECTORY/<name>.gif``; returns the paths."""
    from .animate import animate

    os.makedirs(directory, exist_ok=True)
    entries = gallery_entries()
    if names is not None:
        unknown = sorted(set(names) - set(GALLERY))
        if unknown:
            raise ValueError(f"animate: unknown gallery entries {unknown}; choose from {', '.join(GALLERY)}")
        entries = [e for e in entries if e[0] in names]
    if progress:
        from tqdm import tqdm

        entries = tqdm(entries, desc="gallery", unit="gif")
    paths = []
    for name, kwargs, options in entries:
        path = os.path.join(directory, f"{name}.gif")
        animate(make_trace(**kwargs), path, duration=duration, **options)
        paths.append(path)
    return paths
