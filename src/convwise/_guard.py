"""One guard for size: refuse work before anything large is allocated or looped over.

Every entry point that allocates in proportion to its arguments (convolution outputs and
workspace, ``pad``, pooling, adaptive pooling, module weights, the CLI) estimates what it
needs and asks this module first::

    from convwise._guard import require_memory, require_steps
    require_memory("conv2d", output_bytes + workspace_bytes, what="output and workspace")
    require_steps("max_pool2d", taps * positions, what="window taps")

Both raise ``ValueError`` naming the function, what was needed, the budget and how to
raise it. The memory budget is ``convwise.get_config().memory_mib`` (default: half the
memory available at import); the step budget bounds Python-level loops (not NumPy work).

>>> require_memory("pad", 10**15)
Traceback (most recent call last):
...
ValueError: pad: needs 909.5 TiB of memory, more than the budget of ... (raise it with convwise.set_config(memory_mib=...))
"""

from __future__ import annotations

from ._config import get_config

__all__ = ["require_memory", "require_steps", "format_bytes", "MAX_STEPS"]

#: Most Python-level loop iterations one call may plan (phases, windows, frames).
MAX_STEPS = 10**7


def format_bytes(nbytes: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    value = float(nbytes)
    if value >= 1024.0**6:
        return f"{value:.2e} bytes"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def require_memory(function: str, nbytes: int | float, *, what: str = "") -> None:
    """Refuse (ValueError) work that needs more than the configured memory budget."""
    budget = get_config().memory_bytes
    if nbytes > budget:
        detail = f" ({what})" if what else ""
        raise ValueError(
            f"{function}: needs {format_bytes(nbytes)} of memory{detail}, more than the budget of "
            f"{format_bytes(budget)} (raise it with convwise.set_config(memory_mib=...))")


def require_steps(function: str, steps: int, *, what: str = "steps", limit: int = MAX_STEPS) -> None:
    """Refuse (ValueError) a Python-level loop of more than ``limit`` iterations."""
    if steps > limit:
        raise ValueError(f"{function}: would loop over {steps:,} {what}, more than the limit of {limit:,}")
