"""A small traced agent making real SDK calls: retrieval, an OpenAI tool call, the tool, the
OpenAI answer, then an Anthropic summary for the ticket system.

Run it with `bash scripts/demo.sh`. Without API keys the real `openai` and `anthropic` clients
talk to tracekit's built-in fake server on 127.0.0.1 (no network, no key); with
OPENAI_API_KEY / ANTHROPIC_API_KEY set they call the real APIs.
The trace is printed as it ends (console exporter), written to the local store
$TRACEKIT_HOME/traces.db (TRACEKIT_HOME defaults to ~/.tracekit), and read back from there
with `tracekit traces show`.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tracekit

DOCS = {
    "refund": "Refunds are paid back to the original card within 5 business days.",
    "shipping": "Orders ship within 24 hours; express delivery takes one day.",
    "warranty": "Every device has a two-year warranty covering manufacturing faults.",
}
ORDER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_order_status",
        "description": "Look up where an order is.",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    },
}


@tracekit.trace(span_type="RETRIEVER")
def retrieve(query: str, k: int = 2) -> list[str]:
    words = set(query.lower().split())
    ranked = sorted(DOCS, key=lambda key: -len(words & set(DOCS[key].lower().split())))
    return [DOCS[key] for key in ranked[:k]]


@tracekit.trace(span_type="TOOL")
def get_order_status(order_id: str) -> dict[str, str]:
    return {"order_id": order_id, "status": "shipped", "eta": "tomorrow"}


@tracekit.trace(span_type="CHAIN")
def ticket_summary(claude: Any, question: str, answer: str) -> str:
    message = claude.messages.create(
        model="claude-haiku-4-5",
        max_tokens=200,
        system="Summarise the support exchange in one line for the ticket system.",
        messages=[{"role": "user", "content": f"Q: {question}\nA: {answer}"}],
    )
    return str(message.content[0].text)


@tracekit.trace(span_type="AGENT")
def support_agent(client: Any, claude: Any, model: str, question: str) -> str:
    tracekit.update_current_trace(user_id="demo-user", session_id="demo-session")
    context = "\n".join(retrieve(question))
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": f"Answer from these notes:\n{context}"},
        {"role": "user", "content": question},
    ]
    first = client.chat.completions.create(model=model, messages=messages, tools=[ORDER_TOOL])
    reply = first.choices[0].message
    if reply.tool_calls:
        messages.append(reply.model_dump(exclude_none=True))
        for call in reply.tool_calls:
            result = get_order_status(**json.loads(call.function.arguments))
            content = json.dumps(result)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
        final = client.chat.completions.create(model=model, messages=messages)
        answer = str(final.choices[0].message.content)
    else:
        answer = str(reply.content)
    tracekit.update_current_trace(metadata={"ticket": ticket_summary(claude, question, answer)})
    return answer


@contextlib.contextmanager
def clients() -> Iterator[tuple[Any, Any, str, str]]:
    """Real SDK clients: the APIs with keys, else the built-in fake server."""
    import anthropic
    import openai

    if os.environ.get("OPENAI_API_KEY") and os.environ.get("ANTHROPIC_API_KEY"):
        with openai.OpenAI() as client, anthropic.Anthropic() as claude:
            yield client, claude, "gpt-4o-mini", "the OpenAI and Anthropic APIs"
        return
    from tracekit.testing import FakeLLMServer, Reply, ToolCall, Usage

    with FakeLLMServer() as server:
        server.queue(
            Reply(
                tool_calls=[ToolCall("get_order_status", {"order_id": "A-1042"})],
                model="gpt-4o-mini-2024-07-18",
                usage=Usage(input_tokens=182, output_tokens=19, cached_tokens=128),
            ),
            Reply(
                text="Order A-1042 has shipped and arrives tomorrow. Refunds, if you need one, "
                "reach your card within 5 business days.",
                model="gpt-4o-mini-2024-07-18",
                usage=Usage(input_tokens=236, output_tokens=31),
            ),
            Reply(
                text="Customer asked about order A-1042 (shipped, ETA tomorrow) and refunds.",
                model="claude-haiku-4-5-20251001",
                usage=Usage(input_tokens=64, output_tokens=18, cached_tokens=0),
            ),
        )
        with (
            openai.OpenAI(base_url=server.openai_base_url, api_key="demo-key") as client,
            anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="demo-key") as claude,
        ):
            yield client, claude, "gpt-4o-mini", f"the fake server at {server.url}"


def main() -> int:
    tracekit.openai.autolog()
    tracekit.anthropic.autolog()
    tracekit.configure(exporters=["sqlite", tracekit.ConsoleExporter(file=sys.stdout)])
    with clients() as (client, claude, model, where):
        print(f"calling the real openai and anthropic clients against {where}\n")
        question = "Where is my order A-1042, and how do refunds work?"
        answer = support_agent(client, claude, model, question)
    trace_id = last_trace_id()
    print(f"\nanswer: {answer}")
    print(f"trace stored in {tracekit.current_settings().home / 'traces.db'}; reading it back:\n")
    print(f"$ tracekit traces show {trace_id[:12]}")
    sys.stdout.flush()
    status = subprocess.call([*tracekit_command(), "traces", "show", trace_id[:12]])
    print("\nbrowse every trace (tree, timeline, chat view): tracekit ui")
    return status


def last_trace_id() -> str:
    tracekit.flush()
    found = tracekit.search_traces(name="support_agent", limit=1)
    return found[0].trace_id


def tracekit_command() -> list[str]:
    """The `tracekit` console script of this environment (or the module, if not installed)."""
    script = Path(sys.executable).with_name("tracekit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tracekit.cli"]


if __name__ == "__main__":
    raise SystemExit(main())
