"""Carrying the current span across threads.

asyncio tasks inherit the current span by themselves. Threads do not: a new thread starts with
an empty context. tracekit therefore

- makes tasks submitted to a ``concurrent.futures.ThreadPoolExecutor`` (including
  ``loop.run_in_executor`` and ``executor.map``) children of the span that was current at
  ``submit()`` time — on by default, switch off with ``configure(propagate_to_threads=False)``;
- offers :func:`wrap` and :func:`run_in` for raw ``threading.Thread`` targets and callbacks.

Only tracekit's own context variable is carried over; other context variables of the app
(``decimal`` contexts, request-local state) are left exactly as they were.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from ._spans import CURRENT_SPAN, NonRecordingSpan, Span

__all__ = ["TraceContext", "capture", "run_in", "wrap"]

P = ParamSpec("P")
R = TypeVar("R")

TraceContext = Span | NonRecordingSpan | None
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
