"""convwise.dask on a real dask.distributed LocalCluster of 2 worker processes, unchanged code."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import convwise.dask as cwd
from conftest import rel_error
from convwise import functional as F
from convwise import nn

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       memory_limit="1GiB")
    with cluster, distributed.Client(cluster) as client:
        yield client


@pytest.mark.slow
def test_ops_and_model_on_two_worker_processes(client, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 70, 50)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    xd = da.from_array(x, chunks=(1, 3, 16, 16))
    y = cwd.conv2d(xd, w, stride=2, padding=1, dilation=2, method="gemm")
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect", rng=0), nn.ReLU(), nn.MaxPool2d(2),
                          nn.ConvTranspose2d(4, 2, 2, stride=2, rng=1))
    z = cwd.apply_model(model, xd)
    y_value, z_value = cwd.compute(y, z)  # distributed's progress, then the results
    assert rel_error(y_value, F.conv2d(x, w, stride=2, padding=1, dilation=2, method="gemm")) <= 1e-6
    assert rel_error(z_value, model(x)) <= 1e-6
    executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert len(executed) == 2 and all(count > 0 for count in executed.values()), executed  # both did work

    from convwise.dask.io import write_zarr

    write_zarr(y, tmp_path / "y.zarr", progress=False)
    import zarr

    assert rel_error(zarr.open_array(str(tmp_path / "y.zarr"), mode="r")[:], y_value) == 0.0
