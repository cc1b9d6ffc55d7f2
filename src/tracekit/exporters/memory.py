from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracekit._spans import Trace


class InMemoryExporter:
    """Keeps finished traces in a list, for tests and notebooks.

    Example:
        >>> mem = tracekit.InMemoryExporter()
        >>> tracekit.configure(exporters=[mem])
        >>> ...; tracekit.flush()
        >>> mem.traces[0].to_dict()["spans"][0]["name"]
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._traces: list[Trace] = []

    @property
    def traces(self) -> list[Trace]:
        """The traces exported so far (a copy of the list)."""
        with self._lock:
            return list(self._traces)

    def records(self) -> list[dict[str, Any]]:
        """The exported records (``trace.to_dict()``) of :attr:`traces`."""
        return [t.to_dict() for t in self.traces]

    def clear(self) -> None:
        """Forget every trace kept so far."""
        with self._lock:
            self._traces.clear()

    def export(self, traces: Sequence[Trace]) -> None:
        with self._lock:
            self._traces.extend(traces)

    def flush(self, timeout_s: float) -> bool:
        return True

    def shutdown(self) -> None:
        pass

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
