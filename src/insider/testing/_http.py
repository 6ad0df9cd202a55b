"""Just enough HTTP/1.1 for an OpenAI client: Content-Length bodies and keep-alive.

No chunked request bodies, no pipelining guarantees beyond reading requests in order, no
TLS. Parsing and rendering are pure functions; `read_request` is the only I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus

HEAD_LIMIT_BYTES = 64 * 1024
"""Request line plus headers; the stream reader's buffer limit."""


class HttpError(Exception):
    """A request we answer with an error status and then close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class HttpRequest:
    """One parsed request."""

    method: str
    path: str
    headers: Mapping[str, str]
    """Lower-cased names."""
    body: bytes
    keep_alive: bool


@dataclass(frozen=True)
class RequestHead:
    """Request line and headers, before the body is read."""

    method: str
    path: str
    version: str
    headers: Mapping[str, str]


def parse_head(raw: bytes) -> RequestHead:
    """Parse the request line and headers (`raw` ends with the blank line)."""
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, f"malformed request line: {lines[0][:100]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise HttpError(400, f"malformed header line: {line[:100]!r}")
        headers[name.strip().lower()] = value.strip()
    path = target.split("?", 1)[0]
    return RequestHead(method=method.upper(), path=path, version=version, headers=headers)


def wants_keep_alive(head: RequestHead) -> bool:
    """HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 closes unless told not to."""
    connection = head.headers.get("connection", "").lower()
    if head.version == "HTTP/1.0":
        return connection == "keep-alive"
    return connection != "close"


def body_length(head: RequestHead, max_body_bytes: int) -> int:
    """The declared body length, checked against the cap."""
    if "transfer-encoding" in head.headers:
        raise HttpError(411, "chunked request bodies are not supported; send Content-Length")
    raw = head.headers.get("content-length", "0")
    if not raw.isdigit():
        raise HttpError(400, f"Content-Length must be a non-negative integer, got {raw[:40]!r}")
    length = int(raw)
    if length > max_body_bytes:
        raise HttpError(413, f"request body of {length} bytes exceeds {max_body_bytes} bytes")
    return length


async def read_request(
    reader: asyncio.StreamReader, max_body_bytes: int, idle_timeout_s: float
) -> HttpRequest | None:
    """The next request on the connection, or None when the client closed or went idle."""
    try:
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), idle_timeout_s)
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        return None
    except asyncio.LimitOverrunError as err:
        raise HttpError(431, f"request head exceeds {HEAD_LIMIT_BYTES} bytes") from err
    head = parse_head(raw)
    length = body_length(head, max_body_bytes)
    try:
        body = await asyncio.wait_for(reader.readexactly(length), idle_timeout_s)
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        return None
    return HttpRequest(
        method=head.method,
        path=head.path,
        headers=head.headers,
        body=body,
        keep_alive=wants_keep_alive(head),
    )


def render_response(
    status: int,
    body: bytes,
    *,
    keep_alive: bool,
    content_type: str = "application/json",
    extra_headers: Mapping[str, str] | None = None,
) -> bytes:
    """Status line, headers and body, ready to write."""
    reason = HTTPStatus(status).phrase
    headers = {
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
        "Connection": "keep-alive" if keep_alive else "close",
        **(extra_headers or {}),
    }
    head = f"HTTP/1.1 {status} {reason}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (head + "\r\n").encode("latin-1") + body
