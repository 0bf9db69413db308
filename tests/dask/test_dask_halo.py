"""The pure-int tiling plan of convwise.dask._halo, checked by its defining properties.

A window step must hold every input cell that ``F.pad`` (the oracle for the padding
modes) copies into the window span, and padding-then-cropping the held cells must give
exactly the span of the globally padded array. A transposed step must hold every input
cell whose taps land in its outputs. A plan must partition the axis into blocks that
dask's overlap can serve (each block at least its halo) and whose tiles read only cells
the block holds.
"""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from convwise import functional as F
from convwise.dask._halo import LayerGeometry, output_sizes, plan_axis, step
from convwise.dask._ops import window_input

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True)


@st.composite
def window_cases(draw):
    size = draw(st.integers(1, 12))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    k, d, s = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    limit = {"reflect": size - 1, "circular": size}.get(mode, 5)
    lo, hi = draw(st.integers(0, min(limit, 5))), draw(st.integers(0, min(limit, 5)))
    k_eff = d * (k - 1) + 1
    padded = size + lo + hi
    if k_eff > padded:
        k, d = 1, 1
        k_eff = 1
    outputs = (padded - k_eff) // s + 1
    a = draw(st.one_of(st.just(0), st.just(outputs - 1), st.integers(0, outputs - 1)))  # edges matter most
    b = draw(st.one_of(st.just(a + 1), st.integers(a + 1, outputs)))
    return size, mode, k, d, s, lo, hi, a, b


@SETTINGS
@given(window_cases())
@example((6, "reflect", 1, 1, 1, 3, 0, 0, 1))   # one output wholly in a wide reflect padding
@example((6, "replicate", 1, 1, 1, 0, 4, 9, 10))
def test_window_step_holds_what_padding_copies_and_reproduces_the_span(case):
    size, mode, k, d, s, lo, hi, a, b = case
    layer = LayerGeometry("conv", (k,), (s,), ((lo, hi),), (d,), padding_mode=mode)
    st_ = step(layer, 0, a, b, size)
    cells = np.arange(size, dtype=np.float64)[None, None] + 100.0
    torch_mode = "constant" if mode == "zeros" else mode
    padded = F.pad(cells, (lo, hi), mode=torch_mode)[0, 0]
    first, last = a * s - lo, (b - 1) * s - lo + layer.effective_kernel[0]
    span = padded[first + lo:last + lo]
    read = {int(v) - 100 for v in span if v >= 100}
    assert all(st_.start <= i < st_.stop for i in read), (st_, read)
    held = cells[..., st_.start:st_.stop]
    np.testing.assert_array_equal(window_input(held, [st_], mode)[0, 0], span)


@SETTINGS
@given(st.integers(1, 10), st.integers(1, 4), st.integers(1, 3), st.integers(1, 4), st.integers(0, 3),
       st.data())
def test_transpose_step_holds_every_contributing_input(size, k, d, s, lo, data):
    layer = LayerGeometry("transpose", (k,), (s,), ((lo, lo),), (d,), (0,))
    out = (size - 1) * s - 2 * lo + d * (k - 1) + 1
    if out < 1:
        return
    a = data.draw(st.integers(0, out - 1))
    b = data.draw(st.integers(a + 1, out))
    st_ = step(layer, 0, a, b, size)
    for i in range(size):
        for t in range(k):
            if a <= i * s - lo + t * d < b:
                assert st_.start <= i < st_.stop
    assert st_.offset == a - (st_.start * s - lo) and st_.length == b - a


@SETTINGS
@given(st.integers(5, 60), st.integers(1, 9), st.lists(st.tuples(st.integers(1, 5), st.integers(1, 3),
                                                                  st.integers(1, 3), st.integers(0, 2),
                                                                  st.sampled_from(["zeros", "reflect"])),
                                                        min_size=1, max_size=4), st.booleans())
def test_plan_blocks_serve_their_tiles(size, chunk, specs, by_input):
    layers = [LayerGeometry("conv", (k,), (s,), ((min(p, k // 2),) * 2,), (d,), padding_mode=m)
              for k, s, d, p, m in specs]
    try:
        sizes = output_sizes(layers, (size,))
    except ValueError:
        return
    if by_input:  # tiles follow the input's chunks (the default of the ops)
        plan = plan_axis(layers, 0, sizes, input_chunks=(chunk,) * (size // chunk) + ((size % chunk,) if size % chunk
                                                                                        else ()))
    else:
        plan = plan_axis(layers, 0, sizes, chunk)
    assert sum(plan.cores) == size and sum(plan.outputs) == sizes[-1][0]
    assert all(core >= max(plan.halo, 1) for core in plan.cores)
    for t, tile in enumerate(plan.steps):
        block_stop = min(plan.starts[t] + plan.cores[t] + plan.halo, size)
        assert plan.starts[t] <= tile[0].start <= tile[0].stop <= block_stop
        made = [(st_.length - g.effective_kernel[0]) // g.stride[0] + 1 if st_.length else 0
                for st_, g in zip(tile, layers)]
        assert made[-1] == plan.outputs[t]
        for count, current in zip(made, tile[1:]):
            assert count == current.stop - current.start  # each layer makes exactly what the next reads
