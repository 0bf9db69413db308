"""``MaxUnpool1d/2d/3d``: the partial inverse of max pooling, as torch.nn.

``forward(input, indices, output_size=None)`` takes the values and indices of a
``MaxPool`` layer built with ``return_indices=True``; ``backward`` returns the gradient
with respect to ``input`` (indices have none).

>>> import numpy as np
>>> from convwise import nn
>>> pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
>>> y, i = pool(np.arange(16.0).reshape(1, 1, 4, 4))
>>> unpool(y, i)[0, 0].tolist()
[[0.0, 0.0, 0.0, 0.0], [0.0, 5.0, 0.0, 7.0], [0.0, 0.0, 0.0, 0.0], [0.0, 13.0, 0.0, 15.0]]
"""

from __future__ import annotations

import numpy as np

from .. import arithmetic
from .. import functional as F
from .module import Module

__all__ = ["MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d"]


class _MaxUnpoolNd(Module):
    _spatial = 0

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        fn, n = type(self).__name__, self._spatial
        self.kernel_size = arithmetic.ntuple(kernel_size, n, fn=fn, name="kernel_size", minimum=1)  # torch's _ntuple
        self.stride = self.kernel_size if stride is None else arithmetic.ntuple(stride, n, fn=fn, name="stride",
                                                                                 minimum=1)
        self.padding = arithmetic.ntuple(padding, n, fn=fn, name="padding", minimum=0)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def forward(self, input, indices, output_size=None):
        x = np.asarray(input)
        unpool = getattr(F, f"max_unpool{self._spatial}d")
        y = unpool(x, indices, self.kernel_size, self.stride, self.padding, output_size)
        self._cache = (x, np.asarray(indices), output_size)
        return y

    def backward(self, grad_output):
        x, indices, output_size = self._saved()
        return F.max_unpool_nd_backward(grad_output, x, indices, self.kernel_size, self.stride, self.padding,
                                        output_size, spatial=self._spatial, fn=f"{type(self).__name__}.backward")


class MaxUnpool1d(_MaxUnpoolNd):
    """Inverse of ``MaxPool1d`` (non-maximal cells become 0), as ``torch.nn.MaxUnpool1d``."""

    _spatial = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """Inverse of ``MaxPool2d`` (non-maximal cells become 0), as ``torch.nn.MaxUnpool2d``."""

    _spatial = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """Inverse of ``MaxPool3d`` (non-maximal cells become 0), as ``torch.nn.MaxUnpool3d``."""

    _spatial = 3
