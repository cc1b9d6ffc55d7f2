"""Instructions and L1 misses that provider instrumentation adds to one SDK call, by valgrind.

A plain script that prints figures (it is not a test)::

    python benchmarks/bench_integration_instructions.py        # 15-25 minutes; needs valgrind
    python benchmarks/bench_integration_instructions.py --only openai/create

The timings of ``bench_integrations.py`` swing by ±30 % on a shared machine. This script counts
instead: ``valgrind --tool=cachegrind`` runs the same canned SDK calls (the same
``httpx2.MockTransport`` bytes, the same requests) and counts the instructions executed and the
simulated L1 instruction and data misses. Each contender runs twice in a fresh process, with
``--short`` and ``--long`` calls after a warm-up, and the difference is divided by the extra
calls, so start-up, imports and patching cancel out. ``PYTHONHASHSEED`` is fixed: string
hashes decide how long dict look-ups probe, which otherwise moves the counts by more than the
differences measured. After the warm-up the objects alive are frozen (``gc.freeze()``): a
full collection over every imported module's objects costs millions of instructions and would
fall in one run of a pair and not the other; collections of the objects the calls create
are still counted. The exporters export at the two flushes only (their timers are set to a
day): a timer-driven export thread would wake a different number of times in the two runs.
Export work is included (valgrind runs one thread at a time).

Contenders: the plain call; tracekit's ``autolog()`` with an exporter that drops the traces,
and with the JSONL exporter; OpenInference with an OpenTelemetry SDK ``BatchSpanProcessor``
and a discarding exporter, when installed. (mlflow-tracing needs an OTLP receiver process;
``bench_integrations.py`` times it.)

These are counts, not time: a miss costs a few cycles when L2 has the line and hundreds when
memory must supply it, and cold code runs at a lower rate than the SDK's own loops. Read them
as the share of the work, next to the timings.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import cachegrind

HERE = Path(__file__).resolve().parent
CASES = ("openai/create", "openai/stream", "anthropic/create", "anthropic/stream")
CONTENDERS = ("plain", "tracekit-discard", "tracekit-jsonl", "openinference")
COUNTS = {
    "instructions": r"I\s+refs:\s+([\d,]+)",
    "L1 instruction misses": r"I1\s+misses:\s+([\d,]+)",
    "L1 data misses": r"D1\s+misses:\s+([\d,]+)",
}

WORKLOAD = """
import os, sys
sys.path.insert(0, {here!r})
import bench_integrations as bi
from pathlib import Path

provider, case = sys.argv[1].split("/")
contender, calls = sys.argv[2], int(sys.argv[3])
canned = bi.load_canned(Path(sys.argv[4]))
fn = bi.make_calls(provider, canned)[case]
flush = lambda: None
if contender.startswith("tracekit"):
    setup = bi.setup_tracekit(provider, contender.split("-")[1])
    setup.switch(True)
    flush = setup.flush
elif contender == "openinference":
    setup = bi.setup_openinference(provider, bi.bsp_queue(calls + 20))
    setup.switch(True)
    flush = setup.flush
for _ in range(20):
    fn()
flush()
# Import-time objects out of the collector's sight: a full collection over them, falling in
# one run of a pair and not in the other, would swamp the per-call difference.
import gc
gc.collect()
gc.freeze()
for _ in range(calls):
    fn()
flush()
"""


def available(contender: str, provider: str) -> bool:
    if contender != "openinference":
        return True
    import importlib.util

    return importlib.util.find_spec(f"openinference.instrumentation.{provider}") is not None


def count(case: str, contender: str, calls: int, workdir: Path, canned: Path) -> dict[str, int]:
    script = workdir / "workload.py"
    env = {
        **os.environ,
        "PYTHONHASHSEED": "0",
        # Export at the flushes only: a timer-driven export thread would wake a different
        # number of times in the two runs of a pair (valgrind's pace varies).
        "TRACEKIT_EXPORT_INTERVAL_MS": str(86_400_000),
        "TRACEKIT_EXPORT_BATCH_SIZE": "100000",
        "OTEL_BSP_SCHEDULE_DELAY": str(86_400_000),
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2048",
        "TRACEKIT_HOME": str(workdir / f"home-{case.replace('/', '-')}-{contender}-{calls}"),
    }
    argv = [sys.executable, str(script), case, contender, str(calls), str(canned)]
    return cachegrind(argv, env, COUNTS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(CASES), help="comma-separated cases")
    parser.add_argument(
        "--contenders", default=",".join(CONTENDERS), help="comma-separated; plain is always run"
    )
    parser.add_argument("--short", type=int, default=10, help="calls of the short run (10)")
    parser.add_argument("--long", type=int, default=40, help="calls of the long run (40)")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed; nothing measured")
        return 1
    sys.path.insert(0, str(HERE))
    import bench_integrations as bi

    cases = [c.strip() for c in args.only.split(",") if c.strip()]
    wanted = {"plain", *(c.strip() for c in args.contenders.split(","))}
    contenders = [c for c in CONTENDERS if c in wanted]
    print(f"tracekit integration instruction counts ({sys.executable}, {sys.version.split()[0]})")
    print(f"  openai {bi.version_of('openai')}, anthropic {bi.version_of('anthropic')}")
    with tempfile.TemporaryDirectory(prefix="tracekit-bench-ii-") as tmp:
        workdir = Path(tmp)
        (workdir / "workload.py").write_text(WORKLOAD.format(here=str(HERE)))
        canned = workdir / "canned.json"
        bi.record_canned(canned)
        jobs = [
            (case, contender, calls)
            for case in cases
            for contender in contenders
            if available(contender, case.split("/")[0])
            for calls in (args.short, args.long)
        ]
        with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
            futures = {job: pool.submit(count, *job, workdir, canned) for job in jobs}
            results = {job: future.result() for job, future in futures.items()}
    extra = args.long - args.short
    for case in cases:
        per_call = {
            contender: {
                name: (
                    results[case, contender, args.long][name]
                    - results[case, contender, args.short][name]
                )
                / extra
                for name in COUNTS
            }
            for contender in contenders
            if (case, contender, args.short) in results
        }
        plain = per_call["plain"]
        print(f"\n  {case}: per call ({args.long} - {args.short} calls, / {extra})")
        print(f"  {'contender':20}" + "".join(f"{name:>34}" for name in COUNTS))
        for contender, figures in per_call.items():
            cells = []
            for name in COUNTS:
                if contender == "plain":
                    cells.append(f"{figures[name]:>34,.0f}")
                else:
                    added = figures[name] - plain[name]
                    cells.append(f"{f'+{added:,.0f} ({added / plain[name]:.1%})':>34}")
            print(f"  {contender:20}" + "".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
