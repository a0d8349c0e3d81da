"""Sending over SMTP, configured by one URL: smtp://user:pass@host:port (smtps:// for implicit TLS,
smtp://...?starttls=1 to upgrade)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

TIMEOUT_SECONDS = 30


class SmtpNotConfigured(RuntimeError):
    pass


def send(smtp_url: str, message: EmailMessage) -> None:
    if not smtp_url:
        raise SmtpNotConfigured("SMTP_URL is not set; outbound mail stays queued")
    url = urlsplit(smtp_url)
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
