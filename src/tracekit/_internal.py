"""Process-wide state and the guard that keeps tracekit's own failures away from the app."""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._config import Settings
    from ._pipeline import ExportPipeline

logger = logging.getLogger("tracekit")


class TracekitWarning(UserWarning):
    """Warns about misuse of the tracekit API (the app keeps running)."""


def _env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    # The same words pydantic reads as False, so both readings of the variable agree.
    return raw.strip().lower() not in {"0", "false", "f", "no", "n", "off"}


class _State:
    # Read on every traced call, so kept to plain slot attributes.
    __slots__ = (
        "config_lock",
        "content_level",
        "enabled",
        "enabled_explicit",
        "internal_errors",
        "keep_errors",
        "keep_slower_ns",
        "max_generator_items",
        "max_payload_chars",
        "max_span_bytes",
        "pipeline",
        "raise_internal_errors",
        "redact_hook",
        "redaction_failures",
        "sample_threshold",
        "sampled_out",
        "settings",
        "tail_sampling",
        "warned",
    )

    def __init__(self) -> None:
        # TRACEKIT_ENABLED is read without pydantic so a disabled process never pays for it.
        self.enabled: bool = _env_flag("TRACEKIT_ENABLED", True)
        self.enabled_explicit: bool | None = None  # set by enable()/disable()
        self.raise_internal_errors: bool = _env_flag("TRACEKIT_RAISE_INTERNAL_ERRORS", False)
        self.settings: Settings | None = None
        self.pipeline: ExportPipeline | None = None
        self.max_payload_chars: int = 20_000
        self.max_generator_items: int = 1_000
        self.internal_errors: int = 0
        self.content_level: int = 3  # _privacy.FULL
        self.redact_hook: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None
        self.redaction_failures: int = 0
        self.max_span_bytes: int = 1_000_000
        # Sampling, precomputed at configure time: keep a trace when the low 64 bits of its id
        # are below the threshold (the rule OpenTelemetry's TraceIdRatioBased uses).
        self.sample_threshold: int = 2**64
        self.tail_sampling: bool = False
        self.keep_errors: bool = True
        self.keep_slower_ns: int | None = None
        self.sampled_out: int = 0
        self.warned: set[str] = set()
        self.config_lock = threading.RLock()


state = _State()


def internal_error(where: str) -> None:
    """Record a failure inside tracekit; call from an ``except`` block.

    Logs once per place, counts every time, and never raises into the app unless
    ``raise_internal_errors`` is on (tracekit's own test suite).
    """
    state.internal_errors += 1
    if state.raise_internal_errors:
        raise  # noqa: PLE0704 -- always called from inside an except block
    key = "internal:" + where
    if key not in state.warned:
        state.warned.add(key)
        logger.warning(
            "tracekit: internal error in %s; some telemetry was lost, the application is unaffected"
            " (further errors here are counted in tracekit.stats(), not logged)",
            where,
            exc_info=True,
        )


def warn_once(key: str, message: str, *, stacklevel: int = 3) -> None:
    """Warn the user about misuse once per key, pointing at their line."""
    if key in state.warned:
        return
    state.warned.add(key)
    warnings.warn(message, TracekitWarning, stacklevel=stacklevel)


def log_once(key: str, message: str, *args: Any, level: int = logging.WARNING) -> None:
    """Log a runtime problem (export failure, full queue) once per key."""
    if key in state.warned:
        return
    state.warned.add(key)
    logger.log(level, message, *args)
