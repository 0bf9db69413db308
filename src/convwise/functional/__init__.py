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
           "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "pad"]
BACKWARD = ["conv_nd_backward", "conv_transpose_nd_backward", "max_pool_nd_backward", "avg_pool_nd_backward",
            "adaptive_avg_pool_nd_backward", "adaptive_max_pool_nd_backward", "pad_backward"]
