"""OpenAI: every chat, responses, embeddings and legacy completions call becomes a span.

Supported: ``openai`` 1.66 (the first release with the Responses API) through 3.x, sync and
async clients, Azure and the module-level client (they share the resource classes).

Patched (class level, so clients created before ``autolog()`` are covered):

- ``chat.completions.create`` / ``parse`` — opens a CHAT_MODEL span; ``chat.completions.stream()``
  runs ``create(stream=True)`` and is traced through it, once;
- ``responses.create`` / ``parse`` and ``beta.responses.create`` — CHAT_MODEL;
  ``responses.stream()`` runs ``create`` and is traced through it;
- ``embeddings.create`` — EMBEDDING; ``completions.create`` (legacy) — LLM;
- ``ChatCompletionStream.close`` / ``ResponseStream.close`` of the stream helpers — their
  ``close()`` does not reach the raw stream, so it is told here that the stream ended.

Example:
    >>> import tracekit
    >>> tracekit.openai.autolog()
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

from tracekit._spans import SpanType

from ._llm import (
    LLMCall,
    Operation,
    Options,
    StreamState,
    async_wrapper,
    call_of,
    classify_result,
    given,
    record_inputs,
    record_outputs,
    record_params,
    switch,
    sync_wrapper,
)
from ._patching import Patch, PatchSet

PROVIDER = "openai"
MIN_VERSION = (1, 66)

_options = Options()


def autolog(
    *,
    log_inputs: bool = True,
    log_outputs: bool = True,
    stream_usage: bool = False,
    capture_content: Literal["full", "redacted", "metadata", "none"] | None = None,
    disable: bool = False,
) -> None:
    """Trace every OpenAI SDK call made in this process.

    Safe to call more than once (nothing is wrapped twice; later calls change the options),
    before or after ``import openai`` and before or after clients are created.

    Args:
        log_inputs: record the messages / input sent.
        log_outputs: record the generated messages / output items.
        stream_usage: for ``stream=True`` chat and legacy completions calls that do not ask
            for usage, add ``stream_options={"include_usage": True}`` so token counts and cost
            are known, and hide the extra usage-only chunk (it has no ``choices``) from the
            caller. Off by default because it changes the request.
        capture_content: this integration's content mode, overriding
            ``configure(capture_content=...)`` (see docs/privacy.md).
        disable: remove the patches, restoring the SDK's original methods.

    Example:
        >>> tracekit.openai.autolog(stream_usage=True)
    """
    switch(
        _options,
        _patches,
        disable=disable,
        log_inputs=log_inputs,
        log_outputs=log_outputs,
        capture_content=capture_content,
        stream_usage=stream_usage,
    )


# -- request side -------------------------------------------------------------------------

_CHAT_CONTENT = frozenset({"messages", "model", "tools", "functions", "stream"})
_RESPONSES_CONTENT = frozenset({"input", "instructions", "model", "tools", "stream"})
_EMBEDDING_CONTENT = frozenset({"input", "model"})
_COMPLETION_CONTENT = frozenset({"prompt", "model", "stream"})


def _request_common(call: LLMCall, kwargs: dict[str, Any], content: frozenset[str]) -> None:
    record_params(call, kwargs, content)
    if given(kwargs.get("stream")):
        call.set("gen_ai.request.stream", bool(kwargs["stream"]))
    tools = kwargs.get("tools")
    if given(tools) and tools is not None:
        call.set("gen_ai.tool.definitions", list(tools))


def _chat_request(call: LLMCall, kwargs: dict[str, Any]) -> None:
    _request_common(call, kwargs, _CHAT_CONTENT)
    record_inputs(call, {"messages": kwargs.get("messages")})


def _responses_request(call: LLMCall, kwargs: dict[str, Any]) -> None:
    _request_common(call, kwargs, _RESPONSES_CONTENT)
    record_inputs(
        call,
        {
            "instructions": kwargs.get("instructions")
            if given(kwargs.get("instructions"))
            else None,
            "input": kwargs.get("input") if given(kwargs.get("input")) else None,
        },
    )


def _embedding_request(call: LLMCall, kwargs: dict[str, Any]) -> None:
    record_params(call, kwargs, _EMBEDDING_CONTENT)
    record_inputs(call, {"input": kwargs.get("input")})


def _completion_request(call: LLMCall, kwargs: dict[str, Any]) -> None:
    _request_common(call, kwargs, _COMPLETION_CONTENT)
    record_inputs(call, {"prompt": kwargs.get("prompt")})


def _inject_stream_usage(call: LLMCall, kwargs: dict[str, Any]) -> dict[str, Any]:
    if not call.options.stream_usage or kwargs.get("stream") is not True:
        return kwargs
    if given(kwargs.get("stream_options")):
        return kwargs  # the caller decided; leave it alone
    call.set("tracekit.stream.usage_injected", True)
    call.usage_injected = True
    return {**kwargs, "stream_options": {"include_usage": True}}


# -- response side ------------------------------------------------------------------------


def _dump(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)
    if dump is None:
        return obj
    return dump(exclude_none=True, warnings=False)


def completion_usage(usage: Any) -> dict[str, int | None] | None:
    """Chat / legacy completions usage (``prompt_tokens`` already includes cached tokens)."""
    if usage is None:
        return None
    prompt = getattr(usage, "prompt_tokens_details", None)
    completion = getattr(usage, "completion_tokens_details", None)
    return {
        "input_tokens": getattr(usage, "prompt_tokens", None),
        "output_tokens": getattr(usage, "completion_tokens", None),
        "total_tokens": getattr(usage, "total_tokens", None),
        "cached_input_tokens": getattr(prompt, "cached_tokens", None),
        "cache_write_tokens": getattr(prompt, "cache_write_tokens", None),
        "reasoning_tokens": getattr(completion, "reasoning_tokens", None),
    }


def responses_usage(usage: Any) -> dict[str, int | None] | None:
    """Responses usage: ``input_tokens`` includes cached, ``output_tokens`` reasoning."""
    if usage is None:
        return None
    details_in = getattr(usage, "input_tokens_details", None)
    details_out = getattr(usage, "output_tokens_details", None)
    return {
        "input_tokens": getattr(usage, "input_tokens", None),
        "output_tokens": getattr(usage, "output_tokens", None),
        "total_tokens": getattr(usage, "total_tokens", None),
        "cached_input_tokens": getattr(details_in, "cached_tokens", None),
        "cache_write_tokens": getattr(details_in, "cache_write_tokens", None),
        "reasoning_tokens": getattr(details_out, "reasoning_tokens", None),
    }


def _tool_call_record(tool_call: Any) -> dict[str, Any]:
    function = getattr(tool_call, "function", None)
    if function is not None:
        return {"id": tool_call.id, "name": function.name, "arguments": function.arguments}
    custom = getattr(tool_call, "custom", None)
    if custom is not None:
        return {"id": tool_call.id, "name": custom.name, "arguments": custom.input}
    return {"id": getattr(tool_call, "id", None), "raw": _dump(tool_call)}


def _record_common(call: LLMCall, response: Any) -> None:
    call.set_model(getattr(response, "model", None))
    call.set_reported("gen_ai.response.id", getattr(response, "id", None))
    call.set_reported("tracekit.request_id", getattr(response, "_request_id", None))


def _chat_response(call: LLMCall, response: Any) -> None:
    _record_common(call, response)
    choices = getattr(response, "choices", None) or []
    call.set_reported("gen_ai.response.finish_reasons", [c.finish_reason for c in choices])
    tool_calls = [_tool_call_record(tc) for c in choices for tc in (c.message.tool_calls or [])]
    if tool_calls:
        call.set_tool_calls(tool_calls)
    messages = [_dump(c.message) for c in choices]
    record_outputs(call, messages[0] if len(messages) == 1 else messages)
    usage = completion_usage(getattr(response, "usage", None))
    if usage is not None:
        call.set_usage(usage)
    call.set_reported(
        "gen_ai.openai.response.system_fingerprint", getattr(response, "system_fingerprint", None)
    )


def _responses_tool_calls(items: Sequence[Any]) -> list[dict[str, Any]]:
    calls = []
    for item in items:
        kind = getattr(item, "type", None)
        if kind == "function_call":
            calls.append({"id": item.call_id, "name": item.name, "arguments": item.arguments})
        elif kind == "custom_tool_call":
            calls.append({"id": item.call_id, "name": item.name, "arguments": item.input})
    return calls


def _responses_response(call: LLMCall, response: Any) -> None:
    _record_common(call, response)
    status = getattr(response, "status", None)
    reasons = [status] if status else []
    incomplete = getattr(response, "incomplete_details", None)
    if incomplete is not None and getattr(incomplete, "reason", None):
        reasons = [incomplete.reason]
    call.set_reported("gen_ai.response.finish_reasons", reasons)
    output = list(getattr(response, "output", None) or [])
    tool_calls = _responses_tool_calls(output)
    if tool_calls:
        call.set_tool_calls(tool_calls)
    record_outputs(call, {"output": [_dump(item) for item in output]})
    usage = responses_usage(getattr(response, "usage", None))
    if usage is not None:
        call.set_usage(usage)
    error = getattr(response, "error", None)
    if error is not None:
        call.span.set_status("ERROR", getattr(error, "message", None) or str(error))
        call.set("error.type", getattr(error, "code", None))


def _embedding_response(call: LLMCall, response: Any) -> None:
    call.set_model(getattr(response, "model", None))
    data = getattr(response, "data", None) or []
    dims = len(data[0].embedding) if data and hasattr(data[0], "embedding") else None
    call.set("gen_ai.embeddings.dimension.count", dims)
    record_outputs(call, {"embeddings": len(data), "dimensions": dims})
    usage = getattr(response, "usage", None)
    if usage is not None:
        tokens = getattr(usage, "prompt_tokens", None)
        call.set_usage(
            {"input_tokens": tokens, "total_tokens": getattr(usage, "total_tokens", None)}
        )
    call.set_reported("tracekit.request_id", getattr(response, "_request_id", None))


def _completion_response(call: LLMCall, response: Any) -> None:
    _record_common(call, response)
    choices = getattr(response, "choices", None) or []
    call.set_reported("gen_ai.response.finish_reasons", [c.finish_reason for c in choices])
    texts = [c.text for c in choices]
    record_outputs(call, texts[0] if len(texts) == 1 else texts)
    usage = completion_usage(getattr(response, "usage", None))
    if usage is not None:
        call.set_usage(usage)


def _record_error(call: LLMCall, exc: BaseException) -> None:
    call.set("http.response.status_code", getattr(exc, "status_code", None))
    call.set_reported("tracekit.request_id", getattr(exc, "request_id", None))
    call.set("tracekit.error.code", getattr(exc, "code", None))
    call.set("tracekit.error.type", getattr(exc, "type", None))


# -- streams ------------------------------------------------------------------------------


def _asks_for_usage(kwargs: dict[str, Any]) -> bool:
    options = kwargs.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def _choices_asked(kwargs: dict[str, Any]) -> int:
    n = kwargs.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1


class _ChatStream(StreamState):
    """Rebuilds the assistant message(s), tool calls and usage from chat chunks."""

    def __init__(self, call: LLMCall, kwargs: dict[str, Any]) -> None:
        # Only the chunk tracekit asked for: a caller who set include_usage gets theirs.
        self.hide_usage_chunk = call.usage_injected
        # Usage the caller asked for comes in one more chunk; tracekit's own request for it
        # does not make a reply left after its finish reason incomplete.
        self.expect_usage = _asks_for_usage(kwargs) and not call.usage_injected
        self.choices_asked = _choices_asked(kwargs)
        self.text: dict[int, list[str]] = {}
        self.refusal: dict[int, list[str]] = {}
        self.tools: dict[int, dict[int, dict[str, Any]]] = {}
        self.reasons: dict[int, str] = {}
        self.role = "assistant"
        self.model: str | None = None
        self.id: str | None = None
        self.usage: Any = None

    def on_chunk(self, chunk: Any) -> bool:
        # Every chunk repeats the id and model; Azure's first one (content filter results)
        # has them empty, so the first non-empty ones are kept.
        if not self.id:
            self.id = getattr(chunk, "id", None) or None
        if not self.model:
            self.model = getattr(chunk, "model", None) or None
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
            self.complete = True  # the usage chunk is the last one
        choices = getattr(chunk, "choices", None)
        if not choices:
            return self.hide_usage_chunk and usage is not None
        for choice in choices:
            delta = choice.delta
            index = choice.index
            if delta is not None:
                content = delta.content
                refusal = getattr(delta, "refusal", None)
                tool_calls = delta.tool_calls
                if self.first_token_ns is None and (content or tool_calls or refusal):
                    self.first_token_ns = time.time_ns()
                if content:
                    parts = self.text.get(index)
                    if parts is None:
                        parts = self.text[index] = []
                    parts.append(content)
                if refusal:
                    self.refusal.setdefault(index, []).append(refusal)
                for tool in tool_calls or ():
                    slot = self.tools.setdefault(index, {}).setdefault(
                        tool.index, {"id": None, "name": None, "arguments": []}
                    )
                    if tool.id:
                        slot["id"] = tool.id
                    function = tool.function
                    if function is not None:
                        if function.name:
                            slot["name"] = function.name
                        if function.arguments:
                            slot["arguments"].append(function.arguments)
            if choice.finish_reason:
                self.reasons[index] = choice.finish_reason
                if not self.expect_usage and len(self.reasons) >= self.choices_asked:
                    self.complete = True
        return False

    def finish(self, call: LLMCall, cancelled: bool) -> None:
        call.set_model(self.model)
        call.set_reported("gen_ai.response.id", self.id)
        indexes = sorted(
            set(self.text) | set(self.refusal) | set(self.tools) | set(self.reasons)
        ) or [0]
        messages = []
        all_tools = []
        for index in indexes:
            message: dict[str, Any] = {
                "role": self.role,
                "content": "".join(self.text.get(index, [])),
            }
            if index in self.refusal:
                message["refusal"] = "".join(self.refusal[index])
            tools = [
                {"id": t["id"], "name": t["name"], "arguments": "".join(t["arguments"])}
                for _, t in sorted(self.tools.get(index, {}).items())
            ]
            if tools:
                message["tool_calls"] = tools
                all_tools.extend(tools)
            messages.append(message)
        if all_tools:
            call.set_tool_calls(all_tools)
        record_outputs(call, messages[0] if len(messages) == 1 else messages)
        if self.reasons:
            call.set_reported(
                "gen_ai.response.finish_reasons", [self.reasons.get(i) for i in indexes]
            )
        usage = completion_usage(self.usage)
        if usage is not None:
            call.set_usage(usage)


class _CompletionStream(StreamState):
    def __init__(self, call: LLMCall, kwargs: dict[str, Any]) -> None:
        # Only the chunk tracekit asked for: a caller who set include_usage gets theirs.
        self.hide_usage_chunk = call.usage_injected
        self.expect_usage = _asks_for_usage(kwargs) and not call.usage_injected
        self.choices_asked = _choices_asked(kwargs)
        self.text: dict[int, list[str]] = {}
        self.reasons: dict[int, str] = {}
        self.last: Any = None
        self.usage: Any = None

    def on_chunk(self, chunk: Any) -> bool:
        self.last = chunk
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
            self.complete = True
        choices = getattr(chunk, "choices", None)
        if not choices:
            return self.hide_usage_chunk and usage is not None
        for choice in choices:
            if choice.text:
                if self.first_token_ns is None:
                    self.first_token_ns = time.time_ns()
                self.text.setdefault(choice.index, []).append(choice.text)
            if choice.finish_reason:
                self.reasons[choice.index] = choice.finish_reason
                if not self.expect_usage and len(self.reasons) >= self.choices_asked:
                    self.complete = True
        return False

    def finish(self, call: LLMCall, cancelled: bool) -> None:
        if self.last is not None:
            _record_common(call, self.last)
        texts = ["".join(parts) for _, parts in sorted(self.text.items())]
        record_outputs(call, texts[0] if len(texts) == 1 else texts)
        if self.reasons:
            call.set_reported(
                "gen_ai.response.finish_reasons", [r for _, r in sorted(self.reasons.items())]
            )
        usage = completion_usage(self.usage)
        if usage is not None:
            call.set_usage(usage)


class _ResponsesStream(StreamState):
    """Responses events: the final ``response.*`` event carries the whole response."""

    def __init__(self, call: LLMCall, kwargs: dict[str, Any]) -> None:
        self.final: Any = None
        self.started: Any = None
        self.text: list[str] = []
        self.items: dict[int, Any] = {}  # output_index -> finished item
        self.open_calls: dict[int, Any] = {}  # output_index -> function_call item being streamed
        self.arguments: dict[int, list[str]] = {}
        self.error: dict[str, Any] | None = None

    def on_chunk(self, chunk: Any) -> bool:
        kind = getattr(chunk, "type", None)
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            self.final = chunk.response
            self.complete = True
        elif kind == "response.created":
            self.started = chunk.response
        elif kind in _TOKEN_EVENTS:
            if self.first_token_ns is None:
                self.first_token_ns = time.time_ns()
            if kind == "response.output_text.delta":
                self.text.append(chunk.delta)
            elif kind == "response.function_call_arguments.delta":
                self.arguments.setdefault(chunk.output_index, []).append(chunk.delta)
        elif kind == "response.output_item.added":
            if getattr(chunk.item, "type", None) == "function_call":
                self.open_calls[chunk.output_index] = chunk.item
        elif kind == "response.output_item.done":
            self.items[chunk.output_index] = chunk.item
        elif kind == "error":
            self.error = {"code": getattr(chunk, "code", None), "message": chunk.message}
        elif kind is None and getattr(chunk, "event", None) == "error":
            # openai < 1.7x: an error event the SDK does not know comes as an untyped object.
            data = getattr(chunk, "data", None)
            data = data if isinstance(data, dict) else {}
            self.error = {"code": data.get("code"), "message": data.get("message")}
        return False

    def finish(self, call: LLMCall, cancelled: bool) -> None:
        if self.final is not None:
            _responses_response(call, self.final)
        else:
            if self.started is not None:
                _record_common(call, self.started)
            items = [item for _, item in sorted(self.items.items())]
            tool_calls = _responses_tool_calls(items)
            for index, item in sorted(self.open_calls.items()):
                if index not in self.items:  # cut off while its arguments streamed
                    arguments = "".join(self.arguments.get(index, []))
                    partial = {"id": item.call_id, "name": item.name, "arguments": arguments}
                    tool_calls.append(partial)
            if tool_calls:
                call.set_tool_calls(tool_calls)
            record_outputs(
                call,
                {"output": [_dump(i) for i in items], "partial_text": "".join(self.text)},
            )
        if self.error is not None:
            # An error event is yielded to the caller, not raised: the span still fails.
            code = self.error.get("code") or "error"
            message = self.error.get("message") or "stream error event"
            call.span.set_status("ERROR", message)
            call.span.error = {"type": str(code), "message": str(message), "stacktrace": None}
            call.set("error.type", code)


# Responses events that carry generated content: the first one is the first token.
_TOKEN_EVENTS = frozenset(
    {
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
        "response.refusal.delta",
        "response.reasoning_text.delta",
        "response.reasoning_summary_text.delta",
    }
)


def _operation(
    name: str,
    span_type: SpanType,
    request: Any,
    response: Any,
    stream: Any = None,
    prepare: Any = None,
) -> Operation:
    return Operation(
        provider=PROVIDER,
        name=name,
        span_type=span_type,
        record_request=request,
        record_response=response,
        new_stream=stream,
        classify=classify_result,
        record_error=_record_error,
        prepare=prepare,
    )


_CHAT = _operation(
    "chat", SpanType.CHAT_MODEL, _chat_request, _chat_response, _ChatStream, _inject_stream_usage
)
_RESPONSES = _operation(
    "chat", SpanType.CHAT_MODEL, _responses_request, _responses_response, _ResponsesStream
)
_EMBEDDINGS = _operation("embeddings", SpanType.EMBEDDING, _embedding_request, _embedding_response)
_COMPLETIONS = _operation(
    "text_completion",
    SpanType.LLM,
    _completion_request,
    _completion_response,
    _CompletionStream,
    _inject_stream_usage,
)


def _helper_close_sync(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        return wrapped(*args, **kwargs)
    finally:
        call = call_of(getattr(instance, "_raw_stream", None))
        if call is not None:
            call.finish_stream(cancelled=True)


async def _helper_close_async(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        return await wrapped(*args, **kwargs)
    finally:
        call = call_of(getattr(instance, "_raw_stream", None))
        if call is not None:
            call.finish_stream(cancelled=True)


def _patch_list() -> list[Patch]:
    chat = "openai.resources.chat.completions.completions"
    responses = "openai.resources.responses.responses"
    beta = "openai.resources.beta.responses.responses"
    beta_chat = "openai.resources.beta.chat.completions"
    sync_chat, async_chat = sync_wrapper(_CHAT, _options), async_wrapper(_CHAT, _options)
    sync_resp = sync_wrapper(_RESPONSES, _options)
    async_resp = async_wrapper(_RESPONSES, _options)
    return [
        Patch(chat, "Completions.create", sync_chat),
        Patch(chat, "Completions.parse", sync_chat),
        Patch(chat, "AsyncCompletions.create", async_chat),
        Patch(chat, "AsyncCompletions.parse", async_chat),
        Patch(responses, "Responses.create", sync_resp),
        Patch(responses, "Responses.parse", sync_resp),
        Patch(responses, "AsyncResponses.create", async_resp),
        Patch(responses, "AsyncResponses.parse", async_resp),
        Patch(beta, "Responses.create", sync_resp),
        Patch(beta, "AsyncResponses.create", async_resp),
        # Before openai 1.92 the parse helper lived in client.beta.chat.completions and called
        # _post itself; its stream() calls client.chat.completions.create (patched above).
        Patch(beta_chat, "Completions.parse", sync_chat),
        Patch(beta_chat, "AsyncCompletions.parse", async_chat),
        Patch(
            "openai.resources.embeddings", "Embeddings.create", sync_wrapper(_EMBEDDINGS, _options)
        ),
        Patch(
            "openai.resources.embeddings",
            "AsyncEmbeddings.create",
            async_wrapper(_EMBEDDINGS, _options),
        ),
        Patch(
            "openai.resources.completions",
            "Completions.create",
            sync_wrapper(_COMPLETIONS, _options),
        ),
        Patch(
            "openai.resources.completions",
            "AsyncCompletions.create",
            async_wrapper(_COMPLETIONS, _options),
        ),
        Patch(
            "openai.lib.streaming.chat._completions",
            "ChatCompletionStream.close",
            _helper_close_sync,
        ),
        Patch(
            "openai.lib.streaming.chat._completions",
            "AsyncChatCompletionStream.close",
            _helper_close_async,
        ),
        Patch(
            "openai.lib.streaming.responses._responses", "ResponseStream.close", _helper_close_sync
        ),
        Patch(
            "openai.lib.streaming.responses._responses",
            "AsyncResponseStream.close",
            _helper_close_async,
        ),
    ]


_patches = PatchSet("openai", _patch_list, MIN_VERSION)

__all__ = ["autolog"]
