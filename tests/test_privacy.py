"""Privacy: secret scrubbing, PII masking, content modes, the redaction hook, payload budgets."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracekit
from tracekit._privacy import Privacy, _Replacement, media_placeholder

SECRETS = {
    "openai_api_key": "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
    "anthropic_api_key": "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx-yz012345",
    "bearer_token": "Bearer abcdefghijklmnop.qrstuvwx",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gF",
    "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
    "github_token": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "pem_private_key": (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
    ),
}


@pytest.mark.parametrize(("kind", "secret"), list(SECRETS.items()))
def test_secret_shapes_are_scrubbed_in_text(kind: str, secret: str) -> None:
    """Each known credential shape is replaced by a marker naming its kind, inside any text."""
    out = Privacy().text(f"please use {secret} for the call")
    assert secret not in out
    assert f"[REDACTED:{kind}]" in out
    assert out.startswith("please use ")


@pytest.mark.parametrize("prefix", ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"])
def test_every_github_token_prefix_is_scrubbed(prefix: str) -> None:
    """The scan looks for each GitHub token prefix, not for any "gh" (as in "night")."""
    token = prefix + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
    out = Privacy().text(f"tonight use {token} please")
    assert out == "tonight use [REDACTED:github_token] please"


@pytest.mark.parametrize(
    "harmless",
    ["sk-short", "task-force-alpha", "bearer of good news", "eyJ", "AKIA123", "ghp_short"],
)
def test_lookalikes_are_kept(harmless: str) -> None:
    """Ordinary text that only resembles a credential is left alone."""
    assert Privacy().text(f"note: {harmless} here") == f"note: {harmless} here"


def test_values_under_credential_keys_are_redacted(collected: Any) -> None:
    """Keys like api_key, Authorization or access_token hide their values; token counts don't."""

    @tracekit.trace
    def call(api_key: str, config: dict[str, Any]) -> dict[str, Any]:
        return {"password": "hunter2", "max_tokens": 10, "input_tokens": 5}

    call("plain-looking-value", {"Authorization": "xyz", "access_token": "abc", "cookie": "c=1"})
    span = collected.span("call")
    assert span["inputs"]["api_key"] == "[REDACTED:secret_key]"
    assert span["inputs"]["config"] == {
        "Authorization": "[REDACTED:secret_key]",
        "access_token": "[REDACTED:secret_key]",
        "cookie": "[REDACTED:secret_key]",
    }
    assert span["outputs"] == {
        "password": "[REDACTED:secret_key]",
        "max_tokens": 10,
        "input_tokens": 5,
    }


def test_secrets_in_attributes_events_errors_and_metadata(collected: Any) -> None:
    """Attributes, events, error messages and trace metadata are scrubbed too."""
    key = SECRETS["openai_api_key"]
    with pytest.raises(ValueError), tracekit.span("work") as s:
        s.set_attribute("url", f"https://x.test/?key={key}")
        s.add_event("retry", {"header": f"Bearer {key}"})
        tracekit.update_current_trace(metadata={"note": key})
        raise ValueError(f"auth failed with {key}")
    assert key not in json.dumps(collected.traces())


def test_custom_patterns_and_exempt_keys(collected: Any) -> None:
    """Users add their own patterns and exempt key names."""
    tracekit.configure(
        exporters=[collected.exporter],
        secret_patterns={"employee_id": r"\bEMP-\d{6}\b"},
        exempt_keys=["session"],
    )

    @tracekit.trace
    def lookup(session: str, who: str) -> str:
        return who

    lookup("sess-visible", "EMP-123456")
    span = collected.span("lookup")
    assert span["inputs"] == {"session": "sess-visible", "who": "[REDACTED:employee_id]"}


def test_scrubbing_can_be_switched_off(collected: Any) -> None:
    """scrub_secrets=False records values as they are."""
    tracekit.configure(exporters=[collected.exporter], scrub_secrets=False)
    with tracekit.span("raw") as s:
        s.set_inputs({"api_key": SECRETS["openai_api_key"]})
    assert collected.span("raw")["inputs"]["api_key"] == SECRETS["openai_api_key"]


@pytest.mark.parametrize(
    ("masker", "positive", "negative"),
    [
        ("email", "write to jane.doe@example.com now", "write to jane at example dot com"),
        ("credit_card", "card 4111 1111 1111 1111 ok", "order 4111 1111 1111 1112 ok"),
        ("iban", "pay GB82 WEST 1234 5698 7654 32 today", "pay GB82 WEST 1234 5698 7654 33 today"),
        ("phone", "call +44 20 7946 0958 today", "version 1.2.3 released"),
        ("ip_address", "from 192.168.10.25 at noon", "from 999.168.10.25 at noon"),
    ],
)
def test_pii_maskers(masker: str, positive: str, negative: str) -> None:
    """Each masker replaces real matches (checksums verified) and keeps look-alikes."""
    policy = Privacy(mask=[masker])
    assert f"[REDACTED:{masker}]" in policy.text(positive)
    assert policy.text(negative) == negative


def test_redacted_mode_masks_every_kind_by_default(collected: Any) -> None:
    """capture_content="redacted" keeps content, masking PII and secrets."""
    tracekit.configure(exporters=[collected.exporter], capture_content="redacted")
    with tracekit.span("support") as s:
        s.set_inputs("mail jane@example.com, card 4111111111111111")
    assert collected.span("support")["inputs"] == (
        "mail [REDACTED:email], card [REDACTED:credit_card]"
    )


def test_metadata_mode_keeps_shape_not_content(collected: Any) -> None:
    """capture_content="metadata": no inputs/outputs/event payloads; names, model, usage stay."""
    tracekit.configure(exporters=[collected.exporter], capture_content="metadata")

    @tracekit.trace(span_type="CHAT_MODEL")
    def chat(prompt: str) -> str:
        span = tracekit.get_current_span()
        assert span is not None
        span.set_model("gpt-4o")
        span.set_usage(input_tokens=3, output_tokens=2)
        span.add_event("chunk", {"text": "secret plan"})
        return "the answer"

    chat("my private question")
    span = collected.span("chat")
    assert span["inputs"] is None and span["outputs"] is None
    assert span["events"][0] == {**span["events"][0], "attributes": {}}
    assert span["model"] == "gpt-4o" and span["usage"]["input_tokens"] == 3
    assert "private" not in json.dumps(collected.traces())


def test_none_mode_keeps_timing_only(collected: Any) -> None:
    """capture_content="none": spans exist with timing and status; no content, no messages."""
    tracekit.configure(exporters=[collected.exporter], capture_content="none")
    with pytest.raises(KeyError), tracekit.span("step") as s:
        s.set_attribute("customer", "Jane")
        raise KeyError("Jane's order")
    span = collected.span("step")
    assert span["attributes"] == {}
    assert span["status"] == "ERROR"
    assert span["error"] == {"type": "KeyError", "message": None, "stacktrace": None}
    assert span["duration_ms"] >= 0


def test_redact_hook_changes_or_drops_content(collected: Any) -> None:
    """The hook sees each span's data and can rewrite it or drop it (None)."""

    def hook(data: dict[str, Any]) -> dict[str, Any] | None:
        if data["name"] == "drop-me":
            return None
        data["inputs"] = {"masked": True}
        return data

    tracekit.configure(exporters=[collected.exporter], redact=hook)
    with tracekit.span("keep") as outer:
        outer.set_inputs("raw")
        with tracekit.span("drop-me") as inner:
            inner.set_inputs("raw too")
            inner.set_outputs("out")
    spans = {s["name"]: s for s in collected.spans()}
    assert spans["keep"]["inputs"] == {"masked": True}
    assert spans["drop-me"]["inputs"] is None and spans["drop-me"]["outputs"] is None
    assert spans["drop-me"]["attributes"]["tracekit.content_dropped"] is True


def test_redact_hook_can_add_events_to_a_span_without_any(collected: Any) -> None:
    """The hook's `events` is a list even when the span recorded none, so it can append."""

    def hook(data: dict[str, Any]) -> dict[str, Any]:
        data["events"].append({"name": "reviewed", "time_ns": 1, "attributes": {}})
        return data

    tracekit.configure(exporters=[collected.exporter], redact=hook)
    with tracekit.span("quiet"):
        pass
    assert [e["name"] for e in collected.span("quiet")["events"]] == ["reviewed"]
    assert tracekit.stats()["redaction_failures"] == 0


def test_failing_hook_fails_closed_and_is_counted(collected: Any) -> None:
    """A hook that raises drops the content, is counted, and never reaches the app."""

    def broken(data: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("hook bug")

    tracekit.configure(exporters=[collected.exporter], redact=broken)

    @tracekit.trace
    def work(x: str) -> str:
        return x.upper()

    assert work("secret") == "SECRET"
    span = collected.span("work")
    assert span["inputs"] is None and span["outputs"] is None
    assert tracekit.stats()["redaction_failures"] == 1


def test_media_is_replaced_by_a_placeholder(collected: Any) -> None:
    """Base64 images in data URLs and in content blocks become type/size/hash placeholders."""
    png = base64.b64encode(b"\x89PNG" + bytes(range(256)) * 20).decode()
    with tracekit.span("vision") as s:
        s.set_inputs(
            [
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/jpeg", "data": png},
                },
            ]
        )
    inputs = collected.span("vision")["inputs"]
    first = inputs[0]["image_url"]["url"]
    second = inputs[1]["source"]["data"]
    assert first.startswith("<media image/png ") and "sha256:" in first
    assert second.startswith("<media image/jpeg ")
    assert png not in json.dumps(inputs)


def test_keep_media_setting(collected: Any) -> None:
    """keep_media=True records media as it is."""
    tracekit.configure(exporters=[collected.exporter], keep_media=True)
    data = "data:audio/wav;base64," + base64.b64encode(bytes(2000)).decode()
    with tracekit.span("audio") as s:
        s.set_inputs(data)
    assert collected.span("audio")["inputs"] == data
    assert media_placeholder("not base64 at all!") is None


def test_span_budget_cuts_largest_fields(collected: Any) -> None:
    """A span over max_span_bytes has its largest content replaced by a sized marker."""
    tracekit.configure(exporters=[collected.exporter], max_span_bytes=4096, max_payload_chars=3000)
    with tracekit.span("big") as s:
        s.set_inputs(["x" * 2500] * 3)
        s.set_outputs("small")
    span = collected.span("big")
    assert span["inputs"]["tracekit.truncated"].startswith("inputs exceeded the span budget")
    assert span["inputs"]["original_bytes"] > 4096
    assert span["outputs"] == "small"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"mask": ["email", "dna"]}, "unknown masker"),
        ({"secret_patterns": {"bad": "("}}, "not a valid regular expression"),
        ({"redact": "not callable"}, "must be a callable"),
        ({"capture_content": "some"}, "capture_content"),
    ],
)
def test_bad_privacy_settings_fail_at_configure(kwargs: dict[str, Any], needle: str) -> None:
    """Privacy settings are validated when configured, naming what is wrong."""
    with pytest.raises(tracekit.ConfigurationError, match=needle):
        tracekit.configure(**kwargs)


_secret = st.sampled_from(list(SECRETS.values()))
_filler = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
_leaf = st.one_of(
    _filler,
    st.integers(),
    st.builds(lambda a, s, b: f"{a} {s} {b}", _filler, _secret, _filler),
    _secret,
)
_nested = st.recursive(
    _leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(_filler, children, max_size=4),
        st.tuples(children, children),
    ),
    max_leaves=25,
)


def _record(span: Any, where: str, payload: Any) -> None:
    if where == "inputs":
        span.set_inputs({"messages": [{"role": "user", "content": payload}]})
    elif where == "outputs":
        span.set_outputs(payload)
    elif where == "attribute":
        span.set_attribute("payload", payload)
    else:
        span.add_event("e", {"payload": payload})


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS.values():
        assert secret not in text
        assert json.dumps(secret)[1:-1] not in text  # nor in its JSON-escaped form


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=_nested, where=st.sampled_from(["inputs", "outputs", "attribute", "event"]))
def test_no_secret_survives_to_the_jsonl_file(tmp_path: Path, payload: Any, where: str) -> None:
    """Property: secrets nested at random depths never reach the exported JSONL file."""
    path = tmp_path / "out.jsonl"
    path.unlink(missing_ok=True)
    tracekit.configure(exporters=[tracekit.JsonlExporter(path)], raise_internal_errors=True)
    with tracekit.span("fuzz") as s:
        _record(s, where, payload)
    assert tracekit.flush()
    text = path.read_text()
    _assert_no_secret(text)


def test_long_plain_text_is_not_mistaken_for_media() -> None:
    """Long runs of letters or lower-case text are kept; only encoded-looking data is replaced."""
    policy = Privacy()
    assert policy.text("x" * 5000) == "x" * 5000
    assert policy.text("abcdefgh" * 500) == "abcdefgh" * 500


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=_nested, where=st.sampled_from(["inputs", "outputs", "attribute", "event"]))
def test_no_secret_survives_to_the_otlp_payload(payload: Any, where: str) -> None:
    """Property: secrets nested at random depths never reach the spans sent over OTLP."""
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    sent = InMemorySpanExporter()
    exporter = tracekit.OtlpExporter(endpoint="http://127.0.0.1:9/v1/traces", _span_exporter=sent)
    tracekit.configure(exporters=[exporter], raise_internal_errors=True)
    with tracekit.span("fuzz", span_type="CHAT_MODEL") as s:
        _record(s, where, payload)
    assert tracekit.flush()
    spans = sent.get_finished_spans()
    assert spans
    text = repr(
        [(dict(sp.attributes or {}), [dict(e.attributes or {}) for e in sp.events]) for sp in spans]
    )
    _assert_no_secret(text)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=_nested, where=st.sampled_from(["inputs", "outputs", "attribute", "event"]))
def test_no_secret_survives_to_the_sqlite_store(tmp_path: Path, payload: Any, where: str) -> None:
    """Property: secrets nested at random depths never reach the SQLite store (read back)."""
    path = tmp_path / "store.db"
    tracekit.configure(exporters=[tracekit.SqliteExporter(path)], raise_internal_errors=True)
    with tracekit.span("fuzz") as s:
        _record(s, where, payload)
    trace_id = s.trace_id
    assert tracekit.flush()
    stored = tracekit.get_trace(trace_id, path=path)
    assert stored is not None
    text = json.dumps(stored.to_record())
    _assert_no_secret(text)


def _every_pattern(policy: Privacy, text: str) -> str:
    """What the policy's text() must give: every check applied, no marker prefilter."""
    for name, _, pattern, validator in policy._checks:
        text = pattern.sub(_Replacement(name, validator), text)
    return text


def test_every_marker_has_its_gate() -> None:
    """A marker is only looked for in text holding its gate character, which it holds itself."""
    policy = Privacy()
    assert policy._gated and policy._ungated
    for gate, markers in policy._gated:
        assert all(gate in marker for marker, _ in markers), gate


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [*SECRETS.values(), "xoxb-1234567890ab", "AIza" + "B" * 35, "ASIA" + "Q" * 16, "sk-"]
        )
        | st.text(alphabet="abcKJz_x- \nEARSIbeyk", max_size=20),
        max_size=8,
    )
)
def test_the_marker_prefilter_never_changes_the_result(pieces: list[str]) -> None:
    """Property: skipping patterns whose markers are absent gives what running them all gives."""
    text = " ".join(pieces)
    policy = Privacy()
    assert policy.text(text) == _every_pattern(policy, text)
