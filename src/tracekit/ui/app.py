"""The ``tracekit ui`` web application: a JSON API over the trace store and a static page.

:func:`create_app` returns a Starlette application. It only reads: every route answers
``GET`` (and ``HEAD``); anything else is refused with 405. It sends no CORS headers, so other
sites' pages cannot read its answers, and a strict Content-Security-Policy, so the page runs
no script but its own ``app.js`` whatever the traces contain.

Routes (all JSON objects; an error is ``{"error": message}`` with status 400, 404 or 503):

- ``GET /api/info``: the store path and kind, whether it exists, its model names.
- ``GET /api/traces``: summaries, newest first; the filters of
  :func:`tracekit.store.search_traces` as query parameters.
- ``GET /api/traces/{trace_id}``: one trace, its spans as a flat list in tree order.
- ``GET /api/stats``: per model and per day, ``since``/``until`` as for searches.
- ``GET /api/sessions`` and ``GET /api/sessions/{session_id}``: traces grouped by session.

Example:
    >>> import uvicorn
    >>> from tracekit.ui.app import create_app
    >>> uvicorn.run(create_app("~/.tracekit/traces.db"), host="127.0.0.1", port=8765)
"""

from __future__ import annotations

import contextlib
import hmac
import os
import queue
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import tracekit
from tracekit.store import (
    StoreError,
    StoreNotFoundError,
    TraceStore,
    default_store_path,
    parse_time,
)

from . import _queries

__all__ = ["CONTENT_SECURITY_POLICY", "create_app"]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none';"
    " require-trusted-types-for 'script'; trusted-types 'none'"
)
"""No inline script or style, nothing from elsewhere, and (Trusted Types) no HTML parsing
from strings in script at all: ``innerHTML = ...`` throws in the page."""

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
"""``Host`` header names accepted when no token is set (the server is bound to loopback).
Anything else is a DNS-rebinding attempt: a page on another site whose name now resolves to
127.0.0.1 would send its own host name."""

STATIC_FILES: dict[str, str] = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
MAX_PAGE = 500
"""The largest ``limit`` of ``/api/traces`` and ``/api/sessions``."""
SESSION_TRACES = 1000
"""``/api/sessions/{id}`` lists at most this many traces of the session (in order)."""
SESSION_PREVIEWS = 200
"""... and shows the root inputs and outputs of the first this many of them."""

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


class JsonResponse(Response):
    """A JSON response serialised with orjson (pydantic ``model_dump(mode="json")`` input)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialise ``content``."""
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status_code=status)


class BadRequest(ValueError):
    """A query parameter the API cannot use; answered with 400 and the message."""


# -- the store, opened once per worker thread's turn ---------------------------------------------


@dataclass
class _Reader:
    store: TraceStore
    conn: sqlite3.Connection | None  # read-only SQL for sessions and models (SQLite only)
    stamp: tuple[int, int] | None  # a JSONL file's (mtime, size) when it was read

    def close(self) -> None:
        self.store.close()
        if self.conn is not None:
            self.conn.close()


class _Stores:
    """Opened stores, reused across requests: one request uses one at a time.

    A SQLite store sees new traces at every query (each is its own read transaction). A JSONL
    file is read whole when opened, so a reader is dropped when the file changed since.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.jsonl = path.suffix.lower() == ".jsonl"
        self._idle: queue.SimpleQueue[_Reader] = queue.SimpleQueue()
        self._lock = threading.Lock()

    def _stamp(self) -> tuple[int, int] | None:
        if not self.jsonl:
            return None
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _open(self) -> _Reader:
        stamp = self._stamp()
        store = TraceStore.open(self.path)
        conn = None
        if not self.jsonl:
            try:
                conn = _queries.read_only_connection(self.path)
            except BaseException:
                store.close()
                raise
        return _Reader(store, conn, stamp)

    @contextlib.contextmanager
    def reader(self) -> Iterator[_Reader]:
        """A reader for the duration of one request."""
        reader: _Reader | None = None
        while reader is None:
            try:
                candidate = self._idle.get_nowait()
            except queue.Empty:
                reader = self._open()
                break
            if candidate.stamp != self._stamp():
                candidate.close()
                continue
            reader = candidate
        ok = False
        try:
            yield reader
            ok = True
        finally:
            if ok:
                self._idle.put(reader)
            else:  # after a store error the connection may be unusable: start afresh
                reader.close()

    def close(self) -> None:
        """Close the idle readers."""
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


# -- query parameters -----------------------------------------------------------------------------


def _one(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _int(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = _one(request, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(request: Request, name: str) -> float | None:
    raw = _one(request, name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {raw!r}") from None


def _tags(request: Request) -> dict[str, str] | None:
    tags: dict[str, str] = {}
    for item in request.query_params.getlist("tag"):
        if not item.strip():
            continue
        for part in item.split(","):
            key, sep, value = part.strip().partition("=")
            if not sep or not key.strip():
                raise BadRequest(f"tag must be KEY=VALUE, got {part.strip()!r}")
            tags[key.strip()] = value.strip()
    return tags or None


def _search_filters(request: Request) -> dict[str, Any]:
    """The query parameters of ``/api/traces`` as ``search_traces`` arguments."""
    return {
        "text": _one(request, "text"),
        "trace_id": _one(request, "trace_id"),
        "name": _one(request, "name"),
        "model": _one(request, "model"),
        "provider": _one(request, "provider"),
        "status": _one(request, "status"),
        "since": _one(request, "since"),
        "until": _one(request, "until"),
        "tags": _tags(request),
        "user_id": _one(request, "user"),
        "session_id": _one(request, "session"),
        "min_duration_ms": _float(request, "min_duration"),
        "min_cost_usd": _float(request, "min_cost"),
        "order_by": _one(request, "order") or "-start_time",
    }


def _time(request: Request, name: str) -> int | None:
    raw = _one(request, name)
    return None if raw is None else parse_time(raw, name=name)


# -- the application ------------------------------------------------------------------------------


def create_app(store_path: str | os.PathLike[str] | None, *, token: str | None = None) -> Starlette:
    """The ``tracekit ui`` application over the store at ``store_path``.

    Args:
        store_path: a SQLite store or a ``.jsonl`` file; ``None`` for
            :func:`~tracekit.store.default_store_path`. It need not exist yet: the API answers
            404 with a message until it does, and the page says so and keeps polling.
        token: when set, every request must carry ``?token=<token>`` (compared in constant
            time), and any ``Host`` is accepted: for a server bound to a non-loopback address.
            When ``None``, only requests whose ``Host`` is a loopback name are answered
            (against DNS rebinding): for a server bound to 127.0.0.1.

    Returns:
        A Starlette application; serve it with uvicorn (``tracekit ui`` does).

    Example:
        >>> from starlette.testclient import TestClient
        >>> client = TestClient(create_app("traces.db"), base_url="http://127.0.0.1")
        >>> client.get("/api/traces", params={"status": "ERROR", "since": "1h"}).json()
        {'traces': [...], 'offset': 0, 'limit': 50, 'has_more': False}
    """
    path = default_store_path() if store_path is None else Path(store_path).expanduser()
    stores = _Stores(path)
    static = resources.files("tracekit.ui") / "static"
    assets = {name: (static / name).read_bytes() for name in STATIC_FILES}
    index = (static / "index.html").read_bytes()
    if token is not None:
        # Every request carries the token, the page's own assets included.
        for name in STATIC_FILES:
            index = index.replace(
                f'"static/{name}"'.encode(), f'"static/{name}?token={token}"'.encode()
            )

    def api(
        handler: Callable[[Request, _Reader], Any],
    ) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            try:
                with stores.reader() as reader:
                    result = handler(request, reader)
            except StoreNotFoundError as exc:
                return _error(404, str(exc))
            except StoreError as exc:
                return _error(503, str(exc))
            except ValueError as exc:  # bad filters, bad ids (BadRequest included)
                return _error(400, str(exc))
            if isinstance(result, Response):
                return result
            return JsonResponse(result)

        return endpoint

    def info(request: Request, reader: _Reader) -> dict[str, Any]:
        return {
            "store": str(path),
            "kind": "jsonl" if stores.jsonl else "sqlite",
            "exists": True,
            "version": tracekit.__version__,
            "models": _queries.models(reader.store, reader.conn),
            "token_required": token is not None,
        }

    def info_endpoint(request: Request) -> Response:
        if not path.exists():
            return JsonResponse(
                {
                    "store": str(path),
                    "kind": "jsonl" if stores.jsonl else "sqlite",
                    "exists": False,
                    "version": tracekit.__version__,
                    "models": [],
                    "token_required": token is not None,
                }
            )
        return api(info)(request)

    def traces(request: Request, reader: _Reader) -> dict[str, Any]:
        filters = _search_filters(request)
        limit = _int(request, "limit", 50, low=1, high=MAX_PAGE)
        offset = _int(request, "offset", 0, low=0, high=10**9)
        found = reader.store.search(**filters, limit=limit + 1, offset=offset)
        return {
            "traces": [t.model_dump(mode="json") for t in found[:limit]],
            "offset": offset,
            "limit": limit,
            "has_more": len(found) > limit,
        }

    def trace(request: Request, reader: _Reader) -> Any:
        trace_id = request.path_params["trace_id"]
        detail = reader.store.get(trace_id)
        if detail is None:
            return _error(404, f"no trace {trace_id!r} in {path}")
        return _queries.trace_json(detail)

    def stats(request: Request, reader: _Reader) -> dict[str, Any]:
        result = reader.store.stats(since=_one(request, "since"), until=_one(request, "until"))
        return result.model_dump(mode="json")

    def sessions(request: Request, reader: _Reader) -> dict[str, Any]:
        limit = _int(request, "limit", 50, low=1, high=MAX_PAGE)
        offset = _int(request, "offset", 0, low=0, high=10**9)
        since_ns, until_ns = _time(request, "since"), _time(request, "until")
        rows = _queries.sessions(
            reader.store,
            reader.conn,
            user_id=_one(request, "user"),
            since_ns=since_ns,
            until_ns=until_ns,
            limit=limit + 1,
            offset=offset,
        )
        return {
            "sessions": rows[:limit],
            "offset": offset,
            "limit": limit,
            "has_more": len(rows) > limit,
        }

    def session(request: Request, reader: _Reader) -> Any:
        session_id = request.path_params["session_id"]
        found = reader.store.search(
            session_id=session_id, order_by="start_time", limit=SESSION_TRACES + 1
        )
        if not found:
            return _error(404, f"no traces of session {session_id!r} in {path}")
        shown = found[:SESSION_TRACES]
        turns = []
        for i, t in enumerate(shown):
            row = t.model_dump(mode="json")
            if i < SESSION_PREVIEWS:
                detail = reader.store.get(t.trace_id)
                root = detail.spans[0] if detail is not None and detail.spans else None
                row["input_preview"] = None if root is None else _queries.preview(root.inputs)
                row["output_preview"] = None if root is None else _queries.preview(root.outputs)
            turns.append(row)
        return {
            **_queries.session_summary(session_id, shown),
            "traces_list": turns,
            "truncated": len(found) > SESSION_TRACES,
        }

    def page(request: Request) -> Response:
        return Response(index, media_type="text/html; charset=utf-8")

    def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets:
            return Response(b"not found", status_code=404, media_type="text/plain")
        return Response(assets[name], media_type=STATIC_FILES[name])

    def not_found(request: Request) -> Response:
        return _error(404, f"no API route {request.url.path}")

    routes = [
        Route("/", page, methods=["GET", "HEAD"]),
        Route("/static/{name}", asset, methods=["GET", "HEAD"]),
        Route("/api/info", info_endpoint, methods=["GET", "HEAD"]),
        Route("/api/traces", api(traces), methods=["GET", "HEAD"]),
        Route("/api/traces/{trace_id}", api(trace), methods=["GET", "HEAD"]),
        Route("/api/stats", api(stats), methods=["GET", "HEAD"]),
        Route("/api/sessions", api(sessions), methods=["GET", "HEAD"]),
        Route("/api/sessions/{session_id:path}", api(session), methods=["GET", "HEAD"]),
        Route("/api/{rest:path}", not_found, methods=["GET", "HEAD"]),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(_Guard, token=token)])
    app.state.stores = stores
    return app


class _Guard:
    """Checks every request before the app sees it and adds the security headers.

    - methods other than GET and HEAD: 405 (the UI only reads);
    - with a token: ``?token=`` must match, else 403; without one: the ``Host`` header must
      name a loopback host, else 400 (DNS rebinding);
    - a request another site's page made (``Sec-Fetch-Site: cross-site``) other than a
      top-level navigation: 403;
    - every response gets the Content-Security-Policy and the other headers of
      :data:`SECURITY_HEADERS`, and API answers ``Cache-Control: no-store``. No CORS header is
      ever sent.
    """

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    def _refusal(self, scope: MutableMapping[str, Any]) -> tuple[int, str] | None:
        if scope["method"] not in ("GET", "HEAD"):
            return 405, "tracekit ui is read-only: only GET and HEAD are answered"
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.token is not None:
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])
            if not hmac.compare_digest(given[-1].encode(), self.token.encode()):
                return 403, "a valid ?token= is required (it was printed by `tracekit ui`)"
        else:
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name.lower() not in LOCAL_HOSTS:
                return 400, f"unexpected Host header {host!r}: this server answers 127.0.0.1"
        site = headers.get("sec-fetch-site")
        if site == "cross-site" and headers.get("sec-fetch-mode") != "navigate":
            return 403, "requests from other sites are refused"
        return None

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = scope["path"].startswith("/api/")

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                headers.append((b"cache-control", b"no-store" if is_api else b"no-cache"))
                message["headers"] = headers
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            status, message = refusal
            response = _error(status, message)
            if status == 405:
                response.headers["allow"] = "GET, HEAD"
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
