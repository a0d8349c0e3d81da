"""Who did something: a staff user, a contact, or the system (None)."""

from __future__ import annotations

from ticketing.models import Contact, User

Actor = User | Contact | None


def actor_name(actor: Actor) -> str:
    if actor is None:
        return "System"
    if isinstance(actor, User):
        return actor.name
    return actor.display_name


def actor_ref(actor: Actor) -> dict[str, object]:
    """A JSON-safe reference for events and audit rows."""
    if actor is None:
        return {"kind": "system"}
    kind = "user" if isinstance(actor, User) else "contact"
    return {"kind": kind, "id": actor.id, "name": actor_name(actor)}
