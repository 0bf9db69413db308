"""``Unfold`` (im2col) and ``Fold`` (col2im) layers, as torch.nn; each is the other's gradient.

>>> import numpy as np
>>> from convwise import nn
>>> unfold = nn.Unfold(kernel_size=2)
>>> unfold
Unfold(kernel_size=2, dilation=1, padding=0, stride=1)
>>> unfold(np.zeros((1, 3, 4, 4))).shape, unfold.backward(np.ones((1, 12, 9))).shape
((1, 12, 9), (1, 3, 4, 4))
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .module import Module, grad_array

__all__ = ["Fold", "Unfold"]


class Unfold(Module):
    """Sliding blocks of ``(N, C, H, W)`` as columns ``(N, C * kH * kW, L)``; backward is ``fold``."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, stride={self.stride}"

    def forward(self, input):
        x = np.asarray(input)
        y = F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)
        self._cache = (x.shape, y.shape)
        return y

    def backward(self, grad_output):
        input_shape, output_shape = self._saved()
        dy = grad_array(self, grad_output, output_shape, None)
        return F.fold(dy, input_shape[-2:], self.kernel_size, self.dilation, self.padding, self.stride)


class Fold(Module):
    """Columns ``(N, C * kH * kW, L)`` summed back into ``(N, C, *output_size)``; backward is ``unfold``."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size = output_size
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")

    def forward(self, input):
        x = np.asarray(input)
        y = F.fold(x, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)
        self._cache = y.shape
        return y

    def backward(self, grad_output):
        dy = grad_array(self, grad_output, self._saved(), None)
        return F.unfold(dy, self.kernel_size, self.dilation, self.padding, self.stride)
