"""``tracekit.configure()``: one validated settings object, from arguments, env, defaults."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ._internal import state

if TYPE_CHECKING:
    from ._privacy import Privacy

ENV_PREFIX = "TRACEKIT_"
EXPORTER_NAMES = ("jsonl", "sqlite", "otlp", "console", "none")


class ConfigurationError(ValueError):
    """A setting given to ``configure()`` or in a ``TRACEKIT_*`` variable is invalid."""


def default_home() -> Path:
    """``$TRACEKIT_HOME`` if set, else ``~/.tracekit``."""
    raw = os.environ.get("TRACEKIT_HOME")
    return Path(raw).expanduser() if raw else Path.home() / ".tracekit"


_DAY_S = 86_400.0  # the longest wait a setting may ask for; thread waits cap out near 292 years


class Settings(BaseModel):
    """Every setting, its type, bounds and default (see docs/configuration.md)."""

    # No inf/nan: an infinite interval or threshold would pass ge=0 and break a worker later.
    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, allow_inf_nan=False
    )

    enabled: bool = True
    home: Path = Field(default_factory=default_home)
    exporters: tuple[Any, ...] | None = None
    sample_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    keep_errors: bool = True
    keep_slower_than_ms: float | None = Field(default=None, ge=0.0)
    max_queue_size: int = Field(default=100_000, ge=1)
    export_batch_size: int = Field(default=512, ge=1)
    export_interval_ms: float = Field(default=500.0, gt=0.0, le=_DAY_S * 1000)
    exit_timeout_s: float = Field(default=2.0, ge=0.0, le=_DAY_S)
    max_payload_chars: int = Field(default=20_000, ge=64)
    max_generator_items: int = Field(default=1_000, ge=0)
    propagate_to_threads: bool = True
    otel_bridge: bool = True
    prices: dict[str, Any] | Path | None = None
    capture_content: Literal["full", "redacted", "metadata", "none"] = "full"
    scrub_secrets: bool = True
    secret_patterns: dict[str, str] = Field(default_factory=dict)
    exempt_keys: tuple[str, ...] = ()
    mask: tuple[str, ...] = ()
    keep_media: bool = False
    redact: Any = None
    max_span_bytes: int = Field(default=1_000_000, ge=1024)
    raise_internal_errors: bool = False

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("exempt_keys", "mask", mode="before")
    @classmethod
    def _split_names(cls, value: Any) -> Any:
        if isinstance(value, str):  # from the environment: comma-separated
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("mask")
    @classmethod
    def _check_mask(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from ._privacy import PII_MASKERS

        if value == ("all",):
            return tuple(PII_MASKERS)
        unknown = [name for name in value if name not in PII_MASKERS]
        if unknown:
            raise ValueError(f"unknown masker(s) {unknown}; known: {', '.join(PII_MASKERS)}, all")
        return value

    @field_validator("secret_patterns", mode="before")
    @classmethod
    def _patterns_from_json(cls, value: Any) -> Any:
        if isinstance(value, str):  # from the environment: a JSON object {name: regex}
            import json

            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ValueError(f'must be a JSON object {{"name": "regex"}}: {exc}') from None
        return value

    @field_validator("secret_patterns")
    @classmethod
    def _check_patterns(cls, value: dict[str, str]) -> dict[str, str]:
        import re

        for name, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"pattern {name!r} is not a valid regular expression: {exc}"
                ) from None
        return value

    @field_validator("redact", mode="before")
    @classmethod
    def _redact_from_path(cls, value: Any) -> Any:
        if isinstance(value, str):  # from the environment: "package.module:function"
            import importlib

            module, _, name = value.partition(":")
            if not module or not name:
                raise ValueError(
                    "must be a callable, or the name of one as 'package.module:function'"
                )
            try:
                return getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError) as exc:
                raise ValueError(f"cannot load {value!r}: {exc}") from None
        return value

    @field_validator("redact")
    @classmethod
    def _check_redact(cls, value: Any) -> Any:
        if value is not None and not callable(value):
            raise ValueError(
                "must be a callable taking a span's data dict and returning it or None"
            )
        return value

    @field_validator("prices")
    @classmethod
    def _check_prices(cls, value: dict[str, Any] | Path | None) -> dict[str, Any] | Path | None:
        if value is None:
            return None
        from ._pricing import PriceTable, load_overrides

        try:
            PriceTable({}, {}).merged(load_overrides(value))
        except (OSError, ValueError) as exc:
            raise ValueError(f"invalid prices: {exc}") from None
        return value

    @field_validator("exporters", mode="before")
    @classmethod
    def _check_exporters(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, Sequence):
            raise ValueError("must be a list of exporters or exporter names")
        for i, item in enumerate(value):
            if isinstance(item, str):
                if item.lower() not in EXPORTER_NAMES:
                    raise ValueError(
                        f"item {i}: unknown exporter name {item!r}; "
                        f"known: {', '.join(EXPORTER_NAMES)}"
                    )
            elif not all(callable(getattr(item, m, None)) for m in ("export", "flush", "shutdown")):
                raise ValueError(
                    f"item {i}: {type(item).__name__} is not an exporter "
                    "(needs export(traces), flush(timeout_s) and shutdown())"
                )
        return tuple(item.lower() if isinstance(item, str) else item for item in value)


FIELDS: Final = tuple(Settings.model_fields)


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _from_env() -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in FIELDS:
        raw = os.environ.get(env_name(field))
        if raw is not None and raw.strip():
            values[field] = raw.strip()
    return values


def _format_error(err: ValidationError, source: dict[str, str]) -> str:
    lines = []
    for item in err.errors():
        loc = item["loc"]
        field = str(loc[0]) if loc else "?"
        where = source.get(field, f"configure({field}=...)")
        got = item.get("input")
        lines.append(f"{where}: {item['msg']} (got {got!r})")
    return "invalid tracekit configuration:\n  " + "\n  ".join(lines)


def _scalar_kind(annotation: Any) -> type | None:
    members = {a for a in (get_args(annotation) or (annotation,)) if a is not type(None)}
    return next(iter(members)) if len(members) == 1 and members <= {bool, int, float} else None


# Flags and numbers given as arguments must have their type: pydantic's lax mode, which the
# environment's strings need, would take "0.5", "yes" or True for them.
_SCALAR_KINDS: Final = {
    name: kind
    for name, field in Settings.model_fields.items()
    if (kind := _scalar_kind(field.annotation)) is not None
}
_KIND_NAMES: Final = {bool: "True or False", int: "an integer", float: "a number"}


def _check_argument_types(given: Mapping[str, Any]) -> None:
    for name, value in given.items():
        kind = _SCALAR_KINDS.get(name)
        if kind is None or value is None:
            continue
        if kind is bool:
            ok = isinstance(value, bool)
        else:
            ok = not isinstance(value, bool) and isinstance(
                value, (int, float) if kind is float else int
            )
        if not ok:
            raise ConfigurationError(
                f"invalid tracekit configuration:\n  configure({name}=...): expected "
                f"{_KIND_NAMES[kind]}, got {type(value).__name__} {value!r}"
            )


def resolve(**given: Any) -> Settings:
    """Merge arguments over ``TRACEKIT_*`` variables over defaults, validated."""
    _check_argument_types(given)
    env = _from_env()
    source = {f: f"environment variable {env_name(f)}" for f in env if f not in given}
    source.update({f: f"configure({f}=...)" for f in given})
    try:
        return Settings.model_validate({**env, **given})
    except ValidationError as err:
        raise ConfigurationError(_format_error(err, source)) from None


def build_exporters(settings: Settings) -> list[Any]:
    wanted = settings.exporters if settings.exporters is not None else ("sqlite",)
    out: list[Any] = []
    for item in wanted:
        if item == "none":
            continue
        if not isinstance(item, str):
            out.append(item)
            continue
        try:
            out.append(_named_exporter(item, settings))
        except Exception as exc:
            detail = getattr(exc, "strerror", None) or str(exc)
            raise ConfigurationError(
                f"cannot set up the {item!r} exporter: {detail}"
                + (
                    "; set TRACEKIT_HOME or configure(home=...) to a writable directory"
                    if item in ("jsonl", "sqlite")
                    else ""
                )
            ) from exc
    return out


def _named_exporter(name: str, settings: Settings) -> Any:
    if name == "jsonl":
        from .exporters import JsonlExporter

        return JsonlExporter(settings.home / "traces.jsonl")
    if name == "sqlite":
        from .exporters.sqlite import SqliteExporter

        return SqliteExporter(settings.home / "traces.db")
    if name == "otlp":
        from .exporters.otlp import OtlpExporter

        return OtlpExporter()  # endpoint, headers, protocol from OTEL_EXPORTER_OTLP_*
    from .exporters import ConsoleExporter

    return ConsoleExporter()


def build_privacy(settings: Settings, mode: str | None = None) -> Privacy:
    """The scrubbing/masking policy for ``settings`` (``mode`` overrides capture_content)."""
    from ._privacy import PII_MASKERS, Privacy

    mask = settings.mask
    if not mask and (mode or settings.capture_content) == "redacted":
        mask = tuple(PII_MASKERS)  # "redacted" without a choice masks every kind
    return Privacy(
        scrub_secrets=settings.scrub_secrets,
        secret_patterns=settings.secret_patterns,
        exempt_keys=settings.exempt_keys,
        mask=mask,
        keep_media=settings.keep_media,
    )


def install_otel_bridge(enabled: bool) -> None:
    """The OpenTelemetry bridge, now or when the app first imports ``opentelemetry.trace``."""
    import sys

    from ._otel import set_bridge

    global _bridge_hook_registered
    if not enabled or "opentelemetry.trace" in sys.modules:
        set_bridge(enabled)
        return
    if _bridge_hook_registered:  # one hook per process; it reads the settings in force
        return
    _bridge_hook_registered = True
    import wrapt

    wrapt.register_post_import_hook(
        lambda _module: set_bridge(bool(state.settings and state.settings.otel_bridge)),
        "opentelemetry.trace",
    )


_bridge_hook_registered = False


def apply(settings: Settings) -> None:
    """Make ``settings`` current: replace the export pipeline, update hot-path state."""
    from . import context
    from ._pipeline import ExportPipeline
    from ._pricing import reset_price_table
    from ._privacy import CONTENT_MODES
    from ._serialize import set_privacy

    exporters = build_exporters(settings)
    pipeline = ExportPipeline(
        exporters,
        max_queue_size=settings.max_queue_size,
        batch_size=settings.export_batch_size,
        interval_s=settings.export_interval_ms / 1000,
        exit_timeout_s=settings.exit_timeout_s,
    )
    with state.config_lock:
        old = state.pipeline
        state.settings = settings
        state.pipeline = pipeline
        state.max_payload_chars = settings.max_payload_chars
        state.max_generator_items = settings.max_generator_items
        state.raise_internal_errors = settings.raise_internal_errors
        state.sample_threshold = round(settings.sample_rate * 2**64)
        state.keep_errors = settings.keep_errors
        state.keep_slower_ns = (
            None
            if settings.keep_slower_than_ms is None
            else int(settings.keep_slower_than_ms * 1_000_000)
        )
        state.tail_sampling = settings.sample_rate < 1.0 and (
            settings.keep_errors or settings.keep_slower_than_ms is not None
        )
        state.content_level = CONTENT_MODES[settings.capture_content]
        state.redact_hook = settings.redact
        state.max_span_bytes = settings.max_span_bytes
        set_privacy(build_privacy(settings))
        state.enabled = settings.enabled
        state.enabled_explicit = None
        context.set_thread_propagation(settings.propagate_to_threads)
        install_otel_bridge(settings.otel_bridge)
        reset_price_table()
    if old is not None:
        old.shutdown(settings.exit_timeout_s, keep=exporters)


def configure(
    *,
    enabled: bool | None = None,
    home: str | os.PathLike[str] | None = None,
    exporters: Sequence[Any] | None = None,
    sample_rate: float | None = None,
    keep_errors: bool | None = None,
    keep_slower_than_ms: float | None = None,
    max_queue_size: int | None = None,
    export_batch_size: int | None = None,
    export_interval_ms: float | None = None,
    exit_timeout_s: float | None = None,
    max_payload_chars: int | None = None,
    max_generator_items: int | None = None,
    propagate_to_threads: bool | None = None,
    otel_bridge: bool | None = None,
    prices: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    capture_content: Literal["full", "redacted", "metadata", "none"] | None = None,
    scrub_secrets: bool | None = None,
    secret_patterns: Mapping[str, str] | None = None,
    exempt_keys: Sequence[str] | None = None,
    mask: Sequence[str] | None = None,
    keep_media: bool | None = None,
    redact: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
    max_span_bytes: int | None = None,
    raise_internal_errors: bool | None = None,
) -> None:
    """Configure tracing for the whole process.

    Every setting can also come from a ``TRACEKIT_<NAME>`` environment variable; an argument
    beats the variable, which beats the default. Calling ``configure()`` again replaces the
    whole configuration (queued traces are flushed to the old exporters first). Without any
    call, the environment and defaults apply on first use.

    Args:
        enabled: record spans at all (``TRACEKIT_ENABLED``).
        home: directory for local data, default ``~/.tracekit`` (``TRACEKIT_HOME``).
        exporters: exporter objects or names (``"sqlite"``, ``"jsonl"``, ``"otlp"``,
            ``"console"``, ``"none"``); default the local store ``<home>/traces.db``, searchable
            with ``tracekit.search_traces()`` and the ``tracekit`` command
            (``TRACEKIT_EXPORTERS=sqlite,otlp``).
        sample_rate: fraction of traces kept, decided at the root from the trace id.
        keep_errors: keep traces with any failed span whatever the sample rate.
        keep_slower_than_ms: keep traces at least this slow whatever the sample rate.
        max_queue_size: traces waiting per exporter before new ones are dropped (and counted).
        export_batch_size: traces per ``export()`` call at most.
        export_interval_ms: how long a worker waits before exporting a partial batch.
        exit_timeout_s: at exit, give up on an exporter that made no progress for this long.
        max_payload_chars: strings longer than this are cut, with a marker.
        max_generator_items: items of a traced generator recorded as its output.
        propagate_to_threads: make ThreadPoolExecutor tasks children of the submitting span.
        otel_bridge: OpenTelemetry spans started inside a tracekit span become its children
            (``opentelemetry.trace.get_current_span`` sees the tracekit span).
        prices: extra or corrected model prices (USD per million tokens), as a mapping
            ``{"openai": {"my-model": {"input": 1.0, "output": 2.0}}}`` or a JSON file path
            (``TRACEKIT_PRICES``); they override the shipped table.
        capture_content: ``"full"`` (default), ``"redacted"`` (content kept after scrubbing
            and PII masking), ``"metadata"`` (no inputs, outputs or message text; model,
            usage, cost, timings and tool names stay) or ``"none"`` (spans for timing only).
        scrub_secrets: replace credentials (API keys, bearer tokens, JWTs, AWS keys, private
            keys, values under keys like ``password``) with a ``[REDACTED:<kind>]`` marker.
        secret_patterns: extra ``{name: regex}`` patterns scrubbed like secrets.
        exempt_keys: key names never treated as credentials.
        mask: PII maskers to apply: ``email``, ``phone``, ``credit_card``, ``iban``,
            ``ip_address``, or ``"all"`` (the default set in ``redacted`` mode).
        keep_media: keep base64 images/audio/files instead of a placeholder with type,
            size and hash.
        redact: a hook called with each span's data (``name``, ``span_type``, ``inputs``,
            ``outputs``, ``attributes``, ``events``) before the trace is queued; return the
            dict (changed) or ``None`` to drop the span's content. If it raises, the content
            is dropped (fail closed) and the failure counted.
        max_span_bytes: a span whose content serialises larger than this has its largest
            fields replaced by a marker with their original size.
        raise_internal_errors: re-raise tracekit's own bugs (for tracekit's test suite).

    Raises:
        ConfigurationError: naming the argument or variable that is wrong.

    Example:
        >>> tracekit.configure(sample_rate=0.1, exporters=[tracekit.JsonlExporter("t.jsonl")])
    """
    given = {k: v for k, v in locals().items() if v is not None}
    settings = resolve(**given)
    apply(settings)


def current_settings() -> Settings:
    """The settings in force (configuring from the environment first if needed)."""
    if state.settings is None:
        from ._tracer import ensure_configured

        ensure_configured()
    return state.settings if state.settings is not None else Settings()
