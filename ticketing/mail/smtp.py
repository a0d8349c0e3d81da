"""Sending over SMTP, configured by one URL: smtp://user:pass@host:port (smtps:// for implicit TLS,
smtp://...?starttls=1 to upgrade). file:///path/to/outbox writes .eml files instead (the demo uses it).

The final "." of DATA is the point of no return: once the server has the whole message it may deliver it even
if its answer never reaches us (RFC 1047). `Connection.send` calls `on_handover` just before that dot, so the
caller can record "handed over" first, and raises DeliveryUnknown when the answer is lost after it; a failure
before the dot means the server discarded the message and a re-send cannot duplicate it.
"""

from __future__ import annotations

import os
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

TIMEOUT_SECONDS = 30


class SmtpNotConfigured(RuntimeError):
    pass


class DeliveryUnknown(RuntimeError):
    """The server got the whole message, but its answer was lost: it may or may not deliver it."""


class _HandoverData:
    """smtplib's DATA with a hook just before the terminating dot (the same bytes on the wire)."""

    on_handover: Callable[[], None] | None = None

    def data(self, msg: Any) -> tuple[int, bytes]:
        code, reply = self.docmd("DATA")  # type: ignore[attr-defined]
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        body = re.sub(rb"(?m)^\.", b"..", msg)  # sendmail passes bytes with CRLF line ends
        self.send(body if body.endswith(b"\r\n") else body + b"\r\n")  # type: ignore[attr-defined]
        if self.on_handover is not None:
            try:
                self.on_handover()
            except BaseException:
                self.close()  # no dot, no QUIT inside DATA: the server drops the incomplete message
                raise
        try:
            self.send(b".\r\n")  # type: ignore[attr-defined]
            return self.getreply()  # type: ignore[attr-defined,no-any-return]
        except Exception as exc:  # a lost answer (timeout, reset, the job's own timeout), not a refusal
            self.close()
            raise DeliveryUnknown(f"no answer after the message was handed over: {type(exc).__name__}: {exc}") from exc


class _SMTP(_HandoverData, smtplib.SMTP):
    pass


class _SMTPSSL(_HandoverData, smtplib.SMTP_SSL):
    pass


# Failures of the server rather than of one message: the rest of a batch would fail the same way (and each could
# wait out the timeout), so a batch stops at the first of them and leaves its other messages queued.
UNREACHABLE: tuple[type[BaseException], ...] = (
    SmtpNotConfigured, smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected, smtplib.SMTPAuthenticationError,
    smtplib.SMTPHeloError, ConnectionError, TimeoutError, socket.gaierror, ssl.SSLError,
)  # fmt: skip


class Connection:
    """One SMTP session for many messages (the acknowledgements one batch of inbound mail queued): opened at the
    first send, and opened afresh after any failure, which may leave the session in an unknown state."""

    def __init__(self, smtp_url: str) -> None:
        self.url = smtp_url
        self._client: _SMTP | _SMTPSSL | None = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def send(self, message: EmailMessage, on_handover: Callable[[], None] | None = None) -> None:
        if not self.url:
            raise SmtpNotConfigured("SMTP_URL is not set; outbound mail stays queued")
        url = urlsplit(self.url)
        if url.scheme == "file":
            _write_to_outbox(Path(unquote(url.path)), message, on_handover)
            return
        reused = self._client is not None
        handed: list[bool] = []

        def handover() -> None:
            handed.append(True)
            if on_handover is not None:
                on_handover()

        try:
            self._send(message, handover)
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException) as exc:
            closed = isinstance(exc, smtplib.SMTPServerDisconnected) or exc.smtp_code == 421
            if not (reused and closed) or handed:
                raise
            # A server may end a session after some messages: this one never reached it, so once more, in a new
            # session.
            self._send(message, handover)

    def _send(self, message: EmailMessage, on_handover: Callable[[], None] | None) -> None:
        try:
            client = self._client or self._open()
            client.on_handover = on_handover
            client.send_message(message)
        except BaseException:
            self.close()
            raise

    def _open(self) -> _SMTP | _SMTPSSL:
        url = urlsplit(self.url)
        if url.scheme not in {"smtp", "smtps"}:
            raise SmtpNotConfigured(f"unsupported SMTP_URL scheme {url.scheme!r}")
        host = url.hostname or "localhost"
        secure = url.scheme == "smtps"
        port = url.port or (465 if secure else 25)
        options = parse_qs(url.query)
        context = ssl.create_default_context()
        client: _SMTP | _SMTPSSL = (
            _SMTPSSL(host, port, timeout=TIMEOUT_SECONDS, context=context)
            if secure
            else _SMTP(host, port, timeout=TIMEOUT_SECONDS)
        )
        try:
            if not secure and options.get("starttls", ["0"])[0] in {"1", "true"}:
                client.starttls(context=context)
            if url.username:
                client.login(unquote(url.username), unquote(url.password or ""))
        except BaseException:
            client.close()
            raise
        self._client = client
        return client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.quit()
        except Exception:  # the server went away, or the session was already cut (a lost answer)
            client.close()


def _write_to_outbox(folder: Path, message: EmailMessage, on_handover: Callable[[], None] | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9.@_-]", "_", str(message["Message-ID"] or "message"))[:150]
    partial = folder / f".{name}.eml.tmp"
    partial.write_bytes(message.as_bytes())
    if on_handover is not None:
        on_handover()
    os.replace(partial, folder / f"{name}.eml")  # the rename is the handover: a reader never sees half a file
