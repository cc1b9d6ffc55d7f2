"""The ``tracekit ui`` command: registration, the served URL, the non-loopback warning."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
import webbrowser
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

pytest.importorskip("starlette", reason="the ui extra (starlette) is not installed")
pytest.importorskip("uvicorn", reason="the ui extra (uvicorn) is not installed")

from tracekit.ui import cli as ui_cli


def make_app() -> typer.Typer:
    app = typer.Typer()

    @app.command("other")
    def other() -> None:
        """A second command, so that typer keeps sub-command names."""

    ui_cli.register(app)
    return app


def test_register_adds_the_command() -> None:
    result = CliRunner().invoke(make_app(), ["ui", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--store", "--host", "--port", "--open"):
        assert option in result.output


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("myhost.example", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert ui_cli.is_loopback(host) is loopback


def fake_server(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replace binding and serving: nothing listens on a non-loopback address in tests."""
    seen: dict[str, Any] = {}

    def bind(host: str, port: int) -> socket.socket:
        seen["bind"] = (host, port)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        return sock

    def serve(app: Any, sock: socket.socket, on_started: Any) -> None:
        seen["app"] = app
        on_started()

    monkeypatch.setattr(ui_cli, "_bind", bind)
    monkeypatch.setattr(ui_cli, "_serve", serve)
    monkeypatch.setattr(webbrowser, "open", lambda url: seen.setdefault("opened", url))
    return seen


def test_other_hosts_warn_and_require_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seen = fake_server(monkeypatch)
    ui_cli.ui(tmp_path / "t.db", host="0.0.0.0", port=9999, open_browser=True)
    out, err = capsys.readouterr()
    assert seen["bind"] == ("0.0.0.0", 9999)
    assert "Warning: listening on 0.0.0.0, not on 127.0.0.1" in err
    url = out.strip()
    assert url.startswith("http://0.0.0.0:") and "/?token=" in url
    token = url.split("?token=")[1]
    assert len(token) >= 32
    assert seen["opened"] == url
    with warnings.catch_warnings():  # older Starlette, newer anyio: see test_api.py
        warnings.filterwarnings(
            "ignore", message="The anyio.abc.BlockingPortal alias", category=DeprecationWarning
        )
        from starlette.testclient import TestClient

    client = TestClient(seen["app"], base_url="http://192.0.2.1")
    assert client.get("/api/info").status_code == 403
    assert client.get("/api/info", params={"token": token}).status_code == 200


def test_loopback_needs_no_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seen = fake_server(monkeypatch)
    ui_cli.ui(None)
    out, err = capsys.readouterr()
    assert seen["bind"] == ("127.0.0.1", 8765)
    assert "Warning" not in err and "token" not in out
    assert "opened" not in seen
    assert "no store there yet" in err  # the default store of this test's TRACEKIT_HOME


def test_port_in_use_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(typer.Exit) as exc:
            ui_cli.ui(tmp_path / "t.db", port=port)
    assert exc.value.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_without_the_extra_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tracekit.ui.app", None)
    with pytest.raises(typer.Exit) as exc:
        ui_cli.ui(None)
    assert exc.value.exit_code == 2
    assert 'pip install "tracekit[ui]"' in capsys.readouterr().err


@pytest.mark.slow
def test_serves_until_interrupted(ui_store: dict[str, Any]) -> None:
    """The real thing: a process serving on 127.0.0.1, a free port, stopped by Ctrl-C."""
    code = (
        "import sys; from pathlib import Path; from tracekit.ui.cli import ui;"
        " ui(Path(sys.argv[1]), port=0)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(ui_store["path"])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(url + "api/info", timeout=5) as response:
                    info = json.load(response)
                    headers = dict(response.headers)
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert info["store"] == str(ui_store["path"])
        assert "server" not in {k.lower() for k in headers}
        with urllib.request.urlopen(url, timeout=5) as response:
            assert b"static/app.js" in response.read()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err


def test_the_tracekit_command_has_ui() -> None:
    """Once tracekit/cli.py calls register(app), `tracekit ui --help` works."""
    from tracekit.cli import app

    names = {c.name for c in app.registered_commands}
    if "ui" not in names:
        pytest.skip("tracekit/cli.py does not call tracekit.ui.cli.register(app) yet")
    result = CliRunner().invoke(app, ["ui", "--help"])
    assert result.exit_code == 0 and "--port" in result.output
