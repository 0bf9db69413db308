"""convwise: PyTorch-exact convolution and pooling for NumPy arrays.

>>> import numpy as np, convwise as cw
>>> x = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
>>> cw.conv2d(x, np.ones((1, 1, 3, 3))).shape
(1, 1, 3, 3)
"""

from . import (  # torch-like layers and optimizers over functional
    arithmetic,
    functional,
    nn,
    optim,
    summary,  # a callable module: cw.summary(model, input_shape) -> ModelSummary
)
from ._config import config, get_config, set_config
from .functional import *  # noqa: F401,F403  (top-level aliases: cw.conv2d, cw.max_pool2d, ...)
from .functional import __all__ as _functional_all

__version__ = "0.1.0"

__all__ = ["arithmetic", "functional", "nn", "optim", "summary", "config", "get_config", "set_config",
           "__version__", *_functional_all]


def __getattr__(name: str):
    """``cw.dask`` and ``cw.onnx`` load on first use (dask and onnx are slow to import and optional)."""
    if name in ("dask", "onnx"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
