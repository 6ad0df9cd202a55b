"""Why model calls failed, in words: the cause under Inspect's retry wrapper, grouped.

One definition for every model call insider makes (the agent's in ``run``, a judge's in
``classify``), so a failed call reads the same wherever it is recorded.

Inspect retries a failing call and then raises tenacity's ``RetryError``, whose text is
``RetryError(<Future at 0x… state=finished raised APIConnectionError>)``. The cause that
matters (connection refused, an HTTP status, a timeout, a body that is not JSON) sits in the
last attempt's exception and its ``__cause__`` chain; ``describe_failure`` names it first, so
the log, the samples table, a judge's unscored verdict and the closing summary all say what
happened.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from insider.redact import redact_urls_in_text

CONNECTION_REFUSED = "connection refused"
CONNECTION_FAILED = "connection failed"
TIMEOUT = "timeout"
INVALID_JSON = "invalid JSON"
SERVER_GONE = frozenset({CONNECTION_REFUSED, CONNECTION_FAILED, TIMEOUT})
"""Causes that mean the server did not answer at all."""

_TIMEOUT_NAMES = frozenset(
    {
        "APITimeoutError",
        "TimeoutException",
        "ReadTimeout",
        "ConnectTimeout",
        "TimeoutError",
        "AttemptTimeoutError",  # Inspect's ``attempt_timeout`` (a model's ``timeout``) ran out
        "StreamIdleTimeoutError",
    }
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
    """``cause: Exception: text (caused by Inner: text)``, URLs without credentials.

    Where no cause is known the cause is the exception's class, named once:
    ``RuntimeError: text``.
    """
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
    cause = failure_cause(exc)
    if detail.startswith(f"{cause}: ") or detail == cause:
        return redact_urls_in_text(detail)
    return redact_urls_in_text(f"{cause}: {detail}")


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
