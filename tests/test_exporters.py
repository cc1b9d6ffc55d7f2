"""JSONL, in-memory and console exporters; the public import surface."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import tracekit
from tracekit.exporters.console import render_trace


def _traced_agent() -> None:
    @tracekit.trace(span_type="TOOL")
    def tool(x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return x

    @tracekit.trace(span_type="AGENT")
    def agent() -> int:
        with tracekit.span("llm", span_type="CHAT_MODEL") as s:
            s.model = "gpt-x"  # type: ignore[union-attr]
            s.set_usage(input_tokens=100, output_tokens=20, total_tokens=120)
            s.cost_usd = 0.0012  # type: ignore[union-attr]
        with contextlib.suppress(ValueError):
            tool(-1)
        return tool(2)

    agent()


def test_jsonl_one_line_per_trace_matching_in_memory(tmp_path: Path, collected: Any) -> None:
    """Each trace is one JSON line, identical to the in-memory record."""
    path = tmp_path / "out" / "t.jsonl"
    tracekit.configure(exporters=[tracekit.JsonlExporter(path), collected.exporter])
    _traced_agent()
    _traced_agent()
    assert tracekit.flush()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 2
    records = [json.loads(line) for line in lines]
    assert records == collected.exporter.records()
    assert records[0]["span_count"] == 4
    assert records[0]["error_count"] == 1


def test_jsonl_several_processes_share_one_file(tmp_path: Path) -> None:
    """Four processes appending to one file produce only whole, valid lines."""
    path = tmp_path / "shared.jsonl"
    code = textwrap.dedent(
        f"""
        import tracekit
        tracekit.configure(exporters=[tracekit.JsonlExporter({str(path)!r})], export_batch_size=40)
        @tracekit.trace
        def work(i):
            return "x" * 5000
        for i in range(300):
            work(i)
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    lines = path.read_bytes().splitlines()
    assert len(lines) == 1200
    assert all(json.loads(line)["name"] == "work" for line in lines)


def test_jsonl_batch_larger_than_a_write_chunk(tmp_path: Path, collected: Any) -> None:
    """A batch written in several chunks arrives whole and in order."""
    path = tmp_path / "big.jsonl"
    tracekit.configure(
        exporters=[tracekit.JsonlExporter(path), collected.exporter], export_batch_size=1000
    )

    @tracekit.trace
    def work(i: int) -> str:
        return f"{i}:" + "x" * 5000

    for i in range(60):  # ~300 KiB in one batch: several 64 KiB writes
        work(i)
    assert tracekit.flush()
    records = [json.loads(line) for line in path.read_bytes().splitlines()]
    assert [r["spans"][0]["inputs"]["i"] for r in records] == list(range(60))
    assert records == collected.exporter.records()


def test_jsonl_disk_full_mid_line_keeps_later_lines_whole(
    tmp_path: Path, collected: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write cut short by a full disk leaves one broken line; the next batch starts on a
    new line, so readers lose that batch only."""
    from tracekit.exporters import jsonl

    path = tmp_path / "full.jsonl"
    exporter = tracekit.JsonlExporter(path)
    real_write = os.write
    calls = {"n": 0}

    def write(fd: int, data: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data[:100]))
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(jsonl.os, "write", write)
    for name in ("first", "second"):
        with tracekit.span(name):
            pass
    assert tracekit.flush()
    first, second = collected.exporter.traces
    with pytest.raises(OSError):
        exporter.export([first])
    exporter.export([second])
    lines = path.read_bytes().split(b"\n")
    assert lines[0] == first.to_json()[:100]
    assert json.loads(lines[1])["name"] == "second"
    assert lines[2:] == [b""]


def test_jsonl_shutdown_then_export_fails_cleanly(tmp_path: Path) -> None:
    """Exporting after shutdown raises inside the worker (counted), never in the app."""
    exporter = tracekit.JsonlExporter(tmp_path / "x.jsonl")
    exporter.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        exporter.export([])


def test_jsonl_unopenable_path_raises_at_construction(tmp_path: Path) -> None:
    """A path that cannot be opened is an error when the exporter is created."""
    (tmp_path / "dir").mkdir()
    with pytest.raises(OSError):
        tracekit.JsonlExporter(tmp_path / "dir")


def test_in_memory_clear(collected: Any) -> None:
    """clear() forgets what was exported."""
    _traced_agent()
    assert len(collected.traces()) == 1
    collected.exporter.clear()
    assert collected.exporter.traces == []


def test_console_tree_shows_types_durations_usage_and_errors(collected: Any) -> None:
    """The console rendering is an indented tree with the essentials."""
    out = io.StringIO()
    tracekit.configure(exporters=[tracekit.ConsoleExporter(out, show_io=True)])
    _traced_agent()
    assert tracekit.flush()
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0].startswith("trace ")
    assert "100 in / 20 out tok" in lines[0]
    assert "$0.0012" in lines[0]
    assert lines[1].startswith("└─ agent [AGENT]")
    assert any("llm [CHAT_MODEL]" in line and "gpt-x" in line for line in lines)
    assert any("ERROR ValueError: negative" in line for line in lines)
    assert any(line.strip().startswith("in:") for line in lines)


def test_render_trace_handles_orphans() -> None:
    """A span whose parent is missing (a late fragment) is still shown."""
    record = {
        "trace_id": "a" * 32,
        "name": "late",
        "status": "OK",
        "duration_ms": 1.0,
        "late": True,
        "spans": [
            {
                "span_id": "b" * 16,
                "parent_span_id": "c" * 16,
                "name": "straggler",
                "span_type": "TOOL",
                "duration_ms": 0.5,
                "status": "OK",
            }
        ],
    }
    text = render_trace(record)
    assert "straggler [TOOL]" in text
    assert "(late spans)" in text


def test_import_is_cheap() -> None:
    """`import tracekit` loads no provider SDK, no OTLP exporter and not pydantic."""
    code = (
        "import sys, tracekit; "
        "heavy = ('openai', 'anthropic', 'pydantic', 'opentelemetry', 'httpx', 'httpx2'); "
        "print([m for m in sys.modules if m.split('.')[0] in heavy])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_public_api_is_exported() -> None:
    """Every name in __all__ resolves."""
    for name in tracekit.__all__:
        assert getattr(tracekit, name) is not None, name
    assert os.path.exists(Path(tracekit.__file__).parent / "py.typed")
