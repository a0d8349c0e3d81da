"""The admin's configuration forms as an admin uses them: every field shown is saved, an enum's stored value is the
one chosen on its edit page (saving unchanged changes nothing), date filters filter, and no password hash is shown."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tests.conftest import csrf_token, login_staff
from ticketing.domain.vocab import Priority, StaffRole, Tier
from ticketing.models import Branding, BusinessCalendar, Customer, RoutingRule, User

PASSWORD = "pw-for-tests-1"


def sign_in_admin(client, db, make) -> None:
    make.user(role=StaffRole.ADMIN, password=PASSWORD, email="admin@bluehill.test")
    db.commit()
    login_staff(client, "admin@bluehill.test", PASSWORD)


def chosen(html: str, field: str) -> list[str]:
    """The values marked selected in a form's select box."""
    select = re.search(rf'<select[^>]*name="{field}"[^>]*>(.*?)</select>', html, re.S)
    assert select, field
    found = re.findall(r'<option[^>]*selected[^>]*value="([^"]*)"|<option[^>]*value="([^"]*)"[^>]*selected', select[1])
    return [before or after for before, after in found]


def test_extra_fields_are_on_their_forms_and_saved(client, db, make) -> None:
    sign_in_admin(client, db, make)
    page = client.get("/admin/routingrule/new/").get_data(as_text=True)
    assert 'name="tags_to_add"' in page
    form = {"csrf_token": csrf_token(page), "name": "VIP", "position": "1", "active": "y",
            "set_priority": "high", "tags_to_add": "VIP, Renewal"}  # fmt: skip
    assert client.post("/admin/routingrule/new/", data=form).status_code == 302
    rule = db.scalars(sa.select(RoutingRule)).one()
    assert sorted(rule.add_tags) == ["renewal", "vip"] and rule.set_priority == Priority.HIGH
    edit = client.get(f"/admin/routingrule/edit/?id={rule.id}").get_data(as_text=True)
    assert 'value="renewal, vip"' in edit and chosen(edit, "set_priority") == ["high"]

    page = client.get("/admin/user/new/").get_data(as_text=True)
    assert 'name="new_password"' in page
    form = {"csrf_token": csrf_token(page), "name": "Nia", "email": "Nia@Bluehill.test", "role": "agent",
            "active": "y", "new_password": "nia-secret-pass-9"}  # fmt: skip
    assert client.post("/admin/user/new/", data=form).status_code == 302
    nia = db.scalars(sa.select(User).where(User.email == "nia@bluehill.test")).one()
    assert nia.check_password("nia-secret-pass-9") and nia.role == StaffRole.AGENT

    page = client.get("/admin/branding/new/").get_data(as_text=True)
    assert 'name="logo"' in page
    form = {"csrf_token": csrf_token(page), "product_name": "Acme Help", "primary_color": "#0a7d4f",
            "support_address": "help@acme.example"}  # fmt: skip
    assert client.post("/admin/branding/new/", data=form).status_code == 302
    assert db.scalars(sa.select(Branding)).one().product_name == "Acme Help"


def test_an_enum_shows_its_stored_value_and_an_unchanged_save_keeps_it(client, db, make) -> None:
    sign_in_admin(client, db, make)
    customer = make.customer("Acme", tier=Tier.PREMIUM)
    db.commit()
    page = client.get(f"/admin/customer/edit/?id={customer.id}").get_data(as_text=True)
    picked = chosen(page, "tier")
    assert picked == ["premium"], picked
    assert ">Premium</option>" in page  # shown by its label
    form = {"csrf_token": csrf_token(page), "name": "Acme", "tier": picked[0], "notes": ""}
    assert client.post(f"/admin/customer/edit/?id={customer.id}", data=form).status_code == 302
    db.expire_all()
    assert db.get(Customer, customer.id).tier == Tier.PREMIUM


def test_date_filters_filter(client, db, make) -> None:
    sign_in_admin(client, db, make)
    now = datetime.now(UTC)
    soon = make.ticket(subject="Due soon", now=now, priority=Priority.HIGH)
    soon.due_date = due = (now + timedelta(hours=2)).replace(microsecond=0)
    db.commit()
    view = next(v for a in client.application.extensions["admin"] for v in a._views if v.endpoint == "tickets")
    greater = next(k for k, (_i, flt) in view._filter_args.items() if flt.name == "Due" and
                   flt.operation() == "greater than")  # fmt: skip
    before = (due - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    after = (due + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    hit = client.get("/admin/tickets/", query_string={f"flt0_{greater}": before})
    miss = client.get("/admin/tickets/", query_string={f"flt0_{greater}": after})
    assert hit.status_code == 200 and miss.status_code == 200
    assert "Due soon" in hit.get_data(as_text=True) and "Due soon" not in miss.get_data(as_text=True)


def test_no_password_hash_on_a_details_page(client, db, make) -> None:
    sign_in_admin(client, db, make)
    contact = make.contact(make.customer(), email="ada@acme.example", password="ada-pass-word-1")
    staff = db.scalars(sa.select(User)).one()
    db.commit()
    for path in (f"/admin/contact/details/?id={contact.id}", f"/admin/user/details/?id={staff.id}"):
        page = client.get(path).get_data(as_text=True)
        assert "ada@acme.example" in page or "admin@bluehill.test" in page, path
        assert "scrypt" not in page and "Password Hash" not in page, path


def test_a_calendar_gets_working_hours_or_is_refused(client, db, make) -> None:
    sign_in_admin(client, db, make)
    page = client.get("/admin/businesscalendar/new/").get_data(as_text=True)
    base = {"csrf_token": csrf_token(page), "name": "London office", "timezone": "Europe/London"}
    for extra, says in [
        ({}, "Give the working hours"),
        ({"working_hours": "Mon-Fri 9-5"}, "write hours as 09:00"),
        ({"working_hours": "Mon-Fri 09:00-17:00", "timezone": "Mars/Olympus"}, "Unknown time zone"),
    ]:
        answer = client.post("/admin/businesscalendar/new/", data={**base, **extra}).get_data(as_text=True)
        assert says in answer, says
        assert db.scalar(sa.select(sa.func.count()).select_from(BusinessCalendar)) == 0
    form = {**base, "working_hours": "Mon-Fri 09:00-17:00\nSat 10:00-13:00"}
    assert client.post("/admin/businesscalendar/new/", data=form).status_code == 302
    calendar = db.scalars(sa.select(BusinessCalendar)).one()
    assert calendar.hours["4"] == [["09:00", "17:00"]] and calendar.hours["5"] == [["10:00", "13:00"]]
    edit = client.get(f"/admin/businesscalendar/edit/?id={calendar.id}").get_data(as_text=True)
    assert "Mon-Fri 09:00-17:00\nSat 10:00-13:00" in edit
    always = {**base, "name": "Round the clock", "always_open": "y"}
    assert client.post("/admin/businesscalendar/new/", data=always).status_code == 302


def test_an_sla_policy_edit_page_shows_each_target_priority(client, db, make) -> None:
    sign_in_admin(client, db, make)
    policy = make.policy(None, None, {Priority.HIGH: (30, 120), Priority.URGENT: (15, 60)})
    db.commit()
    page = client.get(f"/admin/slapolicy/edit/?id={policy.id}").get_data(as_text=True)
    picked = sorted(value for i in range(2) for value in chosen(page, f"targets-{i}-priority"))
    assert picked == ["high", "urgent"], picked
