"""The explorer: convolution, pooling and networks in the browser, served by ``convwise serve``.

:func:`create_app` builds the ASGI app (FastAPI): a JSON API documented at
``/openapi.json`` and a static page (``static/``) whose only data source is that API.
Needs the ``web`` extra (``pip install 'convwise[web]'``).
"""

from __future__ import annotations

__all__ = ["create_app"]


def create_app(models=()):
    """The explorer app; ``models``: paths of ``.json`` layer lists or ``.npz`` trained models to serve."""
    from .api import create_app as _create

    return _create(models)
