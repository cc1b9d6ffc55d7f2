"""Anthropic: every Messages API call becomes a CHAT_MODEL span.

Supported: ``anthropic`` 0.43 through 2.x, sync and async clients, beta messages, and the
Bedrock / Vertex / Foundry clients (their message classes are patched too: the Bedrock and
Vertex beta classes copy the first-party methods at import time, so they need patches of
their own).

Patched (class level, so clients created before ``autolog()`` are covered):

- ``messages.create`` and ``messages.parse`` (plain and ``stream=True``), and the same on
  ``beta.messages``;
- ``messages.stream()`` (and beta): it posts by itself instead of calling ``create``, so its
  deferred request is wrapped; the span opens when the ``with`` block sends the request;
- ``messages.count_tokens`` is not traced: it generates nothing and costs nothing, and agent
  loops call it often.

Example:
    >>> import tracekit
    >>> tracekit.anthropic.autolog()
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from tracekit._internal import internal_error
from tracekit._spans import SpanType

from ._llm import (
    LLMCall,
    Operation,
    Options,
    StreamState,
    async_wrapper,
    classify_result,
    given,
    record_inputs,
    record_outputs,
    record_params,
    run_async,
    run_sync,
    switch,
    sync_wrapper,
)
from ._patching import Patch, PatchSet

PROVIDER = "anthropic"
MIN_VERSION = (0, 43)

_options = Options()


def autolog(
    *,
    log_inputs: bool = True,
    log_outputs: bool = True,
    capture_content: Literal["full", "redacted", "metadata", "none"] | None = None,
    disable: bool = False,
) -> None:
    """Trace every Anthropic SDK call made in this process.

    Safe to call more than once, before or after ``import anthropic`` and before or after
    clients are created.

    Args:
        log_inputs: record the system prompt and messages sent.
        log_outputs: record the content blocks returned.
        capture_content: this integration's content mode, overriding
            ``configure(capture_content=...)`` (see docs/privacy.md).
        disable: remove the patches, restoring the SDK's original methods.

    Example:
        >>> tracekit.anthropic.autolog(log_inputs=False)
    """
    switch(
        _options,
        _patches,
        disable=disable,
        log_inputs=log_inputs,
        log_outputs=log_outputs,
        capture_content=capture_content,
    )


# -- request side -------------------------------------------------------------------------

_CONTENT = frozenset({"messages", "system", "model", "tools", "stream"})


def _request(call: LLMCall, kwargs: dict[str, Any]) -> None:
    record_params(call, kwargs, _CONTENT)
    tools = kwargs.get("tools")
    if given(tools) and tools is not None:
        call.set("gen_ai.tool.definitions", list(tools))
    if given(kwargs.get("stream")):
        call.set("gen_ai.request.stream", bool(kwargs["stream"]))
    system = kwargs.get("system")
    record_inputs(
        call,
        {"system": system if given(system) else None, "messages": kwargs.get("messages")},
    )


# -- response side ------------------------------------------------------------------------


def normalise_usage(usage: Any) -> dict[str, int | None] | None:
    """Anthropic usage in tracekit's convention.

    Anthropic's ``input_tokens`` excludes cache reads and writes; tracekit's (OpenTelemetry's)
    includes them, with the reads and writes also reported on their own.
    """
    if usage is None:
        return None
    uncached = getattr(usage, "input_tokens", None)
    read = getattr(usage, "cache_read_input_tokens", None)
    written = getattr(usage, "cache_creation_input_tokens", None)
    split = getattr(usage, "cache_creation", None)
    details = getattr(usage, "output_tokens_details", None)
    total_in = None if uncached is None else uncached + (read or 0) + (written or 0)
    return {
        "input_tokens": total_in,
        "output_tokens": getattr(usage, "output_tokens", None),
        "cached_input_tokens": read,
        "cache_write_tokens": written,
        "cache_write_5m_tokens": _field(split, "ephemeral_5m_input_tokens"),
        "cache_write_1h_tokens": _field(split, "ephemeral_1h_input_tokens"),
        "reasoning_tokens": _field(details, "thinking_tokens"),
    }


def _field(obj: Any, name: str) -> Any:
    # Releases whose Usage model predates a field keep it as a plain dict (pydantic extra).
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _block_record(block: Any) -> dict[str, Any]:
    data: dict[str, Any] = (
        block.model_dump(exclude_none=True, warnings=False)
        if hasattr(block, "model_dump")
        else dict(block)
    )
    data.pop("signature", None)  # an opaque integrity token, not content
    return data


def _tool_calls(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"id": b.get("id"), "name": b.get("name"), "arguments": b.get("input")}
        for b in blocks
        if b.get("type") in ("tool_use", "server_tool_use")
    ]


def _record_message(
    call: LLMCall,
    message_id: str | None,
    model: str | None,
    blocks: list[dict[str, Any]],
    stop_reason: str | None,
    usage: dict[str, int | None] | None,
) -> None:
    call.set_model(model)
    call.set_reported("gen_ai.response.id", message_id)
    if stop_reason:
        call.set_reported("gen_ai.response.finish_reasons", [stop_reason])
    tools = _tool_calls(blocks)
    if tools:
        call.set_tool_calls(tools)
    record_outputs(call, {"role": "assistant", "content": blocks})
    if usage is not None:
        call.set_usage(usage)


def _response(call: LLMCall, message: Any) -> None:
    _record_message(
        call,
        getattr(message, "id", None),
        getattr(message, "model", None),
        [_block_record(b) for b in getattr(message, "content", None) or []],
        getattr(message, "stop_reason", None),
        normalise_usage(getattr(message, "usage", None)),
    )
    call.set_reported("tracekit.request_id", getattr(message, "_request_id", None))


def _record_error(call: LLMCall, exc: BaseException) -> None:
    call.set("http.response.status_code", getattr(exc, "status_code", None))
    call.set_reported("tracekit.request_id", getattr(exc, "request_id", None))
    error_type = getattr(exc, "type", None)
    if error_type is None:  # older releases keep it only in the error body
        body = getattr(exc, "body", None)
        detail = body.get("error") if isinstance(body, dict) else None
        error_type = detail.get("type") if isinstance(detail, dict) else None
    call.set("tracekit.error.type", error_type)
    call.set("tracekit.error.code", getattr(exc, "error_code", None))


class _MessageStream(StreamState):
    """Rebuilds the message from raw stream events (message_start ... message_stop)."""

    def __init__(self, call: LLMCall, kwargs: dict[str, Any]) -> None:
        self.id: str | None = None
        self.model: str | None = None
        self.blocks: dict[int, dict[str, Any]] = {}
        self.parts: dict[int, list[str]] = {}
        self.stop_reason: str | None = None
        self.usage: dict[str, Any] = {}
        self.final_counts = False  # a message_delta arrived: output_tokens is the real count

    def on_chunk(self, chunk: Any) -> bool:
        kind = getattr(chunk, "type", None)
        if kind == "content_block_delta":
            delta = chunk.delta
            piece = (
                getattr(delta, "text", None)
                or getattr(delta, "partial_json", None)
                or getattr(delta, "thinking", None)
            )
            if piece:
                if self.first_token_ns is None:
                    self.first_token_ns = time.time_ns()
                self.parts.setdefault(chunk.index, []).append(piece)
        elif kind == "content_block_start":
            self.blocks[chunk.index] = _block_record(chunk.content_block)
        elif kind == "message_start":
            message = chunk.message
            self.id, self.model = message.id, message.model
            self._take_usage(message.usage)
        elif kind == "message_delta":
            self.stop_reason = getattr(chunk.delta, "stop_reason", None) or self.stop_reason
            self._take_usage(getattr(chunk, "usage", None))
            self.final_counts = True
        elif kind == "message_stop":
            self.complete = True
        return False

    def _take_usage(self, usage: Any) -> None:
        # message_delta carries cumulative counts that replace message_start's placeholders.
        if usage is None:
            return
        for key in (
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
            "cache_creation",
            "output_tokens_details",
        ):
            value = getattr(usage, key, None)
            if value is not None:
                self.usage[key] = value

    def finish(self, call: LLMCall, cancelled: bool) -> None:
        blocks = []
        for index in sorted(set(self.blocks) | set(self.parts)):
            block = dict(self.blocks.get(index, {"type": "text"}))
            text = "".join(self.parts.get(index, []))
            kind = block.get("type")
            if kind == "text":
                block["text"] = block.get("text", "") + text
            elif kind == "thinking":
                block["thinking"] = block.get("thinking", "") + text
            elif kind in ("tool_use", "server_tool_use") and text:
                try:
                    block["input"] = json.loads(text)
                except ValueError:  # cut off mid-stream: keep what arrived
                    block["input"] = text
            blocks.append(block)
        usage = normalise_usage(_UsageView(self.usage)) if self.usage else None
        if usage is not None and not self.final_counts:
            # Ended before message_delta: message_start's output count is a placeholder, and
            # what the cut-off reply is billed for is unknown, so no output count and no cost.
            usage["output_tokens"] = None
            call.unpriced = True
        _record_message(call, self.id, self.model, blocks, self.stop_reason, usage)


class _UsageView:
    """Attribute access over the usage fields collected from stream events."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.__dict__.update(fields)

    def __getattr__(self, name: str) -> Any:
        return None


_MESSAGES = Operation(
    provider=PROVIDER,
    name="chat",
    span_type=SpanType.CHAT_MODEL,
    record_request=_request,
    record_response=_response,
    new_stream=_MessageStream,
    classify=classify_result,
    record_error=_record_error,
    request_id_header="request-id",
)


def _manager_request_attr(manager: Any) -> str | None:
    # The stream managers keep the deferred request in a name-mangled private attribute
    # (_MessageStreamManager__api_request, _BetaMessageStreamManager__api_request, ...).
    names: list[str] = [n for n in vars(manager) if n.endswith("__api_request")]
    return names[0] if names else None


def _stream_helper_sync(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    manager = wrapped(*args, **kwargs)
    if not _options.active:
        return manager
    try:
        attr = _manager_request_attr(manager)
        if attr is not None:
            send = getattr(manager, attr)
            request = {**kwargs, "stream": True}
            setattr(manager, attr, lambda: run_sync(_MESSAGES, _options, request, lambda _: send()))
    except Exception:
        internal_error("anthropic messages.stream")
    return manager


def _stream_helper_async(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    manager = wrapped(*args, **kwargs)
    if not _options.active:
        return manager
    try:
        attr = _manager_request_attr(manager)
        if attr is not None:
            pending = getattr(manager, attr)  # a coroutine, awaited in __aenter__
            request = {**kwargs, "stream": True}
            setattr(manager, attr, run_async(_MESSAGES, _options, request, lambda _: pending))
    except Exception:
        internal_error("anthropic messages.stream")
    return manager


def _patch_list() -> list[Patch]:
    sync_call = sync_wrapper(_MESSAGES, _options)
    async_call = async_wrapper(_MESSAGES, _options)
    patches = []
    for module in (
        "anthropic.resources.messages.messages",
        "anthropic.resources.messages",  # anthropic < 0.50 had a flat module
        "anthropic.resources.beta.messages.messages",
        "anthropic.lib.bedrock._beta_messages",
        "anthropic.lib.vertex._beta_messages",
    ):
        patches += [
            Patch(module, "Messages.create", sync_call),
            Patch(module, "Messages.parse", sync_call),
            Patch(module, "Messages.stream", _stream_helper_sync),
            Patch(module, "AsyncMessages.create", async_call),
            Patch(module, "AsyncMessages.parse", async_call),
            Patch(module, "AsyncMessages.stream", _stream_helper_async),
        ]
    return patches


_patches = PatchSet("anthropic", _patch_list, MIN_VERSION)

__all__ = ["autolog"]
