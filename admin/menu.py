"""The agent layout's fixed parts (main menu, stylesheets, scripts), rendered once per role and screen and kept
for the process's life.

Flask-Admin renders them on every page: an access check, a URL and a macro call per menu item and per asset
(about a third of a queue page's render time). What they show depends only on the signed-in role (every view's
access is role-based: admin/base.py), on the screen and on the deployment's script root; the views are fixed once
the app is built. The markup is Flask-Admin's own: the blocks of its base template, rendered on their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask import current_app, g, request
from flask_admin import helpers
from flask_login import current_user
from markupsafe import Markup

from admin.base import staff_role
from ticketing.extensions import db
from ticketing.models import Notification

_CACHE = "ticketing_admin_layout"
CACHED_BLOCKS = frozenset({"main_menu", "head_css", "tail_js"})


def layout_block(name: str, admin_view: Any) -> Markup:
    """Block `name` of Flask-Admin's base template for this role and screen, from the per-process cache."""
    if name not in CACHED_BLOCKS:
        raise ValueError(f"not a cached layout block: {name!r}")
    kept: dict[tuple[Any, ...], Markup] = current_app.extensions.setdefault(_CACHE, {})
    key = (name, staff_role(), admin_view.endpoint, request.script_root)
    markup = kept.get(key)
    if markup is None:
        markup = kept[key] = _render_block(name, admin_view)
    return markup


def _render_block(name: str, admin_view: Any) -> Markup:
    env = current_app.jinja_env
    base = env.get_template(admin_view.admin.theme.base_template)
    values: dict[str, Any] = {
        "admin_view": admin_view,
        "theme": admin_view.admin.theme,
        "admin_csp_nonce_attribute": "",  # master.html renders the blocks afresh when a nonce is configured
        "get_url": admin_view.get_url,
        "h": helpers,
        "config": current_app.config,
    }
    # The base template imports these at its top; a block rendered on its own needs them given.
    values["layout"] = env.get_template("admin/layout.html").make_module(values)
    values["admin_static"] = env.get_template("admin/static.html").make_module(values)
    context = base.new_context(values)
    # An autoescaping template's output.
    return Markup("".join(base.blocks[name](context)))  # noqa: S704


class NoteLine(NamedTuple):
    ticket_id: int | None
    text: str


NOTIFICATIONS_SHOWN = 10


def notifications_part(user_id: Any, kind: str, *nulls: Any) -> sa.Select[Any]:
    """The user's newest unread notices as a UNION ALL part (kind, id = ticket id, label = text, *nulls, at =
    created): a screen that reads its pick lists in one statement reads the menu's notices with them (one round
    trip less per page) and hands them over with `keep_notifications`."""
    newest = (
        sa.select(Notification.ticket_id, Notification.text, Notification.created_at)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .order_by(Notification.created_at.desc())
        .limit(NOTIFICATIONS_SHOWN)
        .subquery("newest_notes")
    )
    c = newest.c
    return sa.select(sa.literal(kind).label("kind"), c.ticket_id, c.text, *nulls, c.created_at)


def keep_notifications(rows: Iterable[Any]) -> None:
    """The notices a screen read itself (rows of `notifications_part`: .id, .label, .at), newest first."""
    g.staff_notifications = [NoteLine(r.id, r.label) for r in sorted(rows, key=lambda r: r.at, reverse=True)]


def drop_notifications_about(ticket_id: int) -> bool:
    """Takes the notices about the ticket out of those the screen read (`keep_notifications`), as they are read
    now; whether there were any. Free: the screen's own rows, no statement."""
    kept: list[NoteLine] = g.get("staff_notifications") or []
    left = [n for n in kept if n.ticket_id != ticket_id]
    if len(left) == len(kept):
        return False
    g.staff_notifications = left
    return True


def unread_notifications() -> list[Any]:
    """The signed-in staff user's newest unread notices (ticket_id, text): as the screen read them, else one
    index range read (ix_notification_user_unread), no ORM objects."""
    if "staff_notifications" in g:
        return g.staff_notifications  # type: ignore[no-any-return]
    if staff_role() is None:
        return []
    rows = db.session.execute(
        sa.select(Notification.ticket_id, Notification.text)
        .where(Notification.user_id == current_user.id, Notification.read_at.is_(None))
        .order_by(Notification.created_at.desc())
        .limit(NOTIFICATIONS_SHOWN)
    )
    return [NoteLine(*row) for row in rows]
