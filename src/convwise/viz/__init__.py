"""Views of the arithmetic: GIF animations of a trace, hyperparameter sweeps.

The submodules import their optional libraries (Pillow, matplotlib, tqdm) inside the
functions that need them, so importing :mod:`convwise.viz` costs nothing.

- :mod:`convwise.viz.animate` — :func:`~convwise.viz.animate.animate` renders a
  :class:`convwise.trace.Trace` to a GIF (Pillow ``ImageDraw``); ``gallery`` writes the
  standard set.
- :mod:`convwise.viz.sweep` — parameter counts and measured forward time against each
  hyperparameter, as a PNG and a CSV.
"""

__all__ = ["animate", "sweep"]
