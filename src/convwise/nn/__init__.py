"""torch.nn-style layers over :mod:`convwise.functional`, with a hand-written backward.

Modules follow torch.nn: the same class names, constructor arguments, parameter names,
``state_dict`` keys, default initialisation and ``repr``, so a torch model's
``{k: v.numpy() for k, v in model.state_dict().items()}`` loads into the matching
convwise model and gives torch's outputs.

Training has no autograd: ``forward`` remembers what the layer's gradient needs and
``backward(grad_output)`` returns the input gradient and accumulates each parameter's
``.grad`` (see :mod:`convwise.nn.module`). Layers draw initial values from their
``rng=`` argument or from :func:`convwise.nn.init.manual_seed`'s global generator.

>>> import numpy as np
>>> from convwise import nn
>>> nn.init.manual_seed(0)
>>> model = nn.Sequential(nn.Conv2d(1, 5, 5), nn.MaxPool2d(2))
>>> model(np.zeros((1, 28, 28), np.float32)).shape
(5, 12, 12)
"""

from . import init
from .activation import ReLU
from .container import Sequential
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .linear import Dropout, Flatten, Identity, Linear
from .loss import CrossEntropyLoss, MSELoss
from .module import IncompatibleKeys, Module, Parameter
from .pooling import (
                      AdaptiveAvgPool1d,
                      AdaptiveAvgPool2d,
                      AdaptiveAvgPool3d,
                      AdaptiveMaxPool1d,
                      AdaptiveMaxPool2d,
                      AdaptiveMaxPool3d,
                      AvgPool1d,
                      AvgPool2d,
                      AvgPool3d,
                      MaxPool1d,
                      MaxPool2d,
                      MaxPool3d,
)

__all__ = [
    "init", "Module", "Parameter", "IncompatibleKeys", "Sequential",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
    "ReLU", "Flatten", "Linear", "Dropout", "Identity", "CrossEntropyLoss", "MSELoss",
]

# parity (issue 15): normalisation, activations, channel dropout, nearest upsampling, lp/unpool, fold
from .activation import Hardswish, LeakyReLU, LogSoftmax, ReLU6, Sigmoid, Softmax, Tanh  # noqa: E402
from .dropout import Dropout1d, Dropout2d, Dropout3d  # noqa: E402
from .fold import Fold, Unfold  # noqa: E402
from .lppool import LPPool1d, LPPool2d, LPPool3d  # noqa: E402
from .normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d  # noqa: E402
from .unpool import MaxUnpool1d, MaxUnpool2d, MaxUnpool3d  # noqa: E402
from .upsample import Upsample  # noqa: E402

__all__ += ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Tanh", "Sigmoid", "LeakyReLU", "ReLU6", "Hardswish",
            "Softmax", "LogSoftmax", "Dropout1d", "Dropout2d", "Dropout3d", "Upsample", "LPPool1d", "LPPool2d",
            "LPPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "Fold", "Unfold"]
