"""Convolution, pooling and whole networks on Dask arrays: exact, tiled by the network's own receptive field.

``convwise.dask`` mirrors :mod:`convwise.functional` (same names and signatures, lazy Dask
arrays in and out) and adds :func:`apply_model` for a convwise network, with the halo
compiler :func:`halo` that says how far tiles must overlap and where they must align.
Work runs on whatever Dask scheduler is active: the threaded one by default, or a
``dask.distributed`` cluster once a ``Client`` exists. :func:`compute` adds a progress bar.

Needs the ``dask`` extra: ``pip install 'convwise[dask]'``.

>>> import numpy as np, dask.array as da, convwise.dask as cwd
>>> x = da.zeros((2, 3, 64, 64), chunks=(1, 3, 16, 16), dtype=np.float32)
>>> cwd.conv2d(x, np.ones((8, 3, 5, 5), np.float32), stride=2).shape
(2, 8, 30, 30)
"""

from ._halo import Halo, LayerGeometry
from .functional import (
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    max_pool1d,
    max_pool2d,
    max_pool3d,
)
from .model import apply_model, compute, estimate_memory, halo, layer_geometries

__all__ = ["Halo", "LayerGeometry", "apply_model", "avg_pool1d", "avg_pool2d", "avg_pool3d", "compute", "conv1d",
           "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "estimate_memory",
           "halo", "layer_geometries", "max_pool1d", "max_pool2d", "max_pool3d"]
