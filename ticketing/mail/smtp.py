"""Sending over SMTP, configured by one URL: smtp://user:pass@host:port (smtps:// for implicit TLS,
smtp://...?starttls=1 to upgrade). file:///path/to/outbox writes .eml files instead (the demo uses it)."""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

TIMEOUT_SECONDS = 30


class SmtpNotConfigured(RuntimeError):
    pass


def send(smtp_url: str, message: EmailMessage) -> None:
    if not smtp_url:
        raise SmtpNotConfigured("SMTP_URL is not set; outbound mail stays queued")
    url = urlsplit(smtp_url)
    if url.scheme == "file":
        _write_to_outbox(Path(unquote(url.path)), message)
        return
    if url.scheme not in {"smtp", "smtps"}:
        raise SmtpNotConfigured(f"unsupported SMTP_URL scheme {url.scheme!r}")
    host = url.hostname or "localhost"
    secure = url.scheme == "smtps"
    port = url.port or (465 if secure else 25)
    options = parse_qs(url.query)
    context = ssl.create_default_context()
    client: smtplib.SMTP = (
        smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_SECONDS, context=context)
        if secure
        else smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS)
    )
    with client:
        if not secure and options.get("starttls", ["0"])[0] in {"1", "true"}:
            client.starttls(context=context)
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        client.send_message(message)


def _write_to_outbox(folder: Path, message: EmailMessage) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9.@_-]", "_", str(message["Message-ID"] or "message"))[:150]
    (folder / f"{name}.eml").write_bytes(message.as_bytes())
