"""The agent screens in a real browser: an agent works the Breaching soon queue (reply, internal note with a
mention, a second assignee, resolve), a manager reads the reports and the team load and changes tickets in bulk,
and a colleague with the same ticket open sees who else is on it.

Screenshots of the queue, the workspace, the reports and the team load land in test-output/screenshots/.
The agent screens use the server's clock (utcnow), so the tickets are dated relative to the real time, not
the suite's fixed `now`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect
from redis import Redis

from tests.conftest import BACKEND
from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import Priority, StaffRole, Tier
from ticketing.models import Contact, Notification, OutboundKind, OutboundMessage, Team, Ticket, User
from ticketing.services import tickets, timelog
from ticketing.services.interactions import add_interaction

pytestmark = [
    pytest.mark.browser,
    # One backend is enough for the browser: the request-level tests already run on both databases.
    pytest.mark.skipif(BACKEND == "postgresql", reason="browser tests run on the SQLite backend only"),
]

PW = "staff-pass-1"
# The suite's Redis db (tests/conftest.py REDIS_URL, db 14) is flushed by every test's `redis_url` fixture, in
# every pytest process on this host: another run's flush wipes the presence marks mid-test. The live server of
# these tests keeps its presence marks and job queue in a db of their own.
PRIVATE_REDIS_DB = 13
PRESENCE_WAIT_MS = 12_000  # the workspace polls presence every 10 s
TEAM_B_SUBJECT = "Platform only: webhook retries pile up"


@dataclass
class Desk:
    payments: Team  # team A: the agent's and Lena's
    platform: Team  # team B: nobody of team A may see its tickets
    agent: User
    lena: User
    manager: User
    jane: Contact
    overdue: Ticket  # due an hour ago: the most urgent
    due_soon: Ticket  # due in an hour
    due_later: Ticket  # due in three hours
    due_latest: Ticket  # due in seven hours
    low: Ticket  # Low priority: no resolution target, so never "breaching"
    team_b: Ticket  # overdue too, but another team's


@pytest.fixture(autouse=True)
def private_redis(app, portal, monkeypatch: pytest.MonkeyPatch):
    url = re.sub(r"/\d+$", f"/{PRIVATE_REDIS_DB}", app.config["REDIS_URL"])
    conn = Redis.from_url(url)
    conn.flushdb()
    monkeypatch.setitem(app.config, "REDIS_URL", url)
    monkeypatch.setitem(app.extensions, "ticketing_redis", conn)  # ticketing.extensions.redis_conn() caches it here
    yield conn
    portal.wait_idle()
    conn.flushdb()
    conn.close()


def shot(page: Page, screenshots: Path, name: str) -> None:
    page.screenshot(path=screenshots / name, full_page=True)


@pytest.fixture
def staff_page(new_context):
    """Signs a staff member in through the form, in a browser context of their own; no page may raise or log
    a JavaScript error meanwhile (bar the missing /favicon.ico: no page declares an icon)."""
    errors: list[str] = []

    def sign_in(email: str) -> Page:
        page = new_context(viewport={"width": 1440, "height": 900}).new_page()
        page.on("pageerror", lambda exc: errors.append(f"{email}: {exc}"))
        page.on("console", lambda msg: errors.append(f"{email}: {msg.text} {msg.location['url']}")
                if msg.type == "error" and not msg.location["url"].endswith("/favicon.ico") else None)  # fmt: skip
        page.goto("/agent/login")
        page.locator("#email").fill(email)
        page.locator("#password").fill(PW)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/admin/queues/\w+$"))
        return page

    yield sign_in
    assert not errors, "JavaScript errors:\n" + "\n".join(errors)


def queue_subjects(page: Page) -> list[str]:
    return page.locator("table.queue-table tbody td.subject a").all_inner_texts()


def history(db, make, people: tuple[User, User], teams: tuple[Team, Team], contacts: tuple[Contact, ...]) -> None:
    """Three weeks of resolved tickets so the reports have something to draw: some in time, some late."""
    real_now = datetime.now(UTC)
    medium, high, urgent = Priority.MEDIUM, Priority.HIGH, Priority.URGENT
    # (days ago, team index, contact index, priority, minutes to first reply, minutes to resolution)
    plan = [(20, 0, 0, medium, 30, 300), (18, 1, 1, high, 20, 200), (15, 0, 2, urgent, 10, 90),
            (12, 0, 1, medium, 90, 700), (9, 1, 0, medium, 45, 400), (7, 0, 0, high, 25, 300),
            (5, 1, 2, urgent, 5, 60), (3, 0, 1, medium, 50, 240), (2, 1, 0, high, 35, 180)]  # fmt: skip
    for n, (days, team, who, priority, reply, resolve) in enumerate(plan):
        opened = real_now - timedelta(days=days, hours=2)
        ticket = make.ticket(now=opened, contact=contacts[who], team=teams[team], priority=priority,
                             subject=f"Earlier request {n + 1}")  # fmt: skip
        author = people[team]  # the agent answers team A's tickets, Lena team B's
        add_interaction(db, ticket, type=InteractionType.EMAIL_OUTBOUND, actor=author, body_text="Looking into it.",
                        now=opened + timedelta(minutes=reply))  # fmt: skip
        tickets.change_status(db, ticket, Status.RESOLVED, actor=author, now=opened + timedelta(minutes=resolve))
        timelog.log_time(db, ticket, user=author, minutes=15 + 10 * n, now=opened + timedelta(minutes=resolve))


@pytest.fixture
def desk(db, make) -> Desk:
    payments, platform = make.team("Payments"), make.team("Platform")
    agent = make.user(email="agent@bluehill.test", name="Priya Natarajan", password=PW, teams=[payments])
    lena = make.user(email="lena@bluehill.test", name="Lena Fischer", password=PW, teams=[payments])
    make.user(email="omar@bluehill.test", name="Omar Haddad", password=PW, teams=[platform])
    manager = make.user(email="manager@bluehill.test", name="Morgan Reyes", password=PW, role=StaffRole.MANAGER)
    # (first response, resolution) minutes, 24x7 (no calendar): due dates are plain arithmetic.
    make.policy(None, None, {Priority.MEDIUM: (60, 480), Priority.HIGH: (30, 240), Priority.URGENT: (15, 120),
                             Priority.LOW: (240, None)})  # fmt: skip
    acme = make.customer("Acme Retail", tier=Tier.ENTERPRISE, domains=("acme.example",))
    globex = make.customer("Globex", tier=Tier.PREMIUM, domains=("globex.example",))
    initech = make.customer("Initech", domains=("initech.example",))
    jane = make.contact(acme, email="jane@acme.example", name="Jane Doe")
    hank = make.contact(globex, email="hank@globex.example", name="Hank Scorpio")
    peter = make.contact(initech, email="peter@initech.example", name="Peter Gibbons")
    real_now = datetime.now(UTC)

    def ticket(hours_ago: float, priority: Priority, subject: str, contact: Contact, team: Team = payments) -> Ticket:
        return make.ticket(now=real_now - timedelta(hours=hours_ago), contact=contact, team=team, priority=priority,
                           subject=subject, body=f"{subject}. Please help, our customers are waiting.")  # fmt: skip

    desk = Desk(
        payments=payments, platform=platform, agent=agent, lena=lena, manager=manager, jane=jane,
        overdue=ticket(3, Priority.URGENT, "Checkout returns 502 for EU cards", jane),  # due 1 h ago
        due_soon=ticket(3, Priority.HIGH, "Invoice PDF is missing the VAT line", hank),  # due in 1 h
        due_later=ticket(5, Priority.MEDIUM, "SSO login loops after a password reset", peter),  # due in 3 h
        due_latest=ticket(1, Priority.MEDIUM, "CSV export of refunds times out", hank),  # due in 7 h
        low=ticket(2, Priority.LOW, "Dark mode for the receipts page", peter),
        team_b=ticket(4, Priority.URGENT, TEAM_B_SUBJECT, jane, team=platform),  # due 2 h ago
    )  # fmt: skip
    for assigned, person in ((desk.due_soon, lena), (desk.low, lena), (desk.due_latest, agent)):
        tickets.add_assignee(db, assigned, person, actor=None, now=real_now - timedelta(minutes=30))
    history(db, make, (agent, lena), (payments, platform), (jane, hank, peter))
    db.commit()
    return desk


def test_agent_works_the_breaching_queue(staff_page, db, desk: Desk, screenshots: Path) -> None:
    page = staff_page("agent@bluehill.test")
    expect(page).to_have_url(re.compile(r"/admin/queues/mine$"))  # an agent starts in their own tickets
    queues = page.get_by_role("navigation", name="Queues")
    expect(queues.get_by_role("link", name="All tickets")).to_have_count(0)  # managers only
    expect(queues.get_by_role("link", name=re.compile("^Platform"))).to_have_count(0)  # not the agent's team

    # Team B's ticket is in none of the agent's queues (nor can it be opened by its address).
    for link in queues.get_by_role("link").all():
        page.goto(link.get_attribute("href"))
        expect(page.locator("table.queue-table")).to_be_visible()
        expect(page.locator("body")).not_to_contain_text(TEAM_B_SUBJECT)
    assert page.request.get(f"/admin/ticket/{desk.team_b.id}").status == 404
    assert page.request.get("/admin/queues/all").status == 403

    queues.get_by_role("link", name=re.compile("^Breaching soon")).click()
    expect(page).to_have_url(re.compile(r"/admin/queues/breaching$"))
    expect(page.get_by_role("heading", name="Breaching soon")).to_be_visible()
    # Most urgent first: overdue, then by time left; Low (no target) and team B's ticket are not here.
    # Overdue first, then due within the 4-hour horizon; the one due in 7 h is not "breaching soon" yet.
    assert queue_subjects(page) == [desk.overdue.subject, desk.due_soon.subject, desk.due_later.subject]
    rows = page.locator("table.queue-table tbody tr")
    expect(rows.nth(0).locator("td").nth(8)).to_contain_text("Overdue")
    expect(rows.nth(1).locator("td").nth(8)).to_contain_text("left")
    expect(queues.get_by_role("link", name=re.compile("^Breaching soon"))).to_contain_text("3")
    shot(page, screenshots, "agent-queue.png")

    rows.nth(0).get_by_role("link", name=desk.overdue.subject).click()
    expect(page).to_have_url(re.compile(rf"/admin/ticket/{desk.overdue.id}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(desk.overdue.subject)
    expect(page.locator("#presence")).to_be_empty()  # nobody else has it open
    compose = page.locator("form.compose")

    # 1. A reply to the customer: on the timeline, marked as customer-visible, and queued as an email.
    expect(page.locator("#kind-reply")).to_be_checked()  # the default
    page.locator("#compose-body").fill("Hi Jane, we have found the failing card route and are **rolling back**.")
    compose.get_by_role("button", name="Add").click()
    expect(page.get_by_text("Reply to customer added.")).to_be_visible()
    latest = page.locator("#latest")
    expect(latest).to_have_class(re.compile(r"\bours\b"))
    expect(latest).to_contain_text("rolling back")
    expect(latest.locator("strong", has_text="rolling back")).to_be_visible()  # Markdown rendered
    expect(latest.locator(".kind")).to_have_text("Customer sees this")
    db.expire_all()
    replies = sa.select(OutboundMessage).where(OutboundMessage.ticket_id == desk.overdue.id,
                                               OutboundMessage.kind == OutboundKind.REPLY)  # fmt: skip
    outbound = db.scalars(replies).all()
    assert [o.to_address for o in outbound] == ["jane@acme.example"]
    assert "rolling back" in outbound[0].body_text and outbound[0].sent_at is None  # queued, not sent here

    # 2. An internal note mentioning Lena: shaded, labelled internal, and Lena is notified.
    page.locator("#kind-note").check()
    expect(compose).to_have_class(re.compile(r"\bnote\b"))  # the compose box turns note-coloured
    page.locator("#compose-body").fill("@lena please check the acquirer logs for 10:00-10:15")
    compose.get_by_role("button", name="Add").click()
    expect(page.get_by_text("Notified Lena Fischer.")).to_be_visible()
    expect(page.get_by_text("Internal note added.")).to_be_visible()
    latest = page.locator("#latest")
    expect(latest).to_have_class(re.compile(r"\binternal\b"))
    expect(latest).to_contain_text("@lena please check")
    expect(latest.locator(".kind")).to_have_text("Internal — customer never sees this")
    expect(latest).to_have_css("background-color", "rgb(255, 248, 225)")  # .entry.internal's amber shading
    db.expire_all()
    notice = db.scalar(sa.select(Notification).where(Notification.user_id == desk.lena.id))
    assert notice is not None and notice.ticket_id == desk.overdue.id and "Priya Natarajan mentioned you" in notice.text
    assert db.scalar(sa.select(sa.func.count()).select_from(Notification)) == 1  # not the author herself

    # 3. Lena as a second assignee.
    page.locator("#add-assignee").select_option(label="Lena Fischer")
    page.locator("form:has(#add-assignee)").get_by_role("button", name="Add").click()
    expect(page.get_by_role("button", name="Lena Fischer ✕")).to_be_visible()
    expect(page.locator("#add-assignee option", has_text="Lena Fischer")).to_have_count(0)
    expect(page.locator(".timeline .entry.system").last).to_contain_text(
        "Priya Natarajan changed assignees from none to Lena Fischer"
    )

    # 4. Resolve through the properties form.
    page.locator("#p-status").select_option(label="Resolved")
    page.locator("aside").get_by_role("button", name="Save").click()
    expect(page.get_by_text("Ticket updated.")).to_be_visible()
    expect(page.locator(".ws-head .badge-pill")).to_have_text("Resolved")
    expect(page.locator(".timeline .entry.system", has_text="changed status from Open to Resolved")).to_have_count(1)
    expect(page.locator(".timeline .entry.system").last).to_contain_text(
        "Priya Natarajan changed status from Open to Resolved"
    )
    shot(page, screenshots, "agent-workspace.png")

    db.expire_all()
    ticket = db.get(Ticket, desk.overdue.id)
    assert ticket.status == Status.RESOLVED and ticket.resolved_at is not None
    assert {u.email for u in ticket.assignees} == {"lena@bluehill.test"}
    assert ticket.first_response_at is not None
    # Resolved tickets leave the breaching queue.
    page.goto("/admin/queues/breaching")
    assert desk.overdue.subject not in queue_subjects(page)


def test_manager_reports_load_and_bulk_priority(staff_page, db, desk: Desk, screenshots: Path) -> None:
    page = staff_page("manager@bluehill.test")
    expect(page).to_have_url(re.compile(r"/admin/queues/breaching$"))  # managers start with the fires
    assert queue_subjects(page)[0] == TEAM_B_SUBJECT  # a manager sees every team; it is the most overdue

    page.get_by_role("link", name="Reports").click()
    expect(page).to_have_url(re.compile(r"/admin/reports/$"))
    page.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length >= 3")
    page.wait_for_function(  # drawn: laid out, non-blank, and done animating (bars grow for a second)
        """() => Object.values(Chart.instances).every(c => c.width > 0 && c.height > 0 &&
              !Chart.animator.running(c) && c.ctx.getImageData(0, 0, c.width, c.height).data.some(v => v !== 0))"""
    )
    sla_table = page.locator("section.report").first.locator("table")
    for tier in ("Standard", "Premium", "Enterprise"):
        expect(sla_table).to_contain_text(tier, ignore_case=True)  # (rendered in lower case: see the report)
    expect(sla_table.locator("tbody tr").last).to_contain_text("All", ignore_case=True)
    shot(page, screenshots, "agent-reports.png")

    page.get_by_role("link", name="Team load").click()
    expect(page).to_have_url(re.compile(r"/admin/load/$"))
    expect(page.get_by_role("heading", name="Open load")).to_be_visible()
    teams = page.locator("table").first
    expect(teams.locator("tr", has_text="Payments")).to_contain_text("5")  # five open tickets in team A
    expect(teams.locator("tr", has_text="Platform")).to_contain_text("1")
    agents = page.locator("table").nth(1)
    expect(agents.locator("tr", has_text="Lena Fischer").locator("td").nth(2)).to_have_text("2")
    expect(agents.locator("tr", has_text="Priya Natarajan").locator("td").nth(2)).to_have_text("1")
    shot(page, screenshots, "agent-load.png")

    page.goto("/admin/queues/all")
    expect(page.get_by_role("heading", name="All tickets")).to_be_visible()
    picked = (desk.due_later, desk.due_latest)
    for ticket in picked:
        page.get_by_label(f"Select #{ticket.id}", exact=True).check()
    page.locator("#bulk-action").select_option(label="Set priority")
    page.locator("#bulk-value").select_option(label="Urgent")
    page.get_by_role("button", name="Apply to selected").click()
    expect(page.get_by_text("Set priority: 2 ticket(s) updated.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/admin/queues/all"))
    for ticket in picked:
        row = page.locator("table.queue-table tbody tr", has=page.get_by_label(f"Select #{ticket.id}", exact=True))
        expect(row.locator(".badge", has_text="Urgent")).to_be_visible()
    db.expire_all()
    assert [db.get(Ticket, t.id).priority for t in picked] == [Priority.URGENT, Priority.URGENT]
    assert db.get(Ticket, desk.due_soon.id).priority == Priority.HIGH  # not selected: unchanged


def test_colleague_sees_who_else_has_the_ticket_open(staff_page, desk: Desk) -> None:
    lena = staff_page("lena@bluehill.test")
    lena.goto(f"/admin/ticket/{desk.due_soon.id}")
    expect(lena.get_by_role("heading", level=1)).to_contain_text(desk.due_soon.subject)
    presence = lena.locator("#presence")
    expect(presence).to_be_empty()
    lena.evaluate("window.__samePage = true")  # gone if anything reloads the page

    agent = staff_page("agent@bluehill.test")
    agent.goto(f"/admin/ticket/{desk.due_soon.id}")
    # The agent's page, rendered after Lena's, names her straight away ...
    expect(agent.locator("#presence")).to_contain_text("Lena Fischer is viewing this ticket.")
    # ... and Lena's page learns of the agent from its next presence poll (htmx, every 10 s), without a reload.
    expect(presence.get_by_role("status")).to_have_text("Priya Natarajan is viewing this ticket.",
                                                        timeout=PRESENCE_WAIT_MS)  # fmt: skip
    assert lena.evaluate("window.__samePage") is True
