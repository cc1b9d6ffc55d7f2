"""Cost of OtlpExporter: conversion per span, and throughput to a local OTLP/HTTP receiver.

A plain script that prints figures (it is not a test)::

    python benchmarks/bench_otlp.py            # full run, well under a minute
    python benchmarks/bench_otlp.py --quick    # smaller rounds, for a smoke check

What it measures, all on the exporter's worker side (the application only appends to a queue):

1. CPU per span to turn a record into OpenTelemetry spans (``record_to_spans``), and to encode
   those spans as an OTLP protobuf request, for a tool span and an OpenAI-shaped chat span,
   per convention profile and with ``capture_content=False``.
2. Spans per second delivered over OTLP/HTTP to a receiver in a child process that only
   acknowledges and counts, with tracekit's default batching.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import textwrap
import time
from typing import Any

import tracekit
from tracekit.exporters.otlp import OtlpExporter

RECEIVER = textwrap.dedent(
    """
    import sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest, ExportTraceServiceResponse)

    spans = 0

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            global spans
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/count":
                payload = str(spans).encode()
            else:
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource_spans in request.resource_spans:
                    spans += sum(len(scope.spans) for scope in resource_spans.scope_spans)
                payload = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)


def chat_trace() -> tracekit.Trace:
    """One trace: an agent root and an OpenAI-shaped chat call with a tool call."""
    mem = tracekit.InMemoryExporter()
    tracekit.configure(exporters=[mem])
    with tracekit.span("agent", span_type="AGENT") as root:
        root.set_inputs({"question": "What is the weather in Oslo?"})
        with tracekit.span("chat gpt-4o-mini", span_type="CHAT_MODEL") as span:
            span.set_inputs(
                {
                    "messages": [
                        {"role": "system", "content": "You are a weather assistant. " * 20},
                        {"role": "user", "content": "What is the weather in Oslo?"},
                    ]
                }
            )
            span.set_model("gpt-4o-mini-2024-07-18", provider="openai")
            span.set_usage(input_tokens=220, output_tokens=18, total_tokens=238)
            span.set_attribute("gen_ai.request.temperature", 0.2)
            span.set_attribute("gen_ai.response.finish_reasons", ["tool_calls"])
            span.set_outputs(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                        }
                    ],
                }
            )
        with tracekit.span("get_weather", span_type="TOOL") as tool:
            tool.set_inputs({"city": "Oslo"})
            tool.set_outputs({"sky": "clear"})
        root.set_outputs("Sunny.")
    tracekit.flush()
    (trace,) = mem.traces
    return trace


def per_span_us(exporter: OtlpExporter, trace: tracekit.Trace, rounds: int) -> tuple[float, float]:
    """Median CPU microseconds per span: (conversion, conversion + protobuf encoding)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    record = trace.to_dict()
    mapper = exporter._mapper
    spans = len(record["spans"])
    convert, encode = [], []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(200):
            mapper.record_to_spans(record)
        convert.append((time.process_time() - started) / (200 * spans) * 1e6)
        started = time.process_time()
        for _ in range(200):
            encode_spans(mapper.record_to_spans(record)).SerializeToString()
        encode.append((time.process_time() - started) / (200 * spans) * 1e6)
    return statistics.median(convert), statistics.median(encode)


def throughput(traces: int) -> tuple[float, int]:
    """Spans per second delivered to a child-process receiver, and how many arrived."""
    import urllib.request

    child = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        tracekit.configure(exporters=[OtlpExporter(f"http://127.0.0.1:{port}")])
        started = time.perf_counter()
        for _ in range(traces):
            with (
                tracekit.span("request", span_type="AGENT"),
                tracekit.span("step", span_type="TOOL") as span,
            ):
                span.set_inputs({"n": 1})
        tracekit.flush(120)
        elapsed = time.perf_counter() - started
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", data=b"") as answer:
            delivered = int(answer.read())
        tracekit.shutdown()
        return delivered / elapsed, delivered
    finally:
        child.terminate()
        child.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller rounds")
    args = parser.parse_args(argv)
    rounds, traces = (3, 2_000) if args.quick else (9, 20_000)
    trace = chat_trace()
    variants: dict[str, dict[str, Any]] = {
        "both": {},
        "gen_ai": {"conventions": "gen_ai"},
        "openinference": {"conventions": "openinference"},
        "both, no content": {"capture_content": False},
    }
    print(f"tracekit {tracekit.__version__}, Python {sys.version.split()[0]}")
    print("CPU per span (agent + chat call + tool), median of rounds:")
    for label, options in variants.items():
        exporter = OtlpExporter("http://127.0.0.1:9", **options)
        convert, encoded = per_span_us(exporter, trace, rounds)
        print(f"  {label:<18} convert {convert:6.1f} µs   convert + encode {encoded:6.1f} µs")
        exporter.shutdown()
    rate, delivered = throughput(traces)
    sent = 2 * traces
    print(f"OTLP/HTTP to a local receiver: {rate:,.0f} spans/s ({delivered} of {sent} delivered)")


if __name__ == "__main__":
    main()
