"""The customer portal in a real browser: sign in, report a bug with a screenshot, watch an agent's answer arrive
live (and an internal note never), the embedded form on another origin, the portal without JavaScript, a phone.

Screenshots of the main pages land in test-output/screenshots/ for a human to look at.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from tests.conftest import BACKEND
from tests.e2e.conftest import PASSWORD, HostSite, png_bytes
from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import Source
from ticketing.models import Attachment, Ticket
from ticketing.services import tickets
from ticketing.services.interactions import add_interaction

pytestmark = [
    pytest.mark.browser,
    # One backend is enough for the browser: the request-level tests already run on both databases.
    pytest.mark.skipif(BACKEND == "postgresql", reason="browser tests run on the SQLite backend only"),
]

PHONE = {"width": 390, "height": 844}
TIMEOUT = 10_000  # ms; a live poll runs every 500 ms


def shot(page: Page, screenshots: Path, name: str) -> None:
    page.screenshot(path=screenshots / name, full_page=True)


def sign_in(page: Page, email: str = "alice@acme.example", password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label(re.compile(r"^Email")).fill(email)
    page.get_by_label(re.compile(r"^Password")).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/tickets$"))


def fill_bug_report(scope, *, subject: str, anonymous: bool = False) -> None:  # scope: a Page or a FrameLocator
    if anonymous:
        scope.get_by_label("Your name").fill("Pat Embed")
        scope.get_by_label("Your email").fill("pat@newco.example")
    scope.get_by_label("Summary").fill(subject)
    scope.get_by_label("Steps to reproduce").fill("1. Open Reports\n2. Click Export CSV")
    scope.get_by_label("What you expected").fill("A CSV file downloads")
    scope.get_by_label("What happened instead").fill("A spinner, then an error 500")
    scope.get_by_label("How bad is it?").select_option("Blocks our work")
    scope.get_by_label("Screenshot").set_input_files({"name": "screen.png", "mimeType": "image/png",
                                                       "buffer": png_bytes()})  # fmt: skip


def embed_page(portal_url: str, title: str) -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body {{ font-family: Georgia, serif; margin: 0; background: #f7f1e3; }}
header {{ background: #2d3a2e; color: #fff; padding: 1rem 2rem; }} main {{ padding: 1rem 2rem; }}
iframe {{ width: 100%; max-width: 760px; height: 1150px; border: 1px solid #c9bfa8; background: #fff; }}</style></head>
<body><header><strong>NewCo Gardening</strong> · Contact us</header>
<main><h1>{title}</h1><p>Found a problem in our shop? Tell our supplier's help desk directly:</p>
<iframe title="Report a bug" src="{portal_url}/forms/report-a-bug/embed"></iframe></main></body></html>"""


def test_public_pages(page: Page, bug_form, screenshots: Path) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="How can we help?")).to_be_visible()
    shot(page, screenshots, "home.png")
    page.get_by_role("link", name="Submit a request").click()
    expect(page).to_have_url(re.compile(r"/new$"))
    expect(page.get_by_role("link", name=re.compile("Report a bug"))).to_be_visible()
    shot(page, screenshots, "new-request.png")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(page, screenshots, "login.png")
    # A wrong password answers on the same page, without saying which half was wrong.
    page.get_by_label(re.compile(r"^Email")).fill("alice@acme.example")
    page.get_by_label(re.compile(r"^Password")).fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("That email and password don't match an account.")).to_be_visible()
    shot(page, screenshots, "login-failed.png")


def test_sign_in_lists_own_requests(page: Page, world, screenshots: Path) -> None:
    sign_in(page)
    expect(page.get_by_role("heading", name="My requests")).to_be_visible()
    rows = page.locator("table.tickets tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"#{world.acme_ticket.id} Acme export broken")
    body = page.locator("body")
    expect(body).not_to_contain_text("Carl asks about SSO")  # a colleague's ticket: alice is no portal admin
    expect(body).not_to_contain_text("Globex invoice")
    shot(page, screenshots, "portal-tickets.png")


def test_report_a_bug_with_a_screenshot(page: Page, db, world, bug_form, screenshots: Path) -> None:
    sign_in(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New request").click()
    page.get_by_role("link", name=re.compile("Report a bug")).click()
    expect(page.get_by_role("heading", name="Report a bug")).to_be_visible()
    expect(page.get_by_label("Your email")).to_have_count(0)  # a signed-in contact is not asked who they are
    # Sent empty: every required field is marked, the one-line Summary as red as the text boxes.
    page.get_by_role("button", name="Send request").click()
    expect(page.locator(".flash-danger")).to_have_text("Please correct the highlighted fields.")
    border = "e => getComputedStyle(e).borderTopColor"
    summary, steps = (page.get_by_label(label).evaluate(border) for label in ("Summary", "Steps to reproduce"))
    assert summary == steps != "rgb(169, 179, 198)", (summary, steps)  # not a field's usual grey
    fill_bug_report(page, subject="Export to CSV fails")
    shot(page, screenshots, "portal-form.png")
    page.get_by_role("button", name="Send request").click()

    expect(page).to_have_url(re.compile(r"/tickets/\d+$"))
    ticket_id = int(re.search(r"/tickets/(\d+)$", page.url).group(1))
    expect(page.get_by_role("status")).to_contain_text(f"Request #{ticket_id} received.")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"#{ticket_id} Export to CSV fails")
    answers = page.locator(".timeline .msg").first  # the first message carries the answers
    for text in ("Steps to reproduce", "2. Click Export CSV", "A CSV file downloads", "A spinner, then an error 500",
                 "Blocks our work", "screen.png"):  # fmt: skip
        expect(answers).to_contain_text(text)
    link = page.locator(".timeline .files a", has_text="screen.png")
    expect(link).to_be_visible()
    shot(page, screenshots, "portal-ticket.png")
    # The screenshot arrived byte for byte and is served back to its owner.
    download = page.request.get(link.get_attribute("href"))
    assert download.ok and download.body() == png_bytes()
    ticket = db.get(Ticket, ticket_id)
    assert ticket.source == Source.PORTAL and ticket.primary_contact_id == world.alice.id and ticket.tags == ["bug"]
    assert db.scalar(sa.select(Attachment.filename).where(Attachment.ticket_id == ticket_id)) == "screen.png"


def test_agent_reply_arrives_live_and_an_internal_note_never(page: Page, db, make, world) -> None:
    agent = make.user(name="Priya Natarajan")
    db.commit()
    ticket_id = world.acme_ticket.id
    sign_in(page)
    page.goto(f"/tickets/{ticket_id}")
    expect(page.locator("#ticket-live")).to_contain_text("PUBLIC-acme-email_outbound")
    page.evaluate("window.__samePage = true")  # gone if anything reloads or navigates the page
    live_path = f"/tickets/{ticket_id}/live"

    def next_poll_status() -> int:
        """The answer to the first poll sent from now on (so sent after whatever the test just committed)."""
        with page.expect_request(lambda r: r.url.split("?")[0].endswith(live_path), timeout=TIMEOUT) as sent:
            pass
        return sent.value.response().status

    assert next_poll_status() == 204  # htmx is polling, and nothing changed yet

    later = datetime.now(UTC) + timedelta(minutes=1)
    secret, answer = "SECRET-live-internal-note-7f3a", "LIVE-agent-answer-9c1e"
    add_interaction(db, db.get(Ticket, ticket_id), type=InteractionType.INTERNAL_NOTE, actor=agent,
                    body_text=f"{secret} customer is on the old plan", now=later)  # fmt: skip
    db.commit()
    assert next_poll_status() == 204  # an internal note is no change a customer can see

    add_interaction(db, db.get(Ticket, ticket_id), type=InteractionType.EMAIL_OUTBOUND, actor=agent,
                    body_text=f"{answer}: we found the cause and are deploying a fix.",
                    now=later + timedelta(minutes=1))  # fmt: skip
    db.commit()
    expect(page.locator("#ticket-live .timeline")).to_contain_text(answer, timeout=TIMEOUT)
    expect(page.locator("#latest")).to_contain_text(answer)
    assert page.evaluate("window.__samePage") is True  # swapped in by htmx, not a reload
    assert secret not in page.content()

    tickets.change_status(db, db.get(Ticket, ticket_id), Status.WAITING_ON_CUSTOMER, actor=agent,
                          now=later + timedelta(minutes=2))  # fmt: skip
    db.commit()
    expect(page.locator(".ticket-head .meta")).to_contain_text("Waiting on Customer", timeout=TIMEOUT)
    assert page.evaluate("window.__samePage") is True
    assert secret not in page.content()
    assert all(s not in page.content() for s in world.secrets)


def test_embedded_form_submits_from_an_allowed_origin(
    new_context, db, bug_form, allowed_site: HostSite, portal, screenshots: Path
) -> None:
    # The frame is another site, rendered out of process: Chromium's full-page capture (which resizes the
    # viewport) draws such frames shifted or blank, so the viewport is made tall enough for a plain capture.
    page = new_context(viewport={"width": 1280, "height": 1400}).new_page()
    host_url = allowed_site.publish("/support.html", embed_page(portal.url, "Support"))
    page.goto(host_url)
    frame = page.frame_locator("iframe[title='Report a bug']")
    expect(frame.get_by_role("heading", name="Report a bug")).to_be_visible()
    fill_bug_report(frame, subject="Embedded: export fails", anonymous=True)
    page.screenshot(path=screenshots / "embed-host.png")
    frame.get_by_role("button", name="Send request").click()
    expect(frame.locator("body")).to_contain_text("has been received", timeout=TIMEOUT)
    page.screenshot(path=screenshots / "embed-thanks.png")
    assert page.url == host_url  # the host page stayed; only the frame moved on

    ticket = db.scalar(sa.select(Ticket).where(Ticket.subject == "Embedded: export fails"))
    assert ticket is not None and ticket.source == Source.WEB
    assert ticket.primary_contact.email == "pat@newco.example" and ticket.form_id == bug_form.id
    assert db.scalar(sa.select(Attachment.filename).where(Attachment.ticket_id == ticket.id)) == "screen.png"


def test_embedded_form_is_refused_on_a_foreign_origin(page: Page, bug_form, foreign_site: HostSite, portal) -> None:
    host_url = foreign_site.publish("/phish.html", embed_page(portal.url, "Not allowed"))
    embed_url = f"{portal.url}/forms/report-a-bug/embed"

    def refusal(message) -> bool:
        return "frame-ancestors" in message.text and "blocked" in message.text

    with page.expect_response(embed_url) as answer, page.expect_console_message(refusal) as refused:
        page.goto(host_url)  # returns after the load event, which waits for the frame (or its error page)
    # The portal answered (200) but named only its allowed ancestors: not this origin.
    policy = answer.value.headers["content-security-policy"]
    assert answer.value.status == 200 and foreign_site.origin not in policy
    assert bug_form.allowed_origins.split()[0] in policy
    # Why these assertions and not "the frame is empty": an empty frame could just be a slow one. Chromium says
    # so itself when it enforces frame-ancestors: it logs "Framing '<portal>' violates ... frame-ancestors ...
    # The request has been blocked." (awaited above: a positive signal, no timing guess) and swaps the document
    # for its own error page. The frame's URL reaches chrome-error://chromewebdata/ a moment after the load
    # event (it is '' in between), so it is polled; it is never the portal's URL, and no form is ever in the
    # frame. The allowed-origin test above proves the same host page renders the form where framing is allowed.
    assert portal.url in refused.value.text
    frame = next(f for f in page.frames if f != page.main_frame)
    for _ in range(100):
        if frame.url.startswith("chrome-error://"):
            break
        assert not frame.url.startswith(portal.url), frame.url
        page.wait_for_timeout(50)  # lets Playwright deliver the frame's navigation event
    assert frame.url.startswith("chrome-error://"), frame.url
    assert frame.locator("form").count() == 0 and "Report a bug" not in frame.content()
    expect(page.frame_locator("iframe").locator("input")).to_have_count(0)


def test_portal_works_without_javascript(new_context, world, screenshots: Path) -> None:
    page = new_context(java_script_enabled=False).new_page()
    sign_in(page)
    page.get_by_role("link", name=re.compile("Acme export broken")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Acme export broken")
    page.get_by_label("Your reply").fill("NOJS-reply: still broken on our side, see attached")
    page.get_by_label("Attach files").set_input_files({"name": "log.txt", "mimeType": "text/plain",
                                                       "buffer": b"export failed at 10:02"})  # fmt: skip
    page.get_by_role("button", name="Send reply").click()
    expect(page).to_have_url(re.compile(rf"/tickets/{world.acme_ticket.id}#latest$"))
    expect(page.get_by_role("status")).to_contain_text("Your reply was added.")
    expect(page.locator("#latest")).to_contain_text("NOJS-reply: still broken on our side")
    expect(page.locator("#latest")).to_contain_text("log.txt")
    shot(page, screenshots, "nojs-ticket.png")


def page_width(page: Page) -> int:
    """The laid-out width: on a phone (is_mobile) content wider than the screen widens the layout viewport and the
    browser zooms out, so anything above the screen width means sideways scrolling or tiny text. Measured once the
    page has loaded: right after a navigation commits its stylesheet may not apply yet (an unstyled long subject
    measured 446 px once)."""
    page.wait_for_load_state("load")
    return page.evaluate("document.documentElement.scrollWidth")


def phone(new_context) -> Page:
    return new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2).new_page()


def test_phone_sized_screens(new_context, world, bug_form, screenshots: Path) -> None:
    page = phone(new_context)
    page.goto("/")
    assert page_width(page) <= PHONE["width"]
    shot(page, screenshots, "mobile-home.png")
    page.goto("/forms/report-a-bug")
    assert page_width(page) <= PHONE["width"]
    shot(page, screenshots, "mobile-form.png")
    sign_in(page)
    expect(page.get_by_role("link", name=re.compile("Acme export broken"))).to_be_visible()
    assert page_width(page) <= PHONE["width"]
    shot(page, screenshots, "mobile-tickets.png")
    page.get_by_role("link", name=re.compile("Acme export broken")).click()
    expect(page.locator("#ticket-live .timeline")).to_contain_text("PUBLIC-acme-first")
    assert page_width(page) <= PHONE["width"]
    shot(page, screenshots, "mobile-ticket.png")


LONG_SUBJECT = "Export of https://app.acme.example/reports/monthly-export?format=csv&range=2026-01-01..2026-03-01 fails"


def test_long_subject_fits_a_phone(new_context, db, make, world, screenshots: Path) -> None:
    ticket = make.ticket(contact=world.alice, subject=LONG_SUBJECT, body="Pasted from the address bar.")
    db.commit()
    page = phone(new_context)
    sign_in(page)
    list_width = page_width(page)
    shot(page, screenshots, "mobile-tickets-long-subject.png")
    page.goto(f"/tickets/{ticket.id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("monthly-export")
    ticket_width = page_width(page)
    shot(page, screenshots, "mobile-ticket-long-subject.png")
    assert (list_width, ticket_width) == (PHONE["width"], PHONE["width"])
