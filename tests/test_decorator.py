"""@tracekit.trace on every kind of callable."""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
from typing import Any

import pytest

import tracekit
from tracekit import SpanType


def test_sync_function_records_inputs_output_and_timing(collected: Any) -> None:
    """A plain function becomes a span with args by name, defaults applied, and its result."""

    @tracekit.trace
    def add(a: int, b: int = 2, *, c: int = 3) -> int:
        return a + b + c

    assert add(1, c=10) == 13
    span = collected.span("add")
    assert span["inputs"] == {"a": 1, "b": 2, "c": 10}
    assert span["outputs"] == 13
    assert span["span_type"] == "UNKNOWN"
    assert span["status"] == "OK"
    assert span["parent_span_id"] is None
    assert span["end_time_ns"] >= span["start_time_ns"]
    assert len(span["span_id"]) == 16
    assert len(span["trace_id"]) == 32


def test_output_set_inside_and_none_returned_is_kept(collected: Any) -> None:
    """A function that sets its span's output itself and returns None keeps that output, sync
    and async; a function returning a value records the value."""

    @tracekit.trace
    def sync_step() -> None:
        tracekit.get_current_span().set_outputs({"rows": 3})

    @tracekit.trace
    async def async_step() -> None:
        tracekit.get_current_span().set_outputs("done")

    @tracekit.trace
    def returns_none() -> None:
        return None

    sync_step()
    asyncio.run(async_step())
    returns_none()
    assert collected.span("sync_step")["outputs"] == {"rows": 3}
    assert collected.span("async_step")["outputs"] == "done"
    assert collected.span("returns_none")["outputs"] is None


def test_options_name_type_attributes_and_capture_off(collected: Any) -> None:
    """name/span_type/attributes apply; capture_inputs/capture_output=False record nothing."""

    @tracekit.trace(
        name="lookup",
        span_type=SpanType.TOOL,
        attributes={"team": "search"},
        capture_inputs=False,
        capture_output=False,
    )
    def secret(password: str) -> str:
        return password[::-1]

    assert secret("hunter2") == "2retnuh"
    span = collected.span("lookup")
    assert span["span_type"] == "TOOL"
    assert span["attributes"] == {"team": "search"}
    assert span["inputs"] is None
    assert span["outputs"] is None


def test_span_type_as_lowercase_string(collected: Any) -> None:
    """span_type accepts the enum's string value in any case."""

    @tracekit.trace(span_type="retriever")
    def fetch() -> list[str]:
        return ["doc"]

    fetch()
    assert collected.span("fetch")["span_type"] == "RETRIEVER"


def test_bad_span_type_fails_at_decoration() -> None:
    """An unknown span_type is a clear error when decorating, not at call time."""
    with pytest.raises(ValueError, match="span_type must be one of"):
        tracekit.trace(span_type="FOO")


def test_exception_is_recorded_and_the_same_object_reraised(collected: Any) -> None:
    """The exception gets type, message and stack trace; the caller sees the same object."""
    err = KeyError("missing")

    @tracekit.trace
    def boom() -> None:
        raise err

    with pytest.raises(KeyError) as info:
        boom()
    assert info.value is err
    span = collected.span("boom")
    assert span["status"] == "ERROR"
    assert span["error"]["type"] == "KeyError"
    assert span["error"]["message"] == "'missing'"
    assert "raise err" in span["error"]["stacktrace"]
    assert collected.trace()["status"] == "ERROR"


def test_wraps_preserves_metadata_and_signature() -> None:
    """Name, docstring, signature and function kind survive decoration."""

    async def coro(x: int) -> int:
        """Doc."""
        return x

    def gen(n: int) -> Any:
        yield n

    async def agen(n: int) -> Any:
        yield n

    def plain(a: int, b: str = "x") -> str:
        """Plain doc."""
        return b * a

    traced = tracekit.trace(plain)
    assert traced.__name__ == "plain"
    assert traced.__doc__ == "Plain doc."
    assert inspect.signature(traced) == inspect.signature(plain)
    assert inspect.iscoroutinefunction(tracekit.trace(coro))
    assert inspect.isgeneratorfunction(tracekit.trace(gen))
    assert inspect.isasyncgenfunction(tracekit.trace(agen))
    assert tracekit.trace(coro).__doc__ == "Doc."


def test_async_function(collected: Any) -> None:
    """An async function's span covers the awaited call and captures its result."""

    @tracekit.trace
    async def fetch(x: int) -> int:
        await asyncio.sleep(0.01)
        return x * 2

    assert asyncio.run(fetch(21)) == 42
    span = collected.span("fetch")
    assert span["inputs"] == {"x": 21}
    assert span["outputs"] == 42
    assert span["duration_ms"] >= 9


def test_async_exception_same_object(collected: Any) -> None:
    """An exception in a coroutine is recorded and re-raised unchanged."""
    err = RuntimeError("nope")

    @tracekit.trace
    async def fail() -> None:
        raise err

    with pytest.raises(RuntimeError) as info:
        asyncio.run(fail())
    assert info.value is err
    assert collected.span("fail")["status"] == "ERROR"


def test_methods_classmethods_staticmethods(collected: Any) -> None:
    """self and cls are left out of the inputs; all three method kinds work."""

    class Agent:
        factor = 3

        def __init__(self) -> None:
            self.big = "x" * 10

        @tracekit.trace
        def run(self, q: str) -> str:
            return q.upper()

        @tracekit.trace
        @classmethod
        def make(cls, n: int) -> int:
            return n * cls.factor

        @classmethod
        @tracekit.trace
        def make2(cls, n: int) -> int:
            return n + cls.factor

        @tracekit.trace
        @staticmethod
        def helper(x: int) -> int:
            return -x

    agent = Agent()
    assert agent.run("hi") == "HI"
    assert Agent.make(2) == 6
    assert Agent.make2(2) == 5
    assert Agent.helper(4) == -4
    assert agent.helper(4) == -4
    spans = {s["name"]: s for s in collected.spans()}
    assert spans["Agent.run"]["inputs"] == {"q": "hi"}
    assert spans["Agent.make"]["inputs"] == {"n": 2}
    assert spans["Agent.make2"]["inputs"] == {"n": 2}
    assert spans["Agent.helper"]["inputs"] == {"x": 4}


def test_var_args_and_kwargs_are_captured(collected: Any) -> None:
    """*args and **kwargs land under their parameter names."""

    @tracekit.trace
    def f(a: int, *rest: int, flag: bool = False, **extra: Any) -> int:
        return a + sum(rest)

    assert f(1, 2, 3, flag=True, mode="x") == 6
    assert collected.span("f")["inputs"] == {
        "a": 1,
        "rest": [2, 3],
        "flag": True,
        "extra": {"mode": "x"},
    }


def test_generator_span_lasts_until_exhausted(collected: Any) -> None:
    """A generator's span ends when it is exhausted; yielded items are the output."""

    @tracekit.trace
    def count(n: int) -> Any:
        yield from range(n)

    gen = count(3)
    assert collected.traces() == []  # nothing ended yet
    assert list(gen) == [0, 1, 2]
    span = collected.span("count")
    assert span["outputs"] == [0, 1, 2]
    assert span["attributes"]["tracekit.generator.items"] == 3


def test_generator_closed_early_and_garbage_collected(collected: Any) -> None:
    """Breaking out (close) and dropping a generator (GC) both end its span."""

    @tracekit.trace
    def numbers() -> Any:
        i = 0
        while True:
            yield i
            i += 1

    gen = numbers()
    for value in gen:
        if value == 2:
            break
    gen.close()
    other = numbers()
    next(other)
    del other
    gc.collect()
    spans = [s for s in collected.spans() if s["name"] == "numbers"]
    assert len(spans) == 2
    assert all(s["attributes"]["tracekit.generator.closed_early"] is True for s in spans)
    assert sorted(len(s["outputs"]) for s in spans) == [1, 3]


def test_generator_items_bounded(collected: Any) -> None:
    """Only max_generator_items items are recorded; the rest are counted."""
    tracekit.configure(exporters=[collected.exporter], max_generator_items=5)

    @tracekit.trace
    def many() -> Any:
        yield from range(100)

    assert sum(many()) == 4950
    span = collected.span("many")
    assert span["outputs"] == [0, 1, 2, 3, 4]
    assert span["attributes"]["tracekit.generator.items_not_recorded"] == 95


def test_generator_send_throw_and_return_value(collected: Any) -> None:
    """send() and throw() reach the inner generator; its return value survives."""

    @tracekit.trace
    def echo() -> Any:
        received = []
        try:
            while True:
                received.append((yield len(received)))
        except ValueError:
            return received

    gen = echo()
    assert next(gen) == 0
    assert gen.send("a") == 1
    with pytest.raises(StopIteration) as stop:
        gen.throw(ValueError("done"))
    assert stop.value.value == ["a"]
    assert collected.span("echo")["status"] == "OK"


def test_generator_error_recorded(collected: Any) -> None:
    """An exception inside a generator ends its span with ERROR and propagates."""

    @tracekit.trace
    def bad() -> Any:
        yield 1
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        list(bad())
    span = collected.span("bad")
    assert span["status"] == "ERROR"
    assert span["outputs"] == [1]


def test_generator_span_not_current_between_yields(collected: Any) -> None:
    """The consumer's code between items runs under the consumer's span, not the generator's."""

    @tracekit.trace
    def produce() -> Any:
        yield 1
        yield 2

    with tracekit.span("consumer"):
        for _ in produce():
            with tracekit.span("handle"):
                pass
    spans = {s["span_id"]: s for s in collected.spans()}
    by_name: dict[str, list[dict[str, Any]]] = {}
    for s in spans.values():
        by_name.setdefault(s["name"], []).append(s)
    consumer = by_name["consumer"][0]
    assert by_name["produce"][0]["parent_span_id"] == consumer["span_id"]
    assert all(h["parent_span_id"] == consumer["span_id"] for h in by_name["handle"])


def test_async_generator(collected: Any) -> None:
    """Async generators are traced until exhausted, with their yielded items."""

    @tracekit.trace
    async def ticks(n: int) -> Any:
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    async def main() -> list[int]:
        return [i async for i in ticks(3)]

    assert asyncio.run(main()) == [0, 1, 2]
    assert collected.span("ticks")["outputs"] == [0, 1, 2]


def test_async_generator_closed_early(collected: Any) -> None:
    """aclose() after a break ends the async generator's span."""

    @tracekit.trace
    async def forever() -> Any:
        i = 0
        while True:
            yield i
            i += 1

    async def main() -> None:
        agen = forever()
        async for i in agen:
            if i == 1:
                break
        await agen.aclose()

    asyncio.run(main())
    span = collected.span("forever")
    assert span["outputs"] == [0, 1]
    assert span["attributes"]["tracekit.generator.closed_early"] is True


def test_nesting_builds_one_trace(collected: Any) -> None:
    """Decorated calls inside decorated calls share a trace and point at their parent."""

    @tracekit.trace
    def leaf(i: int) -> int:
        return i

    @tracekit.trace(span_type="AGENT")
    def root() -> int:
        return leaf(1) + leaf(2)

    assert root() == 3
    trace = collected.trace()
    assert trace["span_count"] == 3
    assert trace["name"] == "root"
    root_span = next(s for s in trace["spans"] if s["name"] == "root")
    leaves = [s for s in trace["spans"] if s["name"] == "leaf"]
    assert all(s["parent_span_id"] == root_span["span_id"] for s in leaves)
    assert {s["trace_id"] for s in trace["spans"]} == {trace["trace_id"]}


def test_partial_and_callable_objects(collected: Any) -> None:
    """functools.partial and callable instances can be traced too."""

    def power(base: int, exp: int) -> int:
        return int(base**exp)

    square = tracekit.trace(name="square")(functools.partial(power, exp=2))
    assert square(5) == 25
    assert collected.span("square")["outputs"] == 25


def test_disabled_calls_straight_through(collected: Any) -> None:
    """With tracing disabled the function still runs and nothing is recorded."""

    @tracekit.trace
    def f(x: int) -> int:
        return x + 1

    tracekit.disable()
    try:
        assert f(1) == 2
    finally:
        tracekit.enable()
    assert collected.traces() == []
