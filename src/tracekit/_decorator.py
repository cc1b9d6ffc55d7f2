"""``@tracekit.trace``: spans around functions, coroutines and (async) generators."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import Any, TypeVar, overload

from ._internal import internal_error, state
from ._privacy import REDACTED
from ._serialize import field_to_jsonable, to_jsonable
from ._spans import CURRENT_SPAN, NOOP_SPAN, SpanType, parse_span_type
from ._tracer import AnySpan, new_span

F = TypeVar("F", bound=Callable[..., Any])


class _ArgBinder:
    """Maps a call's arguments to a dict by parameter name, defaults applied.

    The common case (no ``*args``/``**kwargs`` in the signature) avoids ``Signature.bind``,
    which costs several microseconds per call.
    """

    __slots__ = ("defaults", "fast", "names", "signature", "skip_first")

    def __init__(self, func: Callable[..., Any]) -> None:
        try:
            self.signature: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):
            self.signature = None
        params = list(self.signature.parameters.values()) if self.signature else []
        # Methods: leave out self/cls, which say nothing about the call and may be huge.
        self.skip_first = bool(params) and params[0].name in {"self", "cls"}
        self.fast = self.signature is not None and all(
            p.kind is not p.VAR_POSITIONAL and p.kind is not p.VAR_KEYWORD for p in params
        )
        self.names = tuple(p.name for p in params)
        self.defaults = tuple(
            (p.name, p.default) for p in params if p.default is not inspect.Parameter.empty
        )

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if not self.names:
            return {}
        if self.fast:
            bound = dict(zip(self.names, args, strict=False))
            if kwargs:
                bound.update(kwargs)
            if len(bound) < len(self.names) and self.defaults:
                for key, default in self.defaults:
                    bound.setdefault(key, default)
                bound = {k: bound[k] for k in self.names if k in bound}
        elif self.signature is not None:
            try:
                ba = self.signature.bind(*args, **kwargs)
            except TypeError:
                return {"args": args, "kwargs": kwargs}
            ba.apply_defaults()
            bound = dict(ba.arguments)
        else:
            return {"args": args, "kwargs": kwargs}
        if self.skip_first and self.names:
            bound.pop(self.names[0], None)
        return bound


def _capture_inputs(span: AnySpan, binder: _ArgBinder, args: Any, kwargs: Any) -> None:
    if state.content_level < REDACTED:
        return
    try:
        bound = binder.bind(args, kwargs)
        limit = state.max_payload_chars
        # By parameter name, so an `api_key` argument is redacted whatever its value.
        span.inputs = {k: field_to_jsonable(k, v, limit) for k, v in bound.items()}  # type: ignore[union-attr]
    except Exception:
        internal_error("capture inputs")


def _start(
    name: str,
    span_type: SpanType,
    attributes: Mapping[str, Any] | None,
    binder: _ArgBinder | None,
    args: Any,
    kwargs: Any,
) -> AnySpan:
    span = new_span(name, span_type)
    if span.is_recording:
        _record_start(span, attributes, binder, args, kwargs)
    return span


def _record_start(
    span: AnySpan,
    attributes: Mapping[str, Any] | None,
    binder: _ArgBinder | None,
    args: Any,
    kwargs: Any,
) -> None:
    if attributes:
        span.set_attributes(attributes)
    if binder is not None:
        _capture_inputs(span, binder, args, kwargs)


def _default_name(func: Callable[..., Any]) -> str:
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    return str(qualname or type(func).__name__).rpartition("<locals>.")[2]


@overload
def trace(func: F, /) -> F: ...


@overload
def trace(
    *,
    name: str | None = None,
    span_type: SpanType | str = SpanType.UNKNOWN,
    attributes: Mapping[str, Any] | None = None,
    capture_inputs: bool = True,
    capture_output: bool = True,
) -> Callable[[F], F]: ...


def trace(
    func: Any = None,
    /,
    *,
    name: str | None = None,
    span_type: SpanType | str = SpanType.UNKNOWN,
    attributes: Mapping[str, Any] | None = None,
    capture_inputs: bool = True,
    capture_output: bool = True,
) -> Any:
    """Record each call of the decorated function as a span.

    Works on functions, methods, classmethods, staticmethods, ``async def`` functions,
    generators and async generators. Arguments are captured as a dict by parameter name
    (``self``/``cls`` left out, defaults applied) and the return value as the output; a
    generator's span lasts until it is exhausted, closed or garbage-collected, and its output
    is the list of yielded items (at most ``max_generator_items``). An exception is recorded
    and re-raised unchanged.

    Args:
        name: span name; defaults to the function's qualified name.
        span_type: a ``SpanType`` or its string value.
        attributes: static attributes set on every span.
        capture_inputs: record the arguments.
        capture_output: record the return value (or yielded items).

    Example:
        >>> @tracekit.trace(span_type="TOOL")
        ... def get_weather(city: str) -> str:
        ...     return "sunny"
    """
    kind = parse_span_type(span_type)  # a bad span_type fails here, at decoration time
    if attributes is not None and not isinstance(attributes, Mapping):
        raise TypeError(f"attributes must be a mapping, got {type(attributes).__name__}")

    def decorate(fn: Any) -> Any:
        if isinstance(fn, (classmethod, staticmethod)):
            return type(fn)(decorate(fn.__func__))
        if not callable(fn):
            raise TypeError(f"@tracekit.trace needs a callable, got {type(fn).__name__}")
        span_name = name if name is not None else _default_name(fn)
        binder = _ArgBinder(fn) if capture_inputs else None
        if binder is not None and not binder.names:
            binder = None  # nothing to capture: skip the call on every invocation
        attrs = dict(attributes) if attributes else None
        if inspect.isasyncgenfunction(fn):
            return _wrap_async_generator(fn, span_name, kind, attrs, binder, capture_output)
        if inspect.isgeneratorfunction(fn):
            return _wrap_generator(fn, span_name, kind, attrs, binder, capture_output)
        if inspect.iscoroutinefunction(fn):
            return _wrap_coroutine(fn, span_name, kind, attrs, binder, capture_output)
        return _wrap_function(fn, span_name, kind, attrs, binder, capture_output)

    if func is None:
        return decorate
    return decorate(func)


def _wrap_function(
    fn: Callable[..., Any],
    name: str,
    kind: SpanType,
    attrs: dict[str, Any] | None,
    binder: _ArgBinder | None,
    capture_output: bool,
) -> Callable[..., Any]:
    capture_start = bool(attrs) or binder is not None

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not state.enabled:
            return fn(*args, **kwargs)
        span = new_span(name, kind)
        recording = span.is_recording
        if recording and capture_start:
            _record_start(span, attrs, binder, args, kwargs)
        token = CURRENT_SPAN.set(span)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            CURRENT_SPAN.reset(token)
            span._fail(exc)
            span.end()
            raise
        CURRENT_SPAN.reset(token)
        if recording:
            # None is what an unset output already is; skipping it also keeps an output the
            # function set itself through get_current_span().set_outputs().
            if capture_output and result is not None:
                span.set_outputs(result)
            span.end()
        return result

    return wrapper


def _wrap_coroutine(
    fn: Callable[..., Any],
    name: str,
    kind: SpanType,
    attrs: dict[str, Any] | None,
    binder: _ArgBinder | None,
    capture_output: bool,
) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not state.enabled:
            return await fn(*args, **kwargs)
        span = _start(name, kind, attrs, binder, args, kwargs)
        recording = span.is_recording
        token = CURRENT_SPAN.set(span)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            CURRENT_SPAN.reset(token)
            span._fail(exc)
            span.end()
            raise
        CURRENT_SPAN.reset(token)
        if recording:
            # None is what an unset output already is; skipping it also keeps an output the
            # function set itself through get_current_span().set_outputs().
            if capture_output and result is not None:
                span.set_outputs(result)
            span.end()
        return result

    return wrapper


class _ItemCollector:
    """Bounded snapshot of what a generator yielded."""

    __slots__ = ("items", "limit", "seen")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.limit = state.max_generator_items
        self.seen = 0

    def add(self, item: Any) -> None:
        self.seen += 1
        if self.seen <= self.limit and state.content_level >= REDACTED:
            try:
                self.items.append(to_jsonable(item, state.max_payload_chars))
            except Exception:
                internal_error("collect generator item")

    def finish(self, span: AnySpan, capture: bool, closed_early: bool) -> None:
        if not span.is_recording:
            return
        if capture:
            span.outputs = self.items  # type: ignore[union-attr]
            if self.seen > self.limit:
                span.set_attribute("tracekit.generator.items_not_recorded", self.seen - self.limit)
        span.set_attribute("tracekit.generator.items", self.seen)
        if closed_early:
            span.set_attribute("tracekit.generator.closed_early", True)


def _wrap_generator(
    fn: Callable[..., Generator[Any, Any, Any]],
    name: str,
    kind: SpanType,
    attrs: dict[str, Any] | None,
    binder: _ArgBinder | None,
    capture_output: bool,
) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        if not state.enabled:
            return (yield from fn(*args, **kwargs))
        span = _start(name, kind, attrs, binder, args, kwargs)
        collected = _ItemCollector()
        # The span is current only while the generator body runs, never across a yield,
        # so it does not leak into the consumer's code.
        token = CURRENT_SPAN.set(span)
        try:
            gen = fn(*args, **kwargs)
        except BaseException as exc:
            CURRENT_SPAN.reset(token)
            span._fail(exc)
            span.end()
            raise
        CURRENT_SPAN.reset(token)
        to_send: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                token = CURRENT_SPAN.set(span)
                try:
                    if to_throw is not None:
                        pending, to_throw = to_throw, None
                        item = gen.throw(pending)
                    else:
                        item = gen.send(to_send)
                except StopIteration as stop:
                    CURRENT_SPAN.reset(token)
                    collected.finish(span, capture_output, closed_early=False)
                    span.end()
                    return stop.value
                except BaseException as exc:
                    CURRENT_SPAN.reset(token)
                    collected.finish(span, capture_output, closed_early=False)
                    span._fail(exc)
                    span.end()
                    raise
                CURRENT_SPAN.reset(token)
                collected.add(item)
                try:
                    to_send = yield item
                except GeneratorExit:
                    raise
                except BaseException as exc:
                    to_throw = exc
        except GeneratorExit:
            # Closed by the consumer, by `break` + close(), or by garbage collection.
            token = CURRENT_SPAN.set(span)
            try:
                gen.close()
            finally:
                CURRENT_SPAN.reset(token)
                collected.finish(span, capture_output, closed_early=True)
                span.end()
            raise

    return wrapper


def _wrap_async_generator(
    fn: Callable[..., AsyncGenerator[Any, Any]],
    name: str,
    kind: SpanType,
    attrs: dict[str, Any] | None,
    binder: _ArgBinder | None,
    capture_output: bool,
) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        # There is no `yield from` for async generators, so asend/athrow/aclose are relayed by
        # hand; with tracing disabled the same relay runs without touching the context.
        span = _start(name, kind, attrs, binder, args, kwargs) if state.enabled else NOOP_SPAN
        tracked = span is not NOOP_SPAN
        collected = _ItemCollector()
        token = CURRENT_SPAN.set(span) if tracked else None
        try:
            agen = fn(*args, **kwargs)
        except BaseException as exc:
            if token is not None:
                CURRENT_SPAN.reset(token)
            span._fail(exc)
            span.end()
            raise
        if token is not None:
            CURRENT_SPAN.reset(token)
        to_send: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                token = CURRENT_SPAN.set(span) if tracked else None
                try:
                    if to_throw is not None:
                        pending, to_throw = to_throw, None
                        item = await agen.athrow(pending)
                    else:
                        item = await agen.asend(to_send)
                except StopAsyncIteration:
                    if token is not None:
                        CURRENT_SPAN.reset(token)
                    collected.finish(span, capture_output, closed_early=False)
                    span.end()
                    return
                except BaseException as exc:
                    if token is not None:
                        CURRENT_SPAN.reset(token)
                    collected.finish(span, capture_output, closed_early=False)
                    span._fail(exc)
                    span.end()
                    raise
                if token is not None:
                    CURRENT_SPAN.reset(token)
                if tracked:
                    collected.add(item)
                try:
                    to_send = yield item
                except GeneratorExit:
                    raise
                except BaseException as exc:
                    to_throw = exc
        except GeneratorExit:
            token = CURRENT_SPAN.set(span) if tracked else None
            try:
                await agen.aclose()
            finally:
                if token is not None:
                    CURRENT_SPAN.reset(token)
                collected.finish(span, capture_output, closed_early=True)
                span.end()
            raise

    return wrapper
