"""A small traced agent: retrieval, a model step, tools in threads and asyncio, one failure.

Run it with `bash scripts/demo.sh` (or `python examples/demo.py` with tracekit installed). It
needs no API key: the "model" here is a stand-in that reports token usage like a real one.
Traces are printed as a tree and written to $TRACEKIT_HOME/traces.jsonl (default ~/.tracekit).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import tracekit

DOCS = {
    "tracekit": "tracekit records spans in-process and exports them on a background thread.",
    "otel": "OpenTelemetry is the standard for distributed tracing.",
}


@tracekit.trace(span_type="RETRIEVER")
def retrieve(query: str, k: int = 2) -> list[str]:
    time.sleep(0.005)
    return [text for key, text in DOCS.items() if key in query.lower()][:k] or list(DOCS.values())


@tracekit.trace(span_type="CHAT_MODEL", name="chat stand-in-model")
def call_model(messages: list[dict[str, str]]) -> str:
    time.sleep(0.01)
    span = tracekit.get_current_span()
    if span is not None and span.is_recording:
        span.set_model("stand-in-model", provider="demo")
        prompt_tokens = sum(len(m["content"].split()) for m in messages)
        span.set_usage(
            input_tokens=prompt_tokens, output_tokens=12, total_tokens=prompt_tokens + 12
        )
    return "tracekit exports on a background thread, so your app never waits."


@tracekit.trace(span_type="TOOL")
def word_count(text: str) -> int:
    time.sleep(0.002)
    return len(text.split())


@tracekit.trace(span_type="TOOL")
async def fetch_page(url: str) -> str:
    await asyncio.sleep(0.005)
    if "broken" in url:
        raise ConnectionError(f"cannot reach {url}")
    return f"<html>{url}</html>"


@tracekit.trace(span_type="AGENT")
def answer(question: str) -> dict[str, object]:
    tracekit.update_current_trace(
        user_id="demo-user", session_id="demo-session", tags={"demo": "1"}
    )
    docs = retrieve(question)
    reply = call_model(
        [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": question}]
        + [{"role": "system", "content": d} for d in docs]
    )
    with ThreadPoolExecutor(max_workers=2) as pool:  # tasks become children of this span
        counts = list(pool.map(word_count, docs))

    async def fan_out() -> list[object]:
        return await asyncio.gather(
            fetch_page("https://example.invalid/docs"),
            fetch_page("https://example.invalid/broken"),
            return_exceptions=True,
        )

    pages = asyncio.run(fan_out())
    return {"reply": reply, "doc_words": counts, "pages_ok": sum(isinstance(p, str) for p in pages)}


def main() -> int:
    tracekit.configure(exporters=["jsonl", tracekit.ConsoleExporter(file=sys.stdout, show_io=True)])
    result = answer("How does tracekit export traces?")
    print("\nresult:", json.dumps(result))
    tracekit.flush()
    path = tracekit.current_settings().home / "traces.jsonl"
    print(f"\ntrace written to {path} (one JSON line per trace)")
    print("stats:", json.dumps(tracekit.stats()["exporters"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
