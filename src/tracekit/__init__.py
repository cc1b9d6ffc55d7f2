"""tracekit: in-process tracing for LLM applications.

Example:
    >>> import tracekit
    >>> @tracekit.trace
    ... def answer(question: str) -> str: ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import context
from ._decorator import trace
from ._internal import TracekitWarning, state
from ._spans import NonRecordingSpan, Span, SpanType, Trace
from ._tracer import (
    get_current_span,
    get_current_trace_id,
    span,
    start_span,
    update_current_trace,
)
from .exporters import ConsoleExporter, Exporter, InMemoryExporter, JsonlExporter

if TYPE_CHECKING:
    from ._config import ConfigurationError, Settings, configure, current_settings
    from .exporters.otlp import OtlpExporter
    from .exporters.sqlite import SqliteExporter
    from .store import get_trace, search_traces

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "ConsoleExporter",
    "Exporter",
    "InMemoryExporter",
    "JsonlExporter",
    "NonRecordingSpan",
    "OtlpExporter",
    "Settings",
    "Span",
    "SpanType",
    "SqliteExporter",
    "Trace",
    "TracekitWarning",
    "__version__",
    "configure",
    "context",
    "current_settings",
    "disable",
    "enable",
    "flush",
    "get_current_span",
    "get_current_trace_id",
    "get_trace",
    "search_traces",
    "shutdown",
    "span",
    "start_span",
    "stats",
    "trace",
    "update_current_trace",
]

# Loaded on first use so `import tracekit` stays cheap (pydantic is only needed to configure).
_LAZY = {
    "configure": "._config",
    "ConfigurationError": "._config",
    "Settings": "._config",
    "current_settings": "._config",
    "OtlpExporter": ".exporters.otlp",
    "SqliteExporter": ".exporters.sqlite",
    "search_traces": ".store",
    "get_trace": ".store",
}


# Submodules reachable as attributes after a bare `import tracekit`, loaded on first use.
_INTEGRATIONS = {
    "openai": ".integrations.openai",
    "anthropic": ".integrations.anthropic",
    "store": ".store",
    "testing": ".testing",
}


def __getattr__(name: str) -> Any:
    if name in _INTEGRATIONS:  # `tracekit.openai.autolog()` without importing the SDK first
        import importlib

        module_obj = importlib.import_module(_INTEGRATIONS[name], __name__)
        globals()[name] = module_obj
        return module_obj
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tracekit' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def flush(timeout_s: float = 5.0) -> bool:
    """Export every finished trace now; return False if that did not finish in ``timeout_s``.

    Example:
        >>> tracekit.flush()  # e.g. at the end of a serverless handler
        True
    """
    pipeline = state.pipeline
    return True if pipeline is None else pipeline.flush(timeout_s)


def shutdown(timeout_s: float | None = None) -> bool:
    """Flush and stop the exporters (done for you at interpreter exit).

    Tracing is reconfigured from the environment on the next traced call.
    """
    with state.config_lock:
        pipeline, state.pipeline = state.pipeline, None
        settings, state.settings = state.settings, None
    if pipeline is None:
        return True
    limit = timeout_s if timeout_s is not None else (settings.exit_timeout_s if settings else 2.0)
    return pipeline.shutdown(limit)


def enable() -> None:
    """Turn tracing back on after :func:`disable` (or despite ``TRACEKIT_ENABLED=false``)."""
    state.enabled = state.enabled_explicit = True


def disable() -> None:
    """Turn tracing off: traced functions run with a single flag check of overhead."""
    state.enabled = False
    state.enabled_explicit = False


def stats() -> dict[str, Any]:
    """Counters of what tracekit did: per exporter, traces and spans exported, dropped, failed.

    Example:
        >>> tracekit.stats()["exporters"]["JsonlExporter"]["traces_exported"]
        12
    """
    from ._pipeline import stats_snapshot

    return stats_snapshot(state.pipeline)
