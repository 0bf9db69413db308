"""``Upsample`` in the nearest modes, as ``torch.nn.Upsample``, over :func:`convwise.functional.interpolate`.

>>> import numpy as np
>>> from convwise import nn
>>> up = nn.Upsample(scale_factor=2)
>>> up
Upsample(scale_factor=2.0, mode='nearest')
>>> up(np.ones((1, 3, 4, 4))).shape, up.backward(np.ones((1, 3, 8, 8)))[0, 0, 0, 0].item()
((1, 3, 8, 8), 4.0)
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..functional.interpolate import MODES
from .module import Module

__all__ = ["Upsample"]


class Upsample(Module):
    """Resize by copying the nearest input cell; ``backward`` sums the copies' gradients."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
        super().__init__()
        if isinstance(scale_factor, (tuple, list)):
            scale_factor = tuple(float(f) for f in scale_factor)
        elif scale_factor is not None:
            scale_factor = float(scale_factor)
        self.size = size
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor
        if mode not in MODES:
            raise ValueError(f"Upsample: mode={mode!r} is not supported; convwise implements 'nearest' and "
                             f"'nearest-exact'")

    def extra_repr(self) -> str:
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return f"{info}, mode={self.mode!r}"

    def _kwargs(self) -> dict:
        return {"size": self.size, "scale_factor": self.scale_factor, "mode": self.mode,
                "recompute_scale_factor": self.recompute_scale_factor}

    def forward(self, input):
        x = np.asarray(input)
        y = F.interpolate(x, align_corners=self.align_corners, **self._kwargs())
        self._cache = x.shape
        return y

    def backward(self, grad_output):
        return F.interpolate_backward(grad_output, self._saved(), **self._kwargs())
