"""Check the algorithms' cost models against measurements on this machine.

For every convolution layer of the suite (forward and weight gradient; transposed layers
as "transpose") this times every eligible algorithm (interleaved, median of --repeat runs
after a warm-up) and prints the measured times, each record's predicted seconds and
whether the predicted choice is the measured-fastest (or within 10% of it). Use the
output to refit the constants in benchmarks/calibration.json (a link to the copy the
package ships, src/convwise/algorithms/calibration.json) on new hardware.

    python benchmarks/calibrate.py [--repeat 5] [--threads N] [--filter SUBSTR] [--kinds forward,weight_grad]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import convwise as cw
from convwise import arithmetic
from convwise.algorithms import RECORDS, make_problem, select
from convwise.bench import load_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--filter", default=None)
    parser.add_argument("--kinds", default="forward,transpose", help="comma-separated: forward, transpose, weight_grad")
    args = parser.parse_args()
    kinds = set(args.kinds.split(","))
    rng = np.random.default_rng(0)
    hits = total = 0
    with cw.config(threads=args.threads or cw.get_config().threads):
        for layer in load_suite(filter=args.filter):
            op, kw = layer["op"], layer["kwargs"]
            if "weight" not in layer or op.endswith("_backward"):
                continue
            x_shape, w_shape = tuple(layer["input"]), tuple(layer["weight"])
            groups = kw.get("groups", 1)
            if op.startswith("conv_transpose"):
                geometry = arithmetic.conv_transpose_geometry(x_shape[2:], w_shape[2:], kw.get("stride", 1),
                                                              kw.get("padding", 0), kw.get("output_padding", 0))
                problems = [("transpose", geometry)]
            else:
                geometry = arithmetic.conv_geometry(x_shape[2:], w_shape[2:], kw.get("stride", 1),
                                                    kw.get("padding", 0), kw.get("dilation", 1))
                problems = [("forward", geometry), ("weight_grad", geometry)]
            for kind, geometry in problems:
                if kind not in kinds:
                    continue
                problem = make_problem(kind, x_shape, w_shape, geometry, groups, np.float32)
                ok = _layer(problem, layer["name"], rng, args.repeat)
                hits += ok
                total += 1
    print(f"predicted choice within 10% of the measured-fastest: {hits}/{total}")


def _layer(problem, name: str, rng, repeat: int) -> bool:
    """Time and predict every eligible record on one problem; print a line; whether the prediction hit."""
    x = rng.standard_normal(problem.x_shape, dtype=np.float32)
    if problem.kind == "weight_grad":
        second = rng.standard_normal((problem.x_shape[0], problem.w_shape[0], *problem.geometry.output_size),
                                     dtype=np.float32)
    else:
        second = rng.standard_normal(problem.w_shape, dtype=np.float32)
    predicted = select.predict(problem)
    names = [n for n, seconds in predicted.items() if seconds < float("inf")]
    if "direct" in names and np.prod(problem.x_shape) * np.prod(problem.w_shape[1:]) >= 3e7:
        names.remove("direct")                                     # minutes on the large layers
    samples: dict[str, list[float]] = {n: [] for n in names}
    for n in names:
        RECORDS[n].run(problem.kind, x, second, problem.geometry, problem.groups)
    for _ in range(repeat):
        for n in names:
            start = time.perf_counter()
            RECORDS[n].run(problem.kind, x, second, problem.geometry, problem.groups)
            samples[n].append(time.perf_counter() - start)
    measured = {n: statistics.median(s) for n, s in samples.items()}
    choice = select.choose(problem).name
    best = min(measured, key=measured.__getitem__)
    ok = choice in measured and measured[choice] <= 1.1 * measured[best]
    cells = "  ".join(f"{n} {measured[n] * 1e3:.2f}/{predicted[n] * 1e3:.2f}" for n in names)
    print(f"{'ok ' if ok else 'MISS'} {name:<34} {problem.kind:<11} chose {choice:<9} best {best:<9} | "
          f"ms measured/predicted: {cells}", flush=True)
    return ok


if __name__ == "__main__":
    main()
