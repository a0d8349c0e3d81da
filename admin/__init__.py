"""Agent screens: a fresh Flask-Admin per app (a module-level Admin breaks across test apps)."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from admin import auth, mail_files
from admin.base import StaffIndexView
from admin.views import add_views


def init_admin(app: Flask) -> Admin:
    app.register_blueprint(auth.bp)
    app.register_blueprint(mail_files.bp)
    admin = Admin(
        app,
        name="Bluehill Agents",
        url="/admin",
        index_view=StaffIndexView(url="/admin", template="agent/home.html"),
        theme=Bootstrap4Theme(swatch="default", fluid=True),
    )
    add_views(admin)
    return admin
