"""Reading traces back: :func:`search_traces`, :func:`get_trace` and :class:`TraceStore`.

They read the SQLite store written by :class:`~tracekit.exporters.sqlite.SqliteExporter`
(``$TRACEKIT_HOME/traces.db`` by default) or a JSONL file written by
:class:`~tracekit.JsonlExporter` (any path ending in ``.jsonl``), and return typed records:
:class:`TraceSummary` for searches, :class:`TraceDetail` (with its spans as a tree) for one
trace. See docs/store.md.

Example:
    >>> from tracekit.store import search_traces, get_trace
    >>> for t in search_traces(since="1h", model="gpt-4o*", status="ERROR", limit=10):
    ...     print(t.trace_id, t.name, t.duration_ms, t.cost_usd)
    >>> trace = get_trace("4bf92f3577b34da6a3ce929d0e0e4736")
    >>> [s.name for s in trace.spans[0].children]
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .exporters.sqlite import (
    KIND_MODEL,
    KIND_PROVIDER,
    KIND_TAG,
    TEXT_ROWID_TO_TRACE_SQL,
    USAGE_COLUMNS,
    PayloadCodec,
    StoreError,
    StoreFullError,
    StoreNotFoundError,
    _check_file,
    _group_fragments,
    connect,
    doc_text,
    fts_query,
    prepare_store,
    span_payload,
    tag_key,
    text_rowid,
    words,
)

__all__ = [
    "DayStats",
    "ModelStats",
    "PruneResult",
    "SpanRecord",
    "StoreError",
    "StoreFullError",
    "StoreNotFoundError",
    "StoreStats",
    "TraceDetail",
    "TraceStore",
    "TraceSummary",
    "default_store_path",
    "get_trace",
    "merge_records",
    "parse_time",
    "search_traces",
]

OrderBy = Literal["start_time", "-start_time", "duration", "-duration", "cost", "-cost"]
ORDER_BY_VALUES: tuple[str, ...] = (
    "start_time",
    "-start_time",
    "duration",
    "-duration",
    "cost",
    "-cost",
)
TimeLike = datetime | date | int | float | str

# -- records -----------------------------------------------------------------------------------


class TraceSummary(BaseModel):
    """One trace without its spans, as :func:`search_traces` returns it.

    The fields are those of the exported record (docs/schema.md) for the whole trace: when
    late records were merged in, counts, usage, cost and models cover all of its spans.

    Attributes:
        trace_id: 32 hex digits.
        name: the trace's name (``update_current_trace(name=...)`` or the root span's).
        start_time_ns: start of the root span, Unix time in nanoseconds.
        end_time_ns: end of the root span.
        duration_ms: ``(end_time_ns - start_time_ns) / 1e6``.
        status: ``"OK"`` or ``"ERROR"`` (the root span's status).
        span_count: spans stored for this trace, late ones included.
        error_count: spans with status ``"ERROR"``.
        late_span_count: spans that ended after the root did (merged from late records).
        has_root: ``False`` when only late records of this trace were stored.
        usage: token counts summed over the spans, per key (``input_tokens``, ...).
        cost_usd: sum of the spans' known costs; ``None`` when no span has one.
        models: distinct models of the spans, in order of span start.
        providers: distinct providers of the spans, in order of span start.
        tags: from ``update_current_trace(tags=...)``.
        metadata: from ``update_current_trace(metadata=...)``.
        user_id: from ``update_current_trace(user_id=...)``.
        session_id: from ``update_current_trace(session_id=...)``.

    Example:
        >>> t = search_traces(limit=1)[0]
        >>> t.start_time, t.total_tokens, t.cost_usd
        (datetime.datetime(2024, 6, 1, 12, 0, 3, tzinfo=datetime.timezone.utc), 1151, 0.00021)
    """

    model_config = ConfigDict(extra="forbid")

    trace_id: str
    name: str
    start_time_ns: int
    end_time_ns: int
    duration_ms: float
    status: Literal["OK", "ERROR"]
    span_count: int
    error_count: int
    late_span_count: int = 0
    has_root: bool = True
    usage: dict[str, int] = Field(default_factory=dict)
    cost_usd: float | None = None
    models: list[str] = Field(default_factory=list)
    providers: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    user_id: str | None = None
    session_id: str | None = None

    @property
    def start_time(self) -> datetime:
        """``start_time_ns`` as an aware UTC datetime."""
        return datetime.fromtimestamp(self.start_time_ns / 1e9, UTC)

    @property
    def end_time(self) -> datetime:
        """``end_time_ns`` as an aware UTC datetime."""
        return datetime.fromtimestamp(self.end_time_ns / 1e9, UTC)

    @property
    def total_tokens(self) -> int | None:
        """``usage["total_tokens"]``, else input plus output tokens, else ``None``."""
        return _total_tokens(self.usage)


class SpanRecord(BaseModel):
    """One span of a :class:`TraceDetail`, with its child spans.

    The fields are the span fields of docs/schema.md, plus ``children``: the spans whose
    ``parent_span_id`` is this span, ordered by start time.

    Example:
        >>> root = get_trace(trace_id).spans[0]
        >>> [(c.name, c.span_type, c.model, c.duration_ms) for c in root.children]
    """

    model_config = ConfigDict(extra="forbid")

    span_id: str
    parent_span_id: str | None = None
    trace_id: str
    name: str
    span_type: str
    start_time_ns: int
    end_time_ns: int
    duration_ms: float
    status: Literal["OK", "ERROR"] = "OK"
    status_message: str | None = None
    error: dict[str, Any] | None = None
    inputs: Any = None
    outputs: Any = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    events: list[dict[str, Any]] = Field(default_factory=list)
    model: str | None = None
    provider: str | None = None
    usage: dict[str, int] | None = None
    cost_usd: float | None = None
    late: bool = False
    children: list[SpanRecord] = Field(default_factory=list)

    def walk(self) -> Iterator[SpanRecord]:
        """This span, then its descendants, depth first in start order."""
        yield self
        for child in self.children:
            yield from child.walk()


class TraceDetail(TraceSummary):
    """A whole trace: the summary fields plus its spans as a tree.

    Attributes:
        spans: the top-level spans (normally the root alone; also any span whose parent was
            never stored), each with its ``children``.

    Example:
        >>> trace = get_trace("4bf92f35")
        >>> for span in trace.walk():
        ...     print(span.name, span.duration_ms)
    """

    spans: list[SpanRecord] = Field(default_factory=list)

    def walk(self) -> Iterator[SpanRecord]:
        """Every span, depth first, in start order."""
        for span in self.spans:
            yield from span.walk()

    def to_record(self) -> dict[str, Any]:
        """The trace as one exported record (docs/schema.md), all spans flat, in start order."""
        spans = sorted(self.walk(), key=lambda s: s.start_time_ns)
        return {
            "schema_version": 1,
            "trace_id": self.trace_id,
            "name": self.name,
            "start_time_ns": self.start_time_ns,
            "end_time_ns": self.end_time_ns,
            "duration_ms": self.duration_ms,
            "status": self.status,
            "tags": dict(self.tags),
            "metadata": dict(self.metadata),
            "user_id": self.user_id,
            "session_id": self.session_id,
            "span_count": self.span_count,
            "error_count": self.error_count,
            "usage": dict(self.usage),
            "cost_usd": self.cost_usd,
            "models": list(self.models),
            "late": not self.has_root,
            "spans": [s.model_dump(exclude={"children"}) for s in spans],
        }

    def summary(self) -> TraceSummary:
        """The same trace without its spans."""
        return TraceSummary.model_validate(self.model_dump(exclude={"spans"}))


class ModelStats(BaseModel):
    """Model calls (spans with a ``model``) aggregated per model, as ``tracekit stats`` shows.

    Example:
        >>> TraceStore.open().stats(since="7d").by_model[0].p95_ms
    """

    model: str
    provider: str | None
    calls: int
    errors: int
    error_rate: float
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float | None
    p50_ms: float
    p95_ms: float


class DayStats(BaseModel):
    """Traces aggregated per calendar day (local time) of their start.

    Example:
        >>> [(d.day, d.traces, d.error_rate) for d in TraceStore.open().stats().by_day]
        [(datetime.date(2024, 6, 1), 1520, 0.02)]
    """

    day: date
    traces: int
    errors: int
    error_rate: float
    spans: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float | None
    p50_ms: float
    p95_ms: float


class StoreStats(BaseModel):
    """What ``TraceStore.stats()`` returns: per model and per day, over a time range.

    Example:
        >>> stats = TraceStore.open().stats(since="7d")
        >>> stats.traces, [m.model for m in stats.by_model]
        (10234, ['gpt-4o-mini-2024-07-18', 'gpt-4o-2024-08-06'])
    """

    since_ns: int | None
    until_ns: int | None
    traces: int
    by_model: list[ModelStats]
    by_day: list[DayStats]


class PruneResult(BaseModel):
    """What ``TraceStore.prune()`` deleted (or, with ``dry_run``, would delete).

    Example:
        >>> TraceStore.open().prune("30d", dry_run=True)
        PruneResult(cutoff_ns=1714608000000000000, traces=120, spans=600, vacuumed=False)
    """

    cutoff_ns: int
    traces: int
    spans: int
    vacuumed: bool = False


# -- time and filter parsing ---------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d|w)", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_HEX = re.compile(r"[0-9a-f]+")
_TIME_HELP = (
    "use a duration ago like 30m, 1h, 7d or 2w, an ISO date or time like 2024-06-01 or"
    " 2024-06-01T12:00:00+00:00, Unix seconds, or a datetime"
)


def parse_time(value: TimeLike, *, name: str = "time", now_ns: int | None = None) -> int:
    """Read a point in time as Unix nanoseconds.

    Args:
        value: a duration ago (``"30m"``, ``"1h"``, ``"7d"``, ``"2w"``, ``"1h30m"``), an ISO
            8601 date or date-time (naive ones are local time), Unix seconds (a number or a
            numeric string), or a ``datetime`` / ``date``.
        name: the parameter's name, used in the error message.
        now_ns: "now" for durations (default: the current time).

    Raises:
        ValueError: the value cannot be read as a time.

    Example:
        >>> parse_time("1h") == time.time_ns() - 3600 * 10**9  # give or take a microsecond
        >>> parse_time("2024-06-01T00:00:00Z")
        1717200000000000000
    """
    if isinstance(value, bool):
        raise ValueError(f"{name}: cannot read {value!r} as a time; {_TIME_HELP}")
    if isinstance(value, datetime):
        return int(value.timestamp() * 1e6) * 1000
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day).timestamp()) * 10**9
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name}: {value!r} is not a valid Unix time in seconds")
        return int(value * 1e6) * 1000
    if isinstance(value, str):
        text = value.strip()
        now = time.time_ns() if now_ns is None else now_ns
        if text and _DURATION_PART.sub("", text).strip() == "":
            seconds = sum(float(n) * _UNITS[u.lower()] for n, u in _DURATION_PART.findall(text))
            return now - int(seconds * 1e9)
        try:
            return parse_time(float(text), name=name)
        except ValueError:
            pass
        try:
            return parse_time(datetime.fromisoformat(text), name=name)
        except ValueError:
            pass
    raise ValueError(f"{name}: cannot read {value!r} as a time; {_TIME_HELP}")


@dataclass
class _Filters:
    trace_id: str | None = None
    name: str | None = None
    model: str | None = None
    provider: str | None = None
    status: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    user_id: str | None = None
    session_id: str | None = None
    min_duration_ns: int | None = None
    min_cost_usd: float | None = None
    text_words: list[str] = field(default_factory=list)
    order_by: str = "-start_time"
    limit: int | None = 100
    offset: int = 0


def _nonempty_str(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _number(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, got {value!r}")
    return float(value)


def _filters(
    *,
    trace_id: str | None = None,
    name: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    status: str | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    tags: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    min_duration_ms: float | None = None,
    min_cost_usd: float | None = None,
    text: str | None = None,
    order_by: str = "-start_time",
    limit: int | None = 100,
    offset: int = 0,
) -> _Filters:
    """Validate search arguments; every bad value raises ValueError naming the argument."""
    f = _Filters()
    if trace_id is not None:
        tid = _nonempty_str("trace_id", trace_id)
        assert tid is not None
        tid = tid.strip().lower()
        if len(tid) > 32 or not _HEX.fullmatch(tid):
            raise ValueError(f"trace_id must be up to 32 hex digits, got {trace_id!r}")
        f.trace_id = tid
    f.name = _nonempty_str("name", name)
    f.model = _nonempty_str("model", model)
    f.provider = _nonempty_str("provider", provider)
    if status is not None:
        if not isinstance(status, str) or status.strip().upper() not in ("OK", "ERROR"):
            raise ValueError(f"status must be 'OK' or 'ERROR', got {status!r}")
        f.status = status.strip().upper()
    f.since_ns = None if since is None else parse_time(since, name="since")
    f.until_ns = None if until is None else parse_time(until, name="until")
    if f.since_ns is not None and f.until_ns is not None and f.since_ns > f.until_ns:
        raise ValueError(f"since ({since!r}) is later than until ({until!r})")
    if tags is not None:
        if not isinstance(tags, Mapping):
            raise ValueError(f"tags must be a mapping of strings to strings, got {tags!r}")
        for k, v in tags.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise ValueError(f"tags must map strings to strings, got {k!r}: {v!r}")
        f.tags = dict(tags)
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise ValueError(f"metadata must be a mapping, got {metadata!r}")
        for k, v in metadata.items():
            if not isinstance(k, str):
                raise ValueError(f"metadata keys must be strings, got {k!r}")
            if v is not None and not isinstance(v, (str, int, float, bool)):
                raise ValueError(
                    f"metadata[{k!r}]: only str, int, float, bool or None values can be"
                    f" matched, got {type(v).__name__}"
                )
        f.metadata = dict(metadata)
    f.user_id = _nonempty_str("user_id", user_id)
    f.session_id = _nonempty_str("session_id", session_id)
    min_ms = _number("min_duration_ms", min_duration_ms)
    f.min_duration_ns = None if min_ms is None else int(min_ms * 1e6)
    f.min_cost_usd = _number("min_cost_usd", min_cost_usd)
    if text is not None:
        _nonempty_str("text", text)
        f.text_words = words(text)
        if not f.text_words:
            raise ValueError(f"text must contain at least one letter or digit, got {text!r}")
    if order_by not in ORDER_BY_VALUES:
        raise ValueError(f"order_by must be one of {', '.join(ORDER_BY_VALUES)}; got {order_by!r}")
    f.order_by = order_by
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    f.limit = limit
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"offset must be an integer of 0 or more, got {offset!r}")
    f.offset = offset
    return f


# -- locating the store ------------------------------------------------------------------------


def default_store_path() -> Path:
    """``<home>/traces.db``: the configured ``home``, else ``$TRACEKIT_HOME``, else ``~/.tracekit``.

    Does not configure tracing (reading traces never starts exporters).

    Example:
        >>> default_store_path()
        PosixPath('/home/me/.tracekit/traces.db')
    """
    from ._config import default_home
    from ._internal import state

    home = state.settings.home if state.settings is not None else default_home()
    return home / "traces.db"


# -- the stores ----------------------------------------------------------------------------------


class TraceStore:
    """A trace store opened for reading (and pruning): SQLite, or a JSONL file.

    Use :meth:`open`; close it when done (or use it as a context manager). The module-level
    :func:`search_traces` and :func:`get_trace` open one per call.

    Example:
        >>> with TraceStore.open("~/.tracekit/traces.db") as store:
        ...     errors = store.search(status="ERROR", since="1d")
        ...     detail = store.get(errors[0].trace_id)
    """

    path: Path

    @staticmethod
    def open(path: str | os.PathLike[str] | None = None) -> TraceStore:
        """Open the store at ``path`` (default: :func:`default_store_path`).

        A path ending in ``.jsonl`` is read as a JSONL file of exported records; anything else
        as a SQLite store (migrated to the current layout if it is older).

        Raises:
            StoreError: no store at the path, not a tracekit store, newer layout, locked.
        """
        resolved = default_store_path() if path is None else Path(path).expanduser()
        if resolved.suffix.lower() == ".jsonl":
            return JsonlTraceStore(resolved)
        if path is None and not resolved.exists():
            jsonl = resolved.with_name("traces.jsonl")
            hint = (
                f"; traces are in {jsonl} (read it with path={str(jsonl)!r} or --store {jsonl}),"
                " or use the SQLite store with configure(exporters=['sqlite'])"
                if jsonl.exists()
                else ""
            )
            raise StoreNotFoundError(f"no trace store at {resolved}{hint}")
        return SqliteTraceStore(resolved)

    def __enter__(self) -> TraceStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the store (a no-op for JSONL)."""

    def search(self, **filters: Any) -> list[TraceSummary]:
        """Traces matching ``filters`` (the arguments of :func:`search_traces`)."""
        raise NotImplementedError

    def iter_traces(self, **filters: Any) -> Iterator[TraceDetail]:
        """Whole traces matching ``filters``, in ``order_by`` order (for exporting)."""
        raise NotImplementedError

    def get(self, trace_id: str) -> TraceDetail | None:
        """The trace with this id or unique id prefix (6+ hex digits), or ``None``.

        Raises:
            ValueError: not hex, shorter than 6 digits, or a prefix shared by several traces.
        """
        raise NotImplementedError

    def stats(self, since: TimeLike | None = None, until: TimeLike | None = None) -> StoreStats:
        """Calls, tokens, cost, error rate and p50/p95 latency per model and per day."""
        raise NotImplementedError

    def prune(
        self, older_than: TimeLike, *, dry_run: bool = False, vacuum: bool = False
    ) -> PruneResult:
        """Delete traces that started before ``older_than`` (``"30d"``, a date, ...).

        Raises:
            StoreError: the store is a JSONL file (not supported) or cannot be written.
        """
        raise StoreError(f"pruning is supported for SQLite stores only, not {self.path}")


def _check_prefix(trace_id: str) -> str:
    if not isinstance(trace_id, str):
        raise ValueError(f"trace id must be a string, got {trace_id!r}")
    tid = trace_id.strip().lower()
    if not _HEX.fullmatch(tid) or len(tid) > 32:
        raise ValueError(f"a trace id is up to 32 hex digits, got {trace_id!r}")
    if len(tid) < 6:
        raise ValueError(f"a trace id prefix needs at least 6 hex digits, got {trace_id!r}")
    return tid


def _ambiguous(prefix: str, ids: Sequence[str]) -> ValueError:
    shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
    return ValueError(f"trace id prefix {prefix!r} matches several traces: {shown}")


_TEXT_LOOKUP_MAX = 2_000

_SUMMARY_COLUMNS = (
    "t.id, t.trace_id, t.name, t.start_time_ns, t.end_time_ns, t.status, t.span_count,"
    " t.error_count, t.late_span_count, t.has_root, "
    + ", ".join(f"t.{c}" for c in USAGE_COLUMNS)
    + ", t.cost_usd, t.models, t.providers, t.tags, t.metadata, t.user_id, t.session_id"
)

# Ties are broken by start time, then insertion: the JSONL reader sorts the same way.
_ORDER_SQL = {
    "start_time": "t.start_time_ns ASC, t.id ASC",
    "-start_time": "t.start_time_ns DESC, t.id DESC",
    "duration": "(t.end_time_ns - t.start_time_ns) ASC, t.start_time_ns ASC, t.id ASC",
    "-duration": "(t.end_time_ns - t.start_time_ns) DESC, t.start_time_ns DESC, t.id DESC",
    "cost": "t.cost_usd IS NULL, t.cost_usd ASC, t.start_time_ns ASC, t.id ASC",
    "-cost": "t.cost_usd IS NULL, t.cost_usd DESC, t.start_time_ns DESC, t.id DESC",
}


def _summary_from_row(row: Sequence[Any]) -> TraceSummary:
    n = len(USAGE_COLUMNS)
    usage = {k: v for k, v in zip(USAGE_COLUMNS, row[10 : 10 + n], strict=True) if v is not None}
    rest = row[10 + n :]
    start, end = row[3], row[4]
    return TraceSummary(
        trace_id=bytes(row[1]).hex(),
        name=row[2],
        start_time_ns=start,
        end_time_ns=end,
        duration_ms=(end - start) / 1e6,
        status=row[5],
        span_count=row[6],
        error_count=row[7],
        late_span_count=row[8],
        has_root=bool(row[9]),
        usage=usage,
        cost_usd=rest[0],
        models=orjson.loads(rest[1]),
        providers=orjson.loads(rest[2]),
        tags=orjson.loads(rest[3]),
        metadata=orjson.loads(rest[4]),
        user_id=rest[5],
        session_id=rest[6],
    )


def _metadata_sql(key: str, value: Any) -> tuple[str, list[Any]]:
    base = "EXISTS (SELECT 1 FROM json_each(t.metadata) j WHERE j.key = ? AND "
    if value is None:
        return base + "j.type = 'null')", [key]
    if isinstance(value, bool):
        return base + f"j.type = '{'true' if value else 'false'}')", [key]
    if isinstance(value, (int, float)):
        return base + "j.type IN ('integer', 'real') AND j.value = ?)", [key, value]
    return base + "j.type = 'text' AND j.value = ?)", [key, value]


class SqliteTraceStore(TraceStore):
    """A SQLite store opened for reading; see :class:`TraceStore`."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 5.0) -> None:
        self.path = path
        _check_file(path, create=False)
        self._conn = connect(path, busy_timeout_s=busy_timeout_s)
        try:
            self.info = prepare_store(self._conn, path, create=False)
        except BaseException:
            self._conn.close()
            raise
        self._codec = PayloadCodec(self._conn)
        self._names: dict[int, str] = {}

    def close(self) -> None:
        self._conn.close()

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreError(f"reading the trace store {self.path} failed: {exc}") from None

    # -- searching -------------------------------------------------------------------------

    def _name_ids(self, kind: int, pattern: str, *, glob: bool = True) -> list[int]:
        if glob and any(ch in pattern for ch in "*?["):
            rows = self._q("SELECT id FROM names WHERE kind = ? AND value GLOB ?", (kind, pattern))
        else:
            rows = self._q("SELECT id FROM names WHERE kind = ? AND value = ?", (kind, pattern))
        return [int(r[0]) for r in rows]

    def _query(
        self, f: _Filters, *, only_ids: Iterable[int] | None = None
    ) -> tuple[str, list[Any]] | None:
        """SQL selecting summary rows for ``f`` but its text filter, restricted to ``only_ids``
        when given; None when nothing can match."""
        facets: list[list[int]] = []
        if f.model is not None:
            facets.append(self._name_ids(KIND_MODEL, f.model))
        if f.provider is not None:
            facets.append(self._name_ids(KIND_PROVIDER, f.provider))
        for k, v in f.tags.items():
            facets.append(self._name_ids(KIND_TAG, tag_key(k, v), glob=False))
        if any(not ids for ids in facets):
            return None
        where: list[str] = []
        params: list[Any] = []
        start_col = "t.start_time_ns"
        drive = bool(facets) and len(facets[0]) == 1 and f.order_by.endswith("start_time")
        if drive:
            # The facet index (name_id, start_time_ns, trace_rowid) yields matches in time
            # order, so a LIMIT stops after reading that many rows, however common or rare.
            source = "trace_facets f CROSS JOIN traces t ON t.id = f.trace_rowid"
            where.append("f.name_id = ?")
            params.append(facets[0][0])
            start_col = "f.start_time_ns"
            facets = facets[1:]
            order = _ORDER_SQL[f.order_by].replace("t.start_time_ns", "f.start_time_ns")
            order = order.replace("t.id", "f.trace_rowid")
        else:
            source = "traces t"
            order = _ORDER_SQL[f.order_by]
        for ids in facets:
            where.append(
                "EXISTS (SELECT 1 FROM trace_facets x WHERE x.name_id IN ("
                + ", ".join("?" * len(ids))
                + ") AND x.start_time_ns = t.start_time_ns AND x.trace_rowid = t.id)"
            )
            params.extend(ids)
        if f.since_ns is not None:
            where.append(f"{start_col} >= ?")
            params.append(f.since_ns)
        if f.until_ns is not None:
            where.append(f"{start_col} < ?")
            params.append(f.until_ns)
        if f.trace_id is not None:
            where.append("t.trace_id BETWEEN ? AND ?")
            params += [
                bytes.fromhex(f.trace_id.ljust(32, "0")),
                bytes.fromhex(f.trace_id.ljust(32, "f")),
            ]
        if f.name is not None:
            where.append("t.name = ?")
            params.append(f.name)
        if f.status is not None:
            # A literal, not a parameter, so that the partial index of failed traces applies.
            where.append("t.status = 'ERROR'" if f.status == "ERROR" else "t.status = 'OK'")
        if f.user_id is not None:
            where.append("t.user_id = ?")
            params.append(f.user_id)
        if f.session_id is not None:
            where.append("t.session_id = ?")
            params.append(f.session_id)
        if f.min_duration_ns is not None:
            where.append("t.end_time_ns - t.start_time_ns >= ?")
            params.append(f.min_duration_ns)
        if f.min_cost_usd is not None:
            where.append("t.cost_usd >= ?")
            params.append(f.min_cost_usd)
        for k, v in f.metadata.items():
            clause, extra = _metadata_sql(k, v)
            where.append(clause)
            params += extra
        if only_ids is not None:
            where.append("t.id IN (SELECT value FROM json_each(?))")
            params.append(orjson.dumps(sorted(only_ids)).decode())
        sql = f"SELECT {_SUMMARY_COLUMNS} FROM {source}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY " + order
        return sql, params

    def _text_matches(self, text_words: Sequence[str]) -> set[int]:
        """Ids of the traces having every word (as a word prefix), from the text index."""
        found: set[int] | None = None
        for word in text_words:
            rows = self._q(
                f"SELECT {TEXT_ROWID_TO_TRACE_SQL} FROM trace_text WHERE trace_text MATCH ?",
                (fts_query(word),),
            )
            ids = {int(r[0]) for r in rows}
            found = ids if found is None else found & ids
            if not found:
                break
        return found or set()

    def _rows(self, f: _Filters) -> Iterator[Sequence[Any]]:
        """Summary rows matching ``f`` (text included), after offset, up to limit."""
        text_ids: set[int] | None = None
        if f.text_words and self.info.has_text_index:
            text_ids = self._text_matches(f.text_words)
            if not text_ids:
                return
        # Few text matches: look them up. Many: walk the other filters' order and keep rows
        # whose id matched, stopping at the limit, rather than sorting every match.
        few = text_ids is not None and len(text_ids) <= _TEXT_LOOKUP_MAX
        built = self._query(f, only_ids=text_ids if few else None)
        if built is None:
            return
        sql, params = built
        if not f.text_words or few:
            if f.limit is not None:
                sql += " LIMIT ? OFFSET ?"
                params += [f.limit, f.offset]
            elif f.offset:
                sql += " LIMIT -1 OFFSET ?"
                params.append(f.offset)
            yield from self._q(sql, params)
            return
        if text_ids is not None:
            matched = text_ids

            def keep(row: Sequence[Any]) -> bool:
                return int(row[0]) in matched

        else:  # no text index: decompress each candidate (slow on big stores)

            def keep(row: Sequence[Any]) -> bool:
                return _matches_words(self._doc_words(int(row[0])), f.text_words)

        skip, left = f.offset, f.limit
        for row in self._stream(sql, params):
            if not keep(row):
                continue
            if skip:
                skip -= 1
                continue
            yield row
            if left is not None:
                left -= 1
                if left == 0:
                    return

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[Sequence[Any]]:
        # A cursor of its own, read lazily: stopping at the limit stops the scan.
        try:
            cursor = self._conn.execute(sql, params)
            while batch := cursor.fetchmany(256):
                yield from batch
        except sqlite3.OperationalError as exc:
            raise StoreError(f"reading the trace store {self.path} failed: {exc}") from None

    def _doc_words(self, trace_rowid: int) -> set[str]:
        found: set[str] = set()
        for payloads, _ in self._fragments(trace_rowid):
            found.update(words(doc_text(payloads)))
        return found

    def search(self, **filters: Any) -> list[TraceSummary]:
        f = _filters(**filters)
        return [_summary_from_row(r) for r in self._rows(f)]

    def iter_traces(self, **filters: Any) -> Iterator[TraceDetail]:
        f = _filters(**filters)
        for row in list(self._rows(f)):
            yield self._detail(row)

    # -- one trace -------------------------------------------------------------------------

    def get(self, trace_id: str) -> TraceDetail | None:
        tid = _check_prefix(trace_id)
        lo = bytes.fromhex(tid.ljust(32, "0"))
        hi = bytes.fromhex(tid.ljust(32, "f"))
        rows = self._q(
            f"SELECT {_SUMMARY_COLUMNS} FROM traces t WHERE t.trace_id BETWEEN ? AND ? LIMIT 6",
            (lo, hi),
        )
        if not rows:
            return None
        if len(rows) > 1:
            raise _ambiguous(tid, [bytes(r[1]).hex() for r in rows])
        return self._detail(rows[0])

    def _name(self, name_id: int | None) -> str | None:
        if name_id is None:
            return None
        found = self._names.get(name_id)
        if found is None:
            row = self._q("SELECT value FROM names WHERE id = ?", (name_id,))
            found = self._names[name_id] = row[0][0] if row else "?"
        return found

    _SPAN_SQL = (
        "SELECT trace_rowid, frag, seq, dict_id, payload, span_id, start_time_ns, end_time_ns,"
        " status, late, model_id, provider_id, cost_usd, "
        + ", ".join(USAGE_COLUMNS)
        + " FROM spans WHERE trace_rowid = ? ORDER BY frag, seq"
    )

    def _fragments(
        self, trace_rowid: int
    ) -> Iterator[tuple[list[dict[str, Any]], list[Sequence[Any]]]]:
        rows = self._q(self._SPAN_SQL, (trace_rowid,))
        for _, group in _group_fragments(rows):
            try:
                payloads = self._codec.decode_fragment([(r[3], bytes(r[4])) for r in group])
            except (zlib.error, orjson.JSONDecodeError) as exc:
                raise StoreError(
                    f"{self.path}: the spans of a trace cannot be decoded ({exc}); is the"
                    " store damaged?"
                ) from None
            yield payloads, group

    def _detail(self, row: Sequence[Any]) -> TraceDetail:
        summary = _summary_from_row(row)
        spans: list[SpanRecord] = []
        for payloads, group in self._fragments(int(row[0])):
            for p, r in zip(payloads, group, strict=True):
                usage = {k: v for k, v in zip(USAGE_COLUMNS, r[13:], strict=True) if v is not None}
                start, end = r[6], r[7]
                spans.append(
                    SpanRecord(
                        span_id=bytes(r[5]).hex(),
                        parent_span_id=p.get("parent_span_id"),
                        trace_id=summary.trace_id,
                        name=p.get("name", ""),
                        span_type=p.get("span_type", "UNKNOWN"),
                        start_time_ns=start,
                        end_time_ns=end,
                        duration_ms=(end - start) / 1e6,
                        status=r[8],
                        status_message=p.get("status_message"),
                        error=p.get("error"),
                        inputs=p.get("inputs"),
                        outputs=p.get("outputs"),
                        attributes=p.get("attributes") or {},
                        events=p.get("events") or [],
                        model=self._name(r[10]),
                        provider=self._name(r[11]),
                        usage=usage or None,
                        cost_usd=r[12],
                        late=bool(r[9]),
                    )
                )
        return TraceDetail(**summary.model_dump(), spans=_tree(spans))

    # -- stats -----------------------------------------------------------------------------

    def stats(self, since: TimeLike | None = None, until: TimeLike | None = None) -> StoreStats:
        since_ns = None if since is None else parse_time(since, name="since")
        until_ns = None if until is None else parse_time(until, name="until")
        where, params = _range_sql("t.start_time_ns", since_ns, until_ns)
        model_rows = self._q(
            "SELECT n.value, p.value, s.end_time_ns - s.start_time_ns, s.status,"
            " s.input_tokens, s.output_tokens, s.total_tokens, s.cost_usd"
            # CROSS JOIN keeps traces first: its time index bounds the scan when since is
            # given, where the planner would otherwise read every span.
            " FROM traces t CROSS JOIN spans s ON s.trace_rowid = t.id"
            " JOIN names n ON n.id = s.model_id LEFT JOIN names p ON p.id = s.provider_id"
            f" WHERE s.model_id IS NOT NULL{' AND ' + where if where else ''}",
            params,
        )
        trace_rows = self._q(
            "SELECT t.start_time_ns, t.end_time_ns - t.start_time_ns, t.status, t.span_count,"
            " t.input_tokens, t.output_tokens, t.total_tokens, t.cost_usd FROM traces t"
            + (f" WHERE {where}" if where else ""),
            params,
        )
        return _aggregate(since_ns, until_ns, model_rows, trace_rows)

    # -- pruning ---------------------------------------------------------------------------

    def prune(
        self, older_than: TimeLike, *, dry_run: bool = False, vacuum: bool = False
    ) -> PruneResult:
        cutoff = parse_time(older_than, name="older_than")
        if dry_run:
            n, spans = self._q(
                "SELECT count(*), coalesce(sum(span_count), 0) FROM traces WHERE start_time_ns < ?",
                (cutoff,),
            )[0]
            return PruneResult(cutoff_ns=cutoff, traces=n, spans=spans)
        traces = spans = 0
        try:
            while True:
                # Small transactions: writers in other processes wait for each one only.
                done, n_spans = self._prune_chunk(cutoff, 500)
                traces += done
                spans += n_spans
                if done == 0:
                    break
            if vacuum:
                if self.info.has_text_index:
                    self._conn.execute("INSERT INTO trace_text (trace_text) VALUES ('optimize')")
                self._conn.execute("VACUUM")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"pruning {self.path} stopped after {traces} traces: {exc}") from None
        return PruneResult(cutoff_ns=cutoff, traces=traces, spans=spans, vacuumed=vacuum)

    def _prune_chunk(self, cutoff: int, size: int) -> tuple[int, int]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute(
                "SELECT id, start_time_ns, models, providers, tags, span_count FROM traces"
                " WHERE start_time_ns < ? ORDER BY start_time_ns LIMIT ?",
                (cutoff, size),
            ).fetchall()
            if not rows:
                conn.execute("COMMIT")
                return 0, 0
            ids = [int(r[0]) for r in rows]
            if self.info.has_text_index:
                deletes = []
                for trace_rowid in ids:
                    for payloads, group in self._fragments(trace_rowid):
                        frag = int(group[0][1])
                        deletes.append(
                            ("delete", text_rowid(trace_rowid, frag), doc_text(payloads))
                        )
                conn.executemany(
                    "INSERT INTO trace_text (trace_text, rowid, doc) VALUES (?, ?, ?)", deletes
                )
            facet_rows = []
            for r in rows:
                for kind, values in (
                    (KIND_MODEL, orjson.loads(r[2])),
                    (KIND_PROVIDER, orjson.loads(r[3])),
                    (KIND_TAG, [tag_key(k, v) for k, v in orjson.loads(r[4]).items()]),
                ):
                    for value in values:
                        for name_id in self._name_ids(kind, value, glob=False) if value else []:
                            facet_rows.append((name_id, r[1], r[0]))
            conn.executemany(
                "DELETE FROM trace_facets WHERE name_id = ? AND start_time_ns = ?"
                " AND trace_rowid = ?",
                facet_rows,
            )
            marks = ", ".join("?" * len(ids))
            conn.execute(f"DELETE FROM spans WHERE trace_rowid IN ({marks})", ids)
            conn.execute(f"DELETE FROM traces WHERE id IN ({marks})", ids)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return len(ids), sum(int(r[5]) for r in rows)


def _range_sql(column: str, since_ns: int | None, until_ns: int | None) -> tuple[str, list[Any]]:
    parts, params = [], []
    if since_ns is not None:
        parts.append(f"{column} >= ?")
        params.append(since_ns)
    if until_ns is not None:
        parts.append(f"{column} < ?")
        params.append(until_ns)
    return " AND ".join(parts), params


def _matches_words(doc_words: set[str], wanted: Iterable[str]) -> bool:
    return all(any(w.startswith(q) for w in doc_words) for q in wanted)


def _tree(spans: list[SpanRecord]) -> list[SpanRecord]:
    """Link spans to their parents; spans whose parent is absent become top-level."""
    spans.sort(key=lambda s: s.start_time_ns)
    by_id = {s.span_id: s for s in spans}
    top: list[SpanRecord] = []
    for s in spans:
        parent = by_id.get(s.parent_span_id) if s.parent_span_id else None
        if parent is None or parent is s:
            top.append(s)
        else:
            parent.children.append(s)
    return top


def _total_tokens(usage: Mapping[str, int]) -> int | None:
    if "total_tokens" in usage:
        return usage["total_tokens"]
    if "input_tokens" in usage or "output_tokens" in usage:
        return usage.get("input_tokens", 0) + usage.get("output_tokens", 0)
    return None


# -- aggregation shared by both stores -----------------------------------------------------------


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return float(sorted_values[rank - 1])


def _add(total: float | None, value: float | None) -> float | None:
    if value is None:
        return total
    return value if total is None else total + value


def _aggregate(
    since_ns: int | None,
    until_ns: int | None,
    model_rows: Iterable[Sequence[Any]],
    trace_rows: Iterable[Sequence[Any]],
) -> StoreStats:
    """Model rows: (model, provider, duration_ns, status, in, out, total, cost); trace rows:
    (start_ns, duration_ns, status, spans, in, out, total, cost)."""
    models: dict[str, dict[str, Any]] = {}
    for model, provider, dur, status, tin, tout, ttot, cost in model_rows:
        m = models.setdefault(
            model,
            {"provider": provider, "durations": [], "errors": 0, "in": 0, "out": 0, "tot": 0},
        )
        m.setdefault("cost", None)
        m["provider"] = m["provider"] or provider
        m["durations"].append(dur / 1e6)
        m["errors"] += status == "ERROR"
        m["in"] += tin or 0
        m["out"] += tout or 0
        m["tot"] += ttot if ttot is not None else (tin or 0) + (tout or 0)
        m["cost"] = _add(m["cost"], cost)
    by_model = []
    for model, m in sorted(models.items(), key=lambda kv: -len(kv[1]["durations"])):
        durations = sorted(m["durations"])
        by_model.append(
            ModelStats(
                model=model,
                provider=m["provider"],
                calls=len(durations),
                errors=m["errors"],
                error_rate=m["errors"] / len(durations),
                input_tokens=m["in"],
                output_tokens=m["out"],
                total_tokens=m["tot"],
                cost_usd=m["cost"],
                p50_ms=_percentile(durations, 0.5),
                p95_ms=_percentile(durations, 0.95),
            )
        )
    days: dict[date, dict[str, Any]] = {}
    count = 0
    for start, dur, status, spans, tin, tout, ttot, cost in trace_rows:
        count += 1
        day = datetime.fromtimestamp(start / 1e9).date()
        d = days.setdefault(
            day, {"durations": [], "errors": 0, "spans": 0, "in": 0, "out": 0, "tot": 0}
        )
        d.setdefault("cost", None)
        d["durations"].append(dur / 1e6)
        d["errors"] += status == "ERROR"
        d["spans"] += spans
        d["in"] += tin or 0
        d["out"] += tout or 0
        d["tot"] += ttot if ttot is not None else (tin or 0) + (tout or 0)
        d["cost"] = _add(d["cost"], cost)
    by_day = []
    for day, d in sorted(days.items()):
        durations = sorted(d["durations"])
        by_day.append(
            DayStats(
                day=day,
                traces=len(durations),
                errors=d["errors"],
                error_rate=d["errors"] / len(durations),
                spans=d["spans"],
                input_tokens=d["in"],
                output_tokens=d["out"],
                total_tokens=d["tot"],
                cost_usd=d["cost"],
                p50_ms=_percentile(durations, 0.5),
                p95_ms=_percentile(durations, 0.95),
            )
        )
    return StoreStats(
        since_ns=since_ns, until_ns=until_ns, traces=count, by_model=by_model, by_day=by_day
    )


# -- JSONL -------------------------------------------------------------------------------------


def merge_records(records: Iterable[Mapping[str, Any]]) -> list[TraceDetail]:
    """Merge exported records (late ones into their trace) into whole traces, in file order.

    A record that is not a trace record (no ``trace_id`` or ``spans``) is skipped.

    Example:
        >>> lines = Path("traces.jsonl").read_bytes().splitlines()
        >>> traces = merge_records(orjson.loads(line) for line in lines)
    """
    return _merge_all(records)[0]


def _merge_all(records: Iterable[Any]) -> tuple[list[TraceDetail], int]:
    """Merged traces, and how many traces were skipped for not following the schema."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        if not isinstance(record, Mapping):
            continue
        tid = record.get("trace_id")
        if not isinstance(tid, str) or not isinstance(record.get("spans"), list):
            continue
        groups.setdefault(tid, []).append(record)
    merged: list[TraceDetail] = []
    bad = 0
    for tid, group in groups.items():
        try:
            merged.append(_merge_group(tid, group))
        except (ValidationError, KeyError, TypeError, ValueError):
            bad += 1  # e.g. a record missing span fields: skipped, like a broken line
    return merged, bad


def _merge_group(trace_id: str, group: Sequence[Mapping[str, Any]]) -> TraceDetail:
    seen: set[str] = set()
    spans: list[SpanRecord] = []
    for record in group:
        for s in record["spans"]:
            if s.get("span_id") in seen:
                continue
            seen.add(s["span_id"])
            fields = {k: v for k, v in s.items() if k in SpanRecord.model_fields}
            fields["attributes"] = fields.get("attributes") or {}
            fields["events"] = fields.get("events") or []
            spans.append(SpanRecord.model_validate(fields))
    main = next((r for r in group if not r.get("late")), None)
    head = main or group[0]
    spans.sort(key=lambda s: s.start_time_ns)
    usage: dict[str, int] = {}
    cost: float | None = None
    for s in spans:
        for k, v in (s.usage or {}).items():
            usage[k] = usage.get(k, 0) + v
        cost = _add(cost, s.cost_usd)
    errors = sum(1 for s in spans if s.status == "ERROR")
    if main is not None:
        start, end, status = main["start_time_ns"], main["end_time_ns"], main["status"]
    else:
        start = min(s.start_time_ns for s in spans) if spans else head["start_time_ns"]
        end = max(s.end_time_ns for s in spans) if spans else head["end_time_ns"]
        status = "ERROR" if errors else "OK"
    return TraceDetail(
        trace_id=trace_id,
        name=head.get("name") or "",
        start_time_ns=start,
        end_time_ns=end,
        duration_ms=(end - start) / 1e6,
        status=status,
        span_count=len(spans),
        error_count=errors,
        late_span_count=sum(1 for s in spans if s.late),
        has_root=main is not None,
        usage=usage,
        cost_usd=cost,
        models=_distinct_in_order(s.model for s in spans),
        providers=_distinct_in_order(s.provider for s in spans),
        tags=dict(head.get("tags") or {}),
        metadata=dict(head.get("metadata") or {}),
        user_id=head.get("user_id"),
        session_id=head.get("session_id"),
        spans=_tree(spans),
    )


def _distinct_in_order(values: Iterable[str | None]) -> list[str]:
    out: list[str] = []
    for v in values:
        if v and v not in out:
            out.append(v)
    return out


class JsonlTraceStore(TraceStore):
    """A JSONL file of exported records, read whole and filtered in Python.

    Lines that do not parse (e.g. one cut short by a full disk) are skipped and counted in
    :attr:`skipped_lines`; traces whose records do not follow the schema are skipped and
    counted in :attr:`skipped_traces`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StoreNotFoundError(f"no trace file at {path}") from None
        except OSError as exc:
            raise StoreError(f"cannot read the trace file {path}: {exc.strerror}") from None
        records = []
        self.skipped_lines = 0
        for line in data.splitlines():
            if not line.strip():
                continue
            try:
                records.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                self.skipped_lines += 1
        self._traces, self.skipped_traces = _merge_all(records)

    def _matching(self, f: _Filters) -> list[TraceDetail]:
        out = [t for t in self._traces if _python_match(t, f)]
        field_name = f.order_by.lstrip("-")
        reverse = f.order_by.startswith("-")
        if field_name == "cost":  # unknown costs last in both directions, like the SQL
            known = [t for t in out if t.cost_usd is not None]
            unknown = [t for t in out if t.cost_usd is None]
            known.sort(key=lambda t: (t.cost_usd, t.start_time_ns), reverse=reverse)
            unknown.sort(key=lambda t: t.start_time_ns, reverse=reverse)
            out = known + unknown
        elif field_name == "duration":
            out.sort(
                key=lambda t: (t.end_time_ns - t.start_time_ns, t.start_time_ns), reverse=reverse
            )
        else:
            out.sort(key=lambda t: t.start_time_ns, reverse=reverse)
        end = None if f.limit is None else f.offset + f.limit
        return out[f.offset : end]

    def search(self, **filters: Any) -> list[TraceSummary]:
        return [t.summary() for t in self._matching(_filters(**filters))]

    def iter_traces(self, **filters: Any) -> Iterator[TraceDetail]:
        yield from self._matching(_filters(**filters))

    def get(self, trace_id: str) -> TraceDetail | None:
        tid = _check_prefix(trace_id)
        found = [t for t in self._traces if t.trace_id.startswith(tid)]
        if len(found) > 1:
            raise _ambiguous(tid, [t.trace_id for t in found])
        return found[0] if found else None

    def stats(self, since: TimeLike | None = None, until: TimeLike | None = None) -> StoreStats:
        since_ns = None if since is None else parse_time(since, name="since")
        until_ns = None if until is None else parse_time(until, name="until")
        traces = [
            t
            for t in self._traces
            if (since_ns is None or t.start_time_ns >= since_ns)
            and (until_ns is None or t.start_time_ns < until_ns)
        ]
        model_rows = [
            (
                s.model,
                s.provider,
                s.end_time_ns - s.start_time_ns,
                s.status,
                (s.usage or {}).get("input_tokens"),
                (s.usage or {}).get("output_tokens"),
                (s.usage or {}).get("total_tokens"),
                s.cost_usd,
            )
            for t in traces
            for s in t.walk()
            if s.model
        ]
        trace_rows = [
            (
                t.start_time_ns,
                t.end_time_ns - t.start_time_ns,
                t.status,
                t.span_count,
                t.usage.get("input_tokens"),
                t.usage.get("output_tokens"),
                t.usage.get("total_tokens"),
                t.cost_usd,
            )
            for t in traces
        ]
        return _aggregate(since_ns, until_ns, model_rows, trace_rows)


def _python_match(t: TraceDetail, f: _Filters) -> bool:
    """The filters of search_traces(), evaluated in Python (the JSONL reader)."""
    checks = (
        f.trace_id is None or t.trace_id.startswith(f.trace_id),
        f.name is None or t.name == f.name,
        f.model is None or any(fnmatchcase(m, f.model) for m in t.models),
        f.provider is None or any(fnmatchcase(p, f.provider) for p in t.providers),
        f.status is None or t.status == f.status,
        f.since_ns is None or t.start_time_ns >= f.since_ns,
        f.until_ns is None or t.start_time_ns < f.until_ns,
        all(t.tags.get(k) == v for k, v in f.tags.items()),
        all(_metadata_equal(t.metadata, k, v) for k, v in f.metadata.items()),
        f.user_id is None or t.user_id == f.user_id,
        f.session_id is None or t.session_id == f.session_id,
        f.min_duration_ns is None or t.end_time_ns - t.start_time_ns >= f.min_duration_ns,
        f.min_cost_usd is None or (t.cost_usd is not None and t.cost_usd >= f.min_cost_usd),
    )
    if not all(checks):
        return False
    if f.text_words:
        return _matches_words(_detail_words(t), f.text_words)
    return True


def _metadata_equal(metadata: Mapping[str, Any], key: str, value: Any) -> bool:
    if key not in metadata:
        return False
    got = metadata[key]
    if value is None or isinstance(value, bool) or isinstance(got, bool):
        return got is value if value is None or isinstance(value, bool) else False
    if isinstance(value, (int, float)):
        return isinstance(got, (int, float)) and got == value
    return isinstance(got, str) and got == value


def _detail_words(t: TraceDetail) -> set[str]:
    spans = sorted(t.walk(), key=lambda s: s.start_time_ns)
    payloads = [
        span_payload(s.model_dump(exclude={"children"}), t.name if i == 0 else None)
        for i, s in enumerate(spans)
    ]
    return set(words(doc_text(payloads)))


# -- module-level API ------------------------------------------------------------------------------


def search_traces(
    *,
    trace_id: str | None = None,
    name: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    status: str | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    tags: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    min_duration_ms: float | None = None,
    min_cost_usd: float | None = None,
    text: str | None = None,
    order_by: OrderBy = "-start_time",
    limit: int | None = 100,
    offset: int = 0,
    path: str | os.PathLike[str] | None = None,
) -> list[TraceSummary]:
    """Find traces in the local store (or a JSONL file); every filter given must match.

    Args:
        trace_id: a trace id or a prefix of one (hex).
        name: the trace's name, exactly.
        model: a model used by any span, exactly or as a glob (``"gpt-4o*"``; providers
            report dated names such as ``gpt-4o-2024-08-06``).
        provider: a provider of any span (``"openai"``), exactly or as a glob.
        status: ``"OK"`` or ``"ERROR"`` (any case).
        since: traces that started at or after this: ``"1h"``, ``"7d"``, ``"30m"`` ago, an
            ISO date or date-time, Unix seconds, or a ``datetime``.
        until: traces that started before this (same forms).
        tags: traces having all these tags with these values.
        metadata: traces whose metadata has all these keys with these (scalar) values.
        user_id: the trace's user id.
        session_id: the trace's session id.
        min_duration_ms: traces at least this long.
        min_cost_usd: traces with a known cost of at least this.
        text: every word of it starts a word (case and accents ignored) of the trace's name,
            a span name, inputs, outputs or error messages; system/developer messages and tool
            schemas are not searched.
        order_by: ``"-start_time"`` (newest first, default), ``"start_time"``,
            ``"duration"``, ``"-duration"``, ``"cost"``, ``"-cost"`` (unknown costs last).
        limit: at most this many results (``None``: all).
        offset: skip this many results first (for paging).
        path: the store: default ``$TRACEKIT_HOME/traces.db``; a ``.jsonl`` path reads a file
            written by ``JsonlExporter``.

    Returns:
        The matching traces' summaries.

    Raises:
        ValueError: a filter value is invalid (the message names it).
        StoreError: the store is missing or cannot be read.

    Example:
        >>> search_traces(since="1h", model="gpt-4o*", tags={"env": "prod"}, order_by="-cost")
        [TraceSummary(trace_id='4bf92f3577b34da6a3ce929d0e0e4736', name='answer', ...)]
    """
    filters = {k: v for k, v in locals().items() if k != "path"}
    _filters(**filters)  # bad values fail before the store is opened
    with TraceStore.open(path) as store:
        return store.search(**filters)


def get_trace(trace_id: str, path: str | os.PathLike[str] | None = None) -> TraceDetail | None:
    """The whole trace with this id (or a unique prefix of 6+ hex digits), or ``None``.

    Args:
        trace_id: 32 hex digits, or a prefix of at least 6 shared by no other trace.
        path: the store, as for :func:`search_traces`.

    Raises:
        ValueError: not a hex id, a prefix shorter than 6, or an ambiguous prefix.
        StoreError: the store is missing or cannot be read.

    Example:
        >>> trace = get_trace("4bf92f35")
        >>> print(trace.name, [c.name for c in trace.spans[0].children])
        answer ['search', 'chat']
    """
    _check_prefix(trace_id)
    with TraceStore.open(path) as store:
        return store.get(trace_id)
