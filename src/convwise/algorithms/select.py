"""Choosing an algorithm per problem: ``method="auto"`` (predict) or ``"measure"``.

Like :func:`scipy.signal.choose_conv_method`, the choice is made in two steps:

1. **Eligibility guards, accuracy first.** Each algorithm says whether it can run the
   problem within its accuracy bound (:func:`why_ineligible`): ``direct``, ``gemm``,
   ``depthwise`` and ``pointwise`` are exact (they only reorder float sums); fast
   algorithms (``winograd``, ``fft``, any other registered module with an ``eligible``
   function) are asked through their module's ``eligible(x_shape, w_shape, geometry,
   groups, dtype)`` whether their float32 relative error stays <= 1e-4 and float64
   <= 1e-10 (else float64 keeps to the exact methods). Hard guards are applied on top of
   what a module says: Winograd never runs strided or dilated convolutions. ``gemm``
   needs one output row of columns within the workspace budget.
2. **A cost model** (:func:`predict`) estimates the seconds each eligible algorithm
   takes and the cheapest wins. Exact algorithms are modelled here; a fast module's own
   ``cost(x_shape, w_shape, geometry, groups)`` (GEMM-flop equivalents) is converted to
   seconds with the same GEMM rate.

``measure=True`` (or ``method="measure"``, or :func:`benchmark_mode`) instead times every
eligible candidate once on random data of the problem's shapes and caches the winner
per (kind, shapes, geometry, groups, dtype, threads), as cuDNN's benchmark mode does.

Calibration
-----------
Constants below were fitted on the 2-core development VM (OpenBLAS; sgemm ~124 GFLOP/s at
one thread, ~190 at two, on 2048^2 float32) by timing each eligible method per suite layer
(CPU time and wall-clock medians, mostly one thread, while other jobs shared the cores).
``python benchmarks/calibrate.py --repeat 5 --threads 1`` after the scratch buffer, the
larger tiles and the atrous method (November 2026): the predicted choice is the
measured-fastest, or within 10% of it, on 16 of the 17 forward convolution layers of the
suite, and 15 of 17 with ``--threads 2``. The misses: the 256-channel 14x14 3x3 layer,
where gemm measured 2.3 ms (2.0 at two threads) and the model prefers Winograd (3.2 / 2.8
ms measured); at two threads the d4 dilated layer, atrous 4.0 ms against gemm 3.1 (at one
thread atrous wins, 4.2 against gemm 4.7 and shift 4.9). Hits:
Winograd on the stride-1 64-channel 3x3 layers (2.5 ms vs shift 3.7, gemm 4.1 at N=1; 19.1
vs 26.9 vs 35.9 ms at N=8), gemm on the strided and transposed layers, pointwise on 1x1
(gemm and shift are not candidates there: they copy the input and run the same GEMM),
shift on grouped/3-D, atrous (Winograd on the phases) on the dilated 3x3, FFT on kernels 13 and 31 (3-30x faster than gemm there),
depthwise on depthwise layers (gemm and shift within 20%). For weight gradients, im2col
gemm's single large GEMM beats shift's per-tap products at two threads (N=8 64@56: 18.8 vs
21.9 ms) and ties at one (28.2 vs 26.2). A grid search over the GEMM rate and the per-method
scales on these measurements found no setting better by more than one layer.
Predictions are rough in absolute terms (0.2-2x of measured); only the ranking matters.
Re-run the script on new hardware; ``measure`` mode needs no calibration at all.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .. import algorithms
from .._config import get_config
from . import FORWARD, TRANSPOSE, WEIGHT_GRAD

__all__ = ["choose_method", "resolve", "why_ineligible", "candidates", "predict", "benchmark_mode",
           "clear_cache", "gemm_rate", "EXACT"]

_TABLES = {"forward": FORWARD, "transpose": TRANSPOSE, "weight_grad": WEIGHT_GRAD}

#: Methods whose only error is float summation order (accurate for any dtype).
EXACT = frozenset({"direct", "gemm", "depthwise", "pointwise", "shift", "compiled"})

# ----------------------------------------------------------------- cost-model constants
_GEMM_FLOPS_PER_THREAD = 55e9     # sustained sgemm per thread on large, well-shaped products
_GEMM_HALF = (4, 16, 48)           # M, K, N at which BLAS reaches half its rate (small-matrix penalty)
_CALL_SECONDS = 4e-6              # fixed cost of one NumPy call (ufunc / matmul dispatch)
_COPY_BYTES_PER_SECOND = 6e9      # strided gather into a column buffer (one thread)
_PASS_BYTES_PER_SECOND = 8e9      # element-wise multiply/add passes, per thread, in cache
_EINSUM_FLOPS = 0.6e9             # numpy einsum sum-of-products (direct), one thread
_FLOAT64_SLOWDOWN = 2.0           # GEMM and bandwidth both halve for double precision
_DEPTHWISE_ELEMENTS_PER_SECOND = 6e9  # multiply/add by a per-row weight, in cache, one thread (float32)
_DEPTHWISE_FLOAT64 = 1.6          # float64 slowdown of those passes
_DEPTHWISE_ROW_SECONDS = 4e-8     # per-row cost of each broadcast pass (NumPy outer-loop overhead)
_DEPTHWISE_FIXED_SECONDS = 1e-4  # planning and Python set-up of one forward call
_DEPTHWISE_CALL_SECONDS = 1.5e-6  # per ufunc call on a block (smaller than a general NumPy call)
_STRIDED_GATHER_BYTES_PER_SECOND = 1.5e9   # strided split of the input into its stride phases
#: measured / modelled time of gemm and shift on grouped layers with few channels per group
#: (C_in/g * C_out/g <= 2, <= 16): their tiny products run at copy speed, not the penalised GEMM rate
_FEW_CHANNELS_SCALE = ((2, 0.6), (16, 0.8))
#: measured seconds / (module cost in GEMM-flop equivalents / GEMM rate), and a fixed overhead
_SHIFT_LONG_K = 0.6               # shift's weight-gradient products, per thread (see _cost_shift)
_SHIFT_SCALE = 0.75               # measured / modelled time of shift (contiguous tap copies beat the model)
_WINOGRAD_SCALE = 1.0             # measured / modelled time of winograd.forward (0.65-1.25 after its transforms became GEMMs)
_EXTERNAL = {"fft": (2.0, 3e-4)}   # re-fitted for the rewritten fft.py cost (k13, k31 conv1d, 3x3 layers: 1.4-2.4x)


def _threads() -> int:
    return get_config().threads


def gemm_rate(itemsize: int) -> float:
    """The model's GEMM flops per second with the configured threads: a module's ``cost``
    (flop-equivalents) divided by this is its predicted seconds."""
    return _GEMM_FLOPS_PER_THREAD * _threads() / (_FLOAT64_SLOWDOWN if itemsize == 8 else 1.0)


def _gemm_seconds(m: int, k: int, n: int, count: int, itemsize: int) -> float:
    """Time of ``count`` GEMMs ``(m x k) @ (k x n)`` with the small-matrix penalty."""
    efficiency = 1.0
    for size, half in zip((m, k, n), _GEMM_HALF):
        efficiency *= size / (size + half)
    if efficiency == 0.0:                 # an empty product (zero-size batch or output)
        return count * _CALL_SECONDS
    rate = _GEMM_FLOPS_PER_THREAD * _threads() * efficiency / (_FLOAT64_SLOWDOWN if itemsize == 8 else 1.0)
    return count * (2.0 * m * k * n / rate + _CALL_SECONDS)


def _few_channels(x_shape, w_shape, geometry, groups, kind) -> float:
    """Scale of the gemm/shift models for grouped layers with few channels per group
    (halved discount when strided: the strided im2col gather then dominates)."""
    if groups == 1:
        return 1.0
    per_group = (x_shape[1] // groups) * (w_shape[1] if kind == "transpose" else w_shape[0] // groups)
    strided = any(s > 1 for s in geometry.stride)
    for limit, scale in _FEW_CHANNELS_SCALE:
        if per_group <= limit:
            return min(1.0, 2.0 * scale) if strided else scale
    return 1.0


def _problem(kind, x_shape, w_shape, geometry, groups):
    """(batch, C_in, C_out, kernel taps, output positions) of the equivalent forward conv."""
    n, c_in = x_shape[0], x_shape[1]
    if kind == "transpose":               # the adjoint: same work as the conv it transposes
        c_out = w_shape[1] * groups
        return n, c_out, c_in, math.prod(geometry.kernel_size), math.prod(geometry.input_size)
    return n, c_in, w_shape[0], math.prod(geometry.kernel_size), math.prod(geometry.output_size)


def _cost_gemm(kind, x_shape, w_shape, geometry, groups, itemsize):
    n, c_in, c_out, taps, positions = _problem(kind, x_shape, w_shape, geometry, groups)
    cg, og = c_in // groups, c_out // groups
    if kind == "transpose" and any(s > 1 for s in geometry.stride):      # GEMM + per-phase gather of columns
        inputs = math.prod(geometry.input_size)
        scatter = n * c_out * taps * inputs * itemsize / _PASS_BYTES_PER_SECOND * 2 + n * taps * _CALL_SECONDS
        return _gemm_seconds(og * taps, x_shape[1] // groups, inputs, n * groups, itemsize) + scatter
    from . import gemm

    columns = n * c_in * taps * positions * itemsize
    tile = min(positions, max(1, gemm.TILE_TARGET_BYTES // max(1, c_in * taps * itemsize)))
    tiles = n * max(1, -(-positions // tile))
    copy = columns / (_COPY_BYTES_PER_SECOND * (1.0 if itemsize == 4 else 1.3)) + tiles * _CALL_SECONDS * 4
    if kind == "weight_grad":             # dy (og x tile) @ columns^T (tile x cg*K): the long side is N
        return copy + _gemm_seconds(og, tile, cg * taps, tiles * groups, itemsize)
    return copy + _gemm_seconds(og, cg * taps, tile, tiles * groups, itemsize)


def _cost_shift(kind, x_shape, w_shape, geometry, groups, itemsize):
    """Shift-GEMM: pad rows, copy K contiguous tap slices (forward), one GEMM per tile, copy out.

    Runs on a grid ``o_0 x prod(o_j + (k_j - 1) d_j)``; the wrap columns cost GEMM work.
    Tiles are split across ``threads`` workers with single-threaded BLAS, which also
    parallelises the copies (``shift.PARALLEL_MIN_FLOPS``).
    """
    from . import shift

    n, c_in, c_out, taps, _ = _problem(kind, x_shape, w_shape, geometry, groups)
    cg, og = c_in // groups, c_out // groups
    out = geometry.output_size
    if n == 0 or 0 in out:
        return _CALL_SECONDS
    grid = out[0] * math.prod(o + (k - 1) * d for o, k, d in
                              zip(out[1:], geometry.kernel_size[1:], geometry.dilation[1:]))
    per_row = max(1, grid // max(out[0], 1))
    row_bytes = (c_in * (taps + 1) + c_out) * per_row * itemsize
    tile = min(grid * n, max(per_row, (shift.TILE_TARGET_BYTES // max(row_bytes, 1)) * per_row))
    tiles = max(1, -(-grid * n // tile))
    tile = -(-grid * n // tiles)
    threads = _threads()
    parallel = threads > 1 and tiles > 1 and 2.0 * c_out * cg * taps * tile >= shift.PARALLEL_MIN_FLOPS
    workers = min(threads, tiles) if parallel else 1
    moved = n * grid * (2 * c_in + c_out) * itemsize                      # pad fill + result copy
    if kind == "weight_grad":
        # per tap: x_tap (cg x len) @ dy^T (len x og), plus transposing dy once per tile. These
        # long-K products ran ~1.7x above the modelled rate on one thread and did not speed
        # up on two (N=8 64@56: 26.2 ms at 1 thread, 21.9-24.4 at 2; gemm 28.2 and 18.8)
        long_k = _SHIFT_LONG_K if min(tile, grid) >= 1024 else 1.0      # 256@14 (K = 224): no such gain
        gemm = long_k * _threads() * _gemm_seconds(
            og, cg, min(tile, grid), n * -(-grid // min(tile, grid)) * taps * groups, itemsize)
        moved += n * grid * c_out * itemsize
    else:
        moved += n * grid * c_in * taps * itemsize * (1.0 if cg > 1 else 4.0)  # contiguous tap copies
        gemm = _gemm_seconds(og, cg * taps, tile, tiles * groups, itemsize)
    copy = moved / (_PASS_BYTES_PER_SECOND * (1.0 if itemsize == 4 else 1.3))
    if workers > 1:                                       # GEMM rate modelled per thread; workers split it
        return _SHIFT_SCALE * (copy + gemm * threads) / workers
    return _SHIFT_SCALE * (copy + gemm)


def _cost_pointwise(kind, x_shape, w_shape, geometry, groups, itemsize):
    n, c_in, c_out, _, positions = _problem(kind, x_shape, w_shape, geometry, groups)
    cg, og = c_in // groups, c_out // groups
    strided = any(s > 1 for s in geometry.stride) or any(lo or hi for lo, hi in geometry.padding)
    copy = n * c_in * positions * itemsize / _COPY_BYTES_PER_SECOND if strided else 0.0
    return copy + _gemm_seconds(og, cg, positions, n * groups, itemsize)


def _cost_depthwise(kind, x_shape, w_shape, geometry, groups, itemsize):
    n, c_in, c_out, taps, positions = _problem(kind, x_shape, w_shape, geometry, groups)
    cg = c_in // groups
    if kind == "weight_grad":
        elements = n * c_out * positions * taps * cg
        return elements * 2 / (_EINSUM_FLOPS * 4 * min(_threads(), taps)) + taps * _CALL_SECONDS
    if kind == "forward":
        from . import depthwise

        lengths, wide, _, slack = depthwise._flat_plan(geometry)
        length = math.prod(wide)
        out_elements = n * c_out * length
        phase_elements = n * c_in * (math.prod(lengths) + slack)
        per_group = depthwise._scratch_per_group(cg, c_out // groups, math.prod(geometry.stride),
                                                 math.prod(lengths) + slack, length, itemsize)
        limit = min(depthwise.CHUNK_BYTES, get_config().workspace_bytes)
        blocks = n if groups * per_group <= limit else n * -(-groups // max(1, limit // max(per_group, 1)))
    else:                                  # transposed: about the output, chunked like the forward
        out_elements = n * c_out * positions
        phase_elements = n * c_in * math.prod(getattr(geometry, "output_size", ())) * 2
        blocks = max(1, out_elements * itemsize // (256 << 10))
    passes = 2 * taps * cg - 1
    rate = _DEPTHWISE_ELEMENTS_PER_SECOND / (1.0 if itemsize == 4 else _DEPTHWISE_FLOAT64)
    rows = n * c_out * passes                                                # one inner loop per row and pass
    gather = (phase_elements * itemsize / _STRIDED_GATHER_BYTES_PER_SECOND if any(s > 1 for s in geometry.stride)
              and kind == "forward" else phase_elements * itemsize / _COPY_BYTES_PER_SECOND)
    return (_DEPTHWISE_FIXED_SECONDS + passes * out_elements / rate + rows * _DEPTHWISE_ROW_SECONDS + gather
            + out_elements * itemsize / _COPY_BYTES_PER_SECOND
            + blocks * (passes + math.prod(geometry.stride) + 1) * _DEPTHWISE_CALL_SECONDS)


def _cost_direct(kind, x_shape, w_shape, geometry, groups, itemsize):
    n, c_in, c_out, taps, positions = _problem(kind, x_shape, w_shape, geometry, groups)
    return 2.0 * n * c_out * (c_in // groups) * taps * positions / _EINSUM_FLOPS + taps * _CALL_SECONDS * 10


def _cost_winograd(kind, x_shape, w_shape, geometry, groups, itemsize):
    """F(m x m, 3 x 3): a*a batched GEMMs (C_out/g x C_in/g) @ (C_in/g x tiles) plus transform passes."""
    module = _module("winograd")
    tile = getattr(module, "tile_size", None)
    m = tile(x_shape, w_shape, geometry, groups, np.float32 if itemsize == 4 else np.float64) if tile else 2
    a = m + 2
    n, c_in, c_out, _, _ = _problem(kind, x_shape, w_shape, geometry, groups)
    tiles = n * math.prod(-(-o // m) for o in geometry.output_size)
    # the transform passes and copies run on one thread (measured: Winograd gains little from a second)
    passes = (c_in * 2 * a + c_out * 2 * m) * a * tiles * itemsize / _PASS_BYTES_PER_SECOND
    return _WINOGRAD_SCALE * (_gemm_seconds(c_out // groups, c_in // groups, tiles, a * a * groups, itemsize) + passes)


def _scaled(model):
    def cost(kind, x_shape, w_shape, geometry, groups, itemsize):
        return _few_channels(x_shape, w_shape, geometry, groups, kind) * model(kind, x_shape, w_shape, geometry, groups, itemsize)
    cost.__doc__ = model.__doc__
    return cost


_MODELS = {"shift": _scaled(_cost_shift), "winograd": _cost_winograd, "gemm": _scaled(_cost_gemm), "pointwise": _cost_pointwise, "depthwise": _cost_depthwise, "direct": _cost_direct}


def _compiled_problem(kind, x_shape, w_shape, geometry, groups, dtype, ask: str):
    """Ask the ``compiled`` module (written against the engine's ``Problem`` record) ``ask(problem)``."""
    from . import compiled

    problem = compiled.Problem(kind, tuple(x_shape), tuple(w_shape), geometry, groups, np.dtype(dtype).name)
    return getattr(compiled, ask)(problem)


def _module(method):
    return getattr(algorithms, method, None)


def _shape_text(x_shape, w_shape, geometry, groups, dtype) -> str:
    return (f"input {tuple(x_shape)}, weight {tuple(w_shape)}, stride={geometry.stride}, dilation={geometry.dilation}, "
            f"groups={groups}, dtype={np.dtype(dtype).name}")


def why_ineligible(method: str, kind: str, x_shape, w_shape, geometry, groups: int, dtype) -> str | None:
    """``None`` when ``method`` can run this problem within its accuracy bound, else the reason."""
    table = _TABLES[kind]
    if method not in table:
        return f"it has no {kind} kernel (available: {sorted(table)})"
    if method == "direct":
        return None
    if method == "compiled":              # record-style hook (issue 11): the module answers for itself
        return _compiled_problem(kind, x_shape, w_shape, geometry, groups, dtype, "why_ineligible")
    if method == "gemm":
        from . import gemm

        if kind != "transpose" and not gemm.workspace_fits(x_shape[1], geometry, np.dtype(dtype).itemsize):
            need = gemm._tile_bytes(x_shape[1], geometry, np.dtype(dtype).itemsize, 1, 1)
            return (f"one output row of im2col columns needs {need / 2**20:.1f} MiB, more than the workspace budget "
                    f"of {get_config().workspace_mib:g} MiB (raise it with convwise.config(workspace_mib=...))")
        return None
    if method == "pointwise":
        if any(k != 1 for k in geometry.kernel_size):
            return f"it needs a 1x1 kernel, got kernel_size={geometry.kernel_size}"
        return None
    if method == "depthwise":
        from . import depthwise

        if not depthwise.eligible(x_shape, w_shape, geometry, groups, dtype, kind=kind):
            return (f"it needs groups == in_channels (one input channel per group), got groups={groups} "
                    f"with {x_shape[1]} input channels")
        return None
    if method == "winograd" and (any(s != 1 for s in geometry.stride) or any(d != 1 for d in geometry.dilation)):
        return f"it needs stride 1 and dilation 1, got stride={geometry.stride}, dilation={geometry.dilation}"
    module = _module(method)
    check = getattr(module, "eligible", None)
    if check is None:
        return None
    try:
        ok = check(x_shape, w_shape, geometry, groups, np.dtype(dtype), **({"kind": kind} if kind != "forward" else {}))
    except TypeError:
        ok = kind == "forward" and check(x_shape, w_shape, geometry, groups, np.dtype(dtype))
    if ok:
        return None
    reason = getattr(module, "ineligible_reason", None)
    if callable(reason):
        try:
            text = reason(x_shape, w_shape, geometry, groups, np.dtype(dtype))
            if text:
                return str(text)
        except Exception:  # a helper's failure must not hide the refusal itself
            pass
    bound = "1e-4 (float32)" if np.dtype(dtype) == np.float32 else "1e-10 (float64)"
    return (f"its relative error bound {bound} cannot be guaranteed or the geometry is unsupported for "
            f"kernel_size={geometry.kernel_size}, {_shape_text(x_shape, w_shape, geometry, groups, dtype)}")


def candidates(kind: str, x_shape, w_shape, geometry, groups: int, dtype) -> list[str]:
    """Every registered method ``auto`` may pick for this problem (``direct`` only as a last resort).

    A fast method whose module has no ``eligible`` function cannot vouch for its accuracy,
    so ``auto`` never picks it (it still runs when named explicitly).
    """
    eligible = [name for name in sorted(_TABLES[kind])
                if (name in EXACT or callable(getattr(_module(name), "eligible", None)))   # unvetted: explicit only
                and why_ineligible(name, kind, x_shape, w_shape, geometry, groups, dtype) is None]
    if "pointwise" in eligible:           # 1x1: gemm and shift copy the input, then run the same GEMM
        eligible = [name for name in eligible if name not in ("gemm", "shift")]
    fast = [name for name in eligible if name != "direct"]
    return fast or ["direct"]


def predict(method: str, kind: str, x_shape, w_shape, geometry, groups: int, dtype) -> float:
    """Estimated seconds of ``method`` on this problem (cost model; see module docstring)."""
    if method == "compiled":              # record-style hook (issue 11): cost in seconds from the module
        return _compiled_problem(kind, x_shape, w_shape, geometry, groups, dtype, "cost")
    itemsize = np.dtype(dtype).itemsize
    model = _MODELS.get(method)
    if model is not None:
        return model(kind, x_shape, w_shape, geometry, groups, itemsize)
    cost = getattr(_module(method), "cost", None)
    if cost is None:
        return math.inf
    try:
        flops = cost(x_shape, w_shape, geometry, groups)
    except Exception:  # a module that cannot cost this kind of problem is not chosen by prediction
        return math.inf
    rate = gemm_rate(itemsize)
    scale, overhead = _EXTERNAL.get(method, (1.0, 0.0))
    return scale * float(flops) / rate + overhead


# ----------------------------------------------------------------- measured mode

_measured: dict[tuple, tuple[str, dict[str, float]]] = {}
_benchmark = False
# Predicted choices per problem: the guards and cost models take ~0.1 ms of Python per
# call, 5-10 % of a small layer (depthwise 256ch 28x28 runs in ~1.5 ms).
_predicted: dict[tuple, str] = {}
_PREDICTED_MAX = 4096


def benchmark_mode(enabled: bool | None = None) -> bool:
    """Make ``method="auto"`` measure instead of predict (``None``: just report). Returns the old setting."""
    global _benchmark
    previous = _benchmark
    if enabled is not None:
        if not isinstance(enabled, bool):
            raise TypeError(f"benchmark_mode: enabled must be a bool or None, got {enabled!r}")
        _benchmark = enabled
    return previous


def clear_cache() -> None:
    """Forget every measured and predicted choice (``register`` calls this)."""
    _measured.clear()
    _predicted.clear()


def _key(kind, x_shape, w_shape, geometry, groups, dtype):
    return (kind, tuple(x_shape), tuple(w_shape), geometry, groups, np.dtype(dtype).str, get_config().threads,
            get_config().workspace_mib)


def _operands(kind, x_shape, w_shape, geometry, groups, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(tuple(x_shape)).astype(dtype)
    if kind == "weight_grad":
        return x, rng.standard_normal((x_shape[0], w_shape[0], *geometry.output_size)).astype(dtype)
    return x, rng.standard_normal(tuple(w_shape)).astype(dtype)


def _measure(kind, x_shape, w_shape, geometry, groups, dtype) -> tuple[str, dict[str, float]]:
    key = _key(kind, x_shape, w_shape, geometry, groups, dtype)
    if key in _measured:
        return _measured[key]
    names = candidates(kind, x_shape, w_shape, geometry, groups, dtype)
    times = {}
    if len(names) > 1:
        first, second = _operands(kind, x_shape, w_shape, geometry, groups, dtype)
        for name in names:
            function = _TABLES[kind][name]
            best = math.inf
            for _ in range(3):                       # up to 3 runs, stopping once 20 ms are spent
                start = time.perf_counter()
                function(first, second, geometry, groups)
                best = min(best, time.perf_counter() - start)
                if best > 0.02:
                    break
            times[name] = best
    else:
        times[names[0]] = math.nan
    choice = min(times, key=lambda name: times[name] if not math.isnan(times[name]) else 0.0)
    _measured[key] = (choice, times)
    return choice, times


def choose_method(kind: str, x_shape, w_shape, geometry, groups: int, dtype, *, measure: bool = False):
    """The algorithm ``method="auto"`` runs for this problem.

    With ``measure=False`` (default) predicts with the cost model and returns the name;
    with ``measure=True`` times the eligible candidates (once per problem, cached) and
    returns ``(name, {name: seconds})`` like :func:`scipy.signal.choose_conv_method`.
    """
    if measure:
        return _measure(kind, x_shape, w_shape, geometry, groups, dtype)
    key = _key(kind, x_shape, w_shape, geometry, groups, dtype)
    name = _predicted.get(key)
    if name is None:
        names = candidates(kind, x_shape, w_shape, geometry, groups, dtype)
        name = names[0] if len(names) == 1 else min(
            names, key=lambda name: predict(name, kind, x_shape, w_shape, geometry, groups, dtype))
        if len(_predicted) >= _PREDICTED_MAX:
            _predicted.clear()
        _predicted[key] = name
    return name


def resolve(method, kind: str, x_shape, w_shape, geometry, groups: int, dtype, *, fn: str):
    """Validate ``method`` and return the kernel function to run.

    ``"auto"`` predicts (or measures, under :func:`benchmark_mode`), ``"measure"`` always
    measures; a named method must be registered for ``kind`` and eligible for the problem,
    else ``ValueError`` naming the function, the method and the reason.
    """
    table = _TABLES[kind]
    if not isinstance(method, str):
        raise TypeError(f"{fn}: method must be a string, got {method!r}")
    if method == "measure" or (method == "auto" and _benchmark):
        method = _measure(kind, x_shape, w_shape, geometry, groups, dtype)[0]
    elif method == "auto":
        method = choose_method(kind, x_shape, w_shape, geometry, groups, dtype)
    elif method not in table:
        known = sorted(set(table) | {"auto", "measure"})
        raise ValueError(f"{fn}: method must be one of {known}, got method={method!r}")
    else:
        reason = why_ineligible(method, kind, x_shape, w_shape, geometry, groups, dtype)
        if reason is not None:
            raise ValueError(f"{fn}: method={method!r} cannot run this problem: {reason}")
    return table[method]
