"""The ``tracekit ui`` JSON API and its security rules, through Starlette's TestClient."""

from __future__ import annotations

import itertools
import re
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the ui extra (starlette) is not installed")
pytest.importorskip("httpx", reason="starlette's TestClient needs httpx")

with warnings.catch_warnings():
    # Starlette releases before 0.41 name anyio.abc.BlockingPortal in their TestClient, an
    # alias anyio 4.x deprecates on access; only that import is excused from -W error.
    warnings.filterwarnings(
        "ignore", message="The anyio.abc.BlockingPortal alias", category=DeprecationWarning
    )
    from starlette.testclient import TestClient

from tracekit.ui.app import CONTENT_SECURITY_POLICY, create_app

from .conftest import DEEP_LEVELS, WIDE_SPANS, XSS_NAME, jsonl_copy

LOCAL = "http://127.0.0.1:8765"


@pytest.fixture(scope="module")
def client(ui_store: dict[str, Any]) -> TestClient:
    return TestClient(create_app(ui_store["path"]), base_url=LOCAL)


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [t["name"] for t in response.json()["traces"]]


# -- /api/traces ----------------------------------------------------------------------------------


def test_list_newest_first_with_summaries(client: TestClient, ui_store: dict[str, Any]) -> None:
    body = client.get("/api/traces").json()
    assert [t["trace_id"] for t in body["traces"]][:2] == [ui_store["wide"], ui_store["deep"]]
    assert body["offset"] == 0 and body["limit"] == 50 and body["has_more"] is False
    assert len(body["traces"]) == ui_store["count"]
    weather = next(t for t in body["traces"] if t["name"] == "weather_agent")
    assert weather["usage"]["total_tokens"] == 1151
    assert weather["cost_usd"] == pytest.approx(0.0002105)
    assert weather["models"] == ["gpt-4o-mini-2024-07-18"]
    assert weather["user_id"] == "u-1" and weather["session_id"] == "s-1"
    assert weather["tags"] == {"env": "prod"}
    starts = [t["start_time_ns"] for t in body["traces"]]
    assert starts == sorted(starts, reverse=True)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"text": "Bergen"}, ["failing_agent"]),
        ({"text": "sunny osl"}, ["weather_agent"]),
        ({"model": "gpt-4o*"}, ["failing_agent", "weather_agent"]),
        ({"model": "o4-mini"}, ["responses_agent"]),
        ({"provider": "anthropic"}, ["claude_agent"]),
        ({"status": "error"}, ["failing_agent"]),
        ({"tag": "env=prod"}, ["claude_agent", "weather_agent"]),
        ({"tag": "env=prod,v=x"}, []),
        ({"user": "u-2"}, ["responses_agent"]),
        ({"session": "s-1"}, ["claude_agent", "weather_agent"]),
        ({"name": "deep_chain"}, ["deep_chain"]),
        ({"min_cost": "0.004"}, ["claude_agent"]),
        ({"since": "1h", "status": "ERROR"}, ["failing_agent"]),
        ({"until": "2000-01-01"}, []),
        ({"session": "s-1", "order": "start_time"}, ["weather_agent", "claude_agent"]),
    ],
)
def test_filters_match_search_traces(
    client: TestClient, params: dict[str, str], expected: list[str]
) -> None:
    assert names(client.get("/api/traces", params=params)) == expected


def test_repeated_tag_parameters_all_apply(client: TestClient) -> None:
    url = "/api/traces?tag=env%3Dprod&tag=nope%3D1"
    assert names(client.get(url)) == []


def test_paging(client: TestClient, ui_store: dict[str, Any]) -> None:
    first = client.get("/api/traces", params={"limit": 3}).json()
    assert len(first["traces"]) == 3 and first["has_more"] is True
    rest = client.get("/api/traces", params={"limit": 3, "offset": 3}).json()
    last = client.get("/api/traces", params={"limit": 3, "offset": 6}).json()
    assert last["has_more"] is False
    ids = [t["trace_id"] for page in (first, rest, last) for t in page["traces"]]
    assert len(ids) == len(set(ids)) == ui_store["count"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "WARN"}, "status must be 'OK' or 'ERROR'"),
        ({"since": "yesterday"}, "since: cannot read 'yesterday' as a time"),
        ({"limit": "0"}, "limit must be between 1 and 500"),
        ({"limit": "x"}, "limit must be an integer"),
        ({"offset": "-1"}, "offset must be between"),
        ({"tag": "novalue"}, "tag must be KEY=VALUE"),
        ({"order": "name"}, "order_by must be one of"),
        ({"min_cost": "cheap"}, "min_cost must be a number"),
        ({"text": "!!!"}, "text must contain at least one letter or digit"),
    ],
)
def test_bad_filters_are_400_with_the_reason(
    client: TestClient, params: dict[str, str], message: str
) -> None:
    response = client.get("/api/traces", params=params)
    assert response.status_code == 400
    assert message in response.json()["error"]


# -- /api/traces/{id} -----------------------------------------------------------------------------


def test_one_trace_as_a_flat_tree(client: TestClient, ui_store: dict[str, Any]) -> None:
    body = client.get(f"/api/traces/{ui_store['weather']}").json()
    assert body["name"] == "weather_agent" and body["span_count"] == 4
    spans = body["spans"]
    assert [(s["name"], s["depth"], s["child_count"]) for s in spans] == [
        ("weather_agent", 0, 3),
        ("chat gpt-4o-mini", 1, 0),
        ("get_weather", 1, 0),
        ("chat gpt-4o-mini", 1, 0),
    ]
    root = spans[0]["span_id"]
    assert all(s["parent_span_id"] == root for s in spans[1:])
    assert "children" not in spans[0]
    final = spans[3]
    assert final["model"] == "gpt-4o-mini-2024-07-18" and final["provider"] == "openai"
    assert final["usage"]["cached_input_tokens"] == 384
    assert [m["role"] for m in final["inputs"]["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
    ]
    assert final["outputs"]["content"] == "It is sunny in Oslo, 21°C."


def test_a_prefix_finds_the_trace(client: TestClient, ui_store: dict[str, Any]) -> None:
    body = client.get(f"/api/traces/{ui_store['claude'][:10]}").json()
    assert body["trace_id"] == ui_store["claude"]


@pytest.mark.parametrize(
    ("trace_id", "status", "message"),
    [
        ("0" * 32, 404, "no trace"),
        ("abc", 400, "at least 6 hex digits"),
        ("not-hex-at-all", 400, "up to 32 hex digits"),
    ],
)
def test_unknown_or_bad_ids(client: TestClient, trace_id: str, status: int, message: str) -> None:
    response = client.get(f"/api/traces/{trace_id}")
    assert response.status_code == status
    assert message in response.json()["error"]


def test_failed_span_carries_the_exception(client: TestClient, ui_store: dict[str, Any]) -> None:
    spans = client.get(f"/api/traces/{ui_store['failed']}").json()["spans"]
    tool = next(s for s in spans if s["name"] == "flaky_lookup")
    assert tool["status"] == "ERROR"
    assert tool["error"]["type"] == "TimeoutError"
    assert "Traceback" in tool["error"]["stacktrace"]


def test_deep_and_wide_traces(client: TestClient, ui_store: dict[str, Any]) -> None:
    deep = client.get(f"/api/traces/{ui_store['deep']}").json()["spans"]
    assert [s["depth"] for s in deep] == list(range(DEEP_LEVELS))
    wide = client.get(f"/api/traces/{ui_store['wide']}").json()["spans"]
    assert len(wide) == WIDE_SPANS + 1
    assert wide[0]["child_count"] == 50
    assert [s["name"] for s in wide[1:3]] == ["batch-0", "item-0-0"]


def test_a_trace_deeper_than_the_recursion_limit() -> None:
    """Flattening uses no recursion: a 1,500-level chain of spans comes back whole."""
    from tracekit.store import SpanRecord, TraceDetail
    from tracekit.ui._queries import flat_spans

    spans = [
        SpanRecord(
            span_id=f"{i + 1:016x}",
            parent_span_id=f"{i:016x}" if i else None,
            trace_id="a" * 32,
            name=f"s{i}",
            span_type="CHAIN",
            start_time_ns=1_000 + i,
            end_time_ns=10_000,
            duration_ms=0.009,
        )
        for i in range(1500)
    ]
    for parent, child in itertools.pairwise(spans):
        parent.children.append(child)
    detail = TraceDetail(
        trace_id="a" * 32,
        name="deep",
        start_time_ns=1_000,
        end_time_ns=10_000,
        duration_ms=0.009,
        status="OK",
        span_count=1500,
        error_count=0,
        spans=[spans[0]],
    )
    flat = flat_spans(detail)
    assert [s["depth"] for s in flat] == list(range(1500))


# -- /api/stats, /api/sessions, /api/info ---------------------------------------------------------


def test_stats_per_model_and_per_day(client: TestClient) -> None:
    body = client.get("/api/stats", params={"since": "7d"}).json()
    assert body["traces"] == 7
    by_model = {m["model"]: m for m in body["by_model"]}
    mini = by_model["gpt-4o-mini-2024-07-18"]
    assert mini["calls"] == 2 and mini["errors"] == 0
    assert mini["input_tokens"] == 1067 and mini["output_tokens"] == 84
    assert mini["cost_usd"] == pytest.approx(0.0002105)
    assert mini["p50_ms"] > 0 and mini["p95_ms"] >= mini["p50_ms"]
    (day,) = body["by_day"]
    assert day["traces"] == 7 and day["errors"] == 1
    assert day["error_rate"] == pytest.approx(1 / 7)
    assert day["p95_ms"] >= day["p50_ms"] > 0
    assert client.get("/api/stats", params={"until": "2000-01-01"}).json()["traces"] == 0
    assert client.get("/api/stats", params={"since": "soon"}).status_code == 400


def test_sessions_grouped_newest_first(client: TestClient) -> None:
    body = client.get("/api/sessions").json()
    ids = [s["session_id"] for s in body["sessions"]]
    assert ids[1:] == ["s-3", "s-2", "s-1"]  # the XSS trace's session is the newest
    s1 = body["sessions"][3]
    assert s1["traces"] == 2 and s1["users"] == ["u-1"] and s1["error_traces"] == 0
    assert s1["total_tokens"] == 1151 + 1020
    assert s1["cost_usd"] == pytest.approx(0.0002105 + 0.0045)
    assert client.get("/api/sessions", params={"user": "u-3"}).json()["sessions"][0][
        "session_id"
    ] == ("s-3")
    paged = client.get("/api/sessions", params={"limit": 2}).json()
    assert len(paged["sessions"]) == 2 and paged["has_more"] is True


def test_one_session_in_order_with_previews(client: TestClient) -> None:
    body = client.get("/api/sessions/s-1").json()
    assert body["session_id"] == "s-1" and body["traces"] == 2
    turns = body["traces_list"]
    assert [t["name"] for t in turns] == ["weather_agent", "claude_agent"]
    assert turns[0]["input_preview"] == "What is the weather in Oslo?"
    assert turns[0]["output_preview"] == "It is sunny in Oslo, 21°C."
    assert body["truncated"] is False
    assert client.get("/api/sessions/nope").status_code == 404


def test_session_ids_with_slashes_and_markup(client: TestClient) -> None:
    from urllib.parse import quote

    from .conftest import XSS_PAYLOADS

    response = client.get("/api/sessions/" + quote(XSS_PAYLOADS[0], safe=""))
    assert response.status_code == 200
    assert response.json()["traces_list"][0]["name"] == XSS_NAME


def test_info(client: TestClient, ui_store: dict[str, Any]) -> None:
    body = client.get("/api/info").json()
    assert body["store"] == str(ui_store["path"]) and body["kind"] == "sqlite"
    assert body["exists"] is True and body["token_required"] is False
    assert "claude-sonnet-4-5" in body["models"]


def test_jsonl_store_gives_the_same_answers(
    client: TestClient, ui_store: dict[str, Any], tmp_path: Path
) -> None:
    path = jsonl_copy(ui_store, tmp_path / "traces.jsonl")
    jsonl = TestClient(create_app(path), base_url=LOCAL)
    for url, params in [
        ("/api/traces", {"model": "gpt-4o*"}),
        ("/api/traces", {"text": "Bergen"}),
        ("/api/sessions", {}),
        ("/api/sessions/s-1", {}),
        (f"/api/traces/{ui_store['weather']}", {}),
    ]:
        assert jsonl.get(url, params=params).json() == client.get(url, params=params).json()
    assert jsonl.get("/api/info").json()["models"] == client.get("/api/info").json()["models"]


def test_missing_store_is_404_until_it_exists(tmp_path: Path) -> None:
    path = tmp_path / "later.db"
    c = TestClient(create_app(path), base_url=LOCAL)
    assert c.get("/api/info").json()["exists"] is False
    response = c.get("/api/traces")
    assert response.status_code == 404
    assert f"no trace store at {path}" in response.json()["error"]
    from tracekit.exporters.sqlite import SqliteExporter

    SqliteExporter(path).shutdown()
    assert c.get("/api/traces").json()["traces"] == []


def test_not_a_store_is_503(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_text("hello")
    response = TestClient(create_app(path), base_url=LOCAL).get("/api/traces")
    assert response.status_code == 503
    assert "not a SQLite database" in response.json()["error"]


def test_the_store_is_never_written(ui_store: dict[str, Any], tmp_path: Path) -> None:
    import shutil

    path = tmp_path / "copy.db"
    shutil.copy(ui_store["path"], path)
    before = path.read_bytes()
    app = create_app(path)
    c = TestClient(app, base_url=LOCAL)
    for url in ("/api/traces", "/api/stats", "/api/sessions", "/api/sessions/s-1", "/api/info"):
        assert c.get(url).status_code == 200
    app.state.stores.close()
    assert path.read_bytes() == before


# -- the page and security ------------------------------------------------------------------------


def test_page_and_assets(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="static/app.js" defer></script>' in page.text
    assert "<script>" not in page.text and "style=" not in page.text  # nothing inline
    for name, kind in [
        ("app.js", "text/javascript"),
        ("style.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ]:
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/index.html").status_code == 404
    assert client.get("/api/nope").status_code == 404


def test_security_headers_on_every_answer(client: TestClient, ui_store: dict[str, Any]) -> None:
    for url in ("/", "/static/app.js", "/api/traces", "/api/traces/" + "0" * 32):
        headers = client.get(url).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"
    assert client.get("/api/traces").headers["cache-control"] == "no-store"
    csp = CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in csp and "unsafe" not in csp
    assert "require-trusted-types-for 'script'" in csp


def test_no_cors_headers_even_when_asked(client: TestClient) -> None:
    response = client.get("/api/traces", headers={"Origin": "https://evil.example"})
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    preflight = client.options(
        "/api/traces",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 405
    assert not [h for h in preflight.headers if h.lower().startswith("access-control-")]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_read_only(client: TestClient, method: str) -> None:
    response = client.request(method, "/api/traces")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_cross_site_requests_are_refused(client: TestClient) -> None:
    fetch = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}
    assert client.get("/api/traces", headers=fetch).status_code == 403
    navigate = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    assert client.get("/", headers=navigate).status_code == 200
    same = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
    assert client.get("/api/traces", headers=same).status_code == 200


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:8765", 200),
        ("localhost:8765", 200),
        ("[::1]:8765", 200),
        ("localhost", 200),
        ("evil.example:8765", 400),
        ("127.0.0.1.evil.example", 400),
        ("", 400),
    ],
)
def test_loopback_host_header_only_without_token(
    ui_store: dict[str, Any], host: str, status: int
) -> None:
    """DNS rebinding: another site's name pointed at 127.0.0.1 is refused."""
    c = TestClient(create_app(ui_store["path"]), base_url=LOCAL)
    assert c.get("/api/traces", headers={"Host": host}).status_code == status


def test_token_required_on_every_request(ui_store: dict[str, Any]) -> None:
    token = "Zm9vYmFyYmF6cXV4"
    c = TestClient(create_app(ui_store["path"], token=token), base_url="http://192.0.2.1:8765")
    for url in ("/", "/static/app.js", "/api/traces", "/api/info"):
        assert c.get(url).status_code == 403
        assert c.get(url, params={"token": "wrong"}).status_code == 403
        assert c.get(url, params={"token": token}).status_code == 200
    page = c.get("/", params={"token": token}).text
    # The page's own assets carry the token too.
    assert f'"static/app.js?token={token}"' in page
    assert f'"static/style.css?token={token}"' in page
    assert c.get("/api/info", params={"token": token}).json()["token_required"] is True
    assert (
        c.get("/api/traces", params={"token": token}, headers={"Host": "any.name"}).status_code
        == 200
    )


def test_the_page_script_never_parses_html() -> None:
    """The page builds its DOM with createElement/textContent only."""
    source = (resources.files("tracekit.ui") / "static" / "app.js").read_text()
    code = re.sub(r"//[^\n]*", "", source)  # comments may name what is forbidden
    for forbidden in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "DOMParser",
        "createContextualFragment",
        "srcdoc",
    ):
        assert forbidden not in code, forbidden
