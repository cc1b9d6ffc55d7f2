"""A fake OpenAI- and Anthropic-compatible HTTP server for testing LLM apps offline.

`FakeLLMServer` listens on 127.0.0.1 and answers the real `openai` and `anthropic` SDK
clients in the wire formats they parse, streamed or not, so an instrumented app can be
exercised end to end without network access, API keys or cost. Replies are scripted with
`Reply` and `ToolCall`; with nothing scripted the server echoes the last user message.

Only the standard library is used, and `http.server` is imported when the first server
starts, so importing this module stays cheap. It is not imported by `import tracekit`.

Example:
    >>> from openai import OpenAI
    >>> from tracekit.testing import FakeLLMServer, Reply, Usage
    >>> with FakeLLMServer() as server:
    ...     server.queue(Reply(text="Bonjour", usage=Usage(input_tokens=12, output_tokens=3)))
    ...     with OpenAI(base_url=server.openai_base_url, api_key="test") as client:
    ...         completion = client.chat.completions.create(
    ...             model="gpt-4o", messages=[{"role": "user", "content": "Say hi in French"}]
    ...         )
    ...     completion.choices[0].message.content
    'Bonjour'

Endpoints served (everything else gets a 404 in the provider's error format):

- OpenAI `POST /v1/chat/completions`, `POST /v1/responses` (also `?beta=true`),
  `POST /v1/completions`, `POST /v1/embeddings`.
- Anthropic `POST /v1/messages`, `POST /v1/messages/count_tokens`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import random
import re
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, NamedTuple
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    import socket
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["FakeLLMServer", "RecordedRequest", "Reply", "ToolCall", "Usage"]

_Provider = Literal["openai", "anthropic"]
_Json = dict[str, Any]
_Kind = Literal["meta", "delta", "end"]


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class ToolCall:
    """A tool (function) call the fake model makes.

    Attributes:
        name: The tool's name.
        arguments: The arguments, as a JSON object, or as a raw string that is sent
            verbatim (to test malformed arguments). Anthropic's non-streamed `input`
            needs an object, so a string that is not a JSON object becomes `{}` there.
        id: The call id. Generated when omitted (`call_…` for OpenAI, `toolu_…` for
            Anthropic).

    Example:
        >>> ToolCall(name="get_weather", arguments={"city": "Paris"}, id="call_1").name
        'get_weather'
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Usage:
    """Token counts to report instead of the estimates.

    Each number goes verbatim into the provider's own field, so a test can check how
    an integration maps raw usage. Fields left as None are estimated from text lengths
    (about four characters per token).

    Attributes:
        input_tokens: OpenAI `prompt_tokens` / `input_tokens` (which include cached
            tokens); Anthropic `input_tokens` (which exclude cache reads and writes).
        output_tokens: `completion_tokens` / `output_tokens`. The estimate includes
            reasoning (thinking) tokens, as the providers do.
        cached_tokens: OpenAI `cached_tokens`; Anthropic `cache_read_input_tokens`.
        cache_write_tokens: OpenAI `cache_write_tokens`; Anthropic
            `cache_creation_input_tokens` (reported as 5-minute ephemeral writes, less
            `cache_write_1h_tokens`).
        cache_write_1h_tokens: Anthropic only: the part of `cache_write_tokens` reported as
            1-hour ephemeral writes (`cache_creation.ephemeral_1h_input_tokens`).
        reasoning_tokens: OpenAI `reasoning_tokens`; Anthropic
            `output_tokens_details.thinking_tokens`. Estimated from `Reply.thinking`.

    Example:
        >>> Usage(input_tokens=100, output_tokens=20, cached_tokens=64).cached_tokens
        64
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cache_write_1h_tokens: int | None = None


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Queued replies are used first in, first out, by any endpoint.

    Every request to a known endpoint takes the next reply, SDK retries included: a
    queued 429 followed by a text reply tests a successful retry. Unknown paths (404)
    and unparseable bodies (400) take none.

    When `text`, `tool_calls` and `refusal` are all unset the text defaults to
    `"echo: <last user message>"`, or, when the request asks for structured output, to a
    small JSON document that satisfies the requested schema.

    Attributes:
        text: The assistant's text. For `response_format` / `text.format` /
            `output_config.format` JSON-schema requests, script a JSON document matching
            the schema and the SDKs' `parse` helpers will validate it.
        tool_calls: Tool calls, after any text.
        model: The model reported back. Defaults to the request's `model`.
        usage: Token count overrides; see `Usage`.
        finish_reason: Overrides the finish / stop reason. OpenAI and Anthropic names are
            translated for the other provider (`"length"` <-> `"max_tokens"`,
            `"tool_calls"` <-> `"tool_use"`, `"stop"` <-> `"end_turn"`,
            `"content_filter"` <-> `"refusal"`); other values pass through. On the
            Responses API `"length"` and `"content_filter"` make an `incomplete` response.
        thinking: Reasoning text: an Anthropic `thinking` block (with a signature), an
            OpenAI Responses `reasoning` item, and the default reasoning token count.
        refusal: A refusal message: `message.refusal` (chat), a `refusal` content part
            (Responses), or a text block with stop reason `refusal` (Anthropic).
        error_status: Answer with this HTTP status and the provider's error body instead,
            e.g. 400, 429, 500, or 529 (Anthropic "overloaded").
        error_message: The error message, for HTTP and mid-stream errors.
        error_type: The error `type`. Defaults from the status, per provider.
        error_code: OpenAI's error `code`; Anthropic's `error.details.error_code`.
        retry_after_s: Sends `retry-after-ms` and `retry-after` headers, which both SDKs
            obey, so retries can be tested quickly (e.g. 0.001).
        fail_after_chunks: Streams this many content chunks (text, refusal, thinking
            or tool-call pieces), then an error event instead of the rest: OpenAI chat /
            completions `data: {"error": ...}` (the SDK raises `APIError`), Responses an
            `error` event (yielded, not raised), Anthropic `event: error` (the SDK raises
            `APIStatusError` with status 200). The type defaults to `server_error`
            (OpenAI) or `overloaded_error` (Anthropic). A non-streamed request gets an
            HTTP 500 instead.
        delay_s: Seconds to wait before answering, to test client timeouts.
        chunk_delay_s: Seconds to wait before each streamed content chunk.
        request_id: The request id header value (`x-request-id` for OpenAI, `request-id`
            for Anthropic). Generated when omitted.
        embeddings: Vectors for `/v1/embeddings`, one per input. Deterministic
            pseudo-random unit vectors when omitted.
        headers: Extra response headers, e.g. `{"x-should-retry": "false"}`.

    Example:
        >>> Reply(error_status=429, error_message="slow down", retry_after_s=0.001).error_status
        429
    """

    text: str | None = None
    tool_calls: Sequence[ToolCall] = ()
    model: str | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    thinking: str | None = None
    refusal: str | None = None
    error_status: int | None = None
    error_message: str | None = None
    error_type: str | None = None
    error_code: str | None = None
    retry_after_s: float | None = None
    fail_after_chunks: int | None = None
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    request_id: str | None = None
    embeddings: Sequence[Sequence[float]] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Freeze the sequences too, so a queued reply cannot change under the server.
        object.__setattr__(self, "tool_calls", tuple(self.tool_calls))
        if not all(isinstance(call, ToolCall) for call in self.tool_calls):
            raise TypeError("tool_calls must contain ToolCall objects")
        if self.error_status is not None and not 400 <= self.error_status <= 599:
            raise ValueError(f"error_status must be a 4xx or 5xx status, got {self.error_status}")
        if self.fail_after_chunks is not None and self.fail_after_chunks < 0:
            raise ValueError("fail_after_chunks must not be negative")
        if self.delay_s < 0 or self.chunk_delay_s < 0:
            raise ValueError("delays must not be negative")


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received.

    Attributes:
        method: The HTTP method, e.g. `"POST"`.
        path: The URL path without the query, e.g. `"/v1/chat/completions"`.
        query: The query parameters, e.g. `{"beta": "true"}`.
        headers: The headers, with lower-case names.
        body: The raw body.
        json: The parsed JSON body, or None when the body is empty or not JSON.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any


class FakeLLMServer:
    """An OpenAI- and Anthropic-compatible HTTP server on 127.0.0.1, in a daemon thread.

    The server starts when constructed and stops on `close()` or at the end of a `with`
    block. It is safe to use from several threads and event loops at once.

    Args:
        host: The interface to listen on.
        port: The port; 0 picks a free one.

    Example:
        >>> from anthropic import Anthropic
        >>> with FakeLLMServer() as server:
        ...     call = ToolCall(name="get_weather", arguments={"city": "Paris"})
        ...     server.queue(Reply(tool_calls=[call]))
        ...     with Anthropic(base_url=server.anthropic_base_url, api_key="test") as client:
        ...         message = client.messages.create(
        ...             model="claude-sonnet-4-6", max_tokens=100,
        ...             messages=[{"role": "user", "content": "Weather in Paris?"}],
        ...         )
        ...     (message.stop_reason, message.content[0].input, server.requests[0].path)
        ('tool_use', {'city': 'Paris'}, '/v1/messages')
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._replies: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._closing = threading.Event()
        self._closed = False
        self._httpd = _server_class()((host, port), self)
        self.host: str = str(self._httpd.server_address[0])
        self.port: int = int(self._httpd.server_address[1])
        # A short poll interval keeps close() fast; new connections wake the loop anyway.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"FakeLLMServer:{self.port}",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The server's root URL, e.g. `"http://127.0.0.1:8123"`."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """The `base_url` for `openai.OpenAI`, e.g. `"http://127.0.0.1:8123/v1"`."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The `base_url` for `anthropic.Anthropic` (the SDK appends `/v1/messages`)."""
        return self.url

    def queue(self, *replies: Reply) -> None:
        """Script the next replies, in order. They are shared by all endpoints.

        Args:
            *replies: The replies to append to the queue.

        Raises:
            TypeError: If an argument is not a `Reply`.

        Example:
            >>> with FakeLLMServer() as server:
            ...     server.queue(Reply(error_status=500, retry_after_s=0.001), Reply(text="ok"))
            ...     server.pending
            2
        """
        for reply in replies:
            if not isinstance(reply, Reply):
                raise TypeError(f"expected a Reply, got {type(reply).__name__}")
        with self._lock:
            self._replies.extend(replies)

    @property
    def pending(self) -> int:
        """How many queued replies have not been used yet."""
        with self._lock:
            return len(self._replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received so far, oldest first (404s included)."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget the queued replies and the recorded requests."""
        with self._lock:
            self._replies.clear()
            self._requests.clear()

    def close(self) -> None:
        """Stop the server and end open connections. Calling it again does nothing."""
        import socket

        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._closing.set()  # wakes handlers sleeping in delay_s / chunk_delay_s
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        # Keep-alive handler threads block reading the next request; a shutdown makes
        # that read return EOF so they finish instead of lingering.
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        with self._idle:
            self._idle.wait_for(lambda: not self._connections, timeout=2.0)
        self._thread.join(timeout=2.0)

    def __enter__(self) -> FakeLLMServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return f"<FakeLLMServer {self.url} {state}>"

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._replies.popleft() if self._replies else Reply()

    def _track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._idle:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)
                self._idle.notify_all()

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server closes first; True means it is closing."""
        return seconds > 0 and self._closing.wait(seconds)


# --------------------------------------------------------------------------- HTTP plumbing


@cache
def _server_class() -> Callable[[tuple[str, int], FakeLLMServer], ThreadingHTTPServer]:
    # http.server pulls in email, http.client and ssl (~50 ms), so it is imported only
    # when a server is actually started.
    import socketserver
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def __init__(self, address: tuple[str, int], owner: FakeLLMServer) -> None:
            self.owner = owner
            super().__init__(address, Handler)

        def server_bind(self) -> None:
            # HTTPServer.server_bind resolves the host's FQDN, a reverse-DNS lookup that
            # can stall for seconds in sandboxed CI; the name is only used in logs.
            socketserver.TCPServer.server_bind(self)
            host, port = self.socket.getsockname()[:2]
            self.server_name, self.server_port = str(host), int(port)

        def handle_error(self, request: Any, client_address: Any) -> None:
            # Clients that time out or stop reading a stream reset the connection;
            # that is an expected part of testing, not a server failure.
            pass

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Without this, delayed ACKs make every loopback call take 40 ms or more.
        disable_nagle_algorithm = True
        server: Server

        def setup(self) -> None:
            super().setup()
            self.server.owner._track(self.connection, open_=True)

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                self.server.owner._track(self.connection, open_=False)

        def do_POST(self) -> None:
            _serve(self, self.server.owner)

        do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Server


def _serve(handler: BaseHTTPRequestHandler, owner: FakeLLMServer) -> None:
    try:
        _serve_one(handler, owner)
    except OSError:
        # The client went away (timeout, early close) or the server is closing.
        handler.close_connection = True
    except Exception as error:
        # A bug in a response builder must fail the test loudly rather than hang it.
        # Builders run before any byte is written, so a status line can still be sent.
        handler.close_connection = True
        message = f"FakeLLMServer internal error: {type(error).__name__}: {error}"
        body = {"error": {"message": message, "type": "server_error"}}
        with contextlib.suppress(OSError):
            _send_json(handler, 500, body, {"x-should-retry": "false"})


def _serve_one(handler: BaseHTTPRequestHandler, owner: FakeLLMServer) -> None:
    url = urlsplit(handler.path)
    raw = _read_body(handler)
    headers: dict[str, str] = {}
    for name, value in handler.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    owner._record(
        RecordedRequest(
            method=handler.command,
            path=url.path,
            query=dict(parse_qsl(url.query)),
            headers=headers,
            body=raw,
            json=parsed,
        )
    )

    path = url.path.rstrip("/")
    endpoint = _ENDPOINTS.get(path)
    provider = endpoint.provider if endpoint else _guess_provider(path, headers)
    if endpoint is None or handler.command != "POST":
        message = f"Invalid URL ({handler.command} {url.path})"
        _send_error(handler, provider, 404, Reply(error_message=message), _request_id(provider))
        return
    if not isinstance(parsed, dict):
        message = "We could not parse the JSON body of your request."
        _send_error(handler, provider, 400, Reply(error_message=message), _request_id(provider))
        return

    reply = owner._next_reply()
    request_id = reply.request_id or _request_id(provider)
    if owner._sleep(reply.delay_s):
        handler.close_connection = True
        return
    if reply.error_status is not None:
        _send_error(handler, provider, reply.error_status, reply, request_id)
        return

    call = _make_call(parsed, reply, provider, request_id)
    streamer = endpoint.stream if parsed.get("stream") is True else None
    if reply.fail_after_chunks is not None and streamer is None:
        _send_error(handler, provider, 500, reply, request_id)
        return
    if streamer is not None:
        _send_stream(handler, owner, call, list(streamer(call)), endpoint.stream_error)
    else:
        _send_json(handler, 200, endpoint.build(call), _reply_headers(call))


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    length = handler.headers.get("Content-Length")
    if length:
        return handler.rfile.read(int(length))
    if "chunked" not in (handler.headers.get("Transfer-Encoding") or "").lower():
        return b""
    parts: list[bytes] = []
    while True:
        size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        parts.append(handler.rfile.read(size))
        handler.rfile.readline()


def _guess_provider(path: str, headers: Mapping[str, str]) -> _Provider:
    if path.startswith("/v1/messages") or "anthropic-version" in headers:
        return "anthropic"
    return "openai"


def _start_response(
    handler: BaseHTTPRequestHandler, status: int, headers: Mapping[str, str]
) -> None:
    handler.send_response(status, _REASONS.get(status))
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()


def _send_json(
    handler: BaseHTTPRequestHandler, status: int, payload: object, headers: Mapping[str, str]
) -> None:
    body = json.dumps(payload).encode()
    _start_response(
        handler,
        status,
        {**headers, "Content-Type": "application/json", "Content-Length": str(len(body))},
    )
    handler.wfile.write(body)


def _send_stream(
    handler: BaseHTTPRequestHandler,
    owner: FakeLLMServer,
    call: _Call,
    events: list[_Event],
    stream_error: Callable[[_Call, int], _Event],
) -> None:
    encoded = [(event.kind, _encode_event(event)) for event in events]
    # Chunked encoding keeps the connection reusable, and each event goes out in its own
    # chunk straight away (the socket writer is unbuffered), so streams really stream.
    headers = {
        **_reply_headers(call),
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache",
        "Transfer-Encoding": "chunked",
    }
    _start_response(handler, 200, headers)
    fail_after = call.reply.fail_after_chunks
    deltas = written = 0
    for kind, data in encoded:
        if kind == "delta":
            if fail_after is not None and deltas >= fail_after:
                break
            if owner._sleep(call.reply.chunk_delay_s):
                handler.close_connection = True
                return
            deltas += 1
        elif kind == "end" and fail_after is not None:
            break
        _write_chunk(handler, data)
        written += 1
    if fail_after is not None:
        _write_chunk(handler, _encode_event(stream_error(call, written)))
    handler.wfile.write(b"0\r\n\r\n")


def _write_chunk(handler: BaseHTTPRequestHandler, data: bytes) -> None:
    handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


def _encode_event(event: _Event) -> bytes:
    data = event.data if isinstance(event.data, str) else _dumps(event.data)
    head = f"event: {event.name}\n" if event.name else ""
    return f"{head}data: {data}\n\n".encode()


def _dumps(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"))


def _reply_headers(call: _Call) -> dict[str, str]:
    header = "request-id" if call.provider == "anthropic" else "x-request-id"
    headers = {header: call.request_id}
    if call.reply.retry_after_s is not None:
        headers["retry-after-ms"] = f"{call.reply.retry_after_s * 1000:g}"
        headers["retry-after"] = str(math.ceil(call.reply.retry_after_s))
    headers.update(call.reply.headers)
    return headers


# --------------------------------------------------------------------------- errors

_REASONS = {529: "Overloaded"}

_OPENAI_ERROR_TYPES = {401: "invalid_request_error", 403: "permission_error", 429: "requests"}
_OPENAI_ERROR_CODES = {401: "invalid_api_key", 404: "not_found", 429: "rate_limit_exceeded"}
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def _error_message(status: int, reply: Reply) -> str:
    if reply.error_message is not None:
        return reply.error_message
    from http import HTTPStatus

    try:
        return f"{HTTPStatus(status).phrase} (scripted by FakeLLMServer)"
    except ValueError:
        return f"{_REASONS.get(status, 'Error')} (scripted by FakeLLMServer)"


def _send_error(
    handler: BaseHTTPRequestHandler,
    provider: _Provider,
    status: int,
    reply: Reply,
    request_id: str,
) -> None:
    call = _Call(provider=provider, body={}, reply=reply, request_id=request_id)
    message = _error_message(status, reply)
    body: _Json
    if provider == "anthropic":
        error_type = reply.error_type or _ANTHROPIC_ERROR_TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        error: _Json = {"type": error_type, "message": message}
        if reply.error_code is not None:
            error["details"] = {"error_code": reply.error_code}
        body = {"type": "error", "error": error, "request_id": request_id}
    else:
        error_type = reply.error_type or _OPENAI_ERROR_TYPES.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        )
        code = reply.error_code or _OPENAI_ERROR_CODES.get(status)
        body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    _send_json(handler, status, body, _reply_headers(call))


def _openai_stream_error(call: _Call, sequence_number: int) -> _Event:
    reply = call.reply
    error = {
        "message": reply.error_message or "The server had an error while processing your request.",
        "type": reply.error_type or "server_error",
        "param": None,
        "code": reply.error_code,
    }
    return _Event({"error": error})


def _responses_stream_error(call: _Call, sequence_number: int) -> _Event:
    reply = call.reply
    data = {
        "type": "error",
        "code": reply.error_code or reply.error_type or "server_error",
        "message": reply.error_message or "The server had an error while processing your request.",
        "param": None,
        "sequence_number": sequence_number,
    }
    return _Event(data, name="error")


def _anthropic_stream_error(call: _Call, sequence_number: int) -> _Event:
    reply = call.reply
    error: _Json = {
        "type": reply.error_type or "overloaded_error",
        "message": reply.error_message or "Overloaded",
    }
    if reply.error_code is not None:
        error["details"] = {"error_code": reply.error_code}
    return _Event({"type": "error", "error": error, "request_id": call.request_id}, name="error")


# --------------------------------------------------------------------------- the model


# The private record types are NamedTuples: dataclass creation alone would double the
# import time of this module.


class _Event(NamedTuple):
    """One server-sent event. `kind` drives `fail_after_chunks`: the error replaces the
    first content delta past the budget, or the first closing event."""

    data: Mapping[str, Any] | str
    name: str | None = None
    kind: _Kind = "meta"


class _Tokens(NamedTuple):
    input: int
    output: int
    cached: int
    cache_write: int
    reasoning: int
    cache_write_1h: int = 0


class _Call(NamedTuple):
    """A request with its reply resolved: what every response builder works from."""

    provider: _Provider
    body: _Json
    reply: Reply
    request_id: str
    text: str | None = None
    tools: tuple[tuple[ToolCall, str], ...] = ()
    tokens: _Tokens = _Tokens(0, 0, 0, 0, 0)
    created: int = 0

    @property
    def model(self) -> str:
        return self.reply.model or str(self.body.get("model") or "fake-model")


def _make_call(body: _Json, reply: Reply, provider: _Provider, request_id: str) -> _Call:
    text = reply.text
    if text is None and not reply.tool_calls and reply.refusal is None:
        text = _default_text(body)
    prefix = "toolu_" if provider == "anthropic" else "call_"
    tools = tuple((call, call.id or f"{prefix}{_hex(12)}") for call in reply.tool_calls)

    usage = reply.usage or Usage()
    cached = usage.cached_tokens or 0
    cache_write = usage.cache_write_tokens or 0
    reasoning = usage.reasoning_tokens
    if reasoning is None:
        reasoning = _estimate(reply.thinking or "")
    output = usage.output_tokens
    if output is None:
        generated = [text or "", reply.refusal or "", *(_arguments_json(c) for c, _ in tools)]
        output = sum(_estimate(part) for part in generated) + reasoning
    input_tokens = usage.input_tokens
    if input_tokens is None:
        input_tokens = max(1, _estimate("".join(_request_texts(body))))
        if provider == "openai":  # OpenAI counts cached prompt tokens inside the total
            input_tokens += cached + cache_write
    write_1h = min(usage.cache_write_1h_tokens or 0, cache_write)
    tokens = _Tokens(input_tokens, output, cached, cache_write, reasoning, write_1h)
    return _Call(provider, body, reply, request_id, text, tools, tokens, int(time.time()))


def _estimate(text: str) -> int:
    return (len(text) + 3) // 4


_SKIPPED_KEYS = frozenset(
    {"role", "type", "id", "call_id", "tool_use_id", "signature", "cache_control"}
)


def _request_texts(body: Mapping[str, Any]) -> Iterator[str]:
    for key in ("messages", "input", "prompt", "system", "instructions"):
        yield from _strings(body.get(key))


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key not in _SKIPPED_KEYS:
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _last_user_text(body: Mapping[str, Any]) -> str:
    prompt = body.get("prompt")  # legacy completions
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt and isinstance(prompt[-1], str):
        return prompt[-1]
    items = body.get("messages", body.get("input"))
    if isinstance(items, str):
        return items
    if isinstance(items, list):
        for item in reversed(items):
            if isinstance(item, Mapping) and item.get("role") == "user":
                return " ".join(_content_texts(item.get("content")))
    return ""


def _content_texts(content: object) -> Iterator[str]:
    """The text of a message's content: plain strings, text parts and tool results."""
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                yield part
            elif isinstance(part, Mapping):
                if isinstance(part.get("text"), str):
                    yield part["text"]
                elif part.get("type") in ("tool_result", "function_call_output"):
                    yield from _content_texts(part.get("content", part.get("output")))


def _requested_schema(body: Mapping[str, Any]) -> _Json | None:
    """The JSON schema the request asks the answer to follow; {} for plain JSON mode."""
    formats = [
        body.get("response_format"),  # chat completions
        (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None,
        (body.get("output_config") or {}).get("format")
        if isinstance(body.get("output_config"), dict)
        else None,
        body.get("output_format"),  # anthropic beta
    ]
    for spec in formats:
        if not isinstance(spec, dict):
            continue
        if spec.get("type") == "json_object":
            return {}
        if spec.get("type") == "json_schema":
            nested = spec.get("json_schema")
            schema = nested.get("schema") if isinstance(nested, dict) else spec.get("schema")
            return schema if isinstance(schema, dict) else {}
    return None


def _default_text(body: Mapping[str, Any]) -> str:
    echo = f"echo: {_last_user_text(body)}"
    schema = _requested_schema(body)
    if schema is None:
        return echo
    if not schema:
        return json.dumps({"echo": echo})
    return json.dumps(_schema_example(schema, schema, echo, 0))


_FORMAT_EXAMPLES = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def _schema_example(
    schema: Mapping[str, Any], root: Mapping[str, Any], text: str, depth: int
) -> Any:
    """A small value that satisfies common JSON schemas (as pydantic emits them)."""
    if depth > 16:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        return _schema_example(target, root, text, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            usable = [o for o in options if isinstance(o, Mapping) and o.get("type") != "null"]
            return _schema_example((usable or options)[0], root, text, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        return {
            name: _schema_example(sub, root, text, depth + 1) for name, sub in properties.items()
        }
    if kind == "array":
        items = schema.get("items")
        if not isinstance(items, Mapping):
            return []
        count = max(1, int(schema.get("minItems", 1)))
        return [_schema_example(items, root, text, depth + 1) for _ in range(count)]
    if kind == "string":
        return _FORMAT_EXAMPLES.get(str(schema.get("format")), text)
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = max(0, low + (1 if "exclusiveMinimum" in schema else 0))
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    return None


def _arguments_json(call: ToolCall) -> str:
    if isinstance(call.arguments, str):
        return call.arguments
    return json.dumps(dict(call.arguments))


def _arguments_object(call: ToolCall) -> _Json:
    if not isinstance(call.arguments, str):
        return dict(call.arguments)
    try:
        parsed = json.loads(call.arguments)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _pieces(text: str) -> list[str]:
    """Word-sized stream deltas that join back to `text`."""
    return re.findall(r"\s+|\S+\s*", text)


def _fragments(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _hex(n: int) -> str:
    return os.urandom(n).hex()


def _request_id(provider: _Provider) -> str:
    if provider == "anthropic":
        return f"req_{base64.b32encode(os.urandom(15)).decode().lower()}"
    return f"req_{_hex(16)}"


_TO_OPENAI = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "max_output_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_TO_ANTHROPIC = {
    "stop": "end_turn",
    "length": "max_tokens",
    "max_output_tokens": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def _openai_finish(call: _Call, *, legacy: bool = False) -> str:
    if call.reply.finish_reason is not None:
        return _TO_OPENAI.get(call.reply.finish_reason, call.reply.finish_reason)
    return "tool_calls" if call.tools and not legacy else "stop"


def _anthropic_stop(call: _Call) -> str:
    if call.reply.finish_reason is not None:
        return _TO_ANTHROPIC.get(call.reply.finish_reason, call.reply.finish_reason)
    if call.tools:
        return "tool_use"
    return "refusal" if call.reply.refusal is not None else "end_turn"


# --------------------------------------------------------------------------- OpenAI chat


def _completion_usage(tokens: _Tokens) -> _Json:
    return {
        "prompt_tokens": tokens.input,
        "completion_tokens": tokens.output,
        "total_tokens": tokens.input + tokens.output,
        "prompt_tokens_details": {
            "cached_tokens": tokens.cached,
            "cache_write_tokens": tokens.cache_write,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": tokens.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_tool_calls(call: _Call) -> list[_Json]:
    return [
        {
            "id": tool_id,
            "type": "function",
            "function": {"name": tool.name, "arguments": _arguments_json(tool)},
        }
        for tool, tool_id in call.tools
    ]


def _chat_completion(call: _Call) -> _Json:
    message: _Json = {
        "role": "assistant",
        "content": call.text,
        "refusal": call.reply.refusal,
        "annotations": [],
    }
    if call.tools:
        message["tool_calls"] = _chat_tool_calls(call)
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": _openai_finish(call),
    }
    return {
        "id": f"chatcmpl-{_hex(12)}",
        "object": "chat.completion",
        "created": call.created,
        "model": call.model,
        "choices": [choice],
        "usage": _completion_usage(call.tokens),
        "service_tier": "default",
        "system_fingerprint": "fp_fakellm",
    }


def _include_usage(call: _Call) -> bool:
    options = call.body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _chat_stream(call: _Call) -> Iterator[_Event]:
    include_usage = _include_usage(call)
    base: _Json = {
        "id": f"chatcmpl-{_hex(12)}",
        "object": "chat.completion.chunk",
        "created": call.created,
        "model": call.model,
        "service_tier": "default",
        "system_fingerprint": "fp_fakellm",
    }
    if include_usage:
        base["usage"] = None  # the real API sends an explicit null on every other chunk

    def chunk(delta: _Json, kind: _Kind, finish: str | None = None) -> _Event:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _Event({**base, "choices": [choice]}, kind=kind)

    first = {"role": "assistant", "content": "" if call.text is not None else None, "refusal": None}
    yield chunk(first, "meta")
    for piece in _pieces(call.text or ""):
        yield chunk({"content": piece}, "delta")
    for piece in _pieces(call.reply.refusal or ""):
        yield chunk({"refusal": piece}, "delta")
    for index, (tool, tool_id) in enumerate(call.tools):
        head = {"index": index, "id": tool_id, "type": "function"}
        yield chunk(
            {"tool_calls": [{**head, "function": {"name": tool.name, "arguments": ""}}]}, "delta"
        )
        for fragment in _fragments(_arguments_json(tool)):
            yield chunk(
                {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}, "delta"
            )
    yield chunk({}, "end", _openai_finish(call))
    if include_usage:
        yield _Event({**base, "choices": [], "usage": _completion_usage(call.tokens)}, kind="end")
    yield _Event("[DONE]", kind="end")


# --------------------------------------------------------------------------- OpenAI completions


def _legacy_text(call: _Call) -> str:
    return call.text if call.text is not None else call.reply.refusal or ""


def _completion(call: _Call) -> _Json:
    finish = _openai_finish(call, legacy=True)
    return {
        "id": f"cmpl-{_hex(12)}",
        "object": "text_completion",
        "created": call.created,
        "model": call.model,
        "choices": [
            {"index": 0, "text": _legacy_text(call), "logprobs": None, "finish_reason": finish}
        ],
        "usage": _completion_usage(call.tokens),
        "system_fingerprint": "fp_fakellm",
    }


def _completion_stream(call: _Call) -> Iterator[_Event]:
    include_usage = _include_usage(call)
    base: _Json = {
        "id": f"cmpl-{_hex(12)}",
        "object": "text_completion",
        "created": call.created,
        "model": call.model,
        "system_fingerprint": "fp_fakellm",
    }
    if include_usage:
        base["usage"] = None

    def chunk(text: str, kind: _Kind, finish: str | None = None) -> _Event:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        return _Event({**base, "choices": [choice]}, kind=kind)

    for piece in _pieces(_legacy_text(call)):
        yield chunk(piece, "delta")
    yield chunk("", "end", _openai_finish(call, legacy=True))
    if include_usage:
        yield _Event({**base, "choices": [], "usage": _completion_usage(call.tokens)}, kind="end")
    yield _Event("[DONE]", kind="end")


# --------------------------------------------------------------------------- OpenAI Responses


def _responses_usage(tokens: _Tokens) -> _Json:
    return {
        "input_tokens": tokens.input,
        "input_tokens_details": {
            "cached_tokens": tokens.cached,
            "cache_write_tokens": tokens.cache_write,
        },
        "output_tokens": tokens.output,
        "output_tokens_details": {"reasoning_tokens": tokens.reasoning},
        "total_tokens": tokens.input + tokens.output,
    }


def _responses_items(call: _Call) -> list[_Json]:
    """The final output items; the stream announces the same items piece by piece."""
    items: list[_Json] = []
    if call.reply.thinking is not None:
        summary = [{"type": "summary_text", "text": call.reply.thinking}]
        items.append({"id": f"rs_{_hex(12)}", "type": "reasoning", "summary": summary})
    content: list[_Json] = []
    if call.text is not None:
        content.append(
            {"type": "output_text", "text": call.text, "annotations": [], "logprobs": []}
        )
    if call.reply.refusal is not None:
        content.append({"type": "refusal", "refusal": call.reply.refusal})
    if content:
        items.append(
            {
                "id": f"msg_{_hex(12)}",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": content,
            }
        )
    for tool, tool_id in call.tools:
        items.append(
            {
                "id": f"fc_{_hex(12)}",
                "type": "function_call",
                "call_id": tool_id,
                "name": tool.name,
                "arguments": _arguments_json(tool),
                "status": "completed",
            }
        )
    return items


def _responses_object(call: _Call, response_id: str, *, done: bool, output: list[_Json]) -> _Json:
    body = call.body
    finish = _openai_finish(call)
    incomplete = {"length": "max_output_tokens", "content_filter": "content_filter"}.get(finish)
    status = "in_progress" if not done else "incomplete" if incomplete else "completed"
    return {
        "id": response_id,
        "object": "response",
        "created_at": call.created,
        "completed_at": call.created if status == "completed" else None,
        "status": status,
        "model": call.model,
        "output": output,
        "error": None,
        "incomplete_details": {"reason": incomplete} if done and incomplete else None,
        "instructions": body.get("instructions"),
        "metadata": body.get("metadata") or {},
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "max_output_tokens": body.get("max_output_tokens"),
        "temperature": body.get("temperature", 1.0),
        "top_p": body.get("top_p", 1.0),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "text": body.get("text", {"format": {"type": "text"}}),
        "reasoning": body.get("reasoning", {"effort": None, "summary": None}),
        "truncation": body.get("truncation", "disabled"),
        "service_tier": "default",
        "store": body.get("store", True),
        "user": body.get("user"),
        "usage": _responses_usage(call.tokens) if done else None,
    }


def _responses(call: _Call) -> _Json:
    return _responses_object(call, f"resp_{_hex(16)}", done=True, output=_responses_items(call))


def _responses_stream(call: _Call) -> Iterator[_Event]:
    response_id = f"resp_{_hex(16)}"
    items = _responses_items(call)
    sequence = iter(range(1 << 30))

    def event(type_: str, kind: _Kind = "meta", /, **fields: Any) -> _Event:
        return _Event({"type": type_, "sequence_number": next(sequence), **fields}, type_, kind)

    pending = _responses_object(call, response_id, done=False, output=[])
    yield event("response.created", response=pending)
    yield event("response.in_progress", response=pending)
    for index, item in enumerate(items):
        at = {"output_index": index}
        if item["type"] == "message":
            yield event(
                "response.output_item.added",
                item={**item, "status": "in_progress", "content": []},
                **at,
            )
            for part_index, part in enumerate(item["content"]):
                where = {"item_id": item["id"], **at, "content_index": part_index}
                if part["type"] == "output_text":
                    empty = {**part, "text": ""}
                    yield event("response.content_part.added", part=empty, **where)
                    for piece in _pieces(part["text"]):
                        yield event(
                            "response.output_text.delta", "delta", delta=piece, logprobs=[], **where
                        )
                    yield event(
                        "response.output_text.done", text=part["text"], logprobs=[], **where
                    )
                else:
                    yield event(
                        "response.content_part.added", part={**part, "refusal": ""}, **where
                    )
                    for piece in _pieces(part["refusal"]):
                        yield event("response.refusal.delta", "delta", delta=piece, **where)
                    yield event("response.refusal.done", refusal=part["refusal"], **where)
                yield event("response.content_part.done", part=part, **where)
        elif item["type"] == "function_call":
            added = {**item, "arguments": "", "status": "in_progress"}
            yield event("response.output_item.added", "delta", item=added, **at)
            where = {"item_id": item["id"], **at}
            for fragment in _fragments(item["arguments"]):
                yield event(
                    "response.function_call_arguments.delta", "delta", delta=fragment, **where
                )
            yield event(
                "response.function_call_arguments.done", arguments=item["arguments"], **where
            )
        else:
            yield event("response.output_item.added", item={**item, "summary": []}, **at)
        yield event("response.output_item.done", item=item, **at)
    final = _responses_object(call, response_id, done=True, output=items)
    closing = "response.completed" if final["status"] == "completed" else "response.incomplete"
    yield event(closing, "end", response=final)


# --------------------------------------------------------------------------- OpenAI embeddings


def _embedding_inputs(value: object) -> list[str | list[int]]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [list(value)]
    if isinstance(value, list):
        return [v if isinstance(v, str) else list(v) for v in value if isinstance(v, str | list)]
    return []


def _fake_vector(seed: str, dimensions: int) -> list[float]:
    rng = random.Random(seed)  # str seeds hash deterministically across runs
    vector = [rng.uniform(-1.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def _embeddings(call: _Call) -> _Json:
    inputs = _embedding_inputs(call.body.get("input"))
    dimensions = call.body.get("dimensions")
    size = dimensions if isinstance(dimensions, int) and dimensions > 0 else 8
    scripted = call.reply.embeddings
    data: list[_Json] = []
    for index, item in enumerate(inputs):
        if scripted is not None and index < len(scripted):
            vector = [float(v) for v in scripted[index]]
        else:
            vector = _fake_vector(f"{call.model}:{item}", size)
        # Round through float32 so the float and the (float32) base64 forms agree exactly.
        packed = struct.pack(f"<{len(vector)}f", *vector)
        embedding: list[float] | str = list(struct.unpack(f"<{len(vector)}f", packed))
        if call.body.get("encoding_format") == "base64":
            embedding = base64.b64encode(packed).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    usage = call.reply.usage
    tokens = usage.input_tokens if usage and usage.input_tokens is not None else None
    if tokens is None:
        tokens = sum(len(i) if isinstance(i, list) else _estimate(i) for i in inputs)
    return {
        "object": "list",
        "data": data,
        "model": call.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# --------------------------------------------------------------------------- Anthropic messages


def _anthropic_usage(tokens: _Tokens, *, output_tokens: int | None = None) -> _Json:
    usage: _Json = {
        "input_tokens": tokens.input,
        "output_tokens": tokens.output if output_tokens is None else output_tokens,
        "cache_creation_input_tokens": tokens.cache_write,
        "cache_read_input_tokens": tokens.cached,
        "cache_creation": {
            "ephemeral_5m_input_tokens": tokens.cache_write - tokens.cache_write_1h,
            "ephemeral_1h_input_tokens": tokens.cache_write_1h,
        },
        "service_tier": "standard",
    }
    if tokens.reasoning:
        usage["output_tokens_details"] = {"thinking_tokens": tokens.reasoning}
    return usage


def _anthropic_blocks(call: _Call) -> list[_Json]:
    blocks: list[_Json] = []
    if call.reply.thinking is not None:
        signature = base64.b64encode(os.urandom(48)).decode()
        blocks.append({"type": "thinking", "thinking": call.reply.thinking, "signature": signature})
    text = call.text if call.text is not None else call.reply.refusal
    if text is not None and (text or not call.tools):
        blocks.append({"type": "text", "text": text, "citations": None})
    for tool, tool_id in call.tools:
        blocks.append(
            {"type": "tool_use", "id": tool_id, "name": tool.name, "input": _arguments_object(tool)}
        )
    return blocks


def _anthropic_message(call: _Call, *, content: list[_Json], final: bool) -> _Json:
    stop_reason = _anthropic_stop(call) if final else None
    stop_sequence = None
    sequences = call.body.get("stop_sequences")
    if stop_reason == "stop_sequence" and isinstance(sequences, list) and sequences:
        stop_sequence = sequences[0]
    message: _Json = {
        "id": f"msg_{_hex(12)}",
        "type": "message",
        "role": "assistant",
        "model": call.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        # The stream reports a placeholder until message_delta carries the real count.
        "usage": _anthropic_usage(call.tokens, output_tokens=None if final else 1),
    }
    if stop_reason == "refusal":
        message["stop_details"] = {"type": "refusal", "category": None, "explanation": None}
    return message


def _messages(call: _Call) -> _Json:
    return _anthropic_message(call, content=_anthropic_blocks(call), final=True)


def _messages_stream(call: _Call) -> Iterator[_Event]:
    def event(type_: str, kind: _Kind = "meta", /, **fields: Any) -> _Event:
        return _Event({"type": type_, **fields}, type_, kind)

    # Streams carry the arguments verbatim, so malformed JSON reaches the client's parser.
    raw_arguments = iter([_arguments_json(tool) for tool, _ in call.tools])
    yield event("message_start", message=_anthropic_message(call, content=[], final=False))
    yield event("ping")
    for index, block in enumerate(_anthropic_blocks(call)):
        if block["type"] == "thinking":
            yield event(
                "content_block_start",
                index=index,
                content_block={**block, "thinking": "", "signature": ""},
            )
            for piece in _pieces(block["thinking"]):
                thinking = {"type": "thinking_delta", "thinking": piece}
                yield event("content_block_delta", "delta", index=index, delta=thinking)
            signature = {"type": "signature_delta", "signature": block["signature"]}
            yield event("content_block_delta", index=index, delta=signature)
        elif block["type"] == "text":
            yield event("content_block_start", index=index, content_block={**block, "text": ""})
            for piece in _pieces(block["text"]):
                yield event(
                    "content_block_delta",
                    "delta",
                    index=index,
                    delta={"type": "text_delta", "text": piece},
                )
        else:
            yield event("content_block_start", index=index, content_block={**block, "input": {}})
            # The API's first input_json_delta is empty; clients must cope with that.
            for fragment in ["", *_fragments(next(raw_arguments))]:
                json_delta = {"type": "input_json_delta", "partial_json": fragment}
                yield event("content_block_delta", "delta", index=index, delta=json_delta)
        yield event("content_block_stop", index=index)
    final = _anthropic_message(call, content=[], final=True)
    usage = {key: final["usage"][key] for key in _DELTA_USAGE_KEYS if key in final["usage"]}
    delta: _Json = {"stop_reason": final["stop_reason"], "stop_sequence": final["stop_sequence"]}
    if "stop_details" in final:
        delta["stop_details"] = final["stop_details"]
    yield event("message_delta", "end", delta=delta, usage=usage)
    yield event("message_stop", "end")


_DELTA_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens_details",
)


def _count_tokens(call: _Call) -> _Json:
    return {"input_tokens": call.tokens.input}


# --------------------------------------------------------------------------- routing


def _no_stream_error(call: _Call, sequence_number: int) -> _Event:
    raise AssertionError("this endpoint does not stream")


class _Endpoint(NamedTuple):
    provider: _Provider
    build: Callable[[_Call], _Json]
    stream: Callable[[_Call], Iterator[_Event]] | None = None
    stream_error: Callable[[_Call, int], _Event] = _no_stream_error


_ENDPOINTS: dict[str, _Endpoint] = {
    "/v1/chat/completions": _Endpoint(
        "openai", _chat_completion, _chat_stream, _openai_stream_error
    ),
    "/v1/completions": _Endpoint("openai", _completion, _completion_stream, _openai_stream_error),
    "/v1/responses": _Endpoint("openai", _responses, _responses_stream, _responses_stream_error),
    "/v1/embeddings": _Endpoint("openai", _embeddings),
    "/v1/messages": _Endpoint("anthropic", _messages, _messages_stream, _anthropic_stream_error),
    "/v1/messages/count_tokens": _Endpoint("anthropic", _count_tokens),
}
