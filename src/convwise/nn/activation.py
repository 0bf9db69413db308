"""Activation layers with torch.nn's names, arguments and gradients (written out, no autograd).

================  ===============================  ==========================================
layer             forward                          backward (torch's formula)
================  ===============================  ==========================================
``ReLU``          ``max(x, 0)``                    ``dy * (y > 0)``
``LeakyReLU``     ``x if x > 0 else slope * x``    ``dy if x > 0 else slope * dy``
``ReLU6``         ``min(max(x, 0), 6)``            ``dy * (0 < x < 6)``
``Tanh``          ``tanh(x)``                      ``dy * (1 - y**2)``
``Sigmoid``       ``1 / (1 + exp(-x))``            ``dy * y * (1 - y)``
``Hardswish``     ``x * relu6(x + 3) / 6``         ``0 (x <= -3), dy * (x / 3 + 0.5) (x < 3), dy``
``Softmax``       ``exp(x) / sum(exp(x), dim)``    ``y * (dy - sum(dy * y, dim))``
``LogSoftmax``    ``x - logsumexp(x, dim)``        ``dy - exp(y) * sum(dy, dim)``
================  ===============================  ==========================================

>>> import numpy as np
>>> from convwise import nn
>>> relu = nn.ReLU()
>>> relu(np.array([-1.0, 2.0])).tolist(), relu.backward(np.array([5.0, 5.0])).tolist()
([0.0, 2.0], [0.0, 5.0])
>>> nn.Softmax(dim=0)(np.log(np.array([1.0, 3.0]))).tolist()
[0.25, 0.75]
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .module import Module, grad_array

__all__ = ["ReLU", "LeakyReLU", "ReLU6", "Tanh", "Sigmoid", "Hardswish", "Softmax", "LogSoftmax"]


def _check_inplace(module: Module, inplace) -> bool:
    if not isinstance(inplace, bool):
        raise TypeError(f"{type(module).__name__}: inplace must be a bool, got {inplace!r}")
    return inplace


def _float_input(module: Module, input, kinds: str = "f") -> np.ndarray:
    x = np.asarray(input)
    if x.dtype.kind not in kinds:
        raise TypeError(f"{type(module).__name__}: input must be a floating-point array, got dtype {x.dtype}")
    return x


class _Elementwise(Module):
    """An elementwise activation: ``_forward(x) -> (y, saved)`` and ``_backward(dy, saved) -> dx``."""

    inplace = False
    _kinds = "f"

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""

    def forward(self, input):
        x = _float_input(self, input, self._kinds)
        y, saved = self._forward(x)
        self._cache = (x.shape, x.dtype, saved)
        if self.inplace:
            x[...] = y
            return x
        return y

    def backward(self, grad_output):
        shape, dtype, saved = self._saved()
        dy = grad_array(self, grad_output, shape, dtype if dtype.kind == "f" else None)
        return self._backward(dy, saved)

    def _forward(self, x):
        raise NotImplementedError

    def _backward(self, dy, saved):
        raise NotImplementedError


class ReLU(_Elementwise):
    """``max(x, 0)`` elementwise, as ``torch.nn.ReLU``; any shape (integers too, as torch)."""

    _kinds = "iuf"

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = _check_inplace(self, inplace)

    def _forward(self, x):
        y = np.maximum(x, 0)
        return y, y > 0

    def _backward(self, dy, positive):
        return np.where(positive, dy, dy.dtype.type(0))  # not dy * positive: inf * 0 would be NaN (torch gives 0)


class LeakyReLU(_Elementwise):
    """``x`` where positive, ``negative_slope * x`` elsewhere, as ``torch.nn.LeakyReLU``."""

    def __init__(self, negative_slope=1e-2, inplace=False):
        super().__init__()
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float, np.integer, np.floating)):
            raise TypeError(f"LeakyReLU: negative_slope must be a number, got {negative_slope!r}")
        self.negative_slope = float(negative_slope)
        self.inplace = _check_inplace(self, inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")

    def _forward(self, x):
        positive = x > 0
        return np.where(positive, x, x * x.dtype.type(self.negative_slope)), positive

    def _backward(self, dy, positive):
        return np.where(positive, dy, dy * dy.dtype.type(self.negative_slope))


class ReLU6(_Elementwise):
    """``min(max(x, 0), 6)``, as ``torch.nn.ReLU6`` (gradient 0 at and outside 0 and 6, as torch)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = _check_inplace(self, inplace)

    def _forward(self, x):
        return np.clip(x, 0, 6), (x > 0) & (x < 6)

    def _backward(self, dy, inside):
        return np.where(inside, dy, dy.dtype.type(0))


class Tanh(_Elementwise):
    """``tanh(x)``, as ``torch.nn.Tanh``."""

    def _forward(self, x):
        y = np.tanh(x)
        return y, y

    def _backward(self, dy, y):
        return dy * (1 - y * y)


class Sigmoid(_Elementwise):
    """``1 / (1 + exp(-x))``, as ``torch.nn.Sigmoid`` (overflow-free, via ``scipy.special.expit``)."""

    def _forward(self, x):
        y = special.expit(x)
        return y, y

    def _backward(self, dy, y):
        return dy * (1 - y) * y


class Hardswish(_Elementwise):
    """``x * relu6(x + 3) / 6``, as ``torch.nn.Hardswish``."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = _check_inplace(self, inplace)

    def _forward(self, x):
        return x * np.clip(x + 3, 0, 6) / 6, x

    def _backward(self, dy, x):
        middle = dy * (x / 3 + x.dtype.type(0.5))
        return np.where(x <= -3, dy.dtype.type(0), np.where(x < 3, middle, dy))


def _softmax_dim(module: Module, ndim: int) -> int:
    """torch's dimension: the given one, or the legacy implicit choice (0 for 0D/1D/3D input, else 1)."""
    dim = module.dim
    if dim is None:
        dim = 0 if ndim in (0, 1, 3) else 1
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise ValueError(f"{type(module).__name__}: dim={module.dim} is out of range for a {ndim}D input")
    return dim % max(ndim, 1)


class _SoftmaxBase(Module):
    """``forward`` applies ``_along(x, axis)`` (a 0-D input gives ``_scalar``); ``backward`` uses
    ``_gradient(y, dy, axis)`` on the saved output."""

    _scalar = 1.0

    def __init__(self, dim=None):
        super().__init__()
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer))):
            raise TypeError(f"{type(self).__name__}: dim must be an int or None, got {dim!r}")
        self.dim = None if dim is None else int(dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

    def forward(self, input):
        x = _float_input(self, input)
        dim = _softmax_dim(self, x.ndim)
        y = self._along(x, dim) if x.ndim else np.full_like(x, self._scalar)
        self._cache = (y, dim)
        return y.astype(x.dtype, copy=False)

    def backward(self, grad_output):
        y, dim = self._saved()
        dy = grad_array(self, grad_output, y.shape, y.dtype)
        if not y.ndim:
            return np.zeros_like(dy)
        return self._gradient(y, dy, dim)


class Softmax(_SoftmaxBase):
    """``exp(x) / sum(exp(x))`` along ``dim``, as ``torch.nn.Softmax`` (max-shifted, so no overflow)."""

    @staticmethod
    def _along(x, axis):
        return special.softmax(x, axis=axis)

    @staticmethod
    def _gradient(y, dy, axis):
        return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))


class LogSoftmax(_SoftmaxBase):
    """``x - logsumexp(x)`` along ``dim``, as ``torch.nn.LogSoftmax``."""

    _scalar = 0.0

    @staticmethod
    def _along(x, axis):
        return special.log_softmax(x, axis=axis)

    @staticmethod
    def _gradient(y, dy, axis):
        return dy - np.exp(y) * np.sum(dy, axis=axis, keepdims=True)
