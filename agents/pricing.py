"""What a model call costs: a price table per model, and the arithmetic.

Prices are US dollars per million tokens for uncached input, output, cache reads and cache
writes. The bundled table holds list prices (not a provider's limited-time promotion) of the
models the defaults name and their neighbours; ``[pricing]`` in shopfloor.toml overrides or
adds entries (a private deployment, a negotiated rate, a local model that costs electricity).
A model the table does not know costs 0 and is reported as unpriced, never guessed. The sim
always costs 0: nothing it says was bought.

Token convention (Anthropic's): ``input_tokens`` excludes the cache reads and writes, which are
counted apart; providers normalise their usage to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from agents.provider import Usage

_MTOK = 1_000_000


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens."""

    input: float
    output: float
    cache_read: float = 0.0
    cache_write: float = 0.0

    def __post_init__(self) -> None:
        for name in ("input", "output", "cache_read", "cache_write"):
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f"price {name} must not be negative, got {value}")

    def cost(self, usage: Usage) -> float:
        """The dollar cost of one call's usage."""
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_read_tokens * self.cache_read
            + usage.cache_write_tokens * self.cache_write
        ) / _MTOK


BUILTIN_PRICES: dict[str, Price] = {
    # Anthropic (platform.claude.com/docs/en/about-claude/pricing, as stored 2026-11): cache
    # write = 1.25 x input (5-minute TTL), cache read = 0.1 x input. Every Opus from 4.5 on
    # has its own entry: a dated id matches by prefix, and claude-opus-4-7 fell to the old
    # claude-opus-4 rates ($15/$75) instead of its own ($5/$25).
    # Sonnet 5.5 and Sonnet 5: their model pages (platform.claude.com/docs/en/models/
    # sonnet-5-5/overview and .../sonnet-5/overview, as stored 2026-11): $2 in, $10 out,
    # $2.50 5-minute cache write, $0.20 cache read. (One stored copy of the Sonnet 5.5
    # migration guide says its cache reads cost $0.10, half Sonnet 5's; the model page and
    # the other copies say $0.20, kept here.)
    "anthropic:claude-sonnet-5-5": Price(2.0, 10.0, 0.20, 2.50),
    "anthropic:claude-sonnet-5": Price(2.0, 10.0, 0.20, 2.50),
    "anthropic:claude-opus-4-8": Price(5.0, 25.0, 0.50, 6.25),
    "anthropic:claude-opus-4-7": Price(5.0, 25.0, 0.50, 6.25),
    "anthropic:claude-opus-4-6": Price(5.0, 25.0, 0.50, 6.25),
    "anthropic:claude-opus-4-5": Price(5.0, 25.0, 0.50, 6.25),
    "anthropic:claude-opus-4-1": Price(15.0, 75.0, 1.50, 18.75),  # retired 2026-08-05
    "anthropic:claude-opus-4": Price(15.0, 75.0, 1.50, 18.75),  # retired 2026-06-15
    "anthropic:claude-sonnet-4-6": Price(3.0, 15.0, 0.30, 3.75),
    "anthropic:claude-sonnet-4-5": Price(3.0, 15.0, 0.30, 3.75),
    "anthropic:claude-sonnet-4": Price(3.0, 15.0, 0.30, 3.75),  # retired 2026-06-15
    "anthropic:claude-haiku-4-5": Price(1.0, 5.0, 0.10, 1.25),
    "anthropic:claude-3-5-haiku": Price(0.80, 4.0, 0.08, 1.0),
    # Gemini (prompts up to 200k tokens): cached input is billed at the cache rate; the
    # cache's storage fee is per hour, not per call, and is left out. Gemini reports no
    # cache writes; they would be billed as input.
    # ai.google.dev/gemini-api/docs/pricing, as transcribed 2026-10-07: Gemini 3.8 Flash
    # lists $1.50 in / $7.50 out "starting January 1, 2027"; until December 31, 2026 a
    # promotion bills half ($0.75 / $3.75), so a run before then costs half what is shown
    # here. Its cache read ($0.075 promotional, per third-party notes of the promotion)
    # is doubled alike. Gemini 3.5 Flash-Lite: $0.30 / $2.50; cache read $0.03 (a reseller
    # quoting Google's rate; the transcription has none).
    "gemini:gemini-3.8-flash": Price(1.50, 7.50, 0.15, 1.50),
    "gemini:gemini-3.5-flash-lite": Price(0.30, 2.50, 0.03, 0.30),
    # 2.5 Pro and 2.5 Flash retire on 2026-12-01: their requests are then billed as 3.8
    # Flash and 3.5 Flash-Lite. A call is priced by the model its response names, so the
    # entries above price them if Google's response names the model that answered.
    "gemini:gemini-2.5-pro": Price(1.25, 10.0, 0.125, 1.25),
    "gemini:gemini-2.5-flash": Price(0.30, 2.50, 0.03, 0.30),
    "gemini:gemini-2.5-flash-lite": Price(0.10, 0.40, 0.01, 0.10),
}


_NEXT_VERSION = re.compile(r"-\d{1,2}(?:-|$)")
"""What after an entry's name makes another model, not a dated id of it: a minor version
(``claude-sonnet-5`` + ``-5`` is Sonnet 5.5; + ``-20260630`` is Sonnet 5 of that date)."""


def _extends(key: str, entry: str) -> bool:
    """Whether ``key`` names ``entry``'s model with a suffix (a date, ``-latest``, a
    ``-001`` revision), not a model of its own."""
    rest = key[len(entry) :]
    return key.startswith(entry) and rest.startswith("-") and not _NEXT_VERSION.match(rest)


def _family_model(spec_or_model: str, family: str) -> str:
    """``family:model`` without a base URL (``openai:qwen@http://...`` -> ``openai:qwen``)."""
    bare = spec_or_model.partition("@")[0]
    return bare if ":" in bare else f"{family}:{bare}"


@dataclass(frozen=True)
class CallCost:
    """What one call cost, and whether the table knew its model."""

    usd: float
    priced: bool
    key: str


@dataclass(frozen=True)
class PriceTable:
    """Prices by ``family:model``; a dated model id matches its undated entry by prefix (a
    minor version does not: ``claude-sonnet-5-5`` is not ``claude-sonnet-5``)."""

    prices: Mapping[str, Price] = field(default_factory=lambda: dict(BUILTIN_PRICES))

    def with_overrides(self, overrides: Mapping[str, Price]) -> PriceTable:
        """A table with ``overrides`` replacing or adding entries."""
        return replace(self, prices={**self.prices, **overrides})

    def lookup(self, family: str, model: str) -> Price | None:
        """The price of ``model`` of ``family``: exact entry, else the longest entry it
        extends with a suffix (a date, ``-latest``), never one a minor version apart."""
        key = _family_model(model, family)
        if key in self.prices:
            return self.prices[key]
        candidates = [k for k in self.prices if _extends(key, k)]
        return self.prices[max(candidates, key=len)] if candidates else None

    def cost(self, family: str, model: str, usage: Usage, *, simulated: bool = False) -> CallCost:
        """The cost of one call. The sim is always free; an unknown model is free and unpriced."""
        key = _family_model(model, family)
        if simulated or family == "sim":
            return CallCost(0.0, True, key)
        price = self.lookup(family, model)
        if price is None:
            return CallCost(0.0, False, key)
        return CallCost(round(price.cost(usage), 8), True, key)


DEFAULT_PRICES = PriceTable()


PRICE_KEYS = frozenset({"input", "output", "cache_read", "cache_write"})
"""The keys of a ``[pricing]`` entry: USD per million tokens."""


def parse_price_overrides(raw: Mapping[str, object], where: str) -> dict[str, Price]:
    """``[pricing]`` entries (``"family:model" = {input=.., output=.., ...}``) as prices.

    Raises ``ValueError`` with one line naming ``where`` and the entry on bad input.
    """
    out: dict[str, Price] = {}
    for key, value in raw.items():
        if ":" not in key:
            raise ValueError(f"{where}: [pricing] {key!r} must be a model spec like 'family:model'")
        if not isinstance(value, Mapping):
            raise ValueError(f"{where}: [pricing] {key!r} must be a table of prices per Mtok")
        unknown = sorted(set(value) - PRICE_KEYS)
        if unknown:
            raise ValueError(f"{where}: [pricing] {key!r} has unknown key(s) {unknown}")
        if "input" not in value or "output" not in value:
            raise ValueError(f"{where}: [pricing] {key!r} needs at least input and output")
        numbers: dict[str, float] = {}
        for name, number in value.items():
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise ValueError(f"{where}: [pricing] {key!r} {name} must be a number")
            numbers[str(name)] = float(number)
        try:
            out[key.partition("@")[0]] = Price(**numbers)
        except ValueError as exc:
            raise ValueError(f"{where}: [pricing] {key!r}: {exc}") from exc
    return out
