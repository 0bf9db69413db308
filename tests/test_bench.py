"""``convwise bench``: the suite loads, the quick run works end to end (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from convwise import algorithms, bench

COLUMNS = ["layer", "method", "convwise ms", "torch ms", "GFLOP/s", "% sgemm", "torch/convwise"]


def test_suite_file_has_the_documented_layers():
    layers = bench.load_suite()
    ops = {layer["op"] for layer in layers}
    assert {"conv1d", "conv2d", "conv3d", "conv_transpose2d", "max_pool2d", "conv2d_backward"} <= ops
    assert len(layers) == 20
    for layer in layers:
        assert bench.layer_flops(layer) > 0
    assert [layer["name"] for layer in bench.load_suite(filter="depthwise")] == [
        "depthwise 256ch 28x28 k3", "depthwise 144ch 56x56 k3 s2 N8", "backward depthwise 144ch 56x56 k3 N8"]


def test_missing_suite_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="bench: suite file .* not found"):
        bench.load_suite(tmp_path / "nope.toml")


def test_quick_bench_subprocess_writes_table_and_json(tmp_path):
    out = tmp_path / "out.json"
    result = subprocess.run([sys.executable, "-m", "convwise", "bench", "--quick", "--repeat", "1", "--threads", "1",
                             "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == COLUMNS
    quick = bench.load_suite(quick=True)
    body = [line for line in lines[2:] if line.startswith("|")]
    assert [line.strip("|").split("|")[0].strip() for line in body] == [layer["name"] for layer in quick]
    assert all(len(line.strip("|").split("|")) == len(COLUMNS) for line in body)
    assert any(line.startswith("geometric mean torch/convwise: forward") for line in lines)
    report = json.loads(out.read_text())
    assert report["threads"] == 1 and report["repeat"] == 1 and report["sgemm_gflops"] > 0
    assert [row["name"] for row in report["layers"]] == [layer["name"] for layer in quick]
    for row in report["layers"]:
        assert row["direction"] in ("forward", "backward")
        if row["convwise_ms"] is not None:
            assert row["convwise_ms"] > 0 and row["gflops"] > 0
            if row["torch_ms"] is not None:
                assert row["ratio"] == pytest.approx(row["torch_ms"] / row["convwise_ms"])
        else:
            assert row["note"]
    assert set(report["geomean_ratio"]) == {"forward", "backward"}


def test_bad_arguments_exit_2_without_traceback(tmp_path):
    for argv in (["--repeat", "0"], ["--filter", "no-such-layer", "--quick"]):
        result = subprocess.run([sys.executable, "-m", "convwise", "bench", *argv, "--no-torch", "--no-progress"],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_onnxruntime_peer_computes_each_quick_layer_like_torch():
    pytest.importorskip("onnxruntime")
    import torch

    from convwise.bench_onnxruntime import session_callable

    rng = np.random.default_rng(0)
    checked = 0
    for layer in bench.load_suite(quick=True):
        x = rng.standard_normal(layer["input"], dtype=np.float32)
        w = rng.standard_normal(layer["weight"], dtype=np.float32) if "weight" in layer else None
        run = session_callable(layer, x, w, threads=1)
        if layer["op"].endswith("_backward"):
            assert run is None
            continue
        args = [torch.from_numpy(x)] + ([torch.from_numpy(w)] if w is not None else [])
        expected = getattr(torch.nn.functional, layer["op"])(*args, **layer["kwargs"]).numpy()
        np.testing.assert_allclose(run()[0], expected, rtol=1e-4, atol=1e-4)
        checked += 1
    assert checked == len(bench.load_suite(quick=True)) - 1


def test_run_suite_against_onnxruntime_reports_peer_and_compiled_method():
    pytest.importorskip("onnxruntime")
    layers = bench.load_suite(quick=True, filter="depthwise") + bench.load_suite(quick=True, filter="max_pool")
    report = bench.run_suite(layers, repeat=1, threads=1, progress=False, sgemm_size=64, against=("onnxruntime",))
    assert report["against"] == ["onnxruntime"]
    for row in report["layers"]:
        peer = row["peers"]["onnxruntime"]
        assert peer["ms"] > 0 and peer["ratio"] == pytest.approx(peer["ms"] / row["convwise_ms"])
    # the kernels were loaded first (wait_for_kernels), so pooling ran compiled; the conv shows auto's pick
    assert [row["method"] for row in report["layers"]][1] == "compiled"
    assert report["layers"][0]["method"] in algorithms.available("forward")
    assert report["geomean_ratio_peers"]["onnxruntime"] > 0
    assert "onnxruntime/convwise" in bench.format_table(report)
    with pytest.raises(ValueError, match="against must name peers"):
        bench.run_suite(layers, against=("tensorflow",))
