"""One grid for every registered algorithm: kind x dtype x geometry, against torch and ``direct``.

Registering a new algorithm (``convwise.algorithms.register``) puts it in this grid; where a
record says it cannot run a problem the case is skipped with the record's own reason. Exact
records must meet the exact bound (float32 1e-5, float64 1e-12), fast ones the fast bound
(1e-4, 1e-10), against a float64 torch reference and against the ``direct`` reference.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import TOLERANCE, rel_error, to_torch
from convwise import algorithms, arithmetic
from convwise.algorithms import direct, select

TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}

# name: (input shape, weight shape (forward layout), stride, padding, dilation, groups)
GEOMETRIES = {
    "1d": ((2, 4, 17), (6, 4, 3), 1, 1, 1, 1),
    "1d-s2-d2-g2": ((2, 4, 23), (6, 2, 5), 2, 3, 2, 2),
    "2d-3x3": ((2, 4, 9, 10), (6, 4, 3, 3), 1, 1, 1, 1),
    "2d-s2": ((1, 3, 11, 12), (5, 3, 3, 3), 2, 1, 1, 1),
    "2d-dilated": ((1, 4, 14, 13), (4, 4, 3, 3), 1, 2, 2, 1),
    "2d-grouped": ((1, 8, 10, 9), (6, 4, 3, 2), 1, (1, 0), 1, 2),
    "2d-depthwise": ((2, 6, 9, 9), (12, 1, 3, 3), 1, 1, 1, 6),
    "2d-depthwise-s2": ((1, 4, 10, 11), (4, 1, 3, 3), 2, 1, 1, 4),
    "2d-1x1": ((2, 6, 7, 8), (4, 6, 1, 1), 1, 0, 1, 1),
    "2d-1x1-s2-pad": ((1, 6, 7, 8), (4, 3, 1, 1), 2, 1, 1, 2),
    "2d-large-kernel": ((1, 2, 20, 20), (3, 2, 7, 7), 1, 3, 1, 1),
    "3d": ((1, 2, 6, 7, 5), (4, 2, 3, 2, 3), (1, 2, 1), 1, (1, 1, 2), 1),
}
KINDS = ("forward", "transpose", "weight_grad")
DTYPES = {"f32": np.float32, "f64": np.float64}


def _cases():
    for record in algorithms.records():
        for kind in KINDS:
            if record.kernel(kind) is None:
                continue
            for geometry in GEOMETRIES:
                for dtype in DTYPES:
                    yield pytest.param(record.name, kind, geometry, dtype, id=f"{record.name}-{kind}-{geometry}-{dtype}")


@pytest.fixture(scope="module")
def double_default():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def _problem(kind, spec, dtype, rng):
    """``(x, second operand, geometry, groups, torch reference, direct reference)`` of one case."""
    xs, ws, stride, padding, dilation, groups = spec
    nd = len(xs) - 2
    conv = arithmetic.conv_geometry(xs[2:], ws[2:], stride, padding, dilation)
    if kind == "forward":
        x, w = rng.standard_normal(xs), rng.standard_normal(ws)
        expected = TORCH_CONV[nd](to_torch(x), to_torch(w), None, stride, padding, dilation, groups).numpy()
        return x, w, conv, groups, expected, direct.forward
    if kind == "transpose":
        # the adjoint of the forward conv: input (N, C_out, *out), weight (C_out, C_in/g, *K) as torch's
        # conv_transpose weight (C_in', C_out'/g, *K) with C_in' = C_out of the forward
        pad = tuple(lo for lo, _ in conv.padding)
        geometry = arithmetic.conv_transpose_geometry(conv.output_size, ws[2:], stride, pad, 0, dilation)
        x = rng.standard_normal((xs[0], ws[0], *conv.output_size))
        w = rng.standard_normal(ws)
        expected = TORCH_CONV_T[nd](to_torch(x), to_torch(w), None, stride, pad, 0, groups, dilation).numpy()
        return x, w, geometry, groups, expected, direct.transpose
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    tw = to_torch(w).requires_grad_()
    y = TORCH_CONV[nd](to_torch(x), tw, None, stride, padding, dilation, groups)
    dy = rng.standard_normal(tuple(y.shape))
    y.backward(to_torch(dy))
    return x, dy, conv, groups, tw.grad.numpy(), direct.weight_grad


@pytest.mark.parametrize("name, kind, geometry, dtype", list(_cases()))
def test_every_algorithm_matches_torch_and_direct(name, kind, geometry, dtype, rng, double_default):
    dtype = DTYPES[dtype]
    x, second, geo, groups, expected, reference = _problem(kind, GEOMETRIES[geometry], dtype, rng)
    if kind == "transpose" and any(s <= 0 for s in geo.output_size):
        pytest.skip("no transposed geometry")
    w_shape = second.shape if kind != "weight_grad" else GEOMETRIES[geometry][1]
    reason = select.why_ineligible(name, kind, x.shape, w_shape, geo, groups, dtype)
    if reason is not None:
        pytest.skip(f"{name}: {reason}")
    record = algorithms.RECORDS[name]
    x, second = x.astype(dtype), second.astype(dtype)
    got = record.kernel(kind)(x, second, geo, groups)
    assert got.dtype == dtype and got.shape == expected.shape
    bound = TOLERANCE[dtype][0 if record.exact else 1]
    assert rel_error(got, expected) <= bound
    slow = reference(x.astype(np.float64), second.astype(np.float64), geo, groups)
    assert rel_error(got, slow) <= bound


def test_grid_covers_every_registered_kernel():
    names = {p.values[0] for p in _cases()}
    assert names == set(algorithms.RECORDS)
    for record in algorithms.records():
        assert record.kernel("forward") or record.kernel("transpose") or record.kernel("weight_grad")
