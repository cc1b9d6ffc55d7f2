"""The queries behind the UI's JSON API that ``tracekit.store`` does not offer itself.

Traces come through :class:`~tracekit.store.TraceStore` (search, get, stats). Sessions and the
list of models are aggregates over the ``traces`` and ``names`` tables of a SQLite store, read
here with a read-only connection of our own; for a JSONL file they are computed from its
traces in Python. Nothing here writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from tracekit.exporters.sqlite import KIND_MODEL
from tracekit.store import SpanRecord, StoreError, TraceDetail, TraceStore, TraceSummary

PREVIEW_CHARS = 400
"""Root inputs and outputs shown per trace on a session page are cut to this many characters."""


def read_only_connection(path: Path) -> sqlite3.Connection:
    """A connection that cannot write to the store at ``path`` (SQLite ``mode=ro``).

    Raises:
        StoreError: the file cannot be opened.
    """
    uri = "file:" + quote(str(path.absolute()), safe="/") + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA query_only = 1")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the trace store {path}: {exc}") from None
    return conn


def flat_spans(detail: TraceDetail) -> list[dict[str, Any]]:
    """The spans of ``detail`` as a flat list in tree order (depth first, by start time).

    Each span is its :class:`~tracekit.store.SpanRecord` fields without ``children``, plus
    ``depth`` (0 for top-level spans) and ``child_count``. The walk uses an explicit stack, so
    a trace nested thousands of levels deep needs no recursion, here or in the browser.
    """
    out: list[dict[str, Any]] = []
    stack: list[tuple[SpanRecord, int]] = [(s, 0) for s in reversed(detail.spans)]
    while stack:
        span, depth = stack.pop()
        record = span.model_dump(mode="json", exclude={"children"})
        record["depth"] = depth
        record["child_count"] = len(span.children)
        out.append(record)
        stack.extend((child, depth + 1) for child in reversed(span.children))
    return out


def trace_json(detail: TraceDetail) -> dict[str, Any]:
    """What ``GET /api/traces/{id}`` returns: the summary fields plus the flat span list."""
    record = detail.summary().model_dump(mode="json")
    record["spans"] = flat_spans(detail)
    return record


def _session_row(
    session_id: str,
    traces: int,
    first_ns: int,
    last_ns: int,
    end_ns: int,
    errors: int,
    spans: int,
    tokens: tuple[int, int, int],
    cost: float | None,
    users: Iterable[str | None],
) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "traces": traces,
        "first_start_ns": first_ns,
        "last_start_ns": last_ns,
        "end_time_ns": end_ns,
        "duration_ms": (end_ns - first_ns) / 1e6,
        "error_traces": errors,
        "spans": spans,
        "input_tokens": tokens[0],
        "output_tokens": tokens[1],
        "total_tokens": tokens[2],
        "cost_usd": cost,
        "users": sorted({u for u in users if u}),
    }


_SESSIONS_SQL = """
SELECT session_id, count(*), min(start_time_ns), max(start_time_ns), max(end_time_ns),
       sum(status = 'ERROR'), sum(span_count), sum(coalesce(input_tokens, 0)),
       sum(coalesce(output_tokens, 0)),
       sum(coalesce(total_tokens, coalesce(input_tokens, 0) + coalesce(output_tokens, 0))),
       sum(cost_usd), json_group_array(DISTINCT user_id)
FROM traces
WHERE session_id IN ({marks}){where}
GROUP BY session_id
"""


def sessions(
    store: TraceStore,
    conn: sqlite3.Connection | None,
    *,
    user_id: str | None = None,
    since_ns: int | None = None,
    until_ns: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Sessions (traces grouped by ``session_id``), most recently active first.

    A session is in the range when one of its traces started in it; its figures cover the
    traces in the range. ``conn`` is a read-only connection to a SQLite store, ``None`` for
    a JSONL store (then the store's traces are grouped in Python).

    On SQLite, the page of sessions is found by walking traces newest first (the start-time
    index) until ``offset + limit`` distinct sessions were seen, and only those sessions are
    then aggregated (the session index): the first pages cost the same on any store size.
    """
    if conn is None:
        return _sessions_python(store, user_id, since_ns, until_ns, limit, offset)
    where: list[str] = []
    params: list[Any] = []
    if user_id is not None:
        where.append("user_id = ?")
        params.append(user_id)
    if since_ns is not None:
        where.append("start_time_ns >= ?")
        params.append(since_ns)
    if until_ns is not None:
        where.append("start_time_ns < ?")
        params.append(until_ns)
    extra = "".join(" AND " + w for w in where)
    wanted = offset + limit
    order: list[str] = []
    seen: set[str] = set()
    try:
        cursor = conn.execute(
            "SELECT session_id FROM traces WHERE session_id IS NOT NULL"
            f"{extra} ORDER BY start_time_ns DESC, id DESC",
            params,
        )
        for (session_id,) in cursor:
            if session_id not in seen:
                seen.add(session_id)
                order.append(session_id)
                if len(order) >= wanted:
                    break
        cursor.close()
        page = order[offset:wanted]
        rows = (
            conn.execute(
                _SESSIONS_SQL.format(marks=", ".join("?" * len(page)), where=extra),
                [*page, *params],
            ).fetchall()
            if page
            else []
        )
    except sqlite3.Error as exc:
        raise StoreError(f"reading sessions failed: {exc}") from None
    found = {
        r[0]: _session_row(
            r[0], r[1], r[2], r[3], r[4], r[5], r[6], (r[7], r[8], r[9]), r[10], orjson.loads(r[11])
        )
        for r in rows
    }
    out = [found[sid] for sid in page if sid in found]
    out.sort(key=lambda r: r["session_id"])
    out.sort(key=lambda r: r["last_start_ns"], reverse=True)
    return out


def _sessions_python(
    store: TraceStore,
    user_id: str | None,
    since_ns: int | None,
    until_ns: int | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    filters: dict[str, Any] = {"limit": None, "order_by": "start_time", "user_id": user_id}
    if since_ns is not None:
        filters["since"] = since_ns / 1e9
    if until_ns is not None:
        filters["until"] = until_ns / 1e9
    groups: dict[str, list[TraceSummary]] = {}
    for t in store.search(**filters):
        if t.session_id is not None:
            groups.setdefault(t.session_id, []).append(t)
    rows = [session_summary(sid, traces) for sid, traces in groups.items()]
    rows.sort(key=lambda r: r["session_id"])
    rows.sort(key=lambda r: r["last_start_ns"], reverse=True)
    return rows[offset : offset + limit]


def session_summary(session_id: str, traces: list[TraceSummary]) -> dict[str, Any]:
    """The aggregate row of one session from its traces (in start order)."""
    cost: float | None = None
    tin = tout = ttot = 0
    for t in traces:
        if t.cost_usd is not None:
            cost = t.cost_usd if cost is None else cost + t.cost_usd
        tin += t.usage.get("input_tokens", 0)
        tout += t.usage.get("output_tokens", 0)
        ttot += t.total_tokens or 0
    return _session_row(
        session_id,
        len(traces),
        min(t.start_time_ns for t in traces),
        max(t.start_time_ns for t in traces),
        max(t.end_time_ns for t in traces),
        sum(1 for t in traces if t.status == "ERROR"),
        sum(t.span_count for t in traces),
        (tin, tout, ttot),
        cost,
        (t.user_id for t in traces),
    )


def preview(value: Any) -> str | None:
    """A short text for a root span's inputs or outputs (a session's turns).

    A string is itself; an object with a single string value (``{"question": "..."}``) is that
    value; a list of chat messages is its last message's text; anything else is compact JSON.
    Cut to :data:`PREVIEW_CHARS`.
    """
    if value is None:
        return None
    text: str | None = None
    if isinstance(value, str):
        text = value
    elif isinstance(value, dict) and len(value) == 1:
        (only,) = value.values()
        if isinstance(only, str):
            text = only
    elif isinstance(value, dict) and isinstance(value.get("content"), str):
        text = value["content"]
    if text is None:
        text = orjson.dumps(value).decode()
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def models(store: TraceStore, conn: sqlite3.Connection | None) -> list[str]:
    """Every model name in the store, sorted (for the model filter's suggestions)."""
    if conn is None:
        found = {m for t in store.search(limit=None) for m in t.models}
        return sorted(found)
    try:
        rows = conn.execute(
            "SELECT value FROM names WHERE kind = ? ORDER BY value", (KIND_MODEL,)
        ).fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"reading model names failed: {exc}") from None
    return [str(r[0]) for r in rows]
