"""The provider-neutral life cycle of an LLM call span.

A provider module describes each patched method as an :class:`Operation` (how to read the
request, the response, a stream chunk); this module owns the span: opening it, making it
current, recording errors, wrapping streams and raw responses, and ending it exactly once.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import wrapt

from tracekit import _serialize
from tracekit._internal import internal_error, state
from tracekit._pricing import cost_usd
from tracekit._privacy import (
    CONTENT_MODES,
    NONE,
    REDACTED,
    SECRET_KEY_PATTERN,
    Privacy,
    is_metadata_attribute,
)
from tracekit._serialize import JSON_INT_MAX, JSON_INT_MIN, field_to_jsonable, to_jsonable
from tracekit._spans import CURRENT_SPAN, Span, SpanType, usage_counts
from tracekit._tracer import new_span

from ._patching import PatchSet

# Set while a patched call runs, so a patched method called by another (a helper calling
# create) does not open a second span for the same request.
_IN_LLM_CALL: ContextVar[bool] = ContextVar("tracekit_in_llm_call", default=False)

# Request keyword arguments never recorded: transport details and anything that looks like
# a credential.
_SKIPPED_KWARGS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})
# The same key rule as secret scrubbing, but applied even when scrubbing is switched off:
# provider credentials are never recorded.
_SECRET_KEY = re.compile(SECRET_KEY_PATTERN)


@dataclass
class Options:
    """What an integration records; changed by ``autolog()`` without re-patching."""

    active: bool = False
    log_inputs: bool = True
    log_outputs: bool = True
    stream_usage: bool = False
    capture_content: str | None = None  # overrides configure(capture_content=...) when set

    def content_level(self) -> int:
        mode = self.capture_content
        return state.content_level if mode is None else CONTENT_MODES[mode]

    def privacy(self) -> Privacy | None:
        """A masking policy when this integration alone asks for "redacted" content."""
        if self.capture_content != "redacted" or state.content_level == REDACTED:
            return None
        settings = state.settings
        cached = _REDACTED_POLICIES.get(id(settings))
        if cached is None:
            from tracekit._config import Settings, build_privacy

            cached = build_privacy(settings or Settings(), "redacted")
            _REDACTED_POLICIES.clear()
            _REDACTED_POLICIES[id(settings)] = cached
        return cached


_REDACTED_POLICIES: dict[int, Privacy] = {}


def switch(
    options: Options,
    patches: PatchSet,
    *,
    disable: bool,
    log_inputs: bool,
    log_outputs: bool,
    capture_content: str | None,
    stream_usage: bool = False,
) -> None:
    """What every ``autolog()`` does: validate, set the options, then patch or unpatch."""
    if disable:
        options.active = False
        patches.remove()
        return
    options.capture_content = check_content_mode(capture_content)
    options.log_inputs = log_inputs
    options.log_outputs = log_outputs
    options.stream_usage = stream_usage
    options.active = True
    patches.apply()


def classify_result(result: Any) -> str:
    """The SDKs' return types, by name so that no SDK is imported: a stream, a raw HTTP
    response wrapper (with_raw_response / with_streaming_response), or a model object."""
    name = type(result).__name__
    if name in ("Stream", "AsyncStream"):
        return "stream"
    if name in ("LegacyAPIResponse", "APIResponse", "AsyncAPIResponse"):
        return "raw"
    return "model"


def check_content_mode(mode: str | None) -> str | None:
    """Validate an ``autolog(capture_content=...)`` value at call time."""
    if mode is not None and mode not in CONTENT_MODES:
        raise ValueError(f"capture_content must be one of {', '.join(CONTENT_MODES)}; got {mode!r}")
    return mode


class StreamState:
    """Accumulates what a stream's chunks say; one per streamed call.

    ``first_token_ns`` is set by ``on_chunk`` at the first chunk that carries generated content
    (text, tool arguments, reasoning, a refusal): role-only and bookkeeping events come first.
    ``complete`` is set once the reply has fully arrived, so that a stream closed after that
    (a ``break`` on the last event, then ``with`` exit) is not called cancelled.
    """

    first_token_ns: int | None = None
    complete = False

    def on_chunk(self, chunk: Any) -> bool:
        """Take in one chunk; return True to hide it from the user (injected usage chunk)."""
        raise NotImplementedError

    def finish(self, call: LLMCall, cancelled: bool) -> None:
        """Write what was accumulated onto ``call.span``."""
        raise NotImplementedError


@dataclass(frozen=True)
class Operation:
    """How one patched method maps to a span."""

    provider: str
    name: str  # OpenTelemetry gen_ai.operation.name: chat, embeddings, text_completion ...
    span_type: SpanType
    record_request: Callable[[LLMCall, dict[str, Any]], None]
    record_response: Callable[[LLMCall, Any], None]
    new_stream: Callable[[LLMCall, dict[str, Any]], StreamState] | None = None
    # Classifies a return value: "model", "stream", "raw" (a raw HTTP response wrapper).
    classify: Callable[[Any], str] = field(default=lambda result: "model")
    record_error: Callable[[LLMCall, BaseException], None] | None = None
    # May return new kwargs for the SDK (e.g. with stream_options injected).
    prepare: Callable[[LLMCall, dict[str, Any]], dict[str, Any]] | None = None
    # The response header with the provider's request id (read for streams).
    request_id_header: str = "x-request-id"


class LLMCall:
    """One traced request: its span, options and timing."""

    __slots__ = (
        "chunks",
        "content_level",
        "done",
        "first_chunk_ns",
        "op",
        "options",
        "span",
        "stream_state",
        "unpriced",
        "usage_injected",
    )

    def __init__(self, op: Operation, options: Options, span: Span) -> None:
        self.op = op
        self.options = options
        self.span = span
        self.done = False
        self.chunks = 0
        self.first_chunk_ns: int | None = None
        self.stream_state: StreamState | None = None
        self.unpriced = False  # the usage is incomplete: record no cost rather than a wrong one
        self.usage_injected = False  # tracekit added stream_options.include_usage
        self.content_level = options.content_level()  # once per call, not per attribute

    # -- helpers for provider modules -----------------------------------------------------

    def set(self, key: str, value: Any) -> None:
        if value is None:
            return
        if self.content_level == NONE and not is_metadata_attribute(key):
            return
        if type(value) is bool or type(value) is float:
            self.span.attributes[key] = value
            return
        # Our own attribute names are never credential keys, so no key check; values are
        # still snapshotted and scrubbed.
        self.span.attributes[key] = to_jsonable(value, state.max_payload_chars)

    def set_reported(self, key: str, value: Any) -> None:
        """Short strings the provider reported about the call (response id, model, request
        id, finish reasons): what :meth:`set` records, without its dispatch on types.

        Still scrubbed: a proxy may echo the request's model string, secrets and all."""
        cls = type(value)
        limit = min(_REPORTED_MAX_CHARS, state.max_payload_chars)
        if cls is str:
            plain = len(value) <= limit
        elif cls is list:  # finish reasons
            plain = all(type(v) is str and len(v) <= limit for v in value)
        else:
            plain = False
        if not plain:
            self.set(key, value)
        elif self.content_level != NONE or is_metadata_attribute(key):
            scrub = _serialize.PRIVACY
            if scrub is not None:
                value = scrub.text(value) if cls is str else [scrub.text(v) for v in value]
            elif cls is list:
                value = list(value)
            self.span.attributes[key] = value

    def set_tool_calls(self, calls: list[dict[str, Any]]) -> None:
        """The call's tool calls; their arguments are content, kept in full/redacted modes."""
        if not calls:
            return
        level = self.content_level
        if level == NONE:
            return
        if level < REDACTED or not self.options.log_outputs:  # the arguments are output
            calls = [{"id": c.get("id"), "name": c.get("name")} for c in calls]
        self.span.attributes["tracekit.tool_calls"] = to_jsonable(
            calls, state.max_payload_chars, self.options.privacy()
        )

    def set_usage(self, usage: Mapping[str, int | None]) -> None:
        clean = usage_counts(usage)  # the same checks as Span.set_usage
        if "total_tokens" not in clean and "input_tokens" in clean and "output_tokens" in clean:
            clean["total_tokens"] = clean["input_tokens"] + clean["output_tokens"]
        self.span.usage = clean or None

    def set_model(self, model: str | None) -> None:
        if model:
            self.span.model = model
            self.set_reported("gen_ai.response.model", model)

    # -- life cycle -----------------------------------------------------------------------

    def end(self) -> None:
        if self.done:
            return
        self.done = True
        span = self.span
        if not self.unpriced:
            span.cost_usd = cost_usd(self.op.provider, span.model, span.usage)
        span.end()

    def fail(self, exc: BaseException) -> None:
        if self.done:
            return
        try:
            self.span._fail(exc)
            if self.op.record_error is not None:
                self.op.record_error(self, exc)
            self.set("error.type", type(exc).__qualname__)
        except Exception:
            internal_error(f"{self.op.provider} record error")
        self.end()

    def on_chunk(self, chunk: Any) -> bool:
        try:
            state_ = self.stream_state
            if state_ is not None:
                if state_.on_chunk(chunk):
                    return True  # hidden: the chunk count is what the caller iterated
            elif self.first_chunk_ns is None:  # the first token, for want of a reader
                self.first_chunk_ns = time.time_ns()
            self.chunks += 1
            return False
        except Exception:
            internal_error(f"{self.op.provider} stream chunk")
            return False

    def finish_stream(self, cancelled: bool, exc: BaseException | None = None) -> None:
        if self.done:
            return
        try:
            span = self.span
            state_ = self.stream_state
            if cancelled and state_ is not None and state_.complete:
                cancelled = False  # closed after the whole reply arrived
            span.set_attribute("tracekit.stream.chunks", self.chunks)
            first = self.first_chunk_ns if state_ is None else state_.first_token_ns
            if first is not None:
                span.set_attribute(
                    "tracekit.stream.time_to_first_token_ms", (first - span.start_time_ns) / 1e6
                )
            if cancelled:
                span.set_attribute("tracekit.stream.cancelled", True)
            if self.stream_state is not None:
                self.stream_state.finish(self, cancelled)
            if cancelled:
                span.set_attribute("gen_ai.response.finish_reasons", ["cancelled"])
        except Exception:
            internal_error(f"{self.op.provider} stream end")
        if exc is not None:
            self.fail(exc)
        else:
            self.end()


def record_inputs(call: LLMCall, inputs: Mapping[str, Any]) -> None:
    """Set the span's inputs (the prompt side) unless content is not to be captured."""
    options = call.options
    if options.log_inputs and call.content_level >= REDACTED:
        limit, privacy = state.max_payload_chars, options.privacy()
        call.span.inputs = {
            k: field_to_jsonable(k, v, limit, privacy) for k, v in inputs.items() if v is not None
        }


def record_outputs(call: LLMCall, outputs: Any) -> None:
    """Set the span's outputs (the generated side) unless content is not to be captured."""
    options = call.options
    if options.log_outputs and call.content_level >= REDACTED:
        call.span.outputs = to_jsonable(outputs, state.max_payload_chars, options.privacy())


def record_params(call: LLMCall, kwargs: Mapping[str, Any], content_keys: frozenset[str]) -> None:
    """Every request parameter except content, transport options and credentials."""
    attributes = call.span.attributes
    for key, value in kwargs.items():
        if key in content_keys or value is None:
            continue
        name = _param_attribute(key)
        if name is None:
            continue
        cls = type(value)
        if cls is float or cls is bool or (cls is int and JSON_INT_MIN <= value <= JSON_INT_MAX):
            # temperature, max_tokens, ...: as they are
            if call.content_level != NONE or is_metadata_attribute(name):
                attributes[name] = value
        elif cls.__name__ not in ("Omit", "NotGiven"):
            # parse(response_format=MyModel): record the class name, not its repr
            call.set(name, value.__name__ if isinstance(value, type) else value)


def _param_attribute(key: str) -> str | None:
    """The attribute a request argument is recorded under, None for those never recorded."""
    name = _PARAM_ATTRIBUTES.get(key, "")
    if name == "":
        skipped = key in _SKIPPED_KWARGS or _SECRET_KEY.search(key) is not None
        name = None if skipped else f"gen_ai.request.{key}"
        if len(_PARAM_ATTRIBUTES) < 1_000:  # argument names are few; a bound all the same
            _PARAM_ATTRIBUTES[key] = name
    return name


_PARAM_ATTRIBUTES: dict[str, str | None] = {}
# Longer "reported" strings are not ids: they take set()'s path like any other value.
_REPORTED_MAX_CHARS = 256


def given(value: Any) -> bool:
    """False for None and the SDKs' omit / NOT_GIVEN sentinels."""
    return value is not None and type(value).__name__ not in {"Omit", "NotGiven"}


# -- opening and closing spans ------------------------------------------------------------


def _begin(op: Operation, options: Options, kwargs: dict[str, Any]) -> LLMCall | None:
    try:
        model = kwargs.get("model")
        name = f"{op.name} {model}" if isinstance(model, str) and model else op.name
        span = new_span(name, op.span_type)
        if not isinstance(span, Span):
            return None
        span.provider = op.provider
        if isinstance(model, str):
            span.model = model
        call = LLMCall(op, options, span)
        # tracekit's own names: kept in every content mode, nothing in them to scrub
        attributes = span.attributes
        attributes["gen_ai.operation.name"] = op.name
        attributes["gen_ai.provider.name"] = op.provider
        call.set("gen_ai.request.model", model if isinstance(model, str) else None)
        op.record_request(call, kwargs)
        return call
    except Exception:
        internal_error(f"{op.provider} {op.name} request")
        return None


def _prepare(call: LLMCall, kwargs: dict[str, Any]) -> dict[str, Any]:
    prepare = call.op.prepare
    if prepare is None:
        return kwargs
    try:
        return prepare(call, kwargs)
    except Exception:
        internal_error(f"{call.op.provider} prepare")
        return kwargs


def _succeed(call: LLMCall, result: Any, kwargs: dict[str, Any]) -> Any:
    try:
        kind = call.op.classify(result)
        if kind == "stream":
            return _wrap_stream(call, result, kwargs)
        if kind == "raw":
            return _wrap_raw(call, result, kwargs)
        call.op.record_response(call, result)
    except Exception:
        internal_error(f"{call.op.provider} {call.op.name} response")
    call.end()
    return result


def _wrap_stream(call: LLMCall, stream: Any, kwargs: dict[str, Any]) -> Any:
    new_stream = call.op.new_stream
    call.stream_state = new_stream(call, kwargs) if new_stream is not None else None
    if "tracekit.request_id" not in call.span.attributes:
        response = getattr(stream, "response", None)
        call.set_reported("tracekit.request_id", _header(response, call.op.request_id_header))
    if hasattr(stream, "__aiter__"):
        return AsyncStreamProxy(stream, call)
    return StreamProxy(stream, call)


def _header(response: Any, name: str) -> str | None:
    """One header of an HTTP response, or None (a header lookup walks every header)."""
    headers = getattr(response, "headers", None)
    found = headers.get(name) if headers is not None else None
    return found if isinstance(found, str) else None


def _parse_raw_now(raw: Any, kwargs: Mapping[str, Any]) -> bool:
    """Whether ``raw`` is a with_raw_response result with a complete (not streamed) body.

    parse() is cached per type, so parsing it here is invisible to the caller, who gets the
    very same object back (the SDK has read such a body already)."""
    headers = kwargs.get("extra_headers") or {}
    mode = headers.get("X-Stainless-Raw-Response") if isinstance(headers, Mapping) else None
    return mode in ("true", "raw") and not kwargs.get("stream")


def _is_async_response(raw: Any) -> bool:
    # AsyncAPIResponse has no __aenter__ (only its context manager does); its parse() is async.
    return inspect.iscoroutinefunction(getattr(type(raw), "parse", None))


def _record_parsed(call: LLMCall, raw: Any, parsed: Any) -> Any:
    try:
        call.op.record_response(call, parsed)
        call.set_reported("tracekit.request_id", getattr(raw, "request_id", None))
    except Exception:
        internal_error(f"{call.op.provider} {call.op.name} raw response")
    call.end()
    return raw


def _wrap_raw(call: LLMCall, raw: Any, kwargs: dict[str, Any]) -> Any:
    if _parse_raw_now(raw, kwargs) and not _is_async_response(raw):
        return _record_parsed(call, raw, raw.parse())
    return RawResponseProxy(raw, call, kwargs)


async def _succeed_async(call: LLMCall, result: Any, kwargs: dict[str, Any]) -> Any:
    """_succeed for an async client: an async with_raw_response body is parsed here, where it
    can be awaited, like the sync one."""
    try:
        raw = call.op.classify(result) == "raw" and _parse_raw_now(result, kwargs)
        if raw and _is_async_response(result):
            parsed = await result.parse()
            return _record_parsed(call, result, parsed)
    except Exception:
        internal_error(f"{call.op.provider} {call.op.name} raw response")
        call.end()
        return result
    except BaseException:  # the task was cancelled while the body was parsed
        call.end()
        raise
    return _succeed(call, result, kwargs)


def run_sync(
    op: Operation, options: Options, kwargs: dict[str, Any], send: Callable[[dict[str, Any]], Any]
) -> Any:
    """Make one SDK request, ``send(kwargs)``, inside an LLM span."""
    if not state.enabled or not options.active or _IN_LLM_CALL.get():
        return send(kwargs)
    call = _begin(op, options, kwargs)
    if call is None:
        return send(kwargs)
    sdk_kwargs = _prepare(call, kwargs)
    guard = _IN_LLM_CALL.set(True)
    token = CURRENT_SPAN.set(call.span)
    try:
        result = send(sdk_kwargs)
    except BaseException as exc:
        CURRENT_SPAN.reset(token)
        _IN_LLM_CALL.reset(guard)
        call.fail(exc)
        raise
    CURRENT_SPAN.reset(token)
    _IN_LLM_CALL.reset(guard)
    return _succeed(call, result, sdk_kwargs)


async def run_async(
    op: Operation, options: Options, kwargs: dict[str, Any], send: Callable[[dict[str, Any]], Any]
) -> Any:
    """The async twin of :func:`run_sync`; ``send(kwargs)`` returns an awaitable."""
    if not state.enabled or not options.active or _IN_LLM_CALL.get():
        return await send(kwargs)
    call = _begin(op, options, kwargs)
    if call is None:
        return await send(kwargs)
    sdk_kwargs = _prepare(call, kwargs)
    guard = _IN_LLM_CALL.set(True)
    token = CURRENT_SPAN.set(call.span)
    try:
        result = await send(sdk_kwargs)
    except BaseException as exc:
        CURRENT_SPAN.reset(token)
        _IN_LLM_CALL.reset(guard)
        call.fail(exc)
        raise
    CURRENT_SPAN.reset(token)
    _IN_LLM_CALL.reset(guard)
    return await _succeed_async(call, result, sdk_kwargs)


def sync_wrapper(op: Operation, options: Options) -> Callable[..., Any]:
    """The wrapt wrapper for a synchronous SDK method."""

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if not state.enabled or not options.active:
            return wrapped(*args, **kwargs)
        return run_sync(op, options, kwargs, lambda kw: wrapped(*args, **kw))

    return wrapper


def async_wrapper(op: Operation, options: Options) -> Callable[..., Any]:
    """The wrapt wrapper for an ``async def`` SDK method."""

    async def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if not state.enabled or not options.active:
            return await wrapped(*args, **kwargs)
        return await run_async(op, options, kwargs, lambda kw: wrapped(*args, **kw))

    return wrapper


def call_of(obj: Any) -> LLMCall | None:
    """The LLMCall behind one of our stream proxies (for helper streams' close())."""
    call = getattr(obj, "_self_call", None)
    return call if isinstance(call, LLMCall) else None


# -- proxies --------------------------------------------------------------------------------

# wrapt 1.x classes cannot be subscripted at run time; only the type checker sees the generic.
if TYPE_CHECKING:
    _ObjectProxy = wrapt.ObjectProxy[Any]
else:
    _ObjectProxy = wrapt.ObjectProxy


class StreamProxy(_ObjectProxy):
    """A sync SDK stream that ends its span on exhaustion, error, close, ``with`` exit or GC.

    ``isinstance`` checks against the SDK's stream class still pass (except on old anthropic
    releases whose stream metaclass accepts only the exact type), and every chunk reaches the
    caller unchanged, as it arrives.
    """

    def __init__(self, wrapped: Any, call: LLMCall) -> None:
        super().__init__(wrapped)
        self._self_call = call

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        call = self._self_call
        while True:
            try:
                chunk = self.__wrapped__.__next__()
            except StopIteration:
                call.finish_stream(cancelled=False)
                raise
            except BaseException as exc:
                call.finish_stream(cancelled=False, exc=exc)
                raise
            if not call.on_chunk(chunk):
                return chunk

    def __enter__(self) -> StreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            self._self_call.finish_stream(cancelled=True)

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_call.finish_stream(cancelled=True)

    def __del__(self) -> None:
        call = getattr(self, "_self_call", None)
        if call is not None and not call.done:
            call.finish_stream(cancelled=True)


class AsyncStreamProxy(_ObjectProxy):
    """The async twin of :class:`StreamProxy`."""

    def __init__(self, wrapped: Any, call: LLMCall) -> None:
        super().__init__(wrapped)
        self._self_call = call

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        call = self._self_call
        while True:
            try:
                chunk = await self.__wrapped__.__anext__()
            except StopAsyncIteration:
                call.finish_stream(cancelled=False)
                raise
            except asyncio.CancelledError:  # the task was cancelled: the stream was, too
                call.finish_stream(cancelled=True)
                raise
            except BaseException as exc:
                call.finish_stream(cancelled=False, exc=exc)
                raise
            if not call.on_chunk(chunk):
                return chunk

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            self._self_call.finish_stream(cancelled=True)

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_call.finish_stream(cancelled=True)

    async def aclose(self) -> None:
        inner = self.__wrapped__
        try:
            await (inner.aclose() if hasattr(inner, "aclose") else inner.close())
        finally:
            self._self_call.finish_stream(cancelled=True)

    def __del__(self) -> None:
        call = getattr(self, "_self_call", None)
        if call is not None and not call.done:
            call.finish_stream(cancelled=True)


class RawResponseProxy(_ObjectProxy):
    """``with_raw_response`` / ``with_streaming_response`` results: the span takes its data
    from ``parse()`` (a stream is wrapped as usual) and ends by ``close()`` at the latest."""

    def __init__(self, wrapped: Any, call: LLMCall, kwargs: dict[str, Any]) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_kwargs = kwargs
        self._self_parsed: dict[int, Any] = {}
        try:
            call.set_reported("tracekit.request_id", getattr(wrapped, "request_id", None))
        except Exception:
            internal_error("raw response request id")

    def _self_take(self, parsed: Any) -> Any:
        call = self._self_call
        if call.done:
            return parsed
        key = id(parsed)
        if key in self._self_parsed:
            return self._self_parsed[key]
        try:
            if call.op.classify(parsed) == "stream":
                proxy = _wrap_stream(call, parsed, self._self_kwargs)
                self._self_parsed[key] = proxy
                return proxy
            call.op.record_response(call, parsed)
        except Exception:
            internal_error("raw response parse")
        call.end()
        return parsed

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        result = self.__wrapped__.parse(*args, **kwargs)
        if hasattr(result, "__await__"):  # AsyncAPIResponse.parse is a coroutine
            return self._self_await(result)
        return self._self_take(result)

    async def _self_await(self, pending: Any) -> Any:
        return self._self_take(await pending)

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_end_if_unparsed()

    def _self_end_if_unparsed(self) -> None:
        call = self._self_call
        if call.done:
            return
        if call.stream_state is not None:
            # parse() handed out a stream that was not read to its end: the response is
            # closed now (e.g. by leaving `with ...with_streaming_response...`), so is it.
            call.finish_stream(cancelled=True)
        else:
            call.end()

    def __del__(self) -> None:
        if getattr(self, "_self_call", None) is not None:
            self._self_end_if_unparsed()


__all__ = [
    "AsyncStreamProxy",
    "LLMCall",
    "Operation",
    "Options",
    "RawResponseProxy",
    "StreamProxy",
    "StreamState",
    "async_wrapper",
    "call_of",
    "check_content_mode",
    "classify_result",
    "given",
    "record_inputs",
    "record_outputs",
    "record_params",
    "run_async",
    "run_sync",
    "switch",
    "sync_wrapper",
]
