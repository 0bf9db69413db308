"""One step of a layer-by-layer walk for the window kinds, shared by ``summary`` and ``convwise shape``.

:func:`window_step` asks :mod:`convwise.arithmetic` what one convolution, transposed
convolution or pooling layer does to an incoming ``(C, *spatial)`` shape: its geometry,
output shape, parameters and multiply-accumulates. The summary and the ``shape``
command each walk a chain by calling it once per layer and format the answer their way;
neither holds a formula.

>>> step = window_step("conv", {"out_channels": 8, "kernel_size": 3, "stride": 2}, (3, 9, 9), fn="conv2d")
>>> step.output_shape, step.params, step.macs
((8, 4, 4), 224, 3456)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import arithmetic

__all__ = ["WindowStep", "window_step"]


@dataclass(frozen=True)
class WindowStep:
    """What one window layer does: ``geometry`` from :mod:`convwise.arithmetic` and the counts."""

    kind: str
    geometry: Any
    in_channels: int
    out_channels: int
    groups: int
    bias: bool
    params: int
    macs: int

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.out_channels, *self.geometry.output_size)

    @property
    def is_window_of_input(self) -> bool:
        """False for a transposed convolution: its receptive field is not a window of its input."""
        return self.kind != "conv_transpose"


def _list(value):
    return list(value) if isinstance(value, tuple) else value


def window_step(kind: str, spec: dict, in_shape: tuple[int, ...], *, batch: int = 1, fn: str) -> WindowStep:
    """Apply one ``conv``/``conv_transpose``/``max_pool``/``avg_pool`` layer to ``in_shape`` ``(C, *spatial)``.

    ``spec`` holds the layer's keyword arguments (torch's names; ``out_channels`` defaults
    to the incoming channels, pooling's ``stride`` to its kernel). Errors come from
    :mod:`convwise.arithmetic` and start with ``fn``.
    """
    channels, spatial = in_shape[0], tuple(in_shape[1:])
    kernel = _list(spec["kernel_size"])
    padding, dilation = _list(spec.get("padding", 0)), _list(spec.get("dilation", 1))
    geometry: Any
    if kind in ("max_pool", "avg_pool"):
        geometry = arithmetic.pool_geometry(spatial, kernel, _list(spec.get("stride")), padding,
                                            dilation if kind == "max_pool" else 1,
                                            bool(spec.get("ceil_mode", False)), fn=fn)
        return WindowStep(kind, geometry, channels, channels, 1, False, 0, 0)
    out_channels = spec.get("out_channels", channels)
    groups, bias = spec.get("groups", 1), bool(spec.get("bias", True))
    stride = _list(spec.get("stride", 1))
    arithmetic.check_channels(channels, out_channels, groups, fn=fn)
    if kind == "conv_transpose":
        geometry = arithmetic.conv_transpose_geometry(spatial, kernel, stride, padding,
                                                      _list(spec.get("output_padding", 0)), dilation, fn=fn)
        macs = arithmetic.conv_transpose_macs(channels, out_channels, geometry.kernel_size, spatial, groups,
                                              batch=batch, fn=fn)
    elif kind == "conv":
        geometry = arithmetic.conv_geometry(spatial, kernel, stride, padding, dilation, fn=fn)
        macs = arithmetic.conv_macs(channels, out_channels, geometry.kernel_size, geometry.output_size, groups,
                                    batch=batch, fn=fn)
    else:
        raise ValueError(f"{fn}: {kind!r} does not slide a window")
    params = arithmetic.conv_params(channels, out_channels, geometry.kernel_size, groups, bias, fn=fn)
    return WindowStep(kind, geometry, channels, out_channels, groups, bias, params, macs)
