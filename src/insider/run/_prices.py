"""The price table, and what a call's measured usage costs under it.

Usage follows Inspect's ``ModelUsage`` convention: ``input_tokens`` are the input tokens
charged at the full rate (cached ones excluded), ``input_tokens_cache_read`` and
``input_tokens_cache_write`` the cached ones, and ``output_tokens`` every output token, the
reasoning included (``reasoning_tokens`` is the part of them spent reasoning).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from insider.errors import ConfigError, describe_validation_error
from insider.files import read_yaml_mapping

if TYPE_CHECKING:
    from inspect_ai.model import ModelUsage

PRICES_FILE = Path(__file__).with_name("prices.yaml")
PRICES_COPY = "prices.yaml"
"""A run directory's copy of the price table it was run with (``insider run --prices``)."""


class Price(BaseModel):
    """USD per million tokens of one model, with its cache prices and batch discount."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(
        default=None, ge=0, description="Input read from the prompt cache (default: input)"
    )
    cache_write: float | None = Field(
        default=None, ge=0, description="Input written to the prompt cache (default: input)"
    )
    batch_discount: float = Field(
        default=0.0, ge=0, lt=1, description="Share taken off batched calls, e.g. 0.5"
    )

    @property
    def cache_read_price(self) -> float:
        return self.input if self.cached_input is None else self.cached_input

    @property
    def cache_write_price(self) -> float:
        return self.input if self.cache_write is None else self.cache_write

    def factor(self, batched: bool) -> float:
        """What a batched call costs relative to the same call made on its own."""
        return 1.0 - self.batch_discount if batched else 1.0


@dataclass(frozen=True)
class TokenUsage:
    """The tokens of one or more calls, split the way providers price them."""

    input: int = 0
    """Input charged at the full rate (cached input excluded)."""
    cached_input: int = 0
    """Input read from the prompt cache."""
    cache_write: int = 0
    """Input written to the prompt cache."""
    output: int = 0
    """Every output token, reasoning included."""
    reasoning: int = 0
    """The part of ``output`` spent reasoning."""

    def __rmul__(self, times: int) -> TokenUsage:
        """``times`` calls like this one."""
        return TokenUsage(
            self.input * times,
            self.cached_input * times,
            self.cache_write * times,
            self.output * times,
            self.reasoning * times,
        )

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input + other.input,
            self.cached_input + other.cached_input,
            self.cache_write + other.cache_write,
            self.output + other.output,
            self.reasoning + other.reasoning,
        )

    @classmethod
    def of(cls, usage: ModelUsage | None) -> TokenUsage:
        """An Inspect ``ModelUsage`` (None: nothing used)."""
        if usage is None:
            return cls()
        return cls(
            input=usage.input_tokens,
            cached_input=usage.input_tokens_cache_read or 0,
            cache_write=usage.input_tokens_cache_write or 0,
            output=usage.output_tokens,
            reasoning=usage.reasoning_tokens or 0,
        )

    def cost(self, price: Price, batched: bool = False) -> float:
        """USD under ``price``; a batched call gets the price's batch discount."""
        per_million = (
            self.input * price.input
            + self.cached_input * price.cache_read_price
            + self.cache_write * price.cache_write_price
            + self.output * price.output
        )
        return per_million * price.factor(batched) / 1_000_000


Prices = dict[str, Price]


def load_prices(path: Path | None = None) -> Prices:
    """The price table at ``path`` (default: the shipped one), validated."""
    path = path or PRICES_FILE
    raw = read_yaml_mapping(path, "prices file", empty_ok=True)
    prices: Prices = {}
    for key, value in raw.items():
        try:
            prices[str(key)] = Price.model_validate(value)
        except ValidationError as exc:
            raise ConfigError(
                f"{path}: {key}: {describe_validation_error(exc)}; expected {{input: USD/Mtok, "
                "output: USD/Mtok}, optionally cached_input, cache_write, batch_discount"
            ) from exc
    return prices


def price_for(model: str, prices: Prices) -> Price | None:
    """The price of an Inspect model string: its own entry, else the longest ``prefix*``."""
    if model in prices:
        return prices[model]
    prefixes = [key for key in prices if key.endswith("*") and model.startswith(key[:-1])]
    return prices[max(prefixes, key=len)] if prefixes else None


def run_prices(run_root: Path, override: Path | None = None) -> Prices:
    """The prices a run is priced with: ``override``, else the run's copy, else the shipped."""
    if override is not None:
        return load_prices(override)
    copy = run_root / PRICES_COPY
    return load_prices(copy if copy.is_file() else None)


def keep_prices(run_root: Path, path: Path) -> None:
    """Copy a price table (validated first) into the run, so later analyses price with it."""
    from insider.files import atomic_write_text

    load_prices(path)
    atomic_write_text(run_root / PRICES_COPY, path.read_text(encoding="utf-8"))
