"""A one-minute guided tour of convolution arithmetic, for newcomers (``convwise tour``).

Seven steps, each printed with its number, each writing what it draws to one folder:

1. output sizes, with the formula filled in (:func:`convwise.arithmetic.explain`);
2. the classic 5x5 worked example, window by window, computed by :func:`convwise.conv2d`;
3. cross-correlation (what deep learning calls convolution) versus true convolution
   (:func:`convwise.functional.convolve` flips the kernel);
4. convolution as one matrix product: ``unfold`` (im2col) and a GEMM (:mod:`convwise.tour_unfold`);
5. animations of that example, of padding with stride, and of two channels summed with a bias (GIFs);
6. a quick sweep: how kernel size moves parameters and time (PNG + CSV);
7. a model summary: LeNet-5 layer by layer (text + JSON).
"""

from __future__ import annotations

import json
import os
import time

from . import arithmetic

__all__ = ["tour", "CLASSIC_INPUT", "CLASSIC_KERNEL"]

CLASSIC_INPUT = [[1, 2, 3, 0, 1], [0, 1, 5, 1, 0], [1, 0, 2, 2, 1], [1, 1, 2, 0, 0], [1, 0, 1, 1, 1]]
CLASSIC_KERNEL = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
ASYMMETRIC_KERNEL = [[0, 1, 2], [2, 2, 0], [0, 1, 2]]
STEPS = 7


def _matrix(array, indent: str = "    ") -> str:
    rows = [[f"{v:g}" for v in row] for row in array]
    width = max(len(v) for row in rows for v in row)
    return "\n".join(indent + "  ".join(v.rjust(width) for v in row) for row in rows)


def tour(out: str = "convwise-tour", *, echo=print, progress: bool = True) -> list[str]:
    """Run the tour, printing with ``echo``; returns the paths of the files written."""
    import numpy as np

    from . import functional as F
    from .summary import summary
    from .trace import trace
    from .viz import animate as viz_animate
    from .viz import sweep as viz_sweep

    os.makedirs(out, exist_ok=True)
    written: list[str] = []
    started = time.perf_counter()

    def header(number: int, title: str) -> None:
        echo(f"\n[{number}/{STEPS}] {title}")
        echo("-" * (len(title) + 6))

    echo(f"convwise tour: convolution arithmetic in seven steps (files go to {out}/)")

    header(1, "Output sizes")
    echo("A window of k cells, spaced d apart, slides in steps of s over the input padded by lo and hi.\n"
         "The number of positions it fits is the output size (convwise.arithmetic.explain):")
    for label, geometry in (
            ("5x5 input, 3x3 kernel, stride 2, padding 1", arithmetic.conv_geometry((5, 5), 3, 2, 1)),
            ("AlexNet's first layer: 224, kernel 11, stride 4, padding 2", arithmetic.conv_geometry(224, 11, 4, 2)),
            ("dilation 2 spreads a 3-tap kernel over 5 cells: 7 input, no padding",
             arithmetic.conv_geometry(7, 3, 1, 0, 2)),
            ("transposed conv, 3 -> ? with kernel 3, stride 2, padding 1, output_padding 1",
             arithmetic.conv_transpose_geometry(3, 3, 2, 1, 1))):
        echo(f"  {label}:")
        echo(f"    {arithmetic.explain(geometry)[0]}")
    uncovered = arithmetic.uncovered_input(arithmetic.conv_geometry(8, 3, 2))[0]
    echo(f"  With 8 inputs, kernel 3 and stride 2, input cells {list(uncovered)} are never seen: the last window "
         f"stops short.")

    header(2, "A worked example")
    x = np.array(CLASSIC_INPUT, dtype=np.float64)
    w = np.array(CLASSIC_KERNEL, dtype=np.float64)
    y = F.conv2d(x[None, None], w[None, None])[0, 0]
    echo("input (5x5):\n" + _matrix(x))
    echo("kernel (3x3):\n" + _matrix(w))
    t = trace((5, 5), 3)
    for step in t.steps[:2]:
        terms = " + ".join(f"{x[tap.source]:g}×{w[tap.weight]:g}" for tap in step.taps)
        echo(f"  output {step.output}: {terms} = {y[step.output]:g}")
    echo(f"  ... and so on for all {len(t.steps)} positions. convwise.conv2d gives:\n" + _matrix(y))

    header(3, "Cross-correlation or convolution?")
    k = np.array(ASYMMETRIC_KERNEL, dtype=np.float64)
    corr = F.conv2d(x[None, None], k[None, None])[0, 0]
    conv = F.convolve(x[None, None], k[None, None])[0, 0]
    flipped = F.conv2d(x[None, None], k[::-1, ::-1].copy()[None, None])[0, 0]
    echo("Deep learning's 'convolution' (conv2d, here and in torch) slides the kernel as it is: a\n"
         "cross-correlation. Signal processing's convolution flips the kernel first (convwise.convolve).\n"
         "The kernel above is symmetric, so both agree there. With an asymmetric kernel:\n" + _matrix(k))
    echo("  conv2d (cross-correlation):\n" + _matrix(corr, "      "))
    echo("  convolve (true convolution):\n" + _matrix(conv, "      "))
    echo(f"  convolve(x, k) == conv2d(x, flipped k): {bool(np.array_equal(conv, flipped))}. A learned kernel\n"
         "  does not care: training would simply learn the flipped weights.")

    header(4, "Convolution as one matrix product")
    from .tour_unfold import unfold_step

    unfold_step(echo)

    header(5, "Watch it slide")
    gif = os.path.join(out, "conv-5x5-example.gif")
    frames, _ = viz_animate.animate(t, gif, input=x, weight=w)
    written.append(gif)
    padded = trace((5, 5), 3, stride=2, padding=1)
    gif2 = os.path.join(out, "conv-padding-strides.gif")
    viz_animate.animate(padded, gif2)
    written.append(gif2)
    from .viz.gallery import gallery_entries

    kwargs, options = next((k, o) for name, k, o in gallery_entries() if name == "numerical_two_channels")
    gif3 = os.path.join(out, "conv-two-channels.gif")
    viz_animate.animate(trace(**kwargs), gif3, **options)
    written.append(gif3)
    echo(f"  {gif}: the example above, {len(frames)} frames (an intro, then one per output)")
    echo(f"  {gif2}: padding 1, stride 2 (grey cells are padding)")
    echo(f"  {gif3}: two input channels: each has its own kernel, their sums add up with the bias,\n"
         "  and ReLU keeps the positive part (the heart of a CNN layer)")
    echo("  More: `convwise animate --help`, `convwise animate --gallery DIR` for the standard set.")

    header(6, "What a hyperparameter costs")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(viz_sweep.values_for("kernel_size")), desc="  sweeping kernel_size",
                   unit="config", leave=False)
    try:
        rows = viz_sweep.sweep("kernel_size", use_torch=False, repeats=5, clock="cpu",
                               progress=bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    png, csv_path = (os.path.join(out, f"sweep-kernel_size.{ext}") for ext in ("png", "csv"))
    viz_sweep.plot(rows, png)
    viz_sweep.write_csv(rows, csv_path)
    written += [png, csv_path]
    for row in rows:
        echo(f"  kernel {row['value']}x{row['value']}: {row['params']:>5,} parameters, {row['macs']:>7,} MACs, "
             f"{row['convwise_ms']:.3f} ms (CPU)")
    echo("  Parameters grow with the kernel area (C_out*C_in*k*k + C_out); stride, padding and dilation add none.\n"
         "  Time need not follow MACs: method='auto' switches algorithm per shape (FFT for large kernels).\n"
         "  `convwise sweep all` draws every hyperparameter, with torch timed beside convwise.")

    header(7, "A whole network")
    result = summary("lenet5")
    table = result.table()
    echo(table)
    txt, js = os.path.join(out, "summary-lenet5.txt"), os.path.join(out, "summary-lenet5.json")
    with open(txt, "w") as handle:
        handle.write(table + "\n")
    with open(js, "w") as handle:
        json.dump(result.to_dict(), handle, indent=1)
    written += [txt, js]
    echo("  RF/jump/start: how many input pixels one unit sees, how far apart neighbours' fields are,\n"
         "  and where the first field is centred. Try `convwise summary alexnet` or your own JSON file.")

    echo(f"\nDone in {time.perf_counter() - started:.1f} s. Files written:")
    for path in written:
        echo(f"  {path}")
    return written
