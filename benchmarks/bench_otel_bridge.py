"""Cost of the OpenTelemetry interop per tracekit span.

Run: python benchmarks/bench_otel_bridge.py [--rounds N]

tracekit spans never write into OpenTelemetry's context; what interop costs is (a) one check
per *root* span for an active OpenTelemetry span, paid only once the app has imported
``opentelemetry.trace``, and (b) the bridged ``get_current_span`` when OpenTelemetry asks for
the current span. Each figure is a median over interleaved rounds, each in a fresh process.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

LOOP = """
import time, tracekit
{setup}
tracekit.configure(exporters=["none"])
{kind}
N = 20000
start = time.process_time()
for _ in range(N):
    {body}
print((time.process_time() - start) / N * 1e6)
"""

ROOT = ("", "with tracekit.span('root'): pass")
CASES = {
    "root span, OpenTelemetry not imported": ("", *ROOT),
    "root span, opentelemetry.trace imported": ("import opentelemetry.trace", *ROOT),
    "root span inside an active OTel span (joins it)": (
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "tracer = TracerProvider().get_tracer('b')",
        "ctx = tracer.start_as_current_span('outer'); ctx.__enter__()",
        "with tracekit.span('root'): pass",
    ),
    "get_current_span() inside a tracekit span, bridged": (
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "trace.set_tracer_provider(TracerProvider())",
        "outer = tracekit.span('outer'); outer.__enter__()",
        "trace.get_current_span()",
    ),
    "get_current_span(), bridge off": (
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "trace.set_tracer_provider(TracerProvider())\n"
        "tracekit.configure(exporters=['none'], otel_bridge=False)",
        "outer = tracekit.span('outer'); outer.__enter__()",
        "trace.get_current_span()",
    ),
}


def run(setup: str, kind: str, body: str) -> float:
    code = LOOP.format(setup=setup, kind=kind, body=body)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.rounds):
        for name, case in CASES.items():
            results[name].append(run(*case))
    for name, values in results.items():
        print(f"{name:52s} {statistics.median(values):7.2f} µs per call")


if __name__ == "__main__":
    main()
