"""Every test runs with a fresh in-memory exporter and with tracekit's own bugs re-raised."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# Before tracekit is imported anywhere: internal errors must fail the test that caused them.
os.environ["TRACEKIT_RAISE_INTERNAL_ERRORS"] = "true"

import tracekit
from tracekit._internal import state


class Collected:
    """The in-memory exporter of the current test, with helpers that flush first."""

    def __init__(self, exporter: tracekit.InMemoryExporter) -> None:
        self.exporter = exporter

    def traces(self) -> list[dict[str, Any]]:
        assert tracekit.flush(10.0)
        return self.exporter.records()

    def trace(self) -> dict[str, Any]:
        traces = self.traces()
        assert len(traces) == 1, f"expected one trace, got {len(traces)}"
        return traces[0]

    def spans(self) -> list[dict[str, Any]]:
        return [s for t in self.traces() for s in t["spans"]]

    def span(self, name: str) -> dict[str, Any]:
        found = [s for s in self.spans() if s["name"] == name]
        assert len(found) == 1, f"expected one span {name!r}, got {len(found)}"
        return found[0]


@pytest.fixture(autouse=True)
def collected(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Collected]:
    monkeypatch.setenv("TRACEKIT_HOME", str(tmp_path / "tracekit-home"))
    for name in list(os.environ):
        if name.startswith("TRACEKIT_") and name not in {
            "TRACEKIT_HOME",
            "TRACEKIT_RAISE_INTERNAL_ERRORS",
        }:
            monkeypatch.delenv(name)
    exporter = tracekit.InMemoryExporter()
    tracekit.configure(exporters=[exporter], raise_internal_errors=True)
    state.warned.clear()
    yield Collected(exporter)
    tracekit.shutdown(5.0)
    state.enabled = True
    state.internal_errors = 0
    state.sampled_out = 0
