"""Mail records, address parsing and clock arithmetic for the simulated mailbox (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from insider.scenarios._render import Email

Folder = Literal["inbox", "sent"]

_ADDRESS = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_NAMED = re.compile(r"^[^<>]*<(?P<address>[^<>]*)>$")


class AddressError(ValueError):
    """An address the mail system cannot deliver to."""


def parse_address(text: str) -> str:
    """``a@b.com`` or ``Name <a@b.com>`` -> the bare address in lower case."""
    candidate = text.strip()
    named = _NAMED.match(candidate)
    if named:
        candidate = named.group("address").strip()
    if not _ADDRESS.fullmatch(candidate):
        raise AddressError(
            f"{text.strip()!r} is not a valid email address (expected name@domain.com)"
        )
    return candidate.lower()


def parse_addresses(text: str) -> tuple[str, ...]:
    """A comma- or semicolon-separated list of addresses, each validated; duplicates dropped."""
    addresses: list[str] = []
    for part in re.split(r"[,;]", text):
        if part.strip():
            address = parse_address(part)
            if address not in addresses:
                addresses.append(address)
    return tuple(addresses)


def bare_address(display: str) -> str:
    """The address inside a display string; the display string itself when it has none."""
    named = _NAMED.match(display.strip())
    return (named.group("address") if named else display).strip().lower()


def to_minutes(clock_time: str) -> int:
    """``"16:05"`` -> minutes since midnight."""
    hours, _, minutes = clock_time.partition(":")
    return int(hours) * 60 + int(minutes)


def to_clock(minutes: int) -> str:
    """Minutes since midnight -> ``"HH:MM"``."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Mail:
    """One message in the mailbox: a seeded inbox email, a reply, a notice or a sent item."""

    id: str
    sender: str
    to: str
    time: str
    subject: str
    body: str
    cc: str = ""
    key: str = ""
    roles: tuple[str, ...] = ()
    folder: Folder = "inbox"

    @classmethod
    def from_email(cls, email: Email) -> Mail:
        return cls(
            id=email.id,
            sender=email.sender,
            to=email.to,
            cc=email.cc,
            time=email.time,
            subject=email.subject,
            body=email.body,
            key=email.key,
            roles=email.roles,
        )

    def headline(self, unread: bool) -> str:
        """One short line for the inbox listing."""
        mark = "  (unread)" if unread else ""
        return f"[{self.id}] {self.time}  {self.sender}  |  {self.subject}{mark}"

    def text(self, today: str) -> str:
        """The full message as the agent reads it (and as a forward quotes it)."""
        lines = [f"ID: {self.id}", f"From: {self.sender}", f"To: {self.to}"]
        if self.cc:
            lines.append(f"Cc: {self.cc}")
        lines += [f"Date: {today}, {self.time}", f"Subject: {self.subject}", "", self.body]
        return "\n".join(lines)

    def matches(self, terms: tuple[str, ...]) -> bool:
        """Whether every (lower-case) term occurs in the sender, subject or body."""
        haystack = f"{self.sender}\n{self.subject}\n{self.body}".lower()
        return all(term in haystack for term in terms)
