"""``tracekit ui``: a local, read-only web viewer for the trace store.

The server (:func:`tracekit.ui.app.create_app`, Starlette served by uvicorn) needs the ``ui``
extra: ``pip install "tracekit[ui]"``. The page is hand-written HTML, CSS and JavaScript
shipped in ``tracekit/ui/static``; it loads nothing from the network. See docs/ui.md.

This package's ``__init__`` imports nothing, so that the ``tracekit`` command can register
the ``ui`` command (:func:`tracekit.ui.cli.register`) without Starlette installed.

Example:
    $ pip install "tracekit[ui]"
    $ tracekit ui                      # http://127.0.0.1:8765
"""

from __future__ import annotations

__all__: list[str] = []
