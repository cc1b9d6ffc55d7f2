"""Instructions and L1 cache misses per span, counted by valgrind: figures that do not move.

A plain script that prints figures (it is not a test)::

    python benchmarks/bench_instructions.py     # about 3 minutes; needs `valgrind` on PATH

Timings on a shared machine swing by ±30 % between runs (see docs/benchmarks.md), too much to
see a change of a few percent. ``valgrind --tool=cachegrind`` counts the instructions a
workload executes and simulates its L1 caches, the same on every run. The workload is the core
benchmark's one-span shape: a decorated no-op function called in rounds of 2 000, each round
flushed, for tracekit (JSONL file) and the OpenTelemetry SDK (BatchSpanProcessor, an exporter
that discards); both export threads are included. Each contender runs twice, with 1 and with
6 rounds, and the difference is divided by the 10 000 extra spans, so start-up and imports
cancel out.

These are counts, not time: an L1 miss costs a few cycles when L2 has the line and hundreds
when memory must supply it, which cachegrind does not model.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from _common import cachegrind

ROUND = 2_000
SHORT, LONG = 1, 6

WORKLOAD = """
import sys, os
rounds = int(sys.argv[2])
if sys.argv[1] == "tracekit":
    import tracekit
    tracekit.configure(exporters=[tracekit.JsonlExporter(os.environ["BENCH_JSONL"])])

    @tracekit.trace
    def noop():
        pass

    flush = lambda: tracekit.flush(timeout_s=120.0)
else:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=4 * ROUND))
    noop = provider.get_tracer("bench").start_as_current_span("noop")(lambda: None)
    flush = lambda: provider.force_flush(120_000)
for _ in range(rounds):
    for _ in range(ROUND):
        noop()
    flush()
"""

COUNTS = {"instructions": r"I\s+refs:\s+([\d,]+)", "L1 data misses": r"D1\s+misses:\s+([\d,]+)"}


def count(contender: str, rounds: int, workdir: Path) -> dict[str, int]:
    script = workdir / "workload.py"
    script.write_text(f"ROUND = {ROUND}\n{WORKLOAD}")
    env = {**os.environ, "BENCH_JSONL": str(workdir / f"{contender}-{rounds}.jsonl")}
    return cachegrind([sys.executable, str(script), contender, str(rounds)], env, COUNTS)


def main() -> int:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed; nothing measured")
        return 1
    print(f"tracekit instruction counts ({sys.executable}, {sys.version.split()[0]})")
    per_span: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for contender in ("tracekit", "otel-sdk"):
            short = count(contender, SHORT, Path(tmp))
            long = count(contender, LONG, Path(tmp))
            spans = (LONG - SHORT) * ROUND
            per_span[contender] = {k: (long[k] - short[k]) / spans for k in short}
    print(f"\n  per span, one-span traces incl. export    {'tracekit':>10} {'otel-sdk':>10}  ratio")
    for name in COUNTS:
        ours, theirs = per_span["tracekit"][name], per_span["otel-sdk"][name]
        print(f"  {name:40} {ours:10,.0f} {theirs:10,.0f}  {theirs / ours:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
