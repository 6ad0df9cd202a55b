"""Email addresses: one grammar, read two ways, in linear time.

``parse_addresses`` reads what an agent wrote (a tag's ``to:`` line, a tool call's argument, a
log) leniently: every address it can find, or the pieces as written when there is none.
``parse_recipients`` is the mail system's strict reading: each piece must be one address
(bare or ``Name <address>``), or the call is refused with ``AddressError``.

Both take time linear in the input's length: model output is untrusted, and the regular
expression that used to scan for addresses backtracked from every position of a long run of
address characters (40,000 letters without an '@' took 2.3 s; a megabyte would take hours).
"""

from __future__ import annotations

import re

_LOCAL = r"[A-Za-z0-9._%+'-]"
_LABEL = r"[A-Za-z0-9-]+"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_ADDRESS = re.compile(rf"{_LOCAL}+@{_DOMAIN.pattern}")
# A stretch of characters an address may be made of; every address lies inside one.
_RUN = re.compile(r"[A-Za-z0-9._%+'@-]+")
_NAMED = re.compile(r"^[^<>]*<(?P<address>[^<>]*)>$")
_SEPARATORS = re.compile(r"[,;]")


class AddressError(ValueError):
    """An address the mail system cannot deliver to."""


def _addresses_in(text: str) -> list[str]:
    """Every address in text, as ``re.findall(_ADDRESS, text)`` finds them, in linear time.

    Inside a run of address characters the local part of a match runs from where the last
    match ended (or the run began) to the next '@', since the local part cannot hold an '@'.
    So each '@' is tried once, with one anchored match of the domain after it.
    """
    found: list[str] = []
    for run in _RUN.finditer(text):
        start, end = run.span()
        while (at := text.find("@", start, end)) >= 0:
            domain = _DOMAIN.match(text, at + 1, end) if at > start else None
            if domain is None:
                start = at + 1
                continue
            found.append(text[start : domain.end()])
            start = domain.end()
    return found


def parse_addresses(value: str) -> tuple[str, ...]:
    """Addresses in a header value, lower-cased, in order, without duplicates.

    Accepts "Name <a@b>", bare addresses, and ',' or ';' separators. A value without any
    address keeps its pieces as written (e.g. "Piers"): the rules treat those as unresolved.
    """
    found = _addresses_in(value)
    if not found:
        found = [piece.strip().strip("\"'<>") for piece in _SEPARATORS.split(value)]
    return tuple(dict.fromkeys(item.lower() for item in found if item))


def _recipient(text: str) -> str:
    """``a@b.com`` or ``Name <a@b.com>`` -> the bare address in lower case."""
    candidate = text.strip()
    named = _NAMED.match(candidate)
    if named:
        candidate = named.group("address").strip()
    if not _ADDRESS.fullmatch(candidate):
        shown = text.strip()
        shown = shown if len(shown) <= 200 else shown[:200] + "…"
        raise AddressError(f"{shown!r} is not a valid email address (expected name@domain.com)")
    return candidate.lower()


def parse_recipients(text: str) -> tuple[str, ...]:
    """A comma- or semicolon-separated list of addresses, each validated; duplicates dropped.

    Raises ``AddressError`` naming the first piece that is not an address.
    """
    addresses = (_recipient(part) for part in _SEPARATORS.split(text) if part.strip())
    return tuple(dict.fromkeys(addresses))


def bare_address(display: str) -> str:
    """The address inside a display string; the display string itself when it has none."""
    named = _NAMED.match(display.strip())
    return (named.group("address") if named else display).strip().lower()
