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
    assert usage["cache_write_5m_tokens"] == 50  # also where the SDK keeps it as a dict
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
        # Older releases' Stream metaclass (_SyncStreamMeta; 0.43 has it) answers isinstance()
        # with False for anything but its own exact type (and MessageStream): no proxy passes.
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


def test_streams_carry_request_id_stop_reason_and_model(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """Streamed calls (raw create, the helper, beta) record the request id from the response
    headers, the stop reason and the model the API answered with."""
    server.queue(
        Reply(text="one", model="claude-sonnet-4-6-20260101", request_id="req_s1"),
        Reply(text="two", request_id="req_s2", finish_reason="max_tokens"),
        Reply(text="three", request_id="req_s3"),
    )
    for _ in client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True):
        pass
    with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        stream.get_final_message()
    with client.beta.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        assert "".join(stream.text_stream) == "three"
    spans = llm_spans(collected)
    assert [s["attributes"]["tracekit.request_id"] for s in spans] == ["req_s1", "req_s2", "req_s3"]
    assert [s["attributes"]["gen_ai.response.finish_reasons"] for s in spans] == [
        ["end_turn"],
        ["max_tokens"],
        ["end_turn"],
    ]
    assert spans[0]["attributes"]["gen_ai.response.model"] == "claude-sonnet-4-6-20260101"
    assert spans[0]["attributes"]["gen_ai.request.model"] == MODEL


def test_cancelled_stream_keeps_partial_output_without_placeholder_usage(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """A stream left before its message_delta: partial text, a cancelled finish reason, the
    input count from message_start, but no output count (a placeholder there) and no cost."""
    server.queue(Reply(text="alpha beta gamma delta epsilon", usage=Usage(input_tokens=30)))
    stream = client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True)
    for i, _event in enumerate(stream):
        if i == 3:  # message_start, content_block_start, two text deltas
            break
    stream.close()
    span = one_llm_span(collected)
    assert span["outputs"]["content"] == [{"type": "text", "text": "alpha beta "}]
    assert span["attributes"]["gen_ai.response.finish_reasons"] == ["cancelled"]
    assert span["usage"]["input_tokens"] == 30
    assert "output_tokens" not in span["usage"] and "total_tokens" not in span["usage"]
    assert span["cost_usd"] is None


def test_cache_write_ttl_split(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """5-minute and 1-hour cache writes are kept apart and priced at their own rates."""
    from tracekit._pricing import price_table

    server.queue(
        Reply(
            text="cached",
            usage=Usage(
                input_tokens=10, output_tokens=5, cache_write_tokens=1000, cache_write_1h_tokens=600
            ),
        )
    )
    client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    span = one_llm_span(collected)
    usage = span["usage"]
    assert usage["input_tokens"] == 1010
    assert usage["cache_write_tokens"] == 1000
    price = price_table().lookup("anthropic", MODEL)
    assert price is not None
    # Releases whose Usage model predates cache_creation keep it as a plain dict: same result.
    assert (usage["cache_write_5m_tokens"], usage["cache_write_1h_tokens"]) == (400, 600)
    assert price["cache_write_1h"] > price["cache_write_5m"]
    expected = (
        10 * price["input"]
        + 400 * price["cache_write_5m"]
        + 600 * price["cache_write_1h"]
        + 5 * price["output"]
    ) / 1e6
    assert span["cost_usd"] == pytest.approx(expected)


def test_error_details_and_retries_stay_one_span(server: FakeLLMServer, collected: Any) -> None:
    """An error span holds the API's message and error type; an SDK retry after a 529 is
    part of the same span, which ends OK."""
    server.queue(Reply(error_status=529, error_message="busy right now"), Reply(text="after"))
    with anthropic.Anthropic(
        base_url=server.anthropic_base_url, api_key=API_KEY, max_retries=1
    ) as retrying:
        message = retrying.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert message.content[0].text == "after"
    assert len(server.requests) == 2
    span = one_llm_span(collected)
    assert span["status"] == "OK"
    assert span["outputs"]["content"][0]["text"] == "after"

    collected.exporter.clear()
    server.queue(Reply(error_status=429, error_message="slow down please"))
    with anthropic.Anthropic(
        base_url=server.anthropic_base_url, api_key=API_KEY, max_retries=0
    ) as once:
        with pytest.raises(anthropic.RateLimitError) as info:
            once.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    span = one_llm_span(collected)
    assert "slow down please" in span["error"]["message"]
    assert span["error"]["message"] == str(info.value)
    assert span["attributes"]["tracekit.error.type"] == "rate_limit_error"


def test_count_tokens_is_not_traced(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """count_tokens is documented as not traced: it keeps working and makes no span."""
    if not hasattr(client.messages, "count_tokens"):
        pytest.skip("this anthropic release has no messages.count_tokens")
    result = client.messages.count_tokens(model=MODEL, messages=MESSAGES)
    assert result.input_tokens > 0
    tracekit.flush()
    assert llm_spans(collected) == []


def test_raw_streamed_responses(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """with_raw_response / with_streaming_response with stream=True: the events still arrive
    and each call is one span with the whole text."""
    server.queue(Reply(text="raw stream"), Reply(text="streaming stream"))
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
    )
    assert raw.headers.get("request-id")
    kinds = [event.type for event in raw.parse()]
    assert kinds[-1] == "message_stop"
    with client.messages.with_streaming_response.create(
        model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
    ) as response:
        events = list(response.parse())
    assert events[-1].type == "message_stop"
    spans = llm_spans(collected)
    assert [s["outputs"]["content"][0]["text"] for s in spans] == ["raw stream", "streaming stream"]


def test_async_raw_parse_beta_text_stream_and_errors(
    server: FakeLLMServer, aclient: Any, collected: Any
) -> None:
    """The async client: with_raw_response (its parse() is a coroutine), with_streaming_response,
    parse, beta, the helper's text_stream, and an error re-raised as the same object."""

    class City(pydantic.BaseModel):
        name: str

    server.queue(
        Reply(text="raw async", request_id="req_raw"),
        Reply(text="streaming async"),
        Reply(text='{"name": "Lima"}'),
        Reply(text="beta async"),
        Reply(text="text stream async"),
        Reply(error_status=529, error_message="overloaded"),
    )
    caught: list[BaseException] = []

    async def main() -> None:
        raw = await aclient.messages.with_raw_response.create(
            model=MODEL, max_tokens=64, messages=MESSAGES
        )
        parsed = raw.parse()  # a coroutine on current releases, a value on older ones
        if asyncio.iscoroutine(parsed):
            parsed = await parsed
        assert parsed.content[0].text == "raw async"
        async with aclient.messages.with_streaming_response.create(
            model=MODEL, max_tokens=64, messages=MESSAGES
        ) as response:
            assert (await response.parse()).content[0].text == "streaming async"
        if hasattr(aclient.messages, "parse"):
            parsed = await aclient.messages.parse(
                model=MODEL, max_tokens=64, messages=MESSAGES, output_format=City
            )
            assert parsed.parsed_output == City(name="Lima")
        else:
            await aclient.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
        await aclient.beta.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
        async with aclient.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as s:
            assert "".join([t async for t in s.text_stream]) == "text stream async"
        try:
            await aclient.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
        except anthropic.APIStatusError as exc:
            caught.append(exc)
        await aclient.close()

    asyncio.run(main())
    spans = llm_spans(collected)
    assert len(spans) == 6
    assert spans[0]["outputs"]["content"][0]["text"] == "raw async"
    assert spans[0]["usage"]["output_tokens"] > 0
    assert spans[0]["attributes"]["tracekit.request_id"] == "req_raw"
    assert spans[1]["outputs"]["content"][0]["text"] == "streaming async"
    assert spans[3]["outputs"]["content"][0]["text"] == "beta async"
    assert spans[4]["outputs"]["content"][0]["text"] == "text stream async"
    assert caught and spans[5]["status"] == "ERROR"
    assert spans[5]["attributes"]["http.response.status_code"] == 529


def test_stream_closed_after_its_last_event_is_not_cancelled(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """Breaking on message_stop (the whole reply has arrived), then leaving `with`: the span
    keeps the real stop reason and is not marked cancelled."""
    server.queue(Reply(text="all of it"))
    with client.messages.create(
        model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
    ) as stream:
        for event in stream:
            if event.type == "message_stop":
                break
    span = one_llm_span(collected)
    assert span["attributes"]["gen_ai.response.finish_reasons"] == ["end_turn"]
    assert "tracekit.stream.cancelled" not in span["attributes"]
    assert span["outputs"]["content"][0]["text"] == "all of it"
