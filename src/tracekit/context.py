"""Carrying the current span across threads.

asyncio tasks inherit the current span by themselves. Threads do not: a new thread starts with
an empty context. tracekit therefore

- makes tasks submitted to a ``concurrent.futures.ThreadPoolExecutor`` (including
  ``loop.run_in_executor`` and ``executor.map``) children of the span that was current at
  ``submit()`` time — on by default, switch off with ``configure(propagate_to_threads=False)``;
- offers :func:`wrap` and :func:`run_in` for raw ``threading.Thread`` targets and callbacks;
- carries a trace across processes with W3C ``traceparent`` headers: :func:`inject`,
  :func:`extract`.

Only tracekit's own context variable is carried over; other context variables of the app
(``decimal`` contexts, request-local state) are left exactly as they were.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, MutableMapping
from concurrent.futures import Future, ThreadPoolExecutor
from random import getrandbits
from typing import Any, ParamSpec, TypeVar

from ._spans import CURRENT_SPAN, NonRecordingSpan, RemoteParent, Span

__all__ = ["RemoteParent", "TraceContext", "capture", "extract", "inject", "run_in", "wrap"]

P = ParamSpec("P")
R = TypeVar("R")

TraceContext = Span | NonRecordingSpan | RemoteParent | None
"""What :func:`capture` returns: the span to resume under (``None`` when there was none)."""


def capture() -> TraceContext:
    """Capture the current span, to resume it later in another thread with :func:`run_in`.

    Example:
        >>> ctx = tracekit.context.capture()
        >>> threading.Thread(target=tracekit.context.run_in, args=(ctx, work)).start()
    """
    return CURRENT_SPAN.get()


def run_in(ctx: TraceContext, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Call ``fn(*args, **kwargs)`` with ``ctx`` (from :func:`capture`) as the current span."""
    token = CURRENT_SPAN.set(ctx)
    try:
        return fn(*args, **kwargs)
    finally:
        CURRENT_SPAN.reset(token)


def wrap(fn: Callable[P, R]) -> Callable[P, R]:
    """Bind ``fn`` to the span current now, so it runs as that span's child wherever it is called.

    Example:
        >>> with tracekit.span("fan-out"):
        ...     t = threading.Thread(target=tracekit.context.wrap(work)); t.start()
    """
    ctx = CURRENT_SPAN.get()

    @functools.wraps(fn)
    def bound(*args: P.args, **kwargs: P.kwargs) -> R:
        token = CURRENT_SPAN.set(ctx)
        try:
            return fn(*args, **kwargs)
        finally:
            CURRENT_SPAN.reset(token)

    return bound


_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$")


def inject(headers: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Add a W3C ``traceparent`` header for the current span to ``headers`` (and return them).

    Nothing is added outside a trace. The callee continues the trace with :func:`extract`.

    Example:
        >>> headers = tracekit.context.inject({})
        >>> requests.post(url, headers=headers)
    """
    span = CURRENT_SPAN.get()
    if span is None or not span.trace_id:
        return headers
    # Inside a trace that is not recorded the stand-in span has no id; any id will do for
    # the callee, which then continues the same (unsampled) trace instead of starting one.
    span_id = span.span_id or (getrandbits(64) or 1).to_bytes(8, "big").hex()
    flags = "01" if span.is_recording or getattr(span, "sampled", False) else "00"
    headers["traceparent"] = f"00-{span.trace_id}-{span_id}-{flags}"
    return headers


def extract(headers: Mapping[str, str]) -> RemoteParent | None:
    """Read a W3C ``traceparent`` header; None when absent or malformed.

    Use the result as ``parent=`` of :func:`tracekit.start_span`, or run code under it with
    :func:`run_in`: roots started there join the caller's trace.

    Example:
        >>> parent = tracekit.context.extract(request.headers)
        >>> tracekit.context.run_in(parent, handle, request)
    """
    raw = None
    for key, value in headers.items():
        if key.lower() == "traceparent":
            raw = value
            break
    if not isinstance(raw, str):
        return None
    match = _TRACEPARENT.match(raw.strip().lower())
    if match is None:
        return None
    version, trace_id, span_id, flags = match.groups()
    if version == "ff" or set(trace_id) == {"0"} or set(span_id) == {"0"}:
        return None
    return RemoteParent(trace_id, span_id, sampled=bool(int(flags, 16) & 1))


_original_submit: Callable[..., Future[Any]] | None = None


def _submit_with_span(
    self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
) -> Future[Any]:
    assert _original_submit is not None
    ctx = CURRENT_SPAN.get()
    if ctx is not None:
        return _original_submit(self, run_in, ctx, fn, *args, **kwargs)
    return _original_submit(self, fn, *args, **kwargs)


def set_thread_propagation(enabled: bool) -> None:
    """Install or remove the ``ThreadPoolExecutor.submit`` hook (idempotent)."""
    global _original_submit
    if enabled and _original_submit is None:
        _original_submit = ThreadPoolExecutor.submit
        ThreadPoolExecutor.submit = _submit_with_span  # type: ignore[method-assign,assignment]
    elif not enabled and _original_submit is not None:
        if ThreadPoolExecutor.submit is _submit_with_span:
            ThreadPoolExecutor.submit = _original_submit  # type: ignore[method-assign]
        _original_submit = None
