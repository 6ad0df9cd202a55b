"""What the fake model server does: latency, faults, scripted answers and limits.

Every value here is validated on construction and then trusted by the server.
Random draws use a `random.Random` seeded from (seed, purpose, sample id, call index), so a
sample's n-th call gets the same latency and the same fault whatever order concurrent
requests arrive in.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class FaultKind(StrEnum):
    """A way a call can fail."""

    RATE_LIMIT = "rate_limit"
    """HTTP 429 with a `Retry-After` header."""
    SERVER_ERROR = "server_error"
    """HTTP 500."""
    UNAVAILABLE = "unavailable"
    """HTTP 503."""
    TIMEOUT = "timeout"
    """No response: the connection is held for `Faults.timeout_hold_s`, then closed."""
    TRUNCATED_JSON = "truncated_json"
    """HTTP 200 whose body is the first half of a valid completion."""
    INVALID_JSON = "invalid_json"
    """HTTP 200 with a JSON content type and a body that is not JSON."""


def call_rng(seed: int, purpose: str, sample_id: str, call_index: int) -> random.Random:
    """A generator for one call's draws, independent of request arrival order."""
    return random.Random(f"{seed}:{purpose}:{sample_id}:{call_index}")


@dataclass(frozen=True)
class Latency:
    """How long each chat call waits before it answers (or fails).

    `Latency(fixed=1.0)` waits exactly one second; `Latency(mean=1.0, jitter=0.2)` waits a
    uniform draw from [0.8, 1.2]. The default waits not at all.
    """

    fixed: float | None = None
    mean: float = 0.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.fixed is not None and (self.mean or self.jitter):
            raise ValueError("Latency: give either fixed=... or mean=.../jitter=..., not both")
        for name in ("mean", "jitter"):
            if getattr(self, name) < 0:
                raise ValueError(f"Latency.{name} must be >= 0, got {getattr(self, name)}")
        if self.fixed is not None and self.fixed < 0:
            raise ValueError(f"Latency.fixed must be >= 0, got {self.fixed}")
        if self.jitter > self.mean:
            raise ValueError(f"Latency.jitter ({self.jitter}) must not exceed mean ({self.mean})")

    def draw(self, rng: random.Random) -> float:
        """Seconds to wait for one call."""
        if self.fixed is not None:
            return self.fixed
        if not self.jitter:
            return self.mean
        return rng.uniform(self.mean - self.jitter, self.mean + self.jitter)


@dataclass(frozen=True)
class Faults:
    """Which calls fail, and how.

    A call fails when its sample id is in `always_fail_ids`, when it is among the first
    `fail_first_calls` calls of its sample, or else with probability `rate`. The kind of a
    failing call is drawn uniformly from `kinds`.
    """

    rate: float = 0.0
    kinds: tuple[FaultKind, ...] = (FaultKind.SERVER_ERROR,)
    always_fail_ids: frozenset[str] = frozenset()
    fail_first_calls: int = 0
    retry_after_s: int = 1
    timeout_hold_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"Faults.rate must be in [0, 1], got {self.rate}")
        if not self.kinds:
            raise ValueError(
                f"Faults.kinds must name at least one of {[k.value for k in FaultKind]}"
            )
        # Accept plain strings and any iterables from callers; store the canonical types.
        object.__setattr__(self, "kinds", tuple(FaultKind(kind) for kind in self.kinds))
        object.__setattr__(self, "always_fail_ids", frozenset(self.always_fail_ids))
        if self.fail_first_calls < 0:
            raise ValueError(f"Faults.fail_first_calls must be >= 0, got {self.fail_first_calls}")
        if self.retry_after_s < 0:
            raise ValueError(f"Faults.retry_after_s must be >= 0, got {self.retry_after_s}")
        if not 0.0 <= self.timeout_hold_s <= 600.0:
            raise ValueError(
                f"Faults.timeout_hold_s must be in [0, 600], got {self.timeout_hold_s}"
            )

    def decide(self, sample_id: str, call_index: int, rng: random.Random) -> FaultKind | None:
        """The fault for a sample's `call_index`-th call (1-based), or None to answer."""
        forced = sample_id in self.always_fail_ids or call_index <= self.fail_first_calls
        if forced or (self.rate and rng.random() < self.rate):
            return rng.choice(self.kinds)
        return None


@dataclass(frozen=True)
class ServerLimits:
    """Bounds that keep a forgotten or runaway server harmless."""

    max_requests: int = 100_000
    """Chat calls served before the server shuts itself down."""
    max_lifetime_s: float = 600.0
    """Seconds after start at which the server shuts itself down."""
    max_body_bytes: int = 4 * 1024 * 1024
    """Larger request bodies are answered 413."""
    idle_timeout_s: float = 30.0
    """A keep-alive connection with no new request for this long is closed."""

    def __post_init__(self) -> None:
        if self.max_requests < 1:
            raise ValueError(f"ServerLimits.max_requests must be >= 1, got {self.max_requests}")
        if not 0.0 < self.max_lifetime_s <= 24 * 3600:
            raise ValueError(
                f"ServerLimits.max_lifetime_s must be in (0, 86400], got {self.max_lifetime_s}"
            )
        if self.max_body_bytes < 1:
            raise ValueError(f"ServerLimits.max_body_bytes must be >= 1, got {self.max_body_bytes}")
        if self.idle_timeout_s <= 0:
            raise ValueError(f"ServerLimits.idle_timeout_s must be > 0, got {self.idle_timeout_s}")


@dataclass(frozen=True)
class ToolCall:
    """One tool call the fake model makes."""

    name: str
    arguments: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolCallAnswer:
    """An assistant message that calls tools, with optional accompanying text."""

    calls: tuple[ToolCall, ...]
    text: str = ""

    def __post_init__(self) -> None:
        if not self.calls:
            raise ValueError("ToolCallAnswer.calls must hold at least one ToolCall")


Answer = str | ToolCallAnswer


@dataclass(frozen=True)
class ChatTurn:
    """One message of a request, reduced to its role and text."""

    role: str
    text: str


@dataclass(frozen=True)
class ChatRequest:
    """A chat completion request as the scripted answerer sees it."""

    model: str
    turns: tuple[ChatTurn, ...]
    sample_id: str
    call_index: int
    """1-based: the how-many-th call of this sample this is."""
    tool_names: tuple[str, ...] = ()


Answerer = Callable[[ChatRequest], Answer]


@dataclass(frozen=True)
class ScriptRule:
    """Answer `answer` when `contains` occurs in a message (of `role`, if given)."""

    contains: str
    answer: Answer
    role: str | None = None

    def matches(self, request: ChatRequest) -> bool:
        """Whether any message this rule looks at contains the substring."""
        return any(
            self.contains in turn.text
            for turn in request.turns
            if self.role is None or turn.role == self.role
        )


def scripted_answerer(rules: tuple[ScriptRule, ...], default: Answer) -> Answerer:
    """An answerer that returns the first matching rule's answer, else `default`.

    Rules see the whole conversation, so in multi-turn scripts put the rule for a later turn
    (matching, say, a tool result) before the rule for the opening prompt.
    """

    def answer(request: ChatRequest) -> Answer:
        for rule in rules:
            if rule.matches(request):
                return rule.answer
        return default

    return answer
