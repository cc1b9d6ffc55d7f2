"""``tracekit.configure()``: one validated settings object, from arguments, env, defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ._internal import state

ENV_PREFIX = "TRACEKIT_"
EXPORTER_NAMES = ("jsonl", "sqlite", "otlp", "console", "none")


class ConfigurationError(ValueError):
    """A setting given to ``configure()`` or in a ``TRACEKIT_*`` variable is invalid."""


def default_home() -> Path:
    """``$TRACEKIT_HOME`` if set, else ``~/.tracekit``."""
    raw = os.environ.get("TRACEKIT_HOME")
    return Path(raw).expanduser() if raw else Path.home() / ".tracekit"


class Settings(BaseModel):
    """Every setting, its type, bounds and default (see docs/configuration.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    enabled: bool = True
    home: Path = Field(default_factory=default_home)
    exporters: tuple[Any, ...] | None = None
    sample_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    keep_errors: bool = True
    keep_slower_than_ms: float | None = Field(default=None, ge=0.0)
    max_queue_size: int = Field(default=100_000, ge=1)
    export_batch_size: int = Field(default=512, ge=1)
    export_interval_ms: float = Field(default=500.0, gt=0.0)
    exit_timeout_s: float = Field(default=2.0, ge=0.0)
    max_payload_chars: int = Field(default=20_000, ge=64)
    max_generator_items: int = Field(default=1_000, ge=0)
    propagate_to_threads: bool = True
    prices: dict[str, Any] | Path | None = None
    raise_internal_errors: bool = False

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

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


def resolve(**given: Any) -> Settings:
    """Merge arguments over ``TRACEKIT_*`` variables over defaults, validated."""
    env = _from_env()
    source = {f: f"environment variable {env_name(f)}" for f in env if f not in given}
    source.update({f: f"configure({f}=...)" for f in given})
    try:
        return Settings.model_validate({**env, **given})
    except ValidationError as err:
        raise ConfigurationError(_format_error(err, source)) from None


def build_exporters(settings: Settings) -> list[Any]:
    wanted = settings.exporters if settings.exporters is not None else ("jsonl",)
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


def apply(settings: Settings) -> None:
    """Make ``settings`` current: replace the export pipeline, update hot-path state."""
    from . import context
    from ._pipeline import ExportPipeline
    from ._pricing import reset_price_table

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
        state.enabled = settings.enabled
        state.enabled_explicit = None
        context.set_thread_propagation(settings.propagate_to_threads)
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
    prices: Mapping[str, Any] | str | os.PathLike[str] | None = None,
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
        exporters: exporter objects or names (``"jsonl"``, ``"console"``, ``"none"``);
            default a JSONL file ``<home>/traces.jsonl`` (``TRACEKIT_EXPORTERS=jsonl,console``).
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
        prices: extra or corrected model prices (USD per million tokens), as a mapping
            ``{"openai": {"my-model": {"input": 1.0, "output": 2.0}}}`` or a JSON file path
            (``TRACEKIT_PRICES``); they override the shipped table.
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
