"""Cost from usage: snapshot resolution, cached and cache-write rates, overrides, unknowns."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import tracekit
from tracekit._pricing import PriceTable, cost_usd


@pytest.mark.parametrize(
    ("provider", "model", "family_input"),
    [
        ("openai", "gpt-4o-2024-08-06", 2.5),
        ("openai", "gpt-4o-2024-05-13", 5.0),  # a snapshot priced apart from its family
        ("openai", "gpt-4-0613", 30.0),
        ("openai", "GPT-4o", 2.5),
        ("anthropic", "claude-haiku-4-5-20251001", 1.0),
        ("anthropic", "us.anthropic.claude-sonnet-4-6-v1:0", 3.0),
        ("anthropic", "claude-sonnet-4-6@20260101", 3.0),
    ],
)
def test_snapshots_resolve_to_their_price(provider: str, model: str, family_input: float) -> None:
    """Dated, regional and cased names resolve to the right entry."""
    price = PriceTable.shipped().lookup(provider, model)
    assert price is not None
    assert price["input"] == family_input


def test_no_prefix_guessing() -> None:
    """A name is never priced as a shorter family it merely starts with."""
    table = PriceTable.shipped()
    assert (
        table.lookup("openai", "gpt-4o-mini")["input"] != table.lookup("openai", "gpt-4o")["input"]
    )  # type: ignore[index]
    assert table.lookup("openai", "gpt-4o-turbo-ultra") is None


def test_cached_tokens_priced_once_at_cached_rate() -> None:
    """input includes cached: uncached at input rate, cached at the cached rate, not twice."""
    usage = {"input_tokens": 1000, "cached_input_tokens": 400, "output_tokens": 100}
    # gpt-4o: 600 * 2.5 + 400 * 1.25 + 100 * 10 per million
    assert cost_usd("openai", "gpt-4o", usage) == pytest.approx(0.003)


def test_anthropic_cache_writes_by_ttl() -> None:
    """5-minute and 1-hour cache writes use their own prices."""
    usage = {
        "input_tokens": 1000 + 200 + 300 + 100,
        "cached_input_tokens": 200,
        "cache_write_tokens": 400,
        "cache_write_5m_tokens": 300,
        "cache_write_1h_tokens": 100,
        "output_tokens": 50,
    }
    # sonnet 4.6: 1000*3 + 200*0.3 + 300*3.75 + 100*6 + 50*15
    expected = (3000 + 60 + 1125 + 600 + 750) / 1e6
    assert cost_usd("anthropic", "claude-sonnet-4-6", usage) == pytest.approx(expected)


def test_long_context_tier() -> None:
    """Above a model's long-context threshold every token is billed at the tier's rates."""
    table = PriceTable(
        {
            "openai": {
                "m": {
                    "input": 1.0,
                    "output": 2.0,
                    "long_context": {"threshold_tokens": 100, "input": 10.0, "output": 20.0},
                }
            }
        },
        {},
    )
    small = {"input_tokens": 100, "output_tokens": 1}
    big = {"input_tokens": 101, "output_tokens": 1}
    import tracekit._pricing as pricing

    original = pricing._table
    pricing._table = table
    try:
        assert cost_usd("openai", "m", small) == pytest.approx((100 * 1 + 2) / 1e6)
        assert cost_usd("openai", "m", big) == pytest.approx((101 * 10 + 20) / 1e6)
    finally:
        pricing._table = original


def test_unknown_model_is_null_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """An unknown model costs None (not 0) and logs one warning naming it."""
    caplog.set_level(logging.WARNING, logger="tracekit")
    usage = {"input_tokens": 10, "output_tokens": 10}
    assert cost_usd("openai", "my-private-model", usage) is None
    assert cost_usd("openai", "my-private-model", usage) is None
    assert caplog.text.count("my-private-model") == 1


def test_missing_usage_is_null() -> None:
    """Without usage there is no cost."""
    assert cost_usd("openai", "gpt-4o", None) is None
    assert cost_usd("openai", "gpt-4o", {"output_tokens": 3}) is None


def test_configure_prices_mapping_and_file(tmp_path: Path, collected: object) -> None:
    """configure(prices=...) adds or overrides models, from a mapping or a JSON file."""
    tracekit.configure(prices={"openai": {"gpt-4o": {"input": 1.0, "output": 1.0}}})
    assert cost_usd("openai", "gpt-4o", {"input_tokens": 1_000_000, "output_tokens": 0}) == 1.0
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": {"acme": {"rocket-1": {"input": 2, "output": 4}}}}))
    tracekit.configure(prices=path)
    usage = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    assert cost_usd("acme", "rocket-1", usage) == 6.0
    assert cost_usd("openai", "gpt-4o", {"input_tokens": 1_000_000}) == 2.5  # back to shipped


def test_bad_prices_fail_at_configure(tmp_path: Path) -> None:
    """A malformed price entry or an unreadable file is a ConfigurationError."""
    with pytest.raises(tracekit.ConfigurationError, match="needs at least 'input' and 'output'"):
        tracekit.configure(prices={"openai": {"m": {"input": 1}}})
    with pytest.raises(tracekit.ConfigurationError, match="prices"):
        tracekit.configure(prices=tmp_path / "missing.json")
