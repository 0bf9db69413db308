"""NumPy's own BLAS ``gemm`` with leading dimensions and ``beta``, called through ctypes.

``np.matmul`` multiplies whole arrays into a fresh (or given) output; it cannot accumulate
(``C += A @ B``) nor read an operand whose rows lie at a stride other than their length. The
``shift`` algorithm needs both: each kernel tap is one product on a view of the padded input
(rows ``ld`` elements apart), summed into the same result. CBLAS ``?gemm`` does exactly that,
and NumPy already carries a BLAS: this module finds the ``cblas_sgemm``/``cblas_dgemm`` of the
library NumPy loaded (OpenBLAS in NumPy's wheels, with 64-bit integers and a ``64_`` suffix)
and checks it once against ``np.matmul`` on a small strided product. Where none is found or the
check fails, :func:`gemm` is ``None`` for that dtype and callers keep to ``np.matmul``.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
from collections.abc import Callable

import numpy as np

__all__ = ["gemm", "library"]

_ROW_MAJOR, _NO_TRANS = 101, 111
#: (symbol, integer type): the ILP64 names of NumPy's scipy-openblas wheels first, then plain CBLAS.
_SYMBOLS = (("scipy_cblas_{t}gemm64_", ctypes.c_int64), ("cblas_{t}gemm64_", ctypes.c_int64),
            ("scipy_cblas_{t}gemm", ctypes.c_int), ("cblas_{t}gemm", ctypes.c_int))
_SCALAR = {"float32": ctypes.c_float, "float64": ctypes.c_double}


def _candidates() -> list[str]:
    """Paths of the BLAS libraries NumPy may have loaded: threadpoolctl's view, then NumPy's wheel folders."""
    paths = []
    try:
        from threadpoolctl import threadpool_info
        paths += [info["filepath"] for info in threadpool_info() if info.get("user_api") == "blas"]
    except Exception:  # noqa: BLE001  (threadpoolctl is optional)
        pass
    root = os.path.dirname(np.__file__)
    for folder in (os.path.join(os.path.dirname(root), "numpy.libs"), os.path.join(root, ".dylibs")):
        paths += sorted(glob.glob(os.path.join(folder, "*blas*")))
    return list(dict.fromkeys(paths))


def _ilp64(lib) -> bool:
    """Whether an OpenBLAS build uses 64-bit integers (its config string says so)."""
    for name in ("scipy_openblas_get_config64_", "openblas_get_config64_", "scipy_openblas_get_config",
                 "openblas_get_config"):
        function = getattr(lib, name, None)
        if function is not None:
            function.restype = ctypes.c_char_p
            return b"USE64BITINT" in (function() or b"")
    return False


def _bind(lib, dtype: str):
    letter = "s" if dtype == "float32" else "d"
    for pattern, integer in _SYMBOLS:
        function = getattr(lib, pattern.format(t=letter), None)
        if function is None:
            continue
        if integer is ctypes.c_int and _ilp64(lib):     # an unsuffixed symbol of a 64-bit build: unsafe
            continue
        scalar, pointer = _SCALAR[dtype], ctypes.c_void_p
        function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer, integer, scalar,
                             pointer, integer, pointer, integer, scalar, pointer, integer]
        function.restype = None
        return function
    return None


@functools.cache
def _found(dtype: str):
    """``(path, function)`` of a checked CBLAS ``gemm`` for ``dtype``, or ``None``."""
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        function = _bind(lib, dtype)
        if function is not None and _agrees(function, dtype):
            return path, function
    return None


def _agrees(function, dtype: str) -> bool:
    """One strided, accumulating product against ``np.matmul`` (catches a wrong integer width or layout)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 6)).astype(dtype)              # rows of a 4-wide A read at stride 6
    b = rng.standard_normal((4, 9)).astype(dtype)              # a 5-wide B read at stride 9
    c = np.ones((3, 7), dtype=dtype)                           # a 5-wide C written at stride 7
    try:
        function(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, 3, 5, 4, 2.0, a.ctypes.data, 6, b.ctypes.data, 9, 1.0,
                 c.ctypes.data, 7)
    except Exception:  # noqa: BLE001
        return False
    expected = np.ones((3, 7), dtype=dtype)
    expected[:, :5] += 2.0 * (a[:, :4] @ b[:, :5])
    return bool(np.allclose(c, expected, rtol=1e-5, atol=1e-5))


def library(dtype) -> str | None:
    """Path of the library whose ``gemm`` :func:`gemm` calls for ``dtype`` (``None``: none usable)."""
    found = _found(np.dtype(dtype).name) if np.dtype(dtype).name in _SCALAR else None
    return None if found is None else found[0]


def gemm(dtype) -> Callable[..., None] | None:
    """``gemm(m, n, k, a, lda, b, ldb, c, ldc, beta)``: ``C = A @ B + beta * C`` on row-major
    views given by their base arrays' addresses (``a``, ``b``, ``c``: ints), or ``None`` where
    no checked CBLAS exists for ``dtype``. The GIL is released during the call."""
    name = np.dtype(dtype).name
    if name not in _SCALAR:
        return None
    found = _found(name)
    if found is None:
        return None
    function = found[1]

    def call(m: int, n: int, k: int, a: int, lda: int, b: int, ldb: int, c: int, ldc: int, beta: float) -> None:
        function(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc)

    return call
