"""Rules for the admin's configuration records: what a slug, an IMAP server and a holiday list may be, and how to
say in plain words which records still use one that an admin wants to delete."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
PORT_RANGE = (1, 65535)
NAMES_SHOWN = 3  # a use lists this many names, then "and N more"


class ConfigError(ValueError):
    """A value an admin typed that cannot work; the message says what to type instead."""


def normalise_slug(text: str) -> str:
    """The slug as stored (trimmed, lowercase), or ConfigError: it is part of the form's web address."""
    slug = text.strip().lower()
    if not slug:
        raise ConfigError("Give the form a slug, e.g. billing-question: it is part of the form's web address.")
    if not _SLUG.fullmatch(slug):
        raise ConfigError(
            f"{slug!r} cannot be used: a slug may hold only lowercase letters, digits and single hyphens between "
            "them, e.g. billing-question (it is part of the form's web address)."
        )
    return slug


def check_imap_host(host: str) -> str:
    """The server's name or IP address alone, trimmed; ConfigError for a URL, a port, spaces or stray characters."""
    host = host.strip()
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise ConfigError(
            f"{host!r} is not a server name: give the name alone, e.g. imap.example.com (no imaps://, no :993 "
            "and no spaces; the port has its own field)."
        )
    return host


def check_imap_server(host: str | None, *, login_given: bool) -> str | None:
    """The IMAP host to store: None for a mailbox fed only by the HTTP intake (no IMAP settings at all, so the
    poller skips it); ConfigError for a port or username without a host, or a host that is not a server name."""
    if host and host.strip():
        return check_imap_host(host)
    if login_given:
        raise ConfigError(
            "Give the IMAP server's name, e.g. imap.example.com: without it the mailbox is never polled. For a "
            "mailbox that only receives mail through the HTTP intake, leave the IMAP port, username and password "
            "empty too."
        )
    return None


def check_port(port: int) -> int:
    low, high = PORT_RANGE
    if not low <= port <= high:
        raise ConfigError(f"Port {port} does not exist: give a number from {low} to {high} (IMAP: 993 with SSL, "
                          "143 with STARTTLS).")  # fmt: skip
    return port


def duplicate_days(days: Iterable[date | None]) -> set[date]:
    """The days listed more than once (a calendar has one holiday per day)."""
    counts = Counter(day for day in days if day is not None)
    return {day for day, n in counts.items() if n > 1}


@dataclass(frozen=True)
class Use:
    """Records of one kind that still point at a configuration record: how many, and the names of a few."""

    count: int
    singular: str
    plural: str
    names: Sequence[str] = ()
    detail: str = ""  # e.g. "3 open", shown in brackets when there are no names

    def __str__(self) -> str:
        noun = self.singular if self.count == 1 else self.plural
        shown = [str(name) for name in self.names[:NAMES_SHOWN]]
        if len(self.names) > NAMES_SHOWN:
            shown.append(f"{len(self.names) - NAMES_SHOWN} more")
        inside = ", ".join(shown) or self.detail
        return f"{self.count} {noun}" + (f" ({inside})" if inside else "")


def describe(uses: Iterable[Use]) -> str:
    """'12 tickets (3 open), 1 mailbox (Billing inbox) and 2 routing rules (VIP, Renewals)'; uses of 0 left out."""
    parts = [str(use) for use in uses if use.count]
    if len(parts) < 2:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]
