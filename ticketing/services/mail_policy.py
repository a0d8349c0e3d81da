"""What the mail services need to know about this installation (built from Config by the edges)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ticketing.services.attachments import AttachmentLimits


@dataclass(frozen=True)
class MailPolicy:
    support_address: str
    token_secret: str
    product_name: str = "Bluehill Support"
    portal_url: str = "http://127.0.0.1:8000"
    # Addresses that are ours: mail from them is our own mail coming back.
    own_addresses: frozenset[str] = frozenset()
    ack_limit_per_hour: int = 5
    attachment_limits: AttachmentLimits = field(default_factory=AttachmentLimits)
    reply_languages: tuple[str, ...] = ("en", "de", "fr", "es", "nl", "it")

    @property
    def message_domain(self) -> str:
        return self.support_address.rpartition("@")[2] or "localhost"

    def is_own(self, address: str) -> bool:
        address = address.lower()
        local, _, domain = address.partition("@")
        base = f"{local.split('+', 1)[0]}@{domain}"  # support+t12-abc@ is still us
        return base in self.own_addresses or base == self.support_address.lower()
