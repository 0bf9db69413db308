"""Activation layers: ``ReLU`` (``dx = dy * (y > 0)``).

>>> import numpy as np
>>> from convwise import nn
>>> relu = nn.ReLU()
>>> relu(np.array([-1.0, 2.0])).tolist(), relu.backward(np.array([5.0, 5.0])).tolist()
([0.0, 2.0], [0.0, 5.0])
"""

from __future__ import annotations

import numpy as np

from .module import Module, grad_array

__all__ = ["ReLU"]


class ReLU(Module):
    """``max(x, 0)`` elementwise, as ``torch.nn.ReLU``; any shape."""

    def __init__(self, inplace=False):
        super().__init__()
        if not isinstance(inplace, bool):
            raise TypeError(f"ReLU: inplace must be a bool, got {inplace!r}")
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""

    def forward(self, input):
        x = np.asarray(input)
        if self.inplace:
            y = np.maximum(x, 0, out=x)
        else:
            y = np.maximum(x, 0)
        self._cache = y > 0
        return y

    def backward(self, grad_output):
        positive = self._saved()
        return np.where(positive, grad_array(self, grad_output, positive.shape, None), 0)  # inf*0 would be NaN
