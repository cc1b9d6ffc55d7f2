"""Interop with an OpenTelemetry API in the same process, without a global TracerProvider.

Two directions:

- a tracekit root started while an OpenTelemetry span is current joins that trace (same trace
  id, the OTel span as parent) — :func:`active_otel_parent`, asked once per root, and only when
  the app has imported ``opentelemetry.trace`` at all;
- when the app has registered an OpenTelemetry SDK tracer provider, OpenTelemetry spans
  started inside a tracekit span (an instrumented HTTP client, a database driver) become its
  children, and propagators send its ids in ``traceparent``. Rather than
  writing every tracekit span into OpenTelemetry's context (a cost on every span), the bridge
  wraps ``opentelemetry.trace.get_current_span``, so the cost is paid only when OpenTelemetry
  asks.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Literal

from ._spans import CURRENT_SPAN, Span

_original: Callable[..., Any] | None = None


# (context variable, span key) of OpenTelemetry's default runtime context, when it is in use:
# peeking at it answers "no OTel span here" in ~0.1 µs, where the public API takes ~1 µs on
# every root span of an app that merely imported OpenTelemetry. None: not looked up yet;
# False: another runtime context is configured, so the public API is always asked.
_peek: tuple[Any, str] | Literal[False] | None = None


def _find_peek() -> tuple[Any, str] | Literal[False]:
    try:
        from opentelemetry import context as context_api
        from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
        from opentelemetry.trace.propagation import _SPAN_KEY

        runtime = context_api._RUNTIME_CONTEXT
        if type(runtime) is ContextVarsRuntimeContext and isinstance(_SPAN_KEY, str):
            var = runtime._current_context
            var.get()
            return var, _SPAN_KEY
    except Exception:
        pass
    return False


def active_otel_parent() -> tuple[str, str] | None:
    """(trace_id, span_id) of the OpenTelemetry span current here, if there is a valid one."""
    global _peek
    trace_api = sys.modules.get("opentelemetry.trace")
    if trace_api is None:
        return None
    peek = _peek
    if peek is None:
        peek = _peek = _find_peek()
    if peek:
        try:
            if peek[0].get().get(peek[1]) is None:
                return None
        except Exception:
            pass
    getter = _original if _original is not None else trace_api.get_current_span
    try:
        context = getter().get_span_context()
    except Exception:
        return None
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def _bridged_get_current_span(context: Any = None) -> Any:
    assert _original is not None
    otel_span = _original(context)
    if context is not None:
        return otel_span  # an explicit context is the caller's choice
    if getattr(sys.modules.get("opentelemetry.trace"), "_TRACER_PROVIDER", None) is None:
        # No OpenTelemetry SDK registered: nothing would record a child span, and the API's
        # no-op tracer would only copy our ids into outgoing headers (e.g. to an LLM API).
        return otel_span
    ours = CURRENT_SPAN.get()
    if ours is None or not ours.trace_id or not ours.span_id:
        return otel_span
    if otel_span.get_span_context().is_valid and not _newer(ours, otel_span):
        return otel_span
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    flags = TraceFlags(TraceFlags.SAMPLED if ours.is_recording else TraceFlags.DEFAULT)
    return NonRecordingSpan(
        SpanContext(
            int(ours.trace_id, 16), int(ours.span_id, 16), is_remote=False, trace_flags=flags
        )
    )


def _newer(ours: Any, otel_span: Any) -> bool:
    # Both current in this context: the innermost one started last.
    otel_start = getattr(otel_span, "start_time", None)
    if not isinstance(ours, Span) or otel_start is None:
        return True
    return bool(ours.start_time_ns >= otel_start)


def set_bridge(enabled: bool) -> None:
    """Install or remove the ``get_current_span`` bridge (idempotent)."""
    global _original
    if enabled and _original is None:
        try:
            import opentelemetry.trace as trace_api
        except ImportError:
            return
        _original = trace_api.get_current_span
        trace_api.get_current_span = _bridged_get_current_span
    elif not enabled and _original is not None:
        import opentelemetry.trace as trace_api

        if trace_api.get_current_span is _bridged_get_current_span:
            trace_api.get_current_span = _original
        _original = None
