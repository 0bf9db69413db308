"""torch.nn.functional's convolution and pooling ops on NumPy arrays.

Same names, argument names, defaults and semantics as ``torch.nn.functional``; inputs
are anything ``np.asarray`` accepts, batched ``(N, C, *spatial)`` or unbatched
``(C, *spatial)``, float32 or float64; outputs keep the input's dtype.
"""

from .conv import conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d, convolve
from .grad import conv_nd_backward, conv_transpose_nd_backward
from ._plan import ConvPlan
from .padding import pad, pad_backward
from .pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d, adaptive_avg_pool_nd_backward,
                      adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d, adaptive_max_pool_nd_backward,
                      avg_pool1d, avg_pool2d, avg_pool3d, avg_pool_nd_backward, max_pool1d, max_pool2d, max_pool3d,
                      max_pool_nd_backward)

# The public ops (torch's names; also the top-level ``convwise.conv2d`` aliases). The gradient
# helpers below stay importable from here (``nn`` uses them) but are not part of ``__all__``.
__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "convolve",
           "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "pad"]
BACKWARD = ["conv_nd_backward", "conv_transpose_nd_backward", "max_pool_nd_backward", "avg_pool_nd_backward",
            "adaptive_avg_pool_nd_backward", "adaptive_max_pool_nd_backward", "pad_backward"]
