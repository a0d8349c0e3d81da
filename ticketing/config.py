"""Every setting, read from the environment in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    # An exported-but-empty variable (common in CI) means "use the default".
    return os.environ.get(name) or default


def _env_int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


def default_sqlite_url() -> str:
    return f"sqlite:///{PROJECT_ROOT / 'var' / 'ticketing.db'}"


@dataclass
class Config:
    SECRET_KEY: str = field(default_factory=lambda: _env("SECRET_KEY", "dev-only-change-me"))
    SQLALCHEMY_DATABASE_URI: str = field(default_factory=lambda: _env("DATABASE_URL", default_sqlite_url()))
    REDIS_URL: str = field(default_factory=lambda: _env("REDIS_URL", "redis://127.0.0.1:6379/0"))
    # Rate-limit counters live in Redis so that every web process shares them.
    RATELIMIT_STORAGE_URI: str = field(default_factory=lambda: _env("RATELIMIT_STORAGE_URI", ""))
    # A Redis outage must not lock everybody out: limits are skipped (and logged) while it is down.
    RATELIMIT_SWALLOW_ERRORS: bool = True
    RATELIMIT_HEADERS_ENABLED: bool = True
    # Reverse proxies in front of gunicorn whose X-Forwarded-For/-Proto/-Host are trusted (0: none). Rate limits key on
    # the client's address: behind a proxy without this, every client shares the proxy's address and one limit.
    TRUSTED_PROXY_COUNT: int = field(default_factory=lambda: _env_int("TRUSTED_PROXY_COUNT", 0))
    # Live updates: how often an open portal page asks "anything new?" (milliseconds).
    LIVE_POLL_MS: int = field(default_factory=lambda: _env_int("LIVE_POLL_MS", 3000))
    SMTP_URL: str = field(default_factory=lambda: _env("SMTP_URL", ""))
    # The support address customers write to; replies come from it (plus-addressed Reply-To for threading).
    MAIL_FROM: str = field(default_factory=lambda: _env("MAIL_FROM", "support@bluehill.test"))
    PRODUCT_NAME: str = field(default_factory=lambda: _env("PRODUCT_NAME", "Bluehill Support"))
    # Shared secret of the HTTP raw-MIME intake (HMAC-SHA256 of the body); intake is refused while unset.
    INBOUND_SECRET: str = field(default_factory=lambda: _env("INBOUND_SECRET", ""))
    INBOUND_MAX_BYTES: int = field(default_factory=lambda: _env_int("INBOUND_MAX_BYTES", 40 * 1024 * 1024))
    # Any request body above this is refused with 413 before a view reads it.
    MAX_CONTENT_LENGTH: int = field(
        default_factory=lambda: _env_int("INBOUND_MAX_BYTES", 40 * 1024 * 1024) + 1024 * 1024
    )
    ATTACHMENT_MAX_BYTES: int = field(default_factory=lambda: _env_int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024))
    ATTACHMENT_MAX_COUNT: int = field(default_factory=lambda: _env_int("ATTACHMENT_MAX_COUNT", 20))
    ACK_LIMIT_PER_HOUR: int = field(default_factory=lambda: _env_int("ACK_LIMIT_PER_HOUR", 5))
    # How long a process reuses its mail policy (branding, mailboxes, limits) before reading it again.
    MAIL_POLICY_TTL_SECONDS: float = 30.0
    IMAP_POLL_SECONDS: int = field(default_factory=lambda: _env_int("IMAP_POLL_SECONDS", 60))
    BASE_URL: str = field(default_factory=lambda: _env("BASE_URL", "http://127.0.0.1:8000"))
    ATTACHMENT_DIR: str = field(
        default_factory=lambda: _env("ATTACHMENT_DIR", str(PROJECT_ROOT / "var" / "attachments"))
    )
    RQ_QUEUE: str = field(default_factory=lambda: _env("RQ_QUEUE", "default"))
    # How long before a breach the sweep emits sla.warning.
    SLA_WARNING_MINUTES: int = field(default_factory=lambda: _env_int("SLA_WARNING_MINUTES", 60))
    SLA_SWEEP_SECONDS: int = field(default_factory=lambda: _env_int("SLA_SWEEP_SECONDS", 60))
    SESSION_COOKIE_HTTPONLY: bool = True
    SESSION_COOKIE_SAMESITE: str = "Lax"
    SESSION_COOKIE_SECURE: bool = field(default_factory=lambda: _env("COOKIE_SECURE", "0") == "1")
    REMEMBER_COOKIE_HTTPONLY: bool = True
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, object] = field(default_factory=lambda: {"pool_pre_ping": True})
    WTF_CSRF_TIME_LIMIT: int | None = None
    TESTING: bool = False

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)
