"""``Linear``, ``Flatten`` and ``Dropout``: the non-convolutional layers of a small CNN.

Their gradients are written out directly (no functional backward needed):
``Linear``: ``dx = dy @ W``, ``dW = dy^T x``, ``db = sum(dy)``; ``Flatten``: a reshape;
``Dropout``: the same mask and scale as the forward pass.

>>> import numpy as np
>>> from convwise import nn
>>> nn.Linear(128, 10)
Linear(in_features=128, out_features=10, bias=True)
>>> nn.Flatten()(np.zeros((2, 3, 4, 4))).shape
(2, 48)
"""

from __future__ import annotations

import math

import numpy as np

from . import init
from .module import Module, grad_array

__all__ = ["Linear", "Flatten", "Dropout", "Identity"]


def _check_int(value, *, fn: str, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{fn}: {name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {name}={value}")
    return int(value)


class Linear(Module):
    """``y = x @ weight.T + bias``, as ``torch.nn.Linear``; weight ``(out_features, in_features)``.

    Shape: ``(*, in_features)`` -> ``(*, out_features)``. Initialised like torch:
    weight and bias ``U(-1/sqrt(in_features), 1/sqrt(in_features))``.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=None, *, rng=None):
        super().__init__()
        fn = type(self).__name__
        self.in_features = _check_int(in_features, fn=fn, name="in_features", minimum=0)
        self.out_features = _check_int(out_features, fn=fn, name="out_features", minimum=0)
        init.add_weight_and_bias(self, (self.out_features, self.in_features), self.out_features, bias, dtype, rng,
                                 fn=fn)

    def reset_parameters(self) -> None:
        init.reset_weight_and_bias(self.weight, self.bias, rng=self._rng)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"

    def forward(self, input):
        fn = type(self).__name__
        x = np.asarray(input)
        if x.dtype != self.weight.dtype:
            raise TypeError(f"{fn}: input ({x.dtype}) and weight ({self.weight.dtype}) must have the same dtype")
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"{fn}: input must end with in_features={self.in_features}, got shape {x.shape}")
        with np.errstate(invalid="ignore", over="ignore"):   # NaN/Inf propagate as in torch, silently
            y = x @ self.weight.data.T
            if self.bias is not None:
                y += self.bias.data
        self._cache = x
        return y

    def backward(self, grad_output):
        x = self._saved()
        dy = grad_array(self, grad_output, x.shape[:-1] + (self.out_features,), x.dtype)
        dy2 = dy.reshape(-1, self.out_features)
        x2 = x.reshape(-1, self.in_features)
        with np.errstate(invalid="ignore", over="ignore"):
            self.weight.accumulate(dy2.T @ x2)
            if self.bias is not None:
                self.bias.accumulate(dy2.sum(axis=0))
            return dy @ self.weight.data


class Flatten(Module):
    """Flatten dimensions ``start_dim..end_dim`` into one, as ``torch.nn.Flatten``."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        fn = type(self).__name__
        for name, value in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{fn}: {name} must be an int, got {value!r}")
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"

    def forward(self, input):
        x = np.asarray(input)
        ndim = max(x.ndim, 1)
        start = self.start_dim + ndim if self.start_dim < 0 else self.start_dim
        end = self.end_dim + ndim if self.end_dim < 0 else self.end_dim
        if not (0 <= start < ndim and 0 <= end < ndim):
            raise ValueError(f"Flatten: start_dim={self.start_dim} and end_dim={self.end_dim} must be valid "
                             f"dimensions of a {x.ndim}D input of shape {x.shape}")
        if start > end:
            raise ValueError(f"Flatten: start_dim={self.start_dim} cannot come after end_dim={self.end_dim}")
        if x.ndim == 0:
            self._cache = (x.shape, (1,))
            return x.reshape(1)
        y = x.reshape(x.shape[:start] + (math.prod(x.shape[start:end + 1]),) + x.shape[end + 1:])
        self._cache = (x.shape, y.shape)
        return y

    def backward(self, grad_output):
        input_shape, output_shape = self._saved()
        return grad_array(self, grad_output, output_shape, None).reshape(input_shape)


class Dropout(Module):
    """Zero each element with probability ``p`` in training and scale the rest by ``1/(1-p)``.

    Identity in eval mode. The mask comes from ``rng`` (a Generator or seed) or the global
    generator of :mod:`convwise.nn.init`, so a seeded run repeats exactly.
    """

    def __init__(self, p=0.5, inplace=False, *, rng=None):
        super().__init__()
        fn = type(self).__name__
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
            raise TypeError(f"{fn}: p must be a number, got {p!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{fn}: dropout probability has to be between 0 and 1, got p={p}")
        if not isinstance(inplace, bool):
            raise TypeError(f"{fn}: inplace must be a bool, got {inplace!r}")
        self.p, self.inplace = float(p), inplace
        self._rng = rng if rng is None else init.get_generator(rng)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"

    def forward(self, input):
        x = np.asarray(input)
        if not self.training or self.p == 0.0:
            self._cache = x.shape                # identity: backward still checks the gradient's shape
            return x
        if self.p == 1.0:
            scale = np.zeros(x.shape, x.dtype)
        else:
            keep = init.get_generator(self._rng).random(x.shape) >= self.p
            scale = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        self._cache = scale
        if self.inplace:
            x *= scale
            return x
        return x * scale

    def backward(self, grad_output):
        if "_cache" not in self.__dict__:
            raise ValueError("Dropout.backward: call forward() before backward()")
        scale = self._cache
        if isinstance(scale, tuple):
            return grad_array(self, grad_output, scale, None)
        return grad_array(self, grad_output, scale.shape, None) * scale


class Identity(Module):
    """Return the input unchanged (a placeholder layer)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        self._cache = True
        return input

    def backward(self, grad_output):
        return grad_output
