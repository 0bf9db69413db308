"""Convolution algorithms, one module each, all with one signature, registered by name.

Forward convolution::

    algorithm(x, weight, geometry, groups) -> y

- ``x``: batched ``(N, C_in, *spatial)`` float32/float64 array (unpadded);
- ``weight``: ``(C_out, C_in/groups, *kernel)`` of the same dtype;
- ``geometry``: a validated :class:`convwise.arithmetic.ConvGeometry` (canonical tuples,
  zero-padding ``(lo, hi)`` pairs, output size);
- ``groups``: a positive int dividing both channel counts;
- returns ``(N, C_out, *geometry.output_size)`` in the input's dtype, without bias.

Transposed convolution (the adjoint of the forward op, i.e. its input gradient)::

    algorithm(x, weight, geometry, groups) -> y

with ``weight`` ``(C_in, C_out/groups, *kernel)`` and a
:class:`convwise.arithmetic.TransposeGeometry`.

Algorithms never re-validate: :mod:`convwise.functional` checks arguments once.
"""

from __future__ import annotations

import sys
from typing import Callable

FORWARD: dict[str, Callable] = {}
TRANSPOSE: dict[str, Callable] = {}
WEIGHT_GRAD: dict[str, Callable] = {}


def register(name: str, *, forward=None, transpose=None, weight_grad=None) -> None:
    """Register an algorithm's forward, transposed and/or weight-gradient kernels."""
    for table, function in ((FORWARD, forward), (TRANSPOSE, transpose), (WEIGHT_GRAD, weight_grad)):
        if function is not None:
            table[name] = function
    select = sys.modules.get(f"{__name__}.select")
    if select is not None:              # choices made before this registration may change
        select.clear_cache()


def available(kind: str = "forward") -> list[str]:
    return sorted({"forward": FORWARD, "transpose": TRANSPOSE, "weight_grad": WEIGHT_GRAD}[kind])


from . import atrous, compiled, depthwise, direct, gemm, fft, pointwise, shift, winograd  # noqa: E402  (they register themselves)

__all__ = ["FORWARD", "TRANSPOSE", "WEIGHT_GRAD", "register", "available", "direct", "gemm", "depthwise", "pointwise",
           "fft", "winograd", "atrous", "compiled"]
