from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracekit._spans import Trace


class ConsoleExporter:
    """Prints each finished trace as an indented tree with durations, tokens, cost and errors.

    Args:
        file: where to write; defaults to ``sys.stderr`` at the time of each export.
        show_io: also print each span's inputs and outputs (cut to ``max_chars``).
        max_chars: how much of each input/output to print.

    Example:
        >>> tracekit.configure(exporters=[tracekit.ConsoleExporter(show_io=True)])
    """

    def __init__(
        self, file: IO[str] | None = None, *, show_io: bool = False, max_chars: int = 120
    ) -> None:
        self._file = file
        self.show_io = show_io
        self.max_chars = max_chars
        self._lock = threading.Lock()

    def export(self, traces: Sequence[Trace]) -> None:
        text = "".join(
            render_trace(t.to_dict(), show_io=self.show_io, max_chars=self.max_chars) + "\n"
            for t in traces
        )
        with self._lock:
            out = self._file if self._file is not None else sys.stderr
            out.write(text)
            out.flush()

    def flush(self, timeout_s: float) -> bool:
        return True

    def shutdown(self) -> None:
        pass

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()


def _fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "?"
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 1000:
        return f"{ms:.1f} ms"
    return f"{ms / 1000:.2f} s"


def _fmt_usage(usage: dict[str, int] | None, cost: float | None) -> str:
    parts = []
    if usage:
        if "input_tokens" in usage or "output_tokens" in usage:
            parts.append(
                f"{usage.get('input_tokens', '?')} in / {usage.get('output_tokens', '?')} out tok"
            )
        elif "total_tokens" in usage:
            parts.append(f"{usage['total_tokens']} tok")
        if usage.get("cached_input_tokens"):
            parts.append(f"{usage['cached_input_tokens']} cached")
    if cost is not None:
        parts.append(f"${cost:.6f}".rstrip("0").rstrip(".") if cost else "$0")
    return "  ".join(parts)


def _short(value: Any, max_chars: int) -> str:
    from tracekit._serialize import dumps

    text = value if isinstance(value, str) else dumps(value).decode("utf-8", "replace")
    text = text.replace("\n", "\\n")
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def render_trace(record: dict[str, Any], *, show_io: bool = False, max_chars: int = 120) -> str:
    """Render an exported trace record as an indented text tree."""
    head = [
        f"trace {record['trace_id']}",
        repr(record.get("name") or ""),
        record.get("status", "OK"),
        _fmt_ms(record.get("duration_ms")),
    ]
    totals = _fmt_usage(record.get("usage"), record.get("cost_usd"))
    if totals:
        head.append(totals)
    if record.get("late"):
        head.append("(late spans)")
    lines = ["  ".join(head)]
    spans = record.get("spans") or []
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in spans:
        parent = s.get("parent_span_id")
        children.setdefault(parent if parent in ids else None, []).append(s)

    def walk(span: dict[str, Any], prefix: str, last: bool) -> None:
        branch = "└─ " if last else "├─ "
        parts = [f"{span['name']} [{span['span_type']}]", _fmt_ms(span.get("duration_ms"))]
        if span.get("model"):
            parts.append(str(span["model"]))
        usage = _fmt_usage(span.get("usage"), span.get("cost_usd"))
        if usage:
            parts.append(usage)
        if span.get("status") == "ERROR":
            err = span.get("error") or {}
            detail = err.get("type") or ""
            message = err.get("message") or span.get("status_message") or ""
            parts.append(f"ERROR {detail}: {message}".strip())
        lines.append(prefix + branch + "  ".join(parts))
        inner = prefix + ("   " if last else "│  ")
        if show_io:
            if span.get("inputs") is not None:
                lines.append(inner + "  in:  " + _short(span["inputs"], max_chars))
            if span.get("outputs") is not None:
                lines.append(inner + "  out: " + _short(span["outputs"], max_chars))
        kids = children.get(span["span_id"], [])
        for i, kid in enumerate(kids):
            walk(kid, inner, i == len(kids) - 1)

    roots = children.get(None, [])
    for i, root in enumerate(roots):
        walk(root, "", i == len(roots) - 1)
    return "\n".join(lines)
