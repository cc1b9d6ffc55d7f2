"""Robustness: failing and hung exporters, exit, fork, threads, late spans, sampling, guards."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import tracekit

# -- helpers -----------------------------------------------------------------------------


class FailingExporter:
    """An exporter whose collector is down: every export() raises."""

    def __init__(self) -> None:
        self.calls = 0

    def export(self, traces: Any) -> None:
        self.calls += 1
        raise RuntimeError("collector down")

    def flush(self, timeout_s: float) -> bool:
        return True

    def shutdown(self) -> None:
        pass


class HungExporter:
    """An exporter whose export() blocks until the test releases it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.records: list[dict[str, Any]] = []

    def export(self, traces: Any) -> None:
        self.entered.set()
        self.release.wait()
        self.records.extend(t.to_dict() for t in traces)

    def flush(self, timeout_s: float) -> bool:
        return True

    def shutdown(self) -> None:
        pass


def reconfigure(collected: Any, *exporters: Any, **settings: Any) -> None:
    """Configure with the test's in-memory exporter (plus ``exporters``) and ``settings``."""
    settings.setdefault("raise_internal_errors", True)
    tracekit.configure(exporters=[*exporters, collected.exporter], **settings)


class CancelledOnce:
    """Raises asyncio.CancelledError (a BaseException) from its first export only."""

    def __init__(self) -> None:
        self.calls = 0
        self.traces: list[Any] = []

    def export(self, traces: Any) -> None:
        self.calls += 1
        if self.calls == 1:
            raise asyncio.CancelledError()
        self.traces.extend(traces)

    def flush(self, timeout_s: float) -> bool:
        return True

    def shutdown(self) -> None:
        pass


def make_trace(name: str, children: int = 3) -> None:
    with tracekit.span(name):
        for i in range(children):
            with tracekit.span(f"{name}/c{i}"):
                pass


def assert_well_formed(record: dict[str, Any], span_count: int) -> None:
    """One root, every span in this trace, every parent a span of this trace."""
    spans = record["spans"]
    assert record["span_count"] == len(spans) == span_count
    ids = {s["span_id"] for s in spans}
    assert len(ids) == span_count
    roots = [s for s in spans if s["parent_span_id"] is None]
    assert len(roots) == 1
    assert roots[0]["name"] == record["name"]
    for s in spans:
        assert s["trace_id"] == record["trace_id"]
        assert s["name"].split("/")[0] == record["name"]
        if s["parent_span_id"] is not None:
            assert s["parent_span_id"] in ids


def tracekit_logs(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "tracekit" and text in r.getMessage()]


def wait_until(predicate: Any, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


def run_python(
    code: str, tmp_path: Path, *, timeout: float = 60, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``code`` in a fresh interpreter with TRACEKIT_HOME in ``tmp_path``; return (proc, s)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TRACEKIT_")}
    full_env["TRACEKIT_HOME"] = str(tmp_path / "home")
    full_env["TRACEKIT_EXPORTERS"] = "jsonl"  # these tests read the JSONL file
    full_env["TRACEKIT_RAISE_INTERNAL_ERRORS"] = "true"
    full_env.update(env or {})
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc, time.monotonic() - start


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    lines = path.read_bytes().splitlines()
    return [json.loads(line) for line in lines]


# -- 1. an exporter that raises ------------------------------------------------------------


def test_failing_exporter_does_not_affect_app_or_other_exporters(
    collected: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A raising exporter: calls return, failures counted, logged once, others get everything."""
    bad = FailingExporter()
    reconfigure(collected, bad)

    @tracekit.trace
    def work(i: int) -> int:
        return i * 2

    results = []
    for batch in range(3):  # several export() calls, each failing
        results += [work(batch * 10 + i) for i in range(10)]
        assert tracekit.flush(5.0)

    assert results == [i * 2 for b in range(3) for i in range(b * 10, b * 10 + 10)]
    assert bad.calls >= 3
    counters = tracekit.stats()["exporters"]["FailingExporter"]
    assert counters["traces_failed"] == 30
    assert counters["spans_failed"] == 30
    assert counters["traces_exported"] == 0
    assert len(tracekit_logs(caplog, "FailingExporter failed")) == 1
    assert len(collected.traces()) == 30
    assert tracekit.stats()["exporters"]["InMemoryExporter"]["traces_exported"] == 30


# -- 2. an exporter that hangs -------------------------------------------------------------


def test_hung_exporter_keeps_calls_fast_and_other_exporter_fed(collected: Any) -> None:
    """A hung exporter neither slows traced calls nor delays a healthy exporter."""
    hung = HungExporter()
    reconfigure(collected, hung)

    @tracekit.trace
    def call(i: int) -> int:
        return i

    try:
        start = time.monotonic()
        for i in range(2000):
            assert call(i) == i
        elapsed = time.monotonic() - start
        assert elapsed < 5.0
        assert hung.entered.wait(5.0)
        # No flush: the healthy worker must get everything on its own while the other hangs.
        assert wait_until(lambda: len(collected.exporter.traces) == 2000)
        assert not hung.release.is_set()
        assert tracekit.flush(0.2) is False  # the hung exporter did not finish
    finally:
        hung.release.set()
    assert tracekit.flush(5.0)
    assert len(hung.records) == 2000
    assert sorted(r["spans"][0]["inputs"]["i"] for r in collected.traces()) == list(range(2000))


def test_hung_exporter_overflow_is_dropped_whole_and_counted(
    collected: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Small queue + hung exporter: overflow dropped whole-trace, counted, logged once."""
    hung = HungExporter()
    tracekit.configure(exporters=[hung], max_queue_size=10, raise_internal_errors=True)
    try:
        make_trace("t")
        assert hung.entered.wait(5.0)  # the worker now holds a batch and hangs
        for _ in range(199):
            make_trace("t")
        counters = tracekit.stats()["exporters"]["HungExporter"]
        assert counters["queued"] == 10
        assert counters["traces_dropped"] > 0
    finally:
        hung.release.set()
    assert tracekit.flush(5.0)
    counters = tracekit.stats()["exporters"]["HungExporter"]
    assert counters["traces_exported"] + counters["traces_dropped"] == 200
    assert counters["traces_exported"] == len(hung.records) >= 11
    assert counters["spans_dropped"] == 4 * counters["traces_dropped"]
    for record in hung.records:
        assert_well_formed(record, 4)
    assert len(tracekit_logs(caplog, "is full")) == 1


# -- 3./4. interpreter exit ----------------------------------------------------------------


@pytest.mark.slow
def test_clean_exit_exports_every_span(tmp_path: Path) -> None:
    """Returning from main exports all 10 000 traces / 100 000 spans to the default JSONL file."""
    code = """
        import tracekit

        @tracekit.trace
        def step(i):
            return i

        @tracekit.trace
        def handle(n):
            for i in range(8):
                step(i)
            with tracekit.span("tail"):
                pass
            return n

        def main():
            for n in range(10_000):
                handle(n)

        main()
    """
    proc, _ = run_python(code, tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "home" / "traces.jsonl"
    records = read_jsonl(path)
    assert len(records) == 10_000
    assert sum(len(r["spans"]) for r in records) == 100_000
    assert len({r["trace_id"] for r in records}) == 10_000
    assert sorted(r["spans"][0]["inputs"]["n"] for r in records) == list(range(10_000))
    assert all(r["span_count"] == 10 for r in records)


HUNG_AT_EXIT = """
    import threading, time
    import tracekit

    entered = threading.Event()

    class Hung:
        def export(self, traces):
            entered.set()
            while True:
                time.sleep(3600)

        def flush(self, timeout_s):
            return True

        def shutdown(self):
            pass

    tracekit.configure(exporters=[Hung()])
    with tracekit.span("first"):
        pass
    assert entered.wait(5)  # the worker holds the first trace and hangs
    for i in range(9):
        with tracekit.span(f"t{i}"):
            pass
"""


@pytest.mark.slow
def test_exit_with_hung_exporter_is_bounded_and_reported(tmp_path: Path) -> None:
    """A hung exporter holds interpreter exit for about exit_timeout_s and the loss is logged."""
    proc, elapsed = run_python(HUNG_AT_EXIT, tmp_path, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 6.0
    assert "Hung" in proc.stderr
    assert "not exported" in proc.stderr


def test_hung_flush_returns_false_at_the_deadline(collected: Any) -> None:
    """An exporter whose flush() never returns: tracekit.flush(timeout_s) gives up in time,
    returns False, and tracing goes on."""
    release = threading.Event()

    class HungFlush:
        def export(self, traces: Any) -> None:
            pass

        def flush(self, timeout_s: float) -> bool:
            release.wait(30)
            return True

        def shutdown(self) -> None:
            pass

    tracekit.configure(exporters=[HungFlush()])
    try:
        with tracekit.span("before"):
            pass
        start = time.monotonic()
        assert tracekit.flush(0.5) is False
        assert time.monotonic() - start < 3.0
        with tracekit.span("after"):
            pass
    finally:
        release.set()


def test_exit_with_a_hung_shutdown_and_nothing_exported_is_bounded(tmp_path: Path) -> None:
    """An exporter that never got a trace and whose shutdown() hangs does not hold exit
    (it used to be shut down on the exiting thread itself)."""
    code = """
        import time
        import tracekit

        class HungShutdown:
            def export(self, traces):
                pass

            def flush(self, timeout_s):
                return True

            def shutdown(self):
                time.sleep(3600)

        tracekit.configure(exporters=[HungShutdown()], exit_timeout_s=1)
    """
    proc, elapsed = run_python(code, tmp_path, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 8.0


@pytest.mark.slow
def test_exit_report_counts_the_batch_stuck_in_export(tmp_path: Path) -> None:
    """The exit warning counts every unexported trace, including the batch inside export()."""
    proc, _ = run_python(HUNG_AT_EXIT, tmp_path, timeout=30)
    assert proc.returncode == 0, proc.stderr
    # 10 traces were never exported: 1 inside the hung export() call, 9 still queued.
    found = re.search(r"(\d+) (?:queued )?traces were not exported", proc.stderr)
    assert found is not None, proc.stderr
    assert int(found.group(1)) == 10, proc.stderr


# -- 5. fork -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_exports_its_own_traces_only(tmp_path: Path) -> None:
    """After fork the child exports its own traces, never the parent's queue, without deadlock."""
    out = tmp_path / "traces.jsonl"
    code = f"""
        import os, sys, threading, time
        import tracekit

        tracekit.configure(
            exporters=[tracekit.JsonlExporter({str(out)!r})], export_interval_ms=60_000
        )

        def make(prefix, n):
            for i in range(n):
                with tracekit.span(f"{{prefix}}-{{i}}"):
                    tracekit.update_current_trace(metadata={{"pid": os.getpid()}})
                    with tracekit.span("child"):
                        pass

        make("parent-exported", 5)
        assert tracekit.flush(5)
        make("parent-queued", 5)
        worker = tracekit.stats()["exporters"]["JsonlExporter"]
        assert worker["queued"] == 5, worker
        assert any(t.name.startswith("tracekit-export") for t in threading.enumerate())

        pid = os.fork()
        if pid == 0:
            # child: trace on its own and exit normally (atexit flushes)
            make("child", 5)
            child_stats = tracekit.stats()["exporters"]["JsonlExporter"]
            assert child_stats["queued"] <= 5, child_stats
        else:
            deadline = time.monotonic() + 15
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, 9)
                    print("CHILD DEADLOCKED", flush=True)
                    sys.exit(2)
                time.sleep(0.01)
            if os.waitstatus_to_exitcode(status) != 0:
                print("CHILD FAILED", status, flush=True)
                sys.exit(3)
            print("PARENT", os.getpid(), "CHILD", pid, flush=True)
    """
    proc, _ = run_python(code, tmp_path, timeout=40)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    parent_pid, child_pid = (int(x) for x in proc.stdout.split()[1::2])
    records = read_jsonl(out)
    names = sorted(r["name"] for r in records)
    expected = sorted(
        [f"parent-exported-{i}" for i in range(5)]
        + [f"parent-queued-{i}" for i in range(5)]
        + [f"child-{i}" for i in range(5)]
    )
    assert names == expected  # each exactly once: no duplicates, nothing lost
    for r in records:
        assert r["span_count"] == 2
        want = child_pid if r["name"].startswith("child") else parent_pid
        assert r["metadata"]["pid"] == want


# -- 6. many threads -----------------------------------------------------------------------


@pytest.mark.slow
def test_concurrent_threads_keep_traces_complete_and_separate(collected: Any) -> None:
    """8 threads x 1 000 traces at once: every trace complete, no span in another trace."""
    threads_n, traces_n = 8, 1000
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            barrier.wait()
            for i in range(traces_n):
                with tracekit.span(f"w{t}-{i}"):
                    for c in range(2):
                        with tracekit.span(f"w{t}-{i}/c{c}"):
                            with tracekit.span(f"w{t}-{i}/c{c}/leaf"):
                                pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(threads_n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors
    records = collected.traces()
    assert len(records) == threads_n * traces_n
    assert len({r["trace_id"] for r in records}) == len(records)
    assert {r["name"] for r in records} == {
        f"w{t}-{i}" for t in range(threads_n) for i in range(traces_n)
    }
    for r in records:
        assert_well_formed(r, 5)
        by_id = {s["span_id"]: s for s in r["spans"]}
        for s in r["spans"]:
            if s["name"].endswith("/leaf"):
                assert by_id[s["parent_span_id"]]["name"] == s["name"].removesuffix("/leaf")


# -- 7. misuse of span lifetimes -----------------------------------------------------------


def test_span_ended_twice_is_exported_once(collected: Any) -> None:
    """Ending a span twice raises nothing and exports it once, with the first end time."""
    with tracekit.span("root"):
        s = tracekit.start_span("child")
        s.end()
        first_end = s.end_time_ns
        s.end()
        s.end(end_time_ns=1)
    record = collected.trace()
    assert [x["name"] for x in record["spans"]] == ["root", "child"]
    assert record["spans"][1]["end_time_ns"] == first_end


def test_current_span_ended_in_another_thread(collected: Any) -> None:
    """A make_current span ended in another thread is exported in its trace, no exception."""
    errors: list[BaseException] = []

    def end_it(span: Any) -> None:
        try:
            span.set_outputs("done elsewhere")
            span.end()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with tracekit.span("root") as root:
        cb = tracekit.start_span("callback", make_current=True)
        assert tracekit.get_current_span() is cb
        th = threading.Thread(target=end_it, args=(cb,))
        th.start()
        th.join(5)
    assert not errors
    assert tracekit.get_current_span() is None
    record = collected.trace()
    assert not record.get("late")
    cb_rec = next(s for s in record["spans"] if s["name"] == "callback")
    assert cb_rec["parent_span_id"] == root.span_id
    assert cb_rec["outputs"] == "done elsewhere"


def test_child_ending_after_root_is_exported_as_late(collected: Any) -> None:
    """A child ending after its root is exported in a separate record marked late."""
    with tracekit.span("root") as root:
        child = tracekit.start_span("straggler")
    child.set_outputs("late result")
    child.end()
    records = collected.traces()
    assert len(records) == 2
    main, late = sorted(records, key=lambda r: bool(r.get("late")))
    assert not main.get("late")
    assert not main["spans"][0].get("late")
    assert [s["name"] for s in main["spans"]] == ["root"]
    assert late["late"] is True
    assert late["trace_id"] == main["trace_id"] == root.trace_id
    assert late["name"] == "root"
    (span,) = late["spans"]
    assert span["name"] == "straggler"
    assert span["late"] is True
    assert span["parent_span_id"] == root.span_id
    assert span["outputs"] == "late result"


def test_finished_trace_is_freed_without_the_cyclic_gc(collected: Any) -> None:
    """Once exporters drop a finished trace, reference counting alone frees it and its spans,
    also while a span of it is still referenced (a child may be started under it later)."""
    import gc
    import weakref

    gc.collect()
    gc.disable()
    try:
        with tracekit.span("root") as root:
            with tracekit.span("child"):
                pass
        assert tracekit.flush(5.0)
        (finished,) = collected.exporter.traces
        refs = [weakref.ref(finished), *(weakref.ref(s) for s in finished.spans)]
        del finished
        collected.exporter.clear()
        assert [r() is None for r in refs] == [True, True, False], "only the root is held"
        child = tracekit.start_span("after", parent=root)
        assert child.trace_id == root.trace_id and child.parent_span_id == root.span_id
        child.end()
        del root
        assert [r() is None for r in refs] == [True, True, True]
    finally:
        gc.enable()
    (late,) = collected.traces()
    assert late["late"] is True and late["name"] == "root"


def test_one_span_trace_is_exported_itself_and_freed_without_the_cyclic_gc(
    collected: Any,
) -> None:
    """A root that is the trace's only span: its live trace goes to the exporters, the root
    lets go of it, and a child started later still joins the trace as a late span."""
    import gc
    import weakref

    gc.collect()
    gc.disable()
    try:
        with tracekit.span("only") as root:
            pass
        assert tracekit.flush(5.0)
        (finished,) = collected.exporter.traces
        assert finished.spans == [root]
        ref = weakref.ref(finished)
        del finished
        collected.exporter.clear()
        assert ref() is None, "the ended root still holds its exported trace"
        child = tracekit.start_span("after", parent=root)
        sibling = tracekit.start_span("after too", parent=root)
        assert child.trace_id == sibling.trace_id == root.trace_id
        assert child.parent_span_id == root.span_id
        child.end()
        sibling.end()
    finally:
        gc.enable()
    late = collected.traces()
    assert [(r["name"], r["late"], r["trace_id"]) for r in late] == [
        ("only", True, root.trace_id)
    ] * 2
    assert sorted(r["spans"][0]["name"] for r in late) == ["after", "after too"]


def test_late_child_of_a_kept_one_span_trace_is_kept(collected: Any) -> None:
    """Tail sampling keeps a failed one-span trace: a child started after it ends is kept too."""
    reconfigure(collected, sample_rate=0.0, keep_errors=True)
    with pytest.raises(ValueError), tracekit.span("failed") as failed:
        raise ValueError("boom")
    with tracekit.span("clean") as clean:
        pass
    tracekit.start_span("after failed", parent=failed).end()
    tracekit.start_span("after clean", parent=clean).end()
    records = collected.traces()
    assert sorted((r["name"], r["late"], r["spans"][0]["name"]) for r in records) == [
        ("failed", False, "failed"),
        ("failed", True, "after failed"),
    ]


def test_late_span_of_a_tail_sampled_trace_is_kept(collected: Any) -> None:
    """A trace kept by keep_errors despite sample_rate=0 exports its late spans too."""
    reconfigure(collected, sample_rate=0.0, keep_errors=True)
    with pytest.raises(ValueError), tracekit.span("root"):
        straggler = tracekit.start_span("straggler")
        raise ValueError("boom")
    straggler.end()
    with tracekit.span("clean root"):
        dropped = tracekit.start_span("dropped straggler")
    dropped.end()
    records = collected.traces()
    assert sorted((r["name"], bool(r["late"])) for r in records) == [
        ("root", False),
        ("root", True),
    ]


def test_late_current_span_does_not_leak_stale_context(collected: Any) -> None:
    """Ending a make_current span after its root leaves no ended span current afterwards."""

    def request() -> tuple[Any, Any]:
        with tracekit.span("root"):
            straggler = tracekit.start_span("straggler", make_current=True)
        straggler.end()
        current = tracekit.get_current_span()
        with tracekit.span("next request"):
            pass
        return straggler, current

    # In a copy of the context, so a leaked span cannot leak into the following tests.
    straggler, current_after = contextvars.copy_context().run(request)
    assert current_after is None, f"the ended span {current_after!r} is current again"
    assert tracekit.get_current_span() is None
    records = collected.traces()
    fresh = [r for r in records if r["name"] == "next request"]
    assert len(fresh) == 1
    assert not fresh[0].get("late")
    assert fresh[0]["trace_id"] != straggler.trace_id


# -- 8. propagation across threads and tasks -----------------------------------------------


def test_executor_task_is_child_of_submitting_span(collected: Any) -> None:
    """A span in a ThreadPoolExecutor task submitted inside a span is that span's child."""

    @tracekit.trace
    def task(x: int) -> int:
        with tracekit.span("inner"):
            return x + 1

    with ThreadPoolExecutor(2) as pool, tracekit.span("submit") as parent:
        futures = [pool.submit(task, i) for i in range(3)]
        mapped = list(pool.map(task, [10, 20]))
        assert [f.result() for f in futures] == [1, 2, 3]
    assert mapped == [11, 21]
    record = collected.trace()
    tasks = [s for s in record["spans"] if s["name"] == "task"]
    inner = [s for s in record["spans"] if s["name"] == "inner"]
    assert len(tasks) == 5
    assert all(s["parent_span_id"] == parent.span_id for s in tasks)
    assert sorted(s["parent_span_id"] for s in inner) == sorted(s["span_id"] for s in tasks)


def test_context_wrap_carries_span_into_raw_thread(collected: Any) -> None:
    """tracekit.context.wrap binds a raw thread target to the span current at wrap time."""

    @tracekit.trace
    def work() -> str:
        return "ok"

    with tracekit.span("parent") as parent:
        th = threading.Thread(target=tracekit.context.wrap(work))
        th.start()
        th.join(5)
    record = collected.trace()
    (span,) = [s for s in record["spans"] if s["name"] == "work"]
    assert span["parent_span_id"] == parent.span_id


def test_context_run_in_capture_carries_span_into_raw_thread(collected: Any) -> None:
    """context.run_in(context.capture(), fn) in a raw thread: fn is the captured span's child."""
    results: list[int] = []

    @tracekit.trace
    def work(x: int) -> int:
        results.append(x)
        return x

    with tracekit.span("parent") as parent:
        ctx = tracekit.context.capture()
        th = threading.Thread(target=tracekit.context.run_in, args=(ctx, work, 7))
        th.start()
        th.join(5)
    assert results == [7]
    record = collected.trace()
    (span,) = [s for s in record["spans"] if s["name"] == "work"]
    assert span["parent_span_id"] == parent.span_id
    assert span["inputs"] == {"x": 7}


def test_asyncio_gather_children_are_siblings(collected: Any) -> None:
    """Coroutines gathered inside a traced coroutine are siblings under it."""

    @tracekit.trace
    async def fetch(i: int) -> int:
        await asyncio.sleep(0.01 * (3 - i))
        with tracekit.span(f"parse{i}"):
            await asyncio.sleep(0)
        return i

    @tracekit.trace
    async def agent() -> list[int]:
        return list(await asyncio.gather(*(fetch(i) for i in range(3))))

    assert asyncio.run(agent()) == [0, 1, 2]
    record = collected.trace()
    by_name: dict[str, list[dict[str, Any]]] = {}
    for s in record["spans"]:
        by_name.setdefault(s["name"], []).append(s)
    (root,) = by_name["agent"]
    assert len(by_name["fetch"]) == 3
    assert all(s["parent_span_id"] == root["span_id"] for s in by_name["fetch"])
    fetch_by_input = {s["inputs"]["i"]: s["span_id"] for s in by_name["fetch"]}
    for i in range(3):
        (parse,) = by_name[f"parse{i}"]
        assert parse["parent_span_id"] == fetch_by_input[i]


def test_run_in_executor_is_child_of_current_span(collected: Any) -> None:
    """loop.run_in_executor work runs as a child of the span current when it was scheduled."""

    @tracekit.trace
    def blocking(x: int) -> int:
        return x * 3

    @tracekit.trace
    async def handler() -> int:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(1) as pool:
            return await loop.run_in_executor(pool, blocking, 4)

    assert asyncio.run(handler()) == 12
    record = collected.trace()
    root = next(s for s in record["spans"] if s["name"] == "handler")
    (child,) = [s for s in record["spans"] if s["name"] == "blocking"]
    assert child["parent_span_id"] == root["span_id"]


def test_propagate_to_threads_false_turns_off_executor_propagation(collected: Any) -> None:
    """With propagate_to_threads=False an executor task starts its own trace."""
    reconfigure(collected, propagate_to_threads=False)

    @tracekit.trace
    def task() -> str:
        return "ran"

    with ThreadPoolExecutor(1) as pool, tracekit.span("submit"):
        assert pool.submit(task).result() == "ran"
    records = collected.traces()
    assert sorted(r["name"] for r in records) == ["submit", "task"]
    task_rec = next(r for r in records if r["name"] == "task")
    assert task_rec["spans"][0]["parent_span_id"] is None
    assert len({r["trace_id"] for r in records}) == 2


# -- 9. sampling ---------------------------------------------------------------------------


def test_sample_rate_zero_records_nothing_and_code_behaves(collected: Any) -> None:
    """sample_rate=0, keep_errors=False: nothing recorded; values and exceptions unchanged."""
    reconfigure(collected, sample_rate=0.0, keep_errors=False)
    boom = ValueError("boom")

    @tracekit.trace
    def inner(x: int) -> int:
        if x < 0:
            raise boom
        return x + 1

    @tracekit.trace
    def outer(x: int) -> int:
        with tracekit.span("block"):
            return inner(x) * 2

    assert outer(1) == 4
    with pytest.raises(ValueError) as info:
        outer(-1)
    assert info.value is boom
    span = tracekit.start_span("manual")
    span.end()
    assert collected.traces() == []
    assert tracekit.stats()["exporters"]["InMemoryExporter"]["traces_exported"] == 0


def test_sample_rate_zero_keep_errors_keeps_only_failed_traces(collected: Any) -> None:
    """sample_rate=0 with keep_errors=True keeps exactly the traces containing an error."""
    reconfigure(collected, sample_rate=0.0, keep_errors=True)

    @tracekit.trace
    def child(fail: bool) -> str:
        if fail:
            raise KeyError("missing")
        return "ok"

    @tracekit.trace
    def request(kind: str) -> str:
        if kind == "caught":
            try:
                child(True)
            except KeyError:
                return "recovered"
        if kind == "raised":
            child(True)
        return child(False)

    for _ in range(3):
        assert request("clean") == "ok"
    assert request("caught") == "recovered"
    with pytest.raises(KeyError):
        request("raised")
    records = collected.traces()
    kinds = sorted(r["spans"][0]["inputs"]["kind"] for r in records)
    assert kinds == ["caught", "raised"]
    for r in records:
        assert r["error_count"] >= 1
        assert r["span_count"] == 2


def test_keep_slower_than_ms_keeps_slow_traces(collected: Any) -> None:
    """sample_rate=0 with keep_slower_than_ms keeps the slow traces only."""
    reconfigure(collected, sample_rate=0.0, keep_errors=False, keep_slower_than_ms=40)

    @tracekit.trace
    def request(delay: float) -> float:
        with tracekit.span("work"):
            time.sleep(delay)
        return delay

    for delay in (0.0, 0.06, 0.0, 0.06):
        request(delay)
    records = collected.traces()
    assert len(records) == 2
    for r in records:
        assert r["spans"][0]["inputs"]["delay"] == 0.06
        assert r["duration_ms"] >= 40
        assert r["span_count"] == 2


def test_sampling_keeps_exactly_the_trace_ids_below_the_threshold(collected: Any) -> None:
    """A trace is kept iff the low 64 bits of its id are below sample_rate * 2**64."""
    rate = 0.3
    reconfigure(collected, sample_rate=rate, keep_errors=False)
    seen: list[str] = []

    @tracekit.trace
    def request() -> None:
        trace_id = tracekit.get_current_trace_id()
        assert trace_id is not None
        seen.append(trace_id)

    for _ in range(600):
        request()
    expected = {t for t in seen if int(t, 16) & (2**64 - 1) < rate * 2**64}
    kept = {r["trace_id"] for r in collected.traces()}
    assert kept == expected
    assert 0 < len(kept) < len(seen)


def test_sampling_decision_is_deterministic_on_trace_id(
    collected: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same trace id always gets the same sampling decision."""
    import tracekit._tracer as tracer_module

    reconfigure(collected, sample_rate=0.5, keep_errors=False)
    below = (0xAAAA << 64) | (2**63 - 1)  # low 64 bits just below the 0.5 threshold
    above = (0xBBBB << 64) | 2**63  # low 64 bits at the threshold: not kept
    ids = iter([below, above, below, above, below, above])
    monkeypatch.setattr(tracer_module, "getrandbits", lambda bits: next(ids))
    for _ in range(6):
        with tracekit.span("request"):
            pass
    records = collected.traces()
    assert [r["trace_id"] for r in records] == [f"{below:032x}"] * 3


# -- 10. disabled --------------------------------------------------------------------------


def test_disable_records_nothing_and_code_behaves(collected: Any) -> None:
    """tracekit.disable(): no traces; functions, generators and coroutines behave the same."""
    tracekit.disable()
    boom = RuntimeError("x")

    @tracekit.trace
    def f(x: int) -> int:
        if x < 0:
            raise boom
        return x * 2

    @tracekit.trace
    def gen(n: int) -> Any:
        got = yield 0
        yield got
        return n

    @tracekit.trace
    async def coro(x: int) -> int:
        await asyncio.sleep(0)
        return f(x)

    assert f(2) == 4
    with pytest.raises(RuntimeError) as info:
        f(-1)
    assert info.value is boom
    g = gen(5)
    assert next(g) == 0
    assert g.send("sent") == "sent"
    with pytest.raises(StopIteration) as stop:
        next(g)
    assert stop.value.value == 5
    assert asyncio.run(coro(3)) == 6
    with tracekit.span("block") as s:
        assert not s.is_recording
    tracekit.start_span("manual").end()
    assert collected.traces() == []
    assert tracekit.stats()["enabled"] is False


def test_disable_keeps_async_generator_send_and_throw(collected: Any) -> None:
    """tracekit.disable(): a traced async generator still receives asend() values and athrow()."""

    async def plain() -> Any:
        got = yield "first"
        try:
            yield f"got {got}"
        except KeyError:
            yield "handled"

    traced = tracekit.trace(plain)

    async def drive(agen_fn: Any) -> list[Any]:
        agen = agen_fn()
        out = [await agen.__anext__()]
        for step in (lambda: agen.asend(42), lambda: agen.athrow(KeyError("k"))):
            try:
                out.append(await step())
            except Exception as exc:
                out.append(f"raised {exc!r}")
        await agen.aclose()
        return out

    expected = asyncio.run(drive(plain))
    assert expected == ["first", "got 42", "handled"]
    assert asyncio.run(drive(traced)) == expected  # enabled
    tracekit.disable()
    assert asyncio.run(drive(traced)) == expected
    assert len(collected.traces()) == 1


@pytest.mark.slow
def test_env_disabled_records_nothing(tmp_path: Path) -> None:
    """TRACEKIT_ENABLED=false: no traces written, traced code behaves the same."""
    code = """
        import asyncio, json
        import tracekit

        @tracekit.trace
        def f(x):
            with tracekit.span("inner"):
                return x + 1

        @tracekit.trace
        async def g(x):
            return f(x) * 10

        err = ValueError("same")

        @tracekit.trace
        def bad():
            raise err

        try:
            bad()
        except ValueError as exc:
            same = exc is err
        out = {"f": f(1), "g": asyncio.run(g(1)), "same": same, "stats": tracekit.stats()}
        print(json.dumps(out))
    """
    proc, _ = run_python(code, tmp_path, env={"TRACEKIT_ENABLED": "false"})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["f"] == 2
    assert out["g"] == 20
    assert out["same"] is True
    assert out["stats"]["enabled"] is False
    assert out["stats"]["exporters"] == {}
    path = tmp_path / "home" / "traces.jsonl"
    assert not path.exists() or path.read_bytes() == b""


# -- 11. internal-error guard --------------------------------------------------------------


def test_internal_error_recording_failure_never_reaches_user_code(
    collected: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug while recording an exception is contained: same exception, counted, logged once."""
    import tracekit._spans as spans_module

    reconfigure(collected, raise_internal_errors=False)

    def broken(exc: BaseException) -> dict[str, Any]:
        raise RuntimeError("tracekit bug")

    monkeypatch.setattr(spans_module, "error_record", broken)
    err = ValueError("user error")

    @tracekit.trace
    def failing() -> None:
        raise err

    for _ in range(3):
        with pytest.raises(ValueError) as info:
            failing()
        assert info.value is err
    assert tracekit.stats()["internal_errors"] == 3
    assert len(tracekit_logs(caplog, "internal error")) == 1
    records = collected.traces()
    assert len(records) == 3
    assert all(r["status"] == "ERROR" for r in records)


def test_internal_error_in_serialisation_never_reaches_user_code(
    collected: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in input serialisation is contained: return value intact, counted, logged once."""
    import tracekit._decorator as decorator_module

    reconfigure(collected, raise_internal_errors=False)

    def broken(*args: Any) -> Any:
        raise RuntimeError("tracekit bug")

    monkeypatch.setattr(decorator_module, "field_to_jsonable", broken)

    @tracekit.trace
    def work(x: int) -> int:
        return x + 1

    assert [work(i) for i in range(5)] == [1, 2, 3, 4, 5]
    assert tracekit.stats()["internal_errors"] == 5
    assert len(tracekit_logs(caplog, "internal error")) == 1
    records = collected.traces()
    assert [r["spans"][0]["outputs"] for r in records] == [1, 2, 3, 4, 5]


def test_internal_error_in_exporter_flush_never_reaches_user_code(
    collected: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An exporter whose flush() raises: tracekit.flush() returns False, counted, logged once."""

    class BadFlush(FailingExporter):
        def export(self, traces: Any) -> None:
            self.calls += 1

        def flush(self, timeout_s: float) -> bool:
            raise OSError("flush broke")

    bad = BadFlush()
    reconfigure(collected, bad, raise_internal_errors=False)
    with tracekit.span("x"):
        pass
    assert tracekit.flush(5.0) is False
    assert tracekit.flush(5.0) is False
    assert tracekit.stats()["internal_errors"] == 2
    assert len(tracekit_logs(caplog, "internal error")) == 1
    assert bad.calls == 1
    assert tracekit.stats()["exporters"]["BadFlush"]["traces_exported"] == 1
    assert len(collected.exporter.traces) == 1


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_multiprocessing_fork_child_flushes_without_explicit_flush(tmp_path: Path) -> None:
    """A multiprocessing (fork) child leaves through os._exit; its traces are still written."""
    code = textwrap.dedent(
        """
        import multiprocessing as mp
        import tracekit

        @tracekit.trace
        def job(i):
            return i * 2

        def child():
            for i in range(50):
                job(i)

        if __name__ == "__main__":
            job(-1)
            tracekit.flush()
            p = mp.get_context("fork").Process(target=child)
            p.start()
            p.join(60)
            assert p.exitcode == 0, p.exitcode
        """
    )
    script = tmp_path / "mp_child.py"
    script.write_text(code)
    env = {**os.environ, "TRACEKIT_HOME": str(tmp_path / "home"), "TRACEKIT_EXPORTERS": "jsonl"}
    env.pop("TRACEKIT_RAISE_INTERNAL_ERRORS", None)
    subprocess.run([sys.executable, str(script)], env=env, check=True, timeout=120)
    lines = (tmp_path / "home" / "traces.jsonl").read_text().splitlines()
    assert len(lines) == 51


def test_child_started_after_root_keeps_trace_identity_and_sampling(collected: Any) -> None:
    """A span started under an already-finished span: late, same trace, name and tags kept."""
    with tracekit.span("request") as root:
        tracekit.update_current_trace(name="turn", tags={"env": "t"})
        worker = tracekit.context.wrap(lambda: tracekit.span("after").__enter__())
    assert root.ended
    late = worker()
    late.end()
    records = collected.traces()
    fragment = next(r for r in records if r.get("late"))
    assert fragment["trace_id"] == root.trace_id
    assert fragment["name"] == "turn"
    assert fragment["tags"] == {"env": "t"}
    assert fragment["spans"][0]["parent_span_id"] == root.span_id


def test_child_started_after_dropped_root_is_dropped_too(collected: Any) -> None:
    """A trace recorded but dropped at its end (tail sampling): a later child is dropped too."""
    reconfigure(collected, sample_rate=0.0, keep_errors=True)
    with tracekit.span("request") as root:
        bound = tracekit.context.wrap(lambda: tracekit.start_span("after"))
    assert root.is_recording  # recorded in case of an error, then dropped
    bound().end()
    assert collected.traces() == []


def test_traced_code_inside_an_exporter_is_not_traced(collected: Any) -> None:
    """An exporter calling traced code does not feed traces back into the pipeline."""

    @tracekit.trace
    def helper(n: int) -> int:
        return n + 1

    class Chatty:
        calls = 0

        def export(self, traces: Any) -> None:
            Chatty.calls += 1
            helper(len(traces))

        def flush(self, timeout_s: float) -> bool:
            return True

        def shutdown(self) -> None:
            pass

    tracekit.configure(exporters=[Chatty(), collected.exporter], raise_internal_errors=True)
    helper(1)
    assert tracekit.flush(5.0)
    time.sleep(0.2)
    assert tracekit.flush(5.0)
    assert Chatty.calls == 1
    assert len(collected.traces()) == 1


@pytest.mark.slow
def test_enable_beats_env_disabled_before_first_use(tmp_path: Path) -> None:
    """TRACEKIT_ENABLED=false then tracekit.enable(): traces are recorded."""
    code = """
        import tracekit
        tracekit.enable()
        @tracekit.trace
        def f():
            return 1
        f()
    """
    proc, _ = run_python(code, tmp_path, env={"TRACEKIT_ENABLED": "false"})
    assert proc.returncode == 0, proc.stderr
    assert len(read_jsonl(tmp_path / "home" / "traces.jsonl")) == 1


def test_exporter_raising_a_base_exception_does_not_stop_its_worker(collected: Any) -> None:
    """CancelledError or SystemExit from export() fails that batch only: it is counted, and
    the next batches are exported (the worker thread used to die, and every flush hung)."""
    flaky = CancelledOnce()
    reconfigure(collected, flaky)
    with tracekit.span("first"):
        pass
    tracekit.flush(5.0)  # the first batch: CancelledError
    for _ in range(5):
        with tracekit.span("later"):
            pass
    assert tracekit.flush(5.0)
    assert [t.to_dict()["name"] for t in flaky.traces] == ["later"] * 5
    counts = tracekit.stats()["exporters"]["CancelledOnce"]
    assert (counts["traces_failed"], counts["traces_exported"]) == (1, 5)
