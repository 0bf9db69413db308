"""torch.nn.functional's convolution and pooling ops on NumPy arrays.

Same names, argument names, defaults and semantics as ``torch.nn.functional``; inputs
are anything ``np.asarray`` accepts, batched ``(N, C, *spatial)`` or unbatched
``(C, *spatial)``, float32 or float64; outputs keep the input's dtype.
"""

from .conv import conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d, convolve
from .grad import conv_nd_backward, conv_transpose_nd_backward
from .padding import pad, pad_backward
from .pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d, adaptive_avg_pool_nd_backward,
                      adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d, adaptive_max_pool_nd_backward,
                      avg_pool1d, avg_pool2d, avg_pool3d, avg_pool_nd_backward, max_pool1d, max_pool2d, max_pool3d,
                      max_pool_nd_backward)

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "convolve",
           "conv_nd_backward", "conv_transpose_nd_backward",
           "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "pad",
           "max_pool_nd_backward", "avg_pool_nd_backward", "adaptive_avg_pool_nd_backward",
           "adaptive_max_pool_nd_backward", "pad_backward"]

# parity (issue 15): unfold/fold, lp_pool, max_unpool, nearest interpolate, and the dtype policy
from . import _dtypes, _pool_pairs  # noqa: E402
from .fold import fold, unfold  # noqa: E402
from .interpolate import interpolate, interpolate_backward  # noqa: E402
from .lp_pool import lp_pool1d, lp_pool2d, lp_pool3d, lp_pool_nd_backward  # noqa: E402
from .unpool import max_unpool1d, max_unpool2d, max_unpool3d, max_unpool_nd_backward  # noqa: E402

_pool_pairs.wrap_public(globals())      # (lo, hi) padding pairs for max/avg pooling (beyond torch)
_dtypes.wrap_public(globals())          # dtypes as torch 2.13 accepts them (outermost)
__all__ += ["unfold", "fold", "lp_pool1d", "lp_pool2d", "lp_pool3d", "lp_pool_nd_backward",
            "max_unpool1d", "max_unpool2d", "max_unpool3d", "max_unpool_nd_backward",
            "interpolate", "interpolate_backward"]
