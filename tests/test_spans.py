"""The span API: with span(), start_span(), current span and trace, trace updates."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

import tracekit


def test_span_context_manager_api(collected: Any) -> None:
    """Every setter of the span API lands in the exported record."""
    with tracekit.span("tool", span_type="TOOL", attributes={"a": 1}) as s:
        s.set_inputs({"q": "weather"})
        s.set_outputs(["sunny"])
        s.set_attribute("b", 2)
        s.set_attributes({"c": 3, "d": [1, 2]})
        s.add_event("cache.miss", {"key": "k1"})
        s.set_status("ERROR", "degraded")
    span = collected.span("tool")
    assert span["span_type"] == "TOOL"
    assert span["inputs"] == {"q": "weather"}
    assert span["outputs"] == ["sunny"]
    assert span["attributes"] == {"a": 1, "b": 2, "c": 3, "d": [1, 2]}
    assert span["events"][0]["name"] == "cache.miss"
    assert span["events"][0]["attributes"] == {"key": "k1"}
    assert span["status"] == "ERROR"
    assert span["status_message"] == "degraded"


def test_events_list_starts_empty_and_keeps_every_event(collected: Any) -> None:
    """A span without events exports an empty list; events added later are all kept, in order,
    and spans do not share one list."""
    with tracekit.span("quiet") as quiet:
        assert quiet.events == []
    with tracekit.span("busy") as busy:
        busy.add_event("one")
        busy.add_event("two")
    assert quiet.events == []
    assert collected.span("quiet")["events"] == []
    assert [e["name"] for e in collected.span("busy")["events"]] == ["one", "two"]


def test_record_exception_adds_event_without_failing(collected: Any) -> None:
    """record_exception() keeps the status OK and adds an exception event."""
    with tracekit.span("work") as s:
        try:
            raise ValueError("handled")
        except ValueError as exc:
            s.record_exception(exc)
    span = collected.span("work")
    assert span["status"] == "OK"
    event = span["events"][0]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "ValueError"
    assert event["attributes"]["exception.message"] == "handled"


def test_exception_leaving_span_block(collected: Any) -> None:
    """An exception leaving `with span()` is recorded and propagates unchanged."""
    err = ZeroDivisionError("x")
    with pytest.raises(ZeroDivisionError) as info, tracekit.span("calc"):
        raise err
    assert info.value is err
    span = collected.span("calc")
    assert span["status"] == "ERROR"
    assert span["error"]["type"] == "ZeroDivisionError"


def test_async_with_span(collected: Any) -> None:
    """`async with tracekit.span()` nests like the sync form."""

    async def main() -> None:
        async with tracekit.span("outer"), tracekit.span("inner"):
            await asyncio.sleep(0)

    asyncio.run(main())
    outer, inner = collected.span("outer"), collected.span("inner")
    assert inner["parent_span_id"] == outer["span_id"]


def test_start_span_is_not_current_unless_asked(collected: Any) -> None:
    """start_span() returns a span that is not current; make_current=True makes it current."""
    s = tracekit.start_span("callback", span_type="CHAIN", inputs={"id": 7})
    assert tracekit.get_current_span() is None
    child = tracekit.start_span("child", parent=s)
    child.end()
    s.set_outputs("done")
    s.end()
    current = tracekit.start_span("current", make_current=True)
    assert tracekit.get_current_span() is current
    current.end()
    assert tracekit.get_current_span() is None
    records = {s["name"]: s for s in collected.spans()}
    assert records["child"]["parent_span_id"] == records["callback"]["span_id"]
    assert records["callback"]["inputs"] == {"id": 7}
    assert records["callback"]["outputs"] == "done"


def test_end_twice_is_harmless(collected: Any) -> None:
    """A second end() does nothing: one span, first end time kept."""
    s = tracekit.start_span("once")
    s.end()
    first = s.end_time_ns  # type: ignore[union-attr]
    s.end()
    assert s.end_time_ns == first  # type: ignore[union-attr]
    assert len(collected.spans()) == 1


def test_current_span_and_trace_id(collected: Any) -> None:
    """get_current_span/get_current_trace_id reflect the innermost open span."""
    assert tracekit.get_current_span() is None
    assert tracekit.get_current_trace_id() is None
    with tracekit.span("a") as a:
        assert tracekit.get_current_span() is a
        assert tracekit.get_current_trace_id() == a.trace_id
        with tracekit.span("b") as b:
            assert tracekit.get_current_span() is b
            assert b.trace_id == a.trace_id
        assert tracekit.get_current_span() is a
    assert tracekit.get_current_span() is None


def test_update_current_trace(collected: Any) -> None:
    """Name, tags (merged), metadata, user and session reach the trace record."""
    with tracekit.span("request"):
        tracekit.update_current_trace(name="chat turn", tags={"env": "prod"}, user_id="u-1")
        with tracekit.span("inner"):
            tracekit.update_current_trace(
                tags=["beta"], metadata={"plan": "pro", "n": 3}, session_id="s-9"
            )
    trace = collected.trace()
    assert trace["name"] == "chat turn"
    assert trace["tags"] == {"env": "prod", "beta": ""}
    assert trace["metadata"] == {"plan": "pro", "n": 3}
    assert trace["user_id"] == "u-1"
    assert trace["session_id"] == "s-9"


def test_update_racing_the_root_end_leaves_the_exported_trace_alone(collected: Any) -> None:
    """update_current_trace() runs the caller's str() before touching the trace: if the root
    ends meanwhile (here: inside that str(), as another thread could), the trace that went to
    the exporters is not changed afterwards, and the caller is told it ended."""
    root = tracekit.start_span("root")
    child = tracekit.start_span("child", parent=root)

    class EndsTheRoot:
        def __str__(self) -> str:
            root.end()
            return "renamed"

    with pytest.warns(tracekit.TracekitWarning, match="already ended"):
        tracekit.context.run_in(
            child, lambda: tracekit.update_current_trace(name=EndsTheRoot(), tags={"env": "p"})
        )
    child.end()
    main = next(r for r in collected.traces() if not r["late"])
    assert (main["name"], main["tags"]) == ("root", {})


def test_span_passed_to_a_traced_function_is_recorded_by_repr(collected: Any) -> None:
    """A span is a dataclass, yet as an argument it is its repr: expanding it would copy the
    other span's content into this one."""

    @tracekit.trace
    def log_progress(span: Any, step: int) -> None:
        pass

    with tracekit.span("agent", inputs={"prompt": "patient Jane Doe"}) as agent:
        log_progress(agent, 1)
    inputs = collected.span("log_progress")["inputs"]
    assert inputs["step"] == 1
    assert inputs["span"].startswith("<Span 'agent' type=UNKNOWN")
    assert "Jane" not in inputs["span"]


def test_update_current_trace_outside_trace_warns() -> None:
    """Calling update_current_trace() with no trace warns instead of raising."""
    with pytest.warns(tracekit.TracekitWarning, match="outside any trace"):
        tracekit.update_current_trace(tags={"a": "b"})


def test_unknown_span_type_at_runtime_warns(collected: Any) -> None:
    """A bad span_type on span() warns and falls back to UNKNOWN (the app keeps running)."""
    with (
        pytest.warns(tracekit.TracekitWarning, match="unknown span_type"),
        tracekit.span("x", span_type="NOPE"),
    ):
        pass
    assert collected.span("x")["span_type"] == "UNKNOWN"


def test_trace_summary_sums_usage_and_cost(collected: Any) -> None:
    """The trace record sums usage and cost over spans and lists models used."""
    with tracekit.span("agent", span_type="AGENT"):
        for model, cost in (("m1", 0.5), ("m2", 0.25)):
            with tracekit.span("llm", span_type="CHAT_MODEL") as s:
                s.model = model  # type: ignore[union-attr]
                s.provider = "openai"  # type: ignore[union-attr]
                s.set_usage(
                    input_tokens=10, output_tokens=5, total_tokens=15, cached_input_tokens=None
                )
                s.cost_usd = cost  # type: ignore[union-attr]
        with tracekit.span("unpriced", span_type="CHAT_MODEL"):
            pass
    trace = collected.trace()
    assert trace["usage"] == {"input_tokens": 20, "output_tokens": 10, "total_tokens": 30}
    assert trace["cost_usd"] == pytest.approx(0.75)
    assert trace["models"] == ["m1", "m2"]
    unpriced = next(s for s in trace["spans"] if s["name"] == "unpriced")
    assert unpriced["usage"] is None and unpriced["cost_usd"] is None
    agent = next(s for s in trace["spans"] if s["name"] == "agent")
    assert agent["usage"] is None and agent["model"] is None


def test_trace_without_cost_is_null(collected: Any) -> None:
    """A trace with no priced span has cost_usd null, not 0."""
    with tracekit.span("plain"):
        pass
    trace = collected.trace()
    assert trace["cost_usd"] is None
    assert trace["usage"] == {}
    assert trace["schema_version"] == 1
    assert trace["status"] == "OK"
    assert trace["error_count"] == 0


def test_setters_after_end_are_ignored(collected: Any) -> None:
    """A finished span is immutable: later setters warn once and change nothing."""
    s = tracekit.start_span("done")
    s.set_attribute("before", 1)
    s.end()
    with pytest.warns(tracekit.TracekitWarning, match="after end"):
        s.set_attribute("after", 2)
    with pytest.warns(tracekit.TracekitWarning, match="after end"):
        s.set_outputs("late output")
    assert collected.span("done")["attributes"] == {"before": 1}
    assert collected.span("done")["outputs"] is None


def test_set_model_cost_and_bad_usage(collected: Any) -> None:
    """set_model/set_cost record LLM fields; a non-numeric usage value warns, never raises."""
    with tracekit.span("llm", span_type="LLM") as s:
        s.set_model("m-1", provider="acme")
        s.set_cost(0.25)
        with pytest.warns(tracekit.TracekitWarning, match="not a count"):
            s.set_usage(input_tokens="many", output_tokens=3)  # type: ignore[arg-type]
    span = collected.span("llm")
    assert (span["model"], span["provider"], span["cost_usd"]) == ("m-1", "acme", 0.25)
    assert span["usage"] == {"output_tokens": 3}


def test_out_of_range_usage_cost_and_times_never_raise_nor_lose_traces(collected: Any) -> None:
    """Counts that are infinite, negative or beyond 64 bits are refused with a warning, a cost
    beyond float range too; float times become ints. Nothing raises, and the other traces of
    the batch are exported (a 2**70 count used to fail the whole batch's serialisation)."""
    with tracekit.span("before"):
        pass
    with pytest.warns(tracekit.TracekitWarning) as warned:
        with tracekit.span("llm", span_type="LLM") as s:
            s.set_usage(input_tokens=float("inf"), output_tokens=2**70, total_tokens=-1)
            s.set_usage(cached_input_tokens=3)
            s.set_cost(10**400)
    messages = [str(w.message) for w in warned]
    assert sum("is not a count" in m for m in messages) == 3
    assert any(m.startswith("tracekit: cost_usd=") for m in messages)
    start = time.time() * 1e9
    tracekit.start_span("float times", start_time_ns=start).end(end_time_ns=start + 1e6)
    with tracekit.span("after"):
        pass
    names = sorted(t["name"] for t in collected.traces())
    assert names == ["after", "before", "float times", "llm"]
    llm = collected.span("llm")
    assert (llm["usage"], llm["cost_usd"]) == ({"cached_input_tokens": 3}, None)
    timed = collected.span("float times")
    assert type(timed["start_time_ns"]) is int and type(timed["end_time_ns"]) is int
    for trace in collected.exporter.traces:
        json.loads(trace.to_json())


def test_a_count_beyond_64_bits_set_directly_still_serialises(collected: Any) -> None:
    """Code that assigns span.usage itself bypasses set_usage(); the record still serialises
    (the number as a string) instead of failing its exporter's whole batch."""
    with tracekit.span("direct") as s:
        s.usage = {"input_tokens": 2**70}  # type: ignore[union-attr]
    (trace,) = collected.exporter.traces if tracekit.flush(5.0) else ()
    assert json.loads(trace.to_json())["spans"][0]["usage"] == {"input_tokens": str(2**70)}
    assert trace.to_dict()["usage"] == {"input_tokens": 2**70}


def test_current_span_is_usable_with_tracing_disabled(collected: Any) -> None:
    """Disabled, @trace makes no span current; code calling methods on the current span, or
    update_current_trace(), must still run unchanged and silently."""
    import warnings

    @tracekit.trace
    def handler() -> str:
        try:
            raise KeyError("k")
        except KeyError as exc:
            tracekit.get_current_span().record_exception(exc)  # type: ignore[union-attr]
        tracekit.update_current_trace(user_id="u-1")
        return "fallback"

    tracekit.disable()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert handler() == "fallback"
        assert tracekit.get_current_span() is not None
    finally:
        tracekit.enable()
    assert tracekit.get_current_span() is None  # enabled, outside any span: None as before
    assert collected.traces() == []


def test_llm_setters_on_unrecorded_spans_are_harmless(collected: Any) -> None:
    """With tracing off, set_model/set_cost/set_usage on the stand-in span do nothing."""
    tracekit.disable()
    try:
        with tracekit.span("x") as s:
            s.set_model("m")
            s.set_cost(1.0)
            s.set_usage(input_tokens=1)
    finally:
        tracekit.enable()
    assert collected.traces() == []


def test_disabled_span_block_leaves_context_alone(collected: Any) -> None:
    """With tracing off, `with span()` yields the stand-in and the current span is unchanged."""
    with tracekit.span("outer") as outer:
        tracekit.disable()
        try:
            with tracekit.span("inner") as inner:
                assert not inner.is_recording
                assert tracekit.get_current_span() is outer
        finally:
            tracekit.enable()
    assert [s["name"] for s in collected.spans()] == ["outer"]


def _traces_of_every_shape(collected: Any) -> list[tracekit.Trace]:
    """One-span and nested traces with every field set, a late span, odd strings, a big one."""

    @tracekit.trace(span_type="CHAT_MODEL", attributes={"temperature": 0.5})
    def call(prompt: str) -> str:
        s = tracekit.get_current_span()
        assert s is not None
        s.set_model("gpt-4o", "openai")
        s.set_usage(input_tokens=3, output_tokens=4, total_tokens=7, cached_input_tokens=1)
        s.set_cost(0.25)
        s.add_event("retry", {"attempt": 2})
        return prompt.upper()

    call("héllo ☃")
    with pytest.raises(KeyError), tracekit.span("fails", span_type="TOOL"):
        tracekit.update_current_trace(name="renamed", tags={"env": "prod"}, user_id="u")
        tracekit.update_current_trace(metadata={"k": 1}, session_id="s")
        raise KeyError("k")
    with tracekit.span("agent", span_type="AGENT") as root:
        tracekit.update_current_trace(metadata={"m": [1, 2]}, session_id="s")
        call("one")
        late = tracekit.start_span("late", parent=root)
        with tracekit.span("tool"):
            call("two")
    late.end()
    call("lone surrogate \udcff")
    call("x" * 50_000)
    assert tracekit.flush(5.0)
    return list(collected.exporter.traces)


def test_json_fast_path_is_byte_identical_to_the_record(collected: Any) -> None:
    """to_json() serialises span objects directly; its bytes must be those of to_dict()."""
    from tracekit._serialize import dumps
    from tracekit._spans import _objects_are_records

    assert _objects_are_records()  # else the comparison below checks nothing new
    traces = _traces_of_every_shape(collected)
    assert len(traces) == 6  # five traces, and the late span's fragment
    for trace in traces:
        line = trace._json_line()  # what JsonlExporter writes: not cached...
        assert trace._json is None
        fast = trace.to_json()  # ...so this serialises again
        assert fast == line
        trace._json = None
        record = trace.to_dict()  # builds the record dicts, and their JSON again
        assert fast == trace._json
        assert fast == dumps(record) or "truncated" in fast.decode()


def _documented_fields(heading: str) -> list[str]:
    """The field names of the table under ``heading`` in docs/schema.md, in order."""
    import re
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "schema.md").read_text(encoding="utf-8")
    section = text.split(heading, 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE)


def test_records_have_the_documented_fields_in_order(collected: Any) -> None:
    """Both the JSON line and to_dict() give exactly docs/schema.md's fields, in its order:
    the JSON of a span is its instance dict, so a field assigned out of order in Span.__init__
    (or an attribute added there) would change the interchange format."""
    import orjson

    trace_fields = _documented_fields("## Trace fields")
    span_fields = _documented_fields("## Span fields")
    assert "schema_version" in trace_fields and "late" in span_fields  # the tables were found
    for trace in _traces_of_every_shape(collected):
        for record in (orjson.loads(trace.to_json()), trace.to_dict()):
            assert list(record) == trace_fields
            for span in record["spans"]:
                assert list(span) == span_fields


def test_json_without_the_fast_path_is_unchanged(
    collected: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If an orjson release stopped serialising spans as their records, the dict path serves."""
    from tracekit import _spans

    traces = _traces_of_every_shape(collected)
    fast = [t.to_json() for t in traces]
    monkeypatch.setattr(_spans, "_objects_are_records", lambda: False)
    for trace in traces:
        trace._json = None
    assert [t.to_json() for t in traces] == fast
    assert all(t._dict is None for t in traces)  # ...and the dicts were not kept
