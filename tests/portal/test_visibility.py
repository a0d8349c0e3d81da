"""Every customer-facing read shows only customer-visible interactions of the customer's own tickets."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import csrf_token, without_csrf_tokens
from tests.portal.conftest import login_contact
from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.models import Attachment, Interaction, OutboundMessage, Ticket
from ticketing.services import mail_outbound


def customer_surfaces(client, world) -> dict[str, str]:
    """Every page and fragment Alice can reach, by name -> body."""
    t = world.acme_ticket.id
    pages = {
        "list": client.get("/tickets"),
        "list-live": client.get("/tickets/live?v=stale", headers={"HX-Request": "true"}),
        "list-search-secret": client.get("/tickets?q=SECRET"),
        "list-search-public": client.get("/tickets?q=PUBLIC-acme"),
        # Each term anywhere the customer can see: a subject word and a visible message's word find the ticket; a
        # subject word with an internal note's word does not.
        "list-search-terms": client.get("/tickets", query_string={"q": "broken PUBLIC-acme-first"}),
        "list-search-terms-secret": client.get("/tickets", query_string={"q": "export SECRET-acme"}),
        "ticket": client.get(f"/tickets/{t}"),
        "ticket-live": client.get(f"/tickets/{t}/live?v=stale", headers={"HX-Request": "true"}),
        "new-request": client.get("/new"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
    return {name: r.get_data(as_text=True) for name, r in pages.items()}


def test_no_internal_marker_on_any_portal_surface(client, world) -> None:
    login_contact(client, "alice@acme.example")
    surfaces = customer_surfaces(client, world)
    for name, body in surfaces.items():
        for marker in world.secrets:
            assert marker not in body, f"{marker} leaked on {name}"
    for marker in world.public:
        assert marker in surfaces["ticket"] and marker in surfaces["ticket-live"]
    assert "Acme export broken" in surfaces["list"] and "Acme export broken" in surfaces["list-search-public"]
    assert "Acme export broken" not in surfaces["list-search-secret"]  # search sees only visible text
    assert "Acme export broken" in surfaces["list-search-terms"]
    assert "Acme export broken" not in surfaces["list-search-terms-secret"]
    assert "Carl asks about SSO" not in surfaces["list"]  # Alice sees her own tickets only


def test_portal_admin_sees_the_whole_customer_but_nothing_internal(client, world) -> None:
    login_contact(client, "anna@acme.example")
    body = client.get("/tickets").get_data(as_text=True)
    assert "Carl asks about SSO" in body and "Acme export broken" in body and "Globex invoice" not in body
    page = client.get(f"/tickets/{world.acme_ticket.id}").get_data(as_text=True)
    assert not [m for m in world.secrets if m in page]


@pytest.mark.parametrize(
    "path",
    ["/tickets/{id}", "/tickets/{id}/live?v=x", "/tickets/{id}/attachments/{att}"],
    ids=["page", "live", "attachment"],
)
def test_another_customers_ticket_answers_like_a_missing_one(client, db, world, path) -> None:
    login_contact(client, "alice@acme.example")
    foreign_att = db.scalar(sa.select(Attachment.id).where(Attachment.ticket_id == world.globex_ticket.id))
    foreign = client.get(path.format(id=world.globex_ticket.id, att=foreign_att))
    missing = client.get(path.format(id=999999, att=999999))
    assert foreign.status_code == missing.status_code == 404
    # The sign-out form's CSRF token is time-stamped, so the two pages may differ there and nowhere else.
    assert without_csrf_tokens(foreign.get_data(as_text=True)) == without_csrf_tokens(missing.get_data(as_text=True))


def test_attachments_of_internal_interactions_are_404(client, db, world) -> None:
    login_contact(client, "alice@acme.example")
    internal = db.scalars(sa.select(Attachment).where(Attachment.ticket_id == world.acme_ticket.id)).all()
    assert internal  # every planted internal entry carries a file
    for attachment in internal:
        response = client.get(f"/tickets/{world.acme_ticket.id}/attachments/{attachment.id}")
        assert response.status_code == 404, attachment.filename


@pytest.mark.parametrize("path", ["/tickets", "/tickets/1", "/tickets/1/live?v=x"])
def test_signed_out_visitors_are_sent_to_sign_in(client, world, path) -> None:
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_staff_session_is_not_a_portal_session(client, db, make, world) -> None:
    from tests.conftest import login_staff

    make.user(email="agent@bluehill.test", password="pw-agent-1")
    db.commit()
    login_staff(client, "agent@bluehill.test", "pw-agent-1")
    assert client.get(f"/tickets/{world.acme_ticket.id}").status_code == 302


def test_customer_emails_carry_only_visible_content(db, world, now) -> None:
    from ticketing.extensions import mail_policy

    ticket = db.get(Ticket, world.acme_ticket.id)
    policy = mail_policy()
    # The acknowledgement was queued with the (portal) ticket itself.
    ack = sa.select(OutboundMessage).where(OutboundMessage.ticket_id == ticket.id, OutboundMessage.kind == "received")
    queued = [db.scalar(ack), mail_outbound.queue_resolved_notice(db, ticket, policy=policy, now=now)]
    agent = ticket.interactions[1].author_user
    entry = mail_outbound.reply_to_customer(db, ticket, agent=agent, body="Here is the fix.", policy=policy, now=now)
    queued.append(db.scalar(sa.select(OutboundMessage).where(OutboundMessage.interaction_id == entry.id)))
    for outbound in queued:
        email = mail_outbound.build_email(outbound, product_name=policy.product_name).as_string()
        assert not [m for m in world.secrets if m in email], outbound.kind


def test_posted_extra_fields_change_nothing(client, db, world) -> None:
    """Mass assignment: a reply that also posts status, assignee, customer or type only adds a reply."""
    login_contact(client, "alice@acme.example")
    t = world.acme_ticket.id
    page = client.get(f"/tickets/{t}").get_data(as_text=True)
    before = db.get(Ticket, t)
    status, customer_id = before.status, before.customer_id
    response = client.post(f"/tickets/{t}/reply", data={
        "csrf_token": csrf_token(page), "body": "my reply", "status": "resolved", "priority": "urgent",
        "customer_id": world.globex_ticket.customer_id, "type": "internal_note", "assignee": "1",
        "ticket_id": world.globex_ticket.id, "author_user_id": "1"})  # fmt: skip
    assert response.status_code == 303
    db.expire_all()
    after = db.get(Ticket, t)
    assert after.customer_id == customer_id and after.priority == before.priority
    assert after.status == status and not after.assignees
    last = db.scalar(sa.select(Interaction).where(Interaction.ticket_id == t).order_by(Interaction.id.desc()).limit(1))
    assert last.type == InteractionType.EMAIL_INBOUND and last.author_contact_id == world.alice.id
    assert last.body_text == "my reply" and last.author_user_id is None
    assert (
        db.scalar(
            sa.select(sa.func.count())
            .select_from(Interaction)
            .where(Interaction.ticket_id == world.globex_ticket.id, Interaction.body_text == "my reply")
        )
        == 0
    )


def test_customer_may_close_and_reopen_but_not_resolve(client, db, world) -> None:
    login_contact(client, "alice@acme.example")
    t = world.acme_ticket.id
    token = csrf_token(client.get(f"/tickets/{t}").get_data(as_text=True))
    client.post(f"/tickets/{t}/status", data={"csrf_token": token, "status": "resolved"})
    db.expire_all()
    assert db.get(Ticket, t).status == Status.OPEN
    client.post(f"/tickets/{t}/status", data={"csrf_token": token, "status": "closed"})
    db.expire_all()
    assert db.get(Ticket, t).status == Status.CLOSED
    closed = client.post(f"/tickets/{t}/reply", data={"csrf_token": token, "body": "hello?"})
    assert closed.status_code == 303
    db.expire_all()
    assert db.get(Ticket, t).status == Status.CLOSED


def test_state_changes_need_a_csrf_token(client, db, world) -> None:
    login_contact(client, "alice@acme.example")
    t = world.acme_ticket.id
    assert client.post(f"/tickets/{t}/reply", data={"body": "x"}).status_code == 400
    assert client.post(f"/tickets/{t}/status", data={"status": "closed"}).status_code == 400
    assert client.post("/logout").status_code == 400
