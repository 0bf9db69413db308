"""convwise.dask scale-out: throughput on 1 and 2 worker processes, and a larger-than-memory ``convwise apply``.

Not a test: it prints figures (and writes them as JSON with ``--json PATH``).

1. Throughput: ``conv2d`` (8 -> 16 channels, 3x3, padding 1) over a chunked random array on
   a ``LocalCluster`` of 1, then 2 worker processes (one thread each, BLAS pinned to one
   thread), in megapixels (input cells per channel) per second, best of ``--repeat``.
2. Larger than memory: ``convwise apply`` (the real command, as a subprocess, through
   ``--scheduler``) convolves a ``.npy`` at least 4x the worker's memory limit into Zarr on a
   cluster of 2 workers; the peak resident memory of each worker process is sampled every
   50 ms, and the output is spot-checked against the in-memory op on a few tiles.

    python benchmarks/dask_scaleout.py                  # ~2 GiB input, 512 MiB workers
    python benchmarks/dask_scaleout.py --big-gib 0.5 --memory-limit 128MiB   # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import dask.array as da
import numpy as np
import psutil
from dask.utils import format_bytes, parse_bytes
from distributed import Client, LocalCluster
from distributed import wait as distributed_wait

import convwise as cw
import convwise.dask as cwd

ROOT = Path(__file__).resolve().parents[1]
ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _cluster(workers: int, memory_limit: str) -> LocalCluster:
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        memory_limit=memory_limit, env=ENV)


def throughput(workers: int, shape, chunk: int, repeat: int) -> dict:
    x = da.random.default_rng(0).standard_normal(shape, chunks=(1, shape[1], chunk, chunk), dtype=np.float32)
    w = np.random.default_rng(0).standard_normal((16, shape[1], 3, 3)).astype(np.float32)
    with _cluster(workers, "2GiB") as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        x = client.persist(x)  # made on the workers: the timing covers the convolution only
        distributed_wait(x)
        times, cpu = [], []
        for _ in range(repeat):
            before = sum(client.run(_cpu_seconds).values())
            start = time.perf_counter()
            cwd.compute(cwd.conv2d(x, w, padding=1).sum(), progress=False)
            times.append(time.perf_counter() - start)
            cpu.append(sum(client.run(_cpu_seconds).values()) - before)
    pixels = shape[0] * shape[2] * shape[3]
    best = times.index(min(times))
    return {"workers": workers, "shape": list(shape), "chunk": chunk, "best_s": times[best],
            "megapixels_per_s": pixels / times[best] / 1e6, "worker_cpu_s": cpu[best],
            "megapixels_per_cpu_s": pixels / cpu[best] / 1e6, "load_average": os.getloadavg()[0]}


def _cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


class PeakSampler(threading.Thread):
    """Samples the resident memory of this process's worker children until stopped; keeps each one's peak.

    Workers restarted by their nanny appear under new process ids and are sampled too.
    """

    def __init__(self, exclude=()):
        super().__init__(daemon=True)
        self.exclude = set(exclude)
        self.peak: dict[int, int] = {}
        self.stopped = threading.Event()

    def run(self):
        me = psutil.Process()
        while not self.stopped.is_set():
            for process in me.children(recursive=True):
                try:
                    if process.pid in self.exclude or "convwise" in " ".join(process.cmdline()):
                        continue
                    self.peak[process.pid] = max(self.peak.get(process.pid, 0), process.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.05)


def larger_than_memory(big_gib: float, memory_limit: str, chunk: int, workdir: Path) -> dict:
    channels = 4
    side = int((big_gib * 2**30 / (channels * 4)) ** 0.5)
    shape = (1, channels, side, side)
    path = workdir / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
    rng = np.random.default_rng(1)
    for row in range(0, side, 1024):  # written in slabs: this process never holds the array either
        big[:, :, row:row + 1024] = rng.standard_normal((1, channels, min(1024, side - row), side), np.float32)
    big.flush()
    del big
    weight = np.random.default_rng(2).standard_normal((channels, channels, 3, 3)).astype(np.float32)
    np.save(workdir / "w.npy", weight)
    limit = parse_bytes(memory_limit)
    with _cluster(2, memory_limit) as cluster, Client(cluster) as client:
        pids = set(client.run(os.getpid).values())
        sampler = PeakSampler()
        sampler.start()
        env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "convwise", "apply", str(path), "--weight",
                                 str(workdir / "w.npy"), "--padding", "1", "--output", str(workdir / "out.zarr"),
                                 "--chunk", str(chunk), "--scheduler", cluster.scheduler_address],
                                env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        sampler.stopped.set()
        sampler.join()
        restarted = len(pids - set(client.run(os.getpid).values()))
        workers = {pid: rss for pid, rss in sampler.peak.items() if rss > 50 * 2**20}  # not the tiny helpers
    if result.returncode:
        raise SystemExit(f"convwise apply failed:\n{result.stderr}")
    import zarr

    out = zarr.open_array(str(workdir / "out.zarr"), mode="r")
    mapped = np.load(path, mmap_mode="r")
    errors = []
    for top, left in ((0, 0), (side // 2 - 37, side // 3 + 11), (side - 64, side - 64)):
        tile = np.asarray(mapped[:, :, max(top - 1, 0):top + 65, max(left - 1, 0):left + 65])
        pad_top, pad_left = int(top == 0), int(left == 0)
        tile = np.pad(tile, ((0, 0), (0, 0), (pad_top, int(top + 65 > side)), (pad_left, int(left + 65 > side))))
        ref = cw.conv2d(tile, weight)[:, :, :64, :64]
        errors.append(float(np.abs(out[:, :, top:top + 64, left:left + 64] - ref).max() / np.abs(ref).max()))
    input_bytes = int(np.prod(shape)) * 4
    return {"input_shape": list(shape), "input_bytes": input_bytes, "input": format_bytes(input_bytes),
            "worker_memory_limit": memory_limit, "ratio_input_to_limit": input_bytes / limit,
            "chunk": chunk, "seconds": seconds, "megapixels_per_s": side * side / seconds / 1e6,
            "peak_worker_rss": {str(pid): format_bytes(rss) for pid, rss in workers.items()},
            "peak_worker_rss_over_limit": max(workers.values()) / limit, "worker_restarts": restarted,
            "spot_check_rel_error": max(errors)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="4,8,1536,1536", help="throughput input N,C,H,W")
    parser.add_argument("--chunk", type=int, default=512, help="spatial chunk for the throughput runs")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-gib", type=float, default=2.1, help="size of the larger-than-memory input")
    parser.add_argument("--memory-limit", default="512MiB", help="memory limit of each worker")
    parser.add_argument("--big-chunk", type=int, default=512)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.shape.split(","))
    figures = {"throughput": [throughput(n, shape, args.chunk, args.repeat) for n in (1, 2)],
               "cpu_count": os.cpu_count()}
    for row in figures["throughput"]:
        print(f"{row['workers']} worker(s): {row['megapixels_per_s']:.2f} Mpx/s (best {row['best_s']:.2f} s, "
              f"{row['worker_cpu_s']:.2f} worker CPU s = {row['megapixels_per_cpu_s']:.2f} Mpx per CPU s; "
              f"conv2d 8->16 3x3 on {row['shape']}, chunks {row['chunk']}; load average {row['load_average']:.1f} "
              f"on {os.cpu_count()} cores)", flush=True)
    if not args.skip_big:
        with tempfile.TemporaryDirectory(prefix="convwise-scaleout-") as tmp:
            big = larger_than_memory(args.big_gib, args.memory_limit, args.big_chunk, Path(tmp))
        figures["larger_than_memory"] = big
        print(f"convwise apply on {big['input']} ({big['ratio_input_to_limit']:.1f}x the {args.memory_limit} worker "
              f"limit), 2 workers: {big['seconds']:.1f} s, peak worker RSS {big['peak_worker_rss']} "
              f"({big['peak_worker_rss_over_limit']:.2f}x the limit), {big['worker_restarts']} worker restarts, "
              f"spot-check rel. error "
              f"{big['spot_check_rel_error']:.1e}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
