"""Configuration screens refuse what cannot work: deleting a team, SLA policy, staff user or intake form that is still
in use (refused, or deactivated where the record has an active flag, with the records that use it named), nonsense
in the mailbox, intake form and canned response forms, a second default SLA policy, a holiday listed twice."""

from __future__ import annotations

import html
import re
from datetime import date

import pytest
import sqlalchemy as sa

from tests.admin.test_admin_forms import sign_in_admin
from tests.conftest import NOW, csrf_token
from ticketing.domain import config_rules
from ticketing.domain.config_rules import ConfigError, Use
from ticketing.domain.lifecycle import Status
from ticketing.domain.vocab import Tier
from ticketing.models import (
    BusinessCalendar,
    CannedResponse,
    Holiday,
    IntakeForm,
    Mailbox,
    RoutingRule,
    SlaPolicy,
    Team,
    Ticket,
    User,
    WebhookSubscription,
)
from ticketing.services import api_tokens
from ticketing.services import tickets as ticket_service


def alerts(page: str) -> list[str]:
    """The flashed messages on a page, as plain text."""
    found = re.findall(r'<div class="alert[^"]*"[^>]*>(.*?)</div>', page, re.S)
    return [" ".join(re.sub(r"<[^>]+>|×", " ", html.unescape(text)).split()) for text in found]


def text_of(page: str) -> str:
    return " ".join(html.unescape(page).split())


def count(db, model) -> int:
    return db.scalar(sa.select(sa.func.count()).select_from(model))


def delete(client, endpoint: str, record_id: int) -> list[str]:
    """Press Delete on a list row, as the admin does; the flashed messages of the page it returns to."""
    page = client.get(f"/admin/{endpoint}/").get_data(as_text=True)
    answer = client.post(f"/admin/{endpoint}/delete/", data={"id": str(record_id), "csrf_token": csrf_token(page)},
                         follow_redirects=True)  # fmt: skip
    assert answer.status_code == 200
    return alerts(answer.get_data(as_text=True))


def post_form(client, path: str, fields: dict[str, str]):
    page = client.get(path).get_data(as_text=True)
    return client.post(path, data={"csrf_token": csrf_token(page), **fields})


# --- deleting what is still in use ---------------------------------------------------------------------------------


def test_a_team_still_in_use_is_not_deleted_and_its_uses_are_named(client, db, make) -> None:
    sign_in_admin(client, db, make)
    billing, empty = make.team("Billing"), make.team("Spare")
    make.ticket(team=billing, now=NOW)
    db.add_all([
        Mailbox(name="Billing inbox", address="billing@bluehill.test", team=billing),
        IntakeForm(slug="billing-question", name="Billing question", fields=[], team=billing),
        RoutingRule(name="Invoices to Billing", set_team=billing),
        WebhookSubscription(name="Billing CRM", url="https://crm.example.com/hook", secret="s", team=billing),
    ])  # fmt: skip
    db.commit()
    billing_id, empty_id = billing.id, empty.id

    said = delete(client, "team", billing_id)
    assert (
        "Team Billing was not deleted: it is still used by 1 ticket (1 open), 1 mailbox (Billing inbox), 1 intake "
        "form (Billing question), 1 routing rule (Invoices to Billing) and 1 webhook (Billing CRM). Move them to "
        "another team first."
    ) in said
    db.expire_all()
    assert db.get(Team, billing_id) is not None
    webhook = db.scalars(sa.select(WebhookSubscription)).one()
    assert webhook.team_id == billing_id  # its filter was not nulled (it would have sent every team's events)

    assert "Record was successfully deleted." in delete(client, "team", empty_id)
    assert db.get(Team, empty_id) is None


def test_the_delete_action_on_several_teams_keeps_those_in_use(client, db, make) -> None:
    sign_in_admin(client, db, make)
    used, spare = make.team("Support"), make.team("Spare")
    make.ticket(team=used, now=NOW)
    db.commit()
    used_id, spare_id = used.id, spare.id
    page = client.get("/admin/team/").get_data(as_text=True)
    form = {"csrf_token": csrf_token(page), "action": "delete", "rowid": [str(used_id), str(spare_id)]}
    said = alerts(client.post("/admin/team/action/", data=form, follow_redirects=True).get_data(as_text=True))
    assert any(m.startswith("Team Support was not deleted: it is still used by 1 ticket (1 open).") for m in said)
    db.expire_all()
    assert db.get(Team, used_id) is not None and db.get(Team, spare_id) is None


def test_an_sla_policy_that_times_tickets_is_not_deleted(client, db, make) -> None:
    sign_in_admin(client, db, make)
    premium = make.policy(Tier.PREMIUM)
    unused = make.policy(Tier.ENTERPRISE)
    customer = make.customer("Acme", tier=Tier.PREMIUM)
    ticket = make.ticket(contact=make.contact(customer), now=NOW)
    db.commit()
    assert ticket.sla_policy_id == premium.id
    premium_id, unused_id, name = premium.id, unused.id, premium.name

    said = delete(client, "slapolicy", premium_id)
    assert (f"SLA policy {name} was not deleted: it still times 1 ticket (1 open). "
            "Edit the policy instead of deleting it.") in said  # fmt: skip
    db.expire_all()
    assert db.get(SlaPolicy, premium_id) is not None

    assert "Record was successfully deleted." in delete(client, "slapolicy", unused_id)
    assert db.get(SlaPolicy, unused_id) is None


def test_staff_with_open_tickets_is_kept_with_history_deactivated_unused_deleted(client, db, make) -> None:
    sign_in_admin(client, db, make)
    busy = make.user(name="Nia Busy")
    left = make.user(name="Omar Left")
    unused = make.user(name="Pat Unused")
    open_ticket = make.ticket(now=NOW)
    ticket_service.add_assignee(db, open_ticket, busy, actor=busy, now=NOW)
    done = make.ticket(now=NOW)
    ticket_service.add_assignee(db, done, left, actor=left, now=NOW)
    ticket_service.change_status(db, done, Status.RESOLVED, actor=left, now=NOW)
    db.commit()
    busy_id, left_id, unused_id, ticket_id = busy.id, left.id, unused.id, open_ticket.id

    said = delete(client, "user", busy_id)
    assert "Nia Busy was not deleted: 1 open ticket is still assigned to them. Reassign it first." in said
    db.expire_all()
    assert db.get(User, busy_id).active and [u.id for u in db.get(Ticket, ticket_id).assignees] == [busy_id]

    said = delete(client, "user", left_id)
    assert ("Omar Left was deactivated instead of deleted: their name stays on 2 timeline entries and 1 ticket "
            "assigned to them. A deactivated account cannot sign in.") in said  # fmt: skip
    db.expire_all()
    assert db.get(User, left_id).active is False
    said = delete(client, "user", left_id)  # again: it stays, and says so
    assert any(m.startswith("Omar Left stays deactivated and cannot be deleted") for m in said)

    assert "Record was successfully deleted." in delete(client, "user", unused_id)
    assert db.get(User, unused_id) is None


def test_staff_holding_an_api_token_is_deactivated_so_the_token_keeps_its_owner(client, db, make) -> None:
    sign_in_admin(client, db, make)
    robot = make.user(name="CRM Robot")
    _token, text = api_tokens.issue(db, name="CRM sync", user=robot, now=NOW)
    db.commit()
    robot_id, bearer = robot.id, {"Authorization": f"Bearer {text}"}
    assert client.get("/api/v1/me", headers=bearer).status_code == 200
    said = delete(client, "user", robot_id)
    assert ("CRM Robot was deactivated instead of deleted: their name stays on 1 API token. "
            "A deactivated account cannot sign in.") in said  # fmt: skip
    db.expire_all()
    assert db.get(User, robot_id).active is False
    assert client.get("/api/v1/me", headers=bearer).status_code == 401


def test_an_admin_cannot_delete_their_own_account(client, db, make) -> None:
    sign_in_admin(client, db, make)
    me = db.scalars(sa.select(User).where(User.email == "admin@bluehill.test")).one()
    me_id = me.id
    said = delete(client, "user", me_id)
    assert "You cannot delete your own account: another admin has to do it." in said
    db.expire_all()
    assert db.get(User, me_id).active


def test_an_intake_form_in_use_is_deactivated_instead_of_deleted(client, db, make) -> None:
    sign_in_admin(client, db, make)
    used = IntakeForm(slug="billing-question", name="Billing question", fields=[])
    unused = IntakeForm(slug="spare-form", name="Spare form", fields=[])
    db.add_all([used, unused])
    db.flush()
    db.add(RoutingRule(name="Billing form to Billing", form=used))
    make.ticket(now=NOW).form_id = used.id
    db.commit()
    assert client.get("/forms/billing-question").status_code == 200
    used_id, unused_id = used.id, unused.id

    said = delete(client, "intakeform", used_id)
    assert (
        "Intake form Billing question was deactivated instead of deleted: it is still used by 1 ticket "
        "(1 open) and 1 routing rule (Billing form to Billing). An inactive form takes no new requests."
    ) in said
    db.expire_all()
    assert db.get(IntakeForm, used_id).active is False
    assert count(db, RoutingRule) == 1  # ON DELETE CASCADE would have dropped it
    assert client.get("/forms/billing-question").status_code == 404

    assert "Record was successfully deleted." in delete(client, "intakeform", unused_id)
    assert db.get(IntakeForm, unused_id) is None


# --- forms that accepted nonsense ----------------------------------------------------------------------------------

MAILBOX = {"name": "Support", "address": "support@bluehill.test", "imap_security": "ssl", "imap_folder": "INBOX",
           "active": "y"}  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"imap_host": "imap.example.com", "imap_port": "0"}, "Port 0 does not exist: give a number from 1 to 65535"),
        ({"imap_host": "imap.example.com", "imap_port": "70000"}, "Port 70000 does not exist"),
        ({"imap_host": "imaps://imap.example.com"}, "'imaps://imap.example.com' is not a server name"),
        ({"imap_host": "imap example com"}, "'imap example com' is not a server name"),
        ({"imap_host": "imap.example.com:993"}, "no :993"),
        ({"imap_port": "993", "imap_username": "support"}, "Give the IMAP server's name, e.g. imap.example.com"),
        ({"imap_username": "support"}, "Give the IMAP server's name"),
    ],
)
def test_the_mailbox_form_refuses_what_cannot_be_polled(client, db, make, fields, says) -> None:
    sign_in_admin(client, db, make)
    answer = post_form(client, "/admin/mailbox/new/", {**MAILBOX, **fields})
    assert answer.status_code == 200  # the form again, with the error at its field
    assert says in text_of(answer.get_data(as_text=True))
    assert count(db, Mailbox) == 0


def test_the_mailbox_form_saves_an_imap_mailbox_and_an_http_intake_one(client, db, make) -> None:
    sign_in_admin(client, db, make)
    imap = {**MAILBOX, "imap_host": " imap.example.com ", "imap_port": "993", "imap_username": "support"}
    assert post_form(client, "/admin/mailbox/new/", imap).status_code == 302
    http_only = {**MAILBOX, "name": "Sales", "address": "sales@bluehill.test"}  # no IMAP settings: never polled
    assert post_form(client, "/admin/mailbox/new/", http_only).status_code == 302
    saved = {m.name: m for m in db.scalars(sa.select(Mailbox))}
    assert saved["Support"].imap_host == "imap.example.com" and saved["Support"].imap_port == 993
    assert saved["Sales"].imap_host is None


@pytest.mark.parametrize("slug", ["billing question", "billing/question", "billing_question", "-billing", "bill--ing",
                                  "fäq", "billing?x=1"])  # fmt: skip
def test_an_intake_form_slug_must_be_a_web_address_word(client, db, make, slug) -> None:
    sign_in_admin(client, db, make)
    answer = post_form(
        client,
        "/admin/intakeform/new/",
        {"name": "Billing", "slug": slug, "fields": "[]", "priority": "medium", "active": "y", "public": "y"},
    )
    assert answer.status_code == 200
    page = text_of(answer.get_data(as_text=True))
    assert "a slug may hold only lowercase letters, digits and single hyphens between them" in page, slug
    assert count(db, IntakeForm) == 0


def test_an_intake_form_slug_is_lowercased_and_then_checked_for_uniqueness(client, db, make) -> None:
    sign_in_admin(client, db, make)
    form = {"name": "Billing", "slug": " Billing-Question ", "fields": "[]", "priority": "medium", "active": "y",
            "public": "y"}  # fmt: skip
    assert post_form(client, "/admin/intakeform/new/", form).status_code == 302
    assert db.scalars(sa.select(IntakeForm.slug)).one() == "billing-question"
    assert client.get("/forms/billing-question").status_code == 200
    again = post_form(client, "/admin/intakeform/new/", {**form, "name": "Billing 2", "slug": "BILLING-QUESTION"})
    assert again.status_code == 200 and "Already exists." in again.get_data(as_text=True)  # not an IntegrityError
    assert count(db, IntakeForm) == 1


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"title": "", "body": "Thanks!"}, "Give the response a title: agents pick it by its title."),
        ({"title": "   ", "body": "Thanks!"}, "Give the response a title"),
        ({"title": "Thanks", "body": "  \n "}, "Write the text of the response."),
    ],
)
def test_a_canned_response_needs_a_title_and_a_text(client, db, make, fields, says) -> None:
    sign_in_admin(client, db, make)
    answer = post_form(client, "/admin/cannedresponse/new/", fields)
    assert answer.status_code == 200 and says in text_of(answer.get_data(as_text=True))
    assert count(db, CannedResponse) == 0


def test_a_canned_response_title_is_trimmed(client, db, make) -> None:
    sign_in_admin(client, db, make)
    assert post_form(client, "/admin/cannedresponse/new/", {"title": " Thanks ", "body": "Thanks!"}).status_code == 302
    assert db.scalars(sa.select(CannedResponse.title)).one() == "Thanks"


# --- one default SLA policy ----------------------------------------------------------------------------------------


def test_a_second_default_sla_policy_is_refused_and_the_first_stays_editable(client, db, make) -> None:
    sign_in_admin(client, db, make)
    first = make.policy(None)
    db.commit()
    first_id, first_name = first.id, first.name

    answer = post_form(client, "/admin/slapolicy/new/", {"name": "Another default"})
    assert answer.status_code == 200
    assert (f"SLA policy {first_name} is already the default (the one with no tier). Choose a tier for this "
            f"policy, or give {first_name} a tier first.") in text_of(answer.get_data(as_text=True))  # fmt: skip
    assert count(db, SlaPolicy) == 1

    assert post_form(client, "/admin/slapolicy/new/", {"name": "Premium", "tier": "premium"}).status_code == 302
    edit = post_form(client, f"/admin/slapolicy/edit/?id={first_id}", {"name": "Default SLA"})
    assert edit.status_code == 302  # the default itself saves unchanged
    db.expire_all()
    assert db.get(SlaPolicy, first_id).name == "Default SLA" and db.get(SlaPolicy, first_id).tier is None


# --- holidays ------------------------------------------------------------------------------------------------------


def calendar_form(calendar: BusinessCalendar, rows: list[tuple[str, str]]) -> dict[str, str]:
    fields = {"name": calendar.name, "timezone": calendar.timezone, "working_hours": "Mon-Fri 09:00-17:00"}
    for i, (day, name) in enumerate(rows):
        fields |= {f"holidays-{i}-day": day, f"holidays-{i}-name": name}
    return fields


def test_a_holiday_listed_twice_is_a_field_error_not_an_integrity_error(client, db, make) -> None:
    sign_in_admin(client, db, make)
    calendar = make.calendar()
    db.commit()
    path = f"/admin/businesscalendar/edit/?id={calendar.id}"

    twice = calendar_form(calendar, [("2026-12-25", "Christmas"), ("2026-12-25", "Xmas")])
    answer = post_form(client, path, twice)
    assert answer.status_code == 200
    page = text_of(answer.get_data(as_text=True))
    assert page.count("25 Dec 2026 is listed more than once: a calendar has one holiday per day.") == 2
    assert "Integrity error" not in page and count(db, Holiday) == 0

    assert post_form(client, path, calendar_form(calendar, [("2026-12-25", "Christmas")])).status_code == 302
    stored = db.scalars(sa.select(Holiday)).one()
    # The stored row comes back in the form with its id; a new row on the same day is refused the same way.
    again = calendar_form(calendar, [("2026-12-25", "Christmas"), ("2026-12-25", "Christmas again")])
    again["holidays-0-id"] = str(stored.id)
    answer = post_form(client, path, again)
    assert answer.status_code == 200
    assert "25 Dec 2026 is listed more than once" in text_of(answer.get_data(as_text=True))
    assert count(db, Holiday) == 1

    two_days = calendar_form(calendar, [("2026-12-25", "Christmas"), ("2026-12-26", "Boxing Day")])
    two_days["holidays-0-id"] = str(stored.id)
    assert post_form(client, path, two_days).status_code == 302
    assert sorted(db.scalars(sa.select(Holiday.day))) == [date(2026, 12, 25), date(2026, 12, 26)]


def test_a_holiday_removed_and_added_again_in_one_save_is_saved(client, db, make) -> None:
    sign_in_admin(client, db, make)
    calendar = make.calendar()
    calendar.holidays = [Holiday(day=date(2026, 12, 25), name="Christmas")]
    db.commit()
    stored_id, path = calendar.holidays[0].id, f"/admin/businesscalendar/edit/?id={calendar.id}"
    form = calendar_form(calendar, [("2026-12-25", "Christmas"), ("2026-12-25", "Christmas Day")])
    form |= {"holidays-0-id": str(stored_id), "del-holidays-0": "y"}  # the stored row ticked for deletion
    assert post_form(client, path, form).status_code == 302  # was an IntegrityError: INSERT ran before DELETE
    db.expire_all()
    assert db.execute(sa.select(Holiday.id, Holiday.name)).all() == [(stored_id, "Christmas Day")]


def test_holidays_that_collide_while_saving_get_a_plain_message(client, db, make) -> None:
    sign_in_admin(client, db, make)
    calendar = make.calendar()
    calendar.holidays = [
        Holiday(day=date(2026, 12, 25), name="Christmas"),
        Holiday(day=date(2026, 12, 26), name="Boxing"),
    ]
    db.commit()
    first, second = (h.id for h in calendar.holidays)
    swapped = calendar_form(calendar, [("2026-12-26", "Christmas"), ("2026-12-25", "Boxing")])
    swapped |= {"holidays-0-id": str(first), "holidays-1-id": str(second)}
    answer = post_form(client, f"/admin/businesscalendar/edit/?id={calendar.id}", swapped)
    said = alerts(answer.get_data(as_text=True))
    assert any(m.startswith("Nothing was saved: two holidays of this calendar would have been on the") for m in said)
    assert not any("Integrity error" in m or "INSERT" in m or "UPDATE" in m for m in said)
    db.expire_all()
    assert dict(db.execute(sa.select(Holiday.name, Holiday.day)).all()) == {
        "Christmas": date(2026, 12, 25),
        "Boxing": date(2026, 12, 26),
    }


# --- the rules themselves ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "stored"), [("billing", "billing"), (" Report-A-Bug ", "report-a-bug"),
                                                ("faq2", "faq2"), ("2fa-help", "2fa-help")])  # fmt: skip
def test_slugs_that_are_accepted(typed: str, stored: str) -> None:
    assert config_rules.normalise_slug(typed) == stored


@pytest.mark.parametrize("host", ["imap.example.com", "127.0.0.1", "::1", "mail-1.example.co.uk", "localhost"])
def test_imap_hosts_that_are_accepted(host: str) -> None:
    assert config_rules.check_imap_host(host) == host


@pytest.mark.parametrize("host", ["imap.example.com/inbox", "-imap.example.com", "imap..example.com", "a" * 254])
def test_imap_hosts_that_are_refused(host: str) -> None:
    with pytest.raises(ConfigError):
        config_rules.check_imap_host(host)


def test_uses_are_described_in_one_sentence() -> None:
    uses = [
        Use(12, "ticket", "tickets", detail="3 open"),
        Use(0, "mailbox", "mailboxes"),
        Use(1, "intake form", "intake forms", names=["Billing question"]),
        Use(5, "routing rule", "routing rules", names=["A", "B", "C", "D", "E"]),
    ]
    assert config_rules.describe(uses) == ("12 tickets (3 open), 1 intake form (Billing question) and "
                                           "5 routing rules (A, B, C, 2 more)")  # fmt: skip
    assert config_rules.describe([Use(0, "ticket", "tickets")]) == ""
    assert config_rules.duplicate_days([date(2026, 1, 1), None, date(2026, 1, 1), date(2026, 1, 2)]) == {
        date(2026, 1, 1)
    }


def test_the_delete_action_of_a_list_deletes_the_selected_rows(client, db, make) -> None:
    """Flask-Admin looked the selected ids up as text: PostgreSQL refused integer = varchar (a 500 on every list)."""
    sign_in_admin(client, db, make)
    rows = [CannedResponse(title=f"Reply {n}", body="Thanks") for n in range(3)]
    db.add_all(rows)
    db.commit()
    picked, kept = [rows[0].id, rows[2].id], rows[1].id
    page = client.get("/admin/cannedresponse/").get_data(as_text=True)
    form = {"csrf_token": csrf_token(page), "action": "delete", "rowid": [str(i) for i in picked] + ["x"]}
    response = client.post("/admin/cannedresponse/action/", data=form, follow_redirects=True)
    assert response.status_code == 200
    assert "2 records were successfully deleted." in " ".join(alerts(response.get_data(as_text=True)))
    db.expire_all()
    assert db.scalars(sa.select(CannedResponse.id)).all() == [kept]
