"""The ``tracekit ui`` command: serve the trace viewer on this machine.

``register(app)`` adds the command to the ``tracekit`` typer application; this module imports
only typer (and the standard library) until the command runs, so ``tracekit --help`` works
without the ``ui`` extra. Starlette and uvicorn are imported when the server starts.

Example:
    $ tracekit ui                              # http://127.0.0.1:8765, no token
    $ tracekit ui --port 9000 --open           # and open it in the default browser
    $ tracekit ui --host 0.0.0.0               # reachable from elsewhere: warns, needs ?token=
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import sys
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tracekit._cli_options import StoreOpt

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["register", "ui"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
EXIT_USAGE = 2
EXIT_STORE = 3


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0 picks a free port), or exit with a message."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        _say(f"Error: cannot use --host {host}: {exc.strerror}")
        raise typer.Exit(EXIT_USAGE) from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        hint = "; pick another with --port" if port else ""
        _say(f"Error: cannot listen on {host}:{port}: {exc.strerror}{hint}")
        raise typer.Exit(EXIT_USAGE) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _serve(app: Starlette, sock: socket.socket, on_started: Callable[[], None]) -> None:
    """Run uvicorn on the bound socket until Ctrl-C; ``on_started`` runs once it answers."""
    import uvicorn

    config = uvicorn.Config(
        app, log_level="warning", access_log=False, server_header=False, lifespan="off"
    )
    server = uvicorn.Server(config)

    def wait_then_notify() -> None:
        while not server.started and not server.should_exit:
            threading.Event().wait(0.05)
        if server.started:
            on_started()

    threading.Thread(target=wait_then_notify, name="tracekit-ui-open", daemon=True).start()
    server.run(sockets=[sock])


def ui(
    store: Path | None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    open_browser: bool = False,
) -> None:
    """Serve the trace viewer for ``store`` until interrupted.

    On a loopback address (the default, 127.0.0.1) the page needs no token; the server
    answers only requests addressed to a loopback host name. Any other ``host`` makes the
    traces reachable from other machines: a warning is printed and a random token is
    required in the URL (``?token=...``) of every request.

    Args:
        store: a SQLite store or a ``.jsonl`` file; ``None`` for the default store.
        host: the address to listen on.
        port: the port (0: any free port; the URL printed says which).
        open_browser: open the page in the default browser once the server answers.

    Raises:
        typer.Exit: the ``ui`` extra is not installed, or the address cannot be used.
    """
    try:
        from .app import create_app
    except ImportError as exc:
        _say(
            f"Error: tracekit ui needs the 'ui' extra ({exc.name} is missing):"
            ' pip install "tracekit[ui]"'
        )
        raise typer.Exit(EXIT_USAGE) from None
    from tracekit.store import default_store_path

    path = default_store_path() if store is None else store.expanduser()
    token: str | None = None
    if not is_loopback(host):
        token = secrets.token_urlsafe(24)
        _say(
            f"Warning: listening on {host}, not on 127.0.0.1: anyone who can reach this"
            " machine and has the URL below (with its token) can read every trace in the"
            " store, prompts and outputs included. Use --host 127.0.0.1 unless you need this."
        )
    app = create_app(path, token=token)
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host.strip('[]')}]" if ":" in host else host
    url = f"http://{shown_host}:{bound_port}/" + (f"?token={token}" if token else "")
    _say(f"tracekit ui: reading {path}")
    if not path.exists():
        _say("  (no store there yet: the page will show traces once some are written)")
    _say(f"  {url}   (Ctrl-C to stop)")
    sys.stdout.write(url + "\n")
    sys.stdout.flush()

    def started() -> None:
        if open_browser:
            webbrowser.open(url)

    try:
        _serve(app, sock, started)
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once it has shut down
        pass
    finally:
        sock.close()
        app.state.stores.close()


def _ui_command(
    store: StoreOpt = None,
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on. Anything but loopback warns and requires a token."
        ),
    ] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port; 0 picks a free one.")] = (
        DEFAULT_PORT
    ),
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the page in the default browser.")
    ] = False,
) -> None:
    """Browse traces in a local web page: list, span tree and waterfall, sessions, charts."""
    ui(store, host=host, port=port, open_browser=open_browser)


def register(app: typer.Typer) -> None:
    """Add the ``ui`` command to the ``tracekit`` typer application.

    Example:
        >>> from tracekit.cli import app
        >>> register(app)       # then: tracekit ui --help
    """
    command: Callable[..., Any] = _ui_command
    app.command("ui")(command)
