"""Pure integer arithmetic of convolution and pooling: the one source of truth for sizes.

Nothing here imports NumPy. The engine, the command line, the animations, the web page
and the model summary all ask this module for output sizes, padding, parameter and MAC
counts and receptive fields; none of them re-derives a formula.

Every function validates its arguments and raises ``TypeError`` (wrong kind) or
``ValueError`` (bad value) with a message that names the function and the argument,
states the rule and echoes the value, e.g. ``conv2d: groups=3 must divide in_channels=4``.

Sizes follow PyTorch 2.x exactly. Per spatial dimension, with input size ``i``, kernel
``k``, stride ``s``, padding ``lo``/``hi``, dilation ``d``::

    effective kernel   k_eff = d * (k - 1) + 1
    convolution        o = floor((i + lo + hi - k_eff) / s) + 1
    transposed conv    o = (i - 1) * s - lo - hi + k_eff + output_padding
    pooling            o = floor_or_ceil((i + 2p - k_eff) / s) + 1,
                       minus one if ceil_mode and the last window starts past i + p

Examples
--------
>>> conv_output_size(227, kernel_size=11, stride=4)
(55,)
>>> conv_output_size((7, 7), kernel_size=3, stride=2, padding=1, dilation=2)
(3, 3)
>>> resolve_padding("same", kernel_size=4, stride=1, dilation=1)
((1, 2),)
"""

from __future__ import annotations

from ._validate import MAX_INT as MAX_INT
from ._validate import _check_geometry as _check_geometry
from ._validate import _fmt as _fmt
from ._validate import _is_int as _is_int
from ._validate import _sizes as _sizes
from ._validate import ntuple, resolve_padding
from .adaptive import adaptive_end, adaptive_output_size, adaptive_start, adaptive_windows
from .counting import check_channels, conv_macs, conv_params, conv_transpose_macs
from .coverage import uncovered_cells, uncovered_input
from .explanation import explain
from .geometry import (
    ConvGeometry,
    DirectEquivalent,
    PoolGeometry,
    TransposeGeometry,
    adjoint_padding,
    check_output_padding,
    check_pool_padding,
    conv_geometry,
    conv_output_size,
    conv_transpose_geometry,
    conv_transpose_output_size,
    input_gradient_geometry,
    output_padding_for_size,
    output_padding_range,
    pool_geometry,
    pool_output_length,
    pool_output_size,
    transpose_as_direct,
)
from .geometry import _Kernel as _Kernel
from .receptive import ReceptiveField, receptive_field, receptive_window
from .solve import SOLVE_MAX_DILATION as SOLVE_MAX_DILATION
from .solve import SOLVE_MAX_PADDING as SOLVE_MAX_PADDING
from .solve import SOLVE_MAX_STRIDE as SOLVE_MAX_STRIDE
from .solve import SOLVE_OPS, Setting, solve_output_size
from .solve import _solve_choices as _solve_choices
from .solve import _solve_dimension as _solve_dimension

__all__ = [
    "ConvGeometry",
    "TransposeGeometry",
    "PoolGeometry",
    "ReceptiveField",
    "ntuple",
    "resolve_padding",
    "conv_geometry",
    "conv_output_size",
    "conv_transpose_geometry",
    "conv_transpose_output_size",
    "output_padding_range",
    "check_output_padding",
    "check_pool_padding",
    "output_padding_for_size",
    "adjoint_padding",
    "DirectEquivalent",
    "transpose_as_direct",
    "input_gradient_geometry",
    "adaptive_start",
    "adaptive_end",
    "pool_geometry",
    "pool_output_length",
    "pool_output_size",
    "adaptive_windows",
    "adaptive_output_size",
    "check_channels",
    "conv_params",
    "conv_macs",
    "conv_transpose_macs",
    "receptive_field",
    "uncovered_input",
    "uncovered_cells",
    "explain",
]


__all__ += ["Setting", "solve_output_size", "SOLVE_OPS", "receptive_window"]
