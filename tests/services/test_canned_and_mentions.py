"""Canned responses fill only their known placeholders, whatever else the text holds; @mentions notify only the
colleagues who may open the ticket, and report the others."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa

from tests.conftest import csrf_token, login_staff
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import StaffRole
from ticketing.extensions import mail_policy
from ticketing.models import CannedResponse, Notification, OutboundKind, OutboundMessage
from ticketing.services import canned, mentions, tickets
from ticketing.services.interactions import add_interaction

PW = "staff-pass-1"
VALUES = {"customer": "Acme", "contact": "Jane", "ticket": "#7", "subject": "Invoice wrong", "agent": "Priya"}

# --- canned responses: substitute_placeholders is pure --------------------------------------------------------------


def test_known_placeholders_are_filled() -> None:
    text = "Hi {contact} of {customer}, about {ticket} ({subject}), {contact} again. {agent}"
    filled = "Hi Jane of Acme, about #7 (Invoice wrong), Jane again. Priya"
    assert canned.substitute_placeholders(text, VALUES) == filled
    assert set(VALUES) == set(canned.PLACEHOLDERS)


@pytest.mark.parametrize(
    "text",
    [
        "{",
        "}",
        "Use { and } freely",
        "a lone { before {contact",
        "{ticket.id}",
        "{ticket.__class__}",
        "{ticket.__class__.__init__.__globals__}",
        "{contact[0]}",
        "{0}",
        "{0:>10}",
        "{:>10}",
        "{}",
        "{contact!r}",
        "{contact:>10}",
        "{ contact }",
        "{Contact}",
        "{unknown}",
        "{contäct}",
        "{\n}",
        "%s %(contact)s $contact ${name} {{{{",
        "",
    ],
)
def test_everything_but_a_known_placeholder_stays_as_typed(text: str) -> None:
    assert canned.substitute_placeholders(text, VALUES) == text


@pytest.mark.parametrize(
    ("text", "filled"),
    [
        ("{ticket.id} but {ticket}", "{ticket.id} but #7"),  # an unknown one no longer turns off the others
        ("{ {contact} }", "{ Jane }"),
        ("{{contact}}", "{Jane}"),  # doubled braces are not an escape: the text is not a format string
        ("{contact}{agent}", "JanePriya"),
        ("{contact:{agent}}", "{contact:Priya}"),
        ("}{contact}{", "}Jane{"),
        ("{unknown} {contact} {0:>10} {", "{unknown} Jane {0:>10} {"),
    ],
)
def test_known_placeholders_among_odd_text(text: str, filled: str) -> None:
    assert canned.substitute_placeholders(text, VALUES) == filled


def test_values_are_inserted_literally_and_never_filled_again() -> None:
    """The subject comes from the customer: braces, placeholders or regex escapes in it are plain text."""
    values = {**VALUES, "subject": r"{agent} {0} \1 \g<0> {", "contact": "\\"}
    assert canned.substitute_placeholders("{subject} / {contact}", values) == "{agent} {0} \\1 \\g<0> { / \\"


def test_no_text_of_braces_names_and_specs_raises_or_changes_without_a_placeholder() -> None:
    """Every text of up to four of these pieces (9**4 of them): filled without an exception, and unchanged unless it
    holds an exact {name}."""
    pieces = ["{", "}", "contact", "ticket", ".", ":", "!r", "0", "__class__"]
    for n in range(1, 5):
        for parts in itertools.product(pieces, repeat=n):
            text = "".join(parts)
            filled = canned.substitute_placeholders(text, VALUES)
            if not any("{" + name + "}" in text for name in VALUES):
                assert filled == text


# --- canned responses: fill, and the workspace route ----------------------------------------------------------------


@pytest.fixture
def desk(db, make, now):
    billing, integrations = make.team("Billing"), make.team("Integrations")
    people = {
        "priya": make.user(email="agent@bluehill.test", name="Priya Shah", password=PW, teams=[billing]),
        "bo": make.user(email="bo@bluehill.test", name="Bo", password=PW, teams=[billing]),
        "lena": make.user(email="lena@bluehill.test", name="Lena", password=PW, teams=[integrations]),
        "sam": make.user(email="sam@bluehill.test", name="Sam", password=PW, teams=[integrations]),
        "morgan": make.user(email="manager@bluehill.test", name="Morgan", password=PW, role=StaffRole.MANAGER),
        "alex": make.user(email="admin@bluehill.test", name="Alex", password=PW, role=StaffRole.ADMIN),
    }
    customer = make.customer("Acme", domains=("acme.example",))
    contact = make.contact(customer, email="jane@acme.example", name="Jane")
    billing_ticket = make.ticket(now=now, contact=contact, subject="Invoice wrong", team=billing)
    tickets.add_assignee(db, billing_ticket, people["sam"], actor=people["priya"], now=now)
    inbox_ticket = make.ticket(now=now, contact=contact, subject="No team yet")
    db.commit()
    return {"people": people, "billing": billing_ticket, "inbox": inbox_ticket}


def test_fill_uses_the_ticket_and_the_agent(db, desk) -> None:
    ticket, priya = desk["billing"], desk["people"]["priya"]
    response = CannedResponse(title="Hello", body="Hi {contact} ({customer}), {ticket} {subject} {ticket.id} {")
    assert canned.fill(response, ticket, priya) == f"Hi Jane (Acme), #{ticket.id} Invoice wrong {{ticket.id}} {{"
    assert canned.fill(CannedResponse(title="Bye", body="{agent}"), ticket, priya) == "Priya Shah"


@pytest.mark.parametrize("body", ["Price: {", "}", "{ticket.id}", "{0:>10} {ticket.__class__}", "{{", "{contact"])
def test_the_workspace_answers_odd_canned_text_as_typed(client, db, desk, body: str) -> None:
    response = CannedResponse(title="Odd", body=body)
    db.add(response)
    db.commit()
    login_staff(client, "agent@bluehill.test", PW)
    answer = client.get(f"/admin/ticket/{desk['billing'].id}/canned/{response.id}")
    assert answer.status_code == 200
    assert answer.get_data(as_text=True) == body


# --- @mentions ------------------------------------------------------------------------------------------------------


def note(db, ticket, author, text: str, now):
    return add_interaction(db, ticket, type=InteractionType.INTERNAL_NOTE, actor=author, body_text=text, now=now)


def notify(db, desk, ticket_key: str, text: str, now, author: str = "priya") -> mentions.MentionResult:
    ticket, who = desk[ticket_key], desk["people"][author]
    entry = note(db, ticket, who, text, now)
    return mentions.notify_mentions(db, ticket, entry, author=who, policy=mail_policy(), now=now,
                                    ticket_url="http://desk.test/t")  # fmt: skip


def notified_ids(db) -> tuple[set[int], set[str]]:
    notices = set(db.scalars(sa.select(Notification.user_id)))
    mails = set(db.scalars(sa.select(OutboundMessage.to_address).where(OutboundMessage.kind == OutboundKind.MENTION)))
    return notices, mails


@pytest.mark.parametrize(
    ("ticket", "mentioned", "may_open"),
    [
        ("billing", "bo", True),  # same team
        ("billing", "sam", True),  # another team, but assigned
        ("billing", "morgan", True),  # manager
        ("billing", "alex", True),  # admin
        ("billing", "lena", False),  # another team, not assigned: the bug
        ("inbox", "lena", True),  # no team yet: the general inbox is everyone's
    ],
)
def test_only_colleagues_who_may_open_the_ticket_are_notified(db, desk, now, ticket, mentioned, may_open) -> None:
    user = desk["people"][mentioned]
    handle = user.email.split("@")[0]
    result = notify(db, desk, ticket, f"Could you look, @{handle}?", now)
    db.flush()
    assert (result.notified, result.without_access) == (([user], []) if may_open else ([], [user]))
    notices, mails = notified_ids(db)
    assert notices == ({user.id} if may_open else set())
    assert mails == ({user.email} if may_open else set())


def test_a_mixed_note_notifies_some_and_reports_the_others(db, desk, now) -> None:
    p = desk["people"]
    result = notify(db, desk, "billing", "@lena @bo @manager @agent and write to lena@bluehill.test", now)
    assert result.notified == [p["bo"], p["morgan"]]  # (the author, @agent, is never notified)
    assert result.without_access == [p["lena"]]
    assert notified_ids(db) == ({p["bo"].id, p["morgan"].id}, {"bo@bluehill.test", "manager@bluehill.test"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@bo", ["bo"]),  # the local part of the email address
        ("@manager", ["morgan"]),
        ("@priya", ["priya"]),  # a first name, case-insensitive, when nobody's local part
        ("@PRIYA, please", ["priya"]),
        ("@morgan.", ["morgan"]),
        ("@shah", []),  # not a last name
        ("@priyashah", []),
        ("mail priya@acme.example", []),  # an email address is not a mention
    ],
)
def test_handles_are_email_local_parts_or_unique_first_names(db, desk, text, expected) -> None:
    assert mentions.mentioned_users(db, text) == [desk["people"][k] for k in expected]


def test_a_shared_first_name_matches_nobody_and_a_local_part_wins(db, make, desk) -> None:
    p = desk["people"]
    kim = make.user(email="morgan@bluehill.test", name="Kim")
    sam2 = make.user(email="s.other@bluehill.test", name="Sam Other")
    patel = make.user(email="pshah@bluehill.test", name="Priya Patel")
    make.user(email="bo.old@bluehill.test", name="Bo Old").active = False
    db.flush()
    assert mentions.mentioned_users(db, "@morgan") == [kim]  # Kim's handle, not Morgan's first name
    assert mentions.mentioned_users(db, "@sam") == [p["sam"]]  # sam@'s handle; the first name is shared anyway
    assert mentions.mentioned_users(db, "@s.other") == [sam2]
    assert mentions.mentioned_users(db, "@priya") == []  # two Priyas now: ambiguous, so nobody
    assert mentions.mentioned_users(db, "@agent @pshah") == [p["priya"], patel]
    assert mentions.mentioned_users(db, "@bo.old") == []  # inactive users are never mentioned
    assert mentions.mentioned_users(db, "@bo") == [p["bo"]]  # an inactive namesake does not make a name ambiguous


def test_a_mention_by_first_name_is_also_checked_for_access(db, desk, now) -> None:
    result = notify(db, desk, "billing", "@Lena, @Morgan", now, author="bo")
    assert result.notified == [desk["people"]["morgan"]] and result.without_access == [desk["people"]["lena"]]


def test_a_note_in_the_workspace_does_not_notify_a_colleague_who_cannot_open_the_ticket(client, db, desk) -> None:
    login_staff(client, "agent@bluehill.test", PW)
    t = desk["billing"].id
    page = client.get(f"/admin/ticket/{t}").get_data(as_text=True)
    answer = client.post(f"/admin/ticket/{t}/compose",
                         data={"kind": "note", "body": "@lena @bo look", "csrf_token": csrf_token(page)})  # fmt: skip
    assert answer.status_code == 303
    db.expire_all()
    assert notified_ids(db) == ({desk["people"]["bo"].id}, {"bo@bluehill.test"})
    # The author is told who was left out, and why.
    said = client.get(answer.headers["Location"]).get_data(as_text=True)
    lena = desk["people"]["lena"].name
    assert f"Not notified, as they cannot open this ticket (another team&#39;s): {lena}." in said
