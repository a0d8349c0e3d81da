"""Files: how stored attachments are served (never run on our origin), hostile file names (path traversal,
absolute paths, NUL bytes, header tricks) through every upload door, and oversized requests and files (the exact
refusal, and nothing stored: no row, no file)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import csrf_token
from tests.security.conftest import Sec, assert_unchanged, sign_in, snapshot, token_for
from ticketing.domain.mail_parse import parse_email
from ticketing.extensions import attachment_store
from ticketing.models import Attachment, Interaction
from ticketing.services.attachments import AttachmentLimits, IncomingFile, store_attachments

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
HTML = b"<html><script>alert(document.cookie)</script></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def _stored(db, sec: Sec, name: str, content_type: str, data: bytes) -> int:
    """A file on Alice's (customer-visible) reply of the Acme ticket."""
    entry = db.get(Interaction, sec.acme_interaction)
    files = [IncomingFile(name, content_type, data)]
    stored, _ = store_attachments(db, entry.ticket, entry, files, store=attachment_store(), limits=AttachmentLimits(),
                                  now=entry.created_at)  # fmt: skip
    db.commit()
    return stored[0].id


# (uploaded as, route, expected Content-Type, expected disposition)
SERVING = [
    ("text/html", "evil.html", HTML, "portal", "application/octet-stream", "attachment"),
    ("text/html", "evil.html", HTML, "agent inline", "application/octet-stream", "attachment"),
    ("image/svg+xml", "logo.svg", SVG, "agent inline", "application/octet-stream", "attachment"),
    ("image/png", "shot.png", PNG, "agent inline", "image/png", "inline"),
    ("image/png", "shot.png", PNG, "portal", "application/octet-stream", "attachment"),
    ("image/png", "html-in-disguise.png", HTML, "agent", "application/octet-stream", "attachment"),
    ("application/pdf", "a.pdf", b"%PDF-1.4", "agent", "application/octet-stream", "attachment"),
]


@pytest.mark.parametrize(("claimed", "name", "data", "route", "content_type", "disposition"), SERVING,
                         ids=[f"{s[0]} via {s[3]}" for s in SERVING])  # fmt: skip
def test_attachments_never_run_on_our_origin(client, db, sec, claimed, name, data, route, content_type,
                                             disposition) -> None:  # fmt: skip
    attachment = _stored(db, sec, name, claimed, data)
    if route == "portal":
        sign_in(client, "alice@acme.example")
        path = f"/tickets/{sec.acme}/attachments/{attachment}"
    else:
        sign_in(client, "admin")
        path = f"/agent/attachments/{attachment}" + ("/inline" if route == "agent inline" else "")
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == content_type
    assert response.headers["Content-Disposition"].split(";")[0] == disposition
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    csp = response.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp
    assert response.data == data


def test_the_original_email_download_is_never_rendered(client, db, sec) -> None:
    sign_in(client, "admin")
    response = client.get(f"/agent/email/{sec.acme_inbound}.eml")
    assert response.status_code == 200 and response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in response.headers["Content-Security-Policy"]


# ---- hostile file names ------------------------------------------------------------------------------------------

NAMES = [  # (uploaded name, what is stored and offered for download)
    ("../../etc/passwd", "passwd"),
    ("/etc/passwd", "passwd"),
    ("..\\..\\windows\\win.ini", "....windowswin.ini"),  # (the multipart parser drops the backslashes)
    ("C:\\Users\\x\\evil.txt", "C:Usersxevil.txt"),
    ("nul\x00byte.txt", "nulbyte.txt"),
    ("report\x00.html.txt", "report.html.txt"),
    ("invoice\u202efdp.txt", "invoicefdp.txt"),  # a right-to-left override would show it as invoicetxt.pdf
    ('quote".txt', "quote"),  # (the parser ends the name at the quote)
    ("..", "attachment"),
    ("...", "attachment"),
]


def _upload(client, sec: Sec, door: str, name: str, data: bytes = b"content") -> Any:
    """Upload one file through a door: the portal reply, the agent's compose box, or a public intake form."""
    if door == "portal reply":
        token = token_for(client, "alice@acme.example")
        return client.post(f"/tickets/{sec.acme}/reply", data={"body": "file", "csrf_token": token,
                           "files": [(io.BytesIO(data), name, "text/plain")]})  # fmt: skip
    if door == "agent compose":
        token = token_for(client, "admin")
        return client.post(f"/admin/ticket/{sec.acme}/compose", data={"kind": "note", "body": "file",
                           "csrf_token": token, "files": [(io.BytesIO(data), name, "text/plain")]})  # fmt: skip
    token = csrf_token(client.get(f"/forms/{sec.api.form.slug}").get_data(as_text=True))
    return client.post(f"/forms/{sec.api.form.slug}", data={
        "csrf_token": token, "subject": "With a file", "email": "pat@newco.example", "steps": "a", "expected": "b",
        "actual": "c", "severity": "Cosmetic", "screenshot": (io.BytesIO(data), name, "image/png")})  # fmt: skip


DOORS = {
    "portal reply": ("alice@acme.example", 303),
    "agent compose": ("admin", 303),
    "intake form": ("anonymous", 200),
}


@pytest.mark.parametrize("door", list(DOORS))
def test_hostile_file_names_stay_names(client, other_client, db, sec, own_attachment_dir, door) -> None:
    """Every name of the table above, through this door: stored as a plain name, bytes under a generated key
    inside the store, offered for download in one clean Content-Disposition header."""
    who, status = DOORS[door]
    sign_in(client, who)
    sign_in(other_client, "admin")
    wrong = []
    for name, stored_as in NAMES:
        before = set(own_attachment_dir.rglob("*"))
        response = _upload(client, sec, door, name)
        row = db.scalar(sa.select(Attachment).order_by(Attachment.id.desc()).limit(1))
        new = [p for p in own_attachment_dir.rglob("*") if p not in before and p.is_file()]
        download = other_client.get(f"/agent/attachments/{row.id}")
        disposition = download.headers.getlist("Content-Disposition")
        checks = {
            "status": response.status_code == status,
            "stored name": row.filename == stored_as,
            "one file under its key, inside the store": [p.name for p in new] == [row.storage_key]
            and new[0].resolve().is_relative_to(own_attachment_dir.resolve()) and new[0].read_bytes() == b"content",
            "one clean disposition": len(disposition) == 1 and disposition[0].startswith("attachment; filename=")
            and not any(c in disposition[0] for c in "\r\n\x00") and "Set-Cookie" not in download.headers,
        }  # fmt: skip
        wrong += [f"{name!r} -> {row.filename!r}: {what}" for what, ok in checks.items() if not ok]
    assert not wrong, wrong


def test_email_attachment_names_are_reduced_to_a_base_name() -> None:
    raw = (b"From: a@b.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
           b"--XX\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"../../etc/passwd\"\r\n\r\n"
           b"root\r\n--XX\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"/abs/x\x00.txt\""
           b"\r\n\r\nroot\r\n--XX--\r\n")  # fmt: skip
    names = [a.filename for a in parse_email(raw).attachments]
    assert names[0] == "passwd"
    assert all("/" not in n and "\\" not in n and "\x00" not in n for n in names), names


# ---- oversized -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("door", "who", "path", "expected"),
    [
        ("portal reply", "alice@acme.example", "/tickets/{acme}/reply", 413),
        ("agent compose", "admin", "/admin/ticket/{acme}/compose", 413),
        ("intake form", "anonymous", "/forms/report-a-bug", 413),
        ("API", "api", "/api/v1/tickets", 413),
        ("inbound email", "anonymous", "/inbound/email", 413),
    ],
)
def test_a_body_over_the_request_limit_is_refused_whole(client, db, sec, app, door, who, path, expected) -> None:
    """Above MAX_CONTENT_LENGTH (INBOUND_MAX_BYTES + 1 MB) every door answers 413 before reading the body."""
    if who != "api":
        sign_in(client, who)
    app.config["INBOUND_SECRET"] = app.config.get("INBOUND_SECRET") or "inbound-secret"
    size = app.config["MAX_CONTENT_LENGTH"] + 1
    before = snapshot()
    headers = {"Content-Type": "application/octet-stream"}
    if who == "api":
        headers = {"Authorization": f"Bearer {sec.api.tokens['admin']}", "Content-Type": "application/json"}
    response = client.post(path.format(acme=sec.acme), data=b"x" * size, headers=headers)
    assert response.status_code == expected
    if door == "API":
        assert response.get_json()["error"]["code"] == "payload_too_large"
    assert_unchanged(before, door)


@pytest.mark.parametrize("door", list(DOORS))
def test_an_oversized_file_is_refused_with_a_clear_message_and_nothing_stored(client, db, sec, app, door) -> None:
    who, status = DOORS[door]
    sign_in(client, who)
    big = b"x" * (app.config["ATTACHMENT_MAX_BYTES"] + 1)
    before = snapshot()
    response = _upload(client, sec, door, "big.png", big)
    page = client.get(response.headers["Location"]).get_data(as_text=True) if response.status_code == 303 else ""
    text = response.get_data(as_text=True) + page
    assert "larger than 10 MB" in text, text[:500]
    if door == "agent compose":
        # The agent's note is kept (it may be urgent); only the file is refused, and the agent is told.
        assert response.status_code == 303
        after = snapshot()
        assert (
            after["attachment"] == before["attachment"] and after["<attachment files>"] == before["<attachment files>"]
        )
    else:
        assert response.status_code == (303 if door == "portal reply" else 422)
        assert_unchanged(before, door)


def test_too_many_files_are_refused_whole(client, db, sec, app) -> None:
    sign_in(client, "alice@acme.example")
    token = token_for(client, "alice@acme.example")
    files = [(io.BytesIO(b"x"), f"f{i}.txt", "text/plain") for i in range(app.config["ATTACHMENT_MAX_COUNT"] + 1)]
    before = snapshot()
    response = client.post(f"/tickets/{sec.acme}/reply", data={"body": "many", "csrf_token": token, "files": files})
    assert response.status_code == 303
    assert "more than 20 attachments" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert_unchanged(before, "21 files")


@pytest.mark.parametrize(
    ("door", "field", "size", "expected"),
    [
        ("portal reply", "body", 20_001, 302),  # back to the ticket with the message; nothing stored
        ("portal reply", "body", 600_000, 302),
        ("intake form", "steps", 20_001, 422),  # the form again, with the error
        ("intake form", "steps", 600_000, 422),
    ],
)
def test_oversized_text_fields_are_refused(client, db, sec, door, field, size, expected) -> None:
    who = DOORS[door][0]
    sign_in(client, who)
    token = token_for(client, who)
    before = snapshot()
    path = f"/tickets/{sec.acme}/reply" if door == "portal reply" else f"/forms/{sec.api.form.slug}"
    response = client.post(path, data={field: "y" * size, "csrf_token": token, "subject": "s", "email": "p@n.example",
                                       "expected": "b", "actual": "c", "severity": "Cosmetic"})  # fmt: skip
    assert response.status_code == expected
    assert_unchanged(before, f"{door} {field} of {size} characters")


def test_api_refuses_oversized_fields_by_name(client, db, sec) -> None:
    before = snapshot()
    response = client.post(f"/api/v1/tickets/{sec.acme}/interactions", json={"body": "z" * 20_001},
                           headers={"Authorization": f"Bearer {sec.api.tokens['admin']}"})  # fmt: skip
    assert response.status_code == 422 and "body" in response.get_json()["error"]["fields"]
    assert_unchanged(before, "API body of 20001 characters")


def test_store_keys_cannot_escape_the_store(tmp_path: Path) -> None:
    from ticketing.storage import AttachmentStore

    store = AttachmentStore(tmp_path)
    for key in ("../../etc/passwd", "/etc/passwd", "ab/../../x", "a\x00b", ""):
        with pytest.raises(ValueError):
            store.get(key)
