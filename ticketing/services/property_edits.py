"""Saving the workspace's properties form (status, priority, team, category, tags) without undoing a colleague's
change: the form posts each value it was rendered with as was_<field>, and a save applies only what this agent
changed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ticketing.models import Ticket
from ticketing.services.tickets import normalise_tags

# The form's fields, as the agent reads their names.
PROPERTY_NAMES = {"status": "Status", "priority": "Priority", "team_id": "Team", "category_id": "Category",
                  "tags": "Tags"}  # fmt: skip


@dataclass(frozen=True)
class PropertyChanges:
    values: dict[str, str] = field(default_factory=dict)  # field -> the value to store, as the form posts it
    overwritten: tuple[str, ...] = ()  # fields whose change by someone else meanwhile the agent's value replaces


def stored_properties(ticket: Ticket) -> dict[str, str]:
    """The ticket's properties as the form renders them (and posts them back as was_<field>)."""
    return {
        "status": ticket.status.value,
        "priority": ticket.priority.value,
        "team_id": str(ticket.assigned_team_id or ""),
        "category_id": str(ticket.category_id or ""),
        "tags": ", ".join(ticket.tags),
    }


def _tags(text: str) -> set[str]:
    return set(normalise_tags(text.split(",")))


def changed_fields(form: Mapping[str, str], stored: Mapping[str, str]) -> PropertyChanges:
    """What a save of the properties form changes, given the ticket's stored values (`stored_properties`).

    A field posted with its was_<field> is the agent's change only when its value differs from was_ (what the page
    showed): a field they did not touch keeps whatever is stored now, someone else's change included. A field they
    changed is applied; if someone else changed it too meanwhile (stored differs from was_ and from the agent's
    value), it is listed as overwritten, so the agent is told whose value theirs replaced. Tags are a set: the tags
    the agent added are added and those they removed removed, the others' additions and removals kept (nothing
    to overwrite). A field posted without was_ (older pages, scripted posts) is applied where it differs from the
    stored value, as before. An empty status or priority is not a value.
    """
    values: dict[str, str] = {}
    overwritten: list[str] = []
    for name in PROPERTY_NAMES:
        if name not in form or (name in ("status", "priority") and not form[name]):
            continue
        mine, now, was = form[name].strip(), stored[name], form.get(f"was_{name}")
        if name == "tags":
            if was is None:
                new = _tags(mine)
            else:
                added, removed = _tags(mine) - _tags(was), _tags(was) - _tags(mine)
                new = (_tags(now) | added) - removed
            if new != _tags(now):
                values[name] = ", ".join(sorted(new))
            continue
        if mine == now or (was is not None and mine == was.strip()):
            continue  # already so, or not touched by this agent
        values[name] = mine
        if was is not None and now != was.strip():
            overwritten.append(name)
    return PropertyChanges(values, tuple(overwritten))
