"""The span and trace model: spans and traces, and their records and JSON for exporters."""

from __future__ import annotations

import contextlib
import dataclasses
import traceback
from contextvars import ContextVar, Token
from enum import StrEnum
from random import getrandbits
from time import time_ns
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

import orjson

from ._internal import internal_error, state, warn_once
from ._privacy import NONE, REDACTED, is_metadata_attribute
from ._serialize import dumps, field_to_jsonable, to_jsonable

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType

SCHEMA_VERSION = 1

StatusCode = Literal["OK", "ERROR"]


class SpanType(StrEnum):
    """What a span stands for; exported as its upper-case string value.

    Example:
        >>> with tracekit.span("search", span_type=SpanType.RETRIEVER): ...
    """

    LLM = "LLM"
    CHAT_MODEL = "CHAT_MODEL"
    EMBEDDING = "EMBEDDING"
    TOOL = "TOOL"
    RETRIEVER = "RETRIEVER"
    RERANKER = "RERANKER"
    AGENT = "AGENT"
    CHAIN = "CHAIN"
    PARSER = "PARSER"
    MEMORY = "MEMORY"
    GUARDRAIL = "GUARDRAIL"
    EVALUATOR = "EVALUATOR"
    UNKNOWN = "UNKNOWN"


_SPAN_TYPES: dict[Any, SpanType] = {}
for _t in SpanType:
    _SPAN_TYPES[_t] = _t
    _SPAN_TYPES[_t.value.lower()] = _t
_TYPE_NAMES = {t: t.value for t in SpanType}  # Enum.value is a slow descriptor
_MAX_COUNT = 2**63  # a token count must fit the store's 64-bit integers
USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
)


def parse_span_type(value: Any) -> SpanType:
    """Return the SpanType for ``value``; raise ValueError naming the valid ones."""
    found = _SPAN_TYPES.get(value)
    if found is None:
        valid = ", ".join(t.value for t in SpanType)
        raise ValueError(f"span_type must be one of {valid}; got {value!r}")
    return found


def coerce_span_type(value: Any) -> SpanType:
    """Like parse_span_type, but warns and falls back to UNKNOWN (used at run time)."""
    found = _SPAN_TYPES.get(value)
    if found is None:
        warn_once(f"span_type:{value!r}", f"tracekit: unknown span_type {value!r}; using UNKNOWN")
        return SpanType.UNKNOWN
    return found


class _Hooks:
    """What happens to finished traces; set by _tracer (which imports this module)."""

    __slots__ = ("late_span", "trace_end")

    def __init__(self) -> None:
        self.trace_end: Callable[[Trace], None] = _ignore
        self.late_span: Callable[[Trace, Span], None] = _ignore


def _ignore(*args: Any) -> None:
    pass


hooks = _Hooks()

CURRENT_SPAN: ContextVar[Span | NonRecordingSpan | None] = ContextVar(
    "tracekit_current_span", default=None
)


def release_token(span: Span | NonRecordingSpan) -> None:
    """Undo ``make_current`` when a span ends.

    Only while the span is still the current one: if its scope was already left (the parent's
    ``with`` exited first) resetting would bring back a stale, finished span. A token from
    another thread or context cannot be reset there and is dropped.
    """
    token, span._token = span._token, None
    if token is not None and CURRENT_SPAN.get() is span:
        with contextlib.suppress(ValueError):
            CURRENT_SPAN.reset(token)


def usage_counts(usage: Mapping[str, Any]) -> dict[str, int]:
    """The token counts of ``usage``: ``None`` values left out (unknown, not zero); unknown keys
    and values that are not counts from 0 to 2^63 - 1 left out with a warning."""
    counts: dict[str, int] = {}
    for key, value in usage.items():
        if key not in USAGE_KEYS:
            warn_once(f"usage:{key}", f"tracekit: unknown usage key {key!r}")
            continue
        if value is None:
            continue
        try:
            count = int(value)
        except (TypeError, ValueError, OverflowError):
            count = -1
        if not 0 <= count < _MAX_COUNT:
            warn_once(f"usage-value:{key}", f"tracekit: usage {key}={value!r} is not a count")
            continue
        counts[key] = count
    return counts


def error_record(exc: BaseException) -> dict[str, Any]:
    """The ``error`` field of a span: type, message and formatted stack trace."""
    cls = type(exc)
    module = cls.__module__
    name = (
        cls.__qualname__ if module in {"builtins", "__main__"} else f"{module}.{cls.__qualname__}"
    )
    try:
        message = str(exc)
    except Exception:
        message = f"<{cls.__qualname__}: str() failed>"
    try:
        stack = "".join(traceback.format_exception(exc))
    except Exception:
        stack = ""
    limit = state.max_payload_chars
    if state.content_level == NONE:  # an exception message can quote user content
        return {"type": name, "message": None, "stacktrace": None}
    return {
        "type": name,
        "message": to_jsonable(message, limit),
        "stacktrace": to_jsonable(stack, limit * 2),
    }


@dataclasses.dataclass(init=False, repr=False, eq=False)
class Span:
    """One timed operation in a trace.

    Created by ``@tracekit.trace``, ``tracekit.span()``, ``tracekit.start_span()`` and the
    integrations; never instantiated directly. The public fields are the exported record.

    Example:
        >>> with tracekit.span("lookup", span_type="TOOL") as s:
        ...     s.set_inputs({"query": "weather"})
        ...     s.set_outputs("sunny")
    """

    # The fields, in this order, are the exported span record, and __init__ assigns every
    # one of them: a dataclass whose instance dict holds exactly its record is turned into
    # JSON by orjson directly, without a record dict being built per span (see
    # _objects_are_records).
    span_id: str
    parent_span_id: str | None
    trace_id: str
    name: str
    span_type: SpanType
    start_time_ns: int
    end_time_ns: int | None
    duration_ms: float | None
    status: StatusCode
    status_message: str | None
    error: dict[str, Any] | None
    inputs: Any
    outputs: Any
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    model: str | None
    provider: str | None
    usage: dict[str, int] | None
    cost_usd: float | None
    late: bool

    _token = cast("Token[Any] | None", None)  # not a field: set while the span is current
    is_recording: ClassVar[bool] = True
    # Passed to a traced function, a span is recorded by its repr, as before it was a dataclass:
    # expanding it would copy another span's content, past the redaction hook's view.
    _recorded_by_repr: ClassVar[bool] = True

    def __init__(
        self,
        name: str,
        span_type: SpanType,
        trace: Trace,
        parent_span_id: str | None,
        start_time_ns: int | None = None,
    ) -> None:
        self.span_id = (getrandbits(64) or 1).to_bytes(8, "big").hex()
        self.parent_span_id = parent_span_id
        self.trace_id = trace.trace_id
        self.name = name
        self.span_type = span_type
        self.start_time_ns = start_time_ns or time_ns()
        self.end_time_ns = self.duration_ms = None
        self.status = "OK"
        self.status_message = self.error = self.inputs = self.outputs = None
        self.attributes = {}
        self.events = []
        self.model = self.provider = self.usage = self.cost_usd = None
        self.late = False
        # Always a Trace: the live one while open; once the root ended, a span-less closed
        # copy or, for the root of a one-span trace, a shared closed stand-in (see end()).
        self._trace: Trace = trace

    @property
    def ended(self) -> bool:
        """Whether ``end()`` has run."""
        return self.end_time_ns is not None

    def __repr__(self) -> str:
        return (
            f"<Span {self.name!r} type={self.span_type.value} trace_id={self.trace_id}"
            f" span_id={self.span_id} status={self.status}>"
        )

    # -- data --------------------------------------------------------------------------

    def set_inputs(self, inputs: Any) -> None:
        """Record the span's inputs (snapshotted now; later changes to ``inputs`` are not seen)."""
        if self._after_end("set_inputs") or state.content_level < REDACTED:
            return
        try:
            self.inputs = to_jsonable(inputs, state.max_payload_chars)
        except Exception:
            internal_error("Span.set_inputs")

    def set_outputs(self, outputs: Any) -> None:
        """Record the span's outputs (snapshotted now)."""
        if self._after_end("set_outputs") or state.content_level < REDACTED:
            return
        try:
            self.outputs = to_jsonable(outputs, state.max_payload_chars)
        except Exception:
            internal_error("Span.set_outputs")

    def set_attribute(self, key: str, value: Any) -> None:
        """Set one attribute; values are snapshotted like inputs, credentials redacted."""
        if self._after_end("set_attribute"):
            return
        try:
            name = str(key)
            if state.content_level == NONE and not is_metadata_attribute(name):
                return
            self.attributes[name] = field_to_jsonable(name, value, state.max_payload_chars)
        except Exception:
            internal_error("Span.set_attribute")

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Set several attributes at once."""
        try:
            for key, value in attributes.items():
                self.set_attribute(key, value)
        except Exception:
            internal_error("Span.set_attributes")

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        """Add a timestamped event (a log line inside the span)."""
        if self._after_end("add_event"):
            return
        try:
            # Event attributes are free-form content: kept in full and redacted modes only.
            content = attributes if attributes and state.content_level >= REDACTED else {}
            event = {
                "name": str(name),
                "time_ns": time_ns(),
                "attributes": to_jsonable(dict(content), state.max_payload_chars),
            }
            self.events.append(event)
        except Exception:
            internal_error("Span.add_event")

    def record_exception(self, exception: BaseException) -> None:
        """Add an ``exception`` event (type, message, stack trace); the status is left alone."""
        try:
            err = error_record(exception)
            self.add_event(
                "exception",
                {
                    "exception.type": err["type"],
                    "exception.message": err["message"],
                    "exception.stacktrace": err["stacktrace"],
                },
            )
        except Exception:
            internal_error("Span.record_exception")

    def set_status(self, status: StatusCode | str, message: str | None = None) -> None:
        """Set the status to ``"OK"`` or ``"ERROR"`` with an optional message."""
        if self._after_end("set_status"):
            return
        normal = str(status).upper()
        if normal not in {"OK", "ERROR"}:
            warn_once(
                f"status:{status!r}", f"tracekit: status must be 'OK' or 'ERROR', got {status!r}"
            )
            return
        self.status = normal  # type: ignore[assignment]
        self.status_message = None if message is None else str(message)

    def set_usage(self, **usage: int | None) -> None:
        """Record token usage: input_tokens, output_tokens, total_tokens, cached_input_tokens,
        cache_write_tokens, reasoning_tokens. ``None`` values are left out (unknown, not zero)."""
        if self._after_end("set_usage"):
            return
        current = dict(self.usage) if self.usage is not None else {}
        current.update(usage_counts(usage))
        self.usage = current or None

    def set_model(self, model: str | None, provider: str | None = None) -> None:
        """Record the model (and provider) an LLM span used; this is what prices it."""
        if self._after_end("set_model"):
            return
        if model is not None:
            self.model = str(model)
        if provider is not None:
            self.provider = str(provider)

    def set_cost(self, cost_usd: float | None) -> None:
        """Record the call's cost in USD (integrations compute it from the price table)."""
        if self._after_end("set_cost"):
            return
        try:
            self.cost_usd = None if cost_usd is None else float(cost_usd)
        except (TypeError, ValueError, OverflowError):
            warn_once("cost-value", f"tracekit: cost_usd={cost_usd!r} is not a number")

    def _after_end(self, method: str) -> bool:
        # Like OpenTelemetry: a finished span is immutable, so what an exporter sees never
        # depends on when its worker happened to serialise the trace.
        if self.end_time_ns is None:
            return False
        warn_once(f"after-end:{method}", f"tracekit: Span.{method}() after end() is ignored")
        return True

    # -- lifecycle ---------------------------------------------------------------------

    def end(self, end_time_ns: int | None = None) -> None:
        """End the span. Ending twice is harmless: the second call does nothing."""
        if self.end_time_ns is not None:
            return
        try:
            end = self.end_time_ns = int(end_time_ns) if end_time_ns else time_ns()
            self.duration_ms = (end - self.start_time_ns) / 1e6
            if self._token is not None:
                release_token(self)
            trace = self._trace
            if trace.closed:
                self.late = True
                hooks.late_span(trace, self)
                return
            if self.status == "ERROR":
                trace.has_error = True
            trace.spans.append(self)
            if trace.root is self:
                # No span <-> trace cycle may outlive the trace, so that it is freed by
                # reference counting alone, not by the cyclic GC; yet a child started later
                # under one of its spans must still find the trace's id, sampling decision,
                # name and tags.
                if len(trace.spans) == 1:
                    # Most traces: the root is the only span. The live trace itself goes to
                    # the exporters, and the root lets go of it for a stand-in.
                    trace.closed = True
                    if trace.name is None:
                        trace.name = self.name
                    try:
                        hooks.trace_end(trace)
                    finally:
                        self._trace = trace.stand_in()
                else:
                    # The exporters get a copy holding the spans; the live object, which
                    # every span points at, keeps none.
                    finished = trace.detach_finished(self)
                    hooks.trace_end(finished)
                    trace.head_sampled = finished.head_sampled  # tail sampling may keep it
        except Exception:
            internal_error("Span.end")

    def _fail(self, exc: BaseException) -> None:
        """Mark the span failed by ``exc`` (which the caller re-raises)."""
        try:
            self.status = "ERROR"
            self.error = error_record(exc)
            if self.status_message is None:
                self.status_message = self.error["message"]
        except Exception:
            internal_error("Span._fail")

    def __enter__(self) -> Span:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self._fail(exc)
        self.end()

    # -- export ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The span as an exported record (see docs/schema.md)."""
        # The instance dict is the record in schema order (see __init__), plus private names:
        # a C-level copy is four times faster than a 20-key dict display.
        record = self.__dict__.copy()
        del record["_trace"]
        record.pop("_token", None)
        record["span_type"] = _TYPE_NAMES[self.span_type]
        return record


class NonRecordingSpan:
    """Stands in for a span when tracing is disabled or the trace was not sampled.

    Every method is a no-op; nested spans of an unsampled trace share one instance, so the
    trace id stays visible and nesting behaves as it would when recording.
    """

    __slots__ = ("_token", "_trace_id")

    is_recording = False
    name = ""
    span_type = SpanType.UNKNOWN
    span_id = ""
    parent_span_id = None
    status: StatusCode = "OK"
    late = False
    ended = False

    def __init__(self, trace_id: str = "") -> None:
        self._trace_id = trace_id
        self._token: Token[Any] | None = None

    @property
    def trace_id(self) -> str:
        return self._trace_id

    def __repr__(self) -> str:
        return f"<NonRecordingSpan trace_id={self._trace_id or None}>"

    def set_inputs(self, inputs: Any) -> None:
        pass

    def set_outputs(self, outputs: Any) -> None:
        pass

    def set_attribute(self, key: str, value: Any) -> None:
        pass

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        pass

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        pass

    def record_exception(self, exception: BaseException) -> None:
        pass

    def set_status(self, status: str, message: str | None = None) -> None:
        pass

    def set_usage(self, **usage: int | None) -> None:
        pass

    def set_model(self, model: str | None, provider: str | None = None) -> None:
        pass

    def set_cost(self, cost_usd: float | None) -> None:
        pass

    def end(self, end_time_ns: int | None = None) -> None:
        if self._token is not None:
            release_token(self)

    def _fail(self, exc: BaseException) -> None:
        pass

    def __enter__(self) -> NonRecordingSpan:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


NOOP_SPAN = NonRecordingSpan()


class RemoteParent(NonRecordingSpan):
    """A span of another process (from a ``traceparent`` header or an OpenTelemetry span).

    Made current with ``tracekit.context.run_in(parent, fn)`` or passed as ``parent=``, it
    makes new root spans join its trace as its children.
    """

    __slots__ = ("sampled", "span_id")

    def __init__(self, trace_id: str, span_id: str, sampled: bool = True) -> None:
        super().__init__(trace_id)
        self.span_id = span_id
        self.sampled = sampled

    def __repr__(self) -> str:
        return f"<RemoteParent trace_id={self._trace_id} span_id={self.span_id}>"


class Trace:
    """A finished trace as exporters receive it: a summary plus its spans.

    Treat it as read-only: the same object goes to every exporter.
    """

    # Class-level defaults, as for Span: a trace is created per root span, so only the fields
    # every trace needs are assigned in __init__.
    root: Span | None = None
    name: str | None = None
    tags: dict[str, str] | None = None
    metadata: dict[str, Any] | None = None
    user_id: str | None = None
    session_id: str | None = None
    closed: bool = False
    has_error: bool = False
    late: bool = False
    detailed: bool = False  # set by update_current_trace()
    _dict: dict[str, Any] | None = None
    _json: bytes | None = None

    def __init__(self, trace_id: str, head_sampled: bool = True) -> None:
        self.trace_id = trace_id
        self.head_sampled = head_sampled
        self.spans: list[Span] = []

    def __repr__(self) -> str:
        return f"<Trace {self.display_name!r} trace_id={self.trace_id} spans={len(self.spans)}>"

    def detach_finished(self, root: Span) -> Trace:
        """Close this trace (``root`` just ended) and move its spans into a copy for exporters."""
        done = Trace.__new__(Trace)  # no __init__: its fresh span list would go unused
        done.trace_id, done.head_sampled, done.closed = self.trace_id, self.head_sampled, True
        done.spans, done.root, done.has_error = self.spans, root, self.has_error
        # The live trace keeps what a span started later needs; its (never used again) span
        # list is a shared empty tuple, not one more object for the cyclic GC to visit.
        done.name = self.name = root.name if self.name is None else self.name
        done.tags, done.metadata = self.tags, self.metadata
        done.user_id, done.session_id = self.user_id, self.session_id
        self.spans, self.root, self.closed = _NO_SPANS, None, True
        return done

    def stand_in(self) -> Trace:
        """What the ended root of this one-span trace points at instead of the trace itself."""
        if not self.detailed:
            # Nothing to remember but the id (the root has it) and the sampling decision.
            return _ENDED_SAMPLED if self.head_sampled else _ENDED_UNSAMPLED
        return self.closed_copy()

    def for_late_child(self, root: Span) -> Trace:
        """For a shared stand-in: the closed trace a child started under ``root`` joins."""
        copy = Trace(root.trace_id, self.head_sampled)
        copy.closed = True
        copy.name = root.name
        return copy

    def closed_copy(self) -> Trace:
        """A span-less stand-in for this finished trace, for spans that outlive it."""
        copy = Trace(self.trace_id, head_sampled=self.head_sampled)
        copy.closed = True
        copy.name = self.display_name
        copy.tags = self.tags
        copy.metadata = self.metadata
        copy.user_id = self.user_id
        copy.session_id = self.session_id
        return copy

    @property
    def display_name(self) -> str:
        """The trace's name: set by ``update_current_trace(name=...)`` or the root span's name."""
        if self.name is not None:
            return self.name
        return self.root.name if self.root is not None else ""

    @property
    def status(self) -> StatusCode:
        """The root span's status; for a fragment of late spans, ``"ERROR"`` if any failed."""
        if self.root is not None:
            return self.root.status
        return "ERROR" if self.has_error else "OK"

    def to_dict(self) -> dict[str, Any]:
        """The trace as an exported record, computed once (see docs/schema.md)."""
        record = self._dict
        if record is None:
            record, self._json = self._build()
            self._dict = record
        return record

    def to_json(self) -> bytes:
        """The record as JSON bytes (one JSONL line without the newline), computed once."""
        data = self._json
        if data is None:
            data = self._json = self._fast_json() or self._build()[1]
        return data

    def _json_line(self) -> bytes:
        """Like ``to_json()``, for a caller that uses the bytes at once and drops them.

        Nothing is cached unless another exporter already asked for ``to_json()``: orjson
        returns its bytes inside a page-sized buffer, and a trace keeping that buffer until the
        whole batch is exported costs a fresh page per trace, or a copy to avoid it.
        """
        data = self._json
        if data is None:
            data = self._fast_json(copy=False) or self._build()[1]
        return data

    def _fast_json(self, copy: bool = True) -> bytes | None:
        # orjson serialises the span objects themselves: no record dict per span, which was
        # half the cost of a one-span trace. None when this does not apply (see _build).
        if not _objects_are_records():
            return None
        spans, root = self.spans, self.root
        if len(spans) == 1 and spans[0] is root and root.end_time_ns is not None and not self.late:
            # Most traces: one span. The record starts as a copy of a template, made in C, and
            # only this trace's values are set. It is serialised and dropped, so sharing the
            # template's empty containers is safe.
            record = _ONE_SPAN_RECORD.copy()
            record["trace_id"] = self.trace_id
            record["name"] = root.name if self.name is None else self.name
            record["start_time_ns"] = root.start_time_ns
            record["end_time_ns"] = root.end_time_ns
            record["duration_ms"] = root.duration_ms
            if root.status != "OK":
                record["status"] = root.status
                record["error_count"] = 1 if root.status == "ERROR" else 0
            if self.tags is not None:
                record["tags"] = self.tags
            if self.metadata is not None:
                record["metadata"] = self.metadata
            if self.user_id is not None:
                record["user_id"] = self.user_id
            if self.session_id is not None:
                record["session_id"] = self.session_id
            if root.usage:
                record["usage"] = root.usage
            if root.cost_usd is not None:
                record["cost_usd"] = root.cost_usd
            if root.model:
                record["models"] = [root.model]
            record["spans"] = spans
        else:
            if len(spans) > 1:
                spans = sorted(spans, key=_start_key)
            record = self.summary(spans)
            record["spans"] = spans
        try:
            data = orjson.dumps(record)
        except (orjson.JSONEncodeError, TypeError):
            return None  # a lone surrogate or an odd value: the record path mends both
        if len(data) > state.max_span_bytes:
            return None
        # orjson returns its bytes inside a page-sized buffer; keeping that buffer alive until
        # the batch is exported costs a fresh page (a page fault) per trace.
        return bytes(memoryview(data)) if copy else data

    def _build(self) -> tuple[dict[str, Any], bytes]:
        spans = sorted(self.spans, key=_start_key) if len(self.spans) > 1 else self.spans
        record = self.summary(spans)
        record["spans"] = [s.to_dict() for s in spans]
        data = dumps(record)
        budget = state.max_span_bytes
        if len(data) > budget:
            # Only a trace larger than one span's budget can hold a span over it.
            record["spans"] = [fit_budget(s, budget) for s in record["spans"]]
            data = dumps(record)
        return record, bytes(memoryview(data))

    def summary(self, spans: list[Span] | None = None) -> dict[str, Any]:
        """The trace record without its spans: ids, times, status, usage and cost totals."""
        if spans is None:
            spans = self.spans
        root = self.root
        if root is not None and root.end_time_ns is not None and not self.late:
            start, end = root.start_time_ns, root.end_time_ns
        else:
            start = min(s.start_time_ns for s in spans)
            end = max((s.end_time_ns or s.start_time_ns) for s in spans)
        usage: dict[str, int]
        cost: float | None
        if len(spans) == 1:  # most traces: one decorated call or one LLM call
            only = spans[0]
            usage = dict(only.usage) if only.usage else {}
            cost = only.cost_usd
            models = [only.model] if only.model else []
            error_count = 1 if only.status == "ERROR" else 0
        else:
            usage, cost, models, error_count = {}, None, [], 0
            for s in spans:
                if s.usage:
                    for key, value in s.usage.items():
                        usage[key] = usage.get(key, 0) + value
                if s.cost_usd is not None:
                    cost = s.cost_usd if cost is None else cost + s.cost_usd
                if s.model and s.model not in models:
                    models.append(s.model)
                if s.status == "ERROR":
                    error_count += 1
        return {
            "schema_version": SCHEMA_VERSION,
            "trace_id": self.trace_id,
            "name": self.display_name,
            "start_time_ns": start,
            "end_time_ns": end,
            "duration_ms": (end - start) / 1e6,
            "status": self.status,
            "tags": self.tags or {},
            "metadata": self.metadata or {},
            "user_id": self.user_id,
            "session_id": self.session_id,
            "span_count": len(spans),
            "error_count": error_count,
            "usage": usage,
            "cost_usd": cost,
            "models": models,
            "late": self.late,
        }


# What summary() gives for a one-span trace without details, plus the spans key: see _fast_json.
_ONE_SPAN_RECORD: dict[str, Any] = {
    "schema_version": SCHEMA_VERSION,
    "trace_id": "",
    "name": "",
    "start_time_ns": 0,
    "end_time_ns": 0,
    "duration_ms": 0.0,
    "status": "OK",
    "tags": {},
    "metadata": {},
    "user_id": None,
    "session_id": None,
    "span_count": 1,
    "error_count": 0,
    "usage": {},
    "cost_usd": None,
    "models": [],
    "late": False,
    "spans": [],
}

_NO_SPANS: list[Span] = cast("list[Span]", ())  # a closed live trace's spans: never appended to

# The stand-ins of ended roots whose trace had no details (see Trace.stand_in): shared, so an
# ended one-span trace costs no second Trace object.
_ENDED_SAMPLED = Trace("", True)
_ENDED_SAMPLED.closed = True
_ENDED_UNSAMPLED = Trace("", False)
_ENDED_UNSAMPLED.closed = True

_OBJECT_JSON: list[bool] = []


def _objects_are_records() -> bool:
    """Whether orjson turns a Span into exactly its record's JSON; checked once per process.

    It does for a non-slots dataclass (from the instance dict, leaving out ``_private``
    names), which is what makes the fast path possible; should an orjson release change that,
    traces are serialised from record dicts as before, only slower.
    """
    if not _OBJECT_JSON:
        probe = Span("probe", SpanType.TOOL, Trace("ab" * 16), "cd" * 8, 1)
        probe._token = cast("Token[Any]", object())
        probe.end_time_ns, probe.duration_ms, probe.status = 3, 2e-6, "ERROR"
        probe.status_message, probe.error = "m", {"type": "E", "message": "m"}
        probe.inputs, probe.outputs, probe.attributes = {"a": [1]}, "o", {"k": "v"}
        probe.events, probe.model, probe.provider = [{"name": "e"}], "m", "p"
        probe.usage, probe.cost_usd, probe.late = {"input_tokens": 1}, 0.5, True
        try:
            same = orjson.dumps([probe]) == orjson.dumps([probe.to_dict()])
        except Exception:
            same = False
        _OBJECT_JSON.append(same)
    return _OBJECT_JSON[0]


_CONTENT_FIELDS = ("inputs", "outputs", "attributes", "events")


def fit_budget(record: dict[str, Any], budget: int) -> dict[str, Any]:
    """Cut a span record's largest content fields until it serialises within ``budget`` bytes."""
    sizes = {f: len(dumps(record[f])) for f in _CONTENT_FIELDS}
    total = sum(sizes.values())
    for field in sorted(sizes, key=sizes.__getitem__, reverse=True):
        if total <= budget:
            break
        marker = {
            "tracekit.truncated": f"{field} exceeded the span budget of {budget} bytes",
            "original_bytes": sizes[field],
        }
        record[field] = marker if field != "events" else [{"name": "truncated", **marker}]
        total -= sizes[field]
    return record


def _start_key(span: Span) -> int:
    return span.start_time_ns
