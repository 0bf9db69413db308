"""Space-to-batch ("atrous") dilated convolution: equal to torch, runs the dense phases through auto."""

import numpy as np
import pytest
import torch

import convwise as cw
from conftest import TOLERANCE, rel_error, to_torch
from convwise.algorithms import atrous, make_problem, select
from convwise.arithmetic import conv_geometry

CONV = {1: cw.conv1d, 2: cw.conv2d, 3: cw.conv3d}
TORCH = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}


def eligible(name, x_shape, w_shape, geometry, groups, dtype, kind="forward"):
    """Whether the registered algorithm ``name`` may run this problem (the selector's guards)."""
    return select.why_ineligible(name, kind, x_shape, w_shape, geometry, groups, dtype) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, padding, dilation, groups", [
    ((1, 8, 24, 24), (8, 8, 3, 3), 4, 4, 1),              # 3x3: the phases run Winograd
    ((2, 3, 17, 13), (4, 3, 3, 2), (2, 1), (3, 2), 1),    # ragged phases, one dimension undilated
    ((1, 2, 20), (3, 2, 5), 3, 2, 1),
    ((1, 2, 9, 8, 7), (2, 2, 3, 3, 3), 1, (2, 1, 3), 1),
    ((1, 4, 10, 10), (4, 2, 3, 3), 0, 2, 2),
    ((2, 6, 11, 12), (6, 1, 3, 3), "same", 3, 6),         # depthwise, 'same' padding
    ((1, 3, 7, 7), (2, 3, 3, 3), 0, 3, 1),                # output 1x1: every phase but one is empty
])
def test_atrous_matches_torch(rng, dtype, x_shape, w_shape, padding, dilation, groups):
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    nd = len(x_shape) - 2
    expected = TORCH[nd](to_torch(x), to_torch(w), None, 1, padding, dilation, groups).numpy()
    got = CONV[nd](x, w, None, 1, padding, dilation, groups, method="atrous")
    assert got.shape == expected.shape and got.dtype == dtype
    geometry = conv_geometry(x_shape[2:], w_shape[2:], 1, padding, dilation)
    exact = atrous._inner(make_problem("forward", x_shape, w_shape, geometry, groups, dtype))[1].exact
    assert rel_error(got, expected) <= TOLERANCE[dtype][0 if exact else 1]


def test_phases_of_a_3x3_layer_run_winograd_and_auto_takes_it_when_cheaper():
    x_shape, w_shape = (1, 64, 64, 64), (64, 64, 3, 3)
    geometry = conv_geometry((64, 64), (3, 3), 1, 4, 4)
    dense, record = atrous._inner(make_problem("forward", x_shape, w_shape, geometry, 1, np.float32))
    assert dense.x_shape == (16, 64, 18, 18) and dense.geometry.output_size == (16, 16) and record.name == "winograd"
    costs = {name: select.predict_seconds(name, "forward", x_shape, w_shape, geometry, 1, np.float32)
             for name in select.candidates("forward", x_shape, w_shape, geometry, 1, np.float32)}
    assert "atrous" in costs
    assert select.choose_method("forward", x_shape, w_shape, geometry, 1, np.float32) == min(costs, key=costs.get)


@pytest.mark.parametrize("stride, dilation", [(2, 2), (1, 1), ((1, 2), 2)])
def test_atrous_declines_strided_or_undilated(stride, dilation):
    geometry = conv_geometry((16, 16), (3, 3), stride, 2, dilation)
    assert not eligible("atrous", (1, 4, 16, 16), (4, 4, 3, 3), geometry, 1, np.float32)
    x = np.ones((1, 4, 16, 16), np.float32)
    with pytest.raises(ValueError, match="method='atrous' cannot run this problem"):
        cw.conv2d(x, np.ones((4, 4, 3, 3), np.float32), stride=stride, padding=2, dilation=dilation, method="atrous")


def test_atrous_declines_when_its_copies_exceed_the_budget():
    geometry = conv_geometry((64, 64), (3, 3), 1, 4, 4)
    needed = atrous.workspace_bytes((1, 64, 64, 64), (64, 64, 3, 3), geometry, 4)
    with cw.config(workspace_mib=needed / 2**20):                     # half of what it needs twice over
        assert not eligible("atrous", (1, 64, 64, 64), (64, 64, 3, 3), geometry, 1, np.float32)
    with cw.config(workspace_mib=4 * needed / 2**20):
        assert eligible("atrous", (1, 64, 64, 64), (64, 64, 3, 3), geometry, 1, np.float32)
