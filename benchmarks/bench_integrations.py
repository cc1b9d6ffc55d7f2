"""CPU that provider instrumentation adds to each OpenAI / Anthropic SDK call.

A plain script that prints figures (it is not a test)::

    python benchmarks/bench_integrations.py            # full run, about 6 minutes
    python benchmarks/bench_integrations.py --quick    # smaller rounds, a smoke check

The SDK clients talk to an in-process transport (``httpx2.MockTransport``) that answers with
canned bytes in the exact wire format: JSON, or server-sent events delivered one event per
chunk. The bytes are recorded once, at start-up, from ``tracekit.testing.FakeLLMServer``. No
network, no server: what is measured is the CPU of the SDK call itself (request building,
response parsing, stream decoding) plus whatever the instrumentation adds.

Cases: OpenAI ``chat.completions.create`` non-streamed, and streamed with
``stream_options={"include_usage": True}`` (20 chunks, all consumed); Anthropic
``messages.create`` non-streamed, and streamed (20 events, all consumed).

Contenders, each in a fresh child process of its own (instrumentations patch the SDK classes
globally); the child processes of one round run one after another, in a rotating order:

- plain: no instrumentation (its "on" and "off" calls are the same: the noise floor);
- tracekit: ``tracekit.<provider>.autolog()`` with an exporter that counts and drops the
  traces, and again with the default JSONL exporter (a file in a temporary directory);
- mlflow-tracing: ``mlflow.<provider>.autolog()`` exporting over OTLP/HTTP to a receiver
  process that this script starts and that counts the spans;
- openinference: ``openinference-instrumentation-<provider>`` with an OpenTelemetry SDK
  ``TracerProvider``, a ``BatchSpanProcessor`` and an exporter that counts and drops spans;
- with ``--floor``, two floors, what an instrumentation pays before it records anything: the
  SDK method wrapped with a wrapt ``FunctionWrapper`` that only calls it, and the same wrapper
  opening a bare tracekit span (discarded) around the call.

How the added CPU is measured: inside each child, the contender's instrumentation is switched
on and off (``autolog(disable=True)``, ``uninstrument()``) between small blocks of calls,
alternately first. Every call is timed with ``time.thread_time()`` on the calling thread; the
j-th call of an "on" block is paired with the j-th call of the neighbouring "off" block, so the
load of other processes on a shared machine hits both alike. The median of those differences,
plus the CPU that the child's other threads (export) and its final flush used, per instrumented
call, is the child's added cost; the figures printed are medians over rounds. ``on`` and ``off``
are the medians of single calls (``on`` with the export share added). Every contender's
recorded spans are counted (and whether they carry token usage): a peer whose tracing silently
failed would otherwise look free.

A last section profiles tracekit's added cost: in one process, blocks of calls with the
integration off, on with a discarding exporter and on with the JSONL exporter are interleaved,
then a pass with a ``perf_counter`` timer around each piece of the integration says where the
microseconds go.

Peers are optional: a peer that is not installed is skipped with the reason printed.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gc
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    OtlpReceiver,
    Skip,
    machine_lines,
    median,
    print_targets,
    receiver_get,
    version_of,
)

PROVIDERS = ("openai", "anthropic")
KINDS = (
    "plain",
    "floor-wrapper",
    "floor-span",
    "tracekit",
    "tracekit-sqlite",
    "tracekit-jsonl",
    "mlflow",
    "openinference",
)
TRACEKITS = ("tracekit", "tracekit-sqlite", "tracekit-jsonl")
FLOORS = ("floor-wrapper", "floor-span")  # with --floor
LABELS = {
    "plain": "plain (no instrumentation)",
    "floor-wrapper": "floor: a do-nothing wrapt wrapper",
    "floor-span": "floor: the wrapper + a bare span",
    "tracekit": "tracekit (discarding exporter)",
    "tracekit-sqlite": "tracekit (default: SQLite store)",
    "tracekit-jsonl": "tracekit (JSONL file)",
    "mlflow": "mlflow-tracing autolog (OTLP)",
    "openinference": "openinference (OTel SDK)",
}
CASES = ("create", "stream")
STREAM_ITEMS = 20  # chunks / events the caller iterates per streamed call

OPENAI_MODEL = "gpt-4o-mini"
OPENAI_SNAPSHOT = "gpt-4o-mini-2024-07-18"  # what the API answers with
ANTHROPIC_MODEL = "claude-sonnet-4-6"
SYSTEM = "You are a concise support assistant for an online bookshop."
QUESTION = "My order #1234 has not arrived yet. It was due on Monday. What can I do?"
OPENAI_REQUEST: dict[str, Any] = {
    "model": OPENAI_MODEL,
    "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
    "temperature": 0.2,
    "max_tokens": 256,
}
OPENAI_STREAM = {**OPENAI_REQUEST, "stream": True, "stream_options": {"include_usage": True}}
ANTHROPIC_REQUEST: dict[str, Any] = {
    "model": ANTHROPIC_MODEL,
    "system": SYSTEM,
    "messages": [{"role": "user", "content": QUESTION}],
    "metadata": {"user_id": "user-42"},  # anthropic 2.x has no temperature parameter
    "max_tokens": 256,
}
ANTHROPIC_STREAM = {**ANTHROPIC_REQUEST, "stream": True}


def reply_text(words: int) -> str:
    """A reply of ``words`` words; the fake server streams one word per delta."""
    base = ["Sorry", "about", "the", "delay.", "Orders", "can", "take", "up", "to", "five"]
    base += ["working", "days;", "if", "yours", "has", "not", "arrived", "by", "Friday,"]
    base += ["reply", "here", "and", "we", "will", "send", "a", "replacement", "at", "once."]
    return " ".join(base[i % len(base)] for i in range(words))


# OpenAI chat stream: role chunk + one chunk per word + finish chunk + usage chunk = 20.
OPENAI_WORDS = STREAM_ITEMS - 3
# Anthropic stream (ping dropped by the SDK): message_start, content_block_start, one delta
# per word, content_block_stop, message_delta, message_stop = 20.
ANTHROPIC_WORDS = STREAM_ITEMS - 5


# -- small helpers ---------------------------------------------------------------------------


def bsp_queue(calls: int) -> int:
    """A BatchSpanProcessor queue that holds a whole block of calls (the default, 2048 spans,
    could drop spans and so measure less work). Never below the default batch size of 512:
    a smaller queue makes the processor's constructor raise, and mlflow-tracing then quietly
    records nothing."""
    return max(2048, calls * 4)


def child_env(**extra: str) -> dict[str, str]:
    """The environment of child processes: none of this shell's OTEL_/MLFLOW_/TRACEKIT_/
    ANTHROPIC_ settings, telemetry off, and the extra variables."""
    prefixes = ("OTEL_", "MLFLOW_", "TRACEKIT_", "ANTHROPIC_", "OPENAI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", NO_PROXY="127.0.0.1")
    env.update(extra)
    return env


# -- canned responses ------------------------------------------------------------------------


def record_canned(path: Path) -> None:
    """Record the four responses from tracekit's fake server, chunk by chunk, into ``path``."""
    import httpx2

    from tracekit.testing import FakeLLMServer, Reply, Usage

    keep = {"content-type", "x-request-id", "request-id", "cache-control"}
    canned: dict[str, Any] = {}
    with FakeLLMServer() as server, httpx2.Client(timeout=30) as http:
        openai_reply = Reply(
            text=reply_text(OPENAI_WORDS),
            model=OPENAI_SNAPSHOT,
            usage=Usage(input_tokens=48, output_tokens=OPENAI_WORDS),
        )
        anthropic_reply = Reply(
            text=reply_text(ANTHROPIC_WORDS),
            usage=Usage(input_tokens=48, output_tokens=ANTHROPIC_WORDS),
        )
        jobs = [
            ("openai", "create", openai_reply, f"{server.openai_base_url}/chat/completions"),
            ("openai", "stream", openai_reply, f"{server.openai_base_url}/chat/completions"),
            ("anthropic", "create", anthropic_reply, f"{server.anthropic_base_url}/v1/messages"),
            ("anthropic", "stream", anthropic_reply, f"{server.anthropic_base_url}/v1/messages"),
        ]
        bodies = {
            ("openai", "create"): OPENAI_REQUEST,
            ("openai", "stream"): OPENAI_STREAM,
            ("anthropic", "create"): ANTHROPIC_REQUEST,
            ("anthropic", "stream"): ANTHROPIC_STREAM,
        }
        for provider, case, reply, url in jobs:
            server.queue(reply)
            with http.stream("POST", url, json=bodies[provider, case]) as response:
                chunks = [base64.b64encode(c).decode() for c in response.iter_raw() if c]
                headers = {k: v for k, v in response.headers.items() if k.lower() in keep}
                canned[f"{provider}/{case}"] = {
                    "status": response.status_code,
                    "headers": headers,
                    "chunks": chunks,
                }
    path.write_text(json.dumps(canned))


def load_canned(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    for entry in data.values():
        entry["chunks"] = [base64.b64decode(c) for c in entry["chunks"]]
    return data


def make_client(provider: str, entry: dict[str, Any]) -> Any:
    """An SDK client whose transport answers every request with ``entry``'s bytes."""
    import httpx2

    status, headers, chunks = entry["status"], entry["headers"], entry["chunks"]
    streamed = len(chunks) > 1 and "event-stream" in headers.get("content-type", "")
    body = b"".join(chunks)

    def handler(request: Any) -> Any:
        if streamed:  # one network read per event, as a real connection delivers them
            return httpx2.Response(status, headers=headers, content=iter(chunks))
        return httpx2.Response(status, headers=headers, content=body)

    http_client = httpx2.Client(transport=httpx2.MockTransport(handler))
    if provider == "openai":
        import openai

        return openai.OpenAI(
            api_key="sk-bench", base_url="http://llm.invalid/v1", http_client=http_client
        )
    import anthropic

    return anthropic.Anthropic(
        api_key="sk-bench", base_url="http://llm.invalid", http_client=http_client
    )


def make_calls(provider: str, canned: dict[str, Any]) -> dict[str, Callable[[], int]]:
    """One function per case; each makes one SDK call and returns the items it iterated."""
    create_client = make_client(provider, canned[f"{provider}/create"])
    stream_client = make_client(provider, canned[f"{provider}/stream"])
    if provider == "openai":

        def create() -> int:
            create_client.chat.completions.create(**OPENAI_REQUEST)
            return 0

        def stream() -> int:
            n = 0
            for _chunk in stream_client.chat.completions.create(**OPENAI_STREAM):
                n += 1
            return n

    else:

        def create() -> int:
            create_client.messages.create(**ANTHROPIC_REQUEST)
            return 0

        def stream() -> int:
            n = 0
            for _event in stream_client.messages.create(**ANTHROPIC_STREAM):
                n += 1
            return n

    return {"create": create, "stream": stream}


# -- contenders (inside a child process) -------------------------------------------------------


@dataclass
class Setup:
    """An instrumented process: switching the instrumentation on and off, flushing, and
    counting the spans it delivered."""

    switch: Callable[[bool], Any]  # True: instrumented; False: the SDK's own methods
    flush: Callable[[], Any]
    recorded: Callable[[], int]  # spans delivered so far
    with_usage: Callable[[], int]  # of which carry token usage
    note: str = ""


class CountingTracekitExporter:
    """A tracekit exporter that counts spans (and those with usage and cost), then drops them."""

    def __init__(self) -> None:
        self.spans = 0
        self.priced = 0

    def export(self, traces: Sequence[Any]) -> None:
        for trace in traces:
            for span in trace.spans:
                self.spans += 1
                if span.usage and span.cost_usd is not None and span.outputs is not None:
                    self.priced += 1

    def flush(self, timeout_s: float) -> bool:
        return True

    def shutdown(self) -> None:
        pass


def setup_tracekit(provider: str, exporter: str) -> Setup:
    """tracekit with ``exporter``: "discard", "jsonl" or "default" (the SQLite store)."""
    import tracekit

    if exporter == "discard":
        counting = CountingTracekitExporter()
        tracekit.configure(exporters=[counting])

        def recorded() -> int:
            return counting.spans

        def with_usage() -> int:
            return counting.priced

        note = "an exporter that counts and drops traces"
    elif exporter == "jsonl":
        tracekit.configure(exporters=["jsonl"])
        path = tracekit.current_settings().home / "traces.jsonl"

        def recorded() -> int:
            return int(tracekit.stats()["exporters"]["JsonlExporter"]["spans_exported"])

        def with_usage() -> int:
            if not path.exists():
                return 0
            n = 0
            with path.open("rb") as f:
                for line in f:
                    for span in json.loads(line)["spans"]:
                        n += bool(span["usage"] and span["cost_usd"] is not None)
            return n

        note = f"JsonlExporter to {path.name} in a temporary TRACEKIT_HOME"
    else:
        tracekit.configure()  # default settings: the SQLite store <TRACEKIT_HOME>/traces.db
        names = list(tracekit.stats()["exporters"])
        if names != ["SqliteExporter"]:
            raise Skip(f"the default exporters are {names}, not the SQLite store")
        path = tracekit.current_settings().home / "traces.db"

        def recorded() -> int:
            return int(tracekit.stats()["exporters"]["SqliteExporter"]["spans_exported"])

        def with_usage() -> int:
            import sqlite3

            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                query = "SELECT count(*) FROM spans WHERE cost_usd IS NOT NULL"
                return int(db.execute(query + " AND input_tokens IS NOT NULL").fetchone()[0])

        note = f"default settings: SqliteExporter to {path.name} in a temporary TRACEKIT_HOME"
    integration = getattr(tracekit, provider)

    def switch(on: bool) -> None:
        integration.autolog(disable=not on)

    return Setup(switch, lambda: tracekit.flush(timeout_s=120.0), recorded, with_usage, note)


def setup_floor(provider: str, span: bool) -> Setup:
    """What any instrumentation pays before it records anything: the SDK method wrapped with
    a wrapt ``FunctionWrapper`` that only calls it, and (``span``) the same wrapper opening a
    bare tracekit span around the call, exported to a counting, discarding exporter. Streams
    are not followed: the span ends when ``create()`` returns."""
    import wrapt

    import tracekit

    owner: Any
    if provider == "openai":
        from openai.resources.chat import Completions as owner
    else:
        from anthropic.resources import Messages as owner
    original = owner.__dict__["create"]
    counting = CountingTracekitExporter()
    tracekit.configure(exporters=[counting])
    tracekit_span = tracekit.span

    def passthrough(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        return wrapped(*args, **kwargs)

    def with_span(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        with tracekit_span("chat", span_type="CHAT_MODEL"):
            return wrapped(*args, **kwargs)

    patched = wrapt.FunctionWrapper(original, with_span if span else passthrough)

    def switch(on: bool) -> None:
        owner.create = patched if on else original

    return Setup(
        switch,
        lambda: tracekit.flush(timeout_s=120.0),
        lambda: counting.spans,
        lambda: 0,
        "a bare span per call, discarded" if span else "no span: the wrapper alone",
    )


def counting_otel_exporter() -> Any:
    """An OTel SpanExporter that counts spans (and those with token counts), then drops them."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class CountingExporter(SpanExporter):  # type: ignore[misc]
        def __init__(self) -> None:
            self.count = 0
            self.with_usage = 0
            self.lock = threading.Lock()

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            usage = sum(
                1
                for s in spans
                if any("token_count" in k or "usage" in k for k in (s.attributes or {}))
            )
            with self.lock:
                self.count += len(spans)
                self.with_usage += usage
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return True

    return CountingExporter()


def setup_openinference(provider: str, queue: int) -> Setup:
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        if provider == "openai":
            from openinference.instrumentation.openai import OpenAIInstrumentor as Instrumentor
        else:
            from openinference.instrumentation.anthropic import (
                AnthropicInstrumentor as Instrumentor,
            )
    except ImportError as exc:
        raise Skip(f"not installed ({exc})") from None
    exporter = counting_otel_exporter()
    # A private provider, not the global one: a global SDK provider would also switch on the
    # Anthropic SDK's own OpenTelemetry spans.
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=queue))
    instrumentor = Instrumentor()

    def switch(on: bool) -> None:
        if on:
            instrumentor.instrument(tracer_provider=tracer_provider)
        else:
            instrumentor.uninstrument()

    return Setup(
        switch,
        lambda: tracer_provider.force_flush(120_000),
        lambda: exporter.count,
        lambda: exporter.with_usage,
        f"private TracerProvider, BatchSpanProcessor(max_queue_size={queue}), counting exporter",
    )


def setup_mlflow(provider: str, calls: Callable[[], Any]) -> Setup:
    """mlflow-tracing autolog, exporting over OTLP/HTTP to the receiver named by the
    environment (set by the parent). A tracking URI is set because without one
    mlflow-tracing 3.x looks for a local store on every call and records nothing; it is never
    contacted when OTLP is the destination."""
    port = int(os.environ["BENCH_RECEIVER_PORT"])
    try:
        import mlflow
        from mlflow.tracing.provider import provider as mlflow_provider
    except ImportError as exc:
        raise Skip(f"not installed ({exc})") from None
    flavor = getattr(mlflow, provider)

    def switch(on: bool) -> None:
        flavor.autolog(disable=not on, silent=True)  # disable=True reverts the patches

    switch(True)
    calls()  # the first traced call builds mlflow's tracer provider
    tracer_provider = mlflow_provider.get()
    if tracer_provider is None or not hasattr(tracer_provider, "force_flush"):
        raise Skip("mlflow-tracing set up no tracer provider (tracing is not recording)")

    def flush() -> None:
        tracer_provider.force_flush(120_000)

    flush()
    if receiver_get(port, "count") < 1:
        raise Skip("mlflow-tracing exported nothing to the OTLP receiver")
    return Setup(
        switch,
        flush,
        lambda: receiver_get(port, "count"),
        lambda: receiver_get(port, "usage"),
        "OTLP/HTTP (protobuf) to a local receiver process",
    )


def measure_phase(
    fn: Callable[[], int], switch: Callable[[bool], Any], flush: Callable[[], Any], args: Any
) -> dict[str, Any]:
    """Alternate blocks of ``args.calls`` calls with the instrumentation on and off (ABBA),
    timing every call on the calling thread; then flush, and count what the other threads
    and the flush cost.

    Returns the per-call CPU µs of the calling thread ("on", "off", in pairs: the j-th call of
    an on block with the j-th of the neighbouring off block) and "background_us", the CPU of
    every other thread during the phase plus the calling thread's CPU in the final flush:
    export work, to be charged to the instrumented calls."""
    clock = time.thread_time
    times: dict[bool, list[float]] = {True: [], False: []}
    items = 0
    gc.collect()
    start_process, start_thread = time.process_time(), clock()
    for rep in range(args.reps):
        for on in (True, False) if rep % 2 == 0 else (False, True):
            switch(on)
            out = times[on]
            for _ in range(args.calls):
                t0 = clock()
                items += fn()
                out.append(clock() - t0)
    switch(False)
    flush_start = clock()
    flush()
    end_process, end_thread = time.process_time(), clock()
    other_threads = (end_process - start_process) - (end_thread - start_thread)
    return {
        "on": [t * 1e6 for t in times[True]],
        "off": [t * 1e6 for t in times[False]],
        "background_us": (other_threads + end_thread - flush_start) * 1e6,
        "items": items,
    }


def child_main(args: argparse.Namespace) -> int:
    """Measure one contender for one provider; print a JSON line with the figures.

    The instrumentation is switched on and off between small blocks of calls in this
    process, so the added cost is a difference between neighbouring calls of one process,
    which the load of other processes on the machine hits alike."""
    provider, kind = args.child.split(":")
    canned = load_canned(Path(args.canned))
    calls = make_calls(provider, canned)
    # Check the canned stream before anything is instrumented.
    for case in CASES:
        got = calls[case]()
        if case == "stream" and got != STREAM_ITEMS:
            raise SystemExit(f"{provider} stream yielded {got} items, not {STREAM_ITEMS}")
    if kind == "plain":  # "on" and "off" calls are both plain: the noise floor
        setup = Setup(lambda on: None, lambda: None, lambda: 0, lambda: 0, "no instrumentation")
    elif kind in FLOORS:
        setup = setup_floor(provider, span=kind == "floor-span")
    elif kind in TRACEKITS:
        setup = setup_tracekit(provider, {"tracekit": "discard"}.get(kind, kind[9:]))
    elif kind == "openinference":
        setup = setup_openinference(provider, queue=bsp_queue(args.calls * args.reps))
    else:
        setup = setup_mlflow(provider, calls["create"])
    for on in (True, False, True):  # warm-up, not counted: first-call costs, caches
        setup.switch(on)
        for case in CASES:
            for _ in range(max(10, args.calls)):
                calls[case]()
    setup.switch(False)
    setup.flush()
    base_recorded, base_usage = setup.recorded(), setup.with_usage()
    out: dict[str, Any] = {"note": setup.note}
    for case in CASES if args.order == 0 else reversed(CASES):
        phase = measure_phase(calls[case], setup.switch, setup.flush, args)
        if case == "stream" and phase["items"] != STREAM_ITEMS * args.calls * args.reps * 2:
            raise SystemExit(f"{provider} stream: {phase['items']} items, not all consumed")
        out[case] = phase
    out["calls"] = 0 if kind == "plain" else args.calls * args.reps * len(CASES)
    out["spans"] = setup.recorded() - base_recorded
    out["with_usage"] = setup.with_usage() - base_usage
    print(json.dumps(out), flush=True)
    return 0


# -- the parent: rounds of child processes ------------------------------------------------------


@dataclass
class Results:
    """Per contender and case, one figure per round (one child process)."""

    on: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # µs per call
    off: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    added: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # on - off, paired
    background: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    spans: dict[str, int] = field(default_factory=dict)
    with_usage: dict[str, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, case: str, phase: dict[str, Any]) -> float:
        """Take one child's phase; return its added µs per call."""
        on, off = phase["on"], phase["off"]
        background = phase["background_us"] / len(on)  # export work, charged to "on" calls
        added = median([a - b for a, b in zip(on, off, strict=True)]) + background
        for table, value in (
            (self.on, median(on) + background),
            (self.off, median(off)),
            (self.added, added),
            (self.background, background),
        ):
            table.setdefault(kind, {}).setdefault(case, []).append(value)
        return added


def available_kinds(provider: str, floor: bool = False) -> dict[str, str | None]:
    """Each contender and why it cannot run here (None when it can)."""
    out: dict[str, str | None] = {"plain": None}
    if floor:
        out.update(dict.fromkeys(FLOORS))
    out.update(dict.fromkeys(TRACEKITS))
    if importlib.util.find_spec("mlflow") is None:
        out["mlflow"] = "mlflow-tracing is not installed"
    elif importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is None:
        out["mlflow"] = "opentelemetry-exporter-otlp-proto-http is not installed"
    else:
        out["mlflow"] = None
    module = f"openinference.instrumentation.{provider}"
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    out["openinference"] = (
        None if found else f"openinference-instrumentation-{provider} is not installed"
    )
    return out


def run_child(
    provider: str,
    kind: str,
    canned: Path,
    workdir: Path,
    args: argparse.Namespace,
    order: int,
    receiver: OtlpReceiver | None,
) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=workdir))
    extra = {"TRACEKIT_HOME": str(home)}
    if kind == "mlflow":
        assert receiver is not None
        extra.update(
            BENCH_RECEIVER_PORT=str(receiver.port),
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{receiver.port}/v1/traces",
            OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/protobuf",
            MLFLOW_TRACKING_URI=f"http://127.0.0.1:{receiver.port}",
            OTEL_BSP_MAX_QUEUE_SIZE=str(bsp_queue(args.calls * args.reps)),
        )
    command = [sys.executable, __file__, "--child", f"{provider}:{kind}", "--canned", str(canned)]
    command += ["--calls", str(args.calls), "--reps", str(args.reps), "--order", str(order)]
    proc = subprocess.run(
        command, capture_output=True, text=True, env=child_env(**extra), check=False, timeout=3600
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise Skip(f"child failed (exit {proc.returncode}): {' | '.join(tail)}")
    data: dict[str, Any] = json.loads(lines[-1])
    return data


def bench_provider(
    provider: str,
    canned: Path,
    workdir: Path,
    args: argparse.Namespace,
    receiver: OtlpReceiver | None,
) -> Results:
    res = Results()
    kinds = []
    for kind, why in available_kinds(provider, args.floor).items():
        reason = why
        if kind == "mlflow" and why is None and receiver is None:
            reason = "the OTLP receiver is not running"
        if reason is None:
            kinds.append(kind)
        else:
            res.skipped[kind] = reason
    for r in range(args.rounds):
        k = r % len(kinds)
        order = kinds[k:] + kinds[:k]  # rotate who goes first
        line = []
        for kind in order:
            if kind in res.skipped:
                continue
            try:
                data = run_child(provider, kind, canned, workdir, args, r % 2, receiver)
            except (Skip, subprocess.TimeoutExpired) as exc:
                res.skipped[kind] = str(exc)
                print(f"  {kind}: skipped ({exc})", flush=True)
                continue
            res.notes[kind] = data["note"]
            figures = [f"{res.add(kind, case, data[case]):+.0f}" for case in CASES]
            res.calls[kind] = res.calls.get(kind, 0) + data["calls"]
            res.spans[kind] = res.spans.get(kind, 0) + data["spans"]
            res.with_usage[kind] = res.with_usage.get(kind, 0) + data["with_usage"]
            line.append(f"{kind} {'/'.join(figures)}")
        print(
            f"  round {r + 1}/{args.rounds}: "
            + ", ".join(line)
            + " (µs added per call, create/stream)",
            flush=True,
        )
    return res


def report_provider(provider: str, res: Results) -> dict[str, Any]:
    """Print the tables for one provider; return the summary figures."""
    kinds = [k for k in KINDS if k in res.on]
    summary: dict[str, Any] = {}
    for kind in kinds:
        print(f"  {LABELS[kind]}: {res.notes.get(kind, '')}")
    for kind, why in res.skipped.items():
        if kind not in res.on:
            print(f"  {LABELS[kind]}: SKIPPED ({why})")
    titles = {
        "create": "non-streamed create",
        "stream": f"stream of {STREAM_ITEMS} {'chunks' if provider == 'openai' else 'events'}",
    }
    for case in CASES:
        added = {k: median(res.added[k][case]) for k in kinds}
        base = {k: median(res.off[k][case]) for k in kinds}
        print(f"\n  {provider} {titles[case]}: CPU µs per call (all threads, export included)")
        print(
            f"  {'contender':32} {'on':>8} {'off':>8} {'added':>7} {'export':>7} {'% off':>7}"
            f" {'÷ tk':>6} {'÷ tk sqlite':>11}  spans (with usage) / calls"
        )
        for kind in kinds:
            extra = added[kind]
            ratio = ratio_default = ""
            if kind != "plain" and added.get("tracekit", 0) > 0:
                ratio = f"{extra / added['tracekit']:5.1f}x"
            if kind != "plain" and added.get("tracekit-sqlite", 0) > 0:
                ratio_default = f"{extra / added['tracekit-sqlite']:10.1f}x"
            spans, calls = res.spans.get(kind, 0), res.calls.get(kind, 0)
            expected = 0 if kind == "floor-wrapper" else calls
            flag = "  <-- NOT ONE SPAN PER CALL" if spans != expected else ""
            counts = f"{spans} ({res.with_usage.get(kind, 0)}) / {calls}{flag}"
            if kind == "plain":
                counts = "(noise floor: 'on' and 'off' calls are both plain)"
            print(
                f"  {LABELS[kind]:32} {median(res.on[kind][case]):8.1f} {base[kind]:8.1f}"
                f" {extra:7.1f} {median(res.background[kind][case]):7.1f}"
                f" {extra / base[kind]:7.1%} {ratio:>6} {ratio_default:>11}  {counts}"
            )
            rounds = res.added[kind][case]
            summary.setdefault(case, {})[kind] = {
                "on_us": median(res.on[kind][case]),
                "off_us": base[kind],
                "added_us": extra,
                "export_us": median(res.background[kind][case]),
                "added_pct": extra / base[kind],
                "added_by_round_us": rounds,
            }
    print(
        "  on / off: median CPU of one call with the contender's instrumentation on / off, in the"
        " same child process (on includes export); added: median over rounds of (median of the"
        " paired differences + export); export: CPU of other threads and of the final flush, per"
        " instrumented call; % off: added / off; ÷ tk, ÷ tk sqlite: added / the added of"
        " tracekit with the discarding exporter, with the default SQLite store; spans counted"
        " over every instrumented call of both cases"
    )
    summary["spans"] = dict(res.spans)
    summary["calls"] = dict(res.calls)
    summary["with_usage"] = dict(res.with_usage)
    return summary


# -- profile of tracekit's added cost -----------------------------------------------------------


class Timers:
    """Inclusive perf_counter timers around functions, net of nested timers' own overhead."""

    def __init__(self) -> None:
        self.total_ns: dict[str, int] = {}
        self.count: dict[str, int] = {}
        self.stack: list[int] = []
        self.overhead_ns = 0  # the cost of one timer, measured by calibrate()

    def wrap(self, fn: Callable[..., Any], key: str) -> Callable[..., Any]:
        total, count, stack = self.total_ns, self.count, self.stack
        total.setdefault(key, 0)
        count.setdefault(key, 0)
        clock = time.perf_counter_ns

        def timed(*args: Any, **kwargs: Any) -> Any:
            stack.append(0)
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = clock() - start
                inner = stack.pop()
                total[key] += elapsed - inner
                count[key] += 1
                if stack:
                    stack[-1] += inner + self.overhead_ns

        return timed

    def calibrate(self) -> None:
        """The cost of one timer: a timed no-op against the bare no-op, best of 5."""

        def noop() -> None:
            pass

        timed = self.wrap(noop, "_calibration")
        n = 200_000
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter_ns()
            for _ in range(n):
                timed()
            with_timer = time.perf_counter_ns() - start
            start = time.perf_counter_ns()
            for _ in range(n):
                noop()
            best = min(best, (with_timer - (time.perf_counter_ns() - start)) / n)
        self.overhead_ns = int(best)
        del self.total_ns["_calibration"], self.count["_calibration"]

    def reset(self) -> None:
        for key in self.total_ns:
            self.total_ns[key] = 0
            self.count[key] = 0


# The pieces of the integration that get a timer: key -> (label, owner path, attribute).
# "{p}" is the provider module, "op" its chat Operation, "state" its StreamState class.
PIECES: dict[str, tuple[str, str, str]] = {
    "begin": ("open the span and record the request (_begin)", "_llm", "_begin"),
    "new_span": ("new_span: ids, Trace, Span", "_llm", "new_span"),
    "request": ("record_request", "op", "record_request"),
    "params": ("request parameters (record_params)", "{p}", "record_params"),
    "inputs": ("messages -> span inputs (record_inputs)", "{p}", "record_inputs"),
    "response": ("record_response", "op", "record_response"),
    "dump": ("model_dump of the reply", "{p}", "_dump|_block_record"),
    "usage": ("usage", "{p}", "completion_usage|normalise_usage"),
    "outputs": ("reply -> span outputs (record_outputs)", "{p}", "record_outputs"),
    "end": ("end: LLMCall.end", "LLMCall", "end"),
    "cost": ("cost lookup (cost_usd)", "_llm", "cost_usd"),
    "span_end": ("Span.end: trace to the export queue", "Span", "end"),
    "wrap_stream": ("wrap the stream (_wrap_stream, StreamProxy)", "_llm", "_wrap_stream"),
    "on_chunk": (f"on_chunk, all {STREAM_ITEMS} items", "LLMCall", "on_chunk"),
    "finish_stream": ("finish_stream", "LLMCall", "finish_stream"),
    "state_finish": ("rebuild the reply (StreamState.finish)", "state", "finish"),
    # cross-cutting: called from several of the pieces above
    "set": ("attributes: LLMCall.set", "LLMCall", "set"),
    "scan": ("secret scan of each string: Privacy.text", "Privacy", "text"),
}
TREES: dict[str, list[tuple[str, int]]] = {
    "create": [
        ("begin", 0),
        ("new_span", 1),
        ("request", 1),
        ("params", 2),
        ("inputs", 2),
        ("response", 0),
        ("dump", 1),
        ("usage", 1),
        ("outputs", 1),
        ("end", 0),
        ("cost", 1),
        ("span_end", 1),
    ],
    "stream": [
        ("begin", 0),
        ("new_span", 1),
        ("request", 1),
        ("params", 2),
        ("inputs", 2),
        ("wrap_stream", 0),
        ("on_chunk", 0),
        ("finish_stream", 0),
        ("state_finish", 1),
        ("usage", 2),
        ("outputs", 2),
        ("end", 1),
        ("cost", 2),
        ("span_end", 2),
    ],
}
CROSS_CUTTING = ("set", "scan")


def install_timers(provider: str, timers: Timers) -> None:
    """Replace each piece of the integration with a timed version (in this process only)."""
    from tracekit import _privacy, _spans
    from tracekit.integrations import _llm

    module = __import__(f"tracekit.integrations.{provider}", fromlist=["_"])
    owners: dict[str, Any] = {
        "_llm": _llm,
        "{p}": module,
        "op": module._CHAT if provider == "openai" else module._MESSAGES,
        "state": module._ChatStream if provider == "openai" else module._MessageStream,
        "LLMCall": _llm.LLMCall,
        "Span": _spans.Span,
        "Privacy": _privacy.Privacy,
    }
    for key, (_label, owner_name, attrs) in PIECES.items():
        owner = owners[owner_name]
        attr = next(a for a in attrs.split("|") if hasattr(owner, a))
        timed = timers.wrap(getattr(owner, attr), key)
        if isinstance(owner, _llm.Operation):  # a frozen dataclass
            object.__setattr__(owner, attr, timed)
        else:
            setattr(owner, attr, timed)


class SwitchedExporter:
    """Forwards traces to one of ``targets`` (or to none: they are dropped), as ``target``
    says; so the cost of each exporter is a difference between blocks of one process."""

    def __init__(self, targets: dict[str, Any]) -> None:
        self.targets = targets
        self.target: str | None = None

    def export(self, traces: Sequence[Any]) -> None:
        inner = self.targets.get(self.target or "")
        if inner is not None:
            inner.export(traces)

    def flush(self, timeout_s: float) -> bool:
        return all(inner.flush(timeout_s) for inner in self.targets.values())

    def shutdown(self) -> None:
        for inner in self.targets.values():
            inner.shutdown()


PROFILE_MODES = ("plain", "tracekit", "sqlite", "jsonl")


def profile_child(args: argparse.Namespace) -> int:
    """In one process: blocks with the integration off, and on with a discarding exporter,
    the SQLite store and a JSONL file, interleaved; then a pass with timers. Prints one JSON
    line."""
    import tracekit

    provider = args.profile_child
    canned = load_canned(Path(args.canned))
    calls = make_calls(provider, canned)
    integration = getattr(tracekit, provider)
    workdir = Path(args.workdir)
    exporter = SwitchedExporter(
        {
            "sqlite": tracekit.SqliteExporter(workdir / "profile.db"),
            "jsonl": tracekit.JsonlExporter(workdir / "profile.jsonl"),
        }
    )
    tracekit.configure(exporters=[exporter])

    def set_mode(mode: str) -> None:
        integration.autolog(disable=mode == "plain")
        exporter.target = mode

    def block(case: str, n: int, out: list[float] | None = None) -> float:
        """Time ``n`` calls one by one on this thread; return the CPU µs that the other
        threads (the export thread) used during the block and its flush."""
        fn, clock = calls[case], time.thread_time
        start_process, start_thread = time.process_time(), clock()
        for _ in range(n):
            t0 = clock()
            fn()
            if out is not None:
                out.append((clock() - t0) * 1e6)
        tracekit.flush(timeout_s=120.0)
        other = (time.process_time() - start_process) - (clock() - start_thread)
        return other * 1e6

    modes = PROFILE_MODES
    for mode in modes:  # warm-up
        set_mode(mode)
        for case in CASES:
            block(case, max(20, args.calls))
    times: dict[str, dict[str, list[float]]] = {m: {c: [] for c in CASES} for m in modes}
    background = {mode: dict.fromkeys(CASES, 0.0) for mode in modes}
    for rep in range(args.reps):
        for case in CASES if rep % 2 == 0 else reversed(CASES):
            k = rep % len(modes)
            for mode in modes[k:] + modes[:k]:  # rotate who goes first
                set_mode(mode)
                background[mode][case] += block(case, args.calls, times[mode][case])

    # The timed pass: the same calls with a timer around each piece.
    timers = Timers()
    timers.calibrate()
    set_mode("tracekit")
    install_timers(provider, timers)
    samples: dict[str, dict[str, list[float]]] = {case: {k: [] for k in PIECES} for case in CASES}
    counts: dict[str, dict[str, float]] = {case: {} for case in CASES}
    for case in CASES:
        block(case, args.calls)  # warm-up with the timers
    for rep in range(args.reps):
        for case in CASES if rep % 2 == 0 else reversed(CASES):
            timers.reset()
            block(case, args.calls)
            for key in PIECES:
                samples[case][key].append(timers.total_ns[key] / args.calls / 1e3)
                counts[case][key] = timers.count[key] / args.calls
    # per piece: the median over blocks of µs per call, and how often it ran per call
    pieces = {
        case: {key: [median(samples[case][key]), counts[case][key]] for key in PIECES}
        for case in CASES
    }
    out = {
        "times": times,
        "background": background,
        "pieces": pieces,
        "timer_overhead_ns": timers.overhead_ns,
    }
    print(json.dumps(out), flush=True)
    return 0


def paired_added(times: dict[str, dict[str, list[float]]], mode: str, case: str) -> float:
    """Median over pairs of (a call in ``mode`` - the same-numbered plain call nearby)."""
    pairs = zip(times[mode][case], times["plain"][case], strict=True)
    return median([a - b for a, b in pairs])


def bench_profile(
    provider: str, canned: Path, workdir: Path, calls: int, reps: int
) -> dict[str, Any]:
    args = [
        sys.executable,
        __file__,
        "--profile-child",
        provider,
        "--canned",
        str(canned),
        "--workdir",
        str(workdir),
        "--calls",
        str(calls),
        "--reps",
        str(reps),
    ]
    env = child_env(TRACEKIT_HOME=str(workdir / "profile-home"))
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        print(f"  {provider}: profile failed: {proc.stderr.strip()[-500:]}")
        return {}
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    times, background = data["times"], data["background"]
    names = {"tracekit": "the discarding exporter", "sqlite": "the SQLite store (default)"}
    names["jsonl"] = "the JSONL exporter"
    for case in CASES:
        plain = median(times["plain"][case])
        calls_made = len(times["plain"][case])
        parts = []
        on_thread = paired_added(times, "tracekit", case)
        for mode, name in names.items():
            thread = paired_added(times, mode, case)
            export = background[mode][case] / calls_made
            total = thread + export
            parts.append(
                f"{total:.1f} µs ({total / plain:.1%}) with {name}, {export:.1f} of them on the"
                " export thread"
            )
        print(f"\n  {provider} {case}: the plain call takes {plain:.0f} µs. tracekit adds")
        for part in parts:
            print(f"    {part}")
        print(
            f"  {'piece (inclusive; indented = part of the line above)':56} {'µs/call':>8} {'n':>4}"
        )
        pieces = data["pieces"][case]
        top = 0.0
        for key, depth in TREES[case]:
            value, count = pieces[key]
            if depth == 0:
                top += value
            label = "  " * depth + PIECES[key][0]
            print(f"  {label:56} {value:8.2f} {count:4.0f}")
        rest = on_thread - top
        print(f"  {'rest: wrapt wrapper, run_sync, contextvars, proxy __next__':56} {rest:8.2f}")
        for key in CROSS_CUTTING:
            value, count = pieces[key]
            label = f"(across the above) {PIECES[key][0]}"
            print(f"  {label:56} {value:8.2f} {count:4.0f}")
    print(
        f"  (blocks of {calls} calls with tracekit off and on with each exporter, in one process,"
        f" {reps} of each; added: median of paired per-call differences + the export thread's"
        " CPU per call; pieces: with the discarding exporter, a separate pass with a"
        " perf_counter timer around each,"
        f" net of nested timers' own ~{data['timer_overhead_ns']} ns; n = calls per SDK call;"
        " 'rest' = tracekit's added calling-thread CPU minus the top-level pieces)"
    )
    return data


# -- targets -----------------------------------------------------------------------------------


def summarize(summaries: dict[str, dict[str, Any]]) -> None:
    lines: list[tuple[bool, str]] = []
    for provider, summary in summaries.items():
        for case in CASES:
            figures = summary.get(case, {})
            for tk in TRACEKITS:
                if tk not in figures:
                    continue
                mine = figures[tk]
                lines.append(
                    (
                        mine["added_pct"] < 0.05,
                        f"{provider}/{case}: {LABELS[tk]} adds {mine['added_us']:.1f} µs ="
                        f" {mine['added_pct']:.1%} of the plain call (< 5%)",
                    )
                )
                for peer in ("mlflow", "openinference"):
                    if peer in figures:
                        theirs = figures[peer]["added_us"]
                        lines.append(
                            (
                                mine["added_us"] < theirs,
                                f"{provider}/{case}: {LABELS[tk]} adds less than {LABELS[peer]}"
                                f" ({mine['added_us']:.1f} vs {theirs:.1f} µs)",
                            )
                        )
        calls, spans = summary.get("calls", {}), summary.get("spans", {})
        for kind, made in calls.items():
            if kind != "plain" and kind not in FLOORS:
                lines.append(
                    (
                        spans.get(kind) == made,
                        f"{provider}: {LABELS[kind]} recorded {spans.get(kind)} spans for {made}"
                        " calls",
                    )
                )
    print_targets(lines)


# -- main --------------------------------------------------------------------------------------


def machine_info() -> list[str]:
    return [
        *machine_lines(),
        f"openai {version_of('openai')}, anthropic {version_of('anthropic')}, "
        f"httpx2 {version_of('httpx2')}, pydantic {version_of('pydantic')}",
        f"mlflow-tracing {version_of('mlflow-tracing')}, "
        f"opentelemetry-sdk {version_of('opentelemetry-sdk')}, "
        f"openinference-instrumentation-openai "
        f"{version_of('openinference-instrumentation-openai')}, "
        f"openinference-instrumentation-anthropic "
        f"{version_of('openinference-instrumentation-anthropic')}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small rounds: a smoke check")
    parser.add_argument("--rounds", type=int, help="rounds of child processes (4; quick 2)")
    parser.add_argument("--calls", type=int, help="calls per block (5)")
    parser.add_argument(
        "--reps", type=int, help="pairs of blocks (on, off) per case and child (60; quick 15)"
    )
    parser.add_argument(
        "--only",
        default="openai,anthropic,profile",
        help="comma-separated sections: openai, anthropic, profile",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also run two floors: a do-nothing wrapt wrapper, and the wrapper + a bare span",
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--profile-child", help=argparse.SUPPRESS)
    parser.add_argument("--canned", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--order", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (2 if quick else 4)
    args.calls = args.calls or 5
    args.reps = args.reps or (15 if quick else 60)
    if args.child:
        try:
            return child_main(args)
        except Skip as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            return 2
    if args.profile_child:
        return profile_child(args)

    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    raw: dict[str, Any] = {"machine": machine_info()}
    print("tracekit provider-integration benchmark" + (" (--quick)" if quick else ""))
    for line in raw["machine"]:
        print("  " + line)
    print(
        f"  {args.rounds} rounds; a round runs each contender in a fresh child process (in a"
        f" rotating order), which times {args.reps} pairs of blocks of {args.calls} calls per"
        " case, one block with its instrumentation on and one with it off, alternately first"
    )

    summaries: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="tracekit-bench-int-") as tmp:
        workdir = Path(tmp)
        canned = workdir / "canned.json"
        record_canned(canned)
        receiver = None
        providers = [p for p in PROVIDERS if p in sections]
        if providers and available_kinds("openai")["mlflow"] is None:
            try:
                receiver = OtlpReceiver()
            except Skip as exc:
                print(f"  mlflow-tracing: skipped ({exc})")
        try:
            for n, provider in enumerate(providers, 1):
                print(f"\n== {n}. {provider}: µs of CPU per call", flush=True)
                res = bench_provider(provider, canned, workdir, args, receiver)
                if receiver is not None and "mlflow" in res.on:
                    names = ", ".join(receiver.names())
                    print(f"  span names the OTLP receiver saw so far: {names}")
                summaries[provider] = report_provider(provider, res)
                raw[provider] = {
                    "on_us": res.on,
                    "off_us": res.off,
                    "added_us": res.added,
                    "export_us": res.background,
                    "spans": res.spans,
                    "calls": res.calls,
                    "with_usage": res.with_usage,
                    "skipped": res.skipped,
                }
        finally:
            if receiver is not None:
                receiver.close()
        if "profile" in sections:
            print(
                f"\n== {len(providers) + 1}. Where tracekit's added µs go (one process, tracekit"
                f" on/off interleaved, {args.reps} blocks of {args.calls} calls per mode)",
                flush=True,
            )
            for provider in PROVIDERS:
                raw[f"profile_{provider}"] = bench_profile(
                    provider, canned, workdir, args.calls, args.reps
                )

    summarize(summaries)
    if args.json:
        raw["summary"] = summaries
        args.json.write_text(json.dumps(raw, indent=1, default=str))
        print(f"\nraw figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
