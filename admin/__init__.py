"""Agent screens: a fresh Flask-Admin per app (a module-level Admin breaks across test apps)."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from admin import auth, mail_files, markup
from admin.api_tokens import ApiTokenView
from admin.base import StaffIndexView
from admin.manager import LoadView
from admin.menu import layout_block, unread_notifications
from admin.queues import QueueView
from admin.reports import ReportsView
from admin.views import add_views
from admin.workspace import WorkspaceView
from ticketing.extensions import db
from ticketing.models import ApiToken


def init_admin(app: Flask) -> Admin:
    app.register_blueprint(auth.bp)
    app.register_blueprint(mail_files.bp)
    admin = Admin(
        app,
        name="Bluehill Agents",
        url="/admin",
        index_view=StaffIndexView(url="/admin", name="Home"),
        theme=Bootstrap4Theme(swatch="default", fluid=True),
    )
    admin.add_view(QueueView(name="Queues", endpoint="queues", url="/admin/queues"))
    admin.add_view(ReportsView(name="Reports", endpoint="reports", url="/admin/reports"))
    admin.add_view(LoadView(name="Team load", endpoint="load", url="/admin/load"))
    admin.add_view(WorkspaceView(name="Ticket", endpoint="workspace", url="/admin/ticket"))
    add_views(admin)
    from admin.webhooks import add_webhook_views  # imports admin.views, so not at module level

    add_webhook_views(admin)
    admin.add_view(ApiTokenView(ApiToken, db, name="API tokens", endpoint="api_tokens", category="Configuration"))

    # Globals, not a context processor: only the agent layout calls them, so other pages pay nothing.
    app.jinja_env.globals.update(staff_notifications=unread_notifications, admin_layout_block=layout_block)
    markup.register(app.jinja_env)

    return admin
