"""A small traced agent making real OpenAI SDK calls: retrieval, a tool call, a tool, an answer.

Run it with `bash scripts/demo.sh`. Without OPENAI_API_KEY the real `openai` client talks to
tracekit's built-in fake server on 127.0.0.1 (no network, no key); with a key it calls OpenAI.
The trace is printed as a tree (durations, tokens, cost) and written to the local store,
$TRACEKIT_HOME/traces.jsonl (TRACEKIT_HOME defaults to ~/.tracekit).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
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


@tracekit.trace(span_type="AGENT")
def support_agent(client: Any, model: str, question: str) -> str:
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
        return str(final.choices[0].message.content)
    return str(reply.content)


@contextlib.contextmanager
def openai_client() -> Iterator[tuple[Any, str, str]]:
    """The real client: against OpenAI with a key, else against the built-in fake server."""
    import openai

    if os.environ.get("OPENAI_API_KEY"):
        with openai.OpenAI() as client:
            yield client, "gpt-4o-mini", "api.openai.com"
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
        )
        with openai.OpenAI(base_url=server.openai_base_url, api_key="demo-key") as client:
            yield client, "gpt-4o-mini", f"the fake server at {server.url}"


def main() -> int:
    tracekit.openai.autolog()
    tracekit.configure(exporters=["jsonl", tracekit.ConsoleExporter(file=sys.stdout)])
    with openai_client() as (client, model, where):
        print(f"calling {model} through the real openai client, against {where}\n")
        answer = support_agent(client, model, "Where is my order A-1042, and how do refunds work?")
    tracekit.flush()
    print(f"\nanswer: {answer}")
    path = tracekit.current_settings().home / "traces.jsonl"
    print(f"trace written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
