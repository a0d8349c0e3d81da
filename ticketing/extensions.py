"""Unbound extensions; ticketing.app binds them to an app."""

from __future__ import annotations

import hashlib
import hmac
import time

import sqlalchemy as sa
from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from redis import Redis
from rq import Queue

from ticketing import postgres_tuning, sqlite_tuning  # noqa: F401 - per-connection settings (see each module)
from ticketing.models.base import Base
from ticketing.services import branding
from ticketing.services.attachments import AttachmentLimits
from ticketing.services.mail_policy import MailPolicy
from ticketing.storage import AttachmentStore

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# Counters live in Redis (RATELIMIT_STORAGE_URI, defaulting to REDIS_URL) so every web process shares them.
limiter = Limiter(key_func=get_remote_address, default_limits=[], strategy="moving-window")


def redis_conn() -> Redis:
    """One client per app (it pools its own connections)."""
    conn = current_app.extensions.get("ticketing_redis")
    if conn is None:
        conn = Redis.from_url(current_app.config["REDIS_URL"])
        current_app.extensions["ticketing_redis"] = conn
    return conn


def queue() -> Queue:
    return Queue(current_app.config["RQ_QUEUE"], connection=redis_conn())


# Inbound mail has a queue of its own that workers take first: it is what opens and updates tickets, so agents see
# a customer's email (and its SLA clock starts) as soon as a worker is free, and the acknowledgements, notices and
# webhooks it causes follow it instead of standing between the messages of a burst. Other work waits only while
# inbound processing is queued; in one queue it waited for the processing queued before it all the same.
INBOUND_JOBS = frozenset({"ticketing.jobs.process_inbound_batch", "ticketing.jobs.process_inbound"})


def inbound_queue() -> Queue:
    return Queue(inbound_queue_name(current_app.config["RQ_QUEUE"]), connection=redis_conn())


def inbound_queue_name(queue_name: str) -> str:
    return f"{queue_name}-inbound"


def queue_for(func_path: str) -> Queue:
    return inbound_queue() if func_path in INBOUND_JOBS else queue()


def worker_queues() -> list[Queue]:
    """The queues a worker listens to, in the order it takes work from them."""
    return [inbound_queue(), queue()]


def attachment_store() -> AttachmentStore:
    return AttachmentStore(current_app.config["ATTACHMENT_DIR"])


def mail_policy() -> MailPolicy:
    """Built from config, branding and mailboxes; kept per process for a few seconds (every email job needs it,
    and an admin's change to the brand or mailboxes may take that long to apply)."""
    cached = current_app.extensions.get("ticketing_mail_policy")
    if cached is not None and time.monotonic() - cached[0] < current_app.config["MAIL_POLICY_TTL_SECONDS"]:
        return cached[1]  # type: ignore[no-any-return]
    policy = _build_mail_policy()
    current_app.extensions["ticketing_mail_policy"] = (time.monotonic(), policy)
    return policy


def _build_mail_policy() -> MailPolicy:
    config = current_app.config
    from ticketing.models import Mailbox

    own = frozenset(a.lower() for a in db.session.scalars(sa.select(Mailbox.address)))
    brand = branding.current(db.session())
    return MailPolicy(
        support_address=brand.support_address or config["MAIL_FROM"],
        # A purpose-derived key: leaking a reply token never reveals the session secret.
        token_secret=hmac.new(config["SECRET_KEY"].encode(), b"mail-token", hashlib.sha256).hexdigest(),
        product_name=brand.product_name or config["PRODUCT_NAME"],
        portal_url=config["BASE_URL"],
        own_addresses=own | {config["MAIL_FROM"].lower()},
        ack_limit_per_hour=config["ACK_LIMIT_PER_HOUR"],
        attachment_limits=AttachmentLimits(
            max_bytes=config["ATTACHMENT_MAX_BYTES"], max_count=config["ATTACHMENT_MAX_COUNT"]
        ),
    )
