"""Pooling layers with torch.nn's names, arguments and reprs, over :mod:`convwise.functional`.

Shape (max and average pooling), per spatial dimension:
``out = floor_or_ceil((in + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``
(average pooling has no dilation); adaptive pooling produces ``output_size`` exactly.

>>> import numpy as np
>>> from convwise import nn
>>> nn.MaxPool2d(2)
MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
>>> nn.MaxPool2d(2)(np.zeros((1, 5, 24, 24))).shape
(1, 5, 12, 12)
"""

from __future__ import annotations

import numpy as np

from .. import arithmetic
from .. import functional as F
from .module import Module, grad_array

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
           "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d"]


def _check_bool(value, *, fn: str, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{fn}: {name} must be a bool, got {value!r}")
    return value


def _check_window(module: Module, kernel_size, stride, padding, dilation=1) -> None:
    """Validate a pooling window once, in ``__init__`` (arithmetic's rules and messages)."""
    fn, n = type(module).__name__, module._spatial
    arithmetic.ntuple(kernel_size, n, fn=fn, name="kernel_size", minimum=1)
    if stride is not None:
        arithmetic.ntuple(stride, n, fn=fn, name="stride", minimum=1)
    arithmetic.ntuple(dilation, n, fn=fn, name="dilation", minimum=1)
    arithmetic.check_pool_padding(padding, kernel_size, ndim=n, fn=fn, as_given=True)


class _Pool(Module):
    _spatial = 0

    def _backward_call(self, backward, grad_output, *args, **kwargs):
        """Run a functional pooling backward on batched arrays (unbatched inputs get a batch axis)."""
        x, indices = self._saved()
        unbatched = x.ndim == self._spatial + 1
        dy = np.asarray(grad_output)
        if unbatched:
            x, dy = x[None], dy[None]
            indices = None if indices is None else indices[None]
        grad = backward(dy, x, *((indices,) if indices is not None else ()), *args, spatial=self._spatial, **kwargs)
        return grad[0] if unbatched else grad


class _MaxPoolNd(_Pool):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        fn = type(self).__name__
        _check_window(self, kernel_size, stride, padding, dilation)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = _check_bool(return_indices, fn=fn, name="return_indices")
        self.ceil_mode = _check_bool(ceil_mode, fn=fn, name="ceil_mode")

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")

    def forward(self, input):
        x = np.asarray(input)
        pool = getattr(F, f"max_pool{self._spatial}d")
        output, indices = pool(x, self.kernel_size, self.stride, self.padding, self.dilation, ceil_mode=self.ceil_mode,
                               return_indices=True)
        self._cache = (x, indices)
        return (output, indices) if self.return_indices else output

    def backward(self, grad_output):
        """``dL/d input``: each output's gradient goes to the input cell its index names."""
        return self._backward_call(F.max_pool_nd_backward, grad_output, self.kernel_size, self.stride, self.padding,
                                   self.dilation, self.ceil_mode)


class MaxPool1d(_MaxPoolNd):
    """1D max pooling, as ``torch.nn.MaxPool1d``."""

    _spatial = 1


class MaxPool2d(_MaxPoolNd):
    """2D max pooling, as ``torch.nn.MaxPool2d``.

    Shape: ``H_out = floor_or_ceil((H + 2*padding[0] - dilation[0]*(kernel_size[0] - 1) - 1) / stride[0]) + 1``.
    """

    _spatial = 2


class MaxPool3d(_MaxPoolNd):
    """3D max pooling, as ``torch.nn.MaxPool3d``."""

    _spatial = 3


class _AvgPoolNd(_Pool):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        fn = type(self).__name__
        _check_window(self, kernel_size, stride, padding)
        if divisor_override is not None:
            if isinstance(divisor_override, bool) or not isinstance(divisor_override, (int, np.integer)):
                raise TypeError(f"{fn}: divisor_override must be an int or None, got {divisor_override!r}")
            if divisor_override == 0:
                raise ValueError(f"{fn}: divisor_override must be non-zero, got divisor_override=0")
        self.ceil_mode = _check_bool(ceil_mode, fn=fn, name="ceil_mode")
        self.count_include_pad = _check_bool(count_include_pad, fn=fn, name="count_include_pad")
        self.divisor_override = divisor_override
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def _extra_args(self):
        return () if self._spatial == 1 else (self.divisor_override,)

    def forward(self, input):
        x = np.asarray(input)
        pool = getattr(F, f"avg_pool{self._spatial}d")
        output = pool(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                      *self._extra_args())
        self._cache = (x, None)
        return output

    def backward(self, grad_output):
        """``dL/d input``: each output's gradient spread evenly over its window (by its divisor)."""
        return self._backward_call(F.avg_pool_nd_backward, grad_output, self.kernel_size, self.stride, self.padding,
                                   self.ceil_mode, self.count_include_pad, self.divisor_override)


class AvgPool1d(_AvgPoolNd):
    """1D average pooling, as ``torch.nn.AvgPool1d`` (its settings are stored as 1-tuples, like torch's)."""

    _spatial = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        fn = type(self).__name__
        self.kernel_size = arithmetic.ntuple(self.kernel_size, 1, fn=fn, name="kernel_size")
        self.stride = arithmetic.ntuple(self.stride, 1, fn=fn, name="stride")
        self.padding = arithmetic.ntuple(self.padding, 1, fn=fn, name="padding")


class AvgPool2d(_AvgPoolNd):
    """2D average pooling, as ``torch.nn.AvgPool2d``."""

    _spatial = 2


class AvgPool3d(_AvgPoolNd):
    """3D average pooling, as ``torch.nn.AvgPool3d``."""

    _spatial = 3


class _AdaptivePool(_Pool):
    def __init__(self, output_size):
        super().__init__()
        fn, n = type(self).__name__, self._spatial
        values = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * n
        if len(values) not in (1, n) or not all(v is None or arithmetic._is_int(v) for v in values):
            raise TypeError(f"{fn}: output_size must be an int, None or a sequence of {n} ints/None, "
                            f"got output_size={output_size!r}")
        if any(v is not None and v < 1 for v in values):
            raise ValueError(f"{fn}: output_size must be positive, got output_size={output_size!r}")
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _AdaptiveAvgPoolNd(_AdaptivePool):
    def forward(self, input):
        x = np.asarray(input)
        output = getattr(F, f"adaptive_avg_pool{self._spatial}d")(x, self.output_size)
        self._cache = (x, None)
        self._output_shape = output.shape
        return output

    def backward(self, grad_output):
        x, _ = self._saved()      # the gradient must be for this forward's output size, not another one
        dy = grad_array(self, grad_output, self._output_shape, x.dtype)
        return self._backward_call(F.adaptive_avg_pool_nd_backward, dy)


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """1D adaptive average pooling, as ``torch.nn.AdaptiveAvgPool1d``."""

    _spatial = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """2D adaptive average pooling, as ``torch.nn.AdaptiveAvgPool2d``."""

    _spatial = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """3D adaptive average pooling, as ``torch.nn.AdaptiveAvgPool3d``."""

    _spatial = 3


class _AdaptiveMaxPoolNd(_AdaptivePool):
    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size)
        self.return_indices = _check_bool(return_indices, fn=type(self).__name__, name="return_indices")

    def forward(self, input):
        x = np.asarray(input)
        output, indices = getattr(F, f"adaptive_max_pool{self._spatial}d")(x, self.output_size, return_indices=True)
        self._cache = (x, indices)
        return (output, indices) if self.return_indices else output

    def backward(self, grad_output):
        return self._backward_call(F.adaptive_max_pool_nd_backward, grad_output)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """1D adaptive max pooling, as ``torch.nn.AdaptiveMaxPool1d``."""

    _spatial = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """2D adaptive max pooling, as ``torch.nn.AdaptiveMaxPool2d``."""

    _spatial = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """3D adaptive max pooling, as ``torch.nn.AdaptiveMaxPool3d``."""

    _spatial = 3
