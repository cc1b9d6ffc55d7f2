"""Starting spans, nesting them through contextvars, and handing finished traces on."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from random import getrandbits
from typing import TYPE_CHECKING, Any

from ._internal import internal_error, log_once, state, warn_once
from ._otel import active_otel_parent
from ._privacy import dropped_content_attributes
from ._serialize import to_jsonable
from ._spans import (
    CURRENT_SPAN,
    NOOP_SPAN,
    NonRecordingSpan,
    RemoteParent,
    Span,
    SpanType,
    Trace,
    coerce_span_type,
    hooks,
)

if TYPE_CHECKING:
    from contextvars import Token
    from types import TracebackType

_MASK64 = 2**64 - 1

# True in tracekit's own export threads: code an exporter calls (an HTTP client, a traced
# helper) must not produce traces, which would be exported, which would produce traces...
SUPPRESSED: ContextVar[bool] = ContextVar("tracekit_suppressed", default=False)

AnySpan = Span | NonRecordingSpan


def new_span(
    name: str,
    span_type: SpanType,
    parent: AnySpan | None = None,
    start_time_ns: int | None = None,
) -> AnySpan:
    """Create a span under ``parent`` (default: the current span); never raises."""
    if not state.enabled:
        return NOOP_SPAN
    try:
        if parent is None:
            parent = CURRENT_SPAN.get()
        if parent is not None:
            if type(parent) is Span:
                trace = parent._trace
                if not trace.trace_id:  # the shared stand-in of an ended root
                    trace = parent._trace = trace.for_late_child(parent)
                return Span(name, span_type, trace, parent.span_id, start_time_ns)
            if type(parent) is RemoteParent:
                return _new_root(name, span_type, start_time_ns, parent)
            if parent is not NOOP_SPAN:
                return parent  # inside an unsampled trace: share its stand-in
        return _new_root(name, span_type, start_time_ns)
    except Exception:
        internal_error("start span")
        return NOOP_SPAN


def _new_root(
    name: str,
    span_type: SpanType,
    start_time_ns: int | None,
    remote: RemoteParent | None = None,
) -> AnySpan:
    if SUPPRESSED.get():
        return NOOP_SPAN
    if state.settings is None:
        ensure_configured()
        if not state.enabled:
            return NOOP_SPAN
    parent_span_id = None
    if remote is not None:
        trace_id, parent_span_id = remote.trace_id, remote.span_id
        bits = int(trace_id, 16)
    elif "opentelemetry.trace" in sys.modules and (joined := active_otel_parent()) is not None:
        # Inside an OpenTelemetry span (a web framework's request span...): join its trace.
        trace_id, parent_span_id = joined
        bits = int(trace_id, 16)
    else:
        bits = getrandbits(128) or 1
        trace_id = bits.to_bytes(16, "big").hex()  # 3x faster than an f-string format
    # The same rule in every process, so all agree about a shared trace id.
    sampled = (bits & _MASK64) < state.sample_threshold
    if not sampled and not state.tail_sampling:
        state.sampled_out += 1
        return NonRecordingSpan(trace_id)
    trace = Trace(trace_id, sampled)  # positional: a keyword costs a dict per call
    root = Span(name, span_type, trace, parent_span_id, start_time_ns)
    trace.root = root
    return root


def ensure_configured() -> None:
    """Configure from the environment on first use; disable tracing if that fails."""
    from ._config import ConfigurationError, configure

    with state.config_lock:
        if state.settings is not None:
            return
        explicit = state.enabled_explicit
        try:
            configure()
        except ConfigurationError as exc:
            state.enabled = False
            log_once("config", "tracekit: tracing disabled: %s", exc)
            return
        if explicit is not None:  # enable()/disable() before first use beat TRACEKIT_ENABLED
            state.enabled = explicit


def finish_trace(trace: Trace) -> None:
    """Called when the local root ends: tail sampling, the redaction hook, the export queue."""
    if not trace.head_sampled:
        root = trace.root
        keep = state.keep_errors and trace.has_error
        slow_ns = state.keep_slower_ns
        if not keep and slow_ns is not None and root is not None and root.end_time_ns:
            keep = root.end_time_ns - root.start_time_ns >= slow_ns
        if not keep:
            state.sampled_out += 1
            trace.spans = []
            return
        trace.head_sampled = True  # kept: late spans of this trace are exported too
    if state.redact_hook is not None:
        for span in trace.spans:
            run_redact_hook(span)
    pipeline = state.pipeline
    if pipeline is None:
        _submit(trace)
        return
    for worker in pipeline.workers:  # ExportPipeline.submit, inlined: once per trace
        worker.submit(trace)


def finish_late_span(trace: Trace, span: Span) -> None:
    """A span that ended after its root: exported on its own, marked ``late``."""
    if not trace.head_sampled:
        return
    fragment = trace.closed_copy()  # same id, name, tags, metadata, user and session
    fragment.late = True
    fragment.name = fragment.name or span.name
    fragment.has_error = span.status == "ERROR"
    fragment.spans.append(span)
    if state.redact_hook is not None:
        run_redact_hook(span)
    _submit(fragment)


def run_redact_hook(span: Span) -> None:
    """Apply the user's redaction hook to one span; on failure drop its content (fail closed)."""
    hook = state.redact_hook
    if hook is None:
        return
    data = {
        "name": span.name,
        "span_type": span.span_type.value,
        "inputs": span.inputs,
        "outputs": span.outputs,
        "attributes": span.attributes,
        "events": span.events,
    }
    try:
        result = hook(data)
    except Exception:
        state.redaction_failures += 1
        log_once("redact-hook", "tracekit: the redact hook raised; span content was dropped")
        result = None
    if result is None:
        span.inputs = span.outputs = None
        span.attributes = dropped_content_attributes(span.attributes)
        span.attributes["tracekit.content_dropped"] = True
        span.events = [{**e, "attributes": {}} for e in span.events]
        return
    try:
        span.inputs = to_jsonable(result.get("inputs"), state.max_payload_chars)
        span.outputs = to_jsonable(result.get("outputs"), state.max_payload_chars)
        attributes = result.get("attributes")
        span.attributes = (
            to_jsonable(dict(attributes), state.max_payload_chars) if attributes else {}
        )
        events = result.get("events")
        span.events = to_jsonable(list(events), state.max_payload_chars) if events else []
    except Exception:
        state.redaction_failures += 1
        log_once("redact-hook-result", "tracekit: the redact hook returned an unusable value")
        span.inputs = span.outputs = None
        span.attributes = {"tracekit.content_dropped": True}
        span.events = []


hooks.trace_end = finish_trace
hooks.late_span = finish_late_span


def _submit(trace: Trace) -> None:
    pipeline = state.pipeline
    if pipeline is None:
        ensure_configured()
        pipeline = state.pipeline
        if pipeline is None:
            return
    for worker in pipeline.workers:  # ExportPipeline.submit, inlined: once per trace
        worker.submit(trace)


# -- public front doors ----------------------------------------------------------------


def start_span(
    name: str,
    *,
    span_type: SpanType | str = SpanType.UNKNOWN,
    inputs: Any = None,
    attributes: Mapping[str, Any] | None = None,
    parent: Span | NonRecordingSpan | None = None,
    make_current: bool = False,
    start_time_ns: int | None = None,
) -> Span | NonRecordingSpan:
    """Start a span and return it; you must call ``.end()`` on it.

    For callback-style code where a ``with`` block does not fit. The span is not made current
    unless ``make_current=True`` (then end it in the same thread or task).

    Example:
        >>> s = tracekit.start_span("on_message", span_type="TOOL", inputs={"id": 7})
        >>> ...
        >>> s.set_outputs("done"); s.end()
    """
    if start_time_ns is not None:
        try:
            start_time_ns = int(start_time_ns)  # e.g. time.time() * 1e9: the schema has ints
        except (TypeError, ValueError, OverflowError):
            warn_once("start-time", f"tracekit: start_time_ns={start_time_ns!r} is not a time")
            start_time_ns = None
    span = new_span(name, coerce_span_type(span_type), parent, start_time_ns)
    if not span.is_recording:
        if make_current and span is not NOOP_SPAN:
            # A fresh stand-in so this caller's token does not clash with the shared one.
            stand_in = NonRecordingSpan(span.trace_id)
            stand_in._token = CURRENT_SPAN.set(stand_in)
            return stand_in
        return span
    if inputs is not None:
        span.set_inputs(inputs)
    if attributes:
        span.set_attributes(attributes)
    if make_current:
        span._token = CURRENT_SPAN.set(span)
    return span


class span:
    """Trace a block: ``with tracekit.span("name") as s:`` or ``async with``.

    The span is current inside the block; an exception leaving the block is recorded on the
    span (type, message, stack trace) and propagates unchanged.

    Example:
        >>> with tracekit.span("retrieve", span_type="RETRIEVER", attributes={"k": 3}) as s:
        ...     docs = search(query)
        ...     s.set_outputs(docs)
    """

    __slots__ = ("_attributes", "_inputs", "_name", "_span", "_span_type", "_token")

    _span_type: SpanType | str

    def __init__(
        self,
        name: str,
        *,
        span_type: SpanType | str = SpanType.UNKNOWN,
        inputs: Any = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self._name = name
        self._span_type = span_type
        self._inputs = inputs
        self._attributes = attributes
        self._span: AnySpan = NOOP_SPAN
        self._token: Token[Any] | None = None

    def __enter__(self) -> Span | NonRecordingSpan:
        if not state.enabled:  # one check, and the context is left alone
            return NOOP_SPAN
        s = self._span = new_span(self._name, coerce_span_type(self._span_type))
        if s.is_recording:
            if self._inputs is not None:
                s.set_inputs(self._inputs)
            if self._attributes:
                s.set_attributes(self._attributes)
        self._token = CURRENT_SPAN.set(s)
        return s

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token = self._token
        if token is not None:
            self._token = None
            try:
                CURRENT_SPAN.reset(token)
            except ValueError:
                warn_once("scope-context", "tracekit: a span was left in another context")
        s = self._span
        if exc is not None:
            s._fail(exc)
        s.end()

    async def __aenter__(self) -> Span | NonRecordingSpan:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def get_current_span() -> Span | NonRecordingSpan | None:
    """The span current in this thread or task, or ``None`` outside any span.

    With tracing disabled it is a no-op span, never ``None``: ``@trace`` and ``span()`` then
    make no span current, and code that calls methods on the current span must not break.

    Example:
        >>> tracekit.get_current_span().set_attribute("user.tier", "pro")
    """
    current = CURRENT_SPAN.get()
    if current is None and not state.enabled:
        return NOOP_SPAN
    return current


def get_current_trace_id() -> str | None:
    """The 32-hex-digit id of the current trace, or ``None`` outside any trace."""
    current = CURRENT_SPAN.get()
    if current is None or not current.trace_id:
        return None
    return current.trace_id


def update_current_trace(
    *,
    name: str | None = None,
    tags: Mapping[str, Any] | Iterable[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
) -> None:
    """Set the current trace's name, tags, metadata, user and session.

    Tags and metadata merge with what is already set. Tags are ``{key: value}`` strings; a
    plain list of strings becomes keys with empty values.

    Example:
        >>> tracekit.update_current_trace(user_id="u-42", tags={"env": "prod"})
    """
    current = CURRENT_SPAN.get()
    if current is None:
        if not state.enabled:
            return  # disabled: @trace made no span current, and nothing is recorded anyway
        warn_once(
            "update_current_trace",
            "tracekit.update_current_trace() called outside any trace; nothing was updated",
        )
        return
    if not current.is_recording:
        return
    try:
        # Everything that may run user code (str(), snapshots) comes first, and then the trace
        # is checked and changed in plain assignments: a root ending in another thread meanwhile
        # exports this trace, and must not find it half-updated.
        new_tags: dict[str, str] | None = None
        if isinstance(tags, Mapping):
            new_tags = {str(k): str(v) for k, v in tags.items()}
        elif isinstance(tags, str):
            new_tags = {tags: ""}
        elif tags is not None:
            new_tags = {str(k): "" for k in tags}
        new_metadata = None
        if metadata is not None:
            new_metadata = to_jsonable(dict(metadata), state.max_payload_chars)
        new_name = None if name is None else str(name)
        new_user = None if user_id is None else str(user_id)
        new_session = None if session_id is None else str(session_id)
        trace = current._trace  # type: ignore[union-attr]
        if trace.closed:
            warn_once("update-closed", "tracekit.update_current_trace(): the trace already ended")
            return
        trace.detailed = True  # an ended root must then keep these for late spans
        if new_name is not None:
            trace.name = new_name
        if new_tags is not None:
            trace.tags = {**(trace.tags or {}), **new_tags}
        if new_metadata is not None:
            trace.metadata = {**(trace.metadata or {}), **new_metadata}
        if new_user is not None:
            trace.user_id = new_user
        if new_session is not None:
            trace.session_id = new_session
    except Exception:
        internal_error("update_current_trace")
