"""Mail records and clock arithmetic for the simulated mailbox (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from insider.scenarios import Email

Folder = Literal["inbox", "sent"]


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
