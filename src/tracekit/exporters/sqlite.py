"""The local trace store: a SQLite file written by :class:`SqliteExporter`.

Layout (see docs/store.md): ``traces`` holds one summary row per trace with plain, indexed
columns; ``spans`` one row per span, whose searchable fields (ids, times, status, model,
provider, usage, cost) are plain columns and whose payload (name, type, parent, inputs,
outputs, attributes, events, error) is a deflate segment; ``trace_facets`` indexes the model,
provider and tag filters by time; ``trace_text`` is a contentless FTS5 index for text search.

Payloads are compressed per *fragment* (the spans of one exported record, in order) as one
deflate stream cut into a segment per span: the second LLM call of an agent step repeats the
first one's messages, and a stream sees that, where compressing each span alone would not.
The stream starts from a preset dictionary: a built-in one of the record's JSON skeleton, or
one trained from the store's own traces (strings such as system prompts and tool schemas that
recur across traces), kept in ``dictionaries``.

This module is imported only when the store is used; ``import tracekit`` does not load it.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import sqlite3
import stat
import threading
import time
import unicodedata
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson

from tracekit._spans import USAGE_KEYS

if TYPE_CHECKING:
    from tracekit._spans import Trace

__all__ = [
    "STORE_SCHEMA_VERSION",
    "SqliteExporter",
    "StoreError",
    "StoreFullError",
    "StoreNotFoundError",
]

# Everything else here (connect, prepare_store, PayloadCodec, doc_text, ...) is shared with
# tracekit.store, which reads what this module writes; it is not public API.

STORE_SCHEMA_VERSION: Final = 2
"""The layout this tracekit writes; older stores are migrated when opened."""

STORE_FORMAT: Final = "tracekit-store"
APPLICATION_ID: Final = 0x746B7472  # "tktr", in the SQLite header (PRAGMA application_id)
SQLITE_MAGIC: Final = b"SQLite format 3\x00"

# One column per usage key of the span model (changing them changes the schema version).
USAGE_COLUMNS: Final = USAGE_KEYS

# Kinds of interned strings (the names table) and of facets.
KIND_MODEL: Final = 1
KIND_PROVIDER: Final = 2
KIND_TAG: Final = 3

FRAG_BITS: Final = 20  # a trace may have up to 2**20 fragments (late records)

# How much text one trace fragment contributes to the full-text index. Bounded so that a
# multi-megabyte output costs index space in proportion to what anyone would search for.
DOC_MAX_CHARS_PER_STRING: Final = 4_000
DOC_MAX_CHARS: Final = 32_000

# Dictionary training: from the first MIN_SAMPLE traces a process writes to a store without a
# dictionary, and again after every RETRAIN_EVERY traces it writes.
DICT_MIN_SAMPLE: Final = 32
DICT_MAX_SAMPLE: Final = 200
DICT_RETRAIN_EVERY: Final = 100_000
DICT_MAX_BYTES: Final = 32 * 1024  # deflate's window: more would never be referenced
_DICT_MIN_STRING: Final = 64

# Dictionary 0: the JSON skeleton of span payloads and of OpenAI/Anthropic-style messages.
# NEVER change these bytes: every payload written with dict_id 0 needs them to decompress.
# To improve it, add a new built-in dictionary with a new negative id instead.
STATIC_DICT: Final = b"".join(
    [
        b'"error":{"type":"","message":"","stacktrace":"Traceback (most recent call last):\\n',
        b'  File \\"/usr/lib/python3/site-packages/", line , in \\n    \\n',
        b'"status_message":"","events":[{"name":"exception","time_ns":,"attributes":{',
        b'"exception.type":"","exception.message":"","exception.stacktrace":""}}],',
        b'"attributes":{"tracekit.generator.items":},"late":true,',
        b'"span_type":"RETRIEVER","span_type":"EMBEDDING","span_type":"UNKNOWN",',
        b'"span_type":"CHAIN","span_type":"TOOL","span_type":"AGENT","span_type":"LLM",',
        b'"inputs":{"input":"","query":"","question":"","text":"","k":},',
        b'"outputs":{"id":"chatcmpl-","object":"chat.completion","created":,',
        b'"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"',
        b'"stop_reason":"end_turn","type":"message","content":[{"type":"text","text":"',
        b'"tools":[{"type":"function","function":{"name":"","description":"",',
        b'"parameters":{"type":"object","properties":{"":{"type":"string","description":"',
        b'"}},"required":[""]}}}],"tool_choice":"auto","stream":false,"max_tokens":,',
        b'"model":"gpt-4o-mini","model":"claude-","temperature":0.,"system":"',
        b'"role":"tool","tool_call_id":"call_","content":"',
        b'"tool_calls":[{"id":"call_","type":"function","function":{"name":"","arguments":"{\\"',
        b'"outputs":{"role":"assistant","content":null,"tool_calls":[{"id":"call_',
        b'"inputs":{"messages":[{"role":"system","content":"You are a helpful assistant.',
        b'"},{"role":"user","content":"',
        b'"},{"role":"assistant","content":"',
        b'"outputs":{"role":"assistant","content":"',
        b'"span_type":"CHAT_MODEL","parent_span_id":"',
        b'{"parent_span_id":"","name":"","trace_name":"',
    ]
)


class StoreError(Exception):
    """The trace store cannot be opened, read or written; the message says why and where.

    Example:
        >>> try:
        ...     SqliteExporter("/etc/passwd")
        ... except StoreError as exc:
        ...     print(exc)
        /etc/passwd is not a SQLite database, so not a tracekit store
    """


class StoreNotFoundError(StoreError):
    """There is no store at the path given (readers never create one).

    Example:
        >>> try:
        ...     tracekit.store.search_traces(path="missing.db")
        ... except StoreNotFoundError as exc:
        ...     print(exc)
        no trace store at missing.db
    """


class StoreFullError(StoreError):
    """A batch could not be written because the disk (or the store's size limit) is full.

    Raised by :meth:`SqliteExporter.export`; the pipeline counts the batch as failed. Nothing
    of that batch was stored and everything stored before is intact.

    Example:
        >>> exporter = SqliteExporter("t.db", pragmas={"max_page_count": 100})
        >>> exporter.export(many_traces)
        Traceback (most recent call last):
        StoreFullError: the trace store t.db is full (disk space or max_page_count): ...
    """


# -- file checks, connections, schema ---------------------------------------------------------


def _mkdirs_private(directory: Path) -> None:
    """Create ``directory`` and any missing parents with mode 0700 (traces hold prompts)."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process won the race
            path.mkdir(mode=0o700)


def _check_file(path: Path, *, create: bool) -> None:
    """Fail early, with a message naming ``path``, when it cannot hold a store."""
    try:
        st = path.stat()
    except FileNotFoundError:
        if not create:
            raise StoreNotFoundError(f"no trace store at {path}") from None
        try:
            _mkdirs_private(path.parent)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            os.close(fd)
        except FileExistsError:
            pass  # created by another process meanwhile: checked below like any file
        except OSError as exc:
            raise StoreError(f"cannot create the trace store {path}: {exc.strerror}") from None
        return
    except OSError as exc:
        raise StoreError(f"cannot open the trace store {path}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise StoreError(f"{path} is a directory, not a trace store file")
    if st.st_size == 0:
        return  # a new, empty SQLite file
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"cannot read the trace store {path}: {exc.strerror}") from None
    if head != SQLITE_MAGIC:
        raise StoreError(f"{path} is not a SQLite database, so not a tracekit store")


def connect(
    path: Path,
    *,
    busy_timeout_s: float,
    pragmas: Mapping[str, str | int | float] | None = None,
) -> sqlite3.Connection:
    """Open ``path`` (which must exist) with tracekit's connection settings.

    Autocommit mode (transactions are explicit ``BEGIN IMMEDIATE``), a busy timeout so that
    concurrent writers wait for each other instead of failing, and usable from any thread
    (each is used by one thread at a time).
    """
    uri = "file:" + _quote_uri_path(path) + "?mode=rw"
    try:
        conn = sqlite3.connect(
            uri,
            uri=True,
            timeout=busy_timeout_s,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=128,
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the trace store {path}: {exc}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {max(0, int(busy_timeout_s * 1000))}")
        # 16 MB of page cache (the default is 2 MB): index pages of a large store stay hot.
        conn.execute("PRAGMA cache_size = -16000")
        # Survives an application crash; a power cut may lose the last few batches, which
        # is the right trade for telemetry (synchronous=FULL would fsync every batch).
        conn.execute("PRAGMA synchronous = NORMAL")
        for name, value in (pragmas or {}).items():
            if not re.fullmatch(r"[A-Za-z_]+", name):
                raise StoreError(f"invalid PRAGMA name {name!r}")
            conn.execute(f"PRAGMA {name} = {_pragma_value(value)}")
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"cannot set up the trace store {path}: {exc}") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _pragma_value(value: str | int | float) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise StoreError(f"PRAGMA values must be numbers or words, got {value!r}")
    if isinstance(value, str) and not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
        raise StoreError(f"invalid PRAGMA value {value!r}")
    return str(value)


def _quote_uri_path(path: Path) -> str:
    from urllib.parse import quote

    return quote(str(path.absolute()), safe="/")


def fts5_available() -> bool:
    """Whether this Python's SQLite has the FTS5 extension (most builds do)."""
    global _FTS5
    if _FTS5 is None:
        probe = sqlite3.connect(":memory:")
        try:
            probe.execute("CREATE VIRTUAL TABLE temp.probe USING fts5(x)")
            _FTS5 = True
        except sqlite3.Error:
            _FTS5 = False
        finally:
            probe.close()
    return _FTS5


_FTS5: bool | None = None

_FTS_DDL = (
    "CREATE VIRTUAL TABLE trace_text USING fts5("
    "doc, content='', detail=none, columnsize=0, tokenize='unicode61 remove_diacritics 2')"
)

# Version 1: the first layout, without the full-text index and without trained dictionaries.
# New stores are created from it plus the version-2 additions below, so that a store made new
# and a store migrated from version 1 have exactly the same tables.
SCHEMA_V1: Final = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE names (
    id INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (kind, value)
);
CREATE TABLE traces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trace_id BLOB NOT NULL UNIQUE,
    name TEXT NOT NULL,
    start_time_ns INTEGER NOT NULL,
    end_time_ns INTEGER NOT NULL,
    status TEXT NOT NULL,
    span_count INTEGER NOT NULL,
    error_count INTEGER NOT NULL,
    late_span_count INTEGER NOT NULL,
    has_root INTEGER NOT NULL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    total_tokens INTEGER,
    cached_input_tokens INTEGER,
    cache_write_tokens INTEGER,
    cache_write_5m_tokens INTEGER,
    cache_write_1h_tokens INTEGER,
    reasoning_tokens INTEGER,
    cost_usd REAL,
    models TEXT NOT NULL,
    providers TEXT NOT NULL,
    tags TEXT NOT NULL,
    metadata TEXT NOT NULL,
    user_id TEXT,
    session_id TEXT
);
CREATE INDEX traces_start ON traces (start_time_ns);
CREATE INDEX traces_errors ON traces (start_time_ns) WHERE status = 'ERROR';
CREATE INDEX traces_user ON traces (user_id, start_time_ns) WHERE user_id IS NOT NULL;
CREATE INDEX traces_session ON traces (session_id, start_time_ns) WHERE session_id IS NOT NULL;
CREATE TABLE trace_facets (
    name_id INTEGER NOT NULL,
    start_time_ns INTEGER NOT NULL,
    trace_rowid INTEGER NOT NULL,
    PRIMARY KEY (name_id, start_time_ns, trace_rowid)
) WITHOUT ROWID;
CREATE TABLE spans (
    trace_rowid INTEGER NOT NULL,
    span_id BLOB NOT NULL,
    frag INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    dict_id INTEGER NOT NULL,
    start_time_ns INTEGER NOT NULL,
    end_time_ns INTEGER NOT NULL,
    status TEXT NOT NULL,
    late INTEGER NOT NULL,
    model_id INTEGER,
    provider_id INTEGER,
    input_tokens INTEGER,
    output_tokens INTEGER,
    total_tokens INTEGER,
    cached_input_tokens INTEGER,
    cache_write_tokens INTEGER,
    cache_write_5m_tokens INTEGER,
    cache_write_1h_tokens INTEGER,
    reasoning_tokens INTEGER,
    cost_usd REAL,
    payload BLOB NOT NULL,
    PRIMARY KEY (trace_rowid, span_id)
) WITHOUT ROWID;
"""

# Version 2 adds the dictionaries table and the full-text index (when FTS5 is available).
_SCHEMA_V2_ADDITIONS: Final = """
CREATE TABLE dictionaries (id INTEGER PRIMARY KEY, created_ns INTEGER NOT NULL, data BLOB NOT NULL);
"""


@dataclass
class StoreInfo:
    """What :func:`prepare_store` found: the layout version and optional features."""

    path: Path
    version: int
    has_text_index: bool
    migrated_from: int | None = None


def prepare_store(
    conn: sqlite3.Connection, path: Path, *, create: bool, text_index: bool = True
) -> StoreInfo:
    """Check that ``conn`` holds a tracekit store; create or migrate its layout as needed.

    Raises:
        StoreError: not a tracekit store, written by a newer tracekit, or locked.
    """
    try:
        return _prepare(conn, path, create=create, text_index=text_index)
    except sqlite3.OperationalError as exc:
        if _is_locked(exc):
            timeout = conn.execute("PRAGMA busy_timeout").fetchone()[0] / 1000
            raise StoreError(
                f"the trace store {path} is locked: another connection held it for more than"
                f" {timeout:g} s ({exc})"
            ) from None
        raise StoreError(f"cannot use the trace store {path}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a usable SQLite database: {exc}") from None


def _is_locked(exc: sqlite3.Error) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


def _prepare(conn: sqlite3.Connection, path: Path, *, create: bool, text_index: bool) -> StoreInfo:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    if app_id != APPLICATION_ID:
        if app_id != 0 or tables:
            shown = ", ".join(sorted(tables)[:8]) or "none"
            raise StoreError(
                f"{path} is a SQLite database but not a tracekit store (its tables: {shown})"
            )
        if not create:
            raise StoreError(f"{path} is an empty SQLite database, not a tracekit store")
        _create(conn, text_index=text_index)
        return _info(conn, path)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > STORE_SCHEMA_VERSION:
        raise StoreError(
            f"the trace store {path} has layout version {version}, newer than this tracekit"
            f" understands ({STORE_SCHEMA_VERSION}); upgrade tracekit to read it"
        )
    migrated_from = None
    if version < STORE_SCHEMA_VERSION:
        migrated_from = version
        _migrate(conn, path)
    info = _info(conn, path)
    info.migrated_from = migrated_from
    if info.has_text_index and not fts5_available():
        raise StoreError(
            f"the trace store {path} has a full-text index, but this Python's SQLite lacks"
            " the FTS5 extension needed to update or search it"
        )
    if create:
        _check_writable(conn)
    return info


def _info(conn: sqlite3.Connection, path: Path) -> StoreInfo:
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if meta.get("format") != STORE_FORMAT:
        raise StoreError(f"{path} has tracekit's id but no valid meta table; is it damaged?")
    version = int(meta.get("schema_version", "0"))
    user_version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != user_version:
        raise StoreError(
            f"{path}: meta says layout {version} but PRAGMA user_version is {user_version};"
            " the store is damaged or was edited by hand"
        )
    return StoreInfo(path, version, meta.get("text_index") == "fts5")


def _check_writable(conn: sqlite3.Connection) -> None:
    # Take the write lock once, now: a store locked by another process (or a read-only file)
    # should fail configure(), not every export later.
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("ROLLBACK")


def _create(conn: sqlite3.Connection, *, text_index: bool) -> None:
    conn.execute("PRAGMA journal_mode = WAL")  # persistent: readers never block the writers
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID:
            conn.execute("ROLLBACK")  # another process created it meanwhile
            return
        for statement in _statements(SCHEMA_V1 + _SCHEMA_V2_ADDITIONS):
            conn.execute(statement)
        use_fts = text_index and fts5_available()
        if use_fts:
            conn.execute(_FTS_DDL)
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [
                ("format", STORE_FORMAT),
                ("schema_version", str(STORE_SCHEMA_VERSION)),
                ("created_ns", str(time.time_ns())),
                ("created_by", f"tracekit {_tracekit_version()}"),
                ("text_index", "fts5" if use_fts else "none"),
            ],
        )
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {STORE_SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT first; these are run one by one inside our transaction.
    return [s.strip() for s in script.split(";") if s.strip()]


def _tracekit_version() -> str:
    from tracekit import __version__

    return __version__


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the layout up to STORE_SCHEMA_VERSION, one step per version, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # re-read under the lock
        while version < STORE_SCHEMA_VERSION:
            step = _MIGRATIONS.get(version)
            if step is None:
                raise StoreError(f"{path}: no migration from layout version {version}")
            step(conn)
            version += 1
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Version 2 adds trained dictionaries and the full-text index, filled from the spans."""
    for statement in _statements(_SCHEMA_V2_ADDITIONS):
        conn.execute(statement)
    if not fts5_available():
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('text_index', 'none')")
        return
    conn.execute(_FTS_DDL)
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('text_index', 'fts5')")
    codec = PayloadCodec(conn)
    rows = conn.execute(
        "SELECT trace_rowid, frag, seq, dict_id, payload FROM spans ORDER BY trace_rowid, frag, seq"
    )
    for (trace_rowid, frag), group in _group_fragments(rows):
        payloads = codec.decode_fragment([(r[3], r[4]) for r in group])
        conn.execute(
            "INSERT INTO trace_text (rowid, doc) VALUES (?, ?)",
            (text_rowid(trace_rowid, frag), doc_text(payloads)),
        )


def _group_fragments(
    rows: Iterable[Sequence[Any]],
) -> Iterator[tuple[tuple[int, int], list[Sequence[Any]]]]:
    """Group rows ordered by (trace_rowid, frag, seq) into fragments."""
    key: tuple[int, int] | None = None
    group: list[Sequence[Any]] = []
    for row in rows:
        k = (row[0], row[1])
        if k != key:
            if key is not None:
                yield key, group
            key, group = k, []
        group.append(row)
    if key is not None:
        yield key, group


_MIGRATIONS: Final = {1: _migrate_1_to_2}


# -- payload codec ---------------------------------------------------------------------------


def text_rowid(trace_rowid: int, frag: int) -> int:
    """The full-text index row of one fragment of a trace (see docs/store.md)."""
    return trace_rowid if frag == 0 else -((trace_rowid << FRAG_BITS) | frag)


TEXT_ROWID_TO_TRACE_SQL: Final = (
    f"(CASE WHEN rowid > 0 THEN rowid ELSE (-rowid) >> {FRAG_BITS} END)"
)


def span_payload(span: Mapping[str, Any], trace_name: str | None) -> dict[str, Any]:
    """The part of a span record kept compressed; fields at their default are left out."""
    out: dict[str, Any] = {}
    if trace_name is not None:
        out["trace_name"] = trace_name
    out["name"] = span["name"]
    out["span_type"] = span["span_type"]
    if span.get("parent_span_id") is not None:
        out["parent_span_id"] = span["parent_span_id"]
    for key in ("status_message", "error", "inputs", "outputs"):
        if span.get(key) is not None:
            out[key] = span[key]
    if span.get("attributes"):
        out["attributes"] = span["attributes"]
    if span.get("events"):
        out["events"] = span["events"]
    return out


class PayloadCodec:
    """Compresses and decompresses fragments with the store's dictionaries (cached by id)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._dicts: dict[int, bytes] = {0: STATIC_DICT}
        self._primed: dict[int, Any] = {}

    def dictionary(self, dict_id: int) -> bytes:
        data = self._dicts.get(dict_id)
        if data is None:
            row = self._conn.execute(
                "SELECT data FROM dictionaries WHERE id = ?", (dict_id,)
            ).fetchone()
            if row is None:
                raise StoreError(f"compression dictionary {dict_id} is missing from the store")
            data = self._dicts[dict_id] = bytes(row[0])
        return data

    def remember(self, dict_id: int, data: bytes) -> None:
        self._dicts[dict_id] = data
        self._primed.pop(dict_id, None)

    def forget(self, dict_id: int) -> None:
        self._dicts.pop(dict_id, None)
        self._primed.pop(dict_id, None)

    def encode_fragment(self, dict_id: int, payloads: Sequence[bytes]) -> list[bytes]:
        """One raw-deflate stream over the fragment, cut into one segment per span."""
        primed = self._primed.get(dict_id)
        if primed is None:
            zdict = self.dictionary(dict_id)
            # The primed compressor is copied per fragment, and its size is mostly memLevel's
            # hash table and buffer: memLevel 4 copies ~136 KiB instead of 8's ~256 KiB
            # (5 vs 9 µs here; 9's 177 µs) and stored the same bytes for typical traces.
            primed = zlib.compressobj(6, zlib.DEFLATED, -15, 4, zlib.Z_DEFAULT_STRATEGY, zdict)
            self._primed[dict_id] = primed
        comp = primed.copy()
        segments = []
        for data in payloads:
            segments.append(comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH))
        return segments

    def decode_fragment(self, segments: Sequence[tuple[int, bytes]]) -> list[dict[str, Any]]:
        """Decompress (dict_id, segment) pairs of one fragment, in seq order."""
        if not segments:
            return []
        decomp = zlib.decompressobj(-15, self.dictionary(segments[0][0]))
        out = []
        for _, segment in segments:
            out.append(orjson.loads(decomp.decompress(segment)))
        return out


def train_dictionary(records: Sequence[Mapping[str, Any]]) -> bytes:
    """A preset dictionary of the JSON values that recur across ``records``.

    Strings and objects of at least 64 bytes (as serialised) that appear in at least 10% of
    the sampled traces (and at least two) — system prompts, tool schemas, few-shot examples —
    are appended to the built-in dictionary, the most frequent last (deflate codes nearer
    matches more cheaply). Each later trace then stores a reference instead of a copy.
    """
    counts: dict[bytes, int] = {}
    for record in records:
        seen: set[bytes] = set()
        for span in record.get("spans", ()):
            for key in ("inputs", "outputs", "attributes"):
                _collect_values(span.get(key), seen, 0)
        for value in seen:
            counts[value] = counts.get(value, 0) + 1
    needed = max(2, math.ceil(0.1 * len(records)))
    frequent = sorted((v for v, n in counts.items() if n >= needed), key=lambda v: (-len(v), v))
    chosen: list[bytes] = []
    budget = DICT_MAX_BYTES - len(STATIC_DICT)
    for value in frequent:
        if len(value) > budget:
            continue
        if any(value in bigger for bigger in chosen):
            continue
        chosen.append(value)
        budget -= len(value)
    chosen.sort(key=lambda v: (counts[v], len(v)))
    return STATIC_DICT + b"".join(chosen)


def _collect_values(value: Any, out: set[bytes], depth: int) -> None:
    if depth > 8:
        return
    if isinstance(value, str):
        if len(value) >= _DICT_MIN_STRING:
            out.add(orjson.dumps(value))
        return
    if isinstance(value, (dict, list)):
        encoded = orjson.dumps(value)
        if len(encoded) >= _DICT_MIN_STRING:
            if len(encoded) <= DICT_MAX_BYTES // 2:
                out.add(encoded)
            items = value.values() if isinstance(value, dict) else value
            for item in items:
                _collect_values(item, out, depth + 1)


# -- full-text documents ---------------------------------------------------------------------

# Inputs that are the same in every trace of an app (system prompts, tool schemas) and values
# that are structure rather than text (roles, types, ids, model names): indexing them would
# cost space in every trace (a unique id is a new term of the index) and match every trace.
# Messages with these roles, and values under these keys, are left out of the text index.
_SKIPPED_ROLES: Final = frozenset({"system", "developer"})
_SKIPPED_KEYS: Final = frozenset(
    {
        "system",
        "tools",
        "functions",
        "tool_choice",
        "response_format",
        "json_schema",
        "id",
        "tool_call_id",
        "type",
        "role",
        "model",
    }
)


def doc_text(payloads: Sequence[Mapping[str, Any]]) -> str:
    """The text indexed for one fragment: trace name, span names, inputs, outputs, errors.

    Deterministic in the stored payloads alone: pruning rebuilds exactly this text to remove
    the fragment from the contentless index.
    """
    pieces: list[str] = []
    for p in payloads:
        for key in ("trace_name", "name", "status_message"):
            value = p.get(key)
            if type(value) is str:
                pieces.append(value)
        error = p.get("error")
        if type(error) is dict:
            pieces += [error[k] for k in ("type", "message") if type(error.get(k)) is str]
        _strings(p.get("inputs"), pieces)
        _strings(p.get("outputs"), pieces)
    out: list[str] = []
    budget = DOC_MAX_CHARS
    for piece in pieces:
        if budget <= 0:
            break
        if piece:
            cut = piece[: min(DOC_MAX_CHARS_PER_STRING, budget)]
            budget -= len(cut)
            out.append(cut)
    return "\n".join(out)


def _strings(value: Any, out: list[str]) -> None:
    """Append the text strings inside a JSON value, in document order (iteratively)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            out.append(item)
        elif kind is dict:
            if item.get("role") in _SKIPPED_ROLES:
                continue
            stack.extend(v for k, v in reversed(item.items()) if k not in _SKIPPED_KEYS)
        elif kind is list:
            stack.extend(reversed(item))


_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """Split ``text`` into lower-case words without accents, as the FTS5 index does."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _WORD.findall(stripped)


def fts_query(word: str) -> str:
    """An FTS5 query matching any word that starts with ``word``."""
    return '"' + word.replace('"', '""') + '"*'


# -- the exporter ----------------------------------------------------------------------------


@dataclass
class _Names:
    """Interned model/provider/tag strings: committed ids and those added in this batch."""

    ids: dict[tuple[int, str], int] = field(default_factory=dict)
    pending: dict[tuple[int, str], int] = field(default_factory=dict)


class _Connection:
    """One thread's connection to the store, with its caches."""

    def __init__(self, conn: sqlite3.Connection, has_text_index: bool) -> None:
        self.conn = conn
        # A store gains its text index only at creation or migration, both done by
        # prepare_store() before this connection is used, and never loses it.
        self.has_text_index = has_text_index
        self.codec = PayloadCodec(conn)
        self.names = _Names()
        self.pid = os.getpid()
        self.thread = threading.get_ident()


# Connections inherited through fork(): never used again, and never closed either, since
# closing them in the child could touch the parent's locks and WAL state. Kept referenced so
# that garbage collection does not close them.
_INHERITED: list[Any] = []


class SqliteExporter:
    """Stores traces in a local SQLite file that ``tracekit.store`` and the CLI search.

    Several processes can write the same file at once (WAL mode; each waits up to
    ``busy_timeout_s`` for the others' transactions). Every ``export()`` call is one
    transaction: a batch is stored whole or not at all. Late records merge into their trace.
    A new file and any directory created for it are readable by the owner only.

    Args:
        path: the store file, e.g. ``~/.tracekit/traces.db``; parent directories are created.
        busy_timeout_s: how long a write waits for another writer's transaction.
        text_index: give a *new* store a full-text index for ``search_traces(text=...)``
            (about a fifth of its size); without it, text search decompresses and scans.
        pragmas: extra ``PRAGMA name = value`` settings for every connection it opens.

    Raises:
        StoreError: at construction, when the path cannot be created or opened, is not a
            tracekit store, was written by a newer tracekit, or is locked for longer than
            ``busy_timeout_s``.

    Example:
        >>> tracekit.configure(exporters=[SqliteExporter("~/.tracekit/traces.db")])
        >>> tracekit.store.search_traces(since="1h", status="ERROR")
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_s: float = 10.0,
        text_index: bool = True,
        pragmas: Mapping[str, str | int | float] | None = None,
    ) -> None:
        self.path = Path(path).expanduser()
        self.busy_timeout_s = busy_timeout_s
        self.pragmas = dict(pragmas or {})
        self._lock = threading.Lock()
        self._local = threading.local()
        self._open: list[_Connection] = []
        self._closed = False
        self._samples: list[Mapping[str, Any]] = []
        self._written_since_training = 0
        self._trained_here = False
        _check_file(self.path, create=True)
        conn = connect(self.path, busy_timeout_s=busy_timeout_s, pragmas=self.pragmas)
        try:
            self.info = prepare_store(conn, self.path, create=True, text_index=text_index)
        finally:
            conn.close()  # export() runs on the worker thread, which opens its own

    def __repr__(self) -> str:
        return f"SqliteExporter({str(self.path)!r})"

    # -- connections ------------------------------------------------------------------------

    def _connection(self) -> _Connection:
        current: _Connection | None = getattr(self._local, "conn", None)
        if current is not None and current.pid == os.getpid():
            return current
        if self._closed:
            raise StoreError(f"{self!r} was shut down")
        if current is not None:
            _INHERITED.append(current)  # forked without _after_fork_in_child(): do not touch
        conn = connect(self.path, busy_timeout_s=self.busy_timeout_s, pragmas=self.pragmas)
        try:
            info = prepare_store(conn, self.path, create=False)
        except BaseException:
            conn.close()
            raise
        wrapped = _Connection(conn, info.has_text_index)
        self._local.conn = wrapped
        with self._lock:
            self._open.append(wrapped)
        return wrapped

    def _after_fork_in_child(self) -> None:
        """Forget the parent's connections (without closing them); the child opens its own."""
        _INHERITED.extend(self._open)
        self._open = []
        self._local = threading.local()
        self._lock = threading.Lock()
        self._samples = []
        self._written_since_training = 0

    # -- Exporter protocol ----------------------------------------------------------------

    def export(self, traces: Sequence[Trace]) -> None:
        """Store a batch of traces in one transaction.

        Raises:
            StoreFullError: the disk or the store's size limit is full; nothing of this batch
                was stored, earlier batches are intact.
            StoreError: any other failure to write; nothing of this batch was stored.
        """
        if not traces:
            return
        records = [t.to_dict() for t in traces]
        c = self._connection()
        conn = c.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._write_error(exc, records) from exc
        dict_id = 0
        trained = False
        try:
            dict_id, trained = self._dictionary_for(c, records)
            writer = _BatchWriter(c, dict_id, records)
            for record in records:
                writer.write(record)
            writer.finish()
            conn.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            c.names.pending.clear()
            if trained:  # rolled back: another writer may reuse the id for other bytes
                c.codec.forget(dict_id)
            if isinstance(exc, sqlite3.Error):
                raise self._write_error(exc, records) from exc
            raise
        c.names.ids.update(c.names.pending)
        c.names.pending.clear()
        self._written_since_training += len(records)

    def _write_error(self, exc: sqlite3.Error, records: Sequence[Mapping[str, Any]]) -> StoreError:
        spans = sum(len(r.get("spans", ())) for r in records)
        lost = f"this batch of {len(records)} traces ({spans} spans) was not stored"
        code = getattr(exc, "sqlite_errorcode", None)
        if code == sqlite3.SQLITE_FULL or "full" in str(exc):
            return StoreFullError(
                f"the trace store {self.path} is full (disk space or max_page_count): {lost};"
                " traces stored before are intact"
            )
        if _is_locked(exc):
            return StoreError(
                f"the trace store {self.path} stayed locked by another writer for more than"
                f" {self.busy_timeout_s:g} s: {lost}"
            )
        return StoreError(f"writing to the trace store {self.path} failed ({exc}): {lost}")

    def _dictionary_for(
        self, c: _Connection, records: Sequence[Mapping[str, Any]]
    ) -> tuple[int, bool]:
        """The dictionary for this batch (the store's newest, or one trained now) and
        whether it was trained in this transaction."""
        row = c.conn.execute("SELECT id FROM dictionaries ORDER BY id DESC LIMIT 1").fetchone()
        due = row is None or self._written_since_training >= DICT_RETRAIN_EVERY
        if not due:
            return int(row[0]), False
        room = DICT_MAX_SAMPLE - len(self._samples)
        self._samples.extend(records[:room])
        if len(self._samples) < DICT_MIN_SAMPLE:
            return (0 if row is None else int(row[0])), False
        data = train_dictionary(self._samples)
        self._samples = []
        self._written_since_training = 0
        new_id = c.conn.execute(
            "INSERT INTO dictionaries (created_ns, data) VALUES (?, ?) RETURNING id",
            (time.time_ns(), data),
        ).fetchone()[0]
        c.codec.remember(int(new_id), data)
        return int(new_id), True

    def flush(self, timeout_s: float) -> bool:
        return True  # every export() has committed before returning

    def shutdown(self) -> None:
        """Close this process's connections to the store."""
        with self._lock:
            self._closed = True
            mine = [c for c in self._open if c.pid == os.getpid()]
            self._open = []
        for c in mine:
            with contextlib.suppress(sqlite3.Error):
                c.conn.close()
        self._local = threading.local()


# The row inserts of a batch: (the statement up to VALUES, columns per row).
_SPANS_INSERT: Final = (
    "INSERT INTO spans (trace_rowid, span_id, frag, seq, dict_id, start_time_ns, end_time_ns,"
    " status, late, model_id, provider_id, "
    + ", ".join(USAGE_COLUMNS)
    + ", cost_usd, payload) VALUES ",
    13 + len(USAGE_COLUMNS),
)
_TRACES_INSERT: Final = (
    "INSERT INTO traces (id, trace_id, name, start_time_ns, end_time_ns, status, span_count,"
    " error_count, late_span_count, has_root, "
    + ", ".join(USAGE_COLUMNS)
    + ", cost_usd, models, providers, tags, metadata, user_id, session_id) VALUES ",
    17 + len(USAGE_COLUMNS),
)
_FACETS_INSERT: Final = (
    "INSERT OR IGNORE INTO trace_facets (name_id, start_time_ns, trace_rowid) VALUES ",
    3,
)
_TEXT_INSERT: Final = ("INSERT INTO trace_text (rowid, doc) VALUES ", 2)

# Rows per INSERT statement at most (fewer when SQLite's limit on parameters says so).
_ROWS_PER_STATEMENT: Final = 100

# Trace ids looked up per query when a batch starts (SQLite allows 32 766 parameters since
# 3.32, 999 before).
_LOOKUP_CHUNK: Final = 500


@functools.lru_cache(maxsize=64)
def _multi_row_sql(head: str, width: int, rows: int) -> str:
    return head + ", ".join(["(" + ", ".join("?" * width) + ")"] * rows)


def _insert_rows(
    conn: sqlite3.Connection, statement: tuple[str, int], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` with a few multi-row INSERT statements.

    Python's sqlite3 releases the GIL around every step, and executemany() steps once per
    row. While the app's threads want the GIL, each release is a hand-off to them and back,
    which costs both sides CPU and stalls the export thread (measured: 6 -> 11 us of CPU and
    7 -> ~200 us of wall time per row against a busy thread). One statement per 100 rows
    takes one step."""
    head, width = statement
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per = max(1, min(_ROWS_PER_STATEMENT, limit // width))
    i, n = 0, len(rows)
    while i < n:
        # Full statements, then the rest in powers of two: a few statement shapes recur
        # across batches and stay in sqlite3's statement cache (preparing a 99-row INSERT
        # anew costs about 1 ms).
        size = per if n - i >= per else 1 << ((n - i).bit_length() - 1)
        part = rows[i : i + size]
        conn.execute(_multi_row_sql(head, width, size), list(chain.from_iterable(part)))
        i += size


class _BatchWriter:
    """Writes records inside the export transaction."""

    def __init__(self, c: _Connection, dict_id: int, records: Sequence[Mapping[str, Any]]) -> None:
        self.c = c
        self.conn = conn = c.conn
        self.dict_id = dict_id
        self.has_text = c.has_text_index
        # New traces get their row ids here, so that their rows go to SQLite with the other
        # tables' rows (_insert_rows) instead of an INSERT ... RETURNING each. The transaction
        # holds the write lock, so no other writer can take these ids or add these traces
        # meanwhile. AUTOINCREMENT: never reuse the id of a deleted (pruned) trace; max(id)
        # too, in case sqlite_sequence lost its row (a store rebuilt by `.recover`, say).
        row = conn.execute(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'traces'), 0),"
            " coalesce((SELECT max(id) FROM traces), 0))"
        ).fetchone()
        self.next_rowid = int(row[0]) + 1
        # Traces of this batch stored already (late records, or a batch sent twice): merged.
        ids = list({bytes.fromhex(r["trace_id"]) for r in records})
        self.stored: set[bytes] = set()
        for i in range(0, len(ids), _LOOKUP_CHUNK):
            part = ids[i : i + _LOOKUP_CHUNK]
            self.stored.update(
                bytes(r[0])
                for r in conn.execute(
                    "SELECT trace_id FROM traces WHERE trace_id IN ("
                    + ", ".join("?" * len(part))
                    + ")",
                    part,
                )
            )
        self.trace_rows: list[tuple[Any, ...]] = []
        self.span_rows: list[tuple[Any, ...]] = []
        self.text_rows: list[tuple[int, str]] = []
        self.facet_rows: list[tuple[int, int, int]] = []

    def finish(self) -> None:
        """Write the rows held back so far."""
        if self.trace_rows:
            _insert_rows(self.conn, _TRACES_INSERT, self.trace_rows)
            self.trace_rows = []
        if self.span_rows:
            _insert_rows(self.conn, _SPANS_INSERT, self.span_rows)
            self.span_rows = []
        if self.facet_rows:
            _insert_rows(self.conn, _FACETS_INSERT, self.facet_rows)
            self.facet_rows = []
        if self.text_rows:
            _insert_rows(self.conn, _TEXT_INSERT, self.text_rows)
            self.text_rows = []

    def name_id(self, kind: int, value: str) -> int:
        key = (kind, value)
        names = self.c.names
        found = names.ids.get(key) or names.pending.get(key)
        if found is not None:
            return found
        row = self.conn.execute(
            "SELECT id FROM names WHERE kind = ? AND value = ?", (kind, value)
        ).fetchone()
        if row is None:
            row = self.conn.execute(
                "INSERT INTO names (kind, value) VALUES (?, ?) RETURNING id", (kind, value)
            ).fetchone()
        names.pending[key] = int(row[0])
        return int(row[0])

    def write(self, record: Mapping[str, Any]) -> None:
        tid = bytes.fromhex(record["trace_id"])
        spans = record["spans"]
        if tid in self.stored:
            self._merge(tid, record, spans)
            return
        self.stored.add(tid)  # a second record of this trace in the batch merges into it
        trace_rowid = self.next_rowid
        self.next_rowid += 1
        providers = _distinct([s.get("provider") for s in spans])
        models = record.get("models") or []
        tags = record.get("tags") or {}
        start_ns = record["start_time_ns"]
        usage = record.get("usage") or {}
        self.trace_rows.append(
            (
                trace_rowid,
                tid,
                record["name"],
                start_ns,
                record["end_time_ns"],
                record["status"],
                len(spans),
                record["error_count"],
                sum(1 for s in spans if s.get("late")),
                0 if record.get("late") else 1,
                *map(usage.get, USAGE_COLUMNS),
                record.get("cost_usd"),
                _json(models),
                _json(providers),
                _json(tags),
                _json(record.get("metadata") or {}),
                record.get("user_id"),
                record.get("session_id"),
            )
        )
        self._insert_spans(trace_rowid, 0, record, spans)
        self._set_facets(trace_rowid, start_ns, self._facet_ids(models, providers, tags))

    def _insert_spans(
        self,
        trace_rowid: int,
        frag: int,
        record: Mapping[str, Any],
        spans: Sequence[Mapping[str, Any]],
    ) -> None:
        payloads = [
            span_payload(s, record["name"] if i == 0 else None) for i, s in enumerate(spans)
        ]
        encoded = [orjson.dumps(p) for p in payloads]
        segments = self.c.codec.encode_fragment(self.dict_id, encoded)
        rows = self.span_rows
        for seq, (span, segment) in enumerate(zip(spans, segments, strict=True)):
            usage = span.get("usage") or {}
            model, provider = span.get("model"), span.get("provider")
            rows.append(
                (
                    trace_rowid,
                    bytes.fromhex(span["span_id"]),
                    frag,
                    seq,
                    self.dict_id,
                    span["start_time_ns"],
                    span["end_time_ns"],
                    span["status"],
                    1 if span.get("late") else 0,
                    None if model is None else self.name_id(KIND_MODEL, model),
                    None if provider is None else self.name_id(KIND_PROVIDER, provider),
                    *map(usage.get, USAGE_COLUMNS),
                    span.get("cost_usd"),
                    segment,
                )
            )
        if self.has_text:
            self.text_rows.append((text_rowid(trace_rowid, frag), doc_text(payloads)))

    def _facet_ids(
        self, models: Iterable[str], providers: Iterable[str], tags: Mapping[str, Any]
    ) -> list[int]:
        ids = [self.name_id(KIND_MODEL, m) for m in models]
        ids += [self.name_id(KIND_PROVIDER, p) for p in providers]
        ids += [self.name_id(KIND_TAG, tag_key(k, v)) for k, v in tags.items()]
        return ids

    def _set_facets(self, trace_rowid: int, start_ns: int, ids: Iterable[int]) -> None:
        self.facet_rows.extend((i, start_ns, trace_rowid) for i in ids)

    def _merge(
        self, tid: bytes, record: Mapping[str, Any], spans: Sequence[Mapping[str, Any]]
    ) -> None:
        """Add a record's new spans to a stored trace and recompute its summary."""
        self.finish()  # this batch's rows for the trace must be visible to the queries below
        old = self.conn.execute(
            "SELECT id, start_time_ns, has_root, models, providers, tags FROM traces"
            " WHERE trace_id = ?",
            (tid,),
        ).fetchone()
        trace_rowid, old_start, has_root = int(old[0]), int(old[1]), bool(old[2])
        stored = {
            bytes(r[0])
            for r in self.conn.execute(
                "SELECT span_id FROM spans WHERE trace_rowid = ?", (trace_rowid,)
            )
        }
        fresh = [s for s in spans if bytes.fromhex(s["span_id"]) not in stored]
        is_root_record = not record.get("late")
        if not fresh and (has_root or not is_root_record):
            return  # the same record stored twice: nothing new
        if fresh:
            frag = self.conn.execute(
                "SELECT coalesce(max(frag), -1) + 1 FROM spans WHERE trace_rowid = ?",
                (trace_rowid,),
            ).fetchone()[0]
            self._insert_spans(trace_rowid, int(frag), record, fresh)
            self.finish()  # the aggregates below read them
        agg = self.conn.execute(
            "SELECT count(*), coalesce(sum(status = 'ERROR'), 0), coalesce(sum(late), 0),"
            " min(start_time_ns), max(end_time_ns), sum(cost_usd), "
            + ", ".join(f"sum({k})" for k in USAGE_COLUMNS)
            + " FROM spans WHERE trace_rowid = ?",
            (trace_rowid,),
        ).fetchone()
        models = self._ordered_names(trace_rowid, "model_id")
        providers = self._ordered_names(trace_rowid, "provider_id")
        values: dict[str, Any] = {
            "span_count": agg[0],
            "error_count": agg[1],
            "late_span_count": agg[2],
            "cost_usd": agg[5],
            "models": _json(models),
            "providers": _json(providers),
        }
        values.update(zip(USAGE_COLUMNS, agg[6:], strict=True))
        tags = orjson.loads(old[5])
        if is_root_record:  # the main record: its summary fields win
            tags = record.get("tags") or {}
            values.update(
                name=record["name"],
                start_time_ns=record["start_time_ns"],
                end_time_ns=record["end_time_ns"],
                status=record["status"],
                tags=_json(tags),
                metadata=_json(record.get("metadata") or {}),
                user_id=record.get("user_id"),
                session_id=record.get("session_id"),
                has_root=1,
            )
        elif not has_root:  # only late records so far: they span what we have
            values.update(
                start_time_ns=agg[3],
                end_time_ns=agg[4],
                status="ERROR" if agg[1] else "OK",
            )
        new_start = int(values.get("start_time_ns", old_start))
        self.conn.execute(
            "UPDATE traces SET " + ", ".join(f"{k} = ?" for k in values) + " WHERE id = ?",
            (*values.values(), trace_rowid),
        )
        old_ids = self._facet_ids(orjson.loads(old[3]), orjson.loads(old[4]), orjson.loads(old[5]))
        self.conn.executemany(
            "DELETE FROM trace_facets WHERE name_id = ? AND start_time_ns = ? AND trace_rowid = ?",
            [(i, old_start, trace_rowid) for i in old_ids],
        )
        self._set_facets(trace_rowid, new_start, self._facet_ids(models, providers, tags))

    def _ordered_names(self, trace_rowid: int, column: str) -> list[str]:
        rows = self.conn.execute(
            f"SELECT n.value FROM spans s JOIN names n ON n.id = s.{column}"
            " WHERE s.trace_rowid = ? ORDER BY s.start_time_ns",
            (trace_rowid,),
        ).fetchall()
        return _distinct(r[0] for r in rows)


def tag_key(key: str, value: Any) -> str:
    """How a tag is interned for the facet index: a JSON pair, so any key or value works."""
    return orjson.dumps([str(key), str(value)]).decode()


def _distinct(values: Iterable[str | None]) -> list[str]:
    out: list[str] = []
    for v in values:
        if v and v not in out:
            out.append(v)
    return out


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
