"""Hostile filter values on every admin list with an enum filter: a name that is no member (wrong case, made up)
is flashed as an invalid filter value and ignored, never a 500; a member's name still filters."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla import filters as sqla_filters

from tests.conftest import login_staff
from ticketing.domain.vocab import StaffRole

PASSWORD = "pw-for-tests-1"
# The enum filters that look a value up by member name (EnumFilterEmpty takes 0/1 and never did).
LOOKUP_FILTERS = (
    sqla_filters.EnumEqualFilter,
    sqla_filters.EnumFilterNotEqual,
    sqla_filters.EnumFilterInList,
    sqla_filters.EnumFilterNotInList,
)


def enum_filters(app: Flask) -> list[tuple[str, str, Any]]:
    """(list URL, filter arg key, filter) for every lookup enum filter of every model view."""
    found = []
    for admin in app.extensions["admin"]:
        for view in admin._views:
            if not isinstance(view, ModelView) or not view._filter_args:
                continue
            for key, (_index, flt) in view._filter_args.items():
                if isinstance(flt, LOOKUP_FILTERS):
                    found.append((view.url + "/", key, flt))
    return found


def test_every_enum_filter_refuses_non_members(app, client, db, make) -> None:
    make.user(role=StaffRole.ADMIN, password=PASSWORD, email="admin@bluehill.test")
    db.commit()
    login_staff(client, "admin@bluehill.test", PASSWORD)
    filters = enum_filters(app)
    urls = {url for url, _key, _flt in filters}
    assert "/admin/outbound_email/" in urls and len(urls) >= 4, urls  # the views with enum filters are all found
    for url, key, flt in filters:
        member = next(iter(flt.enum_class))
        for hostile in (member.name.lower(), "no-such-member", f"{member.name},nope", "\u00e9\x00"):
            response = client.get(url, query_string={f"flt0_{key}": hostile})
            assert response.status_code == 200, (url, key, hostile, response.status_code)
            assert "Invalid Filter Value" in response.get_data(as_text=True), (url, key, hostile)
        assert client.get(url, query_string={f"flt0_{key}": ""}).status_code == 200, (url, key)
        response = client.get(url, query_string={f"flt0_{key}": member.name})
        assert response.status_code == 200, (url, key, member.name)
        assert "Invalid Filter Value" not in response.get_data(as_text=True), (url, key, member.name)


def test_outbound_lowercase_status_is_ignored(client, db, make) -> None:
    make.user(role=StaffRole.ADMIN, password=PASSWORD, email="admin@bluehill.test")
    db.commit()
    login_staff(client, "admin@bluehill.test", PASSWORD)
    response = client.get("/admin/outbound_email/?flt0_0=unconfirmed")
    assert response.status_code == 200
    assert "Invalid Filter Value" in response.get_data(as_text=True)


def test_every_enum_filter_offers_what_it_accepts(app, client, db, make) -> None:
    """The filter's choices are member names shown by their labels: picking one filters (the stored values were
    offered, and every pick answered "Invalid Filter Value")."""
    make.user(role=StaffRole.ADMIN, password=PASSWORD, email="admin@bluehill.test")
    db.commit()
    login_staff(client, "admin@bluehill.test", PASSWORD)
    for url, key, flt in enum_filters(app):
        members = list(flt.enum_class)
        assert [value for value, _label in flt.options] == [m.name for m in members], (url, key)
        assert [label for _value, label in flt.options] == [str(getattr(m, "label", m.name)) for m in members]
        response = client.get(url, query_string={f"flt0_{key}": flt.options[-1][0]})
        assert response.status_code == 200 and "Invalid Filter Value" not in response.get_data(as_text=True)
