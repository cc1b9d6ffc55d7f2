"""``tracekit ui`` in a browser on a big store: time to first rows, time to a 1,000-span tree.

A plain script that prints figures (it is not a test)::

    python benchmarks/bench_ui.py                       # 100,000 traces, about 2 minutes
    python benchmarks/bench_ui.py --traces 20000        # a quicker smoke run
    python benchmarks/bench_ui.py --screenshots docs/img  # also the screenshots of docs/ui.md

What it does:

1. Builds (or reuses, with ``--store``) a SQLite store of ``--traces`` typical traces (the
   agent step of ``bench_store.py``: two chat-model calls, ~2 KB of prompt text) spread over
   30 days, grouped into sessions of 1-8 traces, through ``SqliteExporter.export()``; plus
   one agent trace of 1,000 spans (40 steps of retrieval, model calls and tools, nested up to
   6 levels, one failed tool) as the newest trace.
2. Serves it with ``create_app`` under uvicorn on 127.0.0.1 and opens the page in headless
   Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright.
3. Measures, in the page (``performance.now()`` from navigation start, median of 5 fresh page
   loads): the trace list's first rows; the same with a model filter and with a text search;
   the 1,000-span trace until its tree, waterfall and span panel are on screen; scrolling
   that tree to its last span; the overview (stats over the whole store); the sessions page.
   And the JSON API's own latency for the same requests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_store import MODELS, checkpoint, prose, typical_trace

from tracekit._spans import Span, SpanType, Trace
from tracekit.exporters.sqlite import SqliteExporter

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DAY_NS = 86400 * 10**9
BIG_TRACE_SPANS = 1000


def big_trace(rng: random.Random, start_ns: int) -> Trace:
    """A research agent of 1,000 spans: 40 steps of search, chat calls and tools."""
    trace = Trace(f"{rng.getrandbits(128) or 1:032x}")
    now = [start_ns]

    def span(name: str, kind: SpanType, parent: Span | None, ms: float) -> Span:
        s = Span(name, kind, trace, parent.span_id if parent else None, now[0])
        s.end_time_ns = now[0] + int(ms * 1e6)
        s.duration_ms = ms
        trace.spans.append(s)
        return s

    root = span("research_agent", SpanType.AGENT, None, 0)
    trace.root = root
    trace.user_id, trace.session_id = "analyst-7", "sess-research-1"
    trace.tags = {"env": "prod", "app": "research"}
    question = "Compare the latency and cost of our three retrieval back-ends this quarter."
    root.inputs = {"question": question}
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a careful research agent. Use tools."},
        {"role": "user", "content": question},
    ]
    step = 0
    while len(trace.spans) < BIG_TRACE_SPANS - 2:
        step += 1
        plan = span(f"step-{step}", SpanType.CHAIN, root, 0)
        plan.start_time_ns = now[0]
        search_ms = rng.uniform(20, 90)
        search = span("search_docs", SpanType.RETRIEVER, plan, search_ms)
        search.inputs = {"query": prose(rng, 60), "k": 5}
        search.outputs = [prose(rng, 120) for _ in range(3)]
        now[0] += int(search_ms * 1e6)
        for _ in range(rng.randint(3, 6)):
            rerank = span("rerank", SpanType.RERANKER, search, rng.uniform(2, 8))
            rerank.outputs = {"kept": 3}
        call_id = f"call_{rng.getrandbits(64):016x}"
        chat_ms = rng.uniform(300, 1800)
        chat = span("chat gpt-4o-mini", SpanType.CHAT_MODEL, plan, chat_ms)
        chat.inputs = {"messages": list(messages)}
        chat.outputs = {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "run_query", "arguments": json.dumps({"q": step})},
                }
            ],
        }
        chat.model, chat.provider = MODELS[0]
        chat.usage = {"input_tokens": 900 + 40 * step, "output_tokens": 30, "total_tokens": 0}
        chat.usage["total_tokens"] = chat.usage["input_tokens"] + 30
        chat.cost_usd = 0.00015 * (1 + step / 10)
        now[0] += int(chat_ms * 1e6)
        tool = span("run_query", SpanType.TOOL, plan, rng.uniform(50, 400))
        tool.inputs = {"q": step}
        for depth_name in ("plan_sql", "execute", "fetch_rows"):
            tool = span(depth_name, SpanType.CHAIN, tool, rng.uniform(5, 40))
        if step == 17:
            tool.status = "ERROR"
            tool.status_message = "connection reset by peer"
            tool.error = {
                "type": "ConnectionResetError",
                "message": "connection reset by peer",
                "stacktrace": "Traceback (most recent call last):\n  ...\n"
                "ConnectionResetError: connection reset by peer\n",
            }
        for _ in range(rng.randint(6, 12)):
            if len(trace.spans) >= BIG_TRACE_SPANS - 2:
                break
            row = span("parse_row", SpanType.PARSER, tool, rng.uniform(0.2, 2))
            row.outputs = {"ok": True}
        now[0] += int(rng.uniform(400, 900) * 1e6)
        plan.end_time_ns = now[0]
        plan.duration_ms = (plan.end_time_ns - plan.start_time_ns) / 1e6
        messages += [
            chat.outputs,
            {"role": "tool", "tool_call_id": call_id, "content": prose(rng, 100)},
        ]
    final = span("chat claude-sonnet-4", SpanType.CHAT_MODEL, root, 2400)
    final.inputs = {"system": "Summarise the findings.", "messages": messages[1:3]}
    final.outputs = {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Three back-ends; compare p95 and cost per query."},
            {"type": "text", "text": prose(rng, 400)},
        ],
    }
    final.model, final.provider = MODELS[3]
    final.usage = {"input_tokens": 5200, "output_tokens": 640, "total_tokens": 5840}
    final.cost_usd = 0.0252
    root.end_time_ns = end = now[0] + 2400 * 10**6
    root.duration_ms = (end - root.start_time_ns) / 1e6
    root.outputs = final.outputs["content"][1]["text"]
    trace.closed = True
    return trace


def build_store(path: Path, n: int) -> tuple[str, float]:
    """``n`` typical traces over 30 days plus the big trace; returns (big trace id, seconds)."""
    rng = random.Random(11)
    now = time.time_ns()
    exporter = SqliteExporter(path)
    started = time.perf_counter()
    batch: list[Trace] = []
    session, left = "", 0
    for i in range(n):
        t_start = now - 30 * DAY_NS + i * (30 * DAY_NS // n)
        model = MODELS[rng.choices(range(4), weights=[60, 20, 15, 5])[0]]
        trace = typical_trace(rng, t_start, model, error=rng.random() < 0.05)
        if left == 0:
            session, left = f"sess-{rng.getrandbits(40):010x}", rng.randint(1, 8)
        trace.session_id = session
        left -= 1
        batch.append(trace)
        if len(batch) == 512:
            exporter.export(batch)
            batch = []
    big = big_trace(rng, now - 60 * 10**9)
    batch.append(big)
    exporter.export(batch)
    exporter.shutdown()
    checkpoint(path)
    return big.trace_id, time.perf_counter() - started


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """uvicorn on 127.0.0.1 (a free port) in a thread."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def page_ms(browser: Any, url: str, selector: str, then: str | None = None) -> float:
    """Load ``url`` in a fresh page; ms from navigation start until ``selector`` is shown."""
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    try:
        page.goto(url, wait_until="commit")
        page.wait_for_selector(selector, timeout=60_000)
        if then is not None:
            page.wait_for_selector(then, timeout=60_000)
        return float(page.evaluate("performance.now()"))
    finally:
        context.close()


def api_ms(url: str, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=120) as response:
            response.read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def screenshots(browser: Any, base: str, big_id: str, out: Path) -> None:
    """The pictures of docs/ui.md (PNG, 1280x760)."""
    out.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 760})
    page = context.new_page()

    def shot(name: str) -> None:
        path = out / f"ui-{name}.png"
        page.screenshot(path=str(path))
        print(f"  {path} ({path.stat().st_size // 1024} KB)")

    page.goto(base + "/#/traces?limit=25")
    page.wait_for_selector(".traces-table tbody tr")
    shot("list")
    page.goto(f"{base}/#/trace/{big_id}")
    page.wait_for_selector(".explorer .row")
    page.locator(".row", has_text="chat gpt-4o-mini").nth(1).click()
    shot("trace")
    page.click("text=Next error")
    page.wait_for_selector(".panel .error-box")
    shot("trace-error")
    page.goto(base + "/#/overview?range=30d")
    page.wait_for_selector(".chart svg", timeout=60_000)
    shot("overview")
    page.goto(base + "/#/sessions")
    page.wait_for_selector("table.list tbody tr", timeout=60_000)
    page.locator("table.list tbody tr a").first.click()
    page.wait_for_selector(".turn")
    shot("session")
    context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--store", type=Path, help="reuse (or create) the store here")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--screenshots", type=Path, help="write docs screenshots here")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from tracekit.store import TraceStore
    from tracekit.ui.app import create_app

    workdir = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    path = args.store or workdir / "traces.db"
    if path.exists():
        with TraceStore.open(path) as store:
            big_id = store.search(name="research_agent", limit=1)[0].trace_id
            n = len(store.search(limit=None, since="60d"))
        print(f"Reusing {path}: {n:,} traces")
    else:
        big_id, seconds = build_store(path, args.traces)
        n = args.traces + 1
        print(f"Built {path}: {n:,} traces in {seconds:.0f} s ({path.stat().st_size / 1e6:.0f} MB)")

    runs = 5
    with serve(create_app(path)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        page_ms(browser, base + "/", ".traces-table tbody tr")  # warm caches

        def median(url: str, selector: str, then: str | None = None) -> str:
            times = [page_ms(browser, url, selector, then) for _ in range(runs)]
            return f"{statistics.median(times):7.0f} ms   (max {max(times):.0f})"

        print(f"\nIn Chromium (median of {runs} fresh page loads, from navigation start):")
        rows = ".traces-table tbody tr"
        print("  trace list, first 50 rows          ", median(base + "/", rows))
        print(
            "  ... model filter 'claude*'         ", median(base + "/#/traces?model=claude*", rows)
        )
        print(
            "  ... text search 'timeout retry'    ",
            median(base + "/#/traces?text=timeout+retry", rows),
        )
        print(
            "  ... errors, last 7 days            ",
            median(base + "/#/traces?status=ERROR&since=7d", rows),
        )
        trace_url = f"{base}/#/trace/{big_id}"
        print(
            "  1,000-span trace: tree + panel     ",
            median(trace_url, ".explorer .row", ".panel .panel-title"),
        )
        context = browser.new_context(viewport={"width": 1400, "height": 860})
        page = context.new_page()
        page.goto(trace_url)
        page.wait_for_selector(".explorer .row")
        started = time.perf_counter()
        page.locator(".scroller").evaluate("el => { el.scrollTop = el.scrollHeight; }")
        page.wait_for_selector(".row .nm >> text=chat claude-sonnet-4")
        scrolled = (time.perf_counter() - started) * 1000
        in_dom = page.locator(".row").count()
        context.close()
        print(
            f"  ... scroll to the last span          {scrolled:7.0f} ms",
            f"  ({in_dom} rows in the DOM)",
        )
        print(
            "  overview (stats of the whole store)",
            median(base + "/#/overview?range=all", ".chart svg"),
        )
        print(
            "  sessions                           ",
            median(base + "/#/sessions", "table.list tbody tr"),
        )

        print("\nJSON API (median of 5 requests):")
        for label, url in [
            ("/api/traces?limit=50", "/api/traces?limit=50"),
            ("/api/traces?model=claude*", "/api/traces?model=claude*"),
            ("/api/traces?text=timeout+retry", "/api/traces?text=timeout+retry"),
            ("/api/traces/{1,000 spans}", f"/api/traces/{big_id}"),
            ("/api/stats?since=7d", "/api/stats?since=7d"),
            ("/api/stats (all)", "/api/stats"),
            ("/api/sessions", "/api/sessions"),
        ]:
            print(f"  {label:36s} {api_ms(base + url):7.0f} ms")

        if args.screenshots:
            print("\nScreenshots:")
            screenshots(browser, base, big_id, args.screenshots)
        browser.close()
    if args.store is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
