"""The windowing and stride-phase primitives every kernel (convolution and pooling) uses.

- :func:`tap_window`: the strided slice of the padded input that one kernel tap meets
  across all outputs (the direct reference, pooling's backward, the scatter kernels);
- :func:`windows`: a copy-free view ``(*lead, *output, *kernel)`` of every window (im2col);
- :func:`phase_split` / :func:`phase_merge`: an array's cells ``u = q * s + r`` regrouped
  by remainder ``r`` (stride phases: FFT's polyphase split, atrous' space-to-batch), and back;
- :class:`FlatPhases`: the padded input split into stride phases and flattened, so that
  every tap of every output is one contiguous run of one phase (depthwise, pooling);
- the transposed convolution as a direct one (:func:`direct_operands`), from
  :func:`convwise.arithmetic.transpose_as_direct`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..arithmetic import ConvGeometry, TransposeGeometry, transpose_as_direct

__all__ = ["tap_window", "pad_zeros", "windows", "scatter_size", "crop", "phase_split", "phase_merge", "FlatPhases",
           "transposed_weight", "direct_operands"]


def tap_window(tap: tuple[int, ...], geometry: ConvGeometry) -> tuple[slice, ...]:
    """Slices of the padded input that kernel tap ``tap`` meets across all outputs."""
    return tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                 for t, d, o, s in zip(tap, geometry.dilation, geometry.output_size, geometry.stride))


def pad_zeros(x: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
    """``x (N, C, *S)`` zero-padded by ``geometry.padding`` (``x`` itself when there is none)."""
    if not any(lo or hi for lo, hi in geometry.padding):
        return x
    return np.pad(x, ((0, 0), (0, 0), *geometry.padding))


def windows(padded: np.ndarray, geometry: ConvGeometry, lead: int) -> np.ndarray:
    """Strided view ``(*lead_dims, *output, *kernel)`` of every window of ``padded`` (no copy);
    ``lead`` is the number of leading non-spatial axes."""
    spatial = tuple(range(lead, padded.ndim))
    view = sliding_window_view(padded, geometry.effective_kernel, axis=spatial)
    index = (slice(None),) * lead
    index += tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(geometry.output_size, geometry.stride))
    index += tuple(slice(None, None, d) for d in geometry.dilation)
    return view[index]


def scatter_size(geometry: TransposeGeometry) -> tuple[int, ...]:
    """Size of the uncropped scatter buffer of a transposed convolution."""
    return tuple(max(stretched + k_eff - 1, lo + o) for stretched, k_eff, (lo, _), o in
                 zip(geometry.stretched_size, geometry.effective_kernel, geometry.padding, geometry.output_size))


def crop(buffer: np.ndarray, geometry: TransposeGeometry) -> np.ndarray:
    """The output of a transposed convolution inside its scatter buffer (a view)."""
    return buffer[(...,) + tuple(slice(lo, lo + o) for (lo, _), o in zip(geometry.padding, geometry.output_size))]


def phase_split(array: np.ndarray, stride: tuple[int, ...], lead: int = 2) -> np.ndarray:
    """``(*lead, q0*s0, q1*s1, ...)`` -> ``(*lead, s0, s1, ..., q0, q1, ...)``: cell ``q*s + r``
    of each spatial axis goes to phase ``r``, position ``q`` (a view when possible)."""
    ndim = len(stride)
    head = array.shape[:lead]
    q = tuple(n // s for n, s in zip(array.shape[lead:], stride))
    split = array.reshape(head + tuple(v for qq, s in zip(q, stride) for v in (qq, s)))
    order = tuple(range(lead)) + tuple(lead + 1 + 2 * i for i in range(ndim)) + tuple(lead + 2 * i for i in range(ndim))
    return split.transpose(order)


def phase_merge(phases: np.ndarray, lead: int = 2) -> np.ndarray:
    """Inverse of :func:`phase_split`: ``(*lead, s0, ..., q0, ...)`` -> ``(*lead, q0*s0, ...)`` (a copy)."""
    ndim = (phases.ndim - lead) // 2
    stride, q = phases.shape[lead:lead + ndim], phases.shape[lead + ndim:]
    order = tuple(range(lead)) + tuple(v for i in range(ndim) for v in (lead + ndim + i, lead + i))
    return phases.transpose(order).reshape(phases.shape[:lead] + tuple(a * b for a, b in zip(q, stride)))


class FlatPhases:
    """The padded input split into stride phases, each flattened, so that kernel tap ``t`` of
    *all* outputs is the contiguous run ``[offset_t, offset_t + length)`` of phase ``phase_t``.

    Along a dimension with stride ``s``, padded cell ``u`` lives in phase ``u % s`` at
    position ``u // s``; tap ``t`` of output ``j`` reads ``u = j*s + t*d``. Every phase has
    the same shape ``lengths``; the running result uses that shape's row strides with the
    output's extent in the first dimension (``wide``), so columns past the output are
    scratch, cropped at the end (:meth:`crop`). ``slack`` cells after each phase let the
    last runs read past its end. Only the phases some tap reads are laid out, in
    first-use order; ``taps`` lists ``(phase slot, offset)`` in row-major tap order.
    """

    def __init__(self, geometry: ConvGeometry):
        self.geometry = geometry
        out, stride = geometry.output_size, geometry.stride
        shift = [max(t * d // s for t in range(k)) for k, s, d in zip(geometry.kernel_size, stride, geometry.dilation)]
        self.lengths = tuple(o + a for o, a in zip(out, shift))
        self.wide = (out[0],) + self.lengths[1:]
        self.length = math.prod(self.wide)
        steps = [math.prod(self.lengths[axis + 1:]) for axis in range(len(self.lengths))]
        slots: dict[tuple[int, ...], int] = {}
        self.taps = []
        for tap in np.ndindex(*geometry.kernel_size):
            shifts = [t * d for t, d in zip(tap, geometry.dilation)]
            phase = tuple(v % s for v, s in zip(shifts, stride))
            offset = sum((v // s) * step for v, s, step in zip(shifts, stride, steps))
            self.taps.append((slots.setdefault(phase, len(slots)), offset))
        self.phases = list(slots)
        self.slack = max(0, max(offset for _, offset in self.taps) + self.length - math.prod(self.lengths))
        self.size = math.prod(self.lengths) + self.slack
        self.copies = self._copies()

    def _copies(self) -> list[tuple[tuple[slice, ...], tuple[slice, ...], list[tuple[slice, ...]]]]:
        """Per phase: (source slices of x, destination box, padding slabs around the box)."""
        plans = []
        for remainder in self.phases:
            source, box, slabs = [], [], []
            for axis, (r, s, (lo, _), i, q) in enumerate(zip(remainder, self.geometry.stride, self.geometry.padding,
                                                             self.geometry.input_size, self.lengths)):
                first = max(0, -(-(lo - r) // s))                 # first q with q*s + r - lo >= 0
                stop = max(first, min(q - 1, (i - 1 + lo - r) // s) + 1)   # past the last q inside x
                source.append(slice(first * s + r - lo, stop * s + r - lo, s))
                box.append(slice(first, stop))
                lead = (slice(None),) * (axis + 1)
                if first:
                    slabs.append(lead + (slice(0, first),))
                if stop < q:
                    slabs.append(lead + (slice(stop, None),))
            plans.append(((slice(None),) + tuple(source), (slice(None),) + tuple(box), slabs))
        return plans

    def fill(self, buffer: np.ndarray, x: np.ndarray, fill: float | None) -> None:
        """Write ``x (b, *input_size)`` into ``buffer (len(phases), b, size)``; padding cells get
        ``fill`` (``None``: left as they are, e.g. a buffer zero-filled once)."""
        b = x.shape[0]
        body = math.prod(self.lengths)
        for slot, (source, box, slabs) in enumerate(self.copies):
            target = buffer[slot, :, :body].reshape((b,) + self.lengths)
            if fill is not None:
                if self.slack:
                    buffer[slot, :, body:] = fill
                for slab in slabs:
                    target[slab] = fill
            if all(part.stop > part.start for part in box[1:]):
                np.copyto(target[box], x[source])

    def crop(self, flat: np.ndarray) -> np.ndarray:
        """The outputs proper ``(..., *output_size)`` of a wide result ``(..., length)`` (a view)."""
        wide = flat.reshape(flat.shape[:-1] + self.wide)
        return wide[(...,) + tuple(slice(0, o) for o in self.geometry.output_size)]


def transposed_weight(weight: np.ndarray, groups: int) -> np.ndarray:
    """``(C_in, C_out/g, *K)`` transposed-conv weight -> the flipped ``(C_out, C_in/g, *K)`` weight
    of the equivalent direct convolution (channel axes swapped per group)."""
    c_in, c_out_g = weight.shape[:2]
    kernel = weight.shape[2:]
    w = weight.reshape(groups, c_in // groups, c_out_g, *kernel).swapaxes(1, 2)
    w = w.reshape(groups * c_out_g, c_in // groups, *kernel)
    return np.ascontiguousarray(w[(slice(None), slice(None)) + (slice(None, None, -1),) * len(kernel)])


def direct_operands(x: np.ndarray, weight: np.ndarray, geometry: TransposeGeometry,
                    groups: int) -> tuple[np.ndarray, np.ndarray, ConvGeometry] | None:
    """``(x', weight', geometry')`` with ``forward(x', weight', geometry') == transpose(x, weight,
    geometry)`` (:func:`convwise.arithmetic.transpose_as_direct`), or ``None`` when the crop keeps
    no input cell. ``x`` is stretched (zeros between neighbours) only when some stride exceeds 1."""
    equivalent = transpose_as_direct(geometry)
    if equivalent.empty:
        return None
    if any(s > 1 for s in geometry.stride):
        n, c = x.shape[:2]
        stretched = np.zeros((n, c, *geometry.stretched_size), dtype=x.dtype)
        stretched[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in geometry.stride)] = x
        x = stretched
    if any(start or stop != size for (start, stop), size in zip(equivalent.crop, x.shape[2:])):
        x = np.ascontiguousarray(x[(slice(None), slice(None)) + tuple(slice(a, b) for a, b in equivalent.crop)])
    return x, transposed_weight(weight, groups), equivalent.geometry
