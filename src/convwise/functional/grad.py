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

from ._args import as_float_array, check_same_dtype, from_batched
from .conv import plan_conv, plan_conv_transpose

__all__ = ["conv_nd_backward", "conv_transpose_nd_backward", "grad_output_batched"]


def grad_output_batched(grad_output, x: np.ndarray, expected: tuple[int, ...], unbatched: bool, *,
                        fn: str) -> np.ndarray:
    """``grad_output`` validated against the forward output's (batched) shape, with a batch axis."""
    dy = as_float_array(grad_output, fn=fn, name="grad_output")
    check_same_dtype(x, dy, fn=fn, name="grad_output")
    if unbatched:
        dy = dy[None]
    if dy.shape != expected:
        shape = expected[1:] if unbatched else expected
        raise ValueError(f"{fn}: grad_output must have the forward output's shape {shape}, got {dy.shape[int(unbatched):]}")
    return np.ascontiguousarray(dy)


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
    plan, x, w, _, unbatched = plan_conv(input, weight, None, stride, padding, dilation, groups, spatial=spatial,
                                         method=method, fn=fn)
    dy = grad_output_batched(grad_output, x, plan.output_shape, unbatched, fn=fn)
    grad_input, grad_weight, grad_bias = plan.backward(dy, x, w, needs)
    return (None if grad_input is None else from_batched(grad_input, unbatched)), grad_weight, grad_bias


def conv_transpose_nd_backward(grad_output, input, weight, stride=1, padding=0, output_padding=0, groups=1,
                               dilation=1, *, spatial: int, needs=(True, True, True), method: str = "auto",
                               fn: str = "conv_transpose_backward"):
    """Gradients of ``conv_transpose_nd`` with respect to input, weight and bias.

    ``dL/dx`` is the ordinary convolution of ``dL/dy`` with the same weight;
    ``dL/dw`` correlates ``dL/dy`` (as the input) with ``x`` (as the output gradient).
    Returns ``(grad_input, grad_weight, grad_bias)`` like :func:`conv_nd_backward`.
    """
    plan, x, w, _, unbatched = plan_conv_transpose(input, weight, None, stride, padding, output_padding, groups,
                                                   dilation, spatial=spatial, method=method, fn=fn)
    dy = grad_output_batched(grad_output, x, plan.output_shape, unbatched, fn=fn)
    grad_input, grad_weight, grad_bias = plan.backward(dy, x, w, needs)
    return (None if grad_input is None else from_batched(grad_input, unbatched)), grad_weight, grad_bias
