"""configure(): validation with clear errors, environment variables, precedence."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

import tracekit
from tracekit._config import Settings, resolve
from tracekit._internal import state


def test_defaults() -> None:
    """Documented defaults hold when nothing is set."""
    settings = Settings()
    assert settings.sample_rate == 1.0
    assert settings.keep_errors is True
    assert settings.exit_timeout_s == 2.0
    assert settings.exporters is None


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"sample_rate": 2}, "configure(sample_rate=...)"),
        ({"sample_rate": "lots"}, "configure(sample_rate=...)"),
        ({"max_queue_size": 0}, "configure(max_queue_size=...)"),
        ({"exporters": ["carrier-pigeon"]}, "unknown exporter name 'carrier-pigeon'"),
        ({"exporters": [object()]}, "is not an exporter"),
        ({"keep_slower_than_ms": -1}, "configure(keep_slower_than_ms=...)"),
    ],
)
def test_bad_values_raise_with_the_parameter_name(kwargs: dict[str, Any], needle: str) -> None:
    """A wrong type or value raises ConfigurationError naming the parameter."""
    with pytest.raises(tracekit.ConfigurationError) as info:
        tracekit.configure(**kwargs)
    assert needle in str(info.value)


def test_unknown_keyword_is_rejected() -> None:
    """A misspelt setting raises at once, naming it."""
    with pytest.raises(TypeError, match="sample_rte"):
        tracekit.configure(sample_rte=0.5)  # type: ignore[call-arg]


def test_env_variables_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    """TRACEKIT_<NAME> variables set the same settings."""
    monkeypatch.setenv("TRACEKIT_SAMPLE_RATE", "0.25")
    monkeypatch.setenv("TRACEKIT_KEEP_ERRORS", "false")
    monkeypatch.setenv("TRACEKIT_EXPORTERS", "console,jsonl")
    settings = resolve()
    assert settings.sample_rate == 0.25
    assert settings.keep_errors is False
    assert settings.exporters == ("console", "jsonl")


def test_argument_beats_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """An argument overrides the environment variable."""
    monkeypatch.setenv("TRACEKIT_SAMPLE_RATE", "0.25")
    assert resolve(sample_rate=0.5).sample_rate == 0.5


def test_bad_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid environment value raises naming the variable."""
    monkeypatch.setenv("TRACEKIT_MAX_QUEUE_SIZE", "many")
    with pytest.raises(tracekit.ConfigurationError, match="TRACEKIT_MAX_QUEUE_SIZE"):
        tracekit.configure()


def test_bad_env_on_first_use_disables_tracing_without_raising(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Unconfigured + bad env: the first traced call works, tracing is off, one log line."""
    tracekit.shutdown()
    monkeypatch.setenv("TRACEKIT_SAMPLE_RATE", "-3")

    @tracekit.trace
    def f() -> int:
        return 1

    assert f() == 1
    assert state.enabled is False
    assert "TRACEKIT_SAMPLE_RATE" in caplog.text


def test_default_destination_is_the_store_under_home(tmp_path: Path) -> None:
    """With no exporters configured, traces go to $TRACEKIT_HOME/traces.db, owner-only."""
    home = tmp_path / "home"
    tracekit.configure(home=home)

    @tracekit.trace
    def job() -> str:
        return "ok"

    job()
    assert tracekit.flush()
    path = home / "traces.db"
    found = tracekit.search_traces(path=path)
    assert [t.name for t in found] == ["job"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700


def test_jsonl_by_name(tmp_path: Path) -> None:
    """exporters=["jsonl"] writes $TRACEKIT_HOME/traces.jsonl."""
    tracekit.configure(home=tmp_path, exporters=["jsonl"])
    with tracekit.span("job"):
        pass
    assert tracekit.flush()
    line = (tmp_path / "traces.jsonl").read_text().splitlines()[0]
    assert json.loads(line)["name"] == "job"


def test_unwritable_home_is_a_configure_error(tmp_path: Path) -> None:
    """A home that cannot hold the trace file fails at configure() time, clearly."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(tracekit.ConfigurationError, match="cannot set up the 'sqlite' exporter"):
        tracekit.configure(home=blocker / "sub")
    with pytest.raises(tracekit.ConfigurationError, match="cannot set up the 'jsonl' exporter"):
        tracekit.configure(home=blocker / "sub", exporters=["jsonl"])


def test_reconfigure_flushes_old_exporters(collected: Any) -> None:
    """configure() again sends what was queued to the old exporters first."""

    @tracekit.trace
    def f() -> None:
        pass

    f()
    other = tracekit.InMemoryExporter()
    tracekit.configure(exporters=[other])
    f()
    assert tracekit.flush()
    assert len(collected.exporter.traces) == 1
    assert len(other.traces) == 1


def test_env_exporters_none_records_without_exporting(monkeypatch: pytest.MonkeyPatch) -> None:
    """TRACEKIT_EXPORTERS=none is accepted: spans still work, nothing is exported."""
    monkeypatch.setenv("TRACEKIT_EXPORTERS", "none")
    tracekit.configure()
    with tracekit.span("x"):
        pass
    assert tracekit.flush()
    assert tracekit.stats()["exporters"] == {}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("keep_slower_than_ms", float("inf")),
        ("export_interval_ms", float("inf")),
        ("export_interval_ms", 1e13),
        ("exit_timeout_s", float("nan")),
        ("sample_rate", float("nan")),
    ],
)
def test_infinite_or_huge_values_are_refused_by_name(name: str, value: float) -> None:
    """inf, nan and waits beyond a day fail at configure() time, naming the setting, and leave
    the current configuration in place."""
    before = tracekit.current_settings()
    with pytest.raises(tracekit.ConfigurationError, match=name):
        tracekit.configure(**{name: value})
    assert tracekit.current_settings() == before


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("sample_rate", "0.5", "a number"),
        ("sample_rate", True, "a number"),
        ("enabled", "yes", "True or False"),
        ("keep_errors", 0, "True or False"),
        ("max_queue_size", "10", "an integer"),
        ("max_queue_size", 10.0, "an integer"),
    ],
)
def test_arguments_of_the_wrong_type_are_refused(name: str, value: Any, expected: str) -> None:
    """configure() takes flags and numbers of their own type only (the environment's strings
    are still parsed); the error names the parameter and the expected type."""
    with pytest.raises(tracekit.ConfigurationError, match=rf"{name}=.*expected {expected}"):
        tracekit.configure(**{name: value})


def test_ints_are_numbers_and_env_strings_still_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """An int where a float is expected is fine; TRACEKIT_* strings are parsed as before."""
    monkeypatch.setenv("TRACEKIT_SAMPLE_RATE", "0.25")
    monkeypatch.setenv("TRACEKIT_KEEP_ERRORS", "false")
    settings = resolve(exit_timeout_s=1)
    assert settings.sample_rate == 0.25 and settings.keep_errors is False
    assert settings.exit_timeout_s == 1.0


def test_every_setting_has_an_environment_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, collected: Any
) -> None:
    """The two settings that are not plain values come from the environment too:
    TRACEKIT_SECRET_PATTERNS as a JSON object, TRACEKIT_REDACT as 'module:function'."""
    (tmp_path / "my_hooks.py").write_text(
        "def hook(data):\n    data['attributes']['reviewed'] = True\n    return data\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("TRACEKIT_SECRET_PATTERNS", '{"internal": "tok_[a-z0-9]{8}"}')
    monkeypatch.setenv("TRACEKIT_REDACT", "my_hooks:hook")
    tracekit.configure(exporters=[collected.exporter])
    with tracekit.span("call") as span:
        span.set_inputs({"q": "use tok_abcd1234 please"})
    record = collected.span("call")
    assert record["inputs"] == {"q": "use [REDACTED:internal] please"}
    assert record["attributes"]["reviewed"] is True


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TRACEKIT_SECRET_PATTERNS", "internal=tok_", "JSON object"),
        ("TRACEKIT_SECRET_PATTERNS", '{"bad": "("}', "not a valid regular expression"),
        ("TRACEKIT_REDACT", "no_such_module_xyz:hook", "cannot load"),
        ("TRACEKIT_REDACT", "justaname", "package.module:function"),
    ],
)
def test_bad_structured_env_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(tracekit.ConfigurationError, match=rf"{name}.*{message}"):
        resolve()
