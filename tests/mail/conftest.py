"""Real mail servers for the email tests: Dovecot (IMAP) started per session, aiosmtpd (SMTP) per test."""

from __future__ import annotations

import hashlib
import hmac
import mailbox
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import NOW

MAIL_CONFIG = {
    "MAIL_FROM": "support@bluehill.test",
    "INBOUND_SECRET": "inbound-test-secret",
    "BASE_URL": "http://portal.bluehill.test",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def mail_config(app, monkeypatch):
    for key, value in MAIL_CONFIG.items():
        monkeypatch.setitem(app.config, key, value)


# --- SMTP --------------------------------------------------------------------------------------------------


@dataclass
class Sink:
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    sessions: list[tuple[str, int]] = field(default_factory=list)  # the client's address per message received
    refuse: set[str] = field(default_factory=set)  # recipients answered "550 no such user"
    per_session: int | None = None  # messages a session may carry; the next MAIL FROM is answered 421

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802 - aiosmtpd's name
        if self.per_session is not None and self.sessions.count(session.peer) >= self.per_session:
            return "421 4.7.0 too many messages in this session, closing"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's name
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        self.sessions.append(session.peer)
        return "250 OK"


@pytest.fixture
def smtp_sink(app, monkeypatch) -> Iterator[Sink]:
    sink = Sink()
    port = free_port()  # aiosmtpd can't take port 0: it connects to itself to check readiness
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{port}")
    yield sink
    controller.stop()


# --- IMAP --------------------------------------------------------------------------------------------------


@dataclass
class Dovecot:
    port: int
    user: str
    password: str
    maildir: Path

    def deliver(self, raw: bytes) -> None:
        self.maildir.parent.mkdir(parents=True, exist_ok=True)
        box = mailbox.Maildir(self.maildir, create=True)
        box.add(raw)
        # Dovecot's mail processes run as nobody.
        for path in [self.maildir.parent, *self.maildir.parent.rglob("*")]:
            shutil.chown(path, "nobody", "nogroup")

    def unseen(self) -> int:
        from imap_tools import AND, MailBoxUnencrypted

        with MailBoxUnencrypted("127.0.0.1", port=self.port).login(self.user, self.password, "INBOX") as box:
            return len(list(box.uids(AND(seen=False))))

    def clear(self) -> None:
        shutil.rmtree(self.maildir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    if not shutil.which("dovecot"):
        pytest.fail("Dovecot is not installed: scripts/test installs dovecot-imapd; run it, or apt-get install it")
    # Not under pytest's 0700 temp dirs: Dovecot's auth and mail processes run as other users.
    root = Path(tempfile.mkdtemp(prefix="bluehill-dovecot-"))
    root.chmod(0o755)
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir()
    user, password, port = "support@bluehill.test", "imap-secret", free_port()
    (root / "passwd").write_text(f"{user}:{{PLAIN}}{password}::::::\n")
    config = f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""
    (root / "dovecot.conf").write_text(config)
    shutil.chown(root / "mail", "nobody", "nogroup")
    subprocess.run(["dovecot", "-c", str(root / "dovecot.conf")], check=True)
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield Dovecot(port, user, password, root / "mail" / user / "Maildir")
    subprocess.run(["doveadm", "-c", str(root / "dovecot.conf"), "stop"], check=False)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def dovecot(dovecot_server) -> Iterator[Dovecot]:
    dovecot_server.clear()
    yield dovecot_server
    dovecot_server.clear()


# --- building messages -------------------------------------------------------------------------------------


def email(
    *,
    sender: str = "jane@acme.example",
    to: str = "support@bluehill.test",
    subject: str = "Export is broken",
    body: str = "Hi, the CSV export fails since this morning.",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: dict[str, str] | None = None,
    cc: str | None = None,
    html: str | None = None,
    attachments: list[tuple[str, str, bytes]] = (),
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(NOW)
    msg["Message-ID"] = message_id or make_msgid(domain="client.example")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def signature(body: bytes, secret: str = MAIL_CONFIG["INBOUND_SECRET"]) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
