"""Credentials never reach disk: what we write of a config, a URL or an error is redacted.

A key, token or password can hide in three places of an experiment: an argument or header
whose name says so (``api_key``, ``X-Custom-Auth``, ``Authorization``), a header value that
is a credential whatever its name (``Bearer …``), and a base URL (``https://user:pw@host``,
``?api_key=…``). Everything we write that comes from the experiment (the experiment copy,
the ``.eval`` header and journal, error messages) goes through these functions; the values
the model clients use are left as they are.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "<redacted>"

# Credential-like names (api_key, auth_token, client_secret, X-Custom-Auth, Cookie, ...),
# but not generation settings such as max_tokens or reasoning_tokens.
_SECRET_NAME = re.compile(
    r"(^|[_\-.])(api[_-]?key|key|token|access[_-]?token|secret|password|passwd|pwd|"
    r"credentials?|cookie|session|signature|sig)$"
    r"|auth",
    re.IGNORECASE,
)
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_SECRET_VALUE = re.compile(r"^\s*(bearer|basic|token|digest)\s+\S", re.IGNORECASE)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>]+")


def is_secret_name(name: object) -> bool:
    """Whether an argument, header or query parameter of this name may hold a credential."""
    words = _CAMEL.sub(r"\1_\2", str(name))  # accessToken reads as access_Token
    return bool(_SECRET_NAME.search(words))


def redact_url(url: str) -> str:
    """``url`` without its user:password and with credential-like query values redacted."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        host = netloc.rsplit("@", 1)[1] if "@" in netloc else netloc
        if "@" in netloc:
            netloc = f"{REDACTED}@{host}"
        query = urlencode(
            [
                (name, REDACTED if is_secret_name(name) else value)
                for name, value in parse_qsl(parts.query, keep_blank_values=True)
            ],
            safe="<>",
        )
        fragment = REDACTED if parts.fragment and "=" in parts.fragment else parts.fragment
        return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))
    except ValueError:
        return REDACTED  # not a URL we can take apart: keep none of it


def redact_urls_in_text(text: str) -> str:
    """Every URL inside ``text`` redacted (error messages may quote the URL they called)."""
    return _URL.sub(lambda match: redact_url(match.group(0)), text)


def redact_argv(argv: list[str]) -> list[str]:
    """A command line with the values of credential-like options redacted.

    ``--api-key VALUE`` and ``--token=VALUE`` lose their values, as do ``Bearer …`` strings
    and the credentials in URLs; everything else is kept.
    """
    redacted: list[str] = []
    hide_next = False
    for arg in argv:
        option, equals, _ = arg.partition("=")
        if hide_next:
            redacted.append(REDACTED)
        elif option.startswith("-") and equals and is_secret_name(option.lstrip("-")):
            redacted.append(f"{option}={REDACTED}")
        else:
            redacted.append(scrub_secrets(arg))
        hide_next = arg.startswith("-") and not equals and is_secret_name(arg.lstrip("-"))
    return redacted


def redact_command_line(line: str) -> str:
    """``redact_argv`` for a command line already joined into one string."""
    return " ".join(redact_argv(line.split(" ")))


def scrub_secrets(value: Any) -> Any:
    """A copy of a config value with everything that looks like a credential redacted.

    Values under a credential-like name are replaced; URLs lose their credentials; header
    values such as ``Bearer …`` are replaced whatever their name. Objects that are not plain
    data (a scripted test model's callable) are recorded by their repr, never executed.
    """
    if isinstance(value, dict):
        return {
            key: (REDACTED if is_secret_name(key) else scrub_secrets(item))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        if all(isinstance(item, str) for item in value):
            return redact_argv([str(item) for item in value])
        return [scrub_secrets(item) for item in value]
    if isinstance(value, str):
        if _SECRET_VALUE.match(value):
            return REDACTED
        return redact_urls_in_text(value) if "://" in value else value
    if value is None or isinstance(value, int | float | bool):
        return value
    return repr(value)


def loggable_args(args: dict[str, Any]) -> dict[str, Any]:
    """Model args as a log may record them: plain JSON data, credentials redacted.

    What JSON cannot hold (a scripted test model's callable) becomes None, so the record is
    the same on every run (a repr would carry a memory address).
    """
    scrubbed = scrub_secrets(_json_only(args))
    return scrubbed if isinstance(scrubbed, dict) else {}


def _json_only(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_only(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_only(item) for item in value]
    return value if value is None or isinstance(value, str | int | float | bool) else None
