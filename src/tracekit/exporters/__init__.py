"""Where finished traces go.

An exporter is any object with ``export(traces)``, ``flush(timeout_s)`` and ``shutdown()``; each
runs on its own background thread, so it may block. Built in: :class:`JsonlExporter`,
:class:`InMemoryExporter` and :class:`ConsoleExporter`.
"""

from __future__ import annotations

from ._base import Exporter
from .console import ConsoleExporter
from .jsonl import JsonlExporter
from .memory import InMemoryExporter

__all__ = ["ConsoleExporter", "Exporter", "InMemoryExporter", "JsonlExporter"]
