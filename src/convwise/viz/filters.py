"""What a trained CNN learned: its kernels, and the feature maps of one input through every layer.

:func:`draw_network` runs one image through a sequential :mod:`convwise.nn` model layer
by layer (the model's own forward, one child at a time) and draws a PNG with matplotlib:

- the input image and the predicted class probabilities (softmax of the logits);
- for every convolution, its learned kernels as one mosaic (a row per output channel, a
  column per input channel; red positive, blue negative, white zero);
- for every layer with a spatial output, its feature maps (up to :data:`MAX_MAPS` channels),
  labelled with the layer and its output shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..notation import format_shape

__all__ = ["draw_network", "layer_outputs", "kernel_mosaic", "MAX_MAPS"]

#: feature maps drawn per layer at most
MAX_MAPS = 16


def layer_outputs(model, image) -> list[tuple[str, object, np.ndarray]]:
    """``(name, layer, output)`` for each child of a sequential ``model`` run on one ``image`` ``(C, H, W)``."""
    children = list(model.named_children()) if hasattr(model, "named_children") else []
    if not children:
        raise ValueError(f"filters: expected a sequential model with layers, got {type(model).__name__}")
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        x = np.asarray(image)[None]
        outputs = []
        for name, layer in children:
            x = layer(x)
            outputs.append((name, layer, np.asarray(x)[0]))
    finally:
        model.train(was_training)
    return outputs


def kernel_mosaic(weight: np.ndarray, gap: int = 1) -> np.ndarray:
    """A ``(C_out, C_in, kH, kW)`` weight as one image: tile ``(o, i)`` at row ``o``, column ``i``; NaN gaps."""
    weight = np.asarray(weight, dtype=np.float64)
    if weight.ndim != 4:
        raise ValueError(f"filters: kernel_mosaic needs a 2-D convolution weight (C_out, C_in, kH, kW), got shape "
                         f"{weight.shape}")
    c_out, c_in, kh, kw = weight.shape
    mosaic = np.full((c_out * (kh + gap) - gap, c_in * (kw + gap) - gap), np.nan)
    for o in range(c_out):
        for i in range(c_in):
            mosaic[o * (kh + gap):o * (kh + gap) + kh, i * (kw + gap):i * (kw + gap) + kw] = weight[o, i]
    return mosaic


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


def draw_network(model, image, path, *, label=None, title: str = "") -> list[tuple[str, tuple[int, ...]]]:
    """Draw the kernels and feature maps of ``model`` on ``image`` ``(C, H, W)`` to the PNG ``path``.

    Returns the ``(layer name, output shape)`` of every layer drawn, in order.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3:
        raise ValueError(f"filters: image must be (C, H, W), got shape {image.shape}")
    outputs = layer_outputs(model, image)
    convs: list[tuple[str, Any]] = [(name, layer) for name, layer, _ in outputs if type(layer).__name__ == "Conv2d"]
    spatial = [(name, layer, out) for name, layer, out in outputs if out.ndim == 3]
    logits = outputs[-1][2].ravel()
    heights = [1.6] + [max(1.0, min(3.2, 0.09 * min(np.shape(layer.weight.data)[:2]) + 0.6))
                       for _, layer in convs] + [1.15] * len(spatial)
    fig = plt.figure(figsize=(13, sum(heights) + 0.5), dpi=100, layout="constrained")
    subfigs: Any = fig.subfigures(len(heights), 1, height_ratios=heights)
    drawn = []

    top = subfigs[0].subplots(1, 2, gridspec_kw={"width_ratios": [1, 5]})
    top[0].imshow(image[0], cmap="gray_r")
    top[0].set_title(f"input {format_shape(image.shape)}", fontsize=9)
    top[0].set_axis_off()
    probabilities = _softmax(logits.astype(np.float64))
    bars = top[1].bar(range(len(probabilities)), probabilities, color="tab:gray")
    winner = int(np.argmax(probabilities))
    bars[winner].set_color("tab:green")
    top[1].set_xticks(range(len(probabilities)))
    top[1].set_ylim(0, 1)
    heading = f"prediction: {winner} ({probabilities[winner]:.0%})"
    if label is not None:
        heading += f"   true label: {label}"
    top[1].set_title(heading, fontsize=9)
    top[1].set_ylabel("probability", fontsize=8)

    row = 1
    for name, layer in convs:
        weight = np.asarray(layer.weight.data)
        mosaic = kernel_mosaic(weight)
        limit = float(np.nanmax(np.abs(mosaic))) or 1.0
        axis = subfigs[row].subplots(1, 1)
        axis.imshow(mosaic.T if weight.shape[0] > weight.shape[1] else mosaic, cmap="RdBu_r", vmin=-limit,
                    vmax=limit, interpolation="nearest")
        layout = "columns: output channels, rows: input channels" if weight.shape[0] > weight.shape[1] else \
            "rows: output channels, columns: input channels"
        axis.set_title(f"layer {name} ({type(layer).__name__}) learned kernels, weight "
                       f"{format_shape(weight.shape)} ({layout}; red > 0 > blue)", fontsize=9)
        axis.set_axis_off()
        row += 1
    for name, layer, out in spatial:
        shown = min(out.shape[0], MAX_MAPS)
        axes = subfigs[row].subplots(1, MAX_MAPS)
        for channel, axis in enumerate(axes):
            axis.set_axis_off()
            if channel < shown:
                axis.imshow(out[channel], cmap="viridis", interpolation="nearest")
                axis.set_title(str(channel), fontsize=7)
        more = f", channels 0-{shown - 1} of {out.shape[0]}" if shown < out.shape[0] else ""
        subfigs[row].suptitle(f"layer {name} ({type(layer).__name__}) output {format_shape(out.shape)}{more}",
                              fontsize=9, x=0.01, ha="left")
        drawn.append((name, out.shape))
        row += 1
    if title:
        fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return drawn
