"""``Dropout1d/2d/3d``: zero whole channels in training, as torch.nn's channel-wise dropout.

Each ``(sample, channel)`` plane is kept with probability ``1 - p`` and scaled by
``1 / (1 - p)``, or zeroed entirely; eval mode is the identity. The backward pass applies
the same mask and scale. ``Dropout`` (element-wise) lives in :mod:`convwise.nn.linear`.

Accepted shapes are torch's: ``Dropout1d`` ``(N, C, L)`` or ``(C, L)``; ``Dropout2d``
``(N, C, H, W)`` or ``(C, H, W)`` (torch 2.13 treats a 3D input as ``(N, C, L)`` with a
warning; this does the same, silently); ``Dropout3d`` ``(N, C, D, H, W)`` or ``(C, D, H, W)``.

>>> import numpy as np
>>> from convwise import nn
>>> drop = nn.Dropout2d(0.5, rng=0)
>>> y = drop(np.ones((1, 4, 2, 2)))
>>> sorted(set(y.reshape(4, -1).std(axis=1).tolist()))   # whole channels: constant planes
[0.0]
"""

from __future__ import annotations

import numpy as np

from . import init
from .linear import Dropout
from .module import grad_array

__all__ = ["Dropout1d", "Dropout2d", "Dropout3d"]


class _DropoutNd(Dropout):
    """Channel dropout: :class:`Dropout`'s arguments and checks, one mask entry per channel."""

    _spatial = 0

    def _mask_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        fn, n = type(self).__name__, self._spatial
        if len(shape) == n + 2:
            return shape[:2] + (1,) * n
        if len(shape) == n + 1:
            if n == 2:                  # torch: a 3D input to dropout2d is (N, C, L)
                return shape[:2] + (1,)
            return shape[:1] + (1,) * n
        raise ValueError(f"{fn}: expected a {n + 1}D (unbatched) or {n + 2}D (batched) input, got {len(shape)}D "
                         f"input of shape {shape}")

    def forward(self, input):
        x = np.asarray(input)
        if x.dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}: input must be a floating-point array, got dtype {x.dtype}")
        mask_shape = self._mask_shape(x.shape)
        if not self.training or self.p == 0.0:
            self._cache = (x.shape, None)
            return x
        if self.p == 1.0:
            scale = np.zeros(mask_shape, x.dtype)
        else:
            keep = init.get_generator(self._rng).random(mask_shape) >= self.p
            scale = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        self._cache = (x.shape, scale)
        if self.inplace:
            x *= scale
            return x
        return x * scale

    def backward(self, grad_output):
        shape, scale = self._saved()
        dy = grad_array(self, grad_output, shape, None)
        return dy if scale is None else dy * scale


class Dropout1d(_DropoutNd):
    """Zero whole channels of ``(N, C, L)`` / ``(C, L)`` input, as ``torch.nn.Dropout1d``."""

    _spatial = 1


class Dropout2d(_DropoutNd):
    """Zero whole channels of ``(N, C, H, W)`` / ``(C, H, W)`` input, as ``torch.nn.Dropout2d``."""

    _spatial = 2


class Dropout3d(_DropoutNd):
    """Zero whole channels of ``(N, C, D, H, W)`` / ``(C, D, H, W)`` input, as ``torch.nn.Dropout3d``."""

    _spatial = 3
