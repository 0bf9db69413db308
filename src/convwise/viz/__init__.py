"""Views of the arithmetic: GIF animations of a trace, hyperparameter sweeps, a trained network.

The submodules import their optional libraries (Pillow, matplotlib, tqdm) inside the
functions that need them, so importing :mod:`convwise.viz` costs nothing.

- :mod:`convwise.viz.animate` — :func:`~convwise.viz.animate.animate` renders a
  :class:`convwise.trace.Trace` to a GIF (frame budget, several channels, groups, the
  scatter view of a transposed convolution). Split by concern: ``_layout`` (where),
  ``_text`` (what is written), ``_draw`` (Pillow drawing, GIF writing), ``_numbers``
  (every number, from the engine), ``_scatter`` (the stamp view) and ``gallery``
  (the standard set).
- :mod:`convwise.viz.sweep` — parameters, MACs, output size, receptive field and
  measured forward time against each hyperparameter, as a PNG and a CSV.
- :mod:`convwise.viz.filters` — the learned kernels and feature maps of a trained CNN.
"""

__all__ = ["animate", "sweep", "filters", "gallery"]
