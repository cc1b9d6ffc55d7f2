"""A trace store for the UI tests, written by tracekit itself through SqliteExporter.

The LLM spans carry inputs and outputs in the shapes the OpenAI (chat and Responses) and
Anthropic integrations record (docs/integrations/*.md), copied from real integration runs
against tracekit's FakeLLMServer.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tracekit
from tracekit.exporters.sqlite import SqliteExporter

# Script-injection payloads: each would set window.__pwned (or change the title) if the page
# ever turned trace text into markup or a live URL.
XSS_NAME = '<img src=x onerror="window.__pwned=1">'
XSS_PAYLOADS = [
    "<img src=x onerror=\"window.__pwned=1;document.title='pwned'\">",
    "<script>window.__pwned=2;document.title='pwned'</script>",
    "javascript:window.__pwned=3",
    '"><svg onload="window.__pwned=4">',
    '</textarea><iframe src="javascript:parent.__pwned=5"></iframe>',
    "{{constructor.constructor('window.__pwned=6')()}}",
]
WEATHER_SYSTEM = "You are a weather assistant. Use tools when needed."
DEEP_LEVELS = 60
WIDE_SPANS = 1000


def _chat_tool_call(question: str) -> None:
    """An agent step: chat call asking for a tool, the tool, chat call answering (OpenAI)."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": WEATHER_SYSTEM},
        {"role": "user", "content": question},
    ]
    call = {
        "id": "call_b24096f04b0a77199181fdf8",
        "function": {"arguments": '{"city": "Oslo"}', "name": "get_weather"},
        "type": "function",
    }
    with tracekit.span("chat gpt-4o-mini", span_type="CHAT_MODEL") as s:
        s.set_inputs({"messages": messages})
        s.set_model("gpt-4o-mini-2024-07-18", provider="openai")
        s.set_usage(input_tokens=412, output_tokens=23, total_tokens=435)
        s.set_cost(0.0000756)
        s.set_attribute("gen_ai.response.finish_reasons", ["tool_calls"])
        s.set_outputs({"role": "assistant", "annotations": [], "tool_calls": [call]})
    with tracekit.span("get_weather", span_type="TOOL") as s:
        s.set_inputs({"city": "Oslo"})
        s.set_outputs("Sunny, 21C")
    messages += [
        {"role": "assistant", "annotations": [], "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "Sunny, 21C"},
    ]
    with tracekit.span("chat gpt-4o-mini", span_type="CHAT_MODEL") as s:
        s.set_inputs({"messages": messages})
        s.set_model("gpt-4o-mini-2024-07-18", provider="openai")
        s.set_usage(input_tokens=655, output_tokens=61, total_tokens=716, cached_input_tokens=384)
        s.set_cost(0.0001349)
        s.set_outputs({"content": "It is sunny in Oslo, 21°C.", "role": "assistant"})


def write_traces(path: Path) -> dict[str, Any]:
    """Write the test traces to a new store at ``path``; returns their ids by role."""
    tracekit.configure(exporters=[SqliteExporter(path)])
    names: list[str] = []

    @tracekit.trace(span_type="AGENT")
    def weather_agent(question: str) -> str:
        tracekit.update_current_trace(
            user_id="u-1", session_id="s-1", tags={"env": "prod"}, metadata={"v": "1.4"}
        )
        _chat_tool_call(question)
        return "It is sunny in Oslo, 21°C."

    @tracekit.trace(span_type="AGENT")
    def claude_agent(question: str) -> str:
        tracekit.update_current_trace(user_id="u-1", session_id="s-1", tags={"env": "prod"})
        with tracekit.span("chat claude-sonnet-4-5", span_type="CHAT_MODEL") as s:
            s.set_inputs(
                {
                    "system": "Sys prompt: answer briefly.",
                    "messages": [
                        {"role": "user", "content": [{"type": "text", "text": question}]},
                        {
                            "role": "assistant",
                            "content": [
                                {"type": "tool_use", "id": "tu1", "name": "search", "input": {}}
                            ],
                        },
                        {
                            "role": "user",
                            "content": [
                                {
                                    "type": "tool_result",
                                    "tool_use_id": "tu1",
                                    "content": "search result text",
                                }
                            ],
                        },
                    ],
                }
            )
            s.set_model("claude-sonnet-4-5", provider="anthropic")
            s.set_usage(input_tokens=900, output_tokens=120, total_tokens=1020)
            s.set_cost(0.0045)
            s.set_outputs(
                {
                    "role": "assistant",
                    "content": [
                        {
                            "thinking": "The user wants a summary; check the notes.",
                            "type": "thinking",
                        },
                        {"text": "Here is the summary you asked for.", "type": "text"},
                        {
                            "id": "toolu_4f7c",
                            "input": {"q": "follow-up"},
                            "name": "search",
                            "type": "tool_use",
                        },
                    ],
                }
            )
        return "Here is the summary you asked for."

    @tracekit.trace(span_type="AGENT")
    def responses_agent(question: str) -> str:
        tracekit.update_current_trace(user_id="u-2", session_id="s-2", tags={"env": "dev"})
        with tracekit.span("chat o4-mini", span_type="CHAT_MODEL") as s:
            s.set_inputs(
                {
                    "instructions": "Be brief.",
                    "input": [
                        {"role": "user", "content": question},
                        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
                    ],
                }
            )
            s.set_model("o4-mini", provider="openai")
            s.set_usage(input_tokens=40, output_tokens=90, total_tokens=130, reasoning_tokens=30)
            s.set_cost(0.000440)
            s.set_outputs(
                {
                    "output": [
                        {
                            "id": "rs_1",
                            "summary": [
                                {"text": "Reasoning about the answer", "type": "summary_text"}
                            ],
                            "type": "reasoning",
                        },
                        {
                            "id": "msg_1",
                            "content": [{"text": "The answer is 42.", "type": "output_text"}],
                            "role": "assistant",
                            "type": "message",
                        },
                        {
                            "arguments": '{"q": "x"}',
                            "call_id": "call_2",
                            "name": "lookup",
                            "type": "function_call",
                        },
                    ]
                }
            )
        return "The answer is 42."

    @tracekit.trace(span_type="TOOL")
    def flaky_lookup(city: str) -> str:
        raise TimeoutError("weather API timed out")

    @tracekit.trace(span_type="AGENT")
    def failing_agent(question: str) -> str:
        tracekit.update_current_trace(user_id="u-3", session_id="s-3", tags={"env": "staging"})
        with tracekit.span("chat gpt-4o", span_type="CHAT_MODEL") as s:
            s.set_inputs({"messages": [{"role": "user", "content": question}]})
            s.set_model("gpt-4o-2024-08-06", provider="openai")
            s.set_usage(input_tokens=100, output_tokens=10, total_tokens=110)
            s.set_cost(0.0003)
            s.set_outputs({"role": "assistant", "content": "Let me look that up."})
        return flaky_lookup("Oslo")

    @tracekit.trace(span_type="AGENT", name=XSS_NAME)
    def xss_agent(question: str) -> str:
        tracekit.update_current_trace(
            user_id=XSS_PAYLOADS[3], session_id=XSS_PAYLOADS[0], tags={"x": XSS_PAYLOADS[1]}
        )
        with tracekit.span(XSS_PAYLOADS[1], span_type="CHAT_MODEL") as s:
            s.set_inputs(
                {
                    "system": XSS_PAYLOADS[0],
                    "messages": [
                        {"role": "user", "content": XSS_PAYLOADS[1]},
                        {
                            "role": "assistant",
                            "content": [
                                {"type": "thinking", "thinking": XSS_PAYLOADS[3]},
                                {
                                    "type": "tool_use",
                                    "id": XSS_PAYLOADS[2],
                                    "name": XSS_PAYLOADS[0],
                                    "input": {"url": XSS_PAYLOADS[2]},
                                },
                            ],
                        },
                        {
                            "role": "user",
                            "content": [
                                {
                                    "type": "tool_result",
                                    "tool_use_id": XSS_PAYLOADS[2],
                                    "content": XSS_PAYLOADS[4],
                                },
                                {
                                    "type": "image",
                                    "source": {"type": "url", "url": XSS_PAYLOADS[2]},
                                },
                            ],
                        },
                    ],
                }
            )
            s.set_model(XSS_PAYLOADS[3], provider=XSS_PAYLOADS[0])
            s.set_usage(input_tokens=10, output_tokens=5, total_tokens=15)
            s.set_attribute(XSS_PAYLOADS[0], XSS_PAYLOADS[1])
            s.set_attribute("link", XSS_PAYLOADS[2])
            s.set_outputs({"role": "assistant", "content": XSS_PAYLOADS[5] + XSS_PAYLOADS[3]})
        with tracekit.span("xss-error", span_type="TOOL") as s:
            s.set_inputs(XSS_PAYLOADS[4])
            with contextlib.suppress(ValueError):
                with tracekit.span(XSS_PAYLOADS[3], span_type="TOOL"):
                    raise ValueError(XSS_PAYLOADS[0])
        return XSS_PAYLOADS[1]

    @tracekit.trace(span_type="CHAIN", name="deep_chain")
    def deep() -> str:
        with contextlib.ExitStack() as stack:
            for level in range(1, DEEP_LEVELS):
                s = stack.enter_context(tracekit.span(f"level-{level}", span_type="CHAIN"))
                s.set_inputs({"level": level})
        return "bottom"

    @tracekit.trace(span_type="AGENT", name="wide_fanout")
    def wide() -> str:
        for group in range(50):
            with tracekit.span(f"batch-{group}", span_type="CHAIN"):
                for item in range(WIDE_SPANS // 50 - 1):
                    with tracekit.span(f"item-{group}-{item}", span_type="RETRIEVER") as s:
                        s.set_inputs({"query": f"doc {group}/{item}"})
        return "done"

    weather_agent("What is the weather in Oslo?")
    names.append("weather_agent")
    claude_agent("Summarise my notes")
    responses_agent("What is six times seven?")
    with contextlib.suppress(TimeoutError):
        failing_agent("Weather in Bergen?")
    xss_agent(XSS_PAYLOADS[0])
    deep()
    wide()
    assert tracekit.flush(30.0)
    tracekit.shutdown()
    rows = sqlite3.connect(path).execute("SELECT hex(trace_id), name FROM traces").fetchall()
    ids = {name: tid.lower() for tid, name in rows}
    return {
        "path": path,
        "weather": ids["weather_agent"],
        "claude": ids["claude_agent"],
        "responses": ids["responses_agent"],
        "failed": ids["failing_agent"],
        "xss": ids[XSS_NAME],
        "deep": ids["deep_chain"],
        "wide": ids["wide_fanout"],
        "count": len(rows),
    }


@pytest.fixture(scope="session")
def ui_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The test traces in a SQLite store (written once per test session)."""
    path = tmp_path_factory.mktemp("ui") / "traces.db"
    yield write_traces(path)


def jsonl_copy(store: dict[str, Any], dest: Path) -> Path:
    """The same traces as a JSONL file (what JsonlExporter / `traces export` write)."""
    from tracekit.store import TraceStore

    with TraceStore.open(store["path"]) as opened, dest.open("w") as f:
        for t in opened.iter_traces(order_by="start_time", limit=None):
            f.write(json.dumps(t.to_record()) + "\n")
    return dest
