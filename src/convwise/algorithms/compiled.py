"""The ``compiled`` algorithm: the direct convolution loop, compiled by numba and run in parallel.

Exact (it reorders nothing but the float sum over channels and taps). It pays where each
group has too few channels for a GEMM: depthwise and grouped layers, where it runs
several times faster than the NumPy algorithms (``benchmarks/README.md``). Dense layers
keep to BLAS: the cost model below prices the loop at its measured rate, far under sgemm.

One record (:data:`RECORD`): ``forward``, ``transpose``, ``weight_grad``
(``(x, weight_or_grad_output, geometry, groups) -> array``), ``why_ineligible(problem)`` and
``cost(problem)`` in seconds. Until its kernel is loaded (see :mod:`convwise.kernels`:
from the disk cache or compiled in a background thread, started by the first
``why_ineligible`` that needs it) the algorithm is ineligible and another one answers.
"""

from __future__ import annotations

import math

import numpy as np

from .. import kernels
from .._config import get_config
from ..arithmetic import ConvGeometry, TransposeGeometry
from . import direct
from ._record import Algorithm, Problem

__all__ = ["KERNEL", "NAME", "RECORD", "cost", "forward", "transpose", "weight_grad", "why_ineligible"]

NAME = "compiled"
#: kernel per kind of problem
KERNEL = {"forward": "conv_forward", "transpose": "conv_transpose", "weight_grad": "conv_weight_grad"}


# ----------------------------------------------------------------- running the kernels


def _lift(a: np.ndarray) -> np.ndarray:
    """``(N, C, *spatial)`` as a writable C-contiguous ``(N, C, D, H, W)`` array (a view when possible)."""
    if not (a.flags.c_contiguous and a.flags.writeable):
        a = np.array(a, order="C")
    return a.reshape(a.shape[:2] + (1,) * (5 - a.ndim) + a.shape[2:])


def _geo(geometry) -> np.ndarray:
    pad = 3 - geometry.ndim
    return np.array((1,) * pad + tuple(geometry.stride) + (1,) * pad + tuple(geometry.dilation)
                    + (0,) * pad + tuple(lo for lo, _ in geometry.padding), dtype=np.int64)


def forward(x: np.ndarray, weight: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    """Grouped convolution ``(N, C_in, *in) * (C_out, C_in/g, *k) -> (N, C_out, *out)``, no bias."""
    if not np.isfinite(weight).all():      # padding cells times inf/NaN weights: the reference's 0 * inf
        return direct.forward(x, weight, geometry, groups)
    y = np.empty((x.shape[0], weight.shape[0]) + tuple(geometry.output_size), dtype=x.dtype)
    work = y.size * weight[0].size
    block, workers = _forward_split(x.shape[0] * groups * math.prod(geometry.output_size[:-2]),
                                    weight.shape[0] // groups, kernels.threads(work))
    kernels.launch("conv_forward", _lift(x), _lift(weight), _geo(geometry), groups, block, workers, _lift(y),
                   work=work)
    return y


def _forward_split(slices: int, per_group: int, threads: int) -> tuple[int, int]:
    """(output channels per work item, workers): whole groups when there are enough
    (batch x group x depth) slices to share out, else groups split into blocks."""
    if threads <= 1:
        return per_group, 1
    want = 4 * threads                        # a few items per thread evens out the split
    block = per_group if slices >= want else max(1, -(-per_group * slices // want))
    items = slices * -(-per_group // block)
    return block, max(1, min(threads, items))


def _as_forward(weight: np.ndarray, geometry: TransposeGeometry, groups: int):
    """A stride-1 transposed convolution as a forward one: ``(flipped weight, geo)``, or None.

    ``y[u] = sum_j x[j] w[u + p - j*d]`` is a correlation of ``x`` padded by
    ``d(k-1) - p`` with the kernel flipped and its channel axes swapped per group; the
    forward kernel runs it about twice as fast as the transposed row kernel (depthwise
    144@56 N8, one thread: 4.5 against 9.6 ms). Not for non-finite weights: the padding's
    ``0 * inf`` would make NaN where the scatter makes none.
    """
    if any(s != 1 for s in geometry.stride) or not np.isfinite(weight).all():
        return None
    pads = [d * (k - 1) - lo for k, d, (lo, _) in zip(geometry.kernel_size, geometry.dilation, geometry.padding)]
    if any(p < 0 for p in pads):
        return None
    c_in, og = weight.shape[:2]
    cg = c_in // groups
    flipped = weight[(slice(None), slice(None)) + (slice(None, None, -1),) * geometry.ndim]
    forward_weight = np.ascontiguousarray(
        flipped.reshape((groups, cg, og) + weight.shape[2:]).swapaxes(1, 2).reshape((groups * og, cg) + weight.shape[2:]))
    unit = 3 - geometry.ndim
    geo = np.array((1,) * 3 + (1,) * unit + tuple(geometry.dilation) + (0,) * unit + tuple(pads), dtype=np.int64)
    return forward_weight, geo


def transpose(x: np.ndarray, weight: np.ndarray, geometry: TransposeGeometry, groups: int) -> np.ndarray:
    """Transposed convolution ``(N, C_in, *in) * (C_in, C_out/g, *k) -> (N, C_out, *out)``, no bias."""
    y = np.empty((x.shape[0], weight.shape[1] * groups) + tuple(geometry.output_size), dtype=x.dtype)
    as_forward = _as_forward(weight, geometry, groups)
    if as_forward is not None:
        forward_weight, geo = as_forward
        work = y.size * forward_weight[0].size
        block, workers = _forward_split(x.shape[0] * groups * math.prod(geometry.output_size[:-2]),
                                        weight.shape[1], kernels.threads(work))
        kernels.launch("conv_forward", _lift(x), _lift(forward_weight), geo, groups, block, workers, _lift(y),
                       work=work)
        return y
    work = x.size * weight[0].size
    kernels.launch("conv_transpose", _lift(x), _lift(weight), _geo(geometry), groups, kernels.threads(work), _lift(y),
                   work=work)
    return y


def weight_grad(x: np.ndarray, grad_output: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    """Gradient of :func:`forward` with respect to the weight: ``(C_out, C_in/g, *k)``."""
    if not np.isfinite(grad_output).all():   # padding cells times inf/NaN gradients, as in the reference
        return direct.weight_grad(x, grad_output, geometry, groups)
    c_out = grad_output.shape[1]
    grad = np.empty((c_out, x.shape[1] // groups) + tuple(geometry.kernel_size), dtype=x.dtype)
    if _finite(x) and kernels.ready("conv_weight_grad_planes", x.dtype):
        work = grad_output.size * grad[0].size
        workers = max(1, min(c_out, kernels.threads(work)))
        kernels.launch("conv_weight_grad_planes", _lift(x), _lift(grad_output), _geo(geometry), groups, workers,
                       _lift(grad), work=work)
        return grad
    kernels.launch("conv_weight_grad", _lift(x), _lift(grad_output), _geo(geometry), groups, _lift(grad),
                   work=grad_output.size * grad[0].size)
    return grad


def _finite(a: np.ndarray) -> bool:
    """Whether ``a`` holds no NaN/Inf, by one BLAS dot product (a finite array whose squares
    overflow also answers False: the caller then takes the path that is exact regardless)."""
    flat = a.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.dot(flat, flat)))


# ----------------------------------------------------------------- eligibility and cost

#: Channels per group (input x output) above which the loop is not a candidate: there a
#: GEMM wins by far (measured: see ``cost``), and the cost model is not calibrated.
MAX_GROUP_PRODUCT = 1024


def why_ineligible(problem: Problem) -> str | None:
    """``None`` when the kernel can run ``problem`` now, else the reason (and start loading it)."""
    dtype = problem.dtype                      # a dtype name
    if dtype not in kernels.DTYPES:
        return f"it runs float32 and float64 only, got dtype={dtype}"
    cg, og = _group_channels(problem)
    if cg * og > MAX_GROUP_PRODUCT:
        return (f"it is for few channels per group (C_in/groups x C_out/groups <= {MAX_GROUP_PRODUCT}), got "
                f"{cg} x {og}: a GEMM algorithm is faster there")
    if problem.kind == "forward":
        scratch = _forward_scratch_bytes(problem)
        if scratch > get_config().workspace_bytes:
            return (f"its padded planes need {scratch / 2**20:.1f} MiB of scratch, more than the workspace budget "
                    f"of {get_config().workspace_mib:g} MiB")
    reason = kernels.unavailable_reason()
    if reason is not None:
        return reason
    if not kernels.ready(KERNEL[problem.kind], dtype):
        return ("its numba kernel is still loading in the background (run `convwise warmup` once to compile "
                "every kernel ahead)")
    return None


def _forward_scratch_bytes(problem: Problem) -> int:
    """Scratch of the forward kernel: a padded, phase-split input plane and a wide output per thread."""
    geometry = problem.geometry
    pad = 3 - geometry.ndim
    size = (1,) * pad
    stride, dilation = size + tuple(geometry.stride), size + tuple(geometry.dilation)
    kernel, out = size + tuple(geometry.kernel_size), size + tuple(geometry.output_size)
    wq = out[2] + ((kernel[2] - 1) * dilation[2]) // stride[2]
    hq = out[1] + ((kernel[1] - 1) * dilation[1]) // stride[1] + 1
    cg = _group_channels(problem)[0]
    elements = cg * kernel[0] * stride[1] * stride[2] * hq * wq + out[1] * wq
    return elements * np.dtype(problem.dtype).itemsize * max(1, get_config().threads)


def _group_channels(problem: Problem) -> tuple[int, int]:
    """(input, output) channels per group of the equivalent forward convolution."""
    g = problem.groups
    if problem.kind == "transpose":
        return problem.w_shape[1], problem.x_shape[1] // g
    return problem.x_shape[1] // g, problem.w_shape[0] // g


#: Seconds per unit of work on one thread (float32), fitted by non-negative least squares
#: on 17 layers (depthwise, grouped, few-channel dense; 1-D/2-D/3-D; strides 1-4) timed
#: by CPU time on the 2-core dev VM (November 2026): predictions within 0.6-1.5x of the
#: measured forward times, 0.25-1.4x for the row kernels (worst on long 1-D rows).
#: forward: per multiply-add over the wide (``wq``) planes, per padded cell filled, per tap loop
FORWARD_SECONDS = (6.6e-11, 6.6e-10, 1.5e-8)
#: weight gradient (planes kernel, finite inputs): the same three terms, refitted on 16 layers
#: (predictions 0.4-1.5x of the measured times), plus a larger fixed cost (the finiteness check)
WEIGHT_GRAD_SECONDS = (6.0e-11, 2.2e-10, 1.3e-8)
WEIGHT_GRAD_FIXED_SECONDS = 2.5e-5
#: strided transposed convolution (row kernel): per multiply-add, per inner (tap x row) loop
TRANSPOSE_SECONDS = (8.3e-11, 8.2e-9)
LAUNCH_SECONDS = 1e-5
#: weight gradient over planes larger than the cache: every tap streams its runs from memory
#: (1 x 1024 x 1024, 31 x 31 taps: 297 ms measured against 62 predicted without this term)
CACHED_PLANE_BYTES = 2 * 2**20
STREAM_BYTES_PER_SECOND = 12e9
#: float64 halves the vector width: multiply-adds and copies take about twice as long
FLOAT64_SLOWDOWN = 1.8


def cost(problem: Problem) -> float:
    """Predicted seconds of ``problem`` on this algorithm with the configured threads.

    The work terms follow the kernels' loops (see :mod:`convwise.kernels.conv`); the
    constants above were measured, and the parallel loop is assumed to split evenly.
    """
    geometry = problem.geometry
    unit = (1,) * (3 - geometry.ndim)
    kernel = unit + tuple(geometry.kernel_size)
    stride = unit + tuple(geometry.stride)
    dilation = unit + tuple(geometry.dilation)
    n, g = problem.x_shape[0], problem.groups
    cg, og = _group_channels(problem)
    taps = math.prod(kernel)
    slow = FLOAT64_SLOWDOWN if np.dtype(problem.dtype).itemsize == 8 else 1.0
    as_forward = problem.kind == "transpose" and all(st == 1 for st in geometry.stride)
    if as_forward:                         # run by the forward kernel (see _as_forward): its channels swap roles
        cg, og = problem.x_shape[1] // g, problem.w_shape[1]
    fixed = LAUNCH_SECONDS
    if problem.kind in ("forward", "weight_grad") or as_forward:
        out = unit + tuple(geometry.output_size)
        wq = out[2] + (kernel[2] - 1) * dilation[2] // stride[2]
        hq = out[1] + (kernel[1] - 1) * dilation[1] // stride[1] + 1
        loops = n * g * og * out[0] * cg * taps
        filled = n * g * out[0] * cg * kernel[0] * stride[1] * stride[2] * hq * wq
        if problem.kind == "weight_grad":   # the planes kernel fills each input plane once per output channel
            filled *= og
            fixed = WEIGHT_GRAD_FIXED_SECONDS
        per_mac, per_cell, per_loop = WEIGHT_GRAD_SECONDS if problem.kind == "weight_grad" else FORWARD_SECONDS
        work = slow * (loops * out[1] * wq * per_mac + filled * per_cell) + loops * per_loop
        plane_bytes = 2 * out[1] * wq * problem.itemsize        # the planes kernel's two runs per tap
        if problem.kind == "weight_grad" and plane_bytes > CACHED_PLANE_BYTES:
            work += loops * plane_bytes / STREAM_BYTES_PER_SECOND
        items = g * og if problem.kind == "weight_grad" else n * g * out[0]
    else:
        forward_out = unit + tuple(geometry.input_size)
        macs = n * g * og * math.prod(forward_out) * cg * taps
        rows = n * g * og * math.prod(forward_out[:2]) * cg * taps // kernel[2]
        per_mac, per_loop = TRANSPOSE_SECONDS
        work = slow * macs * per_mac + rows * kernel[2] * per_loop
        items = n * g * og
    positions = math.prod(geometry.input_size if problem.kind == "transpose" else geometry.output_size)
    small = n * g * og * cg * taps * positions < kernels.PARALLEL_MIN_WORK     # launched on one thread
    threads = 1 if small else max(1, min(get_config().threads, items))
    return fixed + work / threads


RECORD = Algorithm(NAME, exact=True, why_ineligible=why_ineligible, cost=cost,
                   forward=forward, transpose=transpose, weight_grad=weight_grad,
                   notes="numba direct loop for depthwise and grouped layers; NumPy answers while it loads")


def _forget_choices() -> None:
    """A kernel became ready: choices cached while it was loading must be made again."""
    from . import select

    select.clear_cache()


kernels.on_ready(_forget_choices)
