"""Check select.py's cost model against measurements on this machine.

For every convolution layer of the suite (forward; transposed layers as "transpose")
this times every eligible algorithm (interleaved, median of --repeat runs after a
warm-up) and prints the measured times, the cost model's predictions and whether the
predicted choice is the measured-fastest (or within 10% of it). Use the output to refit
the constants at the top of src/convwise/algorithms/select.py on new hardware.

    python benchmarks/calibrate.py [--repeat 5] [--threads N] [--filter SUBSTR]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import convwise as cw
from convwise import arithmetic
from convwise.algorithms import FORWARD, TRANSPOSE, select
from convwise.bench import load_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--filter", default=None)
    args = parser.parse_args()
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
                kind, table = "transpose", TRANSPOSE
                geometry = arithmetic.conv_transpose_geometry(x_shape[2:], w_shape[2:], kw.get("stride", 1),
                                                              kw.get("padding", 0), kw.get("output_padding", 0))
            else:
                kind, table = "forward", FORWARD
                geometry = arithmetic.conv_geometry(x_shape[2:], w_shape[2:], kw.get("stride", 1),
                                                    kw.get("padding", 0), kw.get("dilation", 1))
            x = rng.standard_normal(x_shape, dtype=np.float32)
            w = rng.standard_normal(w_shape, dtype=np.float32)
            names = [n for n in select.candidates(kind, x_shape, w_shape, geometry, groups, np.float32)]
            if "direct" not in names and np.prod(x_shape) * np.prod(w_shape[1:]) < 3e7:
                names.append("direct")
            samples = {n: [] for n in names}
            for n in names:
                table[n](x, w, geometry, groups)
            for _ in range(args.repeat):
                for n in names:
                    start = time.perf_counter()
                    table[n](x, w, geometry, groups)
                    samples[n].append(time.perf_counter() - start)
            measured = {n: statistics.median(s) for n, s in samples.items()}
            predicted = {n: select.predict(n, kind, x_shape, w_shape, geometry, groups, np.float32) for n in names}
            choice = select.choose_method(kind, x_shape, w_shape, geometry, groups, np.float32)
            best = min(measured, key=measured.get)
            ok = measured[choice] <= 1.1 * measured[best]
            hits += ok
            total += 1
            cells = "  ".join(f"{n} {measured[n] * 1e3:.2f}/{predicted[n] * 1e3:.2f}" for n in names)
            print(f"{'ok ' if ok else 'MISS'} {layer['name']:<34} chose {choice:<9} best {best:<9} | ms measured/predicted: {cells}",
                  flush=True)
    print(f"predicted choice within 10% of the measured-fastest: {hits}/{total}")


if __name__ == "__main__":
    main()
