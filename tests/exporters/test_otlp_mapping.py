"""Converting tracekit records to OpenTelemetry spans: golden files per span kind, and rules.

Golden files live in ``tests/exporters/golden/``; after an intended mapping change, rewrite
them with ``TRACEKIT_UPDATE_GOLDEN=1 pytest tests/exporters/test_otlp_mapping.py`` and review
the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanKind, StatusCode

import tracekit
from tracekit.exporters._otel_mapping import (
    MappingOptions,
    SpanMapper,
    attribute_value,
    clip,
    span_attributes,
    split_requests,
    to_json,
)
from tracekit.exporters.otlp import OtlpExporter

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("TRACEKIT_UPDATE_GOLDEN") == "1"

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT_ID = "00f067aa0ba902b7"
CHILD_ID = "b7ad6b7169203331"
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


@pytest.fixture(autouse=True)
def _no_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


# -- records ------------------------------------------------------------------------------


def make_span(
    name: str,
    span_type: str,
    *,
    span_id: str = CHILD_ID,
    parent: str | None = ROOT_ID,
    start: int = T0 + 1_000_000,
    duration_ns: int = 250_000_000,
    **fields: Any,
) -> dict[str, Any]:
    """A span record as docs/schema.md describes it."""
    span: dict[str, Any] = {
        "span_id": span_id,
        "parent_span_id": parent,
        "trace_id": TRACE_ID,
        "name": name,
        "span_type": span_type,
        "start_time_ns": start,
        "end_time_ns": start + duration_ns,
        "duration_ms": duration_ns / 1e6,
        "status": "OK",
        "status_message": None,
        "error": None,
        "inputs": None,
        "outputs": None,
        "attributes": {},
        "events": [],
        "model": None,
        "provider": None,
        "usage": None,
        "cost_usd": None,
        "late": False,
    }
    span.update(fields)
    return span


def make_record(
    *children: dict[str, Any], root: dict[str, Any] | None = None, **trace: Any
) -> dict[str, Any]:
    """A trace record: an agent root (unless given) and the children."""
    root = root or make_span(
        "support_agent",
        "AGENT",
        span_id=ROOT_ID,
        parent=None,
        start=T0,
        duration_ns=2_000_000_000,
        inputs={"question": "What is the weather in Oslo?"},
        outputs="It is sunny in Oslo.",
    )
    record: dict[str, Any] = {
        "schema_version": 1,
        "trace_id": TRACE_ID,
        "name": root["name"],
        "start_time_ns": root["start_time_ns"],
        "end_time_ns": root["end_time_ns"],
        "duration_ms": root["duration_ms"],
        "status": root["status"],
        "tags": {},
        "metadata": {},
        "user_id": None,
        "session_id": None,
        "span_count": 1 + len(children),
        "error_count": 0,
        "usage": {},
        "cost_usd": None,
        "models": [],
        "late": False,
        "spans": [root, *children],
    }
    record.update(trace)
    return record


TOOL_DEFINITION = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def openai_chat_span() -> dict[str, Any]:
    """A chat.completions call as tracekit.openai records it."""
    return make_span(
        "chat gpt-4o-mini",
        "CHAT_MODEL",
        inputs={
            "messages": [
                {"role": "system", "content": "You are a weather assistant."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is the weather in Oslo?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
            ]
        },
        outputs={"role": "assistant", "content": "It is sunny in Oslo."},
        model="gpt-4o-mini-2024-07-18",
        provider="openai",
        usage={
            "input_tokens": 1200,
            "output_tokens": 35,
            "total_tokens": 1235,
            "cached_input_tokens": 1024,
            "reasoning_tokens": 10,
        },
        cost_usd=0.0000756,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.max_completion_tokens": 256,
            "gen_ai.request.n": 1,
            "gen_ai.request.stop": "\n\n",
            "gen_ai.request.response_format": {"type": "json_object"},
            "gen_ai.request.tool_choice": "auto",
            "gen_ai.tool.definitions": [TOOL_DEFINITION],
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.response.id": "chatcmpl-123",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.openai.response.system_fingerprint": "fp_44709d6fcb",
            "tracekit.request_id": "req_abc",
        },
    )


def openai_responses_span() -> dict[str, Any]:
    """A responses.create call that ends in a function call, as tracekit.openai records it."""
    return make_span(
        "chat gpt-5-mini",
        "CHAT_MODEL",
        inputs={
            "instructions": "Answer briefly.",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "Weather in Oslo?"}]},
                {
                    "type": "function_call",
                    "call_id": "fc_1",
                    "name": "get_weather",
                    "arguments": '{"city":"Oslo"}',
                },
                {"type": "function_call_output", "call_id": "fc_1", "output": '{"sky": "clear"}'},
            ],
        },
        outputs={
            "output": [
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [{"type": "summary_text", "text": "Need the forecast."}],
                },
                {
                    "type": "function_call",
                    "call_id": "fc_2",
                    "name": "get_forecast",
                    "arguments": '{"days":2}',
                },
            ]
        },
        model="gpt-5-mini-2025-08-07",
        provider="openai",
        usage={
            "input_tokens": 90,
            "output_tokens": 40,
            "total_tokens": 130,
            "reasoning_tokens": 24,
        },
        cost_usd=0.0001,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-5-mini",
            "gen_ai.request.max_output_tokens": 500,
            "gen_ai.request.reasoning": {"effort": "low"},
            "gen_ai.response.model": "gpt-5-mini-2025-08-07",
            "gen_ai.response.id": "resp_1",
            "gen_ai.response.finish_reasons": ["completed"],
            "tracekit.tool_calls": [
                {"id": "fc_2", "name": "get_forecast", "arguments": '{"days":2}'}
            ],
        },
    )


def anthropic_span() -> dict[str, Any]:
    """A messages.create call with thinking and a tool call, as tracekit.anthropic records it."""
    return make_span(
        "chat claude-sonnet-4-6",
        "CHAT_MODEL",
        inputs={
            "system": "You are a weather assistant.",
            "messages": [
                {"role": "user", "content": "Weather in Oslo?"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": "toolu_1",
                            "name": "get_weather",
                            "input": {"city": "Oslo"},
                        }
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                        {"type": "text", "text": "And tomorrow?"},
                    ],
                },
            ],
        },
        outputs={
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "The user wants tomorrow's forecast."},
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "get_forecast",
                    "input": {"city": "Oslo", "days": 1},
                },
            ],
        },
        model="claude-sonnet-4-6",
        provider="anthropic",
        usage={
            "input_tokens": 2100,
            "output_tokens": 80,
            "total_tokens": 2180,
            "cached_input_tokens": 1500,
            "cache_write_tokens": 500,
            "cache_write_5m_tokens": 500,
        },
        cost_usd=0.0021,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-6",
            "gen_ai.request.max_tokens": 1024,
            "gen_ai.request.thinking": {"type": "enabled", "budget_tokens": 512},
            "gen_ai.response.model": "claude-sonnet-4-6",
            "gen_ai.response.id": "msg_1",
            "gen_ai.response.finish_reasons": ["tool_use"],
            "tracekit.tool_calls": [
                {"id": "toolu_2", "name": "get_forecast", "arguments": {"city": "Oslo", "days": 1}}
            ],
            "tracekit.request_id": "req_ant",
        },
    )


def embedding_span() -> dict[str, Any]:
    return make_span(
        "embeddings text-embedding-3-small",
        "EMBEDDING",
        inputs={"input": ["Oslo weather", "Bergen weather"]},
        outputs={"embeddings": 2, "dimensions": 1536},
        model="text-embedding-3-small",
        provider="openai",
        usage={"input_tokens": 6, "total_tokens": 6},
        cost_usd=0.00000012,
        attributes={
            "gen_ai.operation.name": "embeddings",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "text-embedding-3-small",
            "gen_ai.request.encoding_format": "float",
            "gen_ai.response.model": "text-embedding-3-small",
            "gen_ai.embeddings.dimension.count": 1536,
        },
    )


def text_completion_span() -> dict[str, Any]:
    return make_span(
        "text_completion gpt-3.5-turbo-instruct",
        "LLM",
        inputs={"prompt": "Say this is a test"},
        outputs="This is a test.",
        model="gpt-3.5-turbo-instruct",
        provider="openai",
        usage={"input_tokens": 5, "output_tokens": 5, "total_tokens": 10},
        attributes={
            "gen_ai.operation.name": "text_completion",
            "gen_ai.request.model": "gpt-3.5-turbo-instruct",
            "gen_ai.response.finish_reasons": ["stop"],
        },
    )


def tool_span() -> dict[str, Any]:
    return make_span(
        "get_weather",
        "TOOL",
        inputs={"city": "Oslo", "units": "metric"},
        outputs={"sky": "clear", "temperature_c": 21},
        attributes={"app.cache_hit": False},
    )


def error_span() -> dict[str, Any]:
    return make_span(
        "get_forecast",
        "TOOL",
        status="ERROR",
        status_message="forecast API timed out",
        error={
            "type": "TimeoutError",
            "message": "forecast API timed out",
            "stacktrace": (
                "Traceback (most recent call last):\n"
                '  File "app.py", line 9, in get_forecast\n'
                "TimeoutError: forecast API timed out\n"
            ),
        },
        inputs={"city": "Oslo", "days": 2},
        events=[
            {
                "name": "exception",
                "time_ns": T0 + 100_000_000,
                "attributes": {
                    "exception.type": "ConnectionResetError",
                    "exception.message": "first attempt reset",
                    "exception.stacktrace": "ConnectionResetError: first attempt reset\n",
                },
            },
            {
                "name": "retry",
                "time_ns": T0 + 120_000_000,
                "attributes": {"attempt": 2, "backoff": {"s": 0.1}},
            },
        ],
    )


def agent_record() -> dict[str, Any]:
    return make_record(
        openai_chat_span(),
        name="weather question",
        tags={"env": "dev", "team": "support"},
        metadata={"app_version": "1.4.0", "flags": ["a", "b"]},
        user_id="u-42",
        session_id="s-7",
        cost_usd=0.0000756,
    )


def convert(record: dict[str, Any], **options: Any) -> list[ReadableSpan]:
    mapper = SpanMapper(
        MappingOptions(**options),
        Resource.create({"service.name": "golden"}),
        InstrumentationScope("tracekit", tracekit.__version__),
    )
    return mapper.record_to_spans(record)


def converted_span(record: dict[str, Any], name: str, **options: Any) -> ReadableSpan:
    (span,) = [s for s in convert(record, **options) if s.name == name]
    return span


def span_json(span: ReadableSpan) -> dict[str, Any]:
    """A ReadableSpan as stable JSON (resource and scope are checked by their own tests)."""
    context = span.get_span_context()
    assert context is not None
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "start_time_unix_nano": span.start_time,
        "end_time_unix_nano": span.end_time,
        "status": {"code": span.status.status_code.name, "description": span.status.description},
        "attributes": {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in sorted((span.attributes or {}).items())
        },
        "events": [
            {
                "name": e.name,
                "time_unix_nano": e.timestamp,
                "attributes": dict(sorted((e.attributes or {}).items())),
            }
            for e in span.events
        ],
    }


def check_golden(name: str, span: ReadableSpan) -> None:
    path = GOLDEN / f"{name}.json"
    actual = span_json(span)
    if UPDATE or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"golden file {path.name} was missing and has been written; review it")
    assert actual == json.loads(path.read_text(encoding="utf-8"))


# -- golden files -------------------------------------------------------------------------


def test_golden_openai_chat_span() -> None:
    """An OpenAI chat-completions span maps to GenAI and OpenInference attributes."""
    check_golden(
        "llm_openai_chat", converted_span(make_record(openai_chat_span()), "chat gpt-4o-mini")
    )


def test_golden_openai_chat_span_gen_ai_only() -> None:
    """The gen_ai profile writes no OpenInference attributes."""
    record = make_record(openai_chat_span())
    check_golden(
        "llm_openai_chat_gen_ai", converted_span(record, "chat gpt-4o-mini", conventions="gen_ai")
    )


def test_golden_openai_chat_span_openinference_only() -> None:
    """The openinference profile derives no gen_ai attributes (recorded ones pass through)."""
    record = make_record(openai_chat_span())
    span = converted_span(record, "chat gpt-4o-mini", conventions="openinference")
    check_golden("llm_openai_chat_openinference", span)


def test_golden_openai_chat_span_without_content() -> None:
    """capture_content=False keeps models, usage and cost, and no message content."""
    record = make_record(openai_chat_span())
    check_golden(
        "llm_openai_chat_no_content",
        converted_span(record, "chat gpt-4o-mini", capture_content=False),
    )


def test_golden_openai_responses_span() -> None:
    """Responses input items and output items become GenAI parts and OpenInference messages."""
    check_golden(
        "llm_openai_responses",
        converted_span(make_record(openai_responses_span()), "chat gpt-5-mini"),
    )


def test_golden_anthropic_span() -> None:
    """Anthropic system, content blocks, thinking and tool use map to parts."""
    record = make_record(anthropic_span())
    check_golden("llm_anthropic", converted_span(record, "chat claude-sonnet-4-6"))


def test_golden_embedding_span() -> None:
    """An embeddings span uses embedding.model_name and the input texts."""
    record = make_record(embedding_span())
    check_golden("embedding", converted_span(record, "embeddings text-embedding-3-small"))


def test_golden_text_completion_span() -> None:
    """A legacy completion uses llm.prompts / llm.choices and text_completion messages."""
    record = make_record(text_completion_span())
    check_golden(
        "llm_text_completion", converted_span(record, "text_completion gpt-3.5-turbo-instruct")
    )


def test_golden_tool_span() -> None:
    """A tool span is execute_tool with arguments and result, and an OpenInference TOOL."""
    check_golden("tool", converted_span(make_record(tool_span()), "get_weather"))


def test_golden_agent_root_span() -> None:
    """The root carries trace-level data and plain-text input/output."""
    check_golden("agent_root", converted_span(agent_record(), "support_agent"))


def test_golden_error_span() -> None:
    """A failed span: ERROR status, error.type, its own events, then the exception event."""
    check_golden("error", converted_span(make_record(error_span()), "get_forecast"))


# -- identity, times, status ----------------------------------------------------------------


def test_ids_parent_and_times_map_one_to_one() -> None:
    """Trace id, span id, parent id and start/end times are the record's."""
    root, child = convert(make_record(tool_span()))
    context = child.get_span_context()
    assert context is not None
    assert f"{context.trace_id:032x}" == TRACE_ID
    assert f"{context.span_id:016x}" == CHILD_ID
    assert child.parent is not None and f"{child.parent.span_id:016x}" == ROOT_ID
    assert root.parent is None
    assert (child.start_time, child.end_time) == (T0 + 1_000_000, T0 + 251_000_000)
    assert context.trace_flags.sampled and not context.is_remote


def test_model_calls_are_client_spans() -> None:
    """LLM, CHAT_MODEL and EMBEDDING spans are CLIENT; everything else INTERNAL."""
    record = make_record(
        openai_chat_span(),
        embedding_span() | {"span_id": "1" * 16},
        tool_span() | {"span_id": "2" * 16},
    )
    kinds = {s.name: s.kind for s in convert(record)}
    assert kinds == {
        "support_agent": SpanKind.INTERNAL,
        "chat gpt-4o-mini": SpanKind.CLIENT,
        "embeddings text-embedding-3-small": SpanKind.CLIENT,
        "get_weather": SpanKind.INTERNAL,
    }


def test_ok_status_is_ok_without_description() -> None:
    """A span with status OK is exported with StatusCode.OK."""
    span = converted_span(make_record(tool_span()), "get_weather")
    assert (span.status.status_code, span.status.description) == (StatusCode.OK, None)


def test_error_status_without_exception_gets_fallback_error_type() -> None:
    """set_status("ERROR", msg) gives ERROR with the message and error.type _OTHER."""
    failed = tool_span() | {"status": "ERROR", "status_message": "guardrail said no"}
    span = converted_span(make_record(failed), "get_weather")
    assert (span.status.status_code, span.status.description) == (
        StatusCode.ERROR,
        "guardrail said no",
    )
    assert span.attributes["error.type"] == "_OTHER"
    assert not span.events


def test_exception_event_is_not_duplicated() -> None:
    """An exception already recorded with record_exception() is not added a second time."""
    failed = error_span()
    failed["events"] = [
        {
            "name": "exception",
            "time_ns": T0,
            "attributes": {
                "exception.type": "TimeoutError",
                "exception.message": "forecast API timed out",
            },
        }
    ]
    span = converted_span(make_record(failed), "get_forecast")
    assert [e.name for e in span.events] == ["exception"]


def test_error_without_message_keeps_type_only() -> None:
    """An error recorded without message or stack trace (content off) still names its type."""
    failed = error_span() | {"events": [], "status_message": None}
    failed["error"] = {"type": "TimeoutError", "message": None, "stacktrace": None}
    span = converted_span(make_record(failed), "get_forecast")
    (event,) = span.events
    assert dict(event.attributes or {}) == {"exception.type": "TimeoutError"}
    assert span.status.description is None


def test_late_span_keeps_its_parent_and_is_marked() -> None:
    """A span of a late record points at its parent and carries tracekit.late, no trace data."""
    late = tool_span() | {"late": True}
    record = make_record(root=late, user_id="u-1", late=True)
    (span,) = convert(record)
    assert span.parent is not None and f"{span.parent.span_id:016x}" == ROOT_ID
    assert span.attributes["tracekit.late"] is True
    assert "user.id" not in span.attributes


# -- per-kind mapping -----------------------------------------------------------------------


def test_every_span_type_has_an_openinference_kind() -> None:
    """Each tracekit span type maps to a valid openinference.span.kind."""
    expected = {
        "LLM": "LLM", "CHAT_MODEL": "LLM", "EMBEDDING": "EMBEDDING", "TOOL": "TOOL",
        "RETRIEVER": "RETRIEVER", "RERANKER": "RERANKER", "AGENT": "AGENT", "CHAIN": "CHAIN",
        "PARSER": "CHAIN", "MEMORY": "CHAIN", "GUARDRAIL": "GUARDRAIL",
        "EVALUATOR": "EVALUATOR", "UNKNOWN": "UNKNOWN",
    }  # fmt: skip
    for span_type, kind in expected.items():
        attributes = span_attributes(make_span("x", span_type), make_record(), MappingOptions())
        assert attributes["openinference.span.kind"] == kind, span_type
        assert attributes["tracekit.span_type"] == span_type


def test_chain_span_carries_json_io() -> None:
    """A non-LLM, non-root span has JSON input.value/output.value with mime types."""
    span = make_span("build_prompt", "CHAIN", inputs={"docs": ["a", "b"]}, outputs=["p"])
    attributes = span_attributes(span, make_record(), MappingOptions(conventions="gen_ai"))
    assert attributes["input.value"] == '{"docs":["a","b"]}'
    assert attributes["input.mime_type"] == "application/json"
    assert attributes["output.value"] == '["p"]'


def test_root_single_string_argument_becomes_plain_text() -> None:
    """The root's {"question": "..."} input is exported as text/plain for trace previews."""
    attributes = converted_span(agent_record(), "support_agent").attributes
    assert attributes["input.value"] == "What is the weather in Oslo?"
    assert attributes["input.mime_type"] == "text/plain"
    assert attributes["output.mime_type"] == "text/plain"


def test_root_with_several_arguments_stays_json() -> None:
    """A root with more than one argument keeps a JSON input.value."""
    root = make_span("job", "CHAIN", span_id=ROOT_ID, parent=None, inputs={"a": 1, "b": "x"})
    (span,) = convert(make_record(root=root))
    assert span.attributes["input.value"] == '{"a":1,"b":"x"}'


def test_retriever_documents_are_flattened() -> None:
    """RETRIEVER outputs become retrieval.documents.N.document.* attributes."""
    docs = [
        {"id": "d1", "content": "Oslo is cold.", "score": 0.9, "metadata": {"src": "wiki"}},
        "plain text doc",
    ]
    span = make_span("search", "RETRIEVER", outputs=docs)
    attributes = span_attributes(span, make_record(), MappingOptions())
    assert attributes["retrieval.documents.0.document.content"] == "Oslo is cold."
    assert attributes["retrieval.documents.0.document.id"] == "d1"
    assert attributes["retrieval.documents.0.document.score"] == 0.9
    assert attributes["retrieval.documents.0.document.metadata"] == '{"src":"wiki"}'
    assert attributes["retrieval.documents.1.document.content"] == "plain text doc"


def test_cache_writes_are_reported_under_both_names() -> None:
    """cache_write_tokens goes to cache_creation and cache_write while the name settles."""
    attributes = converted_span(make_record(anthropic_span()), "chat claude-sonnet-4-6").attributes
    assert attributes["gen_ai.usage.cache_creation.input_tokens"] == 500
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 500
    assert attributes["llm.token_count.prompt_details.cache_write"] == 500
    assert attributes["tracekit.usage.cache_write_5m_tokens"] == 500


def test_cost_is_exported_in_usd() -> None:
    """cost_usd becomes tracekit.cost_usd and OpenInference's llm.cost.total."""
    attributes = converted_span(make_record(openai_chat_span()), "chat gpt-4o-mini").attributes
    assert attributes["tracekit.cost_usd"] == pytest.approx(0.0000756)
    assert attributes["llm.cost.total"] == pytest.approx(0.0000756)


def test_input_messages_follow_the_parts_schema() -> None:
    """gen_ai.input.messages is a JSON list of {role, parts} with typed parts."""
    attributes = converted_span(make_record(openai_chat_span()), "chat gpt-4o-mini").attributes
    messages = json.loads(str(attributes["gen_ai.input.messages"]))
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    assert messages[1]["parts"][1] == {
        "type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBORw0KGgo=",
    }  # fmt: skip
    assert messages[2]["parts"] == [
        {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Oslo"}}
    ]
    assert messages[3]["parts"] == [
        {"type": "tool_call_response", "id": "call_1", "response": "sunny, 21 C"}
    ]


def test_output_message_has_a_mapped_finish_reason() -> None:
    """Anthropic's tool_use stop reason becomes the conventions' tool_call."""
    attributes = converted_span(make_record(anthropic_span()), "chat claude-sonnet-4-6").attributes
    (message,) = json.loads(str(attributes["gen_ai.output.messages"]))
    assert message["finish_reason"] == "tool_call"
    assert [p["type"] for p in message["parts"]] == ["reasoning", "text", "tool_call"]


def test_streamed_chat_tool_calls_are_understood() -> None:
    """Flat {id, name, arguments} tool calls (tracekit's streamed replies) become parts."""
    span = openai_chat_span() | {
        "outputs": {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c9", "name": "f", "arguments": "{}"}],
        }
    }
    attributes = converted_span(make_record(span), "chat gpt-4o-mini").attributes
    (message,) = json.loads(str(attributes["gen_ai.output.messages"]))
    assert message["parts"][-1] == {"type": "tool_call", "id": "c9", "name": "f", "arguments": {}}
    assert attributes["llm.output_messages.0.message.tool_calls.0.tool_call.function.name"] == "f"


def test_unrecognised_llm_inputs_still_export_input_value() -> None:
    """A model span whose inputs fit no known shape gets no messages but keeps input.value."""
    span = openai_chat_span() | {
        "inputs": {"tracekit.truncated": "inputs exceeded the span budget"}
    }
    attributes = converted_span(make_record(span), "chat gpt-4o-mini").attributes
    assert "gen_ai.input.messages" not in attributes
    assert "llm.input_messages.0.message.role" not in attributes
    assert json.loads(str(attributes["input.value"])) == span["inputs"]


def test_recorded_attributes_win_over_derived_ones() -> None:
    """An attribute the app set itself is exported as set, even where tracekit derives one."""
    span = tool_span()
    span["attributes"] = {"gen_ai.tool.name": "weather_v2", "input.value": "custom"}
    attributes = converted_span(make_record(span), "get_weather").attributes
    assert attributes["gen_ai.tool.name"] == "weather_v2"
    assert attributes["input.value"] == "custom"


def test_gen_ai_profile_has_no_openinference_attributes() -> None:
    """conventions="gen_ai" writes no openinference.*, llm.* or embedding.* keys."""
    for span in convert(agent_record(), conventions="gen_ai"):
        keys = set(span.attributes or {})
        assert not {
            k
            for k in keys
            if k.startswith(("openinference.", "llm.", "embedding.", "tag.tags", "metadata"))
        }


def test_openinference_profile_derives_no_gen_ai_attributes() -> None:
    """conventions="openinference" adds no gen_ai.* keys beyond those recorded on the span."""
    record = make_record(tool_span())
    for span in convert(record, conventions="openinference"):
        assert not [k for k in span.attributes or {} if k.startswith("gen_ai.")]


CONTENT_PREFIXES = ("input.", "output.", "llm.input_messages", "llm.output_messages", "llm.tools")
CONTENT_KEYS = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.tool.definitions",
    }
)


def test_without_content_no_prompt_or_io_leaves() -> None:
    """capture_content=False drops messages, io, tool arguments/results and tool schemas."""
    record = make_record(openai_responses_span(), tool_span() | {"span_id": "3" * 16})
    for span in convert(record, capture_content=False):
        keys = set(span.attributes or {})
        content = {k for k in keys if k.startswith(CONTENT_PREFIXES) or k in CONTENT_KEYS}
        assert not content, span.name
    llm = converted_span(record, "chat gpt-5-mini", capture_content=False)
    assert json.loads(str(llm.attributes["tracekit.tool_calls"])) == [
        {"id": "fc_2", "name": "get_forecast"}
    ]


def test_invalid_conventions_are_rejected() -> None:
    """An unknown conventions profile raises ValueError naming the valid ones."""
    with pytest.raises(ValueError, match="gen_ai, openinference, both"):
        MappingOptions(conventions="otel")


# -- attribute values -----------------------------------------------------------------------


def test_objects_and_lists_of_objects_become_json_strings() -> None:
    """Dicts and lists of dicts are not legal attribute values: they are sent as JSON."""
    assert attribute_value({"a": [1, {"b": None}]}, 1000) == '{"a":[1,{"b":null}]}'
    assert attribute_value([{"x": 1}], 1000) == '[{"x":1}]'


def test_mixed_lists_become_json_and_homogeneous_lists_stay_lists() -> None:
    """Only homogeneous str/bool/int/float lists stay arrays; ints mixed with floats widen."""
    assert attribute_value(["a", 1], 1000) == '["a",1]'
    assert attribute_value([True, False], 1000) == [True, False]
    assert attribute_value([1, 2.5], 1000) == [1.0, 2.5]
    assert attribute_value(["stop", None], 1000) == ["stop", ""]
    assert attribute_value([True, 1], 1000) == "[true,1]"


def test_ints_outside_int64_become_strings() -> None:
    """OTLP ints are int64; a larger value would fail the whole span, so it is sent as text."""
    assert attribute_value(2**64 - 1, 1000) == str(2**64 - 1)
    assert attribute_value([1, 2**63], 1000) == f"[1,{2**63}]"
    assert attribute_value(-(2**63), 1000) == -(2**63)


def test_long_strings_are_cut_with_a_marker_within_the_limit() -> None:
    """A value longer than the limit is cut so that value and marker fit in the limit."""
    value = clip("x" * 5000, 1000)
    assert len(value) == 1000
    assert value.endswith("…[truncated: 5000 chars in total]")


def test_lone_surrogates_are_replaced() -> None:
    """Text that is not valid UTF-8 is repaired rather than failing the span's encoding."""
    assert clip("a\ud800b", 100) == "a\ufffdb"


def test_large_json_values_stay_valid_json() -> None:
    """Oversized JSON has its longest strings cut, so it still parses."""
    messages = [{"role": "user", "parts": [{"type": "text", "content": "y" * 50_000}]}] * 3
    text = to_json(messages, 4096)
    assert len(text.encode()) <= 4096
    parsed = json.loads(text)
    assert len(parsed) == 3
    assert "truncated: 50000 chars" in parsed[0]["parts"][0]["content"]


def test_span_attributes_fit_the_span_budget() -> None:
    """Many large values on one span are halved, largest first, until the span fits."""
    options = MappingOptions(max_attribute_length=1024)
    span = make_span("big", "CHAIN", attributes={f"k{i}": "z" * 5000 for i in range(100)})
    attributes = span_attributes(span, make_record(), options)
    assert sum(len(str(v)) for v in attributes.values()) <= options.max_span_bytes
    assert all(len(str(v)) <= 1024 for v in attributes.values())


def test_requests_are_split_by_size() -> None:
    """Spans are grouped into requests below the byte limit, in order."""
    spans = convert(
        make_record(
            *[
                tool_span() | {"span_id": f"{i + 1:016x}", "outputs": "o" * 20_000}
                for i in range(30)
            ]
        )
    )
    requests = split_requests(spans, max_bytes=100_000)
    assert len(requests) > 1
    assert [s for r in requests for s in r] == spans
    assert all(
        sum(len(str(v)) for s in r for v in (s.attributes or {}).values()) <= 100_000
        for r in requests
    )


# -- resource, scope, isolation -------------------------------------------------------------


def _exporter(**kwargs: Any) -> OtlpExporter:
    return OtlpExporter(_span_exporter=InMemorySpanExporter(), **kwargs)


def test_service_name_argument_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    """service_name= beats OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES."""
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,deployment.environment.name=dev"
    )
    resource = _exporter(service_name="from-arg").resource.attributes
    assert resource["service.name"] == "from-arg"
    assert resource["deployment.environment.name"] == "dev"


def test_service_name_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the argument, OTEL_SERVICE_NAME names the service."""
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    assert _exporter().resource.attributes["service.name"] == "from-env"


def test_service_name_defaults_to_unknown_service() -> None:
    """With nothing set, service.name is OpenTelemetry's unknown_service default."""
    resource = _exporter(resource_attributes={"team": "ai"}).resource.attributes
    assert str(resource["service.name"]).startswith("unknown_service")
    assert resource["telemetry.sdk.language"] == "python"
    assert resource["team"] == "ai"


def test_spans_carry_the_tracekit_scope_and_resource() -> None:
    """Every span names the tracekit instrumentation scope and version, and the resource."""
    trace = _one_trace()
    exporter = _exporter(service_name="svc")
    for span in exporter.spans_for(trace):
        assert span.instrumentation_scope is not None
        assert (span.instrumentation_scope.name, span.instrumentation_scope.version) == (
            "tracekit",
            tracekit.__version__,
        )
        assert span.resource.attributes["service.name"] == "svc"


def test_no_global_tracer_provider_is_registered() -> None:
    """Exporting through OTLP leaves OpenTelemetry's global tracer provider untouched."""
    sink = InMemorySpanExporter()
    tracekit.configure(exporters=[OtlpExporter(_span_exporter=sink)])
    with tracekit.span("x"):
        pass
    assert tracekit.flush()
    assert len(sink.get_finished_spans()) == 1
    assert isinstance(otel_trace.get_tracer_provider(), otel_trace.ProxyTracerProvider)


def _one_trace() -> tracekit.Trace:
    mem = tracekit.InMemoryExporter()
    tracekit.configure(exporters=[mem])
    with tracekit.span("agent", span_type="AGENT"), tracekit.span("step", span_type="CHAIN"):
        pass
    assert tracekit.flush()
    (trace,) = mem.traces
    return trace


# -- the real integrations ------------------------------------------------------------------


@pytest.fixture
def fake_llm() -> Iterator[Any]:
    from tracekit.testing import FakeLLMServer

    with FakeLLMServer() as server:
        yield server


def test_real_openai_span_converts(fake_llm: Any, collected: Any) -> None:
    """A span made by tracekit.openai against the fake server maps to messages and usage."""
    openai = pytest.importorskip("openai")
    from tracekit.testing import Reply, ToolCall

    fake_llm.queue(Reply(tool_calls=[ToolCall("get_weather", {"city": "Oslo"}, id="call_7")]))
    tracekit.openai.autolog()
    try:
        with openai.OpenAI(
            base_url=fake_llm.openai_base_url, api_key="test", max_retries=0
        ) as client:
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "Weather in Oslo?"}],
                tools=[TOOL_DEFINITION],
                temperature=0,
            )
    finally:
        tracekit.openai.autolog(disable=True)
    (record,) = collected.traces()
    (span,) = convert(record)
    attributes = span.attributes
    assert span.kind == SpanKind.CLIENT
    (reply,) = json.loads(str(attributes["gen_ai.output.messages"]))
    assert reply["finish_reason"] == "tool_call"
    assert reply["parts"][-1] == {
        "type": "tool_call",
        "id": "call_7",
        "name": "get_weather",
        "arguments": {"city": "Oslo"},
    }
    assert (
        json.loads(str(attributes["gen_ai.input.messages"]))[0]["parts"][0]["content"]
        == "Weather in Oslo?"
    )
    assert attributes["llm.tools.0.tool.name"] == "get_weather"
    assert isinstance(attributes["gen_ai.usage.input_tokens"], int)


def test_real_anthropic_span_converts(fake_llm: Any, collected: Any) -> None:
    """A span made by tracekit.anthropic against the fake server maps system and blocks."""
    anthropic = pytest.importorskip("anthropic")
    from tracekit.testing import Reply

    fake_llm.queue(Reply(text="Sunny.", thinking="Check the sky."))
    tracekit.anthropic.autolog()
    try:
        client = anthropic.Anthropic(
            base_url=fake_llm.anthropic_base_url, api_key="test", max_retries=0
        )
        client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=100,
            system="Be brief.",
            messages=[{"role": "user", "content": "Weather?"}],
        )
        client.close()
    finally:
        tracekit.anthropic.autolog(disable=True)
    (record,) = collected.traces()
    (span,) = convert(record)
    attributes = span.attributes
    assert json.loads(str(attributes["gen_ai.system_instructions"])) == [
        {"type": "text", "content": "Be brief."}
    ]
    (reply,) = json.loads(str(attributes["gen_ai.output.messages"]))
    assert [p["type"] for p in reply["parts"]] == ["reasoning", "text"]
    assert reply["finish_reason"] == "stop"
    assert attributes["llm.input_messages.0.message.role"] == "system"
    assert attributes["llm.system"] == "anthropic"
