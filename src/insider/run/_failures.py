"""Why model calls failed, in words: the cause under Inspect's retry wrapper, grouped.

Inspect retries a failing call and then raises tenacity's ``RetryError``, whose text is
``RetryError(<Future at 0x… state=finished raised APIConnectionError>)``. The cause that
matters (connection refused, an HTTP status, a timeout, a body that is not JSON) sits in the
last attempt's exception and its ``__cause__`` chain; ``describe_failure`` names it first, so
the log, the samples table and the closing summary all say what happened.

``FailureStreak`` watches one model's finished samples: when the last ``window`` of them all
failed with the same cause, the server is not coming back on its own, and the run stops that
model rather than burning through the grid (the samples not run stay resumable).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from insider.run._redact import redact_urls_in_text

T = TypeVar("T")

CONNECTION_REFUSED = "connection refused"
CONNECTION_FAILED = "connection failed"
TIMEOUT = "timeout"
INVALID_JSON = "invalid JSON"
SERVER_GONE = frozenset({CONNECTION_REFUSED, CONNECTION_FAILED, TIMEOUT})
"""Causes that mean the server did not answer at all."""

_TIMEOUT_NAMES = frozenset(
    {"APITimeoutError", "TimeoutException", "ReadTimeout", "ConnectTimeout", "TimeoutError"}
)
_JSON_NAMES = frozenset({"JSONDecodeError", "APIResponseValidationError"})
_CONNECTION_NAMES = frozenset(
    {"APIConnectionError", "ConnectError", "RemoteProtocolError", "ConnectionError", "ReadError"}
)
_STATUS_NAMES = {
    "BadRequestError": 400,
    "AuthenticationError": 401,
    "PermissionDeniedError": 403,
    "NotFoundError": 404,
    "ConflictError": 409,
    "UnprocessableEntityError": 422,
    "RateLimitError": 429,
    "InternalServerError": 500,
}
"""The OpenAI SDK's error classes, by the HTTP status they stand for."""
_CAUSE_PREFIX = re.compile(
    r"^(connection refused|connection failed|timeout|invalid JSON|HTTP \d{3}|[A-Za-z_]\w*): "
)
_DETAIL_LIMIT = 400
_WRAPPERS = frozenset({"ModelGenerateError"})


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def root_exception(exc: BaseException) -> BaseException:
    """The exception under tenacity's ``RetryError`` (the last attempt's), else ``exc``."""
    for _ in range(10):  # a RetryError of a RetryError is possible, a cycle is not
        attempt = getattr(exc, "last_attempt", None)
        if "RetryError" not in _names(exc) or attempt is None:
            return exc
        inner = attempt.exception() if attempt.failed else None
        if not isinstance(inner, BaseException):
            return exc
        exc = inner
    return exc


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it (``__cause__``, else an unsuppressed ``__context__``)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        context = None if current.__suppress_context__ else current.__context__
        current = current.__cause__ or context
    return chain


def _is_wrapper(exc: BaseException) -> bool:
    wraps = exc.__cause__ is not None or exc.__context__ is not None
    return wraps and type(exc).__name__ in _WRAPPERS


def _linked(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception it links to, suppressed contexts included.

    httpx re-raises httpcore's connect error, which anyio raised ``from`` the
    ``ConnectionRefusedError``; only the whole graph still holds the errno.
    """
    found: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(found) < 30:
        item = todo.pop(0)
        if item in found:
            continue
        found.append(item)
        todo += [link for link in (item.__cause__, item.__context__) if link is not None]
    return found


def failure_cause(exc: BaseException) -> str:
    """A short cause: connection refused, timeout, HTTP 500, invalid JSON, or a class name."""
    chain = _chain(root_exception(exc))
    names = set().union(*(_names(item) for item in _linked(chain[0])))
    if "ConnectionRefusedError" in names:
        return CONNECTION_REFUSED
    if names & _TIMEOUT_NAMES:
        return TIMEOUT
    status = next(
        (code for item in chain if isinstance(code := getattr(item, "status_code", None), int)),
        None,
    )
    if status is not None:
        return f"HTTP {status}"
    if names & _JSON_NAMES:
        return INVALID_JSON
    if names & _CONNECTION_NAMES:
        return CONNECTION_FAILED
    return type(chain[0]).__name__


def describe_failure(exc: BaseException) -> str:
    """``cause: Exception: text (caused by Inner: text)``, URLs without credentials."""
    chain = _chain(root_exception(exc))
    # Inspect's ModelGenerateError repeats the whole request (the prompt): its cause says it
    chain = [item for item in chain if not _is_wrapper(item)] or chain
    parts: list[str] = []
    for item in chain:
        part = " ".join(f"{type(item).__name__}: {item}".split()).rstrip(":")
        if part not in parts:  # httpx re-raises httpcore's error under the same name
            parts.append(part)
    detail = parts[0] + (f" (caused by {'; '.join(parts[1:])})" if len(parts) > 1 else "")
    if len(detail) > _DETAIL_LIMIT:
        detail = detail[: _DETAIL_LIMIT - 1] + "…"
    return redact_urls_in_text(f"{failure_cause(exc)}: {detail}")


def cause_of_message(message: str) -> str:
    """The cause of a recorded error message (ours name it first; Inspect's are guessed)."""
    match = _CAUSE_PREFIX.match(message)
    if match and not message.startswith("RetryError"):
        return match.group(1)
    if "Connection refused" in message or "ConnectionRefusedError" in message:
        return CONNECTION_REFUSED
    status = re.search(r"Error code: (\d{3})", message)
    if status:
        return f"HTTP {status.group(1)}"
    raised = re.search(r"raised (\w+)>", message)
    name = raised.group(1) if raised else message.split("(", 1)[0].split(":", 1)[0].strip()
    if name in _TIMEOUT_NAMES:
        return TIMEOUT
    if name in _STATUS_NAMES:
        return f"HTTP {_STATUS_NAMES[name]}"
    if name in _JSON_NAMES:
        return INVALID_JSON
    if name in _CONNECTION_NAMES:
        return CONNECTION_FAILED
    return name or "unknown"


@dataclass
class ErrorGroup:
    """Samples that failed for one cause, with one example message."""

    cause: str
    count: int
    example: str


def group_errors(messages: Iterable[str]) -> list[ErrorGroup]:
    """Error messages grouped by cause, the largest group first."""
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for message in messages:
        cause = cause_of_message(message)
        counts[cause] += 1
        examples.setdefault(cause, message)
    return [ErrorGroup(cause, count, examples[cause]) for cause, count in counts.most_common()]


class FailureStreak:
    """Trips when one model's last ``window`` finished samples all failed with one cause."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.cause: str | None = None
        self.count = 0
        self.tripped: str | None = None
        """The cause that tripped it, once it has."""

    def record(self, error_message: str | None) -> bool:
        """Note one finished sample (its error message, None if it answered); tripped now?"""
        if error_message is None:
            self.cause, self.count = None, 0
            return False
        cause = cause_of_message(error_message)
        self.count = self.count + 1 if cause == self.cause else 1
        self.cause = cause
        if self.tripped is None and self.count >= self.window:
            self.tripped = cause
            return True
        return False

    def trip(self, cause: str) -> bool:
        """Trip now (another process saw the streak); whether this tripped it."""
        if self.tripped is not None:
            return False
        self.tripped = cause
        return True

    def guard(self, samples: Iterator[T]) -> Iterator[T]:
        """``samples`` until the streak trips: workers then take no new sample."""
        for sample in samples:
            if self.tripped is not None:
                return
            yield sample


def streak_window(max_connections: int) -> int:
    """Failures in a row that stop a model: every worker failed twice, and at least 20."""
    return max(20, 2 * max_connections)


def stop_message(model: str, base_url: str | None, cause: str, window: int) -> str:
    """Why a model was stopped early, in one sentence."""
    where = f"the server at {base_url}" if base_url else f"the provider of {model}"
    if cause in SERVER_GONE:
        what = f"{where} stopped answering ({cause} on the last {window} calls)"
    else:
        what = f"the last {window} calls to {model} all failed the same way ({cause})"
    return f"{what}; stopped {model} early"
