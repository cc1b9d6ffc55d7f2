"""tracekit.testing.FakeLLMServer, driven by the real openai and anthropic SDK clients."""

from __future__ import annotations

import asyncio
import http.client
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from tracekit.testing import FakeLLMServer, Reply, ToolCall, Usage

OPENAI_MODEL = "gpt-4o-2024-08-06"
CLAUDE_MODEL = "claude-sonnet-4-6"  # not in the SDK's deprecated-model table
USER = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER = ToolCall(name="get_weather", arguments={"city": "Paris", "unit": "celsius"}, id="call_1")


class Weather(BaseModel):
    city: str
    temperature: int


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # httpx2 honours HTTP(S)_PROXY; loopback must bypass any proxy a CI sets.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


@pytest.fixture(scope="module")
def openai_sdk() -> Any:
    openai = pytest.importorskip("openai")
    # The SDK imports its resource modules lazily (`client.beta` alone takes ~0.6 s);
    # pay that once here so test timings measure the server, not the SDK's imports.
    with openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="k") as client:
        for name in ("chat", "responses", "embeddings", "completions", "beta", "models"):
            getattr(client, name)
    return openai


@pytest.fixture(scope="module")
def anthropic_sdk() -> Any:
    anthropic = pytest.importorskip("anthropic")
    with anthropic.Anthropic(base_url="http://127.0.0.1:9", api_key="k") as client:
        for name in ("messages", "models"):
            getattr(client, name)
    return anthropic


@pytest.fixture
def oai(openai_sdk: Any, server: FakeLLMServer) -> Iterator[Any]:
    with openai_sdk.OpenAI(
        base_url=server.openai_base_url, api_key="test-key", max_retries=0
    ) as client:
        yield client


@pytest.fixture
def claude(anthropic_sdk: Any, server: FakeLLMServer) -> Iterator[Any]:
    with anthropic_sdk.Anthropic(
        base_url=server.anthropic_base_url, api_key="test-key", max_retries=0
    ) as client:
        yield client


# --------------------------------------------------------------------------- server basics


def test_urls_requests_and_queue_bookkeeping(server: FakeLLMServer) -> None:
    assert server.openai_base_url == f"http://127.0.0.1:{server.port}/v1"
    assert server.anthropic_base_url == f"http://127.0.0.1:{server.port}"
    server.queue(Reply(text="a"), Reply(text="b"))
    assert server.pending == 2
    with pytest.raises(TypeError):
        server.queue("not a reply")  # type: ignore[arg-type]
    server.clear()
    assert server.pending == 0
    assert server.requests == []


def test_reply_validation() -> None:
    with pytest.raises(ValueError):
        Reply(error_status=200)
    with pytest.raises(ValueError):
        Reply(fail_after_chunks=-1)
    with pytest.raises(TypeError):
        Reply(tool_calls=["get_weather"])  # type: ignore[list-item]
    assert Reply(tool_calls=[WEATHER]).tool_calls == (WEATHER,)


def test_close_is_idempotent_and_stops_listening() -> None:
    fake = FakeLLMServer()
    port = fake.port
    fake.close()
    fake.close()
    assert "closed" in repr(fake)
    with pytest.raises(OSError):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            connection.request("POST", "/v1/chat/completions", body="{}")
        finally:
            connection.close()


def test_keep_alive_and_chunked_streams_on_one_connection(server: FakeLLMServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        body = {"model": "m", "messages": USER}
        connection.request("POST", "/v1/chat/completions", body=json.dumps(body))
        first = connection.getresponse()
        assert first.getheader("Content-Length") is not None
        assert json.loads(first.read())["object"] == "chat.completion"
        connection.request(
            "POST", "/v1/chat/completions", body=json.dumps({**body, "stream": True})
        )
        second = connection.getresponse()
        assert second.getheader("Transfer-Encoding") == "chunked"
        assert second.read().decode().endswith("data: [DONE]\n\n")
        connection.request("POST", "/v1/chat/completions", body=json.dumps(body))
        assert connection.getresponse().status == 200  # same socket, third request
    finally:
        connection.close()


def test_import_is_cheap_and_sdk_free() -> None:
    # Only what tracekit.testing itself adds is checked, so integrations that tracekit
    # may import do not make this test fail.
    code = (
        "import sys, tracekit; before = set(sys.modules); import tracekit.testing; "
        "heavy = {'http', 'socketserver', 'email', 'openai', 'anthropic', 'httpx2', 'httpx'}; "
        "added = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "assert not added & heavy, added & heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    code = "import sys, tracekit; assert 'tracekit.testing' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_invalid_json_body_is_a_400(server: FakeLLMServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("POST", "/v1/chat/completions", body=b"{not json")
        response = connection.getresponse()
        assert response.status == 400
        assert "error" in json.loads(response.read())
    finally:
        connection.close()


def test_concurrent_clients(oai: Any, server: FakeLLMServer) -> None:
    results: list[str] = []

    def ask(i: int) -> None:
        messages = [{"role": "user", "content": f"q{i}"}]
        completion = oai.chat.completions.create(model=OPENAI_MODEL, messages=messages)
        results.append(completion.choices[0].message.content)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == sorted(f"echo: q{i}" for i in range(8))
    assert len(server.requests) == 8


# --------------------------------------------------------------------------- OpenAI chat


def test_chat_default_echo_and_recorded_request(oai: Any, server: FakeLLMServer) -> None:
    completion = oai.chat.completions.create(model=OPENAI_MODEL, messages=USER)
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == OPENAI_MODEL
    choice = completion.choices[0]
    assert choice.message.content == "echo: What is the weather in Paris?"
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    assert completion._request_id.startswith("req_")

    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer test-key"
    assert request.json["messages"] == USER
    assert json.loads(request.body) == request.json


def test_chat_scripted_reply_and_usage(oai: Any, server: FakeLLMServer) -> None:
    usage = Usage(
        input_tokens=100,
        output_tokens=20,
        cached_tokens=64,
        cache_write_tokens=8,
        reasoning_tokens=5,
    )
    server.queue(Reply(text="Sunny", model="gpt-4o-mini", usage=usage, request_id="req_fixed"))
    completion = oai.chat.completions.create(model=OPENAI_MODEL, messages=USER)
    assert completion.choices[0].message.content == "Sunny"
    assert completion.model == "gpt-4o-mini"
    assert completion._request_id == "req_fixed"
    assert completion.system_fingerprint
    got = completion.usage
    assert (got.prompt_tokens, got.completion_tokens, got.total_tokens) == (100, 20, 120)
    assert got.prompt_tokens_details.cached_tokens == 64
    assert got.prompt_tokens_details.cache_write_tokens == 8
    assert got.completion_tokens_details.reasoning_tokens == 5


def test_chat_tool_calls(oai: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(tool_calls=[WEATHER, ToolCall(name="get_time", arguments={"tz": "CET"})]))
    completion = oai.chat.completions.create(model=OPENAI_MODEL, messages=USER)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    first, second = choice.message.tool_calls
    assert (first.id, first.type, first.function.name) == ("call_1", "function", "get_weather")
    assert json.loads(first.function.arguments) == {"city": "Paris", "unit": "celsius"}
    assert second.id.startswith("call_")
    assert second.function.name == "get_time"


def test_chat_finish_reason_and_refusal(oai: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(text="cut", finish_reason="max_tokens"), Reply(refusal="I can't help."))
    truncated = oai.chat.completions.create(model=OPENAI_MODEL, messages=USER)
    assert truncated.choices[0].finish_reason == "length"
    message = oai.chat.completions.create(model=OPENAI_MODEL, messages=USER).choices[0].message
    assert (message.content, message.refusal) == (None, "I can't help.")


def test_chat_stream_text_and_tool_calls(oai: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(text="It is sunny in Paris today", tool_calls=[WEATHER]))
    chunks = list(oai.chat.completions.create(model=OPENAI_MODEL, messages=USER, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(chunk.usage is None for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    texts = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(texts) > 3
    assert "".join(texts) == "It is sunny in Paris today"

    deltas = [tc for c in chunks for tc in c.choices[0].delta.tool_calls or []]
    head, *rest = deltas
    assert (head.index, head.id, head.type, head.function.name, head.function.arguments) == (
        0,
        "call_1",
        "function",
        "get_weather",
        "",
    )
    assert len(rest) > 1
    assert all(d.id is None and d.function.name is None for d in rest)
    assert json.loads("".join(d.function.arguments for d in rest)) == WEATHER.arguments
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_chat_stream_include_usage(oai: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(text="two words", usage=Usage(input_tokens=7, output_tokens=2)))
    chunks = list(
        oai.chat.completions.create(
            model=OPENAI_MODEL,
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    *body, last = chunks
    assert last.choices == []
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (7, 2)
    assert all(chunk.usage is None and chunk.choices for chunk in body)
    assert body[-1].choices[0].finish_reason == "stop"


def test_chat_parse_and_stream_helper(oai: Any, openai_sdk: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(text='{"city": "Paris", "temperature": 21}'))
    parsed = oai.chat.completions.parse(model=OPENAI_MODEL, messages=USER, response_format=Weather)
    assert parsed.choices[0].message.parsed == Weather(city="Paris", temperature=21)
    assert server.requests[-1].json["response_format"]["type"] == "json_schema"

    # Unscripted structured requests get a document that satisfies the schema.
    parsed = oai.chat.completions.parse(model=OPENAI_MODEL, messages=USER, response_format=Weather)
    assert isinstance(parsed.choices[0].message.parsed, Weather)

    server.queue(Reply(text='{"city": "Nice", "temperature": 25}', tool_calls=[WEATHER]))
    with oai.chat.completions.stream(
        model=OPENAI_MODEL, messages=USER, response_format=Weather
    ) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_completion()
    assert "content.delta" in events
    assert "tool_calls.function.arguments.done" in events
    assert final.choices[0].message.parsed == Weather(city="Nice", temperature=25)
    assert final.choices[0].message.tool_calls[0].function.name == "get_weather"

    server.queue(Reply(text="{}", finish_reason="length"))
    with pytest.raises(openai_sdk.LengthFinishReasonError):
        oai.chat.completions.parse(model=OPENAI_MODEL, messages=USER, response_format=Weather)


def test_chat_async(openai_sdk: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(text="async hello"), Reply(text="async stream works", tool_calls=[WEATHER]))

    async def main() -> tuple[str, str, str]:
        async with openai_sdk.AsyncOpenAI(
            base_url=server.openai_base_url, api_key="k", max_retries=0
        ) as client:
            completion = await client.chat.completions.create(model=OPENAI_MODEL, messages=USER)
            stream = await client.chat.completions.create(
                model=OPENAI_MODEL, messages=USER, stream=True
            )
            text, arguments = "", ""
            async for chunk in stream:
                delta = chunk.choices[0].delta
                text += delta.content or ""
                arguments += "".join(t.function.arguments or "" for t in delta.tool_calls or [])
            return completion.choices[0].message.content, text, arguments

    content, streamed, arguments = asyncio.run(main())
    assert (content, streamed) == ("async hello", "async stream works")
    assert json.loads(arguments) == WEATHER.arguments


def test_chat_mid_stream_error(oai: Any, openai_sdk: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(text="one two three four five", fail_after_chunks=2, error_message="boom"))
    received: list[str] = []
    with pytest.raises(openai_sdk.APIError) as caught:
        for chunk in oai.chat.completions.create(model=OPENAI_MODEL, messages=USER, stream=True):
            received.append(chunk.choices[0].delta.content or "")
    assert not isinstance(caught.value, openai_sdk.APIStatusError)
    assert caught.value.message == "boom"
    assert "".join(received) == "one two "


def test_fail_after_chunks_on_non_stream_is_a_500(
    oai: Any, openai_sdk: Any, server: FakeLLMServer
) -> None:
    server.queue(Reply(text="x", fail_after_chunks=0))
    with pytest.raises(openai_sdk.InternalServerError):
        oai.chat.completions.create(model=OPENAI_MODEL, messages=USER)


def test_chunk_delay_streams_incrementally(oai: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(text="a b c d", chunk_delay_s=0.05))
    arrivals: list[float] = []
    for _ in oai.chat.completions.create(model=OPENAI_MODEL, messages=USER, stream=True):
        arrivals.append(time.perf_counter())
    # Four text chunks, each 50 ms apart: they must not all arrive in one burst.
    assert arrivals[-1] - arrivals[1] >= 0.12


def test_openai_async_endpoints(openai_sdk: Any, server: FakeLLMServer) -> None:
    server.queue(
        Reply(text='{"city": "Paris", "temperature": 21}'),  # chat.completions.parse
        Reply(text="responses async"),  # responses.create
        Reply(text="responses async stream", tool_calls=[WEATHER]),  # responses stream
        Reply(),  # embeddings
        Reply(text="legacy async stream"),  # completions stream
        Reply(error_status=429, error_message="later"),
        Reply(text="x y z", fail_after_chunks=1),
    )

    async def main() -> dict[str, Any]:
        async with openai_sdk.AsyncOpenAI(
            base_url=server.openai_base_url, api_key="k", max_retries=0
        ) as client:
            out: dict[str, Any] = {}
            parsed = await client.chat.completions.parse(
                model=OPENAI_MODEL, messages=USER, response_format=Weather
            )
            out["parsed"] = parsed.choices[0].message.parsed
            out["responses"] = (
                await client.responses.create(model=OPENAI_MODEL, input="hi")
            ).output_text
            stream = await client.responses.create(model=OPENAI_MODEL, input="hi", stream=True)
            out["events"] = [event async for event in stream]
            embeddings = await client.embeddings.create(model="text-embedding-3-small", input="hi")
            out["embedding"] = embeddings.data[0].embedding
            legacy = await client.completions.create(
                model="gpt-3.5-turbo-instruct", prompt="hi", stream=True
            )
            out["legacy"] = "".join([chunk.choices[0].text async for chunk in legacy])
            with pytest.raises(openai_sdk.RateLimitError):
                await client.chat.completions.create(model=OPENAI_MODEL, messages=USER)
            with pytest.raises(openai_sdk.APIError):
                chat = await client.chat.completions.create(
                    model=OPENAI_MODEL, messages=USER, stream=True
                )
                async for _ in chat:
                    pass
            return out

    out = asyncio.run(main())
    assert out["parsed"] == Weather(city="Paris", temperature=21)
    assert out["responses"] == "responses async"
    assert out["events"][-1].type == "response.completed"
    assert out["events"][-1].response.output_text == "responses async stream"
    assert len(out["embedding"]) == 8
    assert isinstance(out["embedding"][0], float)
    assert out["legacy"] == "legacy async stream"
    assert server.pending == 0


# --------------------------------------------------------------------------- OpenAI errors


def test_openai_rate_limit_without_retries(
    oai: Any, openai_sdk: Any, server: FakeLLMServer
) -> None:
    server.queue(Reply(error_status=429, error_message="slow down", request_id="req_429"))
    with pytest.raises(openai_sdk.RateLimitError) as caught:
        oai.chat.completions.create(model=OPENAI_MODEL, messages=USER)
    error = caught.value
    assert error.status_code == 429
    assert error.request_id == "req_429"
    assert error.body["message"] == "slow down"
    assert error.code == "rate_limit_exceeded"
    assert server.pending == 0


def test_openai_retry_then_success(openai_sdk: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(error_status=429, retry_after_s=0.001), Reply(text="second time lucky"))
    with openai_sdk.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=2) as client:
        started = time.perf_counter()
        completion = client.chat.completions.create(model=OPENAI_MODEL, messages=USER)
    assert time.perf_counter() - started < 0.5  # the server's retry-after-ms was obeyed
    assert completion.choices[0].message.content == "second time lucky"
    first, second = server.requests
    assert second.headers["x-stainless-retry-count"] == "1"
    assert first.json == second.json


def test_openai_server_errors(oai: Any, openai_sdk: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(error_status=500), Reply(error_status=400, error_code="bad_param"))
    with pytest.raises(openai_sdk.InternalServerError) as caught:
        oai.responses.create(model=OPENAI_MODEL, input="hi")
    assert caught.value.type == "server_error"
    with pytest.raises(openai_sdk.BadRequestError) as bad:
        oai.embeddings.create(model="text-embedding-3-small", input="hi")
    assert bad.value.code == "bad_param"


def test_openai_should_retry_header(openai_sdk: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(error_status=500, headers={"x-should-retry": "false"}))
    with (
        openai_sdk.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=2) as client,
        pytest.raises(openai_sdk.InternalServerError),
    ):
        client.chat.completions.create(model=OPENAI_MODEL, messages=USER)
    assert len(server.requests) == 1


def test_openai_timeout(openai_sdk: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(text="too late", delay_s=2.0))
    with (
        openai_sdk.OpenAI(
            base_url=server.openai_base_url, api_key="k", max_retries=0, timeout=0.2
        ) as client,
        pytest.raises(openai_sdk.APITimeoutError),
    ):
        client.chat.completions.create(model=OPENAI_MODEL, messages=USER)


def test_openai_unknown_path_is_404(oai: Any, openai_sdk: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(text="kept"))
    with pytest.raises(openai_sdk.NotFoundError) as caught:
        oai.models.list()
    assert "GET /v1/models" in caught.value.body["message"]
    assert server.pending == 1  # a 404 does not use up a scripted reply


# --------------------------------------------------------------------------- OpenAI Responses


def test_responses_non_stream(oai: Any, server: FakeLLMServer) -> None:
    usage = Usage(input_tokens=50, output_tokens=9, cached_tokens=32, cache_write_tokens=4)
    server.queue(Reply(text="Sunny, 21C", tool_calls=[WEATHER], usage=usage, thinking="hm"))
    response = oai.responses.create(model=OPENAI_MODEL, input="Weather in Paris?")
    assert response.id.startswith("resp_")
    assert (response.object, response.status, response.model) == (
        "response",
        "completed",
        OPENAI_MODEL,
    )
    assert response.output_text == "Sunny, 21C"
    assert [item.type for item in response.output] == ["reasoning", "message", "function_call"]
    call = response.output[2]
    assert (call.call_id, call.name, call.status) == ("call_1", "get_weather", "completed")
    assert json.loads(call.arguments) == WEATHER.arguments
    got = response.usage
    assert (got.input_tokens, got.output_tokens, got.total_tokens) == (50, 9, 59)
    assert got.input_tokens_details.cached_tokens == 32
    assert got.input_tokens_details.cache_write_tokens == 4
    assert got.output_tokens_details.reasoning_tokens > 0


def test_responses_default_echo_and_incomplete(oai: Any, server: FakeLLMServer) -> None:
    conversation = [
        {"role": "user", "content": [{"type": "input_text", "text": "first"}]},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": [{"type": "input_text", "text": "second"}]},
    ]
    assert oai.responses.create(model=OPENAI_MODEL, input=conversation).output_text == (
        "echo: second"
    )
    server.queue(Reply(text="trunc", finish_reason="length"))
    response = oai.responses.create(model=OPENAI_MODEL, input="hi")
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"


def test_responses_stream_events(oai: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(text="It is sunny in Paris", tool_calls=[WEATHER]))
    events = list(oai.responses.create(model=OPENAI_MODEL, input="hi", stream=True))
    types = [event.type for event in events]
    assert types[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert types[-1] == "response.completed"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    for expected in (
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.function_call_arguments.done",
    ):
        assert expected in types
    text = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(text) > 3
    assert "".join(text) == "It is sunny in Paris"
    arguments = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert len(arguments) > 1
    assert json.loads("".join(arguments)) == WEATHER.arguments
    assert events[0].response.usage is None
    assert events[-1].response.usage.total_tokens > 0
    assert events[-1].response.output_text == "It is sunny in Paris"


def test_responses_parse_and_stream_helper(oai: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(text='{"city": "Paris", "temperature": 21}'))
    parsed = oai.responses.parse(model=OPENAI_MODEL, input="hi", text_format=Weather)
    assert parsed.output_parsed == Weather(city="Paris", temperature=21)
    assert server.requests[-1].json["text"]["format"]["type"] == "json_schema"

    server.queue(Reply(text='{"city": "Lyon", "temperature": 18}', tool_calls=[WEATHER]))
    with oai.responses.stream(model=OPENAI_MODEL, input="hi", text_format=Weather) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert json.loads("".join(deltas)) == {"city": "Lyon", "temperature": 18}
    assert final.output_parsed == Weather(city="Lyon", temperature=18)
    assert final.usage.output_tokens > 0
    assert final.output[1].name == "get_weather"


def test_beta_responses(oai: Any, server: FakeLLMServer) -> None:
    if not hasattr(oai.beta, "responses"):
        pytest.skip("this openai SDK has no client.beta.responses")
    response = oai.beta.responses.create(model=OPENAI_MODEL, input="beta hi")
    assert response.output[0].content[0].text == "echo: beta hi"
    assert response.usage.input_tokens_details.cached_tokens == 0
    request = server.requests[-1]
    assert (request.path, request.query) == ("/v1/responses", {"beta": "true"})


def test_responses_mid_stream_error_is_yielded(oai: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(text="one two three", fail_after_chunks=1, error_code="server_error"))
    events = list(oai.responses.create(model=OPENAI_MODEL, input="hi", stream=True))
    assert events[-1].type == "error"
    assert events[-1].code == "server_error"
    assert events[-1].sequence_number == len(events) - 1
    assert [e.delta for e in events if e.type == "response.output_text.delta"] == ["one "]
    assert "response.completed" not in [e.type for e in events]

    server.queue(Reply(text="one two three", fail_after_chunks=1))
    with (
        oai.responses.stream(model=OPENAI_MODEL, input="hi") as stream,
        pytest.raises(RuntimeError, match=r"response\.completed"),
    ):
        stream.get_final_response()


def test_responses_async_stream_helper(openai_sdk: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(text="async responses stream"))

    async def main() -> str:
        async with openai_sdk.AsyncOpenAI(
            base_url=server.openai_base_url, api_key="k", max_retries=0
        ) as client:
            async with client.responses.stream(model=OPENAI_MODEL, input="hi") as stream:
                final = await stream.get_final_response()
            return str(final.output_text)

    assert asyncio.run(main()) == "async responses stream"


# --------------------------------------------------------------------------- OpenAI embeddings


def test_embeddings_base64_default_and_float(oai: Any, server: FakeLLMServer) -> None:
    default = oai.embeddings.create(model="text-embedding-3-small", input=["hello", "world"])
    assert server.requests[-1].json["encoding_format"] == "base64"  # the SDK's own default
    assert [item.index for item in default.data] == [0, 1]
    vector = default.data[0].embedding
    assert isinstance(vector, list)
    assert len(vector) == 8
    assert isinstance(vector[0], float)
    assert abs(sum(v * v for v in vector) - 1.0) < 1e-5
    assert default.usage.prompt_tokens == default.usage.total_tokens > 0

    floats = oai.embeddings.create(
        model="text-embedding-3-small", input=["hello", "world"], encoding_format="float"
    )
    assert floats.data[0].embedding == vector  # deterministic, and float32-exact
    assert floats.data[1].embedding != vector

    raw = oai.embeddings.create(
        model="text-embedding-3-small", input="hello", encoding_format="base64", dimensions=4
    )
    assert isinstance(raw.data[0].embedding, str)  # explicit base64 is left undecoded

    server.queue(Reply(embeddings=[[0.5, 0.25]], usage=Usage(input_tokens=3)))
    scripted = oai.embeddings.create(model="text-embedding-3-small", input="x")
    assert scripted.data[0].embedding == [0.5, 0.25]
    assert scripted.usage.prompt_tokens == 3


# --------------------------------------------------------------------------- OpenAI completions


def test_legacy_completions(oai: Any, openai_sdk: Any, server: FakeLLMServer) -> None:
    completion = oai.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say this")
    assert completion.object == "text_completion"
    assert completion.choices[0].text == "echo: Say this"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens > 0

    server.queue(Reply(text="streamed legacy text", usage=Usage(input_tokens=4, output_tokens=3)))
    chunks = list(
        oai.completions.create(
            model="gpt-3.5-turbo-instruct",
            prompt="Say this",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    *body, last = chunks
    assert "".join(c.choices[0].text for c in body) == "streamed legacy text"
    assert len(body) > 3
    assert body[-1].choices[0].finish_reason == "stop"
    assert (last.choices, last.usage.completion_tokens) == ([], 3)

    server.queue(Reply(text="a b c", fail_after_chunks=1))
    with pytest.raises(openai_sdk.APIError):
        list(oai.completions.create(model="gpt-3.5-turbo-instruct", prompt="x", stream=True))


# --------------------------------------------------------------------------- Anthropic


def test_anthropic_default_echo_and_headers(claude: Any, server: FakeLLMServer) -> None:
    message = claude.messages.create(model=CLAUDE_MODEL, max_tokens=100, messages=USER)
    assert message.id.startswith("msg_")
    assert (message.type, message.role, message.model) == ("message", "assistant", CLAUDE_MODEL)
    assert message.content[0].type == "text"
    assert message.content[0].text == "echo: What is the weather in Paris?"
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    assert message.usage.output_tokens > 0
    assert message._request_id.startswith("req_")
    request = server.requests[-1]
    assert request.path == "/v1/messages"
    assert "anthropic-version" in request.headers
    assert request.json["max_tokens"] == 100


def test_anthropic_usage_tools_and_thinking(claude: Any, server: FakeLLMServer) -> None:
    usage = Usage(input_tokens=10, output_tokens=30, cached_tokens=200, cache_write_tokens=50)
    server.queue(
        Reply(text="Let me check.", thinking="Need weather.", tool_calls=[WEATHER], usage=usage)
    )
    message = claude.messages.create(model=CLAUDE_MODEL, max_tokens=100, messages=USER)
    thinking, text, tool = message.content
    assert (thinking.type, thinking.thinking) == ("thinking", "Need weather.")
    assert thinking.signature
    assert (text.type, text.text) == ("text", "Let me check.")
    assert (tool.type, tool.id, tool.name, tool.input) == (
        "tool_use",
        "call_1",
        "get_weather",
        WEATHER.arguments,
    )
    assert message.stop_reason == "tool_use"
    got = message.usage
    assert (got.input_tokens, got.output_tokens) == (10, 30)
    assert (got.cache_read_input_tokens, got.cache_creation_input_tokens) == (200, 50)
    assert got.cache_creation.ephemeral_5m_input_tokens == 50
    assert got.cache_creation.ephemeral_1h_input_tokens == 0


def test_anthropic_refusal_and_stop_reason(claude: Any, server: FakeLLMServer) -> None:
    server.queue(
        Reply(refusal="I can't help with that."), Reply(text="cut", finish_reason="length")
    )
    refused = claude.messages.create(model=CLAUDE_MODEL, max_tokens=100, messages=USER)
    assert refused.stop_reason == "refusal"
    assert refused.content[0].text == "I can't help with that."
    truncated = claude.messages.create(model=CLAUDE_MODEL, max_tokens=100, messages=USER)
    assert truncated.stop_reason == "max_tokens"


def test_anthropic_raw_stream(claude: Any, server: FakeLLMServer) -> None:
    server.queue(
        Reply(
            text="It is sunny in Paris",
            thinking="Think about the weather",
            tool_calls=[WEATHER],
            usage=Usage(input_tokens=12, output_tokens=40),
        )
    )
    events = list(
        claude.messages.create(model=CLAUDE_MODEL, max_tokens=100, messages=USER, stream=True)
    )
    types = [event.type for event in events]
    assert types[0] == "message_start"
    assert types[-2:] == ["message_delta", "message_stop"]
    start = events[0].message
    assert (start.usage.input_tokens, start.usage.output_tokens) == (12, 1)  # placeholder
    assert start.content == []
    assert events[-2].usage.output_tokens == 40
    assert events[-2].delta.stop_reason == "tool_use"

    blocks = [e.content_block.type for e in events if e.type == "content_block_start"]
    assert blocks == ["thinking", "text", "tool_use"]
    deltas = [e.delta for e in events if e.type == "content_block_delta"]
    assert "".join(d.thinking for d in deltas if d.type == "thinking_delta") == (
        "Think about the weather"
    )
    assert any(d.type == "signature_delta" and d.signature for d in deltas)
    text = [d.text for d in deltas if d.type == "text_delta"]
    assert len(text) > 3
    assert "".join(text) == "It is sunny in Paris"
    fragments = [d.partial_json for d in deltas if d.type == "input_json_delta"]
    assert fragments[0] == ""
    assert len(fragments) > 2
    assert json.loads("".join(fragments)) == WEATHER.arguments
    assert types.count("content_block_stop") == 3


def test_anthropic_stream_helper(claude: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(text="Streaming from the fake", tool_calls=[WEATHER], thinking="hmm"))
    with claude.messages.stream(model=CLAUDE_MODEL, max_tokens=100, messages=USER) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
        assert stream.request_id.startswith("req_")
    assert len(pieces) > 2
    assert "".join(pieces) == "Streaming from the fake"
    assert [block.type for block in final.content] == ["thinking", "text", "tool_use"]
    assert final.content[2].input == WEATHER.arguments
    assert final.stop_reason == "tool_use"
    assert final.usage.output_tokens > 1


def test_anthropic_count_tokens_and_parse(claude: Any, server: FakeLLMServer) -> None:
    counted = claude.messages.count_tokens(model=CLAUDE_MODEL, messages=USER)
    assert counted.input_tokens > 0
    assert server.requests[-1].path == "/v1/messages/count_tokens"
    server.queue(Reply(usage=Usage(input_tokens=1234)))
    assert claude.messages.count_tokens(model=CLAUDE_MODEL, messages=USER).input_tokens == 1234

    if not hasattr(claude.messages, "parse"):
        pytest.skip("this anthropic SDK has no messages.parse")
    server.queue(Reply(text='{"city": "Paris", "temperature": 21}'))
    parsed = claude.messages.parse(
        model=CLAUDE_MODEL, max_tokens=100, messages=USER, output_format=Weather
    )
    assert parsed.parsed_output == Weather(city="Paris", temperature=21)
    assert server.requests[-1].json["output_config"]["format"]["type"] == "json_schema"
    default = claude.messages.parse(
        model=CLAUDE_MODEL, max_tokens=100, messages=USER, output_format=Weather
    )
    assert isinstance(default.parsed_output, Weather)


def test_anthropic_beta_messages(claude: Any, server: FakeLLMServer) -> None:
    message = claude.beta.messages.create(
        model=CLAUDE_MODEL, max_tokens=100, messages=USER, betas=["some-beta-2025-01-01"]
    )
    assert message.content[0].text == "echo: What is the weather in Paris?"
    assert server.requests[-1].headers["anthropic-beta"] == "some-beta-2025-01-01"
    server.queue(Reply(text="beta stream", tool_calls=[WEATHER]))
    with claude.beta.messages.stream(model=CLAUDE_MODEL, max_tokens=100, messages=USER) as stream:
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["text", "tool_use"]
    assert final.content[1].input == WEATHER.arguments


def test_anthropic_async(anthropic_sdk: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(text="async claude"), Reply(text="async claude stream"))

    async def main() -> tuple[str, str, str]:
        async with anthropic_sdk.AsyncAnthropic(
            base_url=server.anthropic_base_url, api_key="k", max_retries=0
        ) as client:
            message = await client.messages.create(
                model=CLAUDE_MODEL, max_tokens=100, messages=USER
            )
            async with client.messages.stream(
                model=CLAUDE_MODEL, max_tokens=100, messages=USER
            ) as stream:
                text = "".join([piece async for piece in stream.text_stream])
                final = await stream.get_final_message()
            return message.content[0].text, text, final.content[0].text

    assert asyncio.run(main()) == ("async claude", "async claude stream", "async claude stream")


def test_anthropic_async_endpoints(anthropic_sdk: Any, server: FakeLLMServer) -> None:
    server.queue(
        Reply(text="raw async stream", tool_calls=[WEATHER]),
        Reply(usage=Usage(input_tokens=42)),  # count_tokens
        Reply(text='{"city": "Paris", "temperature": 21}'),  # parse
        Reply(error_status=529),
        Reply(text="a b c", fail_after_chunks=1),
    )

    async def main() -> dict[str, Any]:
        async with anthropic_sdk.AsyncAnthropic(
            base_url=server.anthropic_base_url, api_key="k", max_retries=0
        ) as client:
            out: dict[str, Any] = {}
            stream = await client.messages.create(
                model=CLAUDE_MODEL, max_tokens=100, messages=USER, stream=True
            )
            out["types"] = [event.type async for event in stream]
            counted = await client.messages.count_tokens(model=CLAUDE_MODEL, messages=USER)
            out["count"] = counted.input_tokens
            parsed = await client.messages.parse(
                model=CLAUDE_MODEL, max_tokens=100, messages=USER, output_format=Weather
            )
            out["parsed"] = parsed.parsed_output
            with pytest.raises(anthropic_sdk.OverloadedError):
                await client.messages.create(model=CLAUDE_MODEL, max_tokens=10, messages=USER)
            with pytest.raises(anthropic_sdk.APIStatusError):
                async with client.messages.stream(
                    model=CLAUDE_MODEL, max_tokens=100, messages=USER
                ) as failing:
                    await failing.get_final_message()
            return out

    out = asyncio.run(main())
    assert out["types"][0] == "message_start"
    assert out["types"][-1] == "message_stop"
    assert "content_block_delta" in out["types"]
    assert out["count"] == 42
    assert out["parsed"] == Weather(city="Paris", temperature=21)
    assert server.pending == 0


def test_anthropic_errors(claude: Any, anthropic_sdk: Any, server: FakeLLMServer) -> None:
    server.queue(
        Reply(error_status=429, error_message="slow down", request_id="req_a"),
        Reply(error_status=500),
        Reply(error_status=529),
        Reply(error_status=400, error_type="invalid_request_error"),
    )
    with pytest.raises(anthropic_sdk.RateLimitError) as limited:
        claude.messages.create(model=CLAUDE_MODEL, max_tokens=10, messages=USER)
    assert limited.value.status_code == 429
    assert limited.value.request_id == "req_a"
    assert limited.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow down"},
        "request_id": "req_a",
    }
    with pytest.raises(anthropic_sdk.InternalServerError):
        claude.messages.create(model=CLAUDE_MODEL, max_tokens=10, messages=USER)
    with pytest.raises(anthropic_sdk.OverloadedError) as overloaded:
        claude.messages.create(model=CLAUDE_MODEL, max_tokens=10, messages=USER)
    assert overloaded.value.status_code == 529
    with pytest.raises(anthropic_sdk.BadRequestError):
        claude.messages.create(model=CLAUDE_MODEL, max_tokens=10, messages=USER)


def test_anthropic_retry_then_success(anthropic_sdk: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(error_status=529, retry_after_s=0.001), Reply(text="recovered"))
    with anthropic_sdk.Anthropic(
        base_url=server.anthropic_base_url, api_key="k", max_retries=2
    ) as client:
        message = client.messages.create(model=CLAUDE_MODEL, max_tokens=10, messages=USER)
    assert message.content[0].text == "recovered"
    assert len(server.requests) == 2


def test_anthropic_mid_stream_error(claude: Any, anthropic_sdk: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(text="one two three four", fail_after_chunks=2))
    received: list[str] = []
    with pytest.raises(anthropic_sdk.APIStatusError) as caught:
        for event in claude.messages.create(
            model=CLAUDE_MODEL, max_tokens=100, messages=USER, stream=True
        ):
            if event.type == "content_block_delta":
                received.append(event.delta.text)
    error = caught.value
    assert error.status_code == 200  # the stream's own status, so not an OverloadedError
    assert not isinstance(error, anthropic_sdk.OverloadedError)
    assert error.body["error"]["type"] == "overloaded_error"
    assert received == ["one ", "two "]

    server.queue(Reply(text="a b c", fail_after_chunks=0, error_type="api_error"))
    with (
        claude.messages.stream(model=CLAUDE_MODEL, max_tokens=100, messages=USER) as stream,
        pytest.raises(anthropic_sdk.APIStatusError, match="api_error"),
    ):
        stream.get_final_message()


def test_anthropic_timeout_and_404(anthropic_sdk: Any, server: FakeLLMServer) -> None:
    server.queue(Reply(delay_s=2.0))
    with anthropic_sdk.Anthropic(
        base_url=server.anthropic_base_url, api_key="k", max_retries=0, timeout=0.2
    ) as client:
        with pytest.raises(anthropic_sdk.APITimeoutError):
            client.messages.create(model=CLAUDE_MODEL, max_tokens=10, messages=USER)
        with pytest.raises(anthropic_sdk.NotFoundError) as caught:
            client.models.list()
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "not_found_error"
