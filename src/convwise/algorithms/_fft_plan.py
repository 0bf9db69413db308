"""Planning of the FFT convolution (:mod:`.fft`): block lengths by a cost model in flop-equivalents.

Flop-equivalents are comparable with ``2 * MACs`` of a GEMM convolution (predicted seconds
times the GEMM rate). Calibrated on the 2-core dev VM under load, one thread, per stage
(median of 7-9 runs; weights in ``calibration.json`` "fft"): forward real FFTs ran at
~7 GFLOP/s counting ``2.5 P log2 P`` (``fft_weight`` 8), inverse ones at 3-5
(``ifft_weight`` 12), plus ``line_weight`` per 1-D line (small blocks); the contraction
cgemm at ~55 GFLOP/s (8 flops per complex MAC, plus ``matmul_call`` per small GEMM);
DFT-matrix filter spectra at ~20-40 GFLOP/s (``dft_weight``); copies (gather, scatter,
spectra written) at ~1 ns per element (``element_weight`` 50). With these, predicted and
measured times of whole calls for the block lengths tried agreed within about 1.5x on the
k13 2-D, k31 1-D and k11-stride-4 benchmark layers.
"""

from __future__ import annotations

import functools
import math

import scipy.fft

from ._cost import CALIBRATION

__all__ = ["plan", "tile_bytes", "kernel_spectrum_flops", "inverse_by_dft", "fft_flops", "FFT_CHUNK_BYTES",
           "MIN_COLUMNS", "LOOP_CHANNELS"]

_W = CALIBRATION["fft"]
FFT_CHUNK_BYTES = 8 << 20   # scratch per chunk of tiles (one worker)
MIN_COLUMNS = 64            # tiles per chunk below which the contraction GEMMs get narrow
LOOP_CHANNELS = 4           # contraction by broadcast multiply-add when C_in (per group) <= this
_IDFT_FLOPS_RATIO = 4.0     # inverse by DFT-matrix GEMMs while they do < this many times the FFT's flops


def fft_flops(points: int) -> float:
    return 2.5 * points * math.log2(max(points, 2))


def kernel_spectrum_flops(q: tuple[int, ...], lengths: tuple[int, ...]) -> tuple[float, bool]:
    """Flop-equivalents of one filter spectrum, and whether the DFT-matrix route is cheaper."""
    points = math.prod(lengths)
    fft = _W["fft_weight"] * fft_flops(points)
    # separable DFT as complex GEMMs: last axis to the half spectrum, then each other axis
    sizes = list(q)
    sizes[-1] = lengths[-1] // 2 + 1
    macs = math.prod(q) * sizes[-1]
    for axis in range(len(q) - 2, -1, -1):
        rows = math.prod(sizes) // sizes[axis]
        macs += rows * q[axis] * lengths[axis]
        sizes[axis] = lengths[axis]
    dft = 8.0 * macs * _W["dft_weight"]
    return (min(fft, dft), dft < fft)


def _candidates(q: int, m: int) -> list[int]:
    """Block lengths worth trying for one dimension: ``2^k`` and ``3 * 2^k`` from about
    ``1.5 q`` (pocketfft measured 2-4x slower per point on lengths with other factors,
    e.g. 288 = 2^5 3^2 against 256), and the fast length of one block covering everything."""
    top = scipy.fft.next_fast_len(m, real=True)
    lengths = {top}
    for base in (2, 3):
        value = base
        while value < top:
            if value >= max(q + 1, (3 * q) // 2, 4):
                lengths.add(value)
            value *= 2
    return sorted(v for v in lengths if v >= q)


@functools.lru_cache(maxsize=4096)
def plan(batch: int, channels: int, out_channels: int, groups: int, q: tuple[int, ...], out: tuple[int, ...],
         itemsize: int, budget: int) -> tuple[float, tuple[int, ...], int] | None:
    """Cheapest block lengths for a stride-1 valid correlation in the phase domain.

    ``channels`` counts (phase) input channels, ``q`` the (phase) kernel and ``out`` the
    output size. Returns ``(cost, lengths, peak_bytes)``, where ``peak_bytes`` is the
    smallest workspace the plan needs (one row of tiles of one sample plus one chunk of
    filter spectra).
    """
    per_dim = [_candidates(k, o + k - 1) for k, o in zip(q, out)]
    best = None
    for lengths in _product(per_dim):
        flops, peak = _plan_cost(batch, channels, out_channels, groups, q, out, lengths, itemsize)
        if peak <= budget and (best is None or flops < best[0]):
            best = (flops, lengths, peak)
    return best


def _plan_cost(batch, channels, out_channels, groups, q, out, lengths, itemsize) -> tuple[float, int]:
    """``(flop-equivalents, peak workspace bytes)`` of one block-length choice (module notes)."""
    c_in_g = channels // groups
    blocks = tuple(length - k + 1 for length, k in zip(lengths, q))
    tiles = math.prod(-(-o // b) for o, b in zip(out, blocks))
    points = math.prod(lengths)
    freqs = points // lengths[-1] * (lengths[-1] // 2 + 1)
    n_tiles = batch * tiles
    lines = sum(points // length for length in lengths)                   # 1-D transforms per tile
    ffts = n_tiles * (channels + out_channels) * lines * _W["line_weight"]
    ffts += n_tiles * fft_flops(points) * (channels * _W["fft_weight"] + out_channels * _W["ifft_weight"])
    terms = n_tiles * out_channels * c_in_g * freqs
    if c_in_g <= LOOP_CHANNELS:
        contraction = _W["loop_weight"] * terms
    else:
        row_tiles = tiles // -(-out[0] // blocks[0])
        per_tile = tile_bytes(channels, out_channels, points, freqs, itemsize)
        cols = min(n_tiles, max(MIN_COLUMNS, FFT_CHUNK_BYTES // per_tile, row_tiles))   # tiles per GEMM
        contraction = 8.0 * terms * (1 + 16 / cols) + _W["matmul_call"] * freqs * groups * -(-n_tiles // cols)
    kernel_flops, _ = kernel_spectrum_flops(q, lengths)
    spectra = out_channels * c_in_g * (kernel_flops + 2 * _W["element_weight"] * freqs)
    region = math.prod(o + k - 1 for o, k in zip(out, q))
    elements = batch * (channels * region + out_channels * math.prod(out))              # gather, scatter
    flops = ffts + contraction + spectra + _W["element_weight"] * elements
    row_tiles = tiles // -(-out[0] // blocks[0])
    peak = row_tiles * tile_bytes(channels, out_channels, points, freqs, itemsize) + 3 * c_in_g * freqs * 2 * itemsize
    return flops, peak


def tile_bytes(channels: int, out_channels: int, points: int, freqs: int, itemsize: int) -> int:
    """Scratch of one tile: gathered input and its spectrum (input side); product spectrum,
    the real inverse transform and (for ragged edges) the reordered output."""
    return (channels * (points * itemsize + 2 * freqs * itemsize)
            + out_channels * (2 * freqs * itemsize + 2 * points * itemsize))


def _product(lists):
    if not lists:
        yield ()
        return
    for head in lists[0]:
        for tail in _product(lists[1:]):
            yield (head,) + tail


def inverse_by_dft(lengths, blocks) -> bool:
    """Whether the valid outputs are cheaper by DFT matrices (cgemm) than by an inverse real
    FFT of the whole tile. The GEMMs run ~10x faster per flop than pocketfft's small
    transforms, so they win while they do less than :data:`_IDFT_FLOPS_RATIO` times the
    FFT's ``2.5 P log2 P`` flops (24x24 tiles of a k13 layer: 1.6 vs 3.7-4.1 ms per chunk)."""
    points = math.prod(lengths)
    flops = 0.0
    done = 1
    for axis, (length, block) in enumerate(zip(lengths, blocks)):
        size = length // 2 + 1 if axis == len(lengths) - 1 else length
        rest = math.prod(lengths[axis + 1:-1]) * (lengths[-1] // 2 + 1) if axis < len(lengths) - 1 else 1
        flops += 8.0 * done * block * size * rest
        done *= block
    return flops < _IDFT_FLOPS_RATIO * fft_flops(points)
