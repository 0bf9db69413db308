"""A tour step: convolution as one matrix product (``unfold``, also called im2col).

:func:`unfold_step` prints the classic 5x5 example's nine 3x3 windows as the nine columns
of a matrix, multiplies the flattened kernel by it and shows that the product, reshaped,
is :func:`convwise.conv2d`'s output. It writes no files. ``convwise tour`` can call it as
one more step (``unfold_step(echo)``).

>>> lines = []
>>> unfold_step(lines.append)
True
>>> print(lines[-1])
conv2d(x, w) gives the same 3x3 output: True
"""

from __future__ import annotations

__all__ = ["unfold_step"]


def unfold_step(echo=print) -> bool:
    """Print the unfold / matrix-product view of the classic example; returns whether it matched conv2d."""
    import numpy as np

    from . import functional as F
    from .tour import CLASSIC_INPUT, CLASSIC_KERNEL, _matrix

    x = np.array(CLASSIC_INPUT, dtype=np.float64)[None, None]
    w = np.array(CLASSIC_KERNEL, dtype=np.float64)[None, None]
    columns = F.unfold(x, 3)
    echo("unfold (im2col) copies every 3x3 window of the 5x5 input into one column: a 9x9 matrix\n"
         "(row r is kernel cell r, column j is output position j, read row by row):")
    echo(_matrix(columns[0]))
    product = (w.reshape(1, -1) @ columns).reshape(1, 1, 3, 3)
    echo("The flattened kernel (1x9) times that matrix, reshaped to 3x3, is the convolution:")
    echo(_matrix(product[0, 0]))
    same = bool(np.array_equal(product, F.conv2d(x, w)))
    echo(f"conv2d(x, w) gives the same 3x3 output: {same}")
    return same
