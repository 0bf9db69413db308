"""Losses with a ``backward()`` that returns the gradient with respect to the input.

``loss = criterion(input, target)`` computes and remembers what the gradient needs;
``criterion.backward()`` returns ``dloss/dinput`` (times an optional ``grad_output``
scale), ready for ``model.backward``.

>>> import numpy as np
>>> from convwise import nn
>>> criterion = nn.CrossEntropyLoss()
>>> logits = np.zeros((2, 3)); target = np.array([0, 2])
>>> round(float(criterion(logits, target)), 6), criterion.backward().round(4).tolist()
(1.098612, [[-0.3333, 0.1667, 0.1667], [0.1667, 0.1667, -0.3333]])
"""

from __future__ import annotations

import numpy as np

from .module import Module, grad_array

__all__ = ["CrossEntropyLoss", "MSELoss"]

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction, *, fn: str) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of {REDUCTIONS}, got reduction={reduction!r}")
    return reduction


def _float_input(value, *, fn: str) -> np.ndarray:
    x = np.asarray(value)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{fn}: input must be float32 or float64, got dtype {x.dtype}")
    return x


class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = _check_reduction(reduction, fn=type(self).__name__)

    def _grad_scale(self, grad_output, loss_shape: tuple, dtype) -> np.ndarray:
        """``grad_output`` checked: a real scalar, or (reduction 'none') one value per loss element."""
        scale = grad_array(self, grad_output, np.shape(grad_output), dtype)
        if scale.shape not in ((), loss_shape if self.reduction == "none" else ()):
            expected = f"a scalar or shape {loss_shape}" if self.reduction == "none" else "a scalar"
            raise ValueError(f"{type(self).__name__}.backward: grad_output must be {expected} "
                             f"(reduction={self.reduction!r}), got shape {scale.shape}")
        return scale

    def extra_repr(self) -> str:  # torch shows no settings for losses
        return ""


class CrossEntropyLoss(_Loss):
    """``-sum_c q_c log softmax(x)_c`` per sample, as ``torch.nn.CrossEntropyLoss``.

    ``input``: logits ``(N, C)``, ``(C,)`` or ``(N, C, d1, ...)``; ``target``: class indices
    (integers, shaped like ``input`` without the class axis) or class probabilities
    (floats, shaped like ``input``). ``label_smoothing`` mixes the target with the uniform
    distribution. With index targets and ``reduction='mean'`` the mean is over every
    target element. ``backward()`` returns ``softmax(x) * sum(q) - q`` (divided by the
    count for ``'mean'``).
    """

    def __init__(self, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction)
        fn = type(self).__name__
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float, np.floating)):
            raise TypeError(f"{fn}: label_smoothing must be a float, got {label_smoothing!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"{fn}: label_smoothing must be between 0.0 and 1.0, got label_smoothing={label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, input, target):
        fn = type(self).__name__
        x = _float_input(input, fn=fn)
        t = np.asarray(target)
        if x.ndim == 0:
            raise ValueError(f"{fn}: input must have a class dimension, got a 0D input")
        class_axis = 0 if x.ndim == 1 else 1
        classes = x.shape[class_axis]
        if classes == 0:
            raise ValueError(f"{fn}: input must have at least one class, got shape {x.shape}")
        # move classes last: (M, C)
        logits = np.moveaxis(x, class_axis, -1).reshape(-1, classes)
        if t.dtype.kind in "iu":
            expected = x.shape[:class_axis] + x.shape[class_axis + 1:]
            if t.shape != expected:
                raise ValueError(f"{fn}: index target must have shape {expected} for input of shape {x.shape}, "
                                 f"got {t.shape}")
            labels = t.reshape(-1)
            if labels.size and (labels.min() < 0 or labels.max() >= classes):
                bad = labels[(labels < 0) | (labels >= classes)][0]
                raise ValueError(f"{fn}: target class {int(bad)} is out of range for {classes} classes")
            q = np.zeros_like(logits)
            q[np.arange(labels.size), labels] = 1
        elif t.dtype.kind == "f":
            if t.shape != x.shape:
                raise ValueError(f"{fn}: probability target must have the input's shape {x.shape}, got {t.shape}")
            q = np.moveaxis(t.astype(x.dtype, copy=False), class_axis, -1).reshape(-1, classes)
        else:
            raise TypeError(f"{fn}: target must hold class indices (ints) or probabilities (floats), "
                            f"got dtype {t.dtype}")
        if self.label_smoothing > 0:
            q = q * (1 - self.label_smoothing) + self.label_smoothing / classes
        shifted = logits - logits.max(axis=-1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=-1, keepdims=True)
        log_softmax = shifted - np.log(total)
        per_sample = -(q * log_softmax).sum(axis=-1)
        count = per_sample.size
        self._cache = (x.shape, class_axis, exp / total, q, count)
        if self.reduction == "none":
            return per_sample.reshape(x.shape[:class_axis] + x.shape[class_axis + 1:])
        loss = per_sample.sum()
        return loss / count if self.reduction == "mean" and count else loss

    def backward(self, grad_output=1.0):
        """``dloss/dinput``, shaped like the logits; ``grad_output`` scales it (per element for 'none')."""
        shape, class_axis, softmax, q, count = self._saved()
        grad = softmax * q.sum(axis=-1, keepdims=True) - q
        g = self._grad_scale(grad_output, shape[:class_axis] + shape[class_axis + 1:], grad.dtype)
        if self.reduction == "none":
            grad = grad * (g.reshape(-1, 1) if g.ndim else g)
        else:
            grad = grad * g / (count if self.reduction == "mean" and count else 1)
        moved = shape[:class_axis] + shape[class_axis + 1:] + (shape[class_axis],)
        return np.moveaxis(grad.reshape(moved), -1, class_axis)


class MSELoss(_Loss):
    """Mean (or sum) of ``(input - target)**2``, as ``torch.nn.MSELoss``; ``backward`` gives ``2 (x - t) / n``."""

    def forward(self, input, target):
        fn = type(self).__name__
        x = _float_input(input, fn=fn)
        t = np.asarray(target)
        if t.dtype.kind not in "biuf":
            raise TypeError(f"{fn}: target must be an array of real numbers, got dtype {t.dtype}")
        if t.shape != x.shape:
            raise ValueError(f"{fn}: target shape {t.shape} must match input shape {x.shape}")
        diff = x - t.astype(x.dtype, copy=False)
        self._cache = diff
        squared = diff * diff
        if self.reduction == "none":
            return squared
        return squared.mean() if self.reduction == "mean" else squared.sum()

    def backward(self, grad_output=1.0):
        diff = self._saved()
        grad = 2 * diff * self._grad_scale(grad_output, diff.shape, diff.dtype)
        return grad / diff.size if self.reduction == "mean" else grad
