"""Gradients of convolution and transposed convolution, written in terms of tested forward ops.

For ``y = conv(x, w) + b``:

- ``dL/dx`` is the transposed convolution of ``dL/dy`` with the same weight (the adjoint);
- ``dL/dw`` is a correlation of ``x`` with ``dL/dy`` (the ``weight_grad`` kernels);
- ``dL/db`` is ``dL/dy`` summed over the batch and every spatial position.

A transposed convolution is the adjoint of a convolution, so its gradients swap roles:
``dL/dx`` is an ordinary convolution of ``dL/dy`` and ``dL/dw`` the same correlation with
``dL/dy`` as the input.
"""

from __future__ import annotations

import numpy as np

from .. import arithmetic
from ._args import as_float_array, check_same_dtype, from_batched
from .conv import _prepare, resolve

__all__ = ["conv_nd_backward", "conv_transpose_nd_backward"]


def _grad_output(grad_output, x: np.ndarray, expected: tuple[int, ...], unbatched: bool, *, fn: str) -> np.ndarray:
    dy = as_float_array(grad_output, fn=fn, name="grad_output")
    check_same_dtype(x, dy, fn=fn, name="grad_output")
    if unbatched:
        dy = dy[None]
    if dy.shape != expected:
        shape = expected[1:] if unbatched else expected
        raise ValueError(f"{fn}: grad_output must have the forward output's shape {shape}, got {dy.shape[int(unbatched):]}")
    return np.ascontiguousarray(dy)


def _input_gradient_geometry(geometry: arithmetic.ConvGeometry) -> arithmetic.TransposeGeometry:
    """Transposed-conv geometry mapping a conv's output back onto its full input size.

    Input cells that no window reaches (``arithmetic.uncovered_input``) get zero gradient;
    the output_padding recorded here may exceed what the public API allows.
    """
    natural = tuple((o - 1) * s - lo - hi + k for o, s, (lo, hi), k in
                    zip(geometry.output_size, geometry.stride, geometry.padding, geometry.effective_kernel))
    extra = tuple(i - n for i, n in zip(geometry.input_size, natural))
    return arithmetic.TransposeGeometry(geometry.output_size, geometry.kernel_size, geometry.stride, geometry.padding,
                                        extra, geometry.dilation, geometry.input_size)


def conv_nd_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1, *, spatial: int,
                     needs=(True, True, True), method: str = "auto", fn: str = "conv_backward"):
    """Gradients of ``conv_nd`` with respect to input, weight and bias.

    Parameters
    ----------
    grad_output : array shaped like the forward output, ``(N, C_out, *out)`` or ``(C_out, *out)``
    input, weight, stride, padding, dilation, groups : as given to the forward call
    spatial : number of spatial dimensions (1, 2 or 3)
    needs : which of ``(grad_input, grad_weight, grad_bias)`` to compute; the others are None

    Returns
    -------
    (grad_input, grad_weight, grad_bias) : arrays shaped like input, weight and ``(C_out,)``

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4); w = np.ones((1, 1, 3, 3))
    >>> gx, gw, gb = conv_nd_backward(np.ones((1, 1, 2, 2)), x, w, spatial=2)
    >>> gx[0, 0].tolist()[0], gw[0, 0].tolist()[0], gb.tolist()
    ([1.0, 2.0, 2.0, 1.0], [10.0, 14.0, 18.0], [4.0])
    """
    x, w, unbatched, groups = _prepare(input, weight, None, groups, spatial, fn)
    if x.shape[1] != w.shape[1] * groups or w.shape[0] % groups:
        raise ValueError(f"{fn}: input channels {x.shape[1]} and weight {w.shape} do not match with groups={groups}")
    geometry = arithmetic.conv_geometry(x.shape[2:], w.shape[2:], stride, padding, dilation, fn=fn)
    dy = _grad_output(grad_output, x, (x.shape[0], w.shape[0], *geometry.output_size), unbatched, fn=fn)
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w)
    grad_input = grad_weight = grad_bias = None
    if needs[0]:
        if x.shape[0] == 0:
            grad_input = np.zeros_like(x)
        else:
            back = _input_gradient_geometry(geometry)
            run = resolve(method, "transpose", dy.shape, w.shape, back, groups, x.dtype, fn=fn)
            grad_input = run(dy, w, back, groups)
        grad_input = from_batched(grad_input, unbatched)
    if needs[1]:
        run = resolve(method, "weight_grad", x.shape, w.shape, geometry, groups, x.dtype, fn=fn)
        grad_weight = run(x, dy, geometry, groups) if x.shape[0] else np.zeros_like(w)
    if needs[2]:
        grad_bias = dy.sum(axis=(0, *range(2, dy.ndim)))
    return grad_input, grad_weight, grad_bias


def conv_transpose_nd_backward(grad_output, input, weight, stride=1, padding=0, output_padding=0, groups=1,
                               dilation=1, *, spatial: int, needs=(True, True, True), method: str = "auto",
                               fn: str = "conv_transpose_backward"):
    """Gradients of ``conv_transpose_nd`` with respect to input, weight and bias.

    ``dL/dx`` is the ordinary convolution of ``dL/dy`` with the same weight;
    ``dL/dw`` correlates ``dL/dy`` (as the input) with ``x`` (as the output gradient).
    Returns ``(grad_input, grad_weight, grad_bias)`` like :func:`conv_nd_backward`.
    """
    x, w, unbatched, groups = _prepare(input, weight, None, groups, spatial, fn)
    if x.shape[1] != w.shape[0] or w.shape[0] % groups:
        raise ValueError(f"{fn}: input channels {x.shape[1]} and weight {w.shape} do not match with groups={groups}")
    geometry = arithmetic.conv_transpose_geometry(x.shape[2:], w.shape[2:], stride, padding, output_padding, dilation,
                                                  fn=fn)
    forward = geometry.forward
    dy = _grad_output(grad_output, x, (x.shape[0], w.shape[1] * groups, *geometry.output_size), unbatched, fn=fn)
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w)
    grad_input = grad_weight = grad_bias = None
    if needs[0]:
        run = resolve(method, "forward", dy.shape, w.shape, forward, groups, x.dtype, fn=fn)
        grad_input = from_batched(run(dy, w, forward, groups) if x.shape[0] else np.zeros_like(x), unbatched)
    if needs[1]:
        run = resolve(method, "weight_grad", dy.shape, w.shape, forward, groups, x.dtype, fn=fn)
        grad_weight = run(dy, x, forward, groups) if x.shape[0] else np.zeros_like(w)
    if needs[2]:
        grad_bias = dy.sum(axis=(0, *range(2, dy.ndim)))
    return grad_input, grad_weight, grad_bias
