from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from tracekit._spans import Trace


@runtime_checkable
class Exporter(Protocol):
    """What tracekit needs of an exporter.

    ``export`` is called from the exporter's own worker thread with a batch of finished
    traces; raising counts the batch as failed (tracekit logs it once and carries on).
    ``trace.to_dict()`` gives the documented record and ``trace.to_json()`` its JSON bytes.

    Example:
        >>> class PrintIds:
        ...     def export(self, traces): print([t.trace_id for t in traces])
        ...     def flush(self, timeout_s): return True
        ...     def shutdown(self): pass
    """

    def export(self, traces: Sequence[Trace]) -> None:
        """Send or store a batch of finished traces."""

    def flush(self, timeout_s: float) -> bool:
        """Push out anything buffered; return False if that did not finish in time."""

    def shutdown(self) -> None:
        """Release resources; called once, after the last export."""
