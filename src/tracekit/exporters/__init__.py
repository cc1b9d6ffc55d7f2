"""Where finished traces go.

An exporter is any object with ``export(traces)``, ``flush(timeout_s)`` and ``shutdown()``; each
runs on its own background thread, so it may block. Built in: :class:`JsonlExporter`,
:class:`InMemoryExporter`, :class:`ConsoleExporter`, :class:`SqliteExporter` (the local
store) and :class:`OtlpExporter` (any OpenTelemetry collector; the ``otlp`` extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import Exporter
from .console import ConsoleExporter
from .jsonl import JsonlExporter
from .memory import InMemoryExporter

if TYPE_CHECKING:
    from .otlp import OtlpExporter
    from .sqlite import SqliteExporter

__all__ = [
    "ConsoleExporter",
    "Exporter",
    "InMemoryExporter",
    "JsonlExporter",
    "OtlpExporter",
    "SqliteExporter",
]

# Imported on first use: sqlite3 and the OpenTelemetry exporters stay out of `import tracekit`.
_LAZY = {"OtlpExporter": ".otlp", "SqliteExporter": ".sqlite"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tracekit.exporters' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
