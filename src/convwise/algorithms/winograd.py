"""Winograd minimal filtering F(m x m, 3 x 3) for 2-D 3x3 stride-1 dilation-1 layers.

Each ``m x m`` output tile is ``A^T [(G g G^T) * (B^T d B)] A`` for the ``a x a`` input
tile ``d`` (``a = m + 2``) that produces it. Per call:

1. the filters are transformed once: ``U = G g G^T``, ``(a*a, groups, C_out/g, C_in/g)``;
2. the input transform ``V = B^T d B`` runs over all tiles at once as row and column
   passes of scaled slice additions on the (padded) image, never materialising the
   overlapping tiles and never using a generic tensordot;
3. the element-wise stage is one batched GEMM: for each of the ``a*a`` transform points
   (and group), ``(C_out x C_in) @ (C_in x tiles)``;
4. the output transform ``Y = A^T M A`` is again two passes of slice additions, written
   straight into the output.

Work is split over the batch and rows of tiles so that the scratch (``V`` and ``M``)
stays within ``get_config().workspace_bytes``.

Tiles: F(2x2,3x3) (``a = 4``, 2.25x fewer multiplications than direct) and F(4x4,3x3)
(``a = 6``, 4x fewer). F(4x4) is less accurate: its transform constants (up to 5 in
``B``, 8 in ``A``, 1/24 in ``G``) amplify rounding. Measured float32 relative error
(max |err| / max |ref|, float64 torch reference), see ``tests/test_fast_algorithms.py``
and the module notes in the report: F(2x2) ~1e-7 throughout; F(4x4) grows with ``C_in``
roughly like ``2e-7 * sqrt(C_in)`` on N(0,1) data, larger on data of mixed scales, so
float32 uses F(4x4) only up to :data:`F4_MAX_CHANNELS` input channels per group.

Cost model (:func:`cost`, flop-equivalents comparable with ``2 * MACs``):
``2 * a^2 * C_out * C_in/g * tiles`` for the GEMMs plus ``_PASS_WEIGHT`` per element
touched by the transforms, ``(C_in * 2a + C_out * 2m) * a * tiles``.
"""

from __future__ import annotations

import math

import numpy as np

from .._config import get_config
from ..arithmetic import ConvGeometry
from . import register

__all__ = ["forward", "eligible", "cost", "tile_size", "F4_MAX_CHANNELS"]

# (B^T, G, A^T) for F(2x2, 3x3) and F(4x4, 3x3) (Lavin & Gray 2016); points 0, +-1, (+-2), inf
_MATRICES = {
    2: (np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64),
        np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64),
        np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)),
    4: (np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                  [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=np.float64),
        np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=np.float64),
        np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
                 dtype=np.float64)),
}

# float32 uses F(4x4) only up to this many input channels per group (error ~ sqrt(C_in))
F4_MAX_CHANNELS = 512
_PASS_WEIGHT = 4.0


def eligible(x_shape, w_shape, geometry: ConvGeometry, groups: int, dtype, *, kind: str = "forward") -> bool:
    """Forward only: 2-D, 3x3 kernel, stride 1, dilation 1, float32/float64, any padding and
    groups (float32 with many channels per group falls back to F(2x2), see :func:`tile_size`)."""
    return (kind == "forward" and isinstance(geometry, ConvGeometry) and geometry.ndim == 2 and tuple(geometry.kernel_size) == (3, 3) and tuple(geometry.stride) == (1, 1)
            and tuple(geometry.dilation) == (1, 1) and np.dtype(dtype) in (np.float32, np.float64))


def tile_size(x_shape, w_shape, geometry: ConvGeometry, groups: int, dtype) -> int:
    """Output tile edge ``m``: 4 unless accuracy (float32, many channels) or tiny outputs say 2."""
    c_in_g = x_shape[1] // groups
    if np.dtype(dtype) == np.float32 and c_in_g > F4_MAX_CHANNELS:
        return 2
    if min(geometry.output_size) < 4:
        return 2
    return 4


def cost(x_shape, w_shape, geometry: ConvGeometry, groups: int, *, kind: str = "forward") -> float:
    if kind != "forward":
        return math.inf
    m = tile_size(x_shape, w_shape, geometry, groups, np.float64)
    a = m + 2
    n, c_in = x_shape[:2]
    c_out = w_shape[0]
    tiles = n * math.prod(-(-o // m) for o in geometry.output_size)
    gemm = 2.0 * a * a * c_out * (c_in // groups) * tiles
    passes = _PASS_WEIGHT * (c_in * 2 * a + c_out * 2 * m) * a * tiles
    return gemm + passes


def _combine(out, terms):
    """``out[...] = sum(coef * array)`` with scaled slice additions (no temporaries for +-1)."""
    first = True
    for coef, array in terms:
        if first:
            if coef == 1:
                np.copyto(out, array)
            else:
                np.multiply(array, coef, out=out)
            first = False
        elif coef == 1:
            out += array
        elif coef == -1:
            out -= array
        else:
            out += np.multiply(array, coef, dtype=out.dtype)


def _rows(matrix):
    return [[(float(c), j) for j, c in enumerate(row) if c != 0] for row in matrix]


def _filter_transform(weight, groups, g_matrix, dtype):
    """``U = G g G^T`` for every filter, by slice arithmetic in float64: ``(a*a, groups, C_out/g, C_in/g)``."""
    c_out, c_g = weight.shape[:2]
    a = g_matrix.shape[0]
    w = np.ascontiguousarray(weight.reshape(c_out * c_g, 3, 3).transpose(1, 2, 0), dtype=np.float64)   # (k, l, oc)
    grows = _rows(g_matrix)
    half = np.empty((a, 3, c_out * c_g))
    for i, terms in enumerate(grows):
        _combine(half[i], [(coef, w[k]) for coef, k in terms])
    u = np.empty((a, a, c_out * c_g))
    for i in range(a):
        for j, terms in enumerate(grows):
            _combine(u[i, j], [(coef, half[i, k]) for coef, k in terms])
    return u.reshape(a * a, groups, c_out // groups, c_g).astype(dtype)


def forward(x: np.ndarray, weight: np.ndarray, geometry: ConvGeometry, groups: int, *, tile: int | None = None) -> np.ndarray:
    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    m = tile or tile_size(x.shape, weight.shape, geometry, groups, x.dtype)
    bt, g_matrix, at = _MATRICES[m]
    a = m + 2
    out_h, out_w = geometry.output_size
    tiles_h, tiles_w = -(-out_h // m), -(-out_w // m)
    u = _filter_transform(weight, groups, g_matrix, x.dtype)                        # (a*a, g, co, cg)
    (lo_h, _), (lo_w, _) = geometry.padding
    y = np.empty((n, c_out, out_h, out_w), dtype=x.dtype)
    itemsize = x.itemsize
    # scratch per (sample, tile row): padded rows, row pass, V, M, output rows
    per_row = itemsize * tiles_w * (c_in * (m * m + 2 * a * m + a * a) + c_out * (a * a + m * a + 2 * m * m))
    budget = get_config().workspace_bytes
    from .fft import _split
    for batch, rows in _split(n, tiles_h, per_row, budget):
        _tile_rows(x[batch], u, y[batch], rows, (lo_h, lo_w), m, bt, at, groups, (tiles_w, out_h, out_w))
    return y


def _tile_rows(x, u, y, rows, lows, m, bt, at, groups, sizes):
    tiles_w, out_h, out_w = sizes
    a = m + 2
    b, c_in, in_h, in_w = x.shape
    c_out = y.shape[1]
    t0, t1 = rows.start, rows.stop
    th = t1 - t0
    # zero-padded input block, channels first: (C, b, th*m + 2, tiles_w*m + 2)
    height, width = th * m + 2, tiles_w * m + 2
    top, left = t0 * m - lows[0], -lows[1]
    block = np.zeros((c_in, b, height, width), dtype=x.dtype)
    r0, r1 = max(top, 0), min(top + height, in_h)
    c0, c1 = max(left, 0), min(left + width, in_w)
    if r1 > r0 and c1 > c0:
        block[:, :, r0 - top:r1 - top, c0 - left:c1 - left] = x[:, :, r0:r1, c0:c1].transpose(1, 0, 2, 3)
    # input transform, on contiguous arrays: de-interleave the tile columns once, then the
    # column pass (B^T along the tile's columns), then the row pass: V (a, a, C, b, th, tiles_w)
    brows = _rows(bt)
    columns = np.empty((a, c_in, b, height, tiles_w), dtype=x.dtype)
    for j in range(a):
        columns[j] = block[..., j:j + tiles_w * m:m]
    del block
    column_pass = np.empty_like(columns)
    for k, terms in enumerate(brows):
        _combine(column_pass[k], [(coef, columns[j]) for coef, j in terms])
    del columns
    v = np.empty((a, a, c_in, b, th, tiles_w), dtype=x.dtype)
    for i, terms in enumerate(brows):
        for k in range(a):
            _combine(v[i, k], [(coef, column_pass[k, :, :, j:j + th * m:m]) for coef, j in terms])
    del column_pass
    c_g = c_in // groups
    cols = b * th * tiles_w
    v = v.reshape(a * a, groups, c_g, cols)
    mm = np.matmul(u, v)                                                            # (a*a, g, co, cols)
    del v
    mm = mm.reshape(a, a, c_out, b, th, tiles_w)
    # output transform: rows then columns, straight into the tile grid of y
    arows = _rows(at)
    half = np.empty((m, a, c_out, b, th, tiles_w), dtype=y.dtype)
    for i, terms in enumerate(arows):
        _combine(half[i], [(coef, mm[j]) for coef, j in terms])
    del mm
    out = np.empty((m, m, c_out, b, th, tiles_w), dtype=y.dtype)
    for i in range(m):
        for k, terms in enumerate(arows):
            _combine(out[i, k], [(coef, half[i, j]) for coef, j in terms])
    del half
    grid = np.empty((b, c_out, th, m, tiles_w, m), dtype=y.dtype)
    np.copyto(grid, out.transpose(3, 2, 4, 0, 5, 1))
    del out
    grid = grid.reshape(b, c_out, th * m, tiles_w * m)
    first, last = t0 * m, min(t1 * m, out_h)
    y[:, :, first:last] = grid[:, :, :last - first, :out_w]


register("winograd", forward=forward)
