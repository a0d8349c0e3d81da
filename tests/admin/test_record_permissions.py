"""Who may change customers, contacts, onboarding plans and logged time in the admin lists (every staff role may
look): an agent deleted a customer (its tickets then pointed at nothing), raised its tier (and its SLA) and deleted a
colleague's time; and merging tickets of two customers showed one customer the other's messages."""

from __future__ import annotations

from datetime import date

import pytest

from tests.admin.test_admin_config_validation import alerts, delete
from tests.conftest import NOW, csrf_token, login_staff
from ticketing.domain.vocab import PortalRole, StaffRole, Tier
from ticketing.models import Contact, Customer, OnboardingPlan, Ticket, TimeEntry, WebhookSubscription
from ticketing.services import merge
from ticketing.services.merge import MergeError

PW = "staff-pass-1"


@pytest.fixture
def staff(db, make):
    team = make.team("Support")
    people = {
        role: make.user(
            email=f"{role.value}@bluehill.test", name=role.value.title(), password=PW, role=role, teams=[team]
        )  # fmt: skip
        for role in StaffRole
    }
    db.commit()
    return {"team": team, **people}


def test_an_agent_looks_at_customers_but_cannot_change_or_delete_them(client, db, make, staff) -> None:
    acme = make.customer("Acme", tier=Tier.STANDARD)
    db.commit()
    login_staff(client, "agent@bluehill.test", PW)
    listing = client.get("/admin/customer/").get_data(as_text=True)
    assert "Acme" in listing and "/admin/customer/delete/" not in listing and "/admin/customer/new/" not in listing
    edit = client.get(f"/admin/customer/edit/?id={acme.id}")
    assert edit.status_code == 302  # Flask-Admin sends a view without edit rights back to the list
    token = csrf_token(listing)
    client.post(f"/admin/customer/edit/?id={acme.id}", data={"name": "Acme", "tier": "enterprise", "csrf_token": token})
    client.post("/admin/customer/delete/", data={"id": str(acme.id), "csrf_token": token})
    db.expire_all()
    assert db.get(Customer, acme.id).tier == Tier.STANDARD


def test_a_manager_changes_a_customers_tier(client, db, make, staff) -> None:
    acme = make.customer("Acme", tier=Tier.STANDARD)
    db.commit()
    login_staff(client, "manager@bluehill.test", PW)
    page = client.get(f"/admin/customer/edit/?id={acme.id}").get_data(as_text=True)
    client.post(f"/admin/customer/edit/?id={acme.id}", data={"name": "Acme", "tier": "enterprise",
                                                              "csrf_token": csrf_token(page)})  # fmt: skip
    db.expire_all()
    assert db.get(Customer, acme.id).tier == Tier.ENTERPRISE


def test_an_admin_deletes_only_a_customer_or_contact_without_history(client, db, make, staff) -> None:
    acme, empty, planned = make.customer("Acme"), make.customer("Unused Ltd"), make.customer("Planned Co")
    planned.onboarding_plan = OnboardingPlan(name="Go-live", started_on=date(2026, 3, 1))
    hooked = make.customer("Hooked Inc")  # a webhook filtered on it would send every customer's events once nulled
    db.add(WebhookSubscription(name="Hooked CRM", url="https://crm.example.com/hook", secret="s", customer=hooked))
    jane, spare = make.contact(acme, email="jane@acme.example"), make.contact(None, email="spare@people.example")
    make.ticket(now=NOW, contact=jane)
    db.commit()
    acme_id, empty_id, jane_id, spare_id = acme.id, empty.id, jane.id, spare.id
    login_staff(client, "admin@bluehill.test", PW)
    said = delete(client, "customer", acme_id)
    assert any(
        m.startswith("Customer Acme was not deleted: it still has 1 ticket (1 open) and 1 contact") for m in said
    )
    said = delete(client, "contact", jane_id)
    assert any(m.startswith("jane@acme.example was not deleted: they are on 1 ticket (1 open) and 1 timeline entry")
               for m in said)  # fmt: skip
    said = delete(client, "customer", planned.id)  # its plan (and milestones) went with it
    assert any(m.startswith("Customer Planned Co was not deleted: it still has 1 onboarding plan") for m in said)
    said = delete(client, "customer", hooked.id)
    assert any(m.startswith("Customer Hooked Inc was not deleted: it still has 1 webhook (Hooked CRM)") for m in said)
    assert "Record was successfully deleted." in delete(client, "customer", empty_id)
    assert "Record was successfully deleted." in delete(client, "contact", spare_id)
    db.expire_all()
    assert db.get(Customer, acme_id) is not None and db.get(Contact, jane_id) is not None
    assert db.get(Customer, empty_id) is None and db.get(Contact, spare_id) is None


def test_only_admins_delete_contacts_and_onboarding_plans(client, db, make, staff) -> None:
    acme = make.customer("Acme")
    spare = make.contact(acme, email="spare@acme.example")
    plan = OnboardingPlan(customer=acme, name="Go-live", started_on=date(2026, 3, 1))
    db.add(plan)
    db.commit()
    for who in ("agent", "manager"):
        login_staff(client, f"{who}@bluehill.test", PW)
        for endpoint, record_id in (("contact", spare.id), ("onboardingplan", plan.id)):
            page = client.get(f"/admin/{endpoint}/").get_data(as_text=True)
            assert f"/admin/{endpoint}/delete/" not in page, (who, endpoint)
            client.post(f"/admin/{endpoint}/delete/", data={"id": str(record_id), "csrf_token": csrf_token(page)})
    db.expire_all()
    assert db.get(Contact, spare.id) is not None and db.get(OnboardingPlan, plan.id) is not None
    # Managers keep contacts up to date (a contact's customer and portal role decide what it sees in the portal);
    # agents can neither change one nor invite it.
    login_staff(client, "agent@bluehill.test", PW)
    listing = client.get("/admin/contact/").get_data(as_text=True)
    assert "/admin/contact/new/" not in listing and "Send portal invitation" not in listing
    assert client.get(f"/admin/contact/edit/?id={spare.id}").status_code == 302
    invite = {"csrf_token": csrf_token(listing), "action": "invite", "rowid": [str(spare.id)]}
    client.post("/admin/contact/action/", data=invite)
    login_staff(client, "manager@bluehill.test", PW)
    page = client.get(f"/admin/contact/edit/?id={spare.id}").get_data(as_text=True)
    form = {"name": "Spare Person", "email": "spare@acme.example", "phone": "+4930123456", "customer": str(acme.id),
            "portal_role": "own", "portal_enabled": "y", "csrf_token": csrf_token(page)}  # fmt: skip
    assert client.post(f"/admin/contact/edit/?id={spare.id}", data=form).status_code == 302
    db.expire_all()
    assert db.get(Contact, spare.id).phone == "+4930123456"


def test_logged_time_is_deleted_by_whoever_logged_it_or_a_manager(client, db, make, staff) -> None:
    ticket = make.ticket(now=NOW, team=staff["team"])
    db.flush()
    mine, colleagues = (
        TimeEntry(ticket_id=ticket.id, user_id=staff[role].id, minutes=m, work_date=NOW.date())
        for role, m in ((StaffRole.AGENT, 10), (StaffRole.MANAGER, 25))
    )
    db.add_all([mine, colleagues])
    db.commit()
    mine_id, colleagues_id = mine.id, colleagues.id
    login_staff(client, "agent@bluehill.test", PW)
    said = delete(client, "time_entries", colleagues_id)
    assert any("was not deleted: only whoever logged it, or a manager, may delete it." in m for m in said), said
    assert "Record was successfully deleted." in delete(client, "time_entries", mine_id)
    db.expire_all()
    assert db.get(TimeEntry, mine_id) is None and db.get(TimeEntry, colleagues_id) is not None
    login_staff(client, "manager@bluehill.test", PW)
    assert "Record was successfully deleted." in delete(client, "time_entries", colleagues_id)


def test_tickets_of_two_customers_are_not_merged(client, db, make, staff) -> None:
    acme, globex = make.customer("Acme"), make.customer("Globex")
    ours = make.ticket(now=NOW, contact=make.contact(acme), team=staff["team"], subject="Ours")
    theirs = make.ticket(now=NOW, contact=make.contact(globex), team=staff["team"], subject="Theirs")
    # Senders of no customer (unknown domains): only the same person's tickets merge.
    loner, other_loner = make.contact(None), make.contact(None)
    first, second, third = (make.ticket(now=NOW, contact=c, team=staff["team"]) for c in (loner, loner, other_loner))
    db.commit()
    for source, target in ((theirs, ours), (first, third), (first, ours)):
        with pytest.raises(MergeError, match="different customers"):
            merge.merge(db, source, target, actor=staff[StaffRole.AGENT], now=NOW)
    merge.merge(db, second, first, actor=staff[StaffRole.AGENT], now=NOW)
    db.commit()
    assert db.get(Ticket, second.id).merged_into_id == first.id
    # Within one customer: only between people who may see each other's tickets in the portal (the customer role
    # sees all of the customer's; the own role only theirs).
    ann, bob = make.contact(acme), make.contact(acme)
    anns, bobs = (
        make.ticket(now=NOW, contact=ann, team=staff["team"]),
        make.ticket(now=NOW, contact=bob, team=staff["team"]),
    )
    db.commit()
    with pytest.raises(MergeError, match="cannot see each other's tickets"):
        merge.merge(db, bobs, anns, actor=staff[StaffRole.AGENT], now=NOW)
    ann.portal_role = bob.portal_role = PortalRole.CUSTOMER
    db.flush()
    merge.merge(db, bobs, anns, actor=staff[StaffRole.AGENT], now=NOW)
    db.commit()
    assert db.get(Ticket, bobs.id).merged_into_id == anns.id

    login_staff(client, "agent@bluehill.test", PW)
    page = client.get(f"/admin/ticket/{theirs.id}").get_data(as_text=True)
    answer = client.post(f"/admin/ticket/{theirs.id}/merge", data={"target": str(ours.id),
                                                                    "csrf_token": csrf_token(page)},
                         follow_redirects=True)  # fmt: skip
    assert any("are from different customers" in m for m in alerts(answer.get_data(as_text=True)))
    db.expire_all()
    assert db.get(Ticket, theirs.id).merged_into_id is None and db.get(Ticket, ours.id).merged_into_id is None
