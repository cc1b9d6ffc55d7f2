"""tracekit.anthropic.autolog(): the real anthropic client over HTTP to the fake server."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

anthropic = pytest.importorskip("anthropic")
pydantic = pytest.importorskip("pydantic")

import tracekit  # noqa: E402
from tracekit.testing import FakeLLMServer, Reply, ToolCall, Usage  # noqa: E402

API_KEY = "sk-ant-test-DO-NOT-RECORD-0123456789"
MODEL = "claude-sonnet-4-6"
MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def autolog(server: FakeLLMServer) -> Iterator[None]:
    server.clear()
    tracekit.anthropic.autolog()
    yield
    tracekit.anthropic.autolog(disable=True)


@pytest.fixture
def client(server: FakeLLMServer) -> Iterator[Any]:
    with anthropic.Anthropic(
        base_url=server.anthropic_base_url, api_key=API_KEY, max_retries=0
    ) as c:
        yield c


@pytest.fixture
def aclient(server: FakeLLMServer) -> Any:
    return anthropic.AsyncAnthropic(
        base_url=server.anthropic_base_url, api_key=API_KEY, max_retries=0
    )


def llm_spans(collected: Any) -> list[dict[str, Any]]:
    return [s for s in collected.spans() if s["provider"] == "anthropic"]


def one_llm_span(collected: Any) -> dict[str, Any]:
    spans = llm_spans(collected)
    assert len(spans) == 1, [s["name"] for s in spans]
    return spans[0]


def test_create_records_the_call(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """messages.create: params incl. system and max_tokens, messages, blocks, usage, cost."""
    server.queue(
        Reply(
            text="Hello!",
            usage=Usage(
                input_tokens=100, output_tokens=20, cached_tokens=300, cache_write_tokens=50
            ),
            request_id="req_ant_1",
        )
    )
    message = client.messages.create(
        model=MODEL,
        max_tokens=256,
        system="Be brief",
        messages=MESSAGES,
        stop_sequences=["END"],
        metadata={"user_id": "u-1"},
    )
    assert message.content[0].text == "Hello!"
    span = one_llm_span(collected)
    attrs = span["attributes"]
    assert span["span_type"] == "CHAT_MODEL"
    assert span["name"] == f"chat {MODEL}"
    assert span["model"] == MODEL
    assert attrs["gen_ai.request.max_tokens"] == 256
    assert attrs["gen_ai.request.stop_sequences"] == ["END"]
    assert attrs["gen_ai.request.metadata"] == {"user_id": "u-1"}
    assert attrs["gen_ai.response.finish_reasons"] == ["end_turn"]
    assert attrs["gen_ai.response.id"] == message.id
    assert attrs["tracekit.request_id"] == "req_ant_1"
    assert span["inputs"] == {"system": "Be brief", "messages": MESSAGES}
    assert span["outputs"]["content"][0] == {"type": "text", "text": "Hello!"}
    usage = span["usage"]
    assert usage["input_tokens"] == 100 + 300 + 50  # OTel convention: includes cache
    assert usage["cached_input_tokens"] == 300
    assert usage["cache_write_tokens"] == 50
    if (
        hasattr(anthropic.types.Usage, "model_fields")
        and "cache_creation" in anthropic.types.Usage.model_fields
    ):
        assert usage["cache_write_5m_tokens"] == 50  # the split exists in newer SDKs
    assert usage["output_tokens"] == 20
    assert usage["total_tokens"] == 470
    # sonnet 4.6: 100 * 3 + 300 * 0.3 + 50 * 3.75 + 20 * 15 per million
    assert span["cost_usd"] == pytest.approx((300 + 90 + 187.5 + 300) / 1e6)


def test_return_value_identity(
    server: FakeLLMServer, client: Any, collected: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller gets the very object the SDK returned."""
    messages_class = type(client.messages)
    tracekit.anthropic.autolog(disable=True)
    seen: list[Any] = []
    original = messages_class.create

    def recording(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        seen.append(result)
        return result

    monkeypatch.setattr(messages_class, "create", recording)
    tracekit.anthropic.autolog()
    result = client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
    tracekit.anthropic.autolog(disable=True)
    assert result is seen[0]


def test_tool_use_and_thinking(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """tool_use blocks become tool calls; thinking blocks are kept, marked by their type."""
    import inspect

    if "thinking" not in inspect.signature(type(client.messages).create).parameters:
        pytest.skip("this anthropic release has no extended thinking")
    server.queue(
        Reply(
            thinking="Let me look it up.",
            tool_calls=[ToolCall("weather", {"city": "Oslo"}, id="toolu_1")],
        )
    )
    tools = [{"name": "weather", "input_schema": {"type": "object"}}]
    client.messages.create(
        model=MODEL,
        max_tokens=2048,
        messages=MESSAGES,
        tools=tools,
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    span = one_llm_span(collected)
    attrs = span["attributes"]
    assert attrs["tracekit.tool_calls"] == [
        {"id": "toolu_1", "name": "weather", "arguments": {"city": "Oslo"}}
    ]
    assert attrs["gen_ai.tool.definitions"] == tools
    assert attrs["gen_ai.request.thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert attrs["gen_ai.response.finish_reasons"] == ["tool_use"]
    kinds = [b["type"] for b in span["outputs"]["content"]]
    assert kinds[0] == "thinking" and "tool_use" in kinds
    assert "signature" not in span["outputs"]["content"][0]
    assert span["usage"]["reasoning_tokens"] > 0


def test_stream_events_unchanged_and_usage_from_final_delta(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """Raw create(stream=True): every event arrives; output tokens come from message_delta."""
    server.queue(Reply(text="one two three four", usage=Usage(input_tokens=12, output_tokens=9)))
    stream = client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True)
    if type(anthropic.Stream).__name__ != "_SyncStreamMeta":
        # anthropic < 0.42's Stream metaclass answers isinstance() with False for anything
        # but its own exact type (and MessageStream), so no proxy can pass there.
        assert isinstance(stream, anthropic.Stream)
    events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert events[0].message.usage.output_tokens == 1  # the placeholder
    span = one_llm_span(collected)
    assert span["usage"]["output_tokens"] == 9
    assert span["usage"]["input_tokens"] == 12
    assert span["outputs"]["content"] == [{"type": "text", "text": "one two three four"}]
    assert span["attributes"]["tracekit.stream.chunks"] == len(events)
    assert span["attributes"]["tracekit.stream.time_to_first_token_ms"] > 0


def test_streamed_tool_input_is_assembled(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """input_json_delta fragments become the tool call's input."""
    server.queue(Reply(tool_calls=[ToolCall("search", {"query": "long query text"}, id="toolu_9")]))
    for _ in client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True):
        pass
    attrs = one_llm_span(collected)["attributes"]
    assert attrs["tracekit.tool_calls"] == [
        {"id": "toolu_9", "name": "search", "arguments": {"query": "long query text"}}
    ]


def test_stream_helper(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """messages.stream(): text_stream and get_final_message work; one span; early exit ends it."""
    server.queue(Reply(text="helper text here"), Reply(text="a b c d e f g"))
    with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "helper text here"
    assert final.content[0].text == text
    with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        for _event in stream:
            break
    spans = llm_spans(collected)
    assert len(spans) == 2
    assert spans[0]["outputs"]["content"][0]["text"] == "helper text here"
    assert spans[0]["usage"]["output_tokens"] > 1
    assert spans[1]["attributes"]["tracekit.stream.cancelled"] is True
    assert spans[1]["attributes"]["gen_ai.response.finish_reasons"] == ["cancelled"]


def test_stream_break_close_and_gc(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """A raw stream closed early or dropped ends its span as cancelled, with partial text."""
    server.queue(Reply(text="w1 w2 w3 w4 w5 w6 w7 w8"), Reply(text="w1 w2 w3 w4 w5 w6 w7 w8"))
    stream = client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True)
    for i, _event in enumerate(stream):
        if i == 4:
            break
    stream.close()
    dropped = client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True)
    next(iter(dropped))
    del dropped
    gc.collect()
    spans = llm_spans(collected)
    assert len(spans) == 2
    assert all(s["attributes"]["tracekit.stream.cancelled"] for s in spans)


def test_parse_and_beta(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """messages.parse and beta.messages.create: one span each."""

    class City(pydantic.BaseModel):
        name: str

    server.queue(Reply(text='{"name": "Oslo"}'), Reply(text="beta"))
    if hasattr(client.messages, "parse"):
        parsed = client.messages.parse(
            model=MODEL, max_tokens=64, messages=MESSAGES, output_format=City
        )
        assert parsed.parsed_output == City(name="Oslo")
    else:
        client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    client.beta.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert len(llm_spans(collected)) == 2


def test_raw_and_streaming_response(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """with_raw_response and with_streaming_response keep working, traced once with usage."""
    server.queue(Reply(text="raw"), Reply(text="streamed response"))
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert raw.headers.get("request-id")
    assert raw.parse().content[0].text == "raw"
    with client.messages.with_streaming_response.create(
        model=MODEL, max_tokens=64, messages=MESSAGES
    ) as response:
        message = response.parse()
    assert message.content[0].text == "streamed response"
    spans = llm_spans(collected)
    assert len(spans) == 2
    assert all(s["usage"]["output_tokens"] > 0 for s in spans)


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(429, "RateLimitError"), (500, "InternalServerError"), (529, "OverloadedError")],
)
def test_http_errors(
    server: FakeLLMServer, client: Any, collected: Any, status: int, error_class: str
) -> None:
    """429/500/529 are recorded with status and request id; the same exception is re-raised."""
    if not hasattr(anthropic, error_class):
        pytest.skip(f"this anthropic release has no {error_class}")
    server.queue(Reply(error_status=status, error_message="nope", request_id="req_err"))
    with pytest.raises(getattr(anthropic, error_class)) as info:
        client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    span = one_llm_span(collected)
    assert span["status"] == "ERROR"
    assert span["error"]["type"] == f"anthropic.{type(info.value).__qualname__}"
    assert span["attributes"]["http.response.status_code"] == status
    assert span["attributes"]["tracekit.request_id"] == "req_err"


def test_mid_stream_error_and_connection_error(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """An `event: error` mid-stream and a refused connection are recorded and re-raised."""
    server.queue(
        Reply(text="partial text here", fail_after_chunks=2, error_type="overloaded_error")
    )
    with pytest.raises(anthropic.APIStatusError):
        for _ in client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True):
            pass
    with anthropic.Anthropic(base_url="http://127.0.0.1:9", api_key=API_KEY, max_retries=0) as c:
        with pytest.raises(anthropic.APIConnectionError):
            c.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    spans = llm_spans(collected)
    assert [s["status"] for s in spans] == ["ERROR", "ERROR"]
    assert spans[0]["outputs"]["content"][0]["text"]  # partial output kept


def test_no_secrets_and_no_double_reporting(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """The API key is not recorded; tracekit registers no global OTel provider, so the SDK's
    own OpenTelemetry tracing stays off and sends no traceparent (no second report)."""
    from opentelemetry import trace as otel_trace

    client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert API_KEY not in json.dumps(collected.traces())
    assert "traceparent" not in server.requests[-1].headers
    assert type(otel_trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"


def test_log_options_and_disable(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """log_inputs/log_outputs off hide content; disable restores the original functions."""
    messages_class = type(client.messages)
    tracekit.anthropic.autolog(disable=True)
    original = messages_class.__dict__["create"]
    tracekit.anthropic.autolog(log_inputs=False, log_outputs=False)
    tracekit.anthropic.autolog(log_inputs=False, log_outputs=False)
    client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    span = one_llm_span(collected)
    assert span["inputs"] is None and span["outputs"] is None
    tracekit.anthropic.autolog(disable=True)
    assert messages_class.__dict__["create"] is original
    client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert len(llm_spans(collected)) == 1


def test_bedrock_and_vertex_beta_classes_are_patched() -> None:
    """The Bedrock/Vertex beta message classes copy methods at import; they are wrapped too."""
    import wrapt

    for path in ("anthropic.lib.bedrock._beta_messages", "anthropic.lib.vertex._beta_messages"):
        module = pytest.importorskip(path)
        assert isinstance(module.Messages.__dict__["create"], wrapt.FunctionWrapper), path


def test_async_client_and_nesting(server: FakeLLMServer, aclient: Any, collected: Any) -> None:
    """Async create, stream and stream helper; gathered calls are siblings under @trace."""
    server.queue(Reply(text="a1"), Reply(text="a2"), Reply(text="s1"), Reply(text="h1"))

    @tracekit.trace(span_type="AGENT")
    async def agent() -> None:
        await asyncio.gather(
            aclient.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES),
            aclient.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES),
        )
        stream = await aclient.messages.create(
            model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
        )
        async for _event in stream:
            pass
        async with aclient.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as s:
            await s.get_final_message()
        await aclient.close()

    asyncio.run(agent())
    trace = collected.trace()
    root = next(s for s in trace["spans"] if s["parent_span_id"] is None)
    children = [s for s in trace["spans"] if s["provider"] == "anthropic"]
    assert len(children) == 4
    assert all(s["parent_span_id"] == root["span_id"] for s in children)
    texts = sorted(s["outputs"]["content"][0]["text"] for s in children)
    assert texts == ["a1", "a2", "h1", "s1"]


def test_executor_task_is_child(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """A call in a ThreadPoolExecutor task submitted inside a span is that span's child."""
    with tracekit.span("fan-out") as parent, ThreadPoolExecutor(2) as pool:
        list(
            pool.map(
                lambda _: client.messages.create(model=MODEL, max_tokens=8, messages=MESSAGES),
                range(2),
            )
        )
    spans = llm_spans(collected)
    assert [s["parent_span_id"] for s in spans] == [parent.span_id, parent.span_id]
