"""``BatchNorm1d/2d/3d``: batch normalisation with torch.nn's arguments, state and gradient.

Training mode normalises each channel by the batch's mean and biased variance over
``(N, *spatial)`` and updates the running statistics with the *unbiased* variance::

    running = (1 - momentum) * running + momentum * batch      # momentum=None: cumulative average

Eval mode (or ``track_running_stats=False`` without running statistics) uses the running
statistics (or always the batch's). ``state_dict`` keys are torch's: ``weight``, ``bias``,
``running_mean``, ``running_var``, ``num_batches_tracked`` (int64). The gradient is torch's::

    dx = weight * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))      (batch statistics)
    dx = weight * invstd * dy                                            (running statistics)
    dweight = sum(dy * xhat),  dbias = sum(dy)

>>> import numpy as np
>>> from convwise import nn
>>> bn = nn.BatchNorm2d(3)
>>> list(bn.state_dict())
['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
>>> y = bn(np.arange(24.0, dtype=np.float32).reshape(2, 3, 2, 2))
>>> [round(float(v), 6) for v in bn.running_mean], int(bn.num_batches_tracked)
([0.75, 1.15, 1.55], 1)
"""

from __future__ import annotations

import numpy as np

from .module import Module, Parameter, check_dtype, grad_array

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]


class _BatchNorm(Module):
    _ranks: tuple[int, ...] = ()
    running_mean: np.ndarray | None      # buffers (Module.register_buffer)
    running_var: np.ndarray | None
    num_batches_tracked: np.ndarray | None

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None,
                 dtype=None, *, bias=True):
        super().__init__()
        fn = type(self).__name__
        if device not in (None, "cpu"):
            raise ValueError(f"{fn}: device must be None or 'cpu' (convwise runs on NumPy), got device={device!r}")
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)):
            raise TypeError(f"{fn}: num_features must be an int, got {num_features!r}")
        if num_features < 1:
            raise ValueError(f"{fn}: num_features must be positive, got num_features={num_features}")
        for name, value in (("eps", eps), ("momentum", momentum)):
            if value is None and name == "momentum":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"{fn}: {name} must be a number{' or None' if name == 'momentum' else ''}, "
                                f"got {value!r}")
        for name, value in (("affine", affine), ("track_running_stats", track_running_stats), ("bias", bias)):
            if not isinstance(value, bool):
                raise TypeError(f"{fn}: {name} must be a bool, got {value!r}")
        dtype = check_dtype(dtype, fn=fn)
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = affine
        self.has_bias = bias
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.ones(self.num_features, dtype))
            if bias:
                self.bias = Parameter(np.zeros(self.num_features, dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype))
            self.register_buffer("running_var", np.ones(self.num_features, dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean = np.zeros_like(self.running_mean)
            self.running_var = np.ones_like(self.running_var)
            self.num_batches_tracked = np.array(0, dtype=np.int64)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            self.weight.data[...] = 1
            if self.bias is not None:
                self.bias.data[...] = 0

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.has_bias}, "
                f"track_running_stats={self.track_running_stats}")

    def _check_input(self, input) -> np.ndarray:
        fn = type(self).__name__
        x = np.asarray(input)
        if x.ndim not in self._ranks:
            shown = " or ".join(f"{r}D" for r in self._ranks)
            raise ValueError(f"{fn}: expected {shown} input, got {x.ndim}D input of shape {x.shape}")
        if x.dtype.kind != "f" or (self.affine and x.dtype != self.weight.dtype):
            expected = self.weight.dtype if self.affine else "float32 or float64"
            raise TypeError(f"{fn}: input must have dtype {expected}, got {x.dtype}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{fn}: input has {x.shape[1]} channels (shape {x.shape}) but num_features="
                             f"{self.num_features}")
        return x

    def forward(self, input):
        fn = type(self).__name__
        x = self._check_input(input)
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        count = x.size // self.num_features
        factor = 0.0
        if self.training and self.track_running_stats:
            self.num_batches_tracked = self.num_batches_tracked + 1
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        batch_stats = self.training or self.running_mean is None
        if batch_stats:
            if self.training and count <= 1:
                raise ValueError(f"{fn}: expected more than 1 value per channel when training, got input shape "
                                 f"{x.shape}")
            mean = x.mean(axis=axes)
            centred = x - mean.reshape(shape)
            var = np.mean(centred * centred, axis=axes)
            if self.training and self.running_mean is not None:
                unbiased = var * (count / max(count - 1, 1))
                dtype = self.running_mean.dtype
                self.running_mean = ((1 - factor) * self.running_mean + factor * mean).astype(dtype)
                self.running_var = ((1 - factor) * self.running_var + factor * unbiased).astype(dtype)
        else:
            mean = self.running_mean.astype(x.dtype)
            var = self.running_var.astype(x.dtype)
            centred = x - mean.reshape(shape)
        invstd = (1 / np.sqrt(var + x.dtype.type(self.eps))).astype(x.dtype)
        xhat = centred * invstd.reshape(shape)
        y = xhat
        if self.affine:
            y = xhat * self.weight.data.reshape(shape)
            if self.bias is not None:
                y = y + self.bias.data.reshape(shape)
        self._cache = (xhat, invstd, batch_stats, axes, shape)
        return y

    def backward(self, grad_output):
        xhat, invstd, batch_stats, axes, shape = self._saved()
        dy = grad_array(self, grad_output, xhat.shape, xhat.dtype)
        sum_dy = dy.sum(axis=axes)
        sum_dy_xhat = np.sum(dy * xhat, axis=axes)
        if self.affine:
            self.weight.accumulate(sum_dy_xhat)
            if self.bias is not None:
                self.bias.accumulate(sum_dy)
        scale = invstd * (self.weight.data if self.affine else 1)
        if not batch_stats:
            return dy * scale.reshape(shape)
        count = xhat.size // self.num_features
        mean_dy = (sum_dy / count).reshape(shape)
        mean_dy_xhat = (sum_dy_xhat / count).reshape(shape)
        return (dy - mean_dy - xhat * mean_dy_xhat) * scale.reshape(shape)


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over ``(N, C)`` or ``(N, C, L)`` input, as ``torch.nn.BatchNorm1d``."""

    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over ``(N, C, H, W)`` input, as ``torch.nn.BatchNorm2d``."""

    _ranks = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation over ``(N, C, D, H, W)`` input, as ``torch.nn.BatchNorm3d``."""

    _ranks = (5,)


