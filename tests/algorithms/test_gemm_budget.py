"""The im2col workspace stays within convwise.config(workspace_mib=...)."""

from __future__ import annotations

import numpy as np
import pytest

import convwise as cw
from conftest import peak_memory, rel_error
from convwise import arithmetic
from convwise.algorithms import gemm

MIB = 2**20
SLACK = 64 * 2**10          # small allocations: index tuples, weight views, matmul bookkeeping


@pytest.mark.parametrize("kwargs, groups", [
    (dict(padding=1), 1),
    (dict(padding=2, stride=2, dilation=2), 1),
    (dict(padding="same"), 2),
])
def test_forward_peak_stays_within_budget_plus_output(rng, kwargs, groups):
    x = rng.standard_normal((2, 32, 64, 64)).astype(np.float32)
    w = rng.standard_normal((16, 32 // groups, 3, 4 if kwargs.get("padding") == "same" else 3)).astype(np.float32)
    geometry = arithmetic.conv_geometry(x.shape[2:], w.shape[2:], kwargs.get("stride", 1), kwargs.get("padding", 0),
                                        kwargs.get("dilation", 1))
    full_columns = x.shape[0] * x.shape[1] * np.prod(w.shape[2:]) * np.prod(geometry.output_size) * 4
    assert full_columns > 2 * MIB                           # the untiled im2col would be much larger
    with cw.config(workspace_mib=1):
        y, peak = peak_memory(lambda: cw.conv2d(x, w, groups=groups, method="gemm", **kwargs))
    assert peak <= 1 * MIB + y.nbytes + SLACK, (peak, y.nbytes)
    reference = cw.conv2d(x.astype(np.float64), w.astype(np.float64), groups=groups, method="direct", **kwargs)
    assert rel_error(y, reference) <= 1e-5


def test_weight_grad_peak_stays_within_budget(rng):
    x = rng.standard_normal((2, 32, 48, 48)).astype(np.float32)
    geometry = arithmetic.conv_geometry(x.shape[2:], (3, 3), 1, 1, 1)
    dy = rng.standard_normal((2, 16, *geometry.output_size)).astype(np.float32)
    with cw.config(workspace_mib=0.5):
        grad, peak = peak_memory(lambda: gemm.weight_grad(x, dy, geometry, 1))
    assert peak <= 0.5 * MIB + 2 * grad.nbytes + SLACK, peak
    from convwise.algorithms import direct
    assert rel_error(grad, direct.weight_grad(x.astype(np.float64), dy.astype(np.float64), geometry, 1)) <= 1e-5


def test_row_tiles_split_evenly_and_cover_everything():
    geometry = arithmetic.conv_geometry((57, 40), (3, 3), 1, 1, 1)
    with cw.config(workspace_mib=0.3):
        plan = gemm._plan(3, 16, geometry, 4)
    covered = {(b, r) for batch, rows in plan for b in range(batch.start, batch.stop)
               for r in range(rows.start, rows.stop)}
    assert covered == {(b, r) for b in range(3) for r in range(57)}
    sizes = {rows.stop - rows.start for _, rows in plan}
    assert max(sizes) - min(sizes) <= max(sizes) // 2 + 1
    with cw.config(workspace_mib=0.3):
        assert all(gemm._tile_bytes(16, geometry, 4, b.stop - b.start, r.stop - r.start) <= 0.3 * MIB for b, r in plan)


def test_auto_avoids_gemm_when_one_row_exceeds_the_budget(rng):
    x = rng.standard_normal((1, 64, 8, 256)).astype(np.float32)
    w = rng.standard_normal((4, 64, 5, 5)).astype(np.float32)
    with cw.config(workspace_mib=0.25):
        with pytest.raises(ValueError, match=r"conv2d: method='gemm'.*MiB.*workspace"):
            cw.conv2d(x, w, method="gemm")
        y = cw.conv2d(x, w)                                   # auto falls back to an eligible method
    assert rel_error(y, cw.conv2d(x, w, method="direct")) <= 1e-5
