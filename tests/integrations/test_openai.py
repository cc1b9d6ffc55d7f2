"""tracekit.openai.autolog(): the real openai client over HTTP to the fake server."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

openai = pytest.importorskip("openai")
pydantic = pytest.importorskip("pydantic")

import tracekit  # noqa: E402
from tracekit.testing import FakeLLMServer, Reply, ToolCall, Usage  # noqa: E402

API_KEY = "sk-test-DO-NOT-RECORD-1234567890abcdef"
MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Say hello"}]
TOOLS_R = [  # a Responses API function tool
    {
        "type": "function",
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
    }
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def autolog(server: FakeLLMServer) -> Iterator[None]:
    server.clear()
    tracekit.openai.autolog()
    yield
    tracekit.openai.autolog(disable=True)


@pytest.fixture
def client(server: FakeLLMServer) -> Iterator[Any]:
    with openai.OpenAI(base_url=server.openai_base_url, api_key=API_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
def aclient(server: FakeLLMServer) -> Any:
    return openai.AsyncOpenAI(base_url=server.openai_base_url, api_key=API_KEY, max_retries=0)


def chat_helpers(client: Any) -> Any:
    """Where parse()/stream() live: client.chat.completions, or client.beta.chat.completions
    before openai 1.92."""
    if hasattr(client.chat.completions, "parse"):
        return client.chat.completions
    return client.beta.chat.completions


def llm_spans(collected: Any) -> list[dict[str, Any]]:
    return [s for s in collected.spans() if s["provider"] == "openai"]


def one_llm_span(collected: Any) -> dict[str, Any]:
    spans = llm_spans(collected)
    assert len(spans) == 1, [s["name"] for s in spans]
    return spans[0]


# -- chat completions --------------------------------------------------------------------


def test_chat_create_records_the_call(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """A chat call: type, names, model, params, messages, output, usage, cost, request id."""
    server.queue(
        Reply(
            text="Hello!",
            model="gpt-4o-mini-2024-07-18",
            usage=Usage(input_tokens=100, output_tokens=20, cached_tokens=40, reasoning_tokens=5),
            request_id="req_abc",
        )
    )
    result = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, temperature=0.2, max_tokens=50, top_p=0.9
    )
    assert result.choices[0].message.content == "Hello!"
    span = one_llm_span(collected)
    attrs = span["attributes"]
    assert span["span_type"] == "CHAT_MODEL"
    assert span["name"] == f"chat {MODEL}"
    assert span["model"] == "gpt-4o-mini-2024-07-18"
    assert attrs["gen_ai.request.model"] == MODEL
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert attrs["gen_ai.request.temperature"] == 0.2
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["gen_ai.request.top_p"] == 0.9
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert attrs["gen_ai.response.id"] == result.id
    assert attrs["tracekit.request_id"] == "req_abc"
    assert span["inputs"] == {"messages": MESSAGES}
    assert span["outputs"]["content"] == "Hello!"
    assert span["outputs"]["role"] == "assistant"
    assert span["usage"] == {
        "input_tokens": 100,
        "output_tokens": 20,
        "total_tokens": 120,
        "cached_input_tokens": 40,
        "cache_write_tokens": 0,
        "reasoning_tokens": 5,
    }
    # gpt-4o-mini: 60 * 0.15 + 40 * 0.075 + 20 * 0.6 per million
    assert span["cost_usd"] == pytest.approx((60 * 0.15 + 40 * 0.075 + 20 * 0.6) / 1e6)
    assert collected.trace()["cost_usd"] == pytest.approx(span["cost_usd"])


def test_return_value_is_the_sdk_object(
    server: FakeLLMServer, client: Any, collected: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller gets the very object the SDK method returned."""
    from openai.resources.chat.completions import completions as module

    tracekit.openai.autolog(disable=True)
    seen: list[Any] = []
    original = module.Completions.create

    def recording(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        seen.append(result)
        return result

    monkeypatch.setattr(module.Completions, "create", recording)
    tracekit.openai.autolog()
    result = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    tracekit.openai.autolog(disable=True)
    assert seen == [result]
    assert result is seen[0]
    assert len(llm_spans(collected)) == 1


def test_tool_calls_are_recorded(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """Tool definitions, tool_choice and the returned tool calls are on the span."""
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    server.queue(Reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_1")]))
    client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=tools, tool_choice="auto")
    span = one_llm_span(collected)
    attrs = span["attributes"]
    assert attrs["gen_ai.tool.definitions"] == tools
    assert attrs["gen_ai.request.tool_choice"] == "auto"
    assert attrs["tracekit.tool_calls"] == [
        {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    ]
    assert attrs["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert span["outputs"]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_stream_chunks_unchanged_and_span_complete(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """A stream yields every chunk; the span gets the joined text, chunk count and TTFT."""
    server.queue(Reply(text="one two three four five six"))
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    assert isinstance(stream, openai.Stream)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four five six"
    span = one_llm_span(collected)
    attrs = span["attributes"]
    assert span["outputs"]["content"] == text
    assert attrs["tracekit.stream.chunks"] == len(chunks)
    assert attrs["tracekit.stream.time_to_first_token_ms"] > 0
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert span["usage"] is None  # the API sent none: unknown, not zero
    assert span["cost_usd"] is None


def test_streamed_tool_call_deltas_are_assembled(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """Tool-call argument fragments across chunks come out as one call."""
    server.queue(Reply(tool_calls=[ToolCall("lookup", {"q": "a long query text"}, id="call_9")]))
    for _ in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
        pass
    attrs = one_llm_span(collected)["attributes"]
    assert attrs["tracekit.tool_calls"] == [
        {"id": "call_9", "name": "lookup", "arguments": '{"q": "a long query text"}'}
    ]


def test_stream_with_include_usage_from_caller(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """When the caller asks for usage, the usage chunk reaches them and the span."""
    server.queue(Reply(text="hi", usage=Usage(input_tokens=7, output_tokens=3)))
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 10
    assert one_llm_span(collected)["usage"]["input_tokens"] == 7


def test_stream_usage_option_injects_and_hides(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """autolog(stream_usage=True) asks for usage and hides the usage-only chunk."""
    tracekit.openai.autolog(stream_usage=True)
    server.queue(Reply(text="hi there", usage=Usage(input_tokens=9, output_tokens=2)))
    chunks = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    assert all(c.choices for c in chunks)  # code indexing chunk.choices[0] keeps working
    assert server.requests[-1].json["stream_options"] == {"include_usage": True}
    span = one_llm_span(collected)
    assert span["usage"]["input_tokens"] == 9
    assert span["cost_usd"] is not None
    assert span["attributes"]["tracekit.stream.usage_injected"] is True


def test_stream_usage_keeps_a_usage_chunk_the_caller_asked_for(
    server: FakeLLMServer, client: Any, aclient: Any, collected: Any
) -> None:
    """With stream_usage=True, a caller who set include_usage still gets the usage chunk; the
    injected one is hidden from async streams and legacy completions too."""
    tracekit.openai.autolog(stream_usage=True)
    server.queue(Reply(text="mine", usage=Usage(input_tokens=7, output_tokens=1)))
    server.queue(Reply(text="async", usage=Usage(input_tokens=8, output_tokens=1)))
    server.queue(Reply(text="legacy", usage=Usage(input_tokens=6, output_tokens=1)))
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert not chunks[-1].choices and chunks[-1].usage.prompt_tokens == 7

    async def main() -> list[Any]:
        stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        got = [chunk async for chunk in stream]
        await aclient.close()
        return got

    assert all(c.choices for c in asyncio.run(main()))
    legacy = list(
        client.completions.create(model="gpt-3.5-turbo-instruct", prompt="x", stream=True)
    )
    assert all(c.choices for c in legacy)
    spans = llm_spans(collected)
    assert [s["usage"]["input_tokens"] for s in spans] == [7, 8, 6]
    assert "tracekit.stream.usage_injected" not in spans[0]["attributes"]
    assert spans[1]["attributes"]["tracekit.stream.usage_injected"] is True


def test_time_to_first_token_counts_from_the_first_content(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """Role-only chunks and bookkeeping events come before the first token; they do not count."""
    delay = 0.2  # before each content chunk, not before the role chunk / response.created
    server.queue(Reply(text="slow words", chunk_delay_s=delay))
    server.queue(Reply(text="slow words", chunk_delay_s=delay))
    for _ in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
        pass
    for _ in client.responses.create(model="gpt-4.1", input="Hi", stream=True):
        pass
    for span in llm_spans(collected):
        assert span["attributes"]["tracekit.stream.time_to_first_token_ms"] >= delay * 1000 * 0.9


def test_stream_break_and_close_ends_span_as_cancelled(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """Breaking out and closing ends the span with partial output, marked cancelled."""
    server.queue(Reply(text="alpha beta gamma delta epsilon zeta eta theta"))
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    for i, _chunk in enumerate(stream):
        if i == 2:
            break
    stream.close()
    span = one_llm_span(collected)
    attrs = span["attributes"]
    assert attrs["tracekit.stream.cancelled"] is True
    assert attrs["gen_ai.response.finish_reasons"] == ["cancelled"]
    assert attrs["tracekit.stream.chunks"] == 3
    assert (
        0 < len(span["outputs"]["content"]) < len("alpha beta gamma delta epsilon zeta eta theta")
    )


def test_stream_closed_after_the_reply_arrived_is_not_cancelled(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """Leaving a stream once the reply is complete (the finish-reason chunk without usage
    requested; Responses' response.completed) is not a cancellation."""
    server.queue(Reply(text="done here"), Reply(text="done there"))
    with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].finish_reason:
                break
    with client.responses.create(model="gpt-4.1", input="Hi", stream=True) as events:
        for event in events:
            if event.type == "response.completed":
                break
    chat, responses = llm_spans(collected)
    assert chat["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
    assert responses["attributes"]["gen_ai.response.finish_reasons"] == ["completed"]
    for span in (chat, responses):
        assert "tracekit.stream.cancelled" not in span["attributes"]


def test_stream_with_several_choices_is_complete_when_all_have_finished() -> None:
    """With n=2 (which the fake server does not stream), the reply is complete only when both
    choices have a finish reason; checked on the SDK's own chunk objects."""
    from openai.types.chat import ChatCompletionChunk

    from tracekit.integrations.openai import _ChatStream

    def chunk(index: int, content: str | None, finish: str | None) -> Any:
        return ChatCompletionChunk.model_validate(
            {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": MODEL,
                "choices": [
                    {"index": index, "delta": {"content": content}, "finish_reason": finish}
                ],
            }
        )

    class Call:
        usage_injected = False

    state = _ChatStream(Call(), {"n": 2, "stream": True})  # type: ignore[arg-type]
    for item in (chunk(0, "a", None), chunk(1, "b", None), chunk(0, None, "stop")):
        state.on_chunk(item)
    assert not state.complete
    state.on_chunk(chunk(1, None, "stop"))
    assert state.complete


def test_stream_usage_reply_left_after_finish_is_complete_and_chunks_are_what_was_read(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """With stream_usage=True the caller never asked for usage: leaving after the
    finish-reason chunk is a complete reply (finish reason kept), and the chunk count is
    what the caller iterated, without the hidden usage chunk."""
    tracekit.openai.autolog(stream_usage=True)
    server.queue(Reply(text="one two"), Reply(text="three four"))
    with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].finish_reason:
                break
    read = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    left, whole = llm_spans(collected)
    assert left["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
    assert "tracekit.stream.cancelled" not in left["attributes"]
    assert whole["attributes"]["tracekit.stream.chunks"] == len(read)
    assert whole["usage"]["output_tokens"] > 0


def test_streaming_response_left_early_ends_the_span(
    server: FakeLLMServer, client: Any, aclient: Any, collected: Any
) -> None:
    """with_streaming_response(stream=True), read in part, then the `with` block left: the
    span ends there, cancelled, with the partial text and the chunks read (sync and async)."""
    server.queue(Reply(text="a b c d e f g h"), Reply(text="a b c d e f g h"))
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, stream=True
    ) as response:
        stream = response.parse()
        for i, _chunk in enumerate(stream):
            if i == 2:
                break
    kept = stream  # still referenced: only leaving `with` can have ended the span
    [span] = llm_spans(collected)
    assert span["attributes"]["tracekit.stream.cancelled"] is True
    assert span["attributes"]["tracekit.stream.chunks"] == 3
    assert span["outputs"]["content"]

    async def main() -> Any:
        async with aclient.chat.completions.with_streaming_response.create(
            model=MODEL, messages=MESSAGES, stream=True
        ) as aresponse:
            astream = await aresponse.parse()
            async for _chunk in astream:
                break
        await aclient.close()
        return astream

    still = asyncio.run(main())
    spans = llm_spans(collected)
    assert len(spans) == 2 and spans[1]["attributes"]["tracekit.stream.cancelled"] is True
    del kept, still


def test_log_outputs_off_keeps_tool_names_not_arguments(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """log_outputs=False: the generated tool-call arguments are output and are not recorded;
    the tool names and ids are (plain and streamed)."""
    tracekit.openai.autolog(log_outputs=False)
    call = ToolCall("lookup", {"ssn": "123-45-6789"}, id="call_x")
    server.queue(Reply(tool_calls=[call]), Reply(tool_calls=[call]))
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    for _ in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
        pass
    assert "123-45-6789" not in json.dumps(collected.traces())
    for span in llm_spans(collected):
        assert span["attributes"]["tracekit.tool_calls"] == [{"id": "call_x", "name": "lookup"}]
        assert span["outputs"] is None


def test_streamed_refusal_is_recorded(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """A refusal streamed in refusal deltas lands in the output, as for a plain call."""
    server.queue(Reply(refusal="I can't help with that."), Reply(refusal="I can't help with that."))
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    for _ in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
        pass
    plain, streamed = llm_spans(collected)
    assert plain["outputs"]["refusal"] == "I can't help with that."
    assert streamed["outputs"]["refusal"] == "I can't help with that."


def test_stream_with_block_and_gc_end_span(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """Leaving `with stream:` early, or dropping an unfinished stream, ends the span."""
    server.queue(Reply(text="a b c d e f g h"), Reply(text="a b c d e f g h"))
    with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        next(iter(stream))
    dropped = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    next(dropped)
    del dropped
    gc.collect()
    spans = llm_spans(collected)
    assert len(spans) == 2
    assert all(s["attributes"]["tracekit.stream.cancelled"] for s in spans)


def test_mid_stream_error_is_recorded_and_reraised(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """An error event mid-stream raises the SDK's error; the span keeps the partial text."""
    server.queue(Reply(text="partial answer here", fail_after_chunks=2, error_message="boom"))
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
            received.append(chunk)
    span = one_llm_span(collected)
    assert span["status"] == "ERROR"
    assert "boom" in span["error"]["message"]
    assert span["error"]["type"].endswith(type(info.value).__qualname__)
    assert span["outputs"]["content"]  # partial output kept


def test_responses_stream_error_event_fails_the_span(
    server: FakeLLMServer, client: Any, aclient: Any, collected: Any
) -> None:
    """A Responses `error` event is yielded, not raised: the span still ends as an error with
    the API's code and message, sync and async, and keeps the partial text."""
    for _ in range(2):
        server.queue(Reply(text="partial answer here", fail_after_chunks=2, error_message="boom"))
    events = list(client.responses.create(model="gpt-4.1", input="x", stream=True))
    assert events  # the caller saw the events, the error one included

    async def main() -> None:
        stream = await aclient.responses.create(model="gpt-4.1", input="x", stream=True)
        async for _event in stream:
            pass
        await aclient.close()

    asyncio.run(main())
    spans = llm_spans(collected)
    assert len(spans) == 2
    for span in spans:
        assert span["status"] == "ERROR"
        assert span["status_message"] == "boom"
        assert span["error"] == {"type": "server_error", "message": "boom", "stacktrace": None}
        assert span["outputs"]["partial_text"]


def test_responses_stream_cancelled_mid_tool_call_keeps_the_arguments_so_far(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """A Responses stream closed while a function call's arguments stream in records the call
    with the arguments received; a complete one records them whole."""
    call = ToolCall("lookup", {"query": "a fairly long query string to split"}, id="call_r1")
    server.queue(Reply(tool_calls=[call]), Reply(tool_calls=[call]))
    stream = client.responses.create(model="gpt-4.1", input="x", stream=True, tools=TOOLS_R)
    for event in stream:
        if event.type == "response.function_call_arguments.delta":
            break
    stream.close()
    for _ in client.responses.create(model="gpt-4.1", input="x", stream=True, tools=TOOLS_R):
        pass
    cut, whole = llm_spans(collected)
    assert cut["attributes"]["tracekit.stream.cancelled"] is True
    [partial] = cut["attributes"]["tracekit.tool_calls"]
    assert partial["id"] == "call_r1" and partial["name"] == "lookup"
    assert '{"query": "a fairly long query string to split"}'.startswith(partial["arguments"])
    [full] = whole["attributes"]["tracekit.tool_calls"]
    assert json.loads(full["arguments"]) == {"query": "a fairly long query string to split"}


def test_cancelled_task_ends_an_async_stream_as_cancelled(
    server: FakeLLMServer, aclient: Any, collected: Any
) -> None:
    """A task cancelled while it reads a stream: the span ends cancelled, not failed, and the
    CancelledError still reaches the task."""
    server.queue(Reply(text="one two three four five six", chunk_delay_s=0.2))

    async def reader() -> None:
        stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        async for _chunk in stream:
            pass

    async def main() -> None:
        task = asyncio.create_task(reader())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await aclient.close()

    asyncio.run(main())
    span = one_llm_span(collected)
    assert span["status"] == "OK"
    assert span["attributes"]["gen_ai.response.finish_reasons"] == ["cancelled"]


def test_parse_helper_one_span(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """chat.completions.parse is traced once, with the parsed message as output."""

    class City(pydantic.BaseModel):
        name: str
        population: int

    server.queue(Reply(text='{"name": "Paris", "population": 2100000}'))
    result = chat_helpers(client).parse(model=MODEL, messages=MESSAGES, response_format=City)
    assert result.choices[0].message.parsed == City(name="Paris", population=2100000)
    span = one_llm_span(collected)
    assert span["attributes"]["gen_ai.request.response_format"] == "City"
    assert span["outputs"]["parsed"] == {"name": "Paris", "population": 2100000}


def test_stream_helper_one_span_and_early_exit(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """chat.completions.stream(): one span; leaving the `with` early still ends it."""
    server.queue(Reply(text="full helper text"), Reply(text="x y z w v u t s"))
    with chat_helpers(client).stream(model=MODEL, messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "full helper text"
    with chat_helpers(client).stream(model=MODEL, messages=MESSAGES) as stream:
        for _event in stream:
            break
    spans = llm_spans(collected)
    assert len(spans) == 2
    assert spans[0]["outputs"]["content"] == "full helper text"
    assert spans[1]["attributes"]["tracekit.stream.cancelled"] is True


# -- raw responses -------------------------------------------------------------------------


def test_with_raw_response(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """with_raw_response keeps working and is traced once, with usage."""
    server.queue(Reply(text="raw", usage=Usage(input_tokens=5, output_tokens=1)))
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert raw.headers.get("x-request-id")
    assert raw.parse().choices[0].message.content == "raw"
    span = one_llm_span(collected)
    assert span["usage"]["input_tokens"] == 5
    assert span["outputs"]["content"] == "raw"


def test_with_raw_response_stream(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """A raw streamed response: parse() gives the stream, the span ends when it is consumed."""
    server.queue(Reply(text="streamed raw"))
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, stream=True
    )
    chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed raw"
    assert one_llm_span(collected)["outputs"]["content"] == "streamed raw"


def test_streams_and_async_raw_responses_carry_request_id(
    server: FakeLLMServer, client: Any, aclient: Any, collected: Any
) -> None:
    """Streamed calls take the request id from the response headers; an async
    with_raw_response is traced once with its output."""
    server.queue(
        Reply(text="streamed", request_id="req_stream"),
        Reply(text="responses streamed", request_id="req_resp"),
        Reply(text="async raw", request_id="req_araw"),
    )
    for _ in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
        pass
    for _ in client.responses.create(model="gpt-4.1", input="Hi", stream=True):
        pass

    async def main() -> None:
        raw = await aclient.chat.completions.with_raw_response.create(
            model=MODEL, messages=MESSAGES
        )
        parsed = raw.parse()
        if asyncio.iscoroutine(parsed):
            parsed = await parsed
        assert parsed.choices[0].message.content == "async raw"
        await aclient.close()

    asyncio.run(main())
    spans = llm_spans(collected)
    assert [s["attributes"]["tracekit.request_id"] for s in spans] == [
        "req_stream",
        "req_resp",
        "req_araw",
    ]
    assert spans[2]["outputs"]["content"] == "async raw"


def test_with_streaming_response(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """with_streaming_response works as a context manager and is traced once, with usage."""
    server.queue(Reply(text="streaming resp", usage=Usage(input_tokens=4, output_tokens=2)))
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES
    ) as response:
        completion = response.parse()
    assert completion.choices[0].message.content == "streaming resp"
    span = one_llm_span(collected)
    assert span["usage"]["output_tokens"] == 2


# -- responses, embeddings, legacy completions -------------------------------------------


def test_responses_create(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """responses.create: instructions and input as inputs, output items, usage, tool calls."""
    server.queue(
        Reply(
            text="Answer",
            tool_calls=[ToolCall("search", {"q": "x"}, id="fc_1")],
            usage=Usage(input_tokens=50, output_tokens=10, cached_tokens=20, reasoning_tokens=4),
        )
    )
    response = client.responses.create(model="gpt-4.1", instructions="Be brief", input="Hi")
    span = one_llm_span(collected)
    assert span["inputs"] == {"instructions": "Be brief", "input": "Hi"}
    assert [item["type"] for item in span["outputs"]["output"]] == [
        item.type for item in response.output
    ]
    assert span["attributes"]["tracekit.tool_calls"][0]["name"] == "search"
    assert span["usage"]["cached_input_tokens"] == 20
    assert span["usage"]["reasoning_tokens"] == 4
    assert span["cost_usd"] is not None


def test_responses_stream_and_helper(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """responses.create(stream=True) and responses.stream() are one span each, with usage."""
    server.queue(Reply(text="streamed"), Reply(text="helper"))
    events = list(client.responses.create(model="gpt-4.1", input="Hi", stream=True))
    assert events[-1].type == "response.completed"
    with client.responses.stream(model="gpt-4.1", input="Hi") as stream:
        final = stream.get_final_response()
    assert final.output_text == "helper"
    spans = llm_spans(collected)
    assert len(spans) == 2
    assert all(s["usage"] and s["usage"]["input_tokens"] > 0 for s in spans)


def test_responses_parse_and_beta(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """responses.parse and client.beta.responses.create are traced once each."""

    class Answer(pydantic.BaseModel):
        value: int

    server.queue(Reply(text='{"value": 42}'))
    parsed = client.responses.parse(model="gpt-4.1", input="6*7", text_format=Answer)
    assert parsed.output_parsed == Answer(value=42)
    if hasattr(client, "beta") and hasattr(client.beta, "responses"):
        client.beta.responses.create(model="gpt-4.1", input="Hi")
        assert len(llm_spans(collected)) == 2
    else:
        assert len(llm_spans(collected)) == 1


def test_embeddings(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """embeddings.create: an EMBEDDING span with input, count, dimensions and usage."""
    result = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(result.data) == 2
    span = one_llm_span(collected)
    assert span["span_type"] == "EMBEDDING"
    assert span["name"] == "embeddings text-embedding-3-small"
    assert span["inputs"] == {"input": ["a", "b"]}
    assert span["outputs"] == {"embeddings": 2, "dimensions": len(result.data[0].embedding)}
    assert span["usage"]["input_tokens"] > 0
    assert span["cost_usd"] is not None


def test_legacy_completions(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """Legacy completions.create, plain and streamed, are LLM spans with the text."""
    server.queue(Reply(text="legacy text"), Reply(text="legacy stream"))
    client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once")
    list(client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once", stream=True))
    spans = llm_spans(collected)
    assert [s["span_type"] for s in spans] == ["LLM", "LLM"]
    assert [s["outputs"] for s in spans] == ["legacy text", "legacy stream"]
    assert spans[0]["inputs"] == {"prompt": "Once"}


def test_async_surfaces_each_one_span(server: FakeLLMServer, aclient: Any, collected: Any) -> None:
    """The async client on every traced surface the sync tests cover: chat parse, Responses
    (streamed, parse, the stream helper, beta), legacy completions (plain and streamed), and
    with_streaming_response / with_raw_response with stream=True; one span each, in order,
    with the reply and usage, and streams of the SDK's own AsyncStream class."""

    class Answer(pydantic.BaseModel):
        value: int

    has_beta = hasattr(aclient, "beta") and hasattr(aclient.beta, "responses")
    texts = [
        '{"value": 1}',
        "responses streamed",
        '{"value": 2}',
        "responses helper",
        "legacy",
        "legacy streamed",
        "streaming response",
        "raw streamed",
    ] + (["beta"] if has_beta else [])
    server.queue(*(Reply(text=t, usage=Usage(input_tokens=5, output_tokens=3)) for t in texts))

    async def main() -> None:
        parsed = await chat_helpers(aclient).parse(
            model=MODEL, messages=MESSAGES, response_format=Answer
        )
        assert parsed.choices[0].message.parsed == Answer(value=1)
        stream = await aclient.responses.create(model="gpt-4.1", input="Hi", stream=True)
        assert isinstance(stream, openai.AsyncStream)
        assert [e.type async for e in stream][-1] == "response.completed"
        answer = await aclient.responses.parse(model="gpt-4.1", input="1+1", text_format=Answer)
        assert answer.output_parsed == Answer(value=2)
        async with aclient.responses.stream(model="gpt-4.1", input="Hi") as helper:
            assert (await helper.get_final_response()).output_text == "responses helper"
        legacy = await aclient.completions.create(model="gpt-3.5-turbo-instruct", prompt="x")
        assert legacy.choices[0].text == "legacy"
        pieces = await aclient.completions.create(
            model="gpt-3.5-turbo-instruct", prompt="x", stream=True
        )
        assert "".join([c.choices[0].text async for c in pieces if c.choices]) == "legacy streamed"
        async with aclient.chat.completions.with_streaming_response.create(
            model=MODEL, messages=MESSAGES, stream=True
        ) as response:
            chunks = [c async for c in await response.parse()]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
            "streaming response"
        )
        raw = await aclient.chat.completions.with_raw_response.create(
            model=MODEL, messages=MESSAGES, stream=True
        )
        parsed_stream = raw.parse()
        if asyncio.iscoroutine(parsed_stream):
            parsed_stream = await parsed_stream
        assert [c async for c in parsed_stream]
        if has_beta:
            await aclient.beta.responses.create(model="gpt-4.1", input="Hi")
        await aclient.close()

    asyncio.run(main())
    spans = llm_spans(collected)
    assert len(spans) == len(texts)
    outputs = json.dumps([s["outputs"] for s in spans])
    for text in texts:
        assert json.dumps(text)[1:-1] in outputs
    streamed = [i for i, s in enumerate(spans) if "tracekit.stream.chunks" in s["attributes"]]
    assert streamed == [1, 3, 5, 6, 7]
    # Usage wherever the API sent it: not on chat / legacy streams that did not ask for it.
    with_usage = [i for i, s in enumerate(spans) if s["usage"]]
    assert with_usage == [0, 1, 2, 3, 4] + ([8] if has_beta else [])


# -- errors ---------------------------------------------------------------------------------


def test_http_error_recorded_and_same_exception(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """A 429 is recorded (status, request id, error type) and re-raised unchanged."""
    server.queue(Reply(error_status=429, error_message="slow down", request_id="req_429"))
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    span = one_llm_span(collected)
    assert span["status"] == "ERROR"
    assert span["error"]["type"] == "openai.RateLimitError"
    assert "slow down" in span["error"]["message"]
    assert span["attributes"]["http.response.status_code"] == 429
    assert span["attributes"]["tracekit.request_id"] == "req_429"
    assert info.value.status_code == 429


def test_retries_stay_one_span(server: FakeLLMServer, collected: Any) -> None:
    """A 500 retried by the SDK, then success: one span, status OK."""
    server.queue(Reply(error_status=500, retry_after_s=0.001), Reply(text="second try"))
    with openai.OpenAI(base_url=server.openai_base_url, api_key=API_KEY, max_retries=2) as c:
        c.chat.completions.create(model=MODEL, messages=MESSAGES)
    span = one_llm_span(collected)
    assert span["status"] == "OK"
    assert span["outputs"]["content"] == "second try"
    assert len([r for r in server.requests if r.path == "/v1/chat/completions"]) == 2


def test_connection_error_and_timeout(server: FakeLLMServer, collected: Any) -> None:
    """Connection refused and client timeouts are recorded and re-raised."""
    with openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key=API_KEY, max_retries=0) as c:
        with pytest.raises(openai.APIConnectionError):
            c.chat.completions.create(model=MODEL, messages=MESSAGES)
    server.queue(Reply(text="late", delay_s=1.0))
    with openai.OpenAI(
        base_url=server.openai_base_url, api_key=API_KEY, max_retries=0, timeout=0.2
    ) as c:
        with pytest.raises(openai.APITimeoutError):
            c.chat.completions.create(model=MODEL, messages=MESSAGES)
    spans = llm_spans(collected)
    assert [s["error"]["type"] for s in spans] == [
        "openai.APIConnectionError",
        "openai.APITimeoutError",
    ]


# -- privacy --------------------------------------------------------------------------------


def test_api_key_and_auth_headers_never_recorded(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """Neither the API key nor credential-like headers or kwargs appear in the record."""
    client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        extra_headers={"Authorization": "Bearer sk-other-secret", "X-Api-Key": "k-123"},
    )
    dumped = json.dumps(collected.traces())
    assert API_KEY not in dumped
    assert "sk-other-secret" not in dumped
    assert "k-123" not in dumped
    assert server.requests[-1].headers["authorization"] == "Bearer sk-other-secret"


def test_secrets_in_parameters_and_messages_are_scrubbed(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """Credentials inside parameter values and message content are scrubbed, credential-like
    keys inside them redacted, and a number beyond 64 bits is kept as its decimal string."""
    secret = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
    client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": f"my key is {secret}", "api_key": "hidden"}],
        user=f"user {secret}",
        metadata={"session_token": "t-1", "team": "a"},
        seed=2**70,
    )
    span = one_llm_span(collected)
    dumped = json.dumps(collected.traces())
    assert secret not in dumped and "hidden" not in dumped and "t-1" not in dumped
    attrs = span["attributes"]
    assert attrs["gen_ai.request.user"] == "user [REDACTED:openai_api_key]"
    assert attrs["gen_ai.request.metadata"] == {
        "session_token": "[REDACTED:secret_key]",
        "team": "a",
    }
    assert attrs["gen_ai.request.seed"] == str(2**70)
    assert span["inputs"]["messages"][0]["content"] == "my key is [REDACTED:openai_api_key]"


def test_reported_ids_and_models_are_scrubbed_too(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """A proxy may echo a request's model string, and a request id is whatever the server
    sends: both are scrubbed like every other value."""
    secret = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
    server.queue(Reply(text="ok", model=f"proxy/{secret}", request_id=f"req {secret}"))
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    attrs = one_llm_span(collected)["attributes"]
    assert attrs["gen_ai.response.model"] == "proxy/[REDACTED:openai_api_key]"
    assert attrs["tracekit.request_id"] == "req [REDACTED:openai_api_key]"


def test_usage_that_is_not_a_count_is_left_out(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """A server reporting a token count beyond 64 bits gets the same check as set_usage(): the
    count is left out (with a warning), the rest of the span is kept and exported."""
    server.queue(Reply(text="ok", usage=Usage(input_tokens=2**70, output_tokens=3)))
    with pytest.warns(tracekit.TracekitWarning, match="is not a count"):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    span = one_llm_span(collected)
    assert span["usage"]["output_tokens"] == 3
    assert "input_tokens" not in span["usage"] and "total_tokens" not in span["usage"]
    assert span["cost_usd"] is None  # no price without the input count
    assert span["outputs"]["content"] == "ok"


def test_log_inputs_and_outputs_off(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """autolog(log_inputs=False, log_outputs=False) keeps usage but no message text."""
    tracekit.openai.autolog(log_inputs=False, log_outputs=False)
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    span = one_llm_span(collected)
    assert span["inputs"] is None and span["outputs"] is None
    assert span["usage"]["input_tokens"] > 0


# -- control ---------------------------------------------------------------------------------


def test_autolog_idempotent_and_disable_restores_originals(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """Twice is once; disable=True puts back the SDK's own function objects."""
    from openai.resources.chat.completions.completions import Completions

    tracekit.openai.autolog(disable=True)
    original = Completions.__dict__["create"]
    tracekit.openai.autolog()
    tracekit.openai.autolog()
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert len(llm_spans(collected)) == 1
    tracekit.openai.autolog(disable=True)
    assert Completions.__dict__["create"] is original
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert len(llm_spans(collected)) == 1


def test_every_patched_method_is_wrapped_once_and_restored() -> None:
    """Every method of the patch list: one wrapper while on, the very original after disable."""
    import importlib

    import wrapt

    from tracekit.integrations.openai import _patch_list

    tracekit.openai.autolog(disable=True)
    targets = []
    for patch in _patch_list():
        try:
            owner = importlib.import_module(patch.module)
        except ImportError:
            continue  # an older release without this module
        class_name, method = patch.target.split(".")
        cls = getattr(owner, class_name, None)
        if cls is not None and method in cls.__dict__:
            targets.append((cls, method, cls.__dict__[method]))
    assert len(targets) >= 10
    tracekit.openai.autolog()
    tracekit.openai.autolog()
    for cls, method, original in targets:
        wrapper = cls.__dict__[method]
        assert isinstance(wrapper, wrapt.FunctionWrapper), (cls, method)
        assert wrapper.__wrapped__ is original, (cls, method)  # not wrapped twice
    tracekit.openai.autolog(disable=True)
    for cls, method, original in targets:
        assert cls.__dict__[method] is original, (cls, method)
    tracekit.openai.autolog()


def test_another_instrumentation_wrapped_first(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """A method another instrumentation wrapped (with wrapt, as OpenInference and OpenLLMetry
    do) is wrapped over: both record, and disable puts the other wrapper back as it was."""
    import wrapt
    from openai.resources.chat.completions.completions import Completions

    tracekit.openai.autolog(disable=True)
    original = Completions.__dict__["create"]
    seen: list[str] = []

    def other(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        seen.append(kwargs["model"])
        return wrapped(*args, **kwargs)

    theirs = wrapt.FunctionWrapper(original, other)
    Completions.create = theirs
    try:
        tracekit.openai.autolog()
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert seen == [MODEL]
        assert len(llm_spans(collected)) == 1
        tracekit.openai.autolog(disable=True)
        assert Completions.__dict__["create"] is theirs
    finally:
        Completions.create = original
        tracekit.openai.autolog()


def test_client_created_before_autolog(server: FakeLLMServer, collected: Any) -> None:
    """A client that existed before autolog() is traced too."""
    tracekit.openai.autolog(disable=True)
    early = openai.OpenAI(base_url=server.openai_base_url, api_key=API_KEY, max_retries=0)
    tracekit.openai.autolog()
    early.chat.completions.create(model=MODEL, messages=MESSAGES)
    early.close()
    assert len(llm_spans(collected)) == 1


@pytest.mark.slow
def test_autolog_before_import(server: FakeLLMServer, tmp_path: Path) -> None:
    """autolog() before `import openai` patches openai when it is imported."""
    code = textwrap.dedent(
        f"""
        import sys, tracekit
        tracekit.openai.autolog()
        assert "openai" not in sys.modules
        import openai
        client = openai.OpenAI(base_url={server.openai_base_url!r}, api_key="sk-x")
        messages = [{{"role": "user", "content": "x"}}]
        client.chat.completions.create(model="gpt-4o", messages=messages)
        """
    )
    env = {
        "TRACEKIT_HOME": str(tmp_path),
        "TRACEKIT_EXPORTERS": "jsonl",
        "PATH": "/usr/bin:/bin",
        "NO_PROXY": "127.0.0.1",
    }
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    record = json.loads((tmp_path / "traces.jsonl").read_text().splitlines()[0])
    assert record["spans"][0]["provider"] == "openai"


# -- nesting --------------------------------------------------------------------------------


def test_nesting_under_trace_gather_and_threads(
    server: FakeLLMServer, client: Any, aclient: Any, collected: Any
) -> None:
    """Inside @trace a call is a child; gathered calls are siblings; executor calls children."""

    @tracekit.trace(span_type="AGENT")
    def agent() -> None:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        with ThreadPoolExecutor(2) as pool:
            list(
                pool.map(
                    lambda _: client.embeddings.create(model="text-embedding-3-small", input="x"),
                    range(2),
                )
            )

    @tracekit.trace(span_type="AGENT")
    async def fan_out() -> None:
        await asyncio.gather(
            aclient.chat.completions.create(model=MODEL, messages=MESSAGES),
            aclient.chat.completions.create(model=MODEL, messages=MESSAGES),
        )
        await aclient.close()

    agent()
    asyncio.run(fan_out())
    traces = collected.traces()
    assert len(traces) == 2
    for trace in traces:
        root = next(s for s in trace["spans"] if s["parent_span_id"] is None)
        children = [s for s in trace["spans"] if s is not root]
        assert len(children) == 3 if root["name"] == "agent" else len(children) == 2
        assert all(s["parent_span_id"] == root["span_id"] for s in children)


# -- async client ------------------------------------------------------------------------


def test_async_create_stream_and_early_close(
    server: FakeLLMServer, aclient: Any, collected: Any
) -> None:
    """Async create, async streaming and an early aclose() are traced like sync."""
    server.queue(Reply(text="async one"), Reply(text="async stream"), Reply(text="a b c d e f"))

    async def main() -> None:
        await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
        stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        assert isinstance(stream, openai.AsyncStream)
        async for _chunk in stream:
            pass
        early = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        async for _chunk in early:
            break
        await early.close()
        await aclient.close()

    asyncio.run(main())
    spans = llm_spans(collected)
    assert [s["outputs"]["content"] for s in spans[:2]] == ["async one", "async stream"]
    assert spans[2]["attributes"]["tracekit.stream.cancelled"] is True


def test_async_responses_embeddings_and_helpers(
    server: FakeLLMServer, aclient: Any, collected: Any
) -> None:
    """Async responses, embeddings and the chat stream helper: one span each."""
    server.queue(Reply(text="r"), Reply(), Reply(text="helper async"))  # one per request

    async def main() -> None:
        await aclient.responses.create(model="gpt-4.1", input="Hi")
        await aclient.embeddings.create(model="text-embedding-3-small", input="x")
        async with chat_helpers(aclient).stream(model=MODEL, messages=MESSAGES) as stream:
            await stream.get_final_completion()
        await aclient.close()

    asyncio.run(main())
    spans = llm_spans(collected)
    assert [s["span_type"] for s in spans] == ["CHAT_MODEL", "EMBEDDING", "CHAT_MODEL"]
    assert spans[2]["outputs"]["content"] == "helper async"


def test_unknown_model_has_null_cost(server: FakeLLMServer, client: Any, collected: Any) -> None:
    """A model missing from the price table: usage kept, cost null."""
    client.chat.completions.create(model="my-finetune-xyz", messages=MESSAGES)
    span = one_llm_span(collected)
    assert span["usage"]["input_tokens"] > 0
    assert span["cost_usd"] is None


def test_capture_content_override_per_integration(
    server: FakeLLMServer, client: Any, collected: Any
) -> None:
    """autolog(capture_content="metadata") keeps model, usage and tool names, not content."""
    tracekit.openai.autolog(capture_content="metadata")
    server.queue(Reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_1")]))
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "secret"}])
    span = one_llm_span(collected)
    assert span["inputs"] is None and span["outputs"] is None
    assert span["attributes"]["tracekit.tool_calls"] == [{"id": "call_1", "name": "get_weather"}]
    assert span["usage"]["input_tokens"] > 0
    assert "Paris" not in json.dumps(collected.traces())
    with pytest.raises(ValueError, match="capture_content"):
        tracekit.openai.autolog(capture_content="everything")  # type: ignore[arg-type]
