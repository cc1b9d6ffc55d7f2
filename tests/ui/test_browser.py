"""``tracekit ui`` in a real browser: headless Chromium driven by Playwright.

Skipped (with the reason) when Playwright or Chromium is missing. Chromium is Debian's
``chromium`` package (``/usr/bin/chromium``, or ``$TRACEKIT_CHROMIUM``); Playwright never
downloads a browser here. Screenshots go to ``$TRACEKIT_ARTIFACTS`` (default: a
``tracekit-ui-artifacts`` directory in the system temp directory) for CI to keep.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the ui extra (starlette) is not installed")
pytest.importorskip("uvicorn", reason="the ui extra (uvicorn) is not installed")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)
expect = sync_api.expect

import uvicorn  # noqa: E402 (after the skips above)

import tracekit  # noqa: E402 (after the skips above)
from tracekit.exporters.sqlite import SqliteExporter  # noqa: E402 (after the skips above)
from tracekit.ui.app import create_app  # noqa: E402 (after the skips above)

from .conftest import DEEP_LEVELS, XSS_NAME, XSS_PAYLOADS  # noqa: E402 (after the skips above)

CHROMIUM = os.environ.get("TRACEKIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

pytestmark = pytest.mark.slow


# Read at import: the suite's autouse fixture removes TRACEKIT_* variables while tests run.
ARTIFACTS = Path(
    os.environ.get("TRACEKIT_ARTIFACTS") or Path(tempfile.gettempdir()) / "tracekit-ui-artifacts"
)


def artifacts_dir() -> Path:
    """Where screenshots go: $TRACEKIT_ARTIFACTS, else <tmp>/tracekit-ui-artifacts."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def server(ui_store: dict[str, Any]) -> Iterator[str]:
    with serve(create_app(ui_store["path"])) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """A fresh browser page that records console errors, page errors and dialogs."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 860})
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        self.page.on("dialog", on_dialog)

    def shot(self, name: str) -> Path:
        path = artifacts_dir() / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    p = Page(browser)
    yield p
    p.context.close()
    assert p.dialogs == [], f"dialogs opened: {p.dialogs}"
    assert p.errors == [], f"errors in the page: {p.errors}"


def open_trace(page: Page, server: str, trace_id: str) -> Any:
    pg = page.page
    pg.goto(f"{server}/#/trace/{trace_id}")
    pg.wait_for_selector(".explorer .row")
    return pg


def test_list_shows_traces_newest_first(page: Page, server: str, ui_store: dict[str, Any]) -> None:
    pg = page.page
    pg.goto(server + "/")
    pg.wait_for_selector(".traces-table tbody tr")
    rows = pg.locator(".traces-table tbody tr")
    assert rows.count() == ui_store["count"]
    assert rows.first.get_attribute("data-trace-id") == ui_store["wide"]  # written last
    failed = pg.locator(f'tr[data-trace-id="{ui_store["failed"]}"]')
    assert "ERROR" in failed.inner_text()
    assert "err" in (failed.get_attribute("class") or "")
    weather = pg.locator(f'tr[data-trace-id="{ui_store["weather"]}"]').inner_text()
    for expected in ("weather_agent", "OK", "1,151", "$0.00021", "gpt-4o-mini-2024-07-18", "u-1"):
        assert expected in weather
    assert pg.locator("#store-path").inner_text() == str(ui_store["path"])
    page.shot("list")


def test_filters_narrow_the_list_and_live_in_the_url(
    page: Page, server: str, ui_store: dict[str, Any]
) -> None:
    pg = page.page
    pg.goto(server + "/")
    pg.wait_for_selector(".traces-table tbody tr")
    pg.select_option("select[name=status]", "ERROR")  # applies at once
    expect(pg.locator(".traces-table tbody tr")).to_have_count(1)
    assert pg.locator(".traces-table tbody tr").get_attribute("data-trace-id") == ui_store["failed"]
    assert "status=ERROR" in pg.url
    pg.select_option("select[name=status]", "")
    pg.fill("input[name=model]", "claude*")
    pg.fill("input[name=tag]", "env=prod")
    pg.press("input[name=model]", "Enter")
    expect(pg.locator(".traces-table tbody tr")).to_have_count(1)
    assert pg.locator(".traces-table tbody tr").get_attribute("data-trace-id") == ui_store["claude"]
    pg.fill("input[name=model]", "")
    pg.fill("input[name=tag]", "")
    pg.fill("input[name=text]", "Bergen")
    pg.click("button[type=submit]")
    expect(pg.locator(".traces-table tbody tr")).to_have_count(1)
    assert pg.locator(".traces-table tbody tr").get_attribute("data-trace-id") == ui_store["failed"]
    page.shot("list-filtered")
    pg.goto(server + "/#/traces?limit=25&user=nobody")
    pg.wait_for_selector("text=No traces match these filters.")


def test_open_a_trace_and_read_the_chat(page: Page, server: str, ui_store: dict[str, Any]) -> None:
    pg = page.page
    pg.goto(server + "/")
    pg.click(f'tr[data-trace-id="{ui_store["weather"]}"] a')
    pg.wait_for_selector(".explorer .row")
    assert pg.locator(".trace-head h1").inner_text() == "weather_agent"
    names = pg.locator(".row .nm").all_inner_texts()
    assert names == ["weather_agent", "chat gpt-4o-mini", "get_weather", "chat gpt-4o-mini"]
    # The root is selected first: its inputs as key/value, its output as text.
    assert "What is the weather in Oslo?" in pg.locator(".panel").inner_text()
    bars = pg.locator(".row .bar")
    assert bars.count() == 4
    root_width = bars.nth(0).bounding_box()["width"]
    assert all(bars.nth(i).bounding_box()["width"] <= root_width + 0.5 for i in range(4))
    # The second model call: system / user / assistant with a tool call / tool result.
    pg.locator(".row").nth(3).click()
    panel = pg.locator(".panel")
    roles = panel.locator(".msg-role").all_inner_texts()
    assert [r.lower() for r in roles[:4]] == ["system", "user", "assistant", "tool"]
    assert "get_weather" in panel.locator(".tool-call").first.inner_text()
    assert '"city": "Oslo"' in panel.locator(".tool-call").first.inner_text()
    assert "Sunny, 21C" in panel.locator(".tool-result").first.inner_text()
    assert "It is sunny in Oslo, 21°C." in panel.inner_text()
    usage = panel.locator(".usage").inner_text()
    assert "gpt-4o-mini-2024-07-18" in usage and "$0.000135" in usage and "384" in usage
    assert "span=" in pg.url  # the selected span is in the URL
    # Raw JSON is built on demand.
    assert panel.locator("pre.json").count() == panel.locator(".tool-call pre.json").count()
    panel.locator("summary", has_text="Raw span JSON").click()
    assert '"span_type": "CHAT_MODEL"' in panel.locator("details[open] pre.json").last.inner_text()
    page.shot("trace")


def test_anthropic_thinking_and_responses_items(
    page: Page, server: str, ui_store: dict[str, Any]
) -> None:
    pg = open_trace(page, server, ui_store["claude"])
    pg.locator(".row").nth(1).click()
    panel = pg.locator(".panel")
    assert "Sys prompt: answer briefly." in panel.locator(".role-system").inner_text()
    assert "The user wants a summary" in panel.locator(".thinking").inner_text()
    assert "search result text" in panel.locator(".tool-result").inner_text()
    assert "follow-up" in panel.locator(".tool-call").last.inner_text()
    page.shot("trace-anthropic")
    pg = open_trace(page, server, ui_store["responses"])
    pg.locator(".row").nth(1).click()
    panel = pg.locator(".panel")
    assert "Be brief." in panel.locator(".role-system").inner_text()
    assert "Reasoning about the answer" in panel.locator(".thinking").inner_text()
    assert "The answer is 42." in panel.inner_text()
    assert "lookup" in panel.locator(".tool-call").inner_text()
    assert "reasoning tokens" in panel.locator(".usage").inner_text()


def test_errors_are_highlighted_with_the_exception(
    page: Page, server: str, ui_store: dict[str, Any]
) -> None:
    pg = open_trace(page, server, ui_store["failed"])
    err_rows = pg.locator(".row.row-err")
    assert err_rows.count() == 2  # the tool and the root it failed
    pg.click("text=Next error")
    panel = pg.locator(".panel")
    box = panel.locator(".error-box")
    assert "TimeoutError: weather API timed out" in box.inner_text()
    assert "Traceback" in box.locator("pre.stack").inner_text()
    assert pg.locator(".row.sel .nm").inner_text() in ("failing_agent", "flaky_lookup")
    page.shot("trace-error")


def test_expand_and_collapse_spans(page: Page, server: str, ui_store: dict[str, Any]) -> None:
    pg = open_trace(page, server, ui_store["weather"])
    assert pg.locator(".row").count() == 4
    pg.locator(".row").first.locator("button.tog").click()
    assert pg.locator(".row").count() == 1
    pg.locator(".row").first.locator("button.tog").click()
    assert pg.locator(".row").count() == 4
    # Keyboard: up/down select, left collapses.
    pg.locator(".row").first.click()
    pg.keyboard.press("ArrowDown")
    assert pg.locator(".row.sel .nm").inner_text() == "chat gpt-4o-mini"
    pg.keyboard.press("ArrowLeft")  # to the parent
    pg.keyboard.press("ArrowLeft")  # collapse it
    assert pg.locator(".row").count() == 1


def test_wide_trace_is_virtualised(page: Page, server: str, ui_store: dict[str, Any]) -> None:
    started = time.perf_counter()
    pg = open_trace(page, server, ui_store["wide"])
    elapsed = time.perf_counter() - started
    assert elapsed < 5, f"a 1,000-span trace took {elapsed:.1f} s to show"
    assert "1001 spans" in pg.locator(".toolbar").inner_text()
    shown = pg.locator(".row").count()
    assert 20 <= shown < 120, f"{shown} rows in the DOM for 1,001 spans"
    pg.locator(".scroller").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    pg.wait_for_selector(".row .nm >> text=item-49-18")
    assert pg.locator(".row").count() < 120
    # Filtering finds a span anywhere, with its ancestors.
    pg.fill(".span-filter", "item-17-3")
    expect(pg.locator(".row")).to_have_count(3)
    assert pg.locator(".row .nm").all_inner_texts() == ["wide_fanout", "batch-17", "item-17-3"]
    page.shot("trace-wide")


def test_deep_trace_shows_every_level(page: Page, server: str, ui_store: dict[str, Any]) -> None:
    pg = open_trace(page, server, ui_store["deep"])
    pg.locator(".scroller").focus()
    pg.keyboard.press("End")
    sel = pg.locator(".row.sel")
    assert sel.locator(".nm").inner_text() == f"level-{DEEP_LEVELS - 1}"
    assert sel.locator(".depth").inner_text() == f"L{DEEP_LEVELS - 1}"
    assert '"level"' not in pg.locator(".panel").inner_text()  # shown as key/value
    assert str(DEEP_LEVELS - 1) in pg.locator(".panel .kv.args").inner_text()
    pg.click("text=Collapse all")
    assert pg.locator(".row").count() == 2
    page.shot("trace-deep")


def test_overview_charts(page: Page, server: str) -> None:
    pg = page.page
    pg.goto(server + "/#/overview")
    pg.wait_for_selector(".chart svg")
    assert pg.locator(".tile").first.inner_text().startswith("7")
    captions = pg.locator(".chart figcaption").all_inner_texts()
    for expected in (
        "Traces per day",
        "Tokens per day",
        "Cost per day",
        "Error rate per day",
        "Trace latency per day",
        "Calls per model",
        "Latency per model",
    ):
        assert expected in captions
    assert pg.locator(".chart svg rect.bar-rect").count() > 10
    assert "gpt-4o-mini-2024-07-18" in pg.locator("table.list").inner_text()
    assert "null" not in pg.locator("main").inner_text()
    page.shot("overview")
    pg.click("button:has-text('24 h')")
    pg.wait_for_url("**range=24h")
    pg.wait_for_selector(".chart svg")


def test_sessions(page: Page, server: str, ui_store: dict[str, Any]) -> None:
    pg = page.page
    pg.goto(server + "/#/sessions")
    pg.wait_for_selector("table.list tbody tr")
    pg.click("table.list a:text-is('s-1')")
    pg.wait_for_selector(".turn")
    turns = pg.locator(".turn")
    assert turns.count() == 2
    assert "weather_agent" in turns.nth(0).inner_text()
    assert "What is the weather in Oslo?" in turns.nth(0).inner_text()
    assert "claude_agent" in turns.nth(1).inner_text()
    assert "null" not in pg.locator("main").inner_text()
    page.shot("session")
    turns.nth(1).locator("a").click()
    pg.wait_for_selector(".explorer .row")
    assert pg.locator(".trace-head h1").inner_text() == "claude_agent"


def test_script_injection_is_shown_as_text(
    page: Page, server: str, ui_store: dict[str, Any]
) -> None:
    pg = page.page
    pg.goto(server + "/")
    pg.wait_for_selector(".traces-table tbody tr")
    title = pg.title()
    xss_row = pg.locator(f'tr[data-trace-id="{ui_store["xss"]}"]')
    assert xss_row.locator("a").first.inner_text() == XSS_NAME
    xss_row.locator("a").first.click()
    pg.wait_for_selector(".explorer .row")
    for i in range(pg.locator(".row").count()):
        pg.locator(".row").nth(i).click()
        for summary in pg.locator(".panel summary").all():
            if not summary.evaluate("el => el.parentElement.open"):
                summary.click()
        page.shot(f"xss-span-{i}")
        text = pg.locator(".panel").inner_text()
        assert any(p in text for p in XSS_PAYLOADS), text
    pg.locator(".row").nth(1).click()
    panel = pg.locator(".panel").inner_text()
    for payload in XSS_PAYLOADS:
        assert payload in panel or payload in pg.locator("body").inner_text()
    pg.goto(server + "/#/sessions")
    pg.wait_for_selector("table.list tbody tr")
    pg.locator("table.list a", has_text="<img").click()
    pg.wait_for_selector(".turn")
    pg.goto(server + "/#/overview")
    pg.wait_for_selector(".chart svg")
    time.sleep(0.3)  # an onerror / onload would have fired by now
    assert pg.evaluate("window.__pwned") is None
    assert pg.title() == title == "tracekit"
    # No element or URL of the payloads made it into the DOM as markup.
    assert (
        pg.evaluate(
            "document.querySelectorAll('img, iframe, script:not([src]), svg[onload]').length"
        )
        == 0
    )
    hrefs = pg.evaluate("[...document.querySelectorAll('a')].map(a => a.getAttribute('href'))")
    assert all(h.startswith("#/") for h in hrefs), hrefs


def test_live_refresh_shows_new_traces(browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    exporter = SqliteExporter(path)
    tracekit.configure(exporters=[exporter])
    with tracekit.span("first", span_type="AGENT"):
        pass
    assert tracekit.flush(10.0)
    page = Page(browser)
    with serve(create_app(path)) as url:
        try:
            pg = page.page
            pg.goto(url + "/?refresh=300")
            pg.wait_for_selector(".traces-table tbody tr")
            assert pg.locator(".traces-table tbody tr").count() == 1
            with tracekit.span("second", span_type="AGENT"):
                pass
            assert tracekit.flush(10.0)
            pg.wait_for_selector("tr.fresh >> text=second", timeout=5000)
            assert pg.locator(".traces-table tbody tr").count() == 2
        finally:
            page.context.close()  # before the server stops: the page polls it
    assert page.errors == []


def test_missing_store_says_so_and_the_token_page_works(browser: Any, tmp_path: Path) -> None:
    page = Page(browser)
    with serve(create_app(tmp_path / "none.db", token="s3cret-token")) as url:
        try:
            pg = page.page
            response = pg.goto(url + "/")
            assert response is not None and response.status == 403
            pg.goto(url + "/?token=s3cret-token")
            pg.wait_for_selector(".notice-info")
            assert "no trace store at" in pg.locator(".notice").inner_text()
            assert pg.locator("#store-path").inner_text() == str(tmp_path / "none.db")
        finally:
            page.context.close()
    # The tokenless page load (403) and the API's "no store" answers (404) are the only
    # errors the console saw.
    assert all("403" in e or "404" in e for e in page.errors), page.errors
