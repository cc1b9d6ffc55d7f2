"""Helpers shared by the benchmark scripts: figures, versions, and the OTLP receiver process.

Run as a script, this module is the receiver: ``python benchmarks/_common.py`` prints its
port, then counts the OTLP/HTTP trace exports it receives until its stdin closes.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


class Skip(Exception):
    """A contender cannot be measured here; the message says why."""


def cachegrind(
    argv: Sequence[str], env: Mapping[str, str], counts: Mapping[str, str]
) -> dict[str, int]:
    """Run ``argv`` under ``valgrind --tool=cachegrind`` and return the totals it prints,
    one per entry of ``counts`` (name -> regular expression with the figure as group 1)."""
    valgrind = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=yes",
        "--cachegrind-out-file=/dev/null",
    ]
    done = subprocess.run(
        [*valgrind, *argv],
        capture_output=True,
        text=True,
        env=dict(env),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed under valgrind:\n{done.stderr[-3000:]}")
    found = {}
    for name, pattern in counts.items():
        match = re.search(pattern, done.stderr)
        if match is None:
            raise RuntimeError(f"no {name} in valgrind's output:\n{done.stderr[-2000:]}")
        found[name] = int(match.group(1).replace(",", ""))
    return found


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def version_of(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def git_state() -> str:
    """Commit of the tracekit being measured, and whether src/ has uncommitted changes."""
    import tracekit

    root = Path(tracekit.__file__).resolve().parent.parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}{' + uncommitted changes under src/' if dirty else ''}"


def machine_lines() -> list[str]:
    """Python, platform and the tracekit measured; each script adds its peers' versions."""
    import tracekit

    return [
        f"python {platform.python_version()} ({sys.executable})",
        f"{platform.platform()}, {os.cpu_count()} CPUs ({platform.processor() or 'unknown'})",
        f"tracekit {tracekit.__version__} from {Path(tracekit.__file__).parent}, git {git_state()}",
    ]


def print_targets(lines: list[tuple[bool, str]]) -> None:
    """The closing "== Targets" section: one line per target, met or not."""
    if lines:
        print("\n== Targets")
        for ok, text in lines:
            print(f"  {'met    ' if ok else 'NOT met'}  {text}")


# -- the OTLP receiver (a child process) ------------------------------------------------------


def receiver_get(port: int, what: str) -> int:
    """A count kept by the receiver on ``port``: ``count`` (spans) or ``usage``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/{what}", timeout=30) as r:
        return int(r.read())


class OtlpReceiver:
    """A child process that accepts OTLP/HTTP trace exports and counts the spans."""

    def __init__(self) -> None:
        if importlib.util.find_spec("opentelemetry.proto") is None:
            raise Skip("opentelemetry-proto is not installed (needed by the OTLP receiver)")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MLFLOW_"))}
        self.proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,  # the receiver exits when this pipe closes
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.close()
            raise Skip("the OTLP receiver did not start")
        self.port = int(line)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/traces"

    def count(self) -> int:
        return receiver_get(self.port, "count")

    def names(self) -> list[str]:
        """The span names received so far."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/names", timeout=30) as r:
            return list(json.loads(r.read()))

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


def run_otlp_receiver() -> None:
    """Entry point of the receiver: print the port, then serve until stdin closes.

    ``GET /count`` returns the spans received, ``GET /usage`` those with a token-usage
    attribute, ``GET /names`` the span names seen."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    lock = threading.Lock()
    counts = {"count": 0, "usage": 0}
    names: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, body: bytes, content_type: str, status: int = 200) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/v1/traces":
                self._reply(b"", "text/plain", 404)
                return
            request = ExportTraceServiceRequest.FromString(body)
            spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
            usage = sum(
                1
                for s in spans
                if any("token" in a.key.lower() or "usage" in a.key.lower() for a in s.attributes)
            )
            with lock:
                counts["count"] += len(spans)
                counts["usage"] += usage
                names.update(s.name for s in spans)
            self._reply(b"", "application/x-protobuf")  # an empty ExportTraceServiceResponse

        def do_GET(self) -> None:
            what = self.path.strip("/")
            with lock:
                if what == "names":
                    self._reply(json.dumps(sorted(names)).encode(), "application/json")
                elif what in counts:
                    self._reply(str(counts[what]).encode(), "text/plain")
                else:
                    self._reply(b"", "text/plain", 404)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # returns when the benchmark process closes the pipe or dies


if __name__ == "__main__":
    run_otlp_receiver()
