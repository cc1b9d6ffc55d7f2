"""Cost of a model call from its normalised usage and the shipped price table."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from ._internal import log_once

_PER_TOKEN = 1e-6  # prices are per million tokens
# Dated snapshots and moving aliases resolve to their family: gpt-4o-2024-08-06 -> gpt-4o,
# claude-sonnet-4-5-20250929 -> claude-sonnet-4-5, claude-3-7-sonnet-latest -> claude-3-7-sonnet.
_SUFFIXES = (
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),
    re.compile(r"-\d{8}$"),
    re.compile(r"-latest$"),
    re.compile(r"@.*$"),  # Vertex AI: claude-sonnet-4-5@20250929
    re.compile(r"-v\d+(:\d+)?$"),  # Bedrock: anthropic.claude-...-v1:0
    re.compile(r"-\d{4}$"),  # OpenAI's older snapshots: gpt-4-0613, gpt-3.5-turbo-0125
)
# Bedrock (with a region prefix: us., eu., apac., global.) and router-style prefixes.
_PREFIXES = (re.compile(r"^(?:[a-z]+\.)?anthropic\."), re.compile(r"^(?:openai|anthropic)/"))


class PriceTable:
    """Prices per provider and model family (USD per million tokens), with user overrides."""

    def __init__(self, models: Mapping[str, Mapping[str, Mapping[str, Any]]], aliases: Any) -> None:
        self.models: dict[str, dict[str, dict[str, Any]]] = {
            p: {name: dict(price) for name, price in m.items()} for p, m in models.items()
        }
        self.aliases: dict[str, dict[str, str]] = {p: dict(a) for p, a in (aliases or {}).items()}
        self._resolved: dict[tuple[str, str], dict[str, Any] | None] = {}

    @classmethod
    def shipped(cls) -> PriceTable:
        raw = json.loads(
            resources.files("tracekit").joinpath("data/prices.json").read_text(encoding="utf-8")
        )
        return cls(raw.get("models", {}), raw.get("aliases", {}))

    def merged(self, overrides: Mapping[str, Any]) -> PriceTable:
        """A copy with ``overrides`` (same shape as the shipped ``models``) applied."""
        models = {p: dict(m) for p, m in self.models.items()}
        body = overrides.get("models", overrides)
        for provider, entries in body.items():
            if not isinstance(entries, Mapping):
                raise ValueError(f"prices[{provider!r}] must map model names to prices")
            for model, price in entries.items():
                if not isinstance(price, Mapping) or "input" not in price or "output" not in price:
                    raise ValueError(
                        f"prices[{provider!r}][{model!r}] needs at least 'input' and 'output'"
                    )
                models.setdefault(provider, {})[model] = dict(price)
        aliases = {p: dict(a) for p, a in self.aliases.items()}
        for provider, entries in dict(overrides.get("aliases", {})).items():
            aliases.setdefault(provider, {}).update(entries)
        return PriceTable(models, aliases)

    def lookup(self, provider: str, model: str) -> dict[str, Any] | None:
        key = (provider, model)
        if key in self._resolved:
            return self._resolved[key]
        found = self._resolve(provider, model)
        self._resolved[key] = found
        return found

    def _resolve(self, provider: str, model: str) -> dict[str, Any] | None:
        table = self.models.get(provider, {})
        aliases = self.aliases.get(provider, {})
        name = model.strip().lower()
        for pattern in _PREFIXES:
            name = pattern.sub("", name)
        # Exact names first: some dated snapshots are priced apart from their family
        # (gpt-4o-2024-05-13). Then strip one suffix at a time, looking again after each.
        while True:
            if name in table:
                return table[name]
            if name in aliases and aliases[name] in table:
                return table[aliases[name]]
            for pattern in _SUFFIXES:
                stripped = pattern.sub("", name)
                if stripped != name:
                    name = stripped
                    break
            else:
                return None


_lock = threading.Lock()
_table: PriceTable | None = None


def price_table() -> PriceTable:
    global _table
    table = _table
    if table is None:
        with _lock:
            if _table is None:
                _table = _build_table()
            table = _table
    return table


def reset_price_table() -> None:
    """Forget the loaded table (after configure(prices=...))."""
    global _table
    with _lock:
        _table = None


def _build_table() -> PriceTable:
    from ._internal import state

    table = PriceTable.shipped()
    overrides = state.settings.prices if state.settings is not None else None
    if overrides is not None:
        table = table.merged(load_overrides(overrides))
    return table


def load_overrides(value: Mapping[str, Any] | str | Path) -> Mapping[str, Any]:
    """User prices: a mapping, or a path to a JSON file of the same shape."""
    if isinstance(value, Mapping):
        return value
    data = json.loads(Path(value).expanduser().read_text(encoding="utf-8"))
    if not isinstance(data, Mapping):
        raise ValueError(f"{value}: the price file must hold a JSON object")
    return data


def cost_usd(provider: str, model: str | None, usage: Mapping[str, int] | None) -> float | None:
    """Cost of one call, or ``None`` when the model or the usage is unknown.

    ``usage`` follows tracekit's convention: ``input_tokens`` includes cached reads and cache
    writes, ``output_tokens`` includes reasoning. Cached tokens are priced at the cached rate
    only (not twice); cache writes at the write rate where the table has one.
    """
    if not model or not usage:
        return None
    price = price_table().lookup(provider, model)
    if price is None:
        log_once(
            f"price:{provider}:{model}",
            "tracekit: no price known for %s model %r; its cost is recorded as null. "
            "Add it with tracekit.configure(prices=...).",
            provider,
            model,
        )
        return None
    input_tokens = usage.get("input_tokens")
    output_tokens = usage.get("output_tokens", 0)
    if input_tokens is None:
        return None
    tier = price.get("long_context")
    if isinstance(tier, Mapping) and input_tokens > tier.get("threshold_tokens", float("inf")):
        # Above the threshold every token of the request is billed at the long-context rates.
        price = {**price, **tier}
    cached = usage.get("cached_input_tokens", 0)
    write_5m = usage.get("cache_write_5m_tokens")
    write_1h = usage.get("cache_write_1h_tokens")
    written = usage.get("cache_write_tokens", 0)
    in_price = float(price["input"])
    total = (input_tokens - cached - written) * in_price
    total += cached * float(price.get("cached_input", in_price))
    if write_5m is not None or write_1h is not None:
        w5, w1 = write_5m or 0, write_1h or 0
        total += w5 * float(price.get("cache_write_5m", price.get("cache_write", in_price)))
        total += w1 * float(price.get("cache_write_1h", price.get("cache_write", in_price)))
        total += (written - w5 - w1) * float(price.get("cache_write", in_price))
    else:
        total += written * float(price.get("cache_write", price.get("cache_write_5m", in_price)))
    total += output_tokens * float(price["output"])
    return round(total * _PER_TOKEN, 10)
