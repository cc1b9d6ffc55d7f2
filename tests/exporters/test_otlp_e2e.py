"""OtlpExporter over the wire: failure handling against a scriptable receiver, configuration,
and end to end through a real collector (rotel) over OTLP/HTTP and OTLP/gRPC.

Every server binds 127.0.0.1 only. The receiver decodes the OTLP protobuf requests, so the
tests see exactly what a collector would.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import tracekit
from tracekit.exporters.otlp import (
    MAX_TIMEOUT_S,
    OtlpExporter,
    OtlpExportError,
    http_traces_url,
    resolve_protocol,
    resolve_timeout,
)

# -- a scriptable OTLP/HTTP receiver --------------------------------------------------------


@dataclass
class Answer:
    """How the receiver answers one request."""

    status: int = 200
    delay_s: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body_bytes: int
    request: ExportTraceServiceRequest


@dataclass
class OtlpReceiver:
    """A minimal OTLP/HTTP trace receiver on 127.0.0.1 that answers as scripted."""

    port: int = 0
    default: Answer = field(default_factory=Answer)
    script: deque[Answer] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with owner._lock:
                    owner._connections.add(self.connection)

            def finish(self) -> None:
                with owner._lock:
                    owner._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                answer = owner._next()
                if answer.delay_s and owner._stopping.wait(answer.delay_s):
                    return
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with owner._lock:
                    owner.received.append(
                        Received(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            len(body),
                            request,
                        )
                    )
                payload = (
                    ExportTraceServiceResponse().SerializeToString()
                    if answer.status == 200
                    else b""
                )
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up on a slow answer: expected here

        self._server = Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _next(self) -> Answer:
        with self._lock:
            return self.script.popleft() if self.script else self.default

    def stop(self) -> None:
        """Stop like a crashed collector: refuse new connections and drop open ones (kept-alive
        client connections would otherwise still be answered)."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)

    def spans(self) -> list[ProtoSpan]:
        with self._lock:
            received = list(self.received)
        return [
            s
            for r in received
            for rs in r.request.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        ]

    def wait_for_spans(self, count: int, timeout_s: float = 10.0) -> list[ProtoSpan]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            spans = self.spans()
            if len(spans) >= count:
                return spans
            time.sleep(0.02)
        return self.spans()


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _no_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (a collector that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def use(exporter: OtlpExporter, **settings: Any) -> OtlpExporter:
    tracekit.configure(exporters=[exporter], export_interval_ms=20, **settings)
    return exporter


def make_traces(count: int = 1) -> float:
    """Record ``count`` small traces; return how long the application spent on them."""
    started = time.perf_counter()
    for i in range(count):
        with tracekit.span(f"request-{i}", span_type="AGENT") as span:
            span.set_inputs({"question": "hi"})
            with tracekit.span("lookup", span_type="TOOL"):
                pass
    return time.perf_counter() - started


def counters() -> dict[str, int]:
    return dict(tracekit.stats()["exporters"]["OtlpExporter"])


def timed_flush(timeout_s: float = 10.0) -> float:
    started = time.monotonic()
    assert tracekit.flush(timeout_s)
    return time.monotonic() - started


# -- reliability ----------------------------------------------------------------------------


def test_collector_down_at_start_fails_fast_and_is_counted() -> None:
    """With nothing listening, the app never waits and the batch fails within its timeout."""
    use(OtlpExporter(f"http://127.0.0.1:{closed_port()}", timeout_s=1))
    assert make_traces() < 0.05
    assert timed_flush() < 2.5
    assert counters()["traces_failed"] == 1
    assert counters()["traces_exported"] == 0


def test_export_resumes_after_the_collector_comes_back(receiver: OtlpReceiver) -> None:
    """A collector killed mid-run fails one batch; when it is back, export resumes."""
    use(OtlpExporter(receiver.url, timeout_s=1))
    make_traces()
    timed_flush()
    assert len(receiver.wait_for_spans(2)) == 2
    port = receiver.port
    receiver.stop()
    make_traces()
    timed_flush()
    assert counters()["traces_failed"] == 1
    back = OtlpReceiver(port=port)
    try:
        make_traces()
        timed_flush()
        assert len(back.wait_for_spans(2)) == 2
        assert counters()["traces_exported"] == 2
    finally:
        back.stop()


def test_slow_collector_is_given_up_within_the_timeout(receiver: OtlpReceiver) -> None:
    """A collector that does not answer in time fails the batch after timeout_s."""
    receiver.default = Answer(delay_s=5)
    use(OtlpExporter(receiver.url, timeout_s=0.5))
    assert make_traces() < 0.05
    assert timed_flush() < 1.8
    assert counters()["traces_failed"] == 1


def test_client_error_is_not_retried(receiver: OtlpReceiver) -> None:
    """A 400 answer fails the batch at once, without retries."""
    receiver.default = Answer(status=400)
    use(OtlpExporter(receiver.url, timeout_s=5))
    make_traces()
    assert timed_flush() < 1.0
    assert counters()["traces_failed"] == 1
    assert len(receiver.received) == 1


def test_unavailable_collector_is_retried_with_backoff(receiver: OtlpReceiver) -> None:
    """A 503 is retried after a backoff; the retry's success exports the batch."""
    receiver.script.append(Answer(status=503))
    use(OtlpExporter(receiver.url, timeout_s=5))
    make_traces()
    elapsed = timed_flush()
    assert counters()["traces_exported"] == 1
    assert len(receiver.received) == 2
    assert elapsed >= 0.5  # the first backoff is about one second (+-20% jitter)


def test_persistent_server_errors_fail_within_the_timeout(receiver: OtlpReceiver) -> None:
    """A collector answering 503 every time is retried until timeout_s, then the batch fails."""
    receiver.default = Answer(status=503)
    use(OtlpExporter(receiver.url, timeout_s=1.5))
    make_traces()
    assert timed_flush() < 2.5
    assert counters()["traces_failed"] == 1
    assert len(receiver.received) >= 2


def test_queue_stays_bounded_while_the_collector_hangs(receiver: OtlpReceiver) -> None:
    """A hanging collector fills only this exporter's bounded queue; extra traces are dropped."""
    receiver.default = Answer(delay_s=5)
    use(OtlpExporter(receiver.url, timeout_s=0.5), max_queue_size=10, export_batch_size=5)
    assert make_traces(200) < 0.5
    stats = counters()
    assert stats["queued"] <= 10
    assert stats["traces_dropped"] >= 180


class HangingExporter(SpanExporter):
    """An SDK exporter that ignores its timeout, as releases before 1.34 could when retrying."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def export(self, spans: Any) -> SpanExportResult:
        self.release.wait(10)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def test_export_is_bounded_even_if_the_sdk_exporter_hangs() -> None:
    """export() raises after timeout_s although the underlying exporter never returns."""
    sink = HangingExporter()
    exporter = OtlpExporter(_span_exporter=sink, timeout_s=0.3)
    use(exporter)
    make_traces()
    assert timed_flush() < 1.5
    assert counters()["traces_failed"] == 1
    make_traces()
    assert timed_flush() < 1.5  # the stuck request is still running: this batch fails too
    assert counters()["traces_failed"] == 2
    sink.release.set()


def test_grpc_collector_down_fails_within_the_timeout() -> None:
    """Over gRPC, an unreachable collector also fails the batch within timeout_s."""
    use(OtlpExporter(f"http://127.0.0.1:{closed_port()}", protocol="grpc", timeout_s=1))
    assert make_traces() < 0.05
    assert timed_flush() < 2.5
    assert counters()["traces_failed"] == 1


def test_failures_are_logged_once_without_exporter_noise(caplog: pytest.LogCaptureFixture) -> None:
    """Repeated failures give one tracekit warning and no OpenTelemetry exporter log lines."""
    caplog.set_level(logging.DEBUG)
    use(OtlpExporter(f"http://127.0.0.1:{closed_port()}", timeout_s=0.2))
    for _ in range(3):
        make_traces()
        timed_flush()
    assert counters()["traces_failed"] == 3
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry")]
    warnings = [r for r in caplog.records if r.name == "tracekit" and r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "OtlpExportError" in warnings[0].getMessage()


def test_export_raises_a_descriptive_error(receiver: OtlpReceiver) -> None:
    """A failed export() raises OtlpExportError naming the endpoint and the reason."""
    receiver.default = Answer(status=400)
    exporter = OtlpExporter(receiver.url, timeout_s=2)
    try:
        with pytest.raises(OtlpExportError, match=r"127\.0\.0\.1.*400"):
            exporter.export([_one_trace()])
    finally:
        exporter.shutdown()


def test_export_after_shutdown_raises(receiver: OtlpReceiver) -> None:
    """After shutdown(), export() raises instead of sending."""
    exporter = OtlpExporter(receiver.url)
    exporter.shutdown()
    exporter.shutdown()  # a second call is harmless
    with pytest.raises(RuntimeError, match="shut down"):
        exporter.export([_one_trace()])


def _one_trace() -> tracekit.Trace:
    mem = tracekit.InMemoryExporter()
    tracekit.configure(exporters=[mem])
    make_traces()
    assert tracekit.flush()
    (trace,) = mem.traces
    return trace


# -- what goes over the wire ----------------------------------------------------------------


def test_gzip_and_headers_are_sent(receiver: OtlpReceiver) -> None:
    """compression="gzip" and headers= reach the collector."""
    use(OtlpExporter(receiver.url, compression="gzip", headers={"Authorization": "Bearer t0k"}))
    make_traces()
    timed_flush()
    (request,) = receiver.received
    assert request.path == "/v1/traces"
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["authorization"] == "Bearer t0k"


def test_large_traces_are_split_below_message_limits(receiver: OtlpReceiver) -> None:
    """A trace of many large spans goes out as several requests, each below 4 MiB, none lost."""
    use(OtlpExporter(receiver.url, timeout_s=10))
    with tracekit.span("bulk", span_type="CHAIN"):
        for i in range(250):
            with tracekit.span(f"tool-{i}", span_type="TOOL") as span:
                span.set_outputs("x" * 19_000)
    timed_flush()
    assert len(receiver.wait_for_spans(251)) == 251
    assert len(receiver.received) > 1
    assert max(r.body_bytes for r in receiver.received) < 4 * 1024 * 1024


def _script(body: str) -> str:
    return textwrap.dedent(body)


def _run(code: str, env: dict[str, str], timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEKIT_"))}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def test_environment_alone_configures_otlp(receiver: OtlpReceiver, tmp_path: Path) -> None:
    """TRACEKIT_EXPORTERS=otlp with OTEL_EXPORTER_OTLP_* sends traces to that collector."""
    code = _script(
        """
        import tracekit

        @tracekit.trace(span_type="AGENT")
        def answer(question):
            return "42"

        answer("life?")
        assert tracekit.flush(10)
        print(tracekit.stats()["exporters"])
        """
    )
    result = _run(
        code,
        {
            "TRACEKIT_EXPORTERS": "otlp",
            "TRACEKIT_HOME": str(tmp_path),
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_EXPORTER_OTLP_HEADERS": "x-team=ai",
            "OTEL_SERVICE_NAME": "env-service",
        },
    )
    assert result.returncode == 0, result.stderr
    (span,) = receiver.wait_for_spans(1)
    assert span.name == "answer"
    (request,) = receiver.received
    assert request.headers["x-team"] == "ai"
    resource = {
        a.key: a.value.string_value for a in request.request.resource_spans[0].resource.attributes
    }
    assert resource["service.name"] == "env-service"


def test_exit_with_the_collector_down_is_bounded(tmp_path: Path) -> None:
    """A process whose collector is down still exits promptly and without a traceback."""
    code = _script(
        f"""
        import tracekit
        from tracekit.exporters.otlp import OtlpExporter

        tracekit.configure(
            exporters=[OtlpExporter("http://127.0.0.1:{closed_port()}", timeout_s=10)],
            exit_timeout_s=1,
        )
        with tracekit.span("last words"):
            pass
        """
    )
    started = time.monotonic()
    result = _run(code, {"TRACEKIT_HOME": str(tmp_path)})
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < 8  # interpreter start and imports, plus the one-second exit bound


def test_import_tracekit_does_not_load_the_otlp_exporters() -> None:
    """The OpenTelemetry exporter packages load only when an OtlpExporter is created."""
    code = (
        "import sys, tracekit\n"
        "print(sorted(m for m in sys.modules\n"
        "             if m.startswith('opentelemetry.exporter') or m == 'tracekit.exporters.otlp'))"
    )
    result = _run(code, {})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- configuration --------------------------------------------------------------------------


def test_protocol_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_EXPORTER_OTLP_TRACES_PROTOCOL beats OTEL_EXPORTER_OTLP_PROTOCOL, the argument both."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    assert resolve_protocol(None) == "grpc"
    assert resolve_protocol("http/protobuf") == "http/protobuf"
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
    assert resolve_protocol(None) == "http/protobuf"


def test_unsupported_protocol_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    """http/json (which the Python exporters lack) is refused with the variable's name."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_PROTOCOL='http/json'"):
        OtlpExporter()


def test_http_endpoint_gets_the_traces_path() -> None:
    """A base URL gets /v1/traces appended; a full traces URL is kept."""
    assert http_traces_url("http://localhost:4318") == "http://localhost:4318/v1/traces"
    assert (
        http_traces_url("https://cloud.example/api/public/otel/")
        == "https://cloud.example/api/public/otel/v1/traces"
    )
    assert http_traces_url("http://localhost:6006/v1/traces") == "http://localhost:6006/v1/traces"


def test_endpoint_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as is, OTEL_EXPORTER_OTLP_ENDPOINT as a base."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    exporter = OtlpExporter()
    assert exporter.endpoint == "http://collector:4318/v1/traces"
    exporter.shutdown()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://other:9999/custom")
    exporter = OtlpExporter()
    assert exporter.endpoint == "http://other:9999/custom"
    exporter.shutdown()


def test_timeout_comes_from_the_environment_and_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_EXPORTER_OTLP_TIMEOUT is read in seconds and capped so a batch cannot retry forever."""
    assert resolve_timeout(None) == 10.0
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "4")
    assert resolve_timeout(None) == 4.0
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "600")
    assert resolve_timeout(None) == MAX_TIMEOUT_S
    assert resolve_timeout(2.5) == 2.5


def test_invalid_timeout_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    """A timeout that is not a positive number raises ValueError naming its source."""
    with pytest.raises(ValueError, match="timeout_s=0"):
        resolve_timeout(0)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_TIMEOUT"):
        resolve_timeout(None)


def test_invalid_compression_is_rejected() -> None:
    """Only gzip and none are accepted as compression."""
    with pytest.raises(ValueError, match="compression"):
        OtlpExporter(compression="brotli")


def test_missing_extra_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the otlp extra, construction fails with ImportError naming tracekit[otlp]."""
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(ImportError, match=r'pip install "tracekit\[otlp\]"'):
        OtlpExporter()


# -- end to end through a real collector (rotel) --------------------------------------------


@dataclass
class Collector:
    http_url: str
    grpc_url: str
    downstream: OtlpReceiver


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    """rotel receiving OTLP on 127.0.0.1 (HTTP and gRPC) and forwarding to an OtlpReceiver."""
    rotel = pytest.importorskip("rotel", reason="rotel (dev extra) is not installed")
    binary = Path(rotel.__file__).parent / "rotel-agent"
    if not binary.exists():
        pytest.skip(f"rotel ships no agent binary for this platform ({binary} missing)")
    downstream = OtlpReceiver()
    grpc_port, http_port = _free_port(), _free_port()
    work = tmp_path_factory.mktemp("rotel")
    command = [
        str(binary), "start",
        "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}",
        "--otlp-http-endpoint", f"127.0.0.1:{http_port}",
        "--exporter", "otlp",
        "--otlp-exporter-endpoint", downstream.url,
        "--otlp-exporter-protocol", "http",
        "--otlp-exporter-compression", "none",
        "--batch-timeout", "50ms",
        "--pid-file", str(work / "rotel.pid"),
        "--log-file", str(work / "rotel.log"),
    ]  # fmt: skip
    log = (work / "stdout.log").open("wb")
    try:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    except OSError as exc:
        log.close()
        downstream.stop()
        pytest.skip(f"rotel cannot run on this platform: {exc}")
    if not (_wait_listening(http_port, 10) and _wait_listening(grpc_port, 10)):
        process.kill()
        process.wait()
        log.close()
        downstream.stop()
        output = (work / "stdout.log").read_text(errors="replace")[-500:]
        pytest.skip(f"rotel did not start: exit code {process.returncode}, output: {output}")
    yield Collector(f"http://127.0.0.1:{http_port}", f"http://127.0.0.1:{grpc_port}", downstream)
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()
    downstream.stop()


def _agent_trace() -> None:
    """Record a small agent run: a root, a chat call and a failing tool."""

    @tracekit.trace(span_type="TOOL")
    def get_weather(city: str) -> str:
        raise TimeoutError("weather API timed out")

    @tracekit.trace(span_type="AGENT")
    def agent(question: str) -> str:
        tracekit.update_current_trace(user_id="u-42", session_id="s-7", tags={"env": "e2e"})
        with tracekit.span("chat gpt-4o-mini", span_type="CHAT_MODEL") as span:
            span.set_inputs({"messages": [{"role": "user", "content": question}]})
            span.set_model("gpt-4o-mini-2024-07-18", provider="openai")
            span.set_usage(input_tokens=12, output_tokens=3, total_tokens=15)
            span.set_cost(0.00001)
            span.set_outputs({"role": "assistant", "content": "Checking."})
        try:
            get_weather("Oslo")
        except TimeoutError:
            return "Sorry."
        return "?"

    agent("Weather in Oslo?")


def _attributes(span: ProtoSpan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        value = kv.value
        kind = value.WhichOneof("value")
        out[kv.key] = (
            getattr(value, kind)
            if kind != "array_value"
            else [getattr(v, v.WhichOneof("value")) for v in value.array_value.values]
        )
    return out


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_traces_reach_a_real_collector(collector: Collector, protocol: str) -> None:
    """Spans sent over OTLP/HTTP and OTLP/gRPC arrive intact through rotel."""
    endpoint = collector.http_url if protocol == "http/protobuf" else collector.grpc_url
    service = f"e2e-{protocol.replace('/', '-')}"
    mem = tracekit.InMemoryExporter()
    exporter = OtlpExporter(endpoint, protocol=protocol, timeout_s=5, service_name=service)
    tracekit.configure(exporters=[exporter, mem], export_interval_ms=20)
    _agent_trace()
    timed_flush()
    assert counters()["traces_exported"] == 1
    (record,) = mem.records()
    trace_id = bytes.fromhex(record["trace_id"])
    deadline = time.monotonic() + 10
    spans: list[ProtoSpan] = []
    while time.monotonic() < deadline and len(spans) < 3:
        spans = [s for s in collector.downstream.spans() if s.trace_id == trace_id]
        time.sleep(0.02)
    by_name = {s.name: s for s in spans}
    assert set(by_name) == {"agent", "chat gpt-4o-mini", "get_weather"}
    root, chat, tool = by_name["agent"], by_name["chat gpt-4o-mini"], by_name["get_weather"]
    assert chat.parent_span_id == root.span_id == tool.parent_span_id
    assert root.parent_span_id == b""
    assert chat.kind == ProtoSpan.SPAN_KIND_CLIENT
    assert tool.status.code == 2 and tool.status.message == "weather API timed out"
    assert [e.name for e in tool.events] == ["exception"]
    assert _attributes(root)["user.id"] == "u-42"
    assert _attributes(root)["input.value"] == "Weather in Oslo?"
    assert _attributes(chat)["gen_ai.usage.input_tokens"] == 12
    assert _attributes(chat)["openinference.span.kind"] == "LLM"
    resource_spans = next(
        rs
        for received in collector.downstream.received
        for rs in received.request.resource_spans
        if any(s.trace_id == trace_id for ss in rs.scope_spans for s in ss.spans)
    )
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == service
    assert {ss.scope.name for ss in resource_spans.scope_spans} == {"tracekit"}


def test_large_trace_passes_a_real_collector_over_grpc(collector: Collector) -> None:
    """A trace larger than gRPC's 4 MiB message limit arrives whole, split into requests."""
    mem = tracekit.InMemoryExporter()
    exporter = OtlpExporter(collector.grpc_url, protocol="grpc", timeout_s=10)
    tracekit.configure(exporters=[exporter, mem], export_interval_ms=20)
    with tracekit.span("bulk", span_type="CHAIN"):
        for i in range(300):
            with tracekit.span(f"tool-{i}", span_type="TOOL") as span:
                span.set_outputs("y" * 19_000)
    timed_flush()
    assert counters()["traces_exported"] == 1
    (record,) = mem.records()
    trace_id = bytes.fromhex(record["trace_id"])
    deadline = time.monotonic() + 15
    count = 0
    while time.monotonic() < deadline and count < 301:
        count = sum(1 for s in collector.downstream.spans() if s.trace_id == trace_id)
        time.sleep(0.05)
    assert count == 301
