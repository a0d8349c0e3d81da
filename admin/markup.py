"""Small HTML pieces of the agent screens, built in Python: dates, badges, the SLA cell and <option> lists.

A queue page has fifty rows and a workspace a dozen entries and as many select boxes: as Jinja macros and loops
(a call, an escape and an attribute lookup apiece) these were a third of a page's render time. Every text from
the database is escaped here; labels of our own enums are not user input. The templates reach them through `register`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, Protocol

from markupsafe import Markup, escape

from ticketing.domain.lifecycle import DONE, PAUSED, Status
from ticketing.domain.vocab import Priority

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def short_time(value: datetime) -> str:
    """'27 Nov 14:05': strftime('%d %b %H:%M') in the C locale, at a fifth of its cost."""
    return f"{value.day:02d} {_MONTHS[value.month - 1]} {value.hour:02d}:{value.minute:02d}"


def day_time(value: datetime) -> str:
    """'Fri 27 Nov 14:05' (strftime('%a %d %b %H:%M'))."""
    return f"{_WEEKDAYS[value.weekday()]} {short_time(value)}"


def long_time(value: datetime) -> str:
    """'27 Nov 2026 14:05' (strftime('%d %b %Y %H:%M'))."""
    return f"{value.day:02d} {_MONTHS[value.month - 1]} {value.year} {value.hour:02d}:{value.minute:02d}"


def duration_text(seconds: float) -> str:
    """A length of time the way agents read it at a glance: '2d 3h', '4h 10m', '25m' (the sign is dropped)."""
    s = int(abs(seconds))
    if s >= 86400:
        return f"{s // 86400}d {(s % 86400) // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h {(s % 3600) // 60}m"
    return f"{s // 60}m"


class SlaClock(Protocol):
    """What the SLA cell reads: a Ticket or a queue row."""

    status: Status
    due_date: datetime | None
    resolved_at: datetime | None
    sla_breach_at: datetime | None


@dataclass(frozen=True)
class SlaCell:
    css: str
    text: str
    title: str = ""

    def __html__(self) -> str:
        title = f' title="{self.title}"' if self.title else ""
        return f'<span class="{self.css}"{title}>{self.text}</span>'


def sla_cell(t: SlaClock, now: datetime) -> SlaCell:
    """The resolution clock as one badge: breached, late or met once done, paused, overdue, or the time left."""
    if t.sla_breach_at:
        passed = t.sla_breach_at.isoformat(" ", "minutes")[:16]
        return SlaCell("badge badge-danger", "Breached", f"Resolution target passed {passed} UTC")
    if t.status in DONE:
        if t.due_date and t.resolved_at:
            late = t.resolved_at > t.due_date
            return SlaCell("badge badge-danger", "Resolved late") if late else SlaCell("badge badge-success", "Met")
        return SlaCell("text-muted", "—")
    if t.due_date is None:
        return SlaCell("badge badge-secondary", "Paused") if t.status in PAUSED else SlaCell("text-muted", "no SLA")
    left = (t.due_date - now).total_seconds()
    if left < 0:
        return SlaCell("badge badge-danger", f"Overdue {duration_text(left)}")
    due = f"Due {day_time(t.due_date)} UTC"
    return SlaCell("badge badge-warning" if left < 4 * 3600 else "text-nowrap", f"{duration_text(left)} left", due)


STATUS_CLASS = {
    "open": "badge-primary",
    "in_progress": "badge-info",
    "pending": "badge-warning",
    "waiting_on_customer": "badge-warning",
    "resolved": "badge-success",
    "closed": "badge-secondary",
}
PRIORITY_CLASS = {"urgent": "badge-danger", "high": "badge-warning", "medium": "badge-light", "low": "badge-light"}
_STATUS_BADGE = {s: Markup(f'<span class="badge badge-pill {STATUS_CLASS[s.value]}">{s.label}</span>') for s in Status}  # noqa: S704
_PRIORITY_BADGE = {p: Markup(f'<span class="badge {PRIORITY_CLASS[p.value]}">{p.label}</span>') for p in Priority}  # noqa: S704


def status_badge(status: Status) -> Markup:
    return _STATUS_BADGE[status]


def priority_badge(priority: Priority) -> Markup:
    return _PRIORITY_BADGE[priority]


STATUS_OPTIONS = tuple((s.value, s.label) for s in Status)
PRIORITY_OPTIONS = tuple((p.value, p.label) for p in Priority)


@lru_cache(maxsize=1024)
def _option_tags(pairs: tuple[tuple[Any, str], ...], selected: Any) -> str:
    return "".join(
        f'<option value="{escape(value)}"{" selected" if value == selected else ""}>{escape(label)}</option>'
        for value, label in pairs
    )


def option_tags(pairs: tuple[tuple[Any, Any], ...], selected: Any = None) -> Markup:
    """<option> tags for (value, label) pairs, the one whose value equals `selected` marked; values and labels
    escaped. Kept per distinct list (a desk's pick lists repeat on every page)."""
    return Markup(_option_tags(pairs, selected))  # noqa: S704  (escaped in _option_tags)


def register(env: Any) -> None:
    """The agent templates call these as `agent.<name>(...)` (the portal has badges of its own) and format dates
    with the filters short_time, day_time and long_time."""
    env.globals["agent"] = SimpleNamespace(
        status_badge=status_badge, priority_badge=priority_badge, sla_cell=sla_cell, duration_text=duration_text,
        option_tags=option_tags,
    )  # fmt: skip
    env.filters.update(short_time=short_time, day_time=day_time, long_time=long_time)
