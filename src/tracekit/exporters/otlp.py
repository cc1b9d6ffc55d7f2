"""``OtlpExporter``: tracekit traces to any OpenTelemetry collector or backend, over OTLP.

Each trace becomes OpenTelemetry spans carrying the GenAI semantic conventions (``gen_ai.*``)
and/or OpenInference attributes, sent with the official OpenTelemetry OTLP exporters (HTTP or
gRPC). The OpenTelemetry exporter packages are imported when an ``OtlpExporter`` is created,
never by ``import tracekit``; tracekit creates no TracerProvider and touches no global
OpenTelemetry state. See docs/exporters/otlp.md.

Example:
    >>> from tracekit.exporters.otlp import OtlpExporter
    >>> tracekit.configure(exporters=[OtlpExporter("http://localhost:4318")])
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from tracekit._internal import internal_error

from ._otel_mapping import (
    BOTH,
    DEFAULT_MAX_ATTRIBUTE_LENGTH,
    MappingOptions,
    SpanMapper,
    split_requests,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter

    from tracekit._spans import Trace

HTTP_PROTOBUF: Final = "http/protobuf"
GRPC: Final = "grpc"
PROTOCOLS: Final = (HTTP_PROTOBUF, GRPC)
DEFAULT_TIMEOUT_S: Final = 10.0  # OpenTelemetry's default export timeout
# A batch is never retried for longer than this, whatever the settings say: while it retries,
# this exporter's queue fills up, and exit gives up on an exporter that makes no progress.
MAX_TIMEOUT_S: Final = 30.0
# Extra wait for the official exporter to report its own failure once its deadline passes.
_GRACE_S: Final = 0.5
_INSTALL_HINT: Final = 'install it with: pip install "tracekit[otlp]"'

# Loggers of the official exporters: while one of our sends runs, their records are dropped
# (the failure is raised from export() instead, which tracekit counts and logs once).
_OTEL_LOGGERS: Final = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "opentelemetry.exporter.otlp.proto.common._internal",
    "opentelemetry.exporter.otlp.proto.common._internal.trace_encoder",
)


class OtlpExportError(RuntimeError):
    """A batch could not be delivered; tracekit counts it as failed in ``tracekit.stats()``.

    Example:
        >>> try:
        ...     exporter.export(traces)
        ... except OtlpExportError as exc:
        ...     print(exc)  # names the endpoint and the collector's answer
    """


class _SendState(threading.local):
    quiet = False
    messages: list[str] | None = None


_send_state = _SendState()


class _QuietWhileSending(logging.Filter):
    """Drops the official exporters' log records emitted by our own sender threads only, so an
    unreachable collector does not print a line per retry, while an application's own
    OpenTelemetry exporters keep logging as usual."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _send_state.quiet:
            return True
        messages = _send_state.messages
        if record.levelno >= logging.WARNING and messages is not None:
            try:
                messages.append(record.getMessage())
            except Exception:
                messages.append(str(record.msg))
        return False


_QUIET_FILTER: Final = _QuietWhileSending()
_filter_installed = False
_filter_lock = threading.Lock()


def _install_log_filter() -> None:
    global _filter_installed
    with _filter_lock:
        if not _filter_installed:
            for name in _OTEL_LOGGERS:
                logging.getLogger(name).addFilter(_QUIET_FILTER)
            _filter_installed = True


def _failure_detail(messages: list[str]) -> str | None:
    """The exporter's final word, and the first transient error when that names the cause
    (e.g. "connection refused" behind "timeout, max retries or shutdown")."""
    if not messages:
        return None
    parts = [messages[-1]] if len(messages) == 1 else [messages[-1], f"first error: {messages[0]}"]
    return "; ".join(p if len(p) <= 400 else p[:400] + "…" for p in parts)


def resolve_protocol(protocol: str | None) -> str:
    """The protocol to use: the argument, else ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``, else
    ``OTEL_EXPORTER_OTLP_PROTOCOL``, else ``http/protobuf``.

    Raises:
        ValueError: for anything but ``http/protobuf`` and ``grpc``.

    Example:
        >>> resolve_protocol(None)  # with no OTEL_EXPORTER_OTLP_*PROTOCOL set
        'http/protobuf'
    """
    source = "protocol="
    value = protocol
    if value is None:
        for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
            raw = os.environ.get(name, "").strip()
            if raw:
                value, source = raw, f"{name}="
                break
    if value is None:
        return HTTP_PROTOBUF
    normal = value.strip().lower()
    if normal not in PROTOCOLS:
        hint = " (the Python OTLP exporters have no http/json)" if normal == "http/json" else ""
        raise ValueError(
            f"unsupported OTLP protocol {source}{value!r}{hint}; use 'http/protobuf' or 'grpc'"
        )
    return normal


def resolve_timeout(timeout_s: float | None) -> float:
    """Seconds one batch may take, retries included: the argument, else
    ``OTEL_EXPORTER_OTLP_TRACES_TIMEOUT``, else ``OTEL_EXPORTER_OTLP_TIMEOUT`` (both read in
    seconds, as OpenTelemetry's Python exporters read them), else 10; at most 30.

    Raises:
        ValueError: for a value that is not a positive number.

    Example:
        >>> resolve_timeout(120)
        30.0
    """
    source, value = "timeout_s=", timeout_s
    if value is None:
        for name in ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"):
            raw = os.environ.get(name, "").strip()
            if raw:
                source = f"{name}="
                try:
                    value = float(raw)
                except ValueError:
                    raise ValueError(f"{source}{raw!r} is not a number of seconds") from None
                break
    if value is None:
        return DEFAULT_TIMEOUT_S
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{source}{value!r} must be a positive number of seconds")
    return min(float(value), MAX_TIMEOUT_S)


def http_traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for ``endpoint``: ``/v1/traces`` is appended unless the path
    already ends with it (so a collector base URL and a full traces URL both work).

    Example:
        >>> http_traces_url("http://localhost:4318")
        'http://localhost:4318/v1/traces'
    """
    url = endpoint.strip()
    if urlsplit(url).path.rstrip("/").endswith("/v1/traces"):
        return url
    return url.rstrip("/") + "/v1/traces"


def _env(*names: str) -> str | None:
    for name in names:
        raw = os.environ.get(name, "").strip()
        if raw:
            return raw
    return None


def _import_exporter(protocol: str) -> Any:
    """The official span exporter class for ``protocol``, with a clear error if missing."""
    try:
        if protocol == GRPC:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcSpanExporter,
            )

            return GrpcSpanExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpSpanExporter,
        )

        return HttpSpanExporter
    except ImportError as exc:
        package = (
            "opentelemetry-exporter-otlp-proto-grpc"
            if protocol == GRPC
            else "opentelemetry-exporter-otlp-proto-http"
        )
        raise ImportError(
            f"OtlpExporter ({protocol}) needs {package}, which is not installed ({exc}); "
            + _INSTALL_HINT
        ) from exc


class OtlpExporter:
    """Sends traces over OTLP to an OpenTelemetry collector or any OTLP backend.

    Every argument left as None is read from the standard ``OTEL_EXPORTER_OTLP_*`` variables
    (``OTEL_EXPORTER_OTLP_TRACES_*`` first), as OpenTelemetry's own exporters read them; so
    ``TRACEKIT_EXPORTERS=otlp`` with ``OTEL_EXPORTER_OTLP_ENDPOINT`` is enough to use it.

    ``export()`` never takes longer than ``timeout_s`` (plus half a second): the official
    exporter retries transient failures (connection refused, 429, 502, 503, 504, gRPC
    UNAVAILABLE) with exponential backoff inside that budget; then the batch is reported
    failed (``OtlpExportError``) and tracekit counts it in ``tracekit.stats()``.

    Args:
        endpoint: for ``http/protobuf`` a base URL (``http://localhost:4318``, ``/v1/traces``
            is appended) or a full traces URL; for ``grpc`` ``http://host:port`` (no TLS) or
            ``https://host:port``. Default: ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` /
            ``OTEL_EXPORTER_OTLP_ENDPOINT``, else localhost:4318 (HTTP) or :4317 (gRPC).
        protocol: ``"http/protobuf"`` (default) or ``"grpc"``; default from
            ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` / ``OTEL_EXPORTER_OTLP_PROTOCOL``.
        headers: sent with every request (e.g. an API key); merged over
            ``OTEL_EXPORTER_OTLP_*HEADERS`` for HTTP, replacing them for gRPC.
        compression: ``"gzip"`` or ``"none"``; default from ``OTEL_EXPORTER_OTLP_*COMPRESSION``.
        timeout_s: how long one batch may take, retries included; default from
            ``OTEL_EXPORTER_OTLP_*TIMEOUT`` (seconds) or 10; at most 30.
        service_name: the ``service.name`` resource attribute; default ``OTEL_SERVICE_NAME``,
            else OpenTelemetry's ``unknown_service:<executable>``.
        resource_attributes: more resource attributes, over ``OTEL_RESOURCE_ATTRIBUTES``.
        conventions: ``"gen_ai"``, ``"openinference"`` or ``"both"`` (default): which
            attribute vocabulary LLM spans carry (docs/exporters/otlp.md has the table).
        capture_content: send prompts, replies, tool arguments and results, inputs and outputs.
            With False only structure, models, usage, cost, timings and errors leave.
        max_attribute_length: longest string attribute value, in characters; longer values
            are cut with a ``…[truncated: N chars in total]`` marker (JSON values keep their
            structure: their longest strings are cut first).

    Raises:
        ImportError: the ``otlp`` extra is not installed.
        ValueError: an argument or ``OTEL_EXPORTER_OTLP_*`` variable is invalid.

    Example:
        >>> tracekit.configure(exporters=[
        ...     OtlpExporter("http://localhost:6006/v1/traces", conventions="openinference")
        ... ])
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        protocol: str | None = None,
        headers: Mapping[str, str] | None = None,
        compression: str | None = None,
        timeout_s: float | None = None,
        service_name: str | None = None,
        resource_attributes: Mapping[str, Any] | None = None,
        conventions: str = BOTH,
        capture_content: bool = True,
        max_attribute_length: int = DEFAULT_MAX_ATTRIBUTE_LENGTH,
        _span_exporter: SpanExporter | None = None,  # tests: send through this SDK exporter
    ) -> None:
        self.options = MappingOptions(conventions, bool(capture_content), max_attribute_length)
        self.protocol = resolve_protocol(protocol)
        self.timeout_s = resolve_timeout(timeout_s)
        if compression is not None and compression.strip().lower() not in ("gzip", "none"):
            raise ValueError(f"compression must be 'gzip' or 'none'; got {compression!r}")
        self._compression = None if compression is None else compression.strip().lower()
        self._headers = dict(headers) if headers is not None else None
        self._endpoint_arg = endpoint
        self.endpoint = self._resolve_endpoint(endpoint)
        self._exporter_class = (
            None if _span_exporter is not None else _import_exporter(self.protocol)
        )

        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace.export import SpanExportResult
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        from tracekit import __version__

        attributes = dict(resource_attributes or {})
        if service_name:
            attributes["service.name"] = service_name
        # Resource.create adds telemetry.sdk.* and reads OTEL_RESOURCE_ATTRIBUTES and
        # OTEL_SERVICE_NAME; explicit attributes win over both.
        self.resource = Resource.create(attributes)
        self._mapper = SpanMapper(
            self.options, self.resource, InstrumentationScope("tracekit", __version__)
        )
        self._success = SpanExportResult.SUCCESS
        self._sink = _span_exporter if _span_exporter is not None else self._new_sink()
        self._lock = threading.Lock()
        self._inflight: threading.Thread | None = None
        self._closed = False
        self._stale: list[Any] = []
        _install_log_filter()

    def __repr__(self) -> str:
        return f"OtlpExporter(endpoint={self.endpoint!r}, protocol={self.protocol!r})"

    @property
    def conventions(self) -> str:
        """``"gen_ai"``, ``"openinference"`` or ``"both"``."""
        return self.options.conventions

    @property
    def capture_content(self) -> bool:
        """Whether prompts, replies, inputs and outputs are sent."""
        return self.options.capture_content

    # -- the exporter protocol -----------------------------------------------------------

    def export(self, traces: Sequence[Trace]) -> None:
        """Convert and send a batch; raise ``OtlpExportError`` if any of it was not delivered.

        Requests are split to stay below receivers' message limits; the first one that fails
        ends the call, and the whole batch counts as failed.
        """
        spans = []
        for trace in traces:
            try:
                spans.extend(self._mapper.record_to_spans(trace.to_dict()))
            except Exception:
                internal_error("OtlpExporter converting a trace")
        if not spans:
            return
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self!r} was shut down")
            deadline = time.monotonic() + self.timeout_s + _GRACE_S
            requests = split_requests(spans)
            for number, request in enumerate(requests, 1):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise OtlpExportError(
                        f"OTLP export to {self.endpoint} took longer than {self.timeout_s:g} s;"
                        f" requests {number}-{len(requests)} of {len(requests)} were not sent"
                    )
                self._send(request, left)

    def flush(self, timeout_s: float) -> bool:
        """Nothing is buffered here: each export() has delivered or failed before returning.

        Returns False only while another thread's export() (the same exporter given to two
        ``configure()`` calls) is still running after ``timeout_s``.
        """
        if not self._lock.acquire(timeout=max(0.0, timeout_s)):
            return False
        self._lock.release()
        return True

    def shutdown(self) -> None:
        """Close the connection; later exports raise. Safe to call twice."""
        acquired = self._lock.acquire(timeout=self.timeout_s)
        try:
            if self._closed:
                return
            self._closed = True
            _send_state.quiet = True
            try:
                self._sink.shutdown()
            finally:
                _send_state.quiet = False
        finally:
            if acquired:
                self._lock.release()

    def spans_for(self, trace: Trace) -> list[ReadableSpan]:
        """The OpenTelemetry spans this exporter sends for ``trace`` (for tests and debugging).

        Example:
            >>> [s.name for s in exporter.spans_for(trace)]
            ['agent', 'chat gpt-4o-mini']
        """
        return self._mapper.record_to_spans(trace.to_dict())

    # -- internals -----------------------------------------------------------------------

    def _resolve_endpoint(self, endpoint: str | None) -> str:
        if self.protocol == GRPC:
            return (
                endpoint
                or _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
                or "http://localhost:4317"
            )
        if endpoint:
            return http_traces_url(endpoint)
        full = _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        if full:
            return full
        return http_traces_url(_env("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318")

    def _new_sink(self) -> Any:
        """A new official exporter. Arguments left unset are read from the environment by the
        exporter itself (endpoint, headers, compression, certificates)."""
        kwargs: dict[str, Any] = {"timeout": self.timeout_s}
        if self._endpoint_arg:
            kwargs["endpoint"] = self.endpoint
        if self.protocol == GRPC:
            if self._headers is not None:
                # gRPC metadata keys must be lower case, or every call fails.
                kwargs["headers"] = {k.lower(): v for k, v in self._headers.items()}
            if self._compression is not None:
                # grpc ships no type stubs; its Compression enum is all that is needed here.
                grpc = importlib.import_module("grpc")
                kwargs["compression"] = (
                    grpc.Compression.Gzip
                    if self._compression == "gzip"
                    else grpc.Compression.NoCompression
                )
        else:
            if self._headers is not None:
                kwargs["headers"] = self._headers
            if self._compression is not None:
                from opentelemetry.exporter.otlp.proto.http import Compression

                kwargs["compression"] = (
                    Compression.Gzip if self._compression == "gzip" else Compression.NoCompression
                )
        return self._exporter_class(**kwargs)  # type: ignore[misc]

    def _send(self, request: list[ReadableSpan], budget: float) -> None:
        """Send one request on a helper thread and wait at most ``budget`` seconds for it.

        The official exporter's own deadline is ``timeout_s``; the helper thread makes the
        bound hold even for releases that retried past their timeout. A request that overran
        keeps running in the background; the next send waits for it within its own budget.
        """
        inflight = self._inflight
        started = time.monotonic()
        if inflight is not None and inflight.is_alive():
            inflight.join(budget)
            if inflight.is_alive():
                raise OtlpExportError(
                    f"OTLP export to {self.endpoint} is still stuck in an earlier request"
                )
        outcome: dict[str, Any] = {}
        thread = threading.Thread(
            target=self._send_on_thread,
            args=(request, outcome),
            name="tracekit-otlp-send",
            daemon=True,
        )
        thread.start()
        thread.join(max(0.0, budget - (time.monotonic() - started)))
        if thread.is_alive():
            self._inflight = thread
            raise OtlpExportError(
                f"OTLP export to {self.endpoint} did not finish within {self.timeout_s:g} s"
            )
        if "error" in outcome:
            error = outcome["error"]
            raise OtlpExportError(
                f"OTLP export to {self.endpoint} failed: {type(error).__name__}: {error}"
            ) from error
        if outcome.get("result") is not self._success:
            detail = outcome.get("message") or "the exporter reported a failure"
            raise OtlpExportError(
                f"OTLP export of {len(request)} spans to {self.endpoint} ({self.protocol}) "
                f"failed: {detail}"
            )

    def _send_on_thread(self, request: list[ReadableSpan], outcome: dict[str, Any]) -> None:
        from opentelemetry import context as otel_context

        from tracekit._tracer import SUPPRESSED

        SUPPRESSED.set(True)  # nothing traced by tracekit in here is exported
        # OpenTelemetry instrumentations (requests, urllib3, grpc) skip work under this key,
        # as they do inside the SDK's own batch processor: the export is not traced.
        token = otel_context.attach(
            otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True)
        )
        _send_state.quiet = True
        messages: list[str] = []
        _send_state.messages = messages
        try:
            outcome["result"] = self._sink.export(request)
        except Exception as exc:
            outcome["error"] = exc
        finally:
            outcome["message"] = _failure_detail(messages)
            _send_state.quiet = False
            _send_state.messages = None
            otel_context.detach(token)

    def _after_fork_in_child(self) -> None:
        # A child must not share the parent's connection pool or gRPC channel: it gets a
        # fresh lock and its own exporter. The parent's is kept referenced, never closed from
        # the child (closing a gRPC channel there could disturb the parent's).
        self._lock = threading.Lock()
        self._inflight = None
        if self._exporter_class is not None and not self._closed:
            self._stale.append(self._sink)
            self._sink = self._new_sink()
