"""The SQLite trace store: SqliteExporter, search_traces(), get_trace() and the JSONL reader."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

import tracekit
from tracekit.exporters import sqlite as sq
from tracekit.exporters.sqlite import SqliteExporter, StoreError, StoreFullError
from tracekit.store import (
    JsonlTraceStore,
    StoreNotFoundError,
    TraceStore,
    get_trace,
    merge_records,
    parse_time,
    search_traces,
)

BASE_NS = 1_717_200_000 * 10**9  # 2024-06-01T00:00:00Z
HOUR_NS = 3600 * 10**9


def record_trace(
    name: str,
    *,
    start_ns: int,
    duration_ms: float,
    model: str | None = None,
    provider: str | None = None,
    error: bool = False,
    cost: float | None = None,
    text: str = "",
    **trace_fields: Any,
) -> str:
    """Record one trace (a root span and, with a model, an LLM child) at a chosen time."""
    root = tracekit.start_span(name, span_type="AGENT", start_time_ns=start_ns, make_current=True)
    if trace_fields:
        tracekit.update_current_trace(**trace_fields)
    root.set_inputs({"question": text})
    if model is not None:
        llm = tracekit.start_span(
            "chat", span_type="CHAT_MODEL", parent=root, start_time_ns=start_ns
        )
        llm.set_inputs(
            [
                {"role": "system", "content": "Secret zebra rules."},
                {"role": "user", "content": text},
            ]
        )
        llm.set_model(model, provider=provider)
        llm.set_usage(input_tokens=100, output_tokens=20, total_tokens=120)
        llm.set_cost(cost)
        llm.set_outputs({"role": "assistant", "content": "Answer: " + text})
        llm.end(start_ns + int(duration_ms * 1e6 / 2))
    if error:
        root.set_status("ERROR", "boom")
    root.end(start_ns + int(duration_ms * 1e6))
    return root.trace_id


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Four traces written at once to a SQLite store and a JSONL file."""
    folder = tmp_path_factory.mktemp("corpus")
    db, jsonl = folder / "traces.db", folder / "traces.jsonl"
    tracekit.configure(exporters=[SqliteExporter(db), tracekit.JsonlExporter(jsonl)])
    ids = {
        "A": record_trace(
            "answer",
            start_ns=BASE_NS,
            duration_ms=100,
            model="gpt-4o-2024-08-06",
            provider="openai",
            cost=0.002,
            text="What is the weather in Oslo?",
            tags={"env": "prod"},
            metadata={"v": 1, "app": "x"},
            user_id="u1",
            session_id="s1",
        ),
        "B": record_trace(
            "answer",
            start_ns=BASE_NS + HOUR_NS,
            duration_ms=2500,
            model="gpt-4o-mini-2024-07-18",
            provider="openai",
            cost=0.0001,
            error=True,
            text="The capital of France",
            tags={"env": "dev"},
            user_id="u2",
        ),
        "C": record_trace(
            "summarise",
            start_ns=BASE_NS + 2 * HOUR_NS,
            duration_ms=40,
            model="claude-3-5-haiku",
            provider="anthropic",
            text="Résumé of the meeting",
            tags={"env": "prod"},
            session_id="s2",
        ),
        "D": record_trace("ingest", start_ns=BASE_NS + 3 * HOUR_NS, duration_ms=5),
    }
    assert tracekit.flush(10.0)
    tracekit.shutdown()
    yield {"sqlite": db, "jsonl": jsonl, "ids": ids}


def names_of(results: list[Any], ids: dict[str, str]) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    return [by_id[r.trace_id] for r in results]


# -- writing ---------------------------------------------------------------------------------------


def _agent() -> None:
    @tracekit.trace(span_type="TOOL")
    def lookup(city: str) -> str:
        raise TimeoutError("weather API timed out")

    @tracekit.trace(span_type="AGENT")
    def agent(question: str) -> str:
        tracekit.update_current_trace(
            user_id="u-42", session_id="s-7", tags={"env": "dev"}, metadata={"app_version": "1.4.0"}
        )
        with tracekit.span("chat", span_type="CHAT_MODEL") as s:
            s.set_inputs([{"role": "user", "content": question}])
            s.set_model("gpt-4o-mini-2024-07-18", provider="openai")
            s.set_usage(
                input_tokens=1200, output_tokens=35, total_tokens=1235, cached_input_tokens=1024
            )
            s.set_cost(0.0000756)
            s.set_attribute("temperature", 0.2)
            s.add_event("retry", {"attempt": 2})
            s.set_outputs({"role": "assistant", "content": "Let me check the weather."})
        try:
            lookup("Oslo")
        except TimeoutError:
            return "Sorry, I could not check the weather."
        return "unreachable"

    agent("What is the weather in Oslo?")


def test_stored_trace_reads_back_as_the_exported_record(tmp_path: Path, collected: Any) -> None:
    """get_trace().to_record() equals the record the exporter was given."""
    path = tmp_path / "t.db"
    tracekit.configure(exporters=[SqliteExporter(path), collected.exporter])
    _agent()
    (record,) = collected.traces()
    detail = get_trace(record["trace_id"], path=path)
    assert detail is not None
    assert detail.to_record() == record


def test_search_summary_matches_the_record_summary(tmp_path: Path, collected: Any) -> None:
    """search_traces() returns the record's summary fields, plus providers."""
    path = tmp_path / "t.db"
    tracekit.configure(exporters=[SqliteExporter(path), collected.exporter])
    _agent()
    (record,) = collected.traces()
    (summary,) = search_traces(path=path)
    dumped = summary.model_dump()
    for key in (
        "trace_id",
        "name",
        "start_time_ns",
        "end_time_ns",
        "duration_ms",
        "status",
        "span_count",
        "error_count",
        "usage",
        "cost_usd",
        "models",
        "tags",
        "metadata",
        "user_id",
        "session_id",
    ):
        assert dumped[key] == record[key], key
    assert summary.providers == ["openai"]
    assert summary.start_time == datetime.fromtimestamp(record["start_time_ns"] / 1e9, UTC)


def test_late_span_merges_into_its_trace(tmp_path: Path) -> None:
    """A span ending after its root is merged into the stored trace, not a second trace."""
    path = tmp_path / "t.db"
    tracekit.configure(exporters=[SqliteExporter(path)])
    started = threading.Event()

    def background() -> None:
        with tracekit.span("background-write") as s:
            s.set_usage(input_tokens=5)
            started.set()
            time.sleep(0.05)

    with tracekit.span("handler"):
        t = threading.Thread(target=tracekit.context.wrap(background))
        t.start()
        started.wait()
    t.join()
    assert tracekit.flush()
    (summary,) = search_traces(path=path)
    assert (summary.span_count, summary.late_span_count, summary.usage) == (
        2,
        1,
        {"input_tokens": 5},
    )
    detail = get_trace(summary.trace_id, path=path)
    assert detail is not None
    assert [c.name for c in detail.spans[0].children] == ["background-write"]
    assert detail.spans[0].children[0].late


def _records_with_late_span() -> list[Any]:
    mem = tracekit.InMemoryExporter()
    tracekit.configure(exporters=[mem])
    with tracekit.span("handler") as root:
        late = tracekit.start_span("late-child", parent=root)
    late.set_status("ERROR", "failed later")
    late.end()
    assert tracekit.flush()
    return mem.traces


def test_late_record_stored_before_its_main_record_merges(tmp_path: Path) -> None:
    """A late record arriving first is completed by the main record later."""
    main, late = _records_with_late_span()
    exporter = SqliteExporter(tmp_path / "t.db")
    exporter.export([late])
    (first,) = search_traces(path=tmp_path / "t.db")
    assert (first.has_root, first.status, first.name) == (False, "ERROR", "handler")
    exporter.export([main])
    (merged,) = search_traces(path=tmp_path / "t.db")
    assert (merged.has_root, merged.status, merged.span_count, merged.error_count) == (
        True,
        "OK",
        2,
        1,
    )
    assert merged.start_time_ns == main.to_dict()["start_time_ns"]


def test_same_batch_exported_twice_is_stored_once(tmp_path: Path) -> None:
    """Re-exporting a trace adds nothing (spans are inserted or ignored)."""
    main, late = _records_with_late_span()
    exporter = SqliteExporter(tmp_path / "t.db")
    exporter.export([main, late])
    exporter.export([main, late])
    (summary,) = search_traces(path=tmp_path / "t.db")
    assert summary.span_count == 2
    detail = get_trace(summary.trace_id, path=tmp_path / "t.db")
    assert detail is not None and len(list(detail.walk())) == 2


def _many_traces(n: int) -> list[Any]:
    """``n`` recorded traces named t0, t1, ... (a root and a chat span each), not exported."""
    mem = tracekit.InMemoryExporter()
    tracekit.configure(exporters=[mem])
    for i in range(n):
        record_trace(f"t{i}", start_ns=BASE_NS + i, duration_ms=1, model="m", text=f"w{i}")
    assert tracekit.flush()
    return mem.traces


def test_a_large_batch_sent_again_merges_every_trace(tmp_path: Path) -> None:
    """A batch larger than one id lookup (500 trace ids) sent twice adds nothing the second
    time, and a batch mixing stored and new traces stores only the new ones."""
    traces = _many_traces(1_203)
    path = tmp_path / "t.db"
    exporter = SqliteExporter(path)
    exporter.export(traces[:1_100])
    exporter.export(traces)  # 1 100 stored, 103 new
    exporter.export(traces[::-1])
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*), count(DISTINCT trace_id) FROM traces").fetchone() == (
        1_203,
        1_203,
    )
    assert db.execute("SELECT count(*) FROM spans").fetchone() == (2 * 1_203,)
    assert db.execute("SELECT count(*) FROM trace_facets").fetchone() == (1_203,)
    assert [t.name for t in search_traces(path=path, text="w1202")] == ["t1202"]


def test_a_batch_is_written_with_few_statements(tmp_path: Path) -> None:
    """Each statement SQLite steps is a release of the GIL, which the app's threads pay for
    while they are busy: 150 traces go in with a handful of INSERTs, not one per row."""
    traces = _many_traces(150)
    exporter = SqliteExporter(tmp_path / "t.db")
    conn = exporter._connection().conn
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    exporter.export(traces)
    inserts = [s.split(" (")[0] for s in statements if s.startswith("INSERT")]
    # The first batch also trains a compression dictionary and interns the model name. 150
    # rows: 100 + 32 + 16 + 2; 300 span rows: 3 x 100.
    assert sorted(inserts) == sorted(
        ["INSERT INTO dictionaries", "INSERT INTO names"]
        + ["INSERT INTO traces"] * 4
        + ["INSERT INTO spans"] * 3
        + ["INSERT OR IGNORE INTO trace_facets"] * 4
        + ["INSERT INTO trace_text"] * 4
    ), inserts
    assert [t.name for t in search_traces(path=tmp_path / "t.db", text="w149")] == ["t149"]


def test_rows_are_split_to_fit_sqlite_parameter_limit() -> None:
    """Older SQLite builds allow 999 parameters per statement: the rows are split to fit."""
    conn = sqlite3.connect(":memory:")
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 7)
    conn.execute("CREATE TABLE t (a, b, c)")
    rows = [(i, str(i), float(i)) for i in range(11)]
    sq._insert_rows(conn, ("INSERT INTO t (a, b, c) VALUES ", 3), rows)
    assert conn.execute("SELECT a, b, c FROM t ORDER BY a").fetchall() == rows


def test_row_counts_of_any_size_reuse_a_few_statement_shapes() -> None:
    """Every count of rows goes in whole, with statements of a few sizes only (prepared
    statements are cached by their text)."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a, b)")
    shapes: set[str] = set()
    conn.set_trace_callback(
        lambda sql: shapes.add(str(sql.count("("))) if sql.startswith("INSERT") else None
    )
    total = 0
    for n in range(1, 260):
        rows = [(total + i, "x") for i in range(n)]
        sq._insert_rows(conn, ("INSERT INTO t (a, b) VALUES ", 2), rows)
        total += n
    assert conn.execute("SELECT count(*), count(DISTINCT a) FROM t").fetchone() == (total, total)
    assert len(shapes) == 8, sorted(shapes)  # 100, 64, 32, 16, 8, 4, 2 and 1 rows


def test_late_record_merges_inside_a_batch_of_many_rows(tmp_path: Path) -> None:
    """A trace's main and late records in a batch of more than 100 rows per table: the rows
    held back are written before the merge reads them."""
    main, late = _records_with_late_span()
    batch = _many_traces(130)
    path = tmp_path / "t.db"
    SqliteExporter(path).export([*batch[:120], main, *batch[120:], late])
    (handler,) = [t for t in search_traces(path=path, limit=500) if t.name == "handler"]
    assert (handler.span_count, handler.late_span_count, handler.error_count) == (2, 1, 1)
    assert len(search_traces(path=path, limit=500)) == 131


def test_row_ids_of_pruned_traces_are_not_reused(tmp_path: Path) -> None:
    """The text index and facets refer to traces by row id: a trace stored after the newest
    one was pruned gets a new id, never the pruned one's."""
    path = tmp_path / "t.db"
    tracekit.configure(exporters=[SqliteExporter(path)])
    for name in ("old-1", "old-2"):
        record_trace(name, start_ns=BASE_NS, duration_ms=1, model="m", text="gone")
    assert tracekit.flush()
    db = sqlite3.connect(path)
    pruned = {row[0] for row in db.execute("SELECT id FROM traces")}
    with TraceStore.open(path) as store:
        assert store.prune("30d").traces == 2
    record_trace("new", start_ns=time.time_ns(), duration_ms=1, model="m", text="fresh")
    assert tracekit.flush()
    ((new_id,),) = db.execute("SELECT id FROM traces").fetchall()
    assert new_id > max(pruned)
    assert search_traces(path=path, text="gone") == []
    assert [t.name for t in search_traces(path=path, text="fresh")] == ["new"]


def test_a_store_whose_id_sequence_was_lost_still_takes_traces(tmp_path: Path) -> None:
    """New traces are numbered after the highest stored id even without sqlite_sequence's
    row (a store rebuilt with the sqlite3 shell's .recover, for one)."""
    path = tmp_path / "t.db"
    tracekit.configure(exporters=[SqliteExporter(path)])
    record_trace("first", start_ns=BASE_NS, duration_ms=1, model="m", text="one")
    assert tracekit.flush()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DELETE FROM sqlite_sequence")
    record_trace("second", start_ns=BASE_NS + 1, duration_ms=1, model="m", text="two")
    assert tracekit.flush()
    assert tracekit.stats()["exporters"]["SqliteExporter"]["traces_failed"] == 0
    assert sorted(t.name for t in search_traces(path=path)) == ["first", "second"]


@pytest.mark.slow
def test_four_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    """4 processes x 1000 traces into one store: every trace is there."""
    path = tmp_path / "shared.db"
    SqliteExporter(path)  # created once, so the writers race on writes, not on creation
    code = textwrap.dedent(
        f"""
        import tracekit
        from tracekit.exporters.sqlite import SqliteExporter
        tracekit.configure(exporters=[SqliteExporter({str(path)!r})], export_batch_size=50)
        @tracekit.trace
        def work(i):
            with tracekit.span("llm", span_type="LLM") as s:
                s.set_model("m", provider="p")
                s.set_usage(input_tokens=i)
            return "x" * 500
        for i in range(1000):
            work(i)
        tracekit.flush(60)
        print(tracekit.stats()["exporters"]["SqliteExporter"]["traces_failed"])
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    assert [o.strip() for o in outputs] == ["0"] * 4
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*), sum(span_count) FROM traces").fetchone() == (4000, 8000)


def test_store_file_and_directory_are_private(tmp_path: Path) -> None:
    """A new store file (and its WAL files) are 0600, a new directory 0700."""
    path = tmp_path / "new" / "dir" / "traces.db"
    tracekit.configure(exporters=[SqliteExporter(path)])
    with tracekit.span("x"):
        pass
    assert tracekit.flush()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    for extra in ("-wal", "-shm"):
        side = path.with_name(path.name + extra)
        if side.exists():
            assert stat.S_IMODE(side.stat().st_mode) == 0o600


def test_text_file_is_rejected_at_configure(tmp_path: Path) -> None:
    """configure(exporters=['sqlite']) over a text file raises ConfigurationError naming it."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "traces.db").write_text("hello\n")
    with pytest.raises(tracekit.ConfigurationError, match=r"'sqlite'.*not a SQLite database"):
        tracekit.configure(home=home, exporters=["sqlite"])


def test_foreign_sqlite_database_is_rejected(tmp_path: Path) -> None:
    """A SQLite file with other tables is not taken over."""
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=r"not a tracekit store.*invoices"):
        SqliteExporter(path)


def test_path_that_cannot_be_created_is_rejected(tmp_path: Path) -> None:
    """A store under a regular file fails at construction with the path in the message."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match=r"trace store .*file/traces\.db: Not a directory"):
        SqliteExporter(blocker / "traces.db")


def test_locked_store_fails_at_construction(tmp_path: Path) -> None:
    """A store whose write lock another connection holds fails after busy_timeout_s."""
    path = tmp_path / "t.db"
    SqliteExporter(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="locked"):
            SqliteExporter(path, busy_timeout_s=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_store_from_a_newer_tracekit_is_rejected(tmp_path: Path) -> None:
    """A layout version above ours raises a message asking to upgrade."""
    path = tmp_path / "t.db"
    SqliteExporter(path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer than this tracekit"):
        SqliteExporter(path)


def _build_v1_store(path: Path) -> str:
    """A version-1 store made by hand: its DDL and one trace whose payload uses dictionary 0."""
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(sq.SCHEMA_V1)
    db.executemany(
        "INSERT INTO meta VALUES (?, ?)", [("format", "tracekit-store"), ("schema_version", "1")]
    )
    db.execute(f"PRAGMA application_id = {sq.APPLICATION_ID}")
    db.execute("PRAGMA user_version = 1")
    trace_id = "ab" * 16
    db.execute(
        "INSERT INTO traces (trace_id, name, start_time_ns, end_time_ns, status, span_count,"
        " error_count, late_span_count, has_root, models, providers, tags, metadata)"
        " VALUES (?, 'legacy', ?, ?, 'OK', 1, 0, 0, 1, '[]', '[]', '{}', '{}')",
        (bytes.fromhex(trace_id), BASE_NS, BASE_NS + 10**6),
    )
    payload = {
        "trace_name": "legacy",
        "name": "legacy",
        "span_type": "AGENT",
        "inputs": {"q": "old penguin"},
    }
    comp = zlib.compressobj(6, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, sq.STATIC_DICT)
    segment = comp.compress(orjson.dumps(payload)) + comp.flush(zlib.Z_SYNC_FLUSH)
    db.execute(
        "INSERT INTO spans (trace_rowid, span_id, frag, seq, dict_id, start_time_ns, end_time_ns,"
        " status, late, payload) VALUES (1, ?, 0, 0, 0, ?, ?, 'OK', 0, ?)",
        (bytes.fromhex("cd" * 8), BASE_NS, BASE_NS + 10**6, segment),
    )
    db.close()
    return trace_id


def test_version_1_store_is_migrated_on_open(tmp_path: Path) -> None:
    """Opening a version-1 store upgrades it; its traces stay readable and text-searchable."""
    path = tmp_path / "old.db"
    trace_id = _build_v1_store(path)
    exporter = SqliteExporter(path)
    assert (exporter.info.version, exporter.info.migrated_from) == (2, 1)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "2"
    assert [t.trace_id for t in search_traces(text="penguin", path=path)] == [trace_id]
    detail = get_trace(trace_id, path=path)
    assert detail is not None and detail.spans[0].inputs == {"q": "old penguin"}


def test_disk_full_fails_the_batch_and_keeps_earlier_ones(tmp_path: Path) -> None:
    """When the store is full, export() raises StoreFullError and stores nothing of that batch."""
    path = tmp_path / "t.db"
    mem = tracekit.InMemoryExporter()
    tracekit.configure(exporters=[mem])
    for i in range(200):
        with tracekit.span(f"s{i}") as s:
            s.set_outputs(os.urandom(3000).hex())  # incompressible: fills pages fast
    assert tracekit.flush()
    traces = mem.traces
    exporter = SqliteExporter(path, pragmas={"max_page_count": 60})
    stored = 0
    with pytest.raises(
        StoreFullError, match=r"full.*batch of 10 traces \(10 spans\) was not stored"
    ):
        for i in range(0, len(traces), 10):
            exporter.export(traces[i : i + 10])
            stored += 10
    assert 0 < stored < 200
    assert len(search_traces(path=path, limit=None)) == stored


def test_disk_full_is_counted_and_never_raises_in_the_app(tmp_path: Path) -> None:
    """Through the pipeline a full store counts failed traces; traced code runs on."""
    path = tmp_path / "t.db"
    tracekit.configure(
        exporters=[SqliteExporter(path, pragmas={"max_page_count": 40})], export_batch_size=5
    )
    for _ in range(100):
        with tracekit.span("big") as s:
            s.set_outputs(os.urandom(3000).hex())
    assert tracekit.flush()
    counts = tracekit.stats()["exporters"]["SqliteExporter"]
    assert counts["traces_failed"] > 0
    assert counts["traces_exported"] + counts["traces_failed"] == 100
    assert len(search_traces(path=path, limit=None)) == counts["traces_exported"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_child_writes_through_its_own_connection(tmp_path: Path) -> None:
    """Parent and forked child both store traces; the child does not use the parent's connection."""
    path = tmp_path / "t.db"
    exporter = SqliteExporter(path)
    tracekit.configure(exporters=[exporter])
    with tracekit.span("before-fork"):
        pass
    assert tracekit.flush()
    parent_conn = exporter._open[0]
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            with tracekit.span("child"):
                pass
            ok = tracekit.flush(10)
            reused = any(c is parent_conn for c in exporter._open)
            code = 0 if ok and not reused and parent_conn in sq._INHERITED else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with tracekit.span("after-fork"):
        pass
    assert tracekit.flush()
    assert sorted(t.name for t in search_traces(path=path)) == [
        "after-fork",
        "before-fork",
        "child",
    ]


def test_dictionary_is_trained_from_recurring_prompts(tmp_path: Path) -> None:
    """After 32+ traces sharing a system prompt, a trained dictionary holding it is used."""
    prompt = "You are a meticulous assistant. " * 8
    path = tmp_path / "t.db"
    tracekit.configure(exporters=[SqliteExporter(path)], export_batch_size=100)
    for i in range(40):
        with tracekit.span("chat", span_type="CHAT_MODEL") as s:
            s.set_inputs(
                [
                    {"role": "system", "content": prompt},
                    {"role": "user", "content": f"question {i}"},
                ]
            )
    assert tracekit.flush()
    db = sqlite3.connect(path)
    (dict_id, data) = db.execute("SELECT id, data FROM dictionaries").fetchone()
    assert orjson.dumps({"role": "system", "content": prompt}) in data
    used = db.execute("SELECT count(*) FROM spans WHERE dict_id = ?", (dict_id,)).fetchone()[0]
    assert used >= 32  # the first batch (the first trace alone) may precede the training
    latest = search_traces(path=path, limit=1)[0]
    detail = get_trace(latest.trace_id, path=path)
    assert detail is not None and detail.spans[0].inputs[0]["content"] == prompt


def test_export_after_shutdown_raises(tmp_path: Path) -> None:
    """export() on a shut-down exporter raises (the pipeline counts it), it does not reopen."""
    exporter = SqliteExporter(tmp_path / "t.db")
    exporter.shutdown()
    (trace,) = _records_with_late_span()[:1]
    with pytest.raises(StoreError, match="shut down"):
        exporter.export([trace])


# -- searching ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "jsonl"])
@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["D", "C", "B", "A"]),
        ({"model": "gpt-4o*"}, ["B", "A"]),
        ({"model": "gpt-4o-2024-08-06"}, ["A"]),
        ({"model": "gpt-5"}, []),
        ({"provider": "anthropic"}, ["C"]),
        ({"status": "error"}, ["B"]),
        ({"tags": {"env": "prod"}}, ["C", "A"]),
        ({"tags": {"env": "prod"}, "model": "claude*"}, ["C"]),
        ({"metadata": {"v": 1}}, ["A"]),
        ({"metadata": {"v": "1"}}, []),
        ({"user_id": "u2"}, ["B"]),
        ({"session_id": "s2"}, ["C"]),
        ({"name": "answer"}, ["B", "A"]),
        ({"min_duration_ms": 1000}, ["B"]),
        ({"min_cost_usd": 0.001}, ["A"]),
        (
            {
                "since": datetime.fromtimestamp((BASE_NS + HOUR_NS) / 1e9, UTC),
                "until": "2024-06-01T03:00:00Z",
            },
            ["C", "B"],
        ),
        ({"since": BASE_NS / 1e9 + 1}, ["D", "C", "B"]),
        ({"text": "oslo"}, ["A"]),
        ({"text": "capi FRAN"}, ["B"]),
        ({"text": "resume meeting"}, ["C"]),
        ({"text": "zebra"}, []),
        ({"text": "summarise"}, ["C"]),
        ({"order_by": "-duration"}, ["B", "A", "C", "D"]),
        ({"order_by": "cost"}, ["B", "A", "C", "D"]),
        ({"order_by": "-cost"}, ["A", "B", "D", "C"]),
        ({"order_by": "start_time", "limit": 2, "offset": 1}, ["B", "C"]),
    ],
)
def test_filters_select_the_same_traces_in_sqlite_and_jsonl(
    corpus: dict[str, Any], kind: str, filters: dict[str, Any], expected: list[str]
) -> None:
    """Each filter and ordering gives the expected traces, from either kind of store."""
    found = search_traces(path=corpus[kind], **filters)
    assert names_of(found, corpus["ids"]) == expected


@pytest.mark.parametrize("kind", ["sqlite", "jsonl"])
def test_trace_id_prefix_finds_the_trace(corpus: dict[str, Any], kind: str) -> None:
    """search_traces(trace_id=prefix) and get_trace(prefix) find that trace."""
    full = corpus["ids"]["C"]
    assert names_of(search_traces(path=corpus[kind], trace_id=full[:8]), corpus["ids"]) == ["C"]
    detail = get_trace(full[:8].upper(), path=corpus[kind])
    assert detail is not None and detail.trace_id == full


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"status": "WARN"}, "status must be 'OK' or 'ERROR'"),
        ({"since": "yesterday"}, "since: cannot read 'yesterday'"),
        ({"since": "1h", "until": "2h"}, "since .* is later than until"),
        ({"order_by": "name"}, "order_by must be one of"),
        ({"limit": 0}, "limit must be a positive integer"),
        ({"offset": -1}, "offset must be an integer"),
        ({"tags": {"env": 1}}, "tags must map strings to strings"),
        ({"metadata": {"k": [1]}}, r"metadata\['k'\]: only str"),
        ({"min_duration_ms": -5}, "min_duration_ms must be 0 or more"),
        ({"min_cost_usd": "cheap"}, "min_cost_usd must be a number"),
        ({"trace_id": "xyz"}, "trace_id must be up to 32 hex digits"),
        ({"text": "!!!"}, "text must contain at least one letter"),
        ({"model": ""}, "model must be a non-empty string"),
    ],
)
def test_bad_filter_values_raise_value_error(
    tmp_path: Path, filters: dict[str, Any], message: str
) -> None:
    """Invalid filters raise ValueError naming the filter, before any store is opened."""
    with pytest.raises(ValueError, match=message):
        search_traces(path=tmp_path / "absent.db", **filters)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30m", 10**12 - 30 * 60 * 10**9),
        ("1h", 10**12 - HOUR_NS),
        ("7d", 10**12 - 7 * 24 * HOUR_NS),
        ("1h30m", 10**12 - 90 * 60 * 10**9),
        ("2024-06-01T00:00:00Z", BASE_NS),
        ("2024-06-01T02:00:00+02:00", BASE_NS),
        (1_717_200_000, BASE_NS),
        ("1717200000.5", BASE_NS + 500_000_000),
        (datetime(2024, 6, 1, tzinfo=UTC), BASE_NS),
    ],
)
def test_parse_time_reads_durations_dates_and_epochs(value: Any, expected: int) -> None:
    """Durations count back from now; ISO strings, epochs and datetimes are absolute."""
    assert parse_time(value, now_ns=10**12) == expected


def test_default_store_is_traces_db_under_tracekit_home(tmp_path: Path) -> None:
    """Without path=, searches read $TRACEKIT_HOME/traces.db (what the 'sqlite' name writes)."""
    tracekit.configure(exporters=["sqlite"])
    with tracekit.span("homed"):
        pass
    assert tracekit.flush()
    assert Path(os.environ["TRACEKIT_HOME"], "traces.db").exists()
    assert [t.name for t in search_traces()] == ["homed"]


def test_missing_default_store_points_at_the_jsonl_file(tmp_path: Path) -> None:
    """With only traces.jsonl at home, the error says where the traces are."""
    tracekit.configure(exporters=["jsonl"])
    with tracekit.span("x"):
        pass
    assert tracekit.flush()
    with pytest.raises(
        StoreNotFoundError, match=r"no trace store at .*traces.db; traces are in .*traces.jsonl"
    ):
        search_traces()


def test_get_trace_unknown_id_returns_none(corpus: dict[str, Any]) -> None:
    """An id no trace has gives None."""
    assert get_trace("0" * 32, path=corpus["sqlite"]) is None


def test_get_trace_rejects_short_prefix(corpus: dict[str, Any]) -> None:
    """A prefix under 6 hex digits is a ValueError."""
    with pytest.raises(ValueError, match="at least 6 hex digits"):
        get_trace("abc", path=corpus["sqlite"])


def test_get_trace_rejects_ambiguous_prefix(tmp_path: Path) -> None:
    """A prefix shared by two traces is a ValueError listing them."""
    main, late = _records_with_late_span()
    records = [
        main.to_dict(),
        {**late.to_dict(), "trace_id": main.trace_id[:6] + "f" * 26, "late": False},
    ]
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in records) + b"\n")
    with pytest.raises(ValueError, match="matches several traces"):
        get_trace(main.trace_id[:6], path=path)


def test_jsonl_reader_merges_late_records_and_skips_broken_lines(tmp_path: Path) -> None:
    """A late record merges; a cut line and a record off the schema are skipped and counted."""
    main, late = _records_with_late_span()
    path = tmp_path / "t.jsonl"
    not_a_record = b'{"trace_id": "' + b"e" * 32 + b'", "spans": [{"name": "no ids"}]}\n'
    path.write_bytes(
        main.to_json() + b"\n" + b'{"trace_id": "cut sh\n' + not_a_record + late.to_json() + b"\n"
    )
    store = TraceStore.open(path)
    (summary,) = store.search()
    assert (summary.span_count, summary.late_span_count, summary.error_count) == (2, 1, 1)
    assert isinstance(store, JsonlTraceStore)
    assert (store.skipped_lines, store.skipped_traces) == (1, 1)
    assert len(merge_records([main.to_dict(), late.to_dict()])) == 1


def test_text_search_without_full_text_index_scans(tmp_path: Path) -> None:
    """A store made with text_index=False still answers text= (by decompressing)."""
    path = tmp_path / "t.db"
    tracekit.configure(exporters=[SqliteExporter(path, text_index=False)])
    for word in ("alpha", "beta", "gamma"):
        with tracekit.span(f"step-{word}") as s:
            s.set_outputs(f"the {word} result")
    assert tracekit.flush()
    db = sqlite3.connect(path)
    assert db.execute(
        "SELECT count(*) FROM sqlite_master WHERE name = 'trace_text'"
    ).fetchone() == (0,)
    assert [t.name for t in search_traces(path=path, text="bet")] == ["step-beta"]
    assert [t.name for t in search_traces(path=path, text="result", limit=1, offset=1)] == [
        "step-beta"
    ]


def test_prune_deletes_old_traces_and_their_index_entries(tmp_path: Path) -> None:
    """prune(older_than) removes older traces from every table, including the text index."""
    path = tmp_path / "t.db"
    tracekit.configure(exporters=[SqliteExporter(path)])
    record_trace(
        "old", start_ns=BASE_NS, duration_ms=1, model="m1", text="ancient relic", tags={"k": "v"}
    )
    record_trace(
        "new",
        start_ns=time.time_ns(),
        duration_ms=1,
        model="m1",
        text="fresh relic",
        tags={"k": "v"},
    )
    assert tracekit.flush()
    with TraceStore.open(path) as store:
        assert store.prune("30d", dry_run=True).traces == 1
        result = store.prune("30d", vacuum=True)
    assert (result.traces, result.spans, result.vacuumed) == (1, 2, True)
    assert [t.name for t in search_traces(path=path, text="relic")] == ["new"]
    assert search_traces(path=path, text="ancient") == []
    assert [t.name for t in search_traces(path=path, model="m1", tags={"k": "v"})] == ["new"]
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM trace_facets").fetchone() == (2,)
    db.execute("INSERT INTO trace_text (trace_text, rank) VALUES ('integrity-check', 0)")


def test_stats_aggregate_by_model_and_day(corpus: dict[str, Any]) -> None:
    """stats() gives calls, tokens, cost, error rate and latency per model, traces per day."""
    with TraceStore.open(corpus["sqlite"]) as store:
        result = store.stats()
    by_model = {m.model: m for m in result.by_model}
    assert set(by_model) == {"gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "claude-3-5-haiku"}
    gpt = by_model["gpt-4o-mini-2024-07-18"]
    assert (gpt.calls, gpt.input_tokens, gpt.output_tokens, gpt.cost_usd, gpt.p50_ms) == (
        1,
        100,
        20,
        0.0001,
        1250.0,
    )
    assert result.traces == 4
    assert sum(d.traces for d in result.by_day) == 4
    assert sum(d.errors for d in result.by_day) == 1
    with TraceStore.open(corpus["jsonl"]) as store:
        assert store.stats().model_dump() == result.model_dump()


def test_store_records_are_json_serialisable(corpus: dict[str, Any]) -> None:
    """Summaries and details dump to JSON (what the CLI's --json prints)."""
    detail = get_trace(corpus["ids"]["A"], path=corpus["sqlite"])
    assert detail is not None
    dumped = json.loads(detail.model_dump_json())
    assert dumped["spans"][0]["children"][0]["model"] == "gpt-4o-2024-08-06"
