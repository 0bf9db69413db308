"""Convolution layers with torch.nn's names, arguments, parameters and initialisation.

``__init__`` validates and stores, :meth:`reset_parameters` initialises (kaiming-uniform
with ``a=sqrt(5)``, i.e. ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for the weight and the
same bound for the bias), ``forward`` calls :mod:`convwise.functional`, padding first with
``functional.pad`` when ``padding_mode`` is not ``'zeros'``, and keeps the call's plan
(:class:`convwise.functional.ConvPlan`: validated geometry and chosen kernels); ``backward``
runs that plan's backward (then ``pad_backward``), validating and choosing nothing again.

Shape
-----
Per spatial dimension, ``out = floor((in + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``;
transposed: ``out = (in - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1``.

>>> import numpy as np
>>> from convwise import nn
>>> conv = nn.Conv2d(1, 5, 5, rng=np.random.default_rng(0))
>>> conv
Conv2d(1, 5, kernel_size=(5, 5), stride=(1, 1))
>>> conv(np.zeros((2, 1, 28, 28), np.float32)).shape
(2, 5, 24, 24)
"""

from __future__ import annotations

import numpy as np

from .. import arithmetic
from .. import functional as F
from ..functional.conv import plan_conv, plan_conv_transpose
from ..functional.grad import grad_output_batched
from ..functional.padding import pad_backward
from . import init
from .module import Module

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    _spatial = 0
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                 padding_mode, dtype, output_padding=0, *, rng=None):
        super().__init__()
        fn = type(self).__name__
        n = self._spatial
        arithmetic.check_channels(in_channels, out_channels, groups, fn=fn)
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = arithmetic.ntuple(kernel_size, n, fn=fn, name="kernel_size", minimum=1)
        self.stride = arithmetic.ntuple(stride, n, fn=fn, name="stride", minimum=1)
        self.dilation = arithmetic.ntuple(dilation, n, fn=fn, name="dilation", minimum=1)
        if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
            raise ValueError(f"{fn}: padding_mode must be one of {PADDING_MODES}, got padding_mode={padding_mode!r}")
        if self._transposed and padding_mode != "zeros":
            raise ValueError(f"{fn}: only padding_mode='zeros' is supported, got padding_mode={padding_mode!r}")
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if self._transposed:
                raise ValueError(f"{fn}: padding must be an int or a tuple of ints, got padding={padding!r}")
            # validates the spelling and 'same' with stride > 1, in the arithmetic's words
            pairs = arithmetic.resolve_padding(padding, self.kernel_size, self.stride, self.dilation, ndim=n, fn=fn)
            self.padding = padding
        else:
            self.padding = arithmetic.ntuple(padding, n, fn=fn, name="padding", minimum=0)
            pairs = tuple((p, p) for p in self.padding)
        # F.pad order: last dimension first, (lo, hi) each -- torch's _reversed_padding_repeated_twice
        self._reversed_padding_repeated_twice = tuple(v for lo_hi in reversed(pairs) for v in lo_hi)
        self.output_padding = arithmetic.ntuple(output_padding, n, fn=fn, name="output_padding", minimum=0)
        if self._transposed:
            arithmetic.check_output_padding(self.output_padding, self.stride, self.dilation, ndim=n, fn=fn)
        if self._transposed:
            shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        else:
            shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        init.add_weight_and_bias(self, shape, self.out_channels, bias, dtype, rng, fn=fn)

    def reset_parameters(self) -> None:
        """torch's default: kaiming_uniform(a=sqrt(5)) weight, bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        init.reset_weight_and_bias(self.weight, self.bias, rng=self._rng)

    def extra_repr(self) -> str:
        n = self._spatial
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * n:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text

    def _bias(self):
        return None if self.bias is None else self.bias.data


class _Conv(_ConvNd):
    """torch's ``ConvNd`` signature and defaults; subclasses set ``_spatial``."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", dtype=None, *, rng=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype, rng=rng)

    def forward(self, input):
        """Cross-correlate ``input`` ``(N, C_in, *spatial)`` or ``(C_in, *spatial)``."""
        n = self._spatial
        if self.padding_mode != "zeros":
            padded = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            padding = 0
        else:
            padded, padding = input, self.padding
        plan, x, w, b, unbatched = plan_conv(padded, self.weight.data, self._bias(), self.stride, padding,
                                             self.dilation, self.groups, spatial=n, fn=type(self).__name__)
        self._cache = (np.shape(input), plan, x, w, unbatched)
        y = plan.run(x, w, b)
        return y[0] if unbatched else y

    def backward(self, grad_output):
        """Return ``dL/d input``; add ``dL/d weight`` and ``dL/d bias`` into their ``.grad``."""
        input_shape, plan, x, w, unbatched = self._saved()
        dy = grad_output_batched(grad_output, x, plan.output_shape, unbatched, fn=f"{type(self).__name__}.backward")
        grad_padded, grad_weight, grad_bias = plan.backward(dy, x, w, (True, True, self.bias is not None))
        self.weight.accumulate(grad_weight)
        if self.bias is not None:
            self.bias.accumulate(grad_bias)
        if self.padding_mode != "zeros":
            batched_shape = ((1,) + tuple(input_shape)) if unbatched else tuple(input_shape)
            grad_padded = pad_backward(grad_padded, batched_shape, self._reversed_padding_repeated_twice,
                                       self.padding_mode)
        return grad_padded[0] if unbatched else grad_padded


class Conv1d(_Conv):
    """1D convolution layer, as ``torch.nn.Conv1d``; weight ``(C_out, C_in/groups, k)``.

    Shape: ``(N, C_in, L)`` -> ``(N, C_out, L_out)``,
    ``L_out = floor((L + 2*padding - dilation*(k - 1) - 1) / stride) + 1``.
    """

    _spatial = 1


class Conv2d(_Conv):
    """2D convolution layer, as ``torch.nn.Conv2d``; weight ``(C_out, C_in/groups, kH, kW)``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride, dilation : int or (int, int)
    padding : int, (int, int), ``'same'`` or ``'valid'``
    groups : int dividing both channel counts
    bias : bool
    padding_mode : ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``
    dtype : float32 (default) or float64
    rng : numpy Generator or int seed for the initial values (default: :func:`convwise.nn.init.manual_seed`'s)

    Shape
    -----
    ``(N, C_in, H, W)`` -> ``(N, C_out, H_out, W_out)``,
    ``H_out = floor((H + 2*padding[0] - dilation[0]*(kH - 1) - 1) / stride[0]) + 1``, likewise ``W_out``.
    """

    _spatial = 2


class Conv3d(_Conv):
    """3D convolution layer, as ``torch.nn.Conv3d``; ``(N, C_in, D, H, W)`` -> ``(N, C_out, D_out, H_out, W_out)``."""

    _spatial = 3


class _ConvTranspose(_ConvNd):
    """torch's ``ConvTransposeNd`` signature and defaults (``output_padding`` before ``groups``)."""

    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", dtype=None, *, rng=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype, output_padding, rng=rng)

    def _output_padding(self, input: np.ndarray, output_size) -> tuple[int, ...]:
        """torch's rule: the output_padding that makes the output ``output_size``."""
        if output_size is None:
            return self.output_padding
        fn = type(self).__name__
        n = self._spatial
        if not isinstance(output_size, (tuple, list)) or not all(arithmetic._is_int(v) for v in output_size):
            raise TypeError(f"{fn}: output_size must be a sequence of ints, got output_size={output_size!r}")
        non_spatial = 2 if input.ndim == n + 2 else 1
        if input.ndim not in (n + 1, n + 2):  # harden: a low-rank input would index past its shape below
            raise ValueError(f"{fn}: expected a {n + 1}D (unbatched) or {n + 2}D (batched) input, got shape {input.shape}")
        sizes = tuple(int(v) for v in output_size)
        if len(sizes) == non_spatial + n:
            sizes = sizes[non_spatial:]
        if len(sizes) != n or input.ndim not in (n + 1, n + 2):
            raise ValueError(f"{fn}: output_size must have {n} or {n + non_spatial} elements, got "
                             f"output_size={output_size!r}")
        return arithmetic.output_padding_for_size(input.shape[non_spatial:], sizes, self.kernel_size, self.stride,
                                                  self.padding, self.dilation, fn=fn)

    def forward(self, input, output_size=None):
        """Transposed convolution of ``input``; ``output_size`` picks ``output_padding`` as torch does."""
        n = self._spatial
        x = np.asarray(input)
        output_padding = self._output_padding(x, output_size)
        plan, xb, w, b, unbatched = plan_conv_transpose(x, self.weight.data, self._bias(), self.stride, self.padding,
                                                        output_padding, self.groups, self.dilation, spatial=n,
                                                        fn=type(self).__name__)
        self._cache = (plan, xb, w, unbatched)
        y = plan.run(xb, w, b)
        return y[0] if unbatched else y

    def backward(self, grad_output):
        """Return ``dL/d input``; add ``dL/d weight`` and ``dL/d bias`` into their ``.grad``."""
        plan, x, w, unbatched = self._saved()
        dy = grad_output_batched(grad_output, x, plan.output_shape, unbatched, fn=f"{type(self).__name__}.backward")
        grad_input, grad_weight, grad_bias = plan.backward(dy, x, w, (True, True, self.bias is not None))
        self.weight.accumulate(grad_weight)
        if self.bias is not None:
            self.bias.accumulate(grad_bias)
        return grad_input[0] if unbatched else grad_input


class ConvTranspose1d(_ConvTranspose):
    """1D transposed convolution, as ``torch.nn.ConvTranspose1d``; weight ``(C_in, C_out/groups, k)``.

    Shape: ``L_out = (L - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1``.
    """

    _spatial = 1


class ConvTranspose2d(_ConvTranspose):
    """2D transposed convolution, as ``torch.nn.ConvTranspose2d``; weight ``(C_in, C_out/groups, kH, kW)``.

    Shape: ``H_out = (H - 1)*stride[0] - 2*padding[0] + dilation[0]*(kH - 1) + output_padding[0] + 1``.
    """

    _spatial = 2


class ConvTranspose3d(_ConvTranspose):
    """3D transposed convolution, as ``torch.nn.ConvTranspose3d``."""

    _spatial = 3
