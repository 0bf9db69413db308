"""torch.nn.functional's convolution and pooling ops on NumPy arrays.

Same names, argument names, defaults and semantics as ``torch.nn.functional``; inputs
are anything ``np.asarray`` accepts, batched ``(N, C, *spatial)`` or unbatched
``(C, *spatial)``, float32 or float64; outputs keep the input's dtype.
"""

from ._plan import ConvPlan as ConvPlan
from .conv import conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d, convolve
from .grad import conv_nd_backward as conv_nd_backward
from .grad import conv_transpose_nd_backward as conv_transpose_nd_backward
from .padding import pad
from .padding import pad_backward as pad_backward
from .pooling import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    adaptive_max_pool3d,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    max_pool1d,
    max_pool2d,
    max_pool3d,
)
from .pooling import adaptive_avg_pool_nd_backward as adaptive_avg_pool_nd_backward
from .pooling import adaptive_max_pool_nd_backward as adaptive_max_pool_nd_backward
from .pooling import avg_pool_nd_backward as avg_pool_nd_backward
from .pooling import max_pool_nd_backward as max_pool_nd_backward

# The public ops (torch's names; also the top-level ``convwise.conv2d`` aliases). The gradient
# helpers (:data:`BACKWARD`) and :class:`ConvPlan` stay importable from here (``nn`` uses them)
# but are not part of ``__all__``, so they stay out of the top-level namespace.
__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "convolve",
           "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "pad",
           "unfold", "fold", "lp_pool1d", "lp_pool2d", "lp_pool3d", "max_unpool1d", "max_unpool2d", "max_unpool3d",
           "interpolate"]
BACKWARD = ["conv_nd_backward", "conv_transpose_nd_backward", "max_pool_nd_backward", "avg_pool_nd_backward",
            "adaptive_avg_pool_nd_backward", "adaptive_max_pool_nd_backward", "pad_backward",
            "lp_pool_nd_backward", "max_unpool_nd_backward", "interpolate_backward"]

# unfold/fold, lp_pool, max_unpool, nearest interpolate, and the dtype policy
from . import _dtypes, _pool_pairs  # noqa: E402
from .fold import fold, unfold  # noqa: E402
from .interpolate import interpolate  # noqa: E402
from .interpolate import interpolate_backward as interpolate_backward  # noqa: E402
from .lp_pool import lp_pool1d, lp_pool2d, lp_pool3d  # noqa: E402
from .lp_pool import lp_pool_nd_backward as lp_pool_nd_backward  # noqa: E402
from .unpool import max_unpool1d, max_unpool2d, max_unpool3d  # noqa: E402
from .unpool import max_unpool_nd_backward as max_unpool_nd_backward  # noqa: E402

_pool_pairs.wrap_public(globals())      # (lo, hi) padding pairs for max/avg pooling (beyond torch)
_dtypes.wrap_public(globals())          # dtypes as torch 2.13 accepts them (outermost)
