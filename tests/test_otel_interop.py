"""Interop with OpenTelemetry in the same process and W3C traceparent across processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import tracekit

trace_api = pytest.importorskip("opentelemetry.trace")
sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")


@pytest.mark.parametrize("peek", [True, False], ids=["context-peek", "public-api"])
def test_root_inside_otel_span_joins_its_trace(
    collected: Any, peek: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tracekit root started in an active OTel span: same trace id, the OTel span as parent.

    Both lookups: the fast peek at OpenTelemetry's default context, and the public API used
    when another runtime context is configured.
    """
    from tracekit import _otel

    monkeypatch.setattr(_otel, "_peek", None if peek else False)
    with tracekit.span("before"):
        pass
    assert bool(_otel._peek) is peek
    tracer = sdk_trace.TracerProvider().get_tracer("app")  # local: no global provider needed
    with tracer.start_as_current_span("GET /chat") as request_span:
        with tracekit.span("handle"):
            pass
    ctx = request_span.get_span_context()
    span = collected.span("handle")
    assert span["trace_id"] == f"{ctx.trace_id:032x}"
    assert span["parent_span_id"] == f"{ctx.span_id:016x}"
    before = collected.span("before")
    assert before["parent_span_id"] is None and before["trace_id"] != span["trace_id"]


def test_tracekit_never_installs_a_global_provider(collected: Any) -> None:
    """Configuring and tracing leaves OpenTelemetry's global provider untouched."""
    with tracekit.span("work"):
        pass
    assert collected.traces()
    assert type(trace_api.get_tracer_provider()).__name__ == "ProxyTracerProvider"


def test_without_an_otel_sdk_no_ids_leak_into_otel(collected: Any) -> None:
    """With no OTel SDK registered, OTel code sees no current span (no traceparent to APIs)."""
    with tracekit.span("work"):
        assert not trace_api.get_current_span().get_span_context().is_valid


def test_inject_in_an_unsampled_trace_sends_the_trace_unsampled(collected: Any) -> None:
    """Inside a trace that is not recorded, inject() still sends its trace id, flagged not
    sampled, so the callee drops the same trace rather than starting a new one."""
    tracekit.configure(exporters=[tracekit.InMemoryExporter()], sample_rate=0.0, keep_errors=False)
    with tracekit.span("dropped") as span:
        headers = tracekit.context.inject({})
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", span.trace_id, "00")
    assert len(span_id) == 16 and int(span_id, 16) != 0
    parent = tracekit.context.extract(headers)
    assert parent is not None and parent.sampled is False

    def callee() -> tuple[str, bool]:
        with tracekit.span("callee") as inner:
            return inner.trace_id, inner.is_recording

    assert tracekit.context.run_in(parent, callee) == (span.trace_id, False)


def test_inject_extract_round_trip(collected: Any) -> None:
    """inject() writes traceparent; extract() + run_in() continue the trace as a child."""
    with tracekit.span("client") as client_span:
        headers = tracekit.context.inject({})
    assert headers["traceparent"] == f"00-{client_span.trace_id}-{client_span.span_id}-01"
    parent = tracekit.context.extract({"TraceParent": headers["traceparent"]})
    assert parent is not None

    @tracekit.trace
    def handler() -> str:
        return "ok"

    tracekit.context.run_in(parent, handler)
    spans = {s["name"]: s for s in collected.spans()}
    assert spans["handler"]["trace_id"] == client_span.trace_id
    assert spans["handler"]["parent_span_id"] == client_span.span_id


def test_start_span_with_remote_parent(collected: Any) -> None:
    """A RemoteParent passed as parent= starts a root in the remote trace."""
    parent = tracekit.context.extract({"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"})
    tracekit.start_span("server", parent=parent).end()
    span = collected.span("server")
    assert (span["trace_id"], span["parent_span_id"]) == ("ab" * 16, "cd" * 8)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "garbage",
        f"00-{'0' * 32}-{'cd' * 8}-01",
        f"00-{'ab' * 16}-{'0' * 16}-01",
        f"ff-{'ab' * 16}-{'cd' * 8}-01",
        f"00-{'ab' * 15}-{'cd' * 8}-01",
    ],
)
def test_extract_rejects_invalid_headers(value: str | None) -> None:
    """Missing, malformed or all-zero traceparent values give None."""
    headers = {} if value is None else {"traceparent": value}
    assert tracekit.context.extract(headers) is None


def test_inject_outside_a_trace_adds_nothing() -> None:
    """inject() with no current span leaves the headers alone."""
    assert tracekit.context.inject({"a": "b"}) == {"a": "b"}


@pytest.mark.slow
def test_otel_spans_inside_tracekit_spans_become_children(tmp_path: Path) -> None:
    """With the app's OTel SDK registered, an OTel span started in a tracekit span is its child."""
    code = textwrap.dedent(
        """
        import json, sys
        from opentelemetry import propagate, trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import tracekit

        memory = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(memory))
        trace.set_tracer_provider(provider)
        tracekit.configure(exporters=["none"])
        tracer = trace.get_tracer("httpx-like")
        with tracekit.span("agent") as agent:
            with tracer.start_as_current_span("POST /v1/chat"):
                headers = {}
                propagate.inject(headers)
        otel = memory.get_finished_spans()[0]
        print(json.dumps({
            "agent": [agent.trace_id, agent.span_id],
            "otel_trace": f"{otel.context.trace_id:032x}",
            "otel_parent": f"{otel.parent.span_id:016x}",
            "traceparent": headers["traceparent"],
            "otel_span": f"{otel.context.span_id:016x}",
        }))
        """
    )
    env = {"PATH": "/usr/bin:/bin", "TRACEKIT_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    trace_id, span_id = result["agent"]
    assert result["otel_trace"] == trace_id
    assert result["otel_parent"] == span_id
    assert result["traceparent"] == f"00-{trace_id}-{result['otel_span']}-01"


def test_bridge_can_be_switched_off(collected: Any) -> None:
    """otel_bridge=False leaves opentelemetry.trace.get_current_span as it was."""
    tracekit.configure(exporters=[collected.exporter], otel_bridge=False)
    assert trace_api.get_current_span.__module__ == "opentelemetry.trace.propagation"
    tracekit.configure(exporters=[collected.exporter])
    assert trace_api.get_current_span.__module__ == "tracekit._otel"
