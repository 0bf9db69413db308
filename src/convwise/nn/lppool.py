"""``LPPool1d/2d/3d``: power-average pooling layers, as torch.nn, over :mod:`convwise.functional`.

>>> import numpy as np
>>> from convwise import nn
>>> nn.LPPool2d(2, 3, stride=2)
LPPool2d(norm_type=2, kernel_size=3, stride=2, ceil_mode=False)
>>> nn.LPPool2d(2, 2)(np.ones((1, 1, 4, 4))).tolist()
[[[[2.0, 2.0], [2.0, 2.0]]]]
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .module import Module

__all__ = ["LPPool1d", "LPPool2d", "LPPool3d"]


class _LPPoolNd(Module):
    _spatial = 0

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        fn = type(self).__name__
        if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float, np.integer, np.floating)):
            raise TypeError(f"{fn}: norm_type must be a number, got {norm_type!r}")
        if not isinstance(ceil_mode, bool):
            raise TypeError(f"{fn}: ceil_mode must be a bool, got {ceil_mode!r}")
        self.norm_type, self.kernel_size, self.stride, self.ceil_mode = norm_type, kernel_size, stride, ceil_mode

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")

    def forward(self, input):
        x = np.asarray(input)
        pool = getattr(F, f"lp_pool{self._spatial}d")
        y = pool(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)
        self._cache = x
        return y

    def backward(self, grad_output):
        return F.lp_pool_nd_backward(grad_output, self._saved(), self.norm_type, self.kernel_size, self.stride,
                                     self.ceil_mode, spatial=self._spatial, fn=f"{type(self).__name__}.backward")


class LPPool1d(_LPPoolNd):
    """``(sum of x ** p over each window) ** (1 / p)`` over ``(N, C, L)``, as ``torch.nn.LPPool1d``."""

    _spatial = 1


class LPPool2d(_LPPoolNd):
    """Power-average pooling over ``(N, C, H, W)``, as ``torch.nn.LPPool2d``."""

    _spatial = 2


class LPPool3d(_LPPoolNd):
    """Power-average pooling over ``(N, C, D, H, W)``, as ``torch.nn.LPPool3d``."""

    _spatial = 3
