"""The one table of layer kinds that the views share: trace, ``convwise shape`` and summary.

Each :class:`LayerKind` says what a layer kind is called (its canonical name, torch's
class names and the short spellings people type), which keyword arguments it takes,
which of them are required, and whether it slides a window over its input (and so can
be traced and animated). :func:`kind_of` turns any spelling into the canonical name.

>>> kind_of("Conv2d"), kind_of("convT"), kind_of("max_pool2d"), kind_of("ReLU"), kind_of("nope")
('conv', 'conv_transpose', 'max_pool', 'activation', None)
>>> [kind.name for kind in KINDS.values() if kind.window]
['conv', 'conv_transpose', 'max_pool', 'avg_pool']
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LayerKind", "KINDS", "kind_of", "WINDOW_KINDS", "names"]


@dataclass(frozen=True)
class LayerKind:
    """One kind of layer.

    ``aliases`` are matched case-insensitively, ignoring ``_`` and ``-``, and with a
    ``1d``/``2d``/``3d`` suffix. ``keys``: the keyword arguments a layer dict may hold;
    ``required``: those it must hold. ``window``: it slides a window over its input (a
    trace can describe it). ``spatial``: it needs a ``(C, *spatial)`` input.
    """

    name: str
    aliases: tuple[str, ...]
    keys: frozenset
    required: tuple[str, ...] = ()
    window: bool = False
    spatial: bool = False
    description: str = ""


def _kind(name, aliases, keys, required=(), window=False, spatial=False, description=""):
    return LayerKind(name, tuple(aliases), frozenset(keys.split()), tuple(required), window, spatial, description)


KINDS: dict[str, LayerKind] = {k.name: k for k in (
    _kind("conv", ("conv", "convolution"),
          "in_channels out_channels kernel_size stride padding dilation groups bias padding_mode",
          ("out_channels", "kernel_size"), window=True, spatial=True, description="convolution"),
    _kind("conv_transpose", ("convtranspose", "convt", "conv_transpose", "transpose", "transposed", "deconv",
                             "tconv"),
          "in_channels out_channels kernel_size stride padding output_padding dilation groups bias",
          ("out_channels", "kernel_size"), window=True, spatial=True, description="transposed convolution"),
    _kind("max_pool", ("maxpool", "max"), "kernel_size stride padding dilation ceil_mode return_indices",
          ("kernel_size",), window=True, spatial=True, description="max pooling"),
    _kind("avg_pool", ("avgpool", "avg"), "kernel_size stride padding ceil_mode count_include_pad divisor_override",
          ("kernel_size",), window=True, spatial=True, description="average pooling"),
    _kind("adaptive_avg_pool", ("adaptiveavgpool",), "output_size", ("output_size",), spatial=True,
          description="adaptive average pooling"),
    _kind("adaptive_max_pool", ("adaptivemaxpool",), "output_size return_indices", ("output_size",), spatial=True,
          description="adaptive max pooling"),
    _kind("linear", ("linear", "dense", "fc"), "in_features out_features bias", ("out_features",),
          description="fully connected"),
    _kind("flatten", ("flatten",), "start_dim end_dim", description="flatten to one dimension"),
    _kind("batch_norm", ("batchnorm",), "num_features eps momentum affine track_running_stats", spatial=True,
          description="batch normalisation"),
    _kind("dropout", ("dropout",), "p inplace", description="dropout (identity at inference)"),
    _kind("activation", ("relu", "relu6", "tanh", "sigmoid", "gelu", "leakyrelu", "elu", "selu", "silu", "mish",
                         "softmax", "logsoftmax", "hardtanh", "hardswish", "hardsigmoid", "softplus", "identity",
                         "prelu"),
          "inplace negative_slope dim alpha num_parameters approximate min_val max_val beta threshold",
          description="element-wise activation"),
)}

#: kinds that slide a window (trace, animate, ``convwise shape``)
WINDOW_KINDS = tuple(name for name, kind in KINDS.items() if kind.window)


def _key(text: str) -> str:
    return text.lower().replace("_", "").replace("-", "")


_LOOKUP: dict[str, str] = {}
for _entry in KINDS.values():
    for _alias in (_entry.name,) + _entry.aliases:
        _LOOKUP[_key(_alias)] = _entry.name


def kind_of(name) -> str | None:
    """The canonical kind of a layer name (``'Conv2d'`` -> ``'conv'``), or ``None`` if unknown."""
    if not isinstance(name, str):
        return None
    key = _key(name)
    if key in _LOOKUP:
        return _LOOKUP[key]
    if key[-2:] in ("1d", "2d", "3d") and key[:-2] in _LOOKUP:
        return _LOOKUP[key[:-2]]
    return None


def names(kinds=None) -> str:
    """The canonical names, comma-separated, for error messages."""
    return ", ".join(kinds if kinds is not None else KINDS)
