"""The ``tracekit`` command line, run through typer's CliRunner against a store of real traces."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tracekit
from tracekit.cli import app
from tracekit.exporters.sqlite import SqliteExporter

runner = CliRunner()
LONG_INPUT = "weather " * 60


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A store with an OK agent trace (two LLM calls) and a failed one, written by tracekit."""
    path = tmp_path_factory.mktemp("cli") / "traces.db"
    tracekit.configure(exporters=[SqliteExporter(path)])

    @tracekit.trace(span_type="TOOL")
    def lookup(city: str) -> str:
        raise TimeoutError("weather API timed out")

    @tracekit.trace(span_type="AGENT")
    def agent(question: str, fail: bool) -> str:
        tracekit.update_current_trace(user_id="u1" if not fail else "u2", tags={"env": "prod"})
        for model, cost in (("gpt-4o-mini-2024-07-18", 0.0001), ("gpt-4o-2024-08-06", 0.002)):
            with tracekit.span("chat", span_type="CHAT_MODEL") as s:
                s.set_inputs([{"role": "user", "content": question}])
                s.set_model(model, provider="openai")
                s.set_usage(input_tokens=1200, output_tokens=35, total_tokens=1235)
                s.set_cost(cost)
                s.set_outputs({"role": "assistant", "content": "Checking."})
        if fail:
            lookup("Oslo")
        return "done"

    agent(LONG_INPUT, False)
    with pytest.raises(TimeoutError):
        agent("short question", True)
    assert tracekit.flush(10.0)
    tracekit.shutdown()
    rows = sqlite3.connect(path).execute("SELECT hex(trace_id), status FROM traces").fetchall()
    ids = {status: tid.lower() for tid, status in rows}
    yield {"path": path, "ok": ids["OK"], "error": ids["ERROR"]}


def run(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, list(args), input=input)


def test_ls_prints_a_table_of_traces(store: dict[str, Any]) -> None:
    """ls shows one row per trace with id prefix, name, status, tokens, cost and models."""
    result = run("traces", "ls", "--store", str(store["path"]))
    assert result.exit_code == 0, result.output
    assert store["ok"][:12] in result.stdout and store["error"][:12] in result.stdout
    assert "ERROR" in result.stdout and "2400/70" in result.stdout
    assert "gpt-4o-mini-2024-07-18, gpt-4o-2024-08-06" in result.stdout
    assert "$0.0021" in result.stdout


def test_ls_json_applies_filters(store: dict[str, Any]) -> None:
    """ls --json prints a JSON array of the traces the filter flags select."""
    result = run(
        "traces", "ls", "--json", "--store", str(store["path"]),
        "--status", "ERROR", "--model", "gpt-4o*", "--tag", "env=prod", "--user", "u2",
        "--since", "1h", "--text", "short",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert record["trace_id"] == store["error"]
    assert record["error_count"] == 2


def test_ls_with_no_match_says_so(store: dict[str, Any]) -> None:
    """A filter matching nothing prints a message and exits 0 (JSON: an empty array)."""
    result = run("traces", "ls", "--store", str(store["path"]), "--model", "llama*")
    assert (result.exit_code, result.stdout.strip()) == (0, "No traces match.")
    result = run("traces", "ls", "--json", "--store", str(store["path"]), "--user", "nobody")
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "since: cannot read 'yesterday'"),
        (["--status", "WARN"], "status must be 'OK' or 'ERROR'"),
        (["--tag", "env"], "expected KEY=VALUE"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_ls_bad_filter_is_a_usage_error(
    store: dict[str, Any], args: list[str], message: str
) -> None:
    """Bad filter values exit with code 2 and a message on stderr."""
    result = run("traces", "ls", "--store", str(store["path"]), *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_missing_store_exits_1(tmp_path: Path) -> None:
    """A store path with no file exits 1 with 'no trace store'."""
    result = run("traces", "ls", "--store", str(tmp_path / "nope.db"))
    assert result.exit_code == 1
    assert "no trace store at" in result.stderr


def test_file_that_is_not_a_store_exits_3(tmp_path: Path) -> None:
    """A file that is not a tracekit store exits 3."""
    path = tmp_path / "notes.db"
    path.write_text("not sqlite")
    result = run("stats", "--store", str(path))
    assert result.exit_code == 3
    assert "not a SQLite database" in result.stderr


def test_default_store_comes_from_tracekit_home(
    monkeypatch: pytest.MonkeyPatch, store: dict[str, Any]
) -> None:
    """Without --store, the CLI reads $TRACEKIT_HOME/traces.db."""
    monkeypatch.setenv("TRACEKIT_HOME", str(store["path"].parent))
    tracekit.shutdown()  # no configured home: the variable decides
    result = run("traces", "ls", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 2


def test_show_prints_the_span_tree(store: dict[str, Any]) -> None:
    """show ID-PREFIX prints spans with types, bars, durations, models, tokens and the error."""
    result = run("traces", "show", store["error"][:8], "--store", str(store["path"]))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"Trace {store['error']}" in out
    for text in (
        "agent [AGENT]",
        "chat [CHAT_MODEL]",
        "lookup [TOOL]",
        "gpt-4o-2024-08-06",
        "1200/35 tok",
        "$0.002",
        "TimeoutError: weather API timed out",
        "█",
    ):
        assert text in out, text
    assert "user u2" in out and "tags env=prod" in out


def test_show_truncates_inputs_unless_full(store: dict[str, Any]) -> None:
    """Long inputs are cut with … by default and printed whole with --full."""
    short = run("traces", "show", store["ok"], "--store", str(store["path"])).stdout
    assert LONG_INPUT.strip() not in short and "…" in short
    full = run("traces", "show", store["ok"], "--full", "--store", str(store["path"])).stdout
    assert full.count("weather") >= 3 * 60  # the agent's and both chat spans' inputs, whole
    assert short.count("weather") < 60


def test_show_json_nests_children(store: dict[str, Any]) -> None:
    """show --json prints the trace with spans nested under their parents."""
    result = run("traces", "show", store["ok"], "--json", "--store", str(store["path"]))
    detail = json.loads(result.stdout)
    assert [c["name"] for c in detail["spans"][0]["children"]] == ["chat", "chat"]


def test_show_unknown_id_exits_1(store: dict[str, Any]) -> None:
    """An id no trace has exits 1."""
    result = run("traces", "show", "0" * 32, "--store", str(store["path"]))
    assert result.exit_code == 1
    assert "no trace '000000" in result.stderr


def test_show_short_prefix_exits_2(store: dict[str, Any]) -> None:
    """A prefix under 6 hex digits is a usage error."""
    result = run("traces", "show", "abc", "--store", str(store["path"]))
    assert result.exit_code == 2
    assert "at least 6 hex digits" in result.stderr


def test_stats_by_model_and_day(store: dict[str, Any]) -> None:
    """stats prints per-model and per-day tables; --json has the numbers."""
    result = run("stats", "--store", str(store["path"]))
    assert result.exit_code == 0, result.output
    assert "By model" in result.stdout and "By day" in result.stdout
    assert "gpt-4o-mini-2024-07-18" in result.stdout
    data = json.loads(run("stats", "--json", "--since", "1d", "--store", str(store["path"])).stdout)
    calls = {m["model"]: m["calls"] for m in data["by_model"]}
    assert calls == {"gpt-4o-mini-2024-07-18": 2, "gpt-4o-2024-08-06": 2}
    assert data["by_day"][0]["traces"] == 2 and data["by_day"][0]["error_rate"] == 0.5


def test_export_jsonl_round_trips(store: dict[str, Any], tmp_path: Path) -> None:
    """export writes one record per trace; the file reads back through --store FILE.jsonl."""
    result = run("traces", "export", "--format", "jsonl", "--store", str(store["path"]))
    lines = result.stdout.splitlines()
    assert result.exit_code == 0 and len(lines) == 2
    assert {json.loads(line)["trace_id"] for line in lines} == {store["ok"], store["error"]}
    out = tmp_path / "dump.jsonl"
    result = run(
        "traces", "export", "-o", str(out), "--status", "ERROR", "--store", str(store["path"])
    )
    assert result.exit_code == 0 and "Exported 1 trace" in result.stderr
    listed = json.loads(run("traces", "ls", "--json", "--store", str(out)).stdout)
    assert [t["trace_id"] for t in listed] == [store["error"]]


def _prunable_store(tmp_path: Path) -> Path:
    path = tmp_path / "p.db"
    tracekit.configure(exporters=[SqliteExporter(path)])
    old = tracekit.start_span("old", start_time_ns=1_717_200_000 * 10**9)
    old.end(1_717_200_001 * 10**9)
    with tracekit.span("new"):
        pass
    assert tracekit.flush()
    return path


def test_prune_with_yes_deletes_and_counts(tmp_path: Path) -> None:
    """prune --older-than 30d --yes deletes older traces and says how many."""
    path = _prunable_store(tmp_path)
    result = run("traces", "prune", "--older-than", "30d", "--yes", "--store", str(path))
    assert result.exit_code == 0, result.output
    assert "Deleted 1 trace (1 span)" in result.stdout
    remaining = json.loads(run("traces", "ls", "--json", "--store", str(path)).stdout)
    assert [t["name"] for t in remaining] == ["new"]


def test_prune_asks_first_and_keeps_on_no(tmp_path: Path) -> None:
    """Without --yes, prune asks; answering n deletes nothing."""
    path = _prunable_store(tmp_path)
    result = run("traces", "prune", "--older-than", "30d", "--store", str(path), input="n\n")
    assert result.exit_code == 0
    assert "Delete 1 trace (1 span)" in result.stdout and "Nothing deleted." in result.stdout
    assert len(json.loads(run("traces", "ls", "--json", "--store", str(path)).stdout)) == 2


def test_console_script_runs_outside_the_test_runner(store: dict[str, Any]) -> None:
    """python -m tracekit.cli works end to end and returns the documented exit code."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracekit.cli",
            "traces",
            "show",
            "f" * 32,
            "--store",
            str(store["path"]),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "no trace" in done.stderr


def test_import_tracekit_does_not_load_the_cli_dependencies() -> None:
    """`import tracekit` (and the store module) leave typer and rich unimported."""
    code = (
        "import sys, tracekit, tracekit.store\n"
        "print(sorted(m for m in ('typer', 'rich') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "[]"


def test_ls_reads_a_store_being_written(tmp_path: Path) -> None:
    """Listing while another process writes neither fails nor blocks the writer."""
    path = tmp_path / "busy.db"
    SqliteExporter(path)
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import tracekit, sys\n"
         "from tracekit.exporters.sqlite import SqliteExporter\n"
         f"tracekit.configure(exporters=[SqliteExporter({str(path)!r})], export_batch_size=20)\n"
         "for i in range(2000):\n"
         "    with tracekit.span('w'):\n"
         "        pass\n"
         "tracekit.flush(60)\n"],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        seen = 0
        while writer.poll() is None and time.monotonic() < deadline:
            result = run("traces", "ls", "--json", "--limit", "5", "--store", str(path))
            assert result.exit_code == 0, result.output
            seen += 1
    finally:
        assert writer.wait(60) == 0
    assert seen >= 1
    count = sqlite3.connect(path).execute("SELECT count(*) FROM traces").fetchone()[0]
    assert count == 2000
