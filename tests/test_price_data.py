"""The shipped price table (tracekit/data/prices.json) is well-formed and self-consistent."""

from __future__ import annotations

import json
import math
import re
from datetime import date
from importlib.resources import files
from typing import Any

import pytest

PROVIDERS = ("openai", "anthropic")

# Every per-model key whose value is a price in USD per 1M tokens.
PRICE_KEYS = {
    "input",
    "cached_input",
    "cache_write",
    "cache_write_5m",
    "cache_write_1h",
    "cache_write_12h",
    "output",
    "reasoning",
    "input_audio",
    "output_audio",
}
TEXT_KEYS = {"source", "date", "effective_from", "note"}
ALLOWED_KEYS = PRICE_KEYS | TEXT_KEYS | {"long_context"}
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _load() -> dict[str, Any]:
    resource = files("tracekit") / "data" / "prices.json"
    return json.loads(resource.read_text(encoding="utf-8"))


PRICES = _load()


def _models() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (provider, name, entry)
        for provider in PROVIDERS
        for name, entry in PRICES["models"][provider].items()
    ]


def _is_price(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _is_iso_date(value: object) -> bool:
    if not isinstance(value, str) or not ISO_DATE.match(value):
        return False
    date.fromisoformat(value)
    return True


def test_header() -> None:
    assert PRICES["schema_version"] == 1
    assert PRICES["unit"] == "USD per 1M tokens"
    assert _is_iso_date(PRICES["updated"])
    assert set(PRICES["models"]) == set(PROVIDERS)
    assert set(PRICES["aliases"]) == set(PROVIDERS)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_provider_has_models(provider: str) -> None:
    assert PRICES["models"][provider]


@pytest.mark.parametrize(("provider", "name", "entry"), _models(), ids=lambda v: v)
def test_model_entry(provider: str, name: str, entry: dict[str, Any]) -> None:
    assert name == name.strip().lower(), "model keys are lower-case, without spaces"
    assert set(entry) <= ALLOWED_KEYS, f"unknown keys {set(entry) - ALLOWED_KEYS}"
    assert _is_price(entry.get("input")), "input must be a number >= 0"
    assert _is_price(entry.get("output")), "output must be a number >= 0"
    for key in PRICE_KEYS & set(entry):
        assert _is_price(entry[key]), f"{key} must be a number >= 0"
    assert isinstance(entry.get("source"), str)
    assert entry["source"].strip()
    assert _is_iso_date(entry.get("date"))
    if "effective_from" in entry:
        assert _is_iso_date(entry["effective_from"])
    if "cached_input" in entry:
        assert entry["cached_input"] <= entry["input"]
    if provider == "anthropic":
        assert "cache_write" not in entry, "Anthropic uses cache_write_5m / cache_write_1h"


@pytest.mark.parametrize(
    ("provider", "name", "entry"),
    [m for m in _models() if "long_context" in m[2]],
    ids=lambda v: v,
)
def test_long_context_tier(provider: str, name: str, entry: dict[str, Any]) -> None:
    tier = entry["long_context"]
    threshold = tier.get("threshold_tokens")
    assert isinstance(threshold, int)
    assert not isinstance(threshold, bool)
    assert threshold > 0
    prices = {key: value for key, value in tier.items() if key != "threshold_tokens"}
    assert prices
    assert set(prices) <= PRICE_KEYS
    assert {"input", "output"} <= set(prices)
    for key, value in prices.items():
        assert _is_price(value)
        assert key in entry, f"long-context {key} has no base price"
        assert value >= entry[key], f"long-context {key} is cheaper than the base price"
    if "cached_input" in prices:
        assert prices["cached_input"] <= prices["input"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_aliases_point_at_models(provider: str) -> None:
    models = PRICES["models"][provider]
    for alias, target in PRICES["aliases"][provider].items():
        assert alias == alias.strip().lower()
        assert alias not in models, f"alias {alias!r} shadows a model key"
        assert target in models, f"alias {alias!r} points at unknown model {target!r}"


# Models users run today: a table that lost one would price their calls as unknown (null).
CURRENT_MODELS = {
    "openai": {
        "chat": ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-5", "gpt-5-mini"],
        "reasoning": ["o1", "o3", "o3-mini", "o4-mini"],
        "embedding": ["text-embedding-3-small", "text-embedding-3-large"],
    },
    "anthropic": {
        "chat": ["claude-sonnet-4-5", "claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-1"],
    },
}


@pytest.mark.parametrize(
    ("provider", "kind", "name"),
    [(p, k, n) for p, kinds in CURRENT_MODELS.items() for k, names in kinds.items() for n in names],
)
def test_current_models_are_priced(provider: str, kind: str, name: str) -> None:
    """Current chat, reasoning and embedding models are in the table with a source and a date;
    chat and reasoning models have a cached-input price (cache reads for Anthropic)."""
    from tracekit._pricing import PriceTable

    price = PriceTable.shipped().lookup(provider, name)
    assert price is not None, f"{provider} {name} is not priced"
    assert price["source"] and price["date"]
    assert price["input"] >= 0
    if kind != "embedding":
        assert price["output"] > 0 and "cached_input" in price
