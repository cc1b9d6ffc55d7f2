"""Turning tracekit records into OpenTelemetry SDK spans with GenAI and OpenInference attributes.

Private to :mod:`tracekit.exporters.otlp` and imported only when an ``OtlpExporter`` is built, so
``import tracekit`` never loads the OpenTelemetry SDK's span classes.

The input is the documented record (``trace.to_dict()``, docs/schema.md), never span objects:
records are read-only and shared with the other exporters, so nothing here mutates them.

Two attribute vocabularies are written, chosen by ``conventions``:

- ``gen_ai``: the OpenTelemetry GenAI semantic conventions (``gen_ai.*``; messages in the
  conventions' JSON "parts" structure), read by Langfuse, Logfire, MLflow, Datadog, Grafana.
- ``openinference``: Arize's conventions (``openinference.span.kind``, ``llm.*``,
  ``input.value``, flattened ``llm.input_messages.N.*``), read by Phoenix and Arize.

Whatever the profile, ``tracekit.*`` attributes carry what neither convention has (span type,
cost, trace name, tags), and every attribute value is made OpenTelemetry-legal and bounded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import orjson

from tracekit._serialize import dumps

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

AttributeValue = str | bool | int | float | list[str] | list[bool] | list[int] | list[float]
Json = Any  # a JSON-safe value, as found in records

GEN_AI: Final = "gen_ai"
OPENINFERENCE: Final = "openinference"
BOTH: Final = "both"
CONVENTIONS: Final = (GEN_AI, OPENINFERENCE, BOTH)

DEFAULT_MAX_ATTRIBUTE_LENGTH: Final = 32 * 1024
# One OTLP request stays below the 4 MiB message limit that gRPC servers (the OpenTelemetry
# Collector, rotel) apply by default, with room for protobuf framing.
MAX_REQUEST_BYTES: Final = 3 * 1024 * 1024
MAX_REQUEST_SPANS: Final = 2048
# Flattened lists (documents, embeddings) beyond this many items are left to input/output.value.
MAX_FLATTENED_ITEMS: Final = 100

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1

LLM_SPAN_TYPES: Final = frozenset({"LLM", "CHAT_MODEL", "EMBEDDING"})

OPENINFERENCE_KINDS: Final = {
    "LLM": "LLM",
    "CHAT_MODEL": "LLM",
    "EMBEDDING": "EMBEDDING",
    "TOOL": "TOOL",
    "RETRIEVER": "RETRIEVER",
    "RERANKER": "RERANKER",
    "AGENT": "AGENT",
    "CHAIN": "CHAIN",
    # OpenInference has no kind for these; CHAIN ("glue between steps") is the closest, and
    # tracekit.span_type keeps the exact type.
    "PARSER": "CHAIN",
    "MEMORY": "CHAIN",
    "GUARDRAIL": "GUARDRAIL",
    "EVALUATOR": "EVALUATOR",
    "UNKNOWN": "UNKNOWN",
}

DEFAULT_OPERATIONS: Final = {
    "CHAT_MODEL": "chat",
    "LLM": "text_completion",
    "EMBEDDING": "embeddings",
    "TOOL": "execute_tool",
    "AGENT": "invoke_agent",
}

# tracekit usage key -> GenAI attributes. Cache writes go under both names while the
# conventions settle between cache_creation (current) and cache_write (proposed).
_GEN_AI_USAGE: Final = {
    "input_tokens": ("gen_ai.usage.input_tokens",),
    "output_tokens": ("gen_ai.usage.output_tokens",),
    "cached_input_tokens": ("gen_ai.usage.cache_read.input_tokens",),
    "cache_write_tokens": (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_write.input_tokens",
    ),
    "reasoning_tokens": ("gen_ai.usage.reasoning.output_tokens",),
}
_OPENINFERENCE_USAGE: Final = {
    "input_tokens": "llm.token_count.prompt",
    "output_tokens": "llm.token_count.completion",
    "total_tokens": "llm.token_count.total",
    "cached_input_tokens": "llm.token_count.prompt_details.cache_read",
    "cache_write_tokens": "llm.token_count.prompt_details.cache_write",
    "reasoning_tokens": "llm.token_count.completion_details.reasoning",
}
# Usage keys with no convention at all.
_TRACEKIT_ONLY_USAGE: Final = ("cache_write_5m_tokens", "cache_write_1h_tokens")

# gen_ai.provider.name -> (llm.system, llm.provider): OpenInference separates the API's shape
# (system) from who hosts it (provider).
_OPENINFERENCE_PROVIDERS: Final = {
    "openai": ("openai", "openai"),
    "anthropic": ("anthropic", "anthropic"),
    "azure.ai.openai": ("openai", "azure"),
    "azure.ai.inference": (None, "azure"),
    "aws.bedrock": (None, "aws"),
    "gcp.gemini": ("vertexai", "google"),
    "gcp.vertex_ai": ("vertexai", "google"),
    "gcp.gen_ai": ("vertexai", "google"),
    "mistral_ai": ("mistralai", "mistralai"),
    "x_ai": ("xai", "xai"),
    "cohere": ("cohere", "cohere"),
    "deepseek": ("deepseek", "deepseek"),
    "groq": (None, "groq"),
    "perplexity": (None, "perplexity"),
}

# Provider finish reasons -> the GenAI FinishReason values; anything else passes unchanged.
_FINISH_REASONS: Final = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "completed": "stop",
    "length": "length",
    "max_tokens": "length",
    "max_output_tokens": "length",
    "model_context_window_exceeded": "length",
    "content_filter": "content_filter",
    "refusal": "content_filter",
    "tool_calls": "tool_call",
    "function_call": "tool_call",
    "tool_use": "tool_call",
    "failed": "error",
}

# Request parameters whose convention name differs from the provider's.
_PARAM_ALIASES: Final = {
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "max_output_tokens": "gen_ai.request.max_tokens",
    "n": "gen_ai.request.choice.count",
}


@dataclass(frozen=True)
class MappingOptions:
    """What the conversion writes.

    Args:
        conventions: ``"gen_ai"``, ``"openinference"`` or ``"both"``.
        capture_content: write prompts, replies, tool arguments and results, inputs and outputs.
        max_attribute_length: longest string attribute value, in characters, marker included.

    Example:
        >>> MappingOptions(conventions="openinference", capture_content=False).gen_ai
        False
    """

    conventions: str = BOTH
    capture_content: bool = True
    max_attribute_length: int = DEFAULT_MAX_ATTRIBUTE_LENGTH

    def __post_init__(self) -> None:
        if self.conventions not in CONVENTIONS:
            raise ValueError(
                f"conventions must be one of {', '.join(CONVENTIONS)}; got {self.conventions!r}"
            )
        if not isinstance(self.max_attribute_length, int) or self.max_attribute_length < 256:
            raise ValueError(
                f"max_attribute_length must be an int of at least 256; "
                f"got {self.max_attribute_length!r}"
            )

    @property
    def gen_ai(self) -> bool:
        """Whether GenAI (``gen_ai.*``) attributes are written."""
        return self.conventions in (GEN_AI, BOTH)

    @property
    def openinference(self) -> bool:
        """Whether OpenInference attributes are written."""
        return self.conventions in (OPENINFERENCE, BOTH)

    @property
    def max_span_bytes(self) -> int:
        """Attribute bytes one span may carry; big enough for many full-size values, and small
        enough that a span always fits in one request."""
        return min(32 * self.max_attribute_length, MAX_REQUEST_BYTES * 2 // 3)


# -- values ---------------------------------------------------------------------------------


def _marker(total: int) -> str:
    return f"…[truncated: {total} chars in total]"


def clip(text: str, limit: int) -> str:
    """``text`` as valid UTF-8, cut to at most ``limit`` characters including a marker."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates cannot go into a protobuf string: the whole span would fail to
            # encode. Pairs are joined, lone halves become U+FFFD.
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if len(text) <= limit:
        return text
    marker = _marker(len(text))
    return text[: max(0, limit - len(marker))] + marker


def to_json(value: Json, limit: int) -> str:
    """``value`` as a JSON string of at most ``limit`` bytes, still valid JSON when possible.

    Long strings inside are shortened first (the GenAI conventions allow truncating message
    contents while keeping the structure), each to the same largest length that fits; only a
    value whose structure alone is too big is cut as text.
    """
    text = dumps(value)
    if len(text) <= limit:
        return text.decode()
    longest = _longest_string(value)
    low, high, best = 0, longest, None
    while low <= high:  # binary search for the largest per-string cap that fits
        cap = (low + high) // 2
        candidate = dumps(_cap_strings(value, cap))
        if len(candidate) <= limit:
            best, low = candidate, cap + 1
        else:
            high = cap - 1
    if best is not None:
        return best.decode()
    return clip(text.decode(), limit)


def _longest_string(value: Json) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return max((_longest_string(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return max((_longest_string(v) for v in value), default=0)
    return 0


def _cap_strings(value: Json, cap: int) -> Json:
    if isinstance(value, str):
        return value if len(value) <= cap else value[:cap] + _marker(len(value))
    if isinstance(value, Mapping):
        return {k: _cap_strings(v, cap) for k, v in value.items()}
    if isinstance(value, list):
        return [_cap_strings(v, cap) for v in value]
    return value


def attribute_value(value: Any, limit: int) -> AttributeValue | None:
    """An OpenTelemetry-legal attribute value for ``value``, or None to leave it out.

    Strings are cut to ``limit``; ints outside int64 become strings; homogeneous lists of
    str/bool/int/float stay lists (None in a string list becomes ""); everything else
    (objects, lists of objects, mixed lists) becomes a JSON string.
    """
    if value is None:
        return None
    if isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
    if isinstance(value, str):
        return clip(value, limit)
    if isinstance(value, list | tuple):
        kinds = {type(item) for item in value if item is not None}
        has_none = any(item is None for item in value)
        if kinds <= {str}:
            return [clip(item or "", limit) for item in value]
        if not has_none and kinds == {bool}:
            return list(value)
        if not has_none and kinds <= {int, float} and bool not in kinds:
            if kinds == {int} and all(_INT64_MIN <= item <= _INT64_MAX for item in value):
                return list(value)
            if float in kinds:
                return [float(item) for item in value]
    return to_json(value, limit)


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, list):
        return sum(_size(item) for item in value) + 2 * len(value)
    return 9


def attributes_size(attributes: Mapping[str, Any]) -> int:
    """Approximate protobuf size of an attribute map, in bytes."""
    return sum(len(key) + 4 + _size(value) for key, value in attributes.items())


def _fit_span_budget(attributes: dict[str, AttributeValue], budget: int) -> None:
    """Halve the largest string values until the span's attributes fit in ``budget`` bytes."""
    total = attributes_size(attributes)
    while total > budget:
        key = max(
            (k for k, v in attributes.items() if isinstance(v, str)),
            key=lambda k: len(attributes[k]),  # type: ignore[arg-type]
            default=None,
        )
        if key is None:
            return
        value = attributes[key]
        assert isinstance(value, str)
        if len(value) <= 256:
            return  # only small values left: the attribute count itself is the problem
        shorter = clip(value, len(value) // 2)
        total -= _size(value) - _size(shorter)
        attributes[key] = shorter


# -- the attribute builder ------------------------------------------------------------------


class _Attributes:
    """Collects attributes, making each value legal and bounded as it is set."""

    __slots__ = ("data", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data: dict[str, AttributeValue] = {}

    def set(self, key: str, value: Any) -> None:
        clean = attribute_value(value, self.limit)
        if clean is not None and key:
            self.data[key] = clean

    def set_json(self, key: str, value: Json) -> None:
        if value is not None:
            self.data[key] = to_json(value, self.limit)

    def set_io(self, prefix: str, value: Json, *, plain: bool = False) -> None:
        """``input.value``/``output.value`` and its mime type; ``plain`` reduces a single
        string argument (``{"question": "..."}``) to its text, as trace previews show it."""
        if value is None:
            return
        if plain and isinstance(value, Mapping) and len(value) == 1:
            (only,) = value.values()
            if isinstance(only, str):
                value = only
        if isinstance(value, str):
            self.data[f"{prefix}.value"] = clip(value, self.limit)
            self.data[f"{prefix}.mime_type"] = "text/plain"
        else:
            self.data[f"{prefix}.value"] = to_json(value, self.limit)
            self.data[f"{prefix}.mime_type"] = "application/json"


# -- messages: provider shapes -> GenAI "parts" ---------------------------------------------


def _text(value: Json) -> str:
    if isinstance(value, str):
        return value
    return dumps(value).decode()


def _arguments(value: Json) -> Json:
    """Tool-call arguments as an object: the conventions ask to deserialize JSON strings."""
    if isinstance(value, str):
        with contextlib.suppress(orjson.JSONDecodeError):
            return orjson.loads(value)
    return value


def _modality(mime: str | None, default: str) -> str:
    if mime:
        head = mime.split("/", 1)[0]
        if head in ("image", "audio", "video"):
            return head
    return default


def _url_part(url: Any, modality: str) -> dict[str, Json]:
    """A ``blob`` part for a data: URL (inline base64), else a ``uri`` part."""
    text = str(url)
    if text.startswith("data:") and "," in text:
        header, data = text[5:].split(",", 1)
        mime = header.split(";", 1)[0] or None
        return {
            "type": "blob",
            "modality": _modality(mime, modality),
            "mime_type": mime,
            "content": data,
        }
    return {"type": "uri", "modality": modality, "uri": text}


def _source_part(source: Mapping[str, Any], modality: str) -> dict[str, Json]:
    """Anthropic ``image``/``document`` sources."""
    kind = source.get("type")
    mime = source.get("media_type")
    if kind == "base64":
        return {
            "type": "blob",
            "modality": _modality(mime, modality),
            "mime_type": mime,
            "content": source.get("data", ""),
        }
    if kind == "url":
        return {"type": "uri", "modality": modality, "uri": source.get("url", "")}
    if kind == "file":
        return {"type": "file", "modality": modality, "file_id": source.get("file_id", "")}
    if kind == "text":
        return {"type": "text", "content": _text(source.get("data", ""))}
    return {"type": str(kind or "unknown"), **source}


def _tool_call_part(call: Mapping[str, Any]) -> dict[str, Json]:
    # Chat Completions nests name/arguments under "function"; tracekit's streamed replies and
    # the Responses API keep them flat.
    function = call.get("function")
    source = function if isinstance(function, Mapping) else call
    arguments = source.get("arguments", call.get("input"))
    return {
        "type": "tool_call",
        "id": call.get("id", call.get("call_id")),
        "name": source.get("name") or call.get("name") or "",
        "arguments": _arguments(arguments),
    }


def _reasoning_text(item: Mapping[str, Any]) -> str:
    pieces: list[str] = []
    for key in ("summary", "content"):
        entries = item.get(key)
        if isinstance(entries, list):
            pieces.extend(
                str(e.get("text", "")) for e in entries if isinstance(e, Mapping) and e.get("text")
            )
        elif isinstance(entries, str):
            pieces.append(entries)
    return "\n".join(pieces)


def _block_parts(block: Json) -> list[dict[str, Json]]:
    """One content block (OpenAI chat/Responses content part or item, Anthropic block)."""
    if isinstance(block, str):
        return [{"type": "text", "content": block}]
    if not isinstance(block, Mapping):
        return [{"type": "text", "content": _text(block)}]
    kind = block.get("type")
    if kind in ("text", "input_text", "output_text"):
        return [{"type": "text", "content": _text(block.get("text", ""))}]
    if kind == "refusal":
        return [{"type": "refusal", "content": _text(block.get("refusal", ""))}]
    if kind == "image_url":  # chat: {"image_url": {"url": ...}}
        image = block.get("image_url")
        url = image.get("url", "") if isinstance(image, Mapping) else image
        return [_url_part(url, "image")]
    if kind == "input_image":  # Responses
        if block.get("image_url"):
            return [_url_part(block["image_url"], "image")]
        return [{"type": "file", "modality": "image", "file_id": block.get("file_id", "")}]
    if kind == "input_audio":
        audio = block.get("input_audio")
        audio = audio if isinstance(audio, Mapping) else {}
        fmt = audio.get("format")
        return [
            {
                "type": "blob",
                "modality": "audio",
                "mime_type": f"audio/{fmt}" if fmt else None,
                "content": audio.get("data", ""),
            }
        ]
    if kind in ("file", "input_file"):
        file = block.get("file") if isinstance(block.get("file"), Mapping) else block
        assert isinstance(file, Mapping)
        if file.get("file_data"):
            return [_url_part(file["file_data"], "document")]
        if file.get("file_url"):
            return [{"type": "uri", "modality": "document", "uri": file["file_url"]}]
        return [{"type": "file", "modality": "document", "file_id": file.get("file_id", "")}]
    if kind in ("image", "document"):  # Anthropic
        source = block.get("source")
        if isinstance(source, Mapping):
            return [_source_part(source, kind)]
    if kind in ("tool_use", "server_tool_use", "function_call", "custom_tool_call"):
        return [_tool_call_part(block)]
    if kind == "tool_result":  # Anthropic: the result of a tool_use, sent in a user message
        content = block.get("content")
        response: Json = content
        if isinstance(content, list) and all(
            isinstance(c, Mapping) and c.get("type") == "text" for c in content
        ):
            response = "".join(str(c.get("text", "")) for c in content)
        part: dict[str, Json] = {
            "type": "tool_call_response",
            "id": block.get("tool_use_id"),
            "response": response,
        }
        if block.get("is_error"):
            part["is_error"] = True
        return [part]
    if kind in ("function_call_output", "custom_tool_call_output"):
        return [
            {
                "type": "tool_call_response",
                "id": block.get("call_id"),
                "response": block.get("output"),
            }
        ]
    if kind == "thinking":
        return [{"type": "reasoning", "content": _text(block.get("thinking", ""))}]
    if kind == "reasoning":  # Responses reasoning item: summaries (and content, if returned)
        return [{"type": "reasoning", "content": _reasoning_text(block)}]
    if kind == "message":  # a Responses message item nested in a content list
        return _content_parts(block.get("content"))
    # Anything else (redacted_thinking, web_search_call, search results, ...) keeps its own
    # type and fields: the conventions' GenericPart.
    return [{**block, "type": str(kind or "unknown")}]


def _content_parts(content: Json) -> list[dict[str, Json]]:
    if content is None:
        return []
    if isinstance(content, list):
        return [part for block in content for part in _block_parts(block)]
    return _block_parts(content)


def _message(message: Mapping[str, Any]) -> dict[str, Json]:
    """An OpenAI chat message, an Anthropic message or a Responses message item."""
    role = str(message.get("role") or "user")
    if role in ("tool", "function"):  # a tool's result in the chat history
        return {
            "role": "tool",
            "parts": [
                {
                    "type": "tool_call_response",
                    "id": message.get("tool_call_id"),
                    "response": message.get("content"),
                }
            ],
        }
    parts = _content_parts(message.get("content"))
    if message.get("refusal"):
        parts.append({"type": "refusal", "content": _text(message["refusal"])})
    for call in message.get("tool_calls") or ():
        if isinstance(call, Mapping):
            parts.append(_tool_call_part(call))
    legacy = message.get("function_call")
    if isinstance(legacy, Mapping):
        parts.append(_tool_call_part(legacy))
    out: dict[str, Json] = {"role": role, "parts": parts}
    if isinstance(message.get("name"), str):
        out["name"] = message["name"]
    return out


def _items_messages(items: Iterable[Json]) -> list[dict[str, Json]]:
    """Responses API input items: messages, plus loose items grouped into turns."""
    messages: list[dict[str, Json]] = []
    for item in items:
        if isinstance(item, Mapping) and (item.get("type") == "message" or "role" in item):
            messages.append(_message(item))
            continue
        parts = _block_parts(item)
        if parts and all(p["type"] == "tool_call_response" for p in parts):
            messages.append({"role": "tool", "parts": parts})
        elif messages and messages[-1]["role"] == "assistant":
            messages[-1]["parts"].extend(parts)  # reasoning + calls of one model turn
        else:
            messages.append(
                {"role": "assistant" if isinstance(item, Mapping) else "user", "parts": parts}
            )
    return messages


def input_messages(
    inputs: Json,
) -> tuple[list[dict[str, Json]] | None, list[dict[str, Json]] | None]:
    """``(gen_ai.input.messages, gen_ai.system_instructions)`` for a model call's inputs.

    Understands OpenAI chat ``{"messages"}``, Responses ``{"instructions", "input"}``,
    Anthropic ``{"system", "messages"}``, legacy ``{"prompt"}``, a bare list of messages and a
    plain string; anything else gives ``(None, None)``.
    """
    if isinstance(inputs, str):
        return [{"role": "user", "parts": [{"type": "text", "content": inputs}]}], None
    if isinstance(inputs, list):
        if inputs and all(isinstance(m, Mapping) and "role" in m for m in inputs):
            return [_message(m) for m in inputs], None
        return None, None
    if not isinstance(inputs, Mapping):
        return None, None
    system: list[dict[str, Json]] | None = None
    for key in ("system", "instructions"):
        if inputs.get(key) is not None:
            system = (system or []) + _content_parts(inputs[key])
    messages: list[dict[str, Json]] | None = None
    if isinstance(inputs.get("messages"), list):
        messages = [_message(m) for m in inputs["messages"] if isinstance(m, Mapping)]
    elif "input" in inputs:
        given = inputs["input"]
        if isinstance(given, str):
            messages = [{"role": "user", "parts": [{"type": "text", "content": given}]}]
        elif isinstance(given, list):
            messages = _items_messages(given)
    elif "prompt" in inputs:
        prompts = inputs["prompt"]
        prompts = prompts if isinstance(prompts, list) else [prompts]
        messages = [
            {"role": "user", "parts": [{"type": "text", "content": _text(p)}]} for p in prompts
        ]
    return messages, system


def _finish_reason(reason: Any, parts: Sequence[Mapping[str, Json]]) -> str | None:
    if reason is None:
        return None
    mapped = _FINISH_REASONS.get(str(reason), str(reason))
    if mapped == "stop" and any(p.get("type") == "tool_call" for p in parts):
        return "tool_call"  # e.g. a Responses call that "completed" by calling a tool
    return mapped


def output_messages(outputs: Json, finish_reasons: Sequence[Any]) -> list[dict[str, Json]] | None:
    """``gen_ai.output.messages``: one message per choice, with its finish reason when known.

    Understands an OpenAI chat message (or a list of them when ``n > 1``), a Responses
    ``{"output": [items]}``, an Anthropic ``{"role", "content": [blocks]}``, and text (or a
    list of texts) from legacy completions.
    """
    if outputs is None:
        return None
    if isinstance(outputs, list) and outputs and all(isinstance(o, str | Mapping) for o in outputs):
        choices: list[Json] = list(outputs)
    else:
        choices = [outputs]
    messages = []
    for index, choice in enumerate(choices):
        if isinstance(choice, Mapping) and isinstance(choice.get("output"), list):
            parts = [p for item in choice["output"] for p in _block_parts(item)]
            message: dict[str, Json] = {"role": "assistant", "parts": parts}
        elif isinstance(choice, Mapping) and ("role" in choice or "content" in choice):
            message = _message({**choice, "role": choice.get("role") or "assistant"})
        else:
            message = {"role": "assistant", "parts": [{"type": "text", "content": _text(choice)}]}
        reason = finish_reasons[index] if index < len(finish_reasons) else None
        mapped = _finish_reason(reason, message["parts"])
        if mapped is not None:
            message["finish_reason"] = mapped
        messages.append(message)
    return messages


# -- messages: GenAI parts -> OpenInference flattened attributes ----------------------------


def _openinference_messages(message: Mapping[str, Json], limit: int) -> list[list[tuple[str, Any]]]:
    """One GenAI message as OpenInference messages: lists of (relative key, value).

    OpenInference has no tool-result part: each ``tool_call_response`` becomes a message of
    its own with role ``tool`` and ``message.tool_call_id``. Order is kept, so a result that
    came before the message's text (Anthropic's tool_result then text) still directly follows
    the assistant's call, as chat APIs require.
    """
    contents: list[tuple[str, str]] = []
    calls: list[Mapping[str, Json]] = []
    flattened: list[list[tuple[str, Any]]] = []
    main: int | None = None  # where the message's own (non-result) content goes
    for part in message.get("parts") or ():
        kind = part.get("type")
        if kind == "tool_call_response":
            keys: list[tuple[str, Any]] = [
                ("message.role", "tool"),
                ("message.tool_call_id", part.get("id")),
            ]
            if part.get("response") is not None:
                keys.append(("message.content", _text(part["response"])))
            flattened.append(keys)
            continue
        if main is None:
            main = len(flattened)
            flattened.append([])
        if kind == "tool_call":
            calls.append(part)
        elif kind in ("text", "refusal"):
            contents.append(("text", _text(part.get("content", ""))))
        elif kind == "reasoning":
            contents.append(("reasoning", _text(part.get("content", ""))))
        elif kind in ("blob", "uri") and part.get("modality") == "image":
            url = part.get("uri")
            if kind == "blob":
                mime = part.get("mime_type") or "image/png"
                url = f"data:{mime};base64,{part.get('content', '')}"
            contents.append(("image", str(url)))
    if main is None and not flattened:
        main = 0
        flattened.append([])
    if main is not None:
        keys = [("message.role", message.get("role"))]
        if isinstance(message.get("name"), str):
            keys.append(("message.name", message["name"]))
        if len(contents) == 1 and contents[0][0] == "text":
            keys.append(("message.content", contents[0][1]))
        else:
            for k, (kind, value) in enumerate(contents):
                base = f"message.contents.{k}.message_content"
                field = f"{base}.image.image.url" if kind == "image" else f"{base}.text"
                keys.extend(((f"{base}.type", kind), (field, value)))
        for j, call in enumerate(calls):
            base = f"message.tool_calls.{j}.tool_call"
            keys.append((f"{base}.id", call.get("id")))
            keys.append((f"{base}.function.name", call.get("name")))
            arguments = call.get("arguments")
            if arguments is not None:
                text = arguments if isinstance(arguments, str) else to_json(arguments, limit)
                keys.append((f"{base}.function.arguments", text))
        flattened[main] = keys
    return flattened


def _set_openinference_messages(
    a: _Attributes, key: str, messages: Sequence[Mapping[str, Json]]
) -> None:
    index = 0
    for message in messages:
        for keys in _openinference_messages(message, a.limit):
            for name, value in keys:
                a.set(f"{key}.{index}.{name}", value)
            index += 1


# -- per span kind --------------------------------------------------------------------------


def _request_params(attributes: Mapping[str, Json]) -> dict[str, Json]:
    prefix = "gen_ai.request."
    return {
        key[len(prefix) :]: value
        for key, value in attributes.items()
        if key.startswith(prefix) and key != "gen_ai.request.model"
    }


def _standard_params(a: _Attributes, params: Mapping[str, Json]) -> None:
    """Convention names for provider parameters spelled differently (the originals stay)."""
    for name, alias in _PARAM_ALIASES.items():
        if name in params and alias.removeprefix("gen_ai.request.") not in params:
            a.set(alias, params[name])
    stop = params.get("stop")
    if stop is not None and "stop_sequences" not in params:
        a.set("gen_ai.request.stop_sequences", [stop] if isinstance(stop, str) else stop)
    encoding = params.get("encoding_format")
    if isinstance(encoding, str):
        a.set("gen_ai.request.encoding_formats", [encoding])
    fmt = params.get("response_format")
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, Mapping) else None
        # parse(response_format=MyModel) is recorded by class name: structured JSON output
        a.set("gen_ai.output.type", "text" if kind == "text" else "json")


def _tool_definitions(definitions: Json) -> list[Mapping[str, Json]]:
    if isinstance(definitions, str):
        with contextlib.suppress(orjson.JSONDecodeError):
            definitions = orjson.loads(definitions)
    if not isinstance(definitions, list):
        return []
    return [d for d in definitions if isinstance(d, Mapping)]


def _llm(
    a: _Attributes, span: Mapping[str, Any], record: Mapping[str, Any], options: MappingOptions
) -> None:
    attributes: Mapping[str, Json] = span.get("attributes") or {}
    span_type = span["span_type"]
    operation = str(attributes.get("gen_ai.operation.name") or DEFAULT_OPERATIONS[span_type])
    embeddings = operation == "embeddings" or span_type == "EMBEDDING"
    model = span.get("model")
    provider = span.get("provider") or attributes.get("gen_ai.provider.name")
    request_model = attributes.get("gen_ai.request.model") or model
    reasons = attributes.get("gen_ai.response.finish_reasons")
    reasons = reasons if isinstance(reasons, list) else []
    inputs, outputs = span.get("inputs"), span.get("outputs")
    content = options.capture_content
    messages = system = replies = None
    if content and not embeddings:
        messages, system = input_messages(inputs)
        replies = output_messages(outputs, reasons)
    params = _request_params(attributes)

    if options.gen_ai:
        a.set("gen_ai.operation.name", operation)
        a.set("gen_ai.provider.name", provider)
        a.set("gen_ai.request.model", request_model)
        a.set("gen_ai.response.model", attributes.get("gen_ai.response.model") or model)
        _standard_params(a, params)
        if record.get("session_id"):
            a.set("gen_ai.conversation.id", record["session_id"])
        if messages:
            a.set_json("gen_ai.input.messages", messages)
        if system:
            a.set_json("gen_ai.system_instructions", system)
        if replies:
            a.set_json("gen_ai.output.messages", replies)

    if options.openinference:
        a.set("openinference.span.kind", "EMBEDDING" if embeddings else "LLM")
        if embeddings:
            # OpenInference's embedding spans name the model here and use no llm.system /
            # llm.provider.
            a.set("embedding.model_name", model or request_model)
            if params:
                a.set_json("embedding.invocation_parameters", params)
            texts = inputs.get("input") if isinstance(inputs, Mapping) else None
            texts = [texts] if isinstance(texts, str) else texts
            if content and isinstance(texts, list) and all(isinstance(t, str) for t in texts):
                for i, text in enumerate(texts[:MAX_FLATTENED_ITEMS]):
                    a.set(f"embedding.embeddings.{i}.embedding.text", text)
        else:
            a.set("llm.model_name", model or request_model)
            if request_model and model and request_model != model:
                a.set("llm.request.model_name", request_model)
                a.set("llm.response.model_name", model)
            system_name, host = _OPENINFERENCE_PROVIDERS.get(str(provider), (provider, provider))
            a.set("llm.system", system_name)
            a.set("llm.provider", host)
            if params:
                a.set_json("llm.invocation_parameters", params)
            if reasons and isinstance(reasons[0], str):
                a.set("llm.finish_reason", reasons[0])
            if content:
                _openinference_llm_content(a, operation, inputs, outputs, messages, system, replies)
                tools = _tool_definitions(attributes.get("gen_ai.tool.definitions"))
                for i, tool in enumerate(tools):
                    a.set_json(f"llm.tools.{i}.tool.json_schema", tool)
                    function = tool.get("function")
                    source = function if isinstance(function, Mapping) else tool
                    a.set(f"llm.tools.{i}.tool.name", source.get("name"))
                    a.set(f"llm.tools.{i}.tool.description", source.get("description"))
        if content:
            a.set_io("input", inputs)
            a.set_io("output", outputs)


def _openinference_llm_content(
    a: _Attributes,
    operation: str,
    inputs: Json,
    outputs: Json,
    messages: list[dict[str, Json]] | None,
    system: list[dict[str, Json]] | None,
    replies: list[dict[str, Json]] | None,
) -> None:
    if operation == "text_completion":
        # The completions API has its own flattened form: prompts in, choices out.
        prompts = inputs.get("prompt") if isinstance(inputs, Mapping) else inputs
        prompts = prompts if isinstance(prompts, list) else [prompts]
        for i, prompt in enumerate(p for p in prompts if p is not None):
            a.set(f"llm.prompts.{i}.prompt.text", _text(prompt))
        choices = outputs if isinstance(outputs, list) else [outputs]
        for i, choice in enumerate(c for c in choices if c is not None):
            a.set(f"llm.choices.{i}.completion.text", _text(choice))
        return
    history: list[Mapping[str, Json]] = []
    if system:
        history.append({"role": "system", "parts": system})
    history.extend(messages or ())
    _set_openinference_messages(a, "llm.input_messages", history)
    _set_openinference_messages(a, "llm.output_messages", replies or ())


def _tool(
    a: _Attributes, span: Mapping[str, Any], record: Mapping[str, Any], options: MappingOptions
) -> None:
    if options.gen_ai:
        a.set("gen_ai.operation.name", "execute_tool")
        a.set("gen_ai.tool.name", span["name"])
        # A TOOL span is a function the application runs: the conventions' "function" type.
        a.set("gen_ai.tool.type", "function")
        if record.get("session_id"):
            a.set("gen_ai.conversation.id", record["session_id"])
        if options.capture_content:
            a.set_json("gen_ai.tool.call.arguments", span.get("inputs"))
            if span.get("status") != "ERROR":
                a.set_json("gen_ai.tool.call.result", span.get("outputs"))
    if options.openinference:
        a.set("openinference.span.kind", "TOOL")
        a.set("tool.name", span["name"])


def _agent(
    a: _Attributes, span: Mapping[str, Any], record: Mapping[str, Any], options: MappingOptions
) -> None:
    if options.gen_ai:
        a.set("gen_ai.operation.name", "invoke_agent")
        a.set("gen_ai.agent.name", span["name"])
        if record.get("session_id"):
            a.set("gen_ai.conversation.id", record["session_id"])
    if options.openinference:
        a.set("openinference.span.kind", "AGENT")
        a.set("agent.name", span["name"])


def _documents(a: _Attributes, outputs: Json) -> None:
    """OpenInference ``retrieval.documents`` from a retriever's list of texts or records."""
    if not isinstance(outputs, list):
        return
    for i, doc in enumerate(outputs[:MAX_FLATTENED_ITEMS]):
        base = f"retrieval.documents.{i}.document"
        if isinstance(doc, str):
            a.set(f"{base}.content", doc)
        elif isinstance(doc, Mapping):
            text = doc.get("content", doc.get("text", doc.get("page_content")))
            a.set(f"{base}.content", text if isinstance(text, str) else None)
            a.set(f"{base}.id", doc.get("id"))
            score = doc.get("score")
            a.set(f"{base}.score", score if isinstance(score, int | float) else None)
            if isinstance(doc.get("metadata"), Mapping):
                a.set_json(f"{base}.metadata", doc["metadata"])


def _usage_and_cost(a: _Attributes, span: Mapping[str, Any], options: MappingOptions) -> None:
    usage = span.get("usage") or {}
    for key, value in usage.items():
        if options.gen_ai:
            for name in _GEN_AI_USAGE.get(key, ()):
                a.set(name, value)
        if options.openinference and key in _OPENINFERENCE_USAGE:
            a.set(_OPENINFERENCE_USAGE[key], value)
        if key in _TRACEKIT_ONLY_USAGE:
            a.set(f"tracekit.usage.{key}", value)
    cost = span.get("cost_usd")
    if cost is not None:
        a.set("tracekit.cost_usd", float(cost))
        if options.openinference:
            a.set("llm.cost.total", float(cost))


def _trace_level(a: _Attributes, record: Mapping[str, Any], options: MappingOptions) -> None:
    """What belongs to the whole trace, on its root span (where trace previews look)."""
    a.set("tracekit.trace.name", record.get("name"))
    tags = record.get("tags") or {}
    for key, value in tags.items():
        a.set(f"tracekit.tags.{key}", value)
    metadata = record.get("metadata") or {}
    if metadata:
        a.set_json("tracekit.metadata", metadata)
    if record.get("cost_usd") is not None:
        a.set("tracekit.trace.cost_usd", float(record["cost_usd"]))
    user, session = record.get("user_id"), record.get("session_id")
    # user.id / session.id are OpenInference's names (also in OpenTelemetry's registry, and
    # what Langfuse reads); enduser.id is OpenTelemetry's older one, still read by some tools.
    a.set("user.id", user)
    a.set("enduser.id", user)
    a.set("session.id", session)
    if options.openinference:
        if metadata:
            a.set_json("metadata", metadata)
        if tags:
            a.set("tag.tags", [f"{k}:{v}" for k, v in tags.items()])


_PASSTHROUGH_CONTENT: Final = frozenset(
    {
        "gen_ai.tool.definitions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "input.value",
        "output.value",
    }
)


def _recorded(a: _Attributes, attributes: Mapping[str, Json], options: MappingOptions) -> None:
    """The span's own attributes (from the app or an integration) go out as recorded; they
    win over derived ones. Without content capture, the content-bearing ones are left out and
    tool calls keep only their ids and names."""
    for key, value in attributes.items():
        if options.capture_content:
            a.set(key, value)
        elif key == "tracekit.tool_calls" and isinstance(value, list):
            names = [
                {"id": c.get("id"), "name": c.get("name")} for c in value if isinstance(c, Mapping)
            ]
            a.set(key, names)
        elif key not in _PASSTHROUGH_CONTENT:
            a.set(key, value)


def span_attributes(
    span: Mapping[str, Any], record: Mapping[str, Any], options: MappingOptions
) -> dict[str, AttributeValue]:
    """All attributes of one exported span (see docs/exporters/otlp.md for the table)."""
    a = _Attributes(options.max_attribute_length)
    span_type = span.get("span_type") or "UNKNOWN"
    a.set("tracekit.span_type", span_type)
    if span.get("late"):
        a.set("tracekit.late", True)
    is_root = span.get("parent_span_id") is None
    if is_root:
        _trace_level(a, record, options)

    if span_type in LLM_SPAN_TYPES:
        _llm(a, span, record, options)
    else:
        if span_type == "TOOL":
            _tool(a, span, record, options)
        elif span_type == "AGENT":
            _agent(a, span, record, options)
        elif options.openinference:
            a.set("openinference.span.kind", OPENINFERENCE_KINDS.get(span_type, "UNKNOWN"))
        if options.capture_content:
            # input.value/output.value in every profile: no GenAI attribute holds a generic
            # step's input, and Langfuse and MLflow read these names too.
            a.set_io("input", span.get("inputs"), plain=is_root)
            a.set_io("output", span.get("outputs"), plain=is_root)
            if span_type == "RETRIEVER" and options.openinference:
                _documents(a, span.get("outputs"))

    _usage_and_cost(a, span, options)
    error = span.get("error")
    if span.get("status") == "ERROR":
        # error.type is conditionally required on failed GenAI spans; _OTHER is the
        # conventions' fallback when no exception says what went wrong.
        a.set("error.type", (error or {}).get("type") or "_OTHER")
    _recorded(a, span.get("attributes") or {}, options)
    _fit_span_budget(a.data, options.max_span_bytes)
    return a.data


# -- spans ----------------------------------------------------------------------------------


def _events(span: Mapping[str, Any], options: MappingOptions) -> list[Any]:
    from opentelemetry.sdk.trace import Event

    limit = options.max_attribute_length
    events = []
    seen: set[tuple[Any, Any]] = set()
    for event in span.get("events") or ():
        attributes = _Attributes(limit)
        for key, value in (event.get("attributes") or {}).items():
            attributes.set(str(key), value)
        if event.get("name") == "exception":
            seen.add(
                (attributes.data.get("exception.type"), attributes.data.get("exception.message"))
            )
        events.append(
            Event(clip(str(event.get("name", "")), limit), attributes.data, event.get("time_ns"))
        )
    error = span.get("error")
    if span.get("status") == "ERROR" and error:
        attributes = _Attributes(limit)
        attributes.set("exception.type", error.get("type"))
        attributes.set("exception.message", error.get("message"))
        attributes.set("exception.stacktrace", error.get("stacktrace"))
        key = (attributes.data.get("exception.type"), attributes.data.get("exception.message"))
        if key not in seen:  # record_exception() already added this very exception
            end = span.get("end_time_ns") or span["start_time_ns"]
            events.append(Event("exception", attributes.data, end))
    return events


@dataclass
class SpanMapper:
    """Converts records into ReadableSpans sharing one Resource and InstrumentationScope.

    Example:
        >>> mapper = SpanMapper(MappingOptions(), resource, scope)
        >>> spans = mapper.record_to_spans(trace.to_dict())
    """

    options: MappingOptions
    resource: Resource
    scope: InstrumentationScope

    def record_to_spans(self, record: Mapping[str, Any]) -> list[ReadableSpan]:
        """Every span of a record (a trace, or a late fragment of one) as a ReadableSpan."""
        return [self.span(span, record) for span in record.get("spans") or ()]

    def span(self, span: Mapping[str, Any], record: Mapping[str, Any]) -> ReadableSpan:
        """One span record as a ReadableSpan; ids, parent, times and status map one to one."""
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

        flags = TraceFlags(TraceFlags.SAMPLED)
        trace_id = int(span["trace_id"], 16)
        context = SpanContext(
            trace_id, int(span["span_id"], 16), is_remote=False, trace_flags=flags
        )
        parent_id = span.get("parent_span_id")
        parent = (
            SpanContext(trace_id, int(parent_id, 16), is_remote=False, trace_flags=flags)
            if parent_id
            else None
        )
        limit = self.options.max_attribute_length
        if span.get("status") == "ERROR":
            message = span.get("status_message")
            status = Status(StatusCode.ERROR, clip(str(message), limit) if message else None)
        else:
            status = Status(StatusCode.OK)
        start = int(span["start_time_ns"])
        return ReadableSpan(
            name=clip(str(span.get("name") or ""), limit),
            context=context,
            parent=parent,
            resource=self.resource,
            attributes=span_attributes(span, record, self.options),
            events=_events(span, self.options),
            kind=SpanKind.CLIENT if span.get("span_type") in LLM_SPAN_TYPES else SpanKind.INTERNAL,
            status=status,
            start_time=start,
            end_time=int(span.get("end_time_ns") or start),
            instrumentation_scope=self.scope,
        )


def span_size(span: ReadableSpan) -> int:
    """Approximate encoded size of a span, in bytes, for splitting requests."""
    size = 96 + len(span.name) + attributes_size(span.attributes or {})
    for event in span.events:
        size += 24 + len(event.name) + attributes_size(event.attributes or {})
    return size


def split_requests(
    spans: Sequence[ReadableSpan],
    max_bytes: int = MAX_REQUEST_BYTES,
    max_spans: int = MAX_REQUEST_SPANS,
) -> list[list[ReadableSpan]]:
    """Group spans into requests of at most ``max_bytes`` (estimated) and ``max_spans`` each,
    so no request exceeds a receiver's message limit; order is kept."""
    requests: list[list[ReadableSpan]] = []
    current: list[ReadableSpan] = []
    size = 0
    for span in spans:
        cost = span_size(span)
        if current and (size + cost > max_bytes or len(current) >= max_spans):
            requests.append(current)
            current, size = [], 0
        current.append(span)
        size += cost
    if current:
        requests.append(current)
    return requests
