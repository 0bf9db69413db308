"""Choosing an algorithm for a :class:`Problem`: ``method="auto"`` predicts, ``"measure"`` times.

Like :func:`scipy.signal.choose_conv_method`, in two steps, asking only the records:

1. **Guards, accuracy first** (:func:`reason`): the record needs a kernel for the kind;
   a fast (non-exact) record never runs non-finite or untamed operands
   (:data:`convwise.algorithms._record.TAME_LIMIT`): NaN/Inf would spread over a whole
   transform tile, and transforms could overflow where the direct sum does not. An
   explicit fast method on such input is a ValueError saying so. Then the record's own
   ``why_ineligible(problem)``.
2. **Cost** (:func:`predict`): each eligible record's ``cost(problem)`` in seconds
   (constants in ``calibration.json``); the cheapest wins. ``measure`` instead times the
   eligible records predicted within :data:`MEASURE_WITHIN` of the best, once per problem,
   as cuDNN's benchmark mode does.

Choices are cached per (problem, threads, workspace budget); :func:`convwise.algorithms.register`
clears the cache.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .._config import get_config
from . import RECORDS, records
from ._record import Algorithm, Problem, make_problem

__all__ = ["reason", "eligible", "predict", "choose", "measure", "resolve", "explain", "benchmark_mode",
           "clear_cache", "choose_method", "why_ineligible", "candidates", "predict_seconds"]

#: ``measure`` times only records predicted at most this many times slower than the best.
MEASURE_WITHIN = 10.0

_predicted: dict[tuple, str] = {}
_measured: dict[tuple, tuple[str, dict[str, float]]] = {}
_PREDICTED_MAX = 4096
_benchmark = False


def reason(record: Algorithm, problem: Problem) -> str | None:
    """``None`` when ``record`` can run ``problem`` within its accuracy bound, else why not."""
    if record.kernel(problem.kind) is None:
        return f"it has no {problem.kind} kernel"
    if not record.exact and not problem.finite:
        return "it is a fast (transform) algorithm and the operands hold NaN or Inf, which it would spread"
    if not record.exact and not problem.tame:
        return "it is a fast (transform) algorithm and the operands' magnitudes could overflow its transforms"
    return record.why_ineligible(problem)


def eligible(problem: Problem) -> list[Algorithm]:
    """Records that can run ``problem``, sorted by name."""
    return [record for record in records(problem.kind) if reason(record, problem) is None]


def predict(problem: Problem) -> dict[str, float]:
    """Predicted seconds of every eligible record (``inf``: never chosen by prediction)."""
    return {record.name: float(record.cost(problem)) for record in eligible(problem)}


def _key(problem: Problem) -> tuple:
    config = get_config()
    return problem, config.threads, config.workspace_mib


def choose(problem: Problem) -> Algorithm:
    """The record ``method="auto"`` runs: the cheapest predicted (cached)."""
    key = _key(problem)
    name = _predicted.get(key)
    if name is None or name not in RECORDS:
        costs = predict(problem)
        if not costs:
            raise ValueError(f"no registered algorithm can run this {problem.kind} problem")
        name = min(costs, key=lambda n: (costs[n], n))
        if len(_predicted) >= _PREDICTED_MAX:
            _predicted.clear()
        _predicted[key] = name
    return RECORDS[name]


def _operands(problem: Problem):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(problem.x_shape).astype(problem.dtype)
    if problem.kind == "weight_grad":
        dy_shape = (problem.x_shape[0], problem.w_shape[0], *problem.geometry.output_size)
        return x, rng.standard_normal(dy_shape).astype(problem.dtype)
    return x, rng.standard_normal(problem.w_shape).astype(problem.dtype)


def measure(problem: Problem) -> tuple[str, dict[str, float]]:
    """Time the plausible eligible records once (best of up to 3 runs, stopping after 20 ms);
    returns ``(fastest name, {name: seconds})`` and caches it."""
    key = _key(problem)
    if key in _measured:
        return _measured[key]
    costs = predict(problem)
    best = min(costs.values(), default=math.inf)
    names = [n for n, c in costs.items() if c <= MEASURE_WITHIN * best] if math.isfinite(best) else list(costs)
    times: dict[str, float] = {}
    if len(names) > 1:
        first, second = _operands(problem)
        for name in names:
            record = RECORDS[name]
            fastest = math.inf
            for _ in range(3):
                start = time.perf_counter()
                record.run(problem.kind, first, second, problem.geometry, problem.groups)
                fastest = min(fastest, time.perf_counter() - start)
                if fastest > 0.02:
                    break
            times[name] = fastest
    else:
        times[names[0] if names else choose(problem).name] = math.nan
    choice = min(times, key=lambda n: 0.0 if math.isnan(times[n]) else times[n])
    _measured[key] = (choice, times)
    return choice, times


def resolve(method, problem: Problem, *, fn: str) -> Algorithm:
    """The record to run for ``method``: ``"auto"`` predicts (measures under :func:`benchmark_mode`),
    ``"measure"`` measures, a name must be registered for the kind and eligible (else a
    ValueError naming the function, the method and the reason)."""
    if not isinstance(method, str):
        raise TypeError(f"{fn}: method must be a string, got {method!r}")
    if method == "measure" or (method == "auto" and _benchmark):
        return RECORDS[measure(problem)[0]]
    if method == "auto":
        return choose(problem)
    record = RECORDS.get(method)
    if record is None or record.kernel(problem.kind) is None:
        known = sorted({r.name for r in records(problem.kind)} | {"auto", "measure"})
        raise ValueError(f"{fn}: method must be one of {known}, got method={method!r}")
    why = reason(record, problem)
    if why is not None:
        raise ValueError(f"{fn}: method={method!r} cannot run this problem: {why}")
    return record


def explain(problem: Problem) -> list[dict]:
    """One row per registered record: ``algorithm``, ``exact``, ``reason`` (``None`` if eligible),
    ``seconds`` (predicted, ``None`` if ineligible) and ``chosen`` (what ``auto`` runs)."""
    chosen = choose(problem).name
    rows = []
    for record in records():
        why = reason(record, problem)
        rows.append({"algorithm": record.name, "exact": record.exact, "reason": why,
                     "seconds": None if why else float(record.cost(problem)), "chosen": record.name == chosen})
    return rows


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
    """Forget every predicted and measured choice."""
    _predicted.clear()
    _measured.clear()


# ----------------------------------------------------------------- loose-argument forms (bench, calibrate)


def choose_method(kind: str, x_shape, w_shape, geometry, groups: int, dtype, *, measure: bool = False):
    """Name of the algorithm ``auto`` runs; with ``measure=True`` ``(name, {name: seconds})``."""
    problem = make_problem(kind, x_shape, w_shape, geometry, groups, dtype)
    return globals()["measure"](problem) if measure else choose(problem).name


def why_ineligible(method: str, kind: str, x_shape, w_shape, geometry, groups: int, dtype) -> str | None:
    record = RECORDS.get(method)
    if record is None:
        return f"it is not registered (registered: {sorted(RECORDS)})"
    return reason(record, make_problem(kind, x_shape, w_shape, geometry, groups, dtype))


def candidates(kind: str, x_shape, w_shape, geometry, groups: int, dtype) -> list[str]:
    """Names of the eligible algorithms with a finite predicted cost."""
    costs = predict(make_problem(kind, x_shape, w_shape, geometry, groups, dtype))
    return [name for name, seconds in costs.items() if math.isfinite(seconds)]


def predict_seconds(method: str, kind: str, x_shape, w_shape, geometry, groups: int, dtype) -> float:
    return float(RECORDS[method].cost(make_problem(kind, x_shape, w_shape, geometry, groups, dtype)))


def __getattr__(name: str):
    if name == "EXACT":                   # the exact records' names, as registered now
        return frozenset(record.name for record in records() if record.exact)
    raise AttributeError(name)
