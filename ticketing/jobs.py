"""RQ entry points: plain importable functions that take ids, run a service and commit.

They run inside the app context that worker.py pushes once per worker process.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from rq import Retry, get_current_job
from rq.job import Job, JobStatus
from rq.timeouts import BaseTimeoutException

from ticketing.domain.lifecycle import Status
from ticketing.extensions import attachment_store, db, inbound_queue, mail_policy, queue, worker_queues
from ticketing.mail import smtp
from ticketing.models import InboundMessage, InboundStatus, OutboundMessage, OutboundStatus, Ticket, utcnow
from ticketing.services import mail_inbound, mail_outbound, sla_sweep, sms

log = logging.getLogger(__name__)


def run_sla_sweep() -> dict[str, int]:
    """Stamp breaches and warnings; safe to run twice or concurrently (every stamp is guarded)."""
    warn = timedelta(minutes=current_app.config["SLA_WARNING_MINUTES"])
    result = sla_sweep.sweep(db.session, now=utcnow(), warn_before=warn)
    db.session.commit()
    counts = {
        "resolution_breached": len(result.resolution_breached),
        "first_response_breached": len(result.first_response_breached),
        "warned": len(result.warned),
    }
    log.info("SLA sweep: %s", counts)
    return counts


def process_inbound(inbound_id: int) -> str | None:
    """Thread one stored email onto its ticket. Exactly once: the row is locked and marked in one commit."""
    try:
        outcome = mail_inbound.process_inbound(
            db.session, inbound_id, policy=mail_policy(), store=attachment_store(), now=utcnow()
        )
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        job = get_current_job()
        final = job is None or not job.retries_left
        mail_inbound.record_failure(db.session, inbound_id, f"{type(exc).__name__}: {exc}", final=final)
        db.session.commit()
        raise
    return outcome.text if outcome else None


def process_inbound_batch(inbound_ids: list[int]) -> list[str | None]:
    """Thread many stored emails in ONE transaction: one commit, one webhook-outbox check and one enqueue for
    the lot, which is most of the cost of a message. If any of them fails, the batch is rolled back and each
    message is processed on its own, so one broken message never holds up the others; the job then fails and
    its retry finds only the messages still unprocessed."""
    if len(inbound_ids) == 1:
        return [process_inbound(inbound_ids[0])]
    policy, store = mail_policy(), attachment_store()
    try:
        outcomes = mail_inbound.process_batch(db.session, inbound_ids, policy=policy, store=store, now=utcnow())
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.warning("a batch of %d emails failed; processing them one by one", len(inbound_ids), exc_info=True)
    else:
        return [outcome.text if outcome else None for outcome in outcomes]
    results: list[str | None] = []
    first_error: Exception | None = None
    for inbound_id in inbound_ids:
        try:
            results.append(process_inbound(inbound_id))  # records its own failure on the message
        except Exception as exc:
            first_error = first_error or exc
            results.append(None)
    if first_error is not None:
        raise first_error
    return results


def send_outbound(outbound_id: int) -> str:
    """Send one queued email over SMTP, in its own session; a failure is raised as it came."""
    (outcome,) = _send_each([outbound_id])
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def send_outbound_batch(outbound_ids: list[int]) -> list[str]:
    """The emails one transaction queued (the acknowledgements of a batch of inbound mail): one job and one SMTP
    session for them all. A message that fails is kept with its error and queued again; the job then fails, and
    its retry finds only the messages still queued. A server that can't be reached stops the batch: the messages
    after it are queued again untried (the recovery sweep re-queues them should the retries run out)."""
    outcomes = _send_each(outbound_ids)
    failures = [f"#{i}: {type(o).__name__}: {o}" for i, o in zip(outbound_ids, outcomes, strict=True)
                if isinstance(o, Exception) and not isinstance(o, BatchStopped)]  # fmt: skip
    stopped = [o for o in outcomes if isinstance(o, BatchStopped)]
    if failures or stopped:
        parts = [f"{len(failures)} failed: " + "; ".join(failures)] if failures else []
        parts += [f"{len(stopped)} not tried, queued again ({stopped[0]})"] if stopped else []
        raise SendFailed(f"{len(failures) + len(stopped)} of {len(outbound_ids)} emails not sent: " + "; ".join(parts))
    return [o if isinstance(o, str) else "failed" for o in outcomes]


class SendFailed(RuntimeError):
    pass


# A batch stops sending after this long and leaves the rest queued for its retry: well inside the job's timeout
# (300 s) and the sending lease (recover_stuck_work's 600 s), after which a claimed row may be sent by another job.
SEND_BATCH_SECONDS = 240


class BatchStopped(RuntimeError):
    """The rest of a batch was put back in the queue, untried."""


def _send_each(outbound_ids: list[int]) -> list[str | Exception]:
    """Claimed together and committed first; then each is "handed over", committed just before its final dot, so
    a worker dying at any point leaves rows that say whether a re-send could duplicate them. The batch stops at a
    server it cannot reach, at the job's timeout and after SEND_BATCH_SECONDS; whatever it did not try, on any
    way out, is queued again untried."""
    session = db.session()
    started = time.monotonic()
    claimed = mail_outbound.claim(session, outbound_ids, now=utcnow())
    # The claimed rows are this job's alone while it holds them (nothing else touches a SENDING row before its
    # lease runs out, and the batch stops well before): no need to read each again after every commit.
    session.expire_on_commit = False
    untried = dict(claimed)
    outcomes: list[str | Exception] = []
    try:
        session.commit()
        with smtp.Connection(current_app.config["SMTP_URL"]) as connection:
            for outbound_id in outbound_ids:
                outbound = untried.pop(outbound_id, None)
                if outbound is None:
                    outcomes.append("nothing to send")
                    continue
                if time.monotonic() - started > SEND_BATCH_SECONDS:
                    untried[outbound_id] = outbound
                    raise BatchStopped(f"the batch ran for over {SEND_BATCH_SECONDS} s")
                try:
                    outcomes.append(_send(outbound, connection))
                except Exception as exc:
                    outcomes.append(exc)
                    if isinstance(exc, (*smtp.UNREACHABLE, BaseTimeoutException)):
                        raise BatchStopped(f"{type(exc).__name__}: {exc}") from exc
    except BatchStopped as stop:
        outcomes.extend(stop for _ in outbound_ids[len(outcomes) :])
    finally:
        session.expire_on_commit = True
        if untried:
            _put_back(list(untried))
    return outcomes


def _put_back(ids: list[int]) -> None:
    try:
        db.session.rollback()
        mail_outbound.unclaim(db.session, ids)
        db.session.commit()
    except Exception:  # the database is gone too: the rows stay claimed until the lease runs out, then are re-sent
        log.exception("could not put %d claimed emails back in the queue", len(ids))
        db.session.rollback()


def _send(outbound: OutboundMessage, connection: smtp.Connection) -> str:
    def handover() -> None:
        mail_outbound.handed_over(outbound)
        db.session.commit()

    try:
        # Inside: a file gone from the store fails the attempt (kept with its error, retried), not the claim.
        files = mail_outbound.files_of(db.session, outbound, attachment_store())
        message = mail_outbound.build_email(outbound, product_name=current_app.config["PRODUCT_NAME"], files=files)
        connection.send(message, on_handover=handover)
    except smtp.DeliveryUnknown as exc:
        db.session.rollback()
        mail_outbound.mark_unknown(outbound, str(exc))
        db.session.commit()
        log.warning("outbound %s: %s", outbound.id, exc)
        return "unconfirmed: not re-sent"
    except Exception as exc:
        db.session.rollback()
        job = get_current_job()
        mail_outbound.mark_failed(outbound, f"{type(exc).__name__}: {exc}", final=job is None or not job.retries_left)
        db.session.commit()
        raise
    mail_outbound.mark_sent(outbound, now=utcnow())
    db.session.commit()
    return f"sent to {outbound.to_address}"


def notify_status(ticket_id: int, status: str) -> str | None:
    """The resolved notice. Now queued in the resolving transaction (ticketing.notifications); this job stays for
    jobs queued by an older release, and is harmless next to it (one notice per occasion)."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None or status != Status.RESOLVED or ticket.status != Status.RESOLVED:
        return None
    queued = mail_outbound.queue_resolved_notice(db.session, ticket, policy=mail_policy(), now=utcnow())
    db.session.commit()
    return queued.message_id if queued else None


def acknowledge_ticket(ticket_id: int) -> str | None:
    """'We received your request'. Now queued in the creating transaction (ticketing.notifications); this job
    stays for jobs queued by an older release, and is harmless next to it (one acknowledgement per ticket)."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    queued = mail_outbound.queue_acknowledgement(db.session, ticket, policy=mail_policy(), now=utcnow())
    db.session.commit()
    return queued.message_id if queued else None


def recover_stuck_work(older_than_seconds: int = 120, sending_lease_seconds: int = 600) -> dict[str, int]:
    """Re-enqueue mail and SMS whose job was lost (Redis restarted, a worker killed mid-job, enqueue failed).

    A send whose worker died before the handover is queued again once its lease ran out (longer than the send
    job's timeout, so a live worker is never overtaken); one that died after it stays UNCONFIRMED. An SMS whose
    worker died during the provider call is marked failed with that reason, not sent twice."""
    now = utcnow()
    cutoff = now - timedelta(seconds=older_than_seconds)
    inbound = db.session.scalars(
        sa.select(InboundMessage.id).where(
            InboundMessage.status == InboundStatus.RECEIVED, InboundMessage.received_at < cutoff
        )
    ).all()
    lease = timedelta(seconds=sending_lease_seconds)
    released = mail_outbound.release_abandoned(db.session, started_before=now - lease)
    db.session.commit()
    outbound = db.session.scalars(
        sa.select(OutboundMessage.id).where(
            OutboundMessage.status == OutboundStatus.QUEUED,
            sa.or_(OutboundMessage.created_at < cutoff, OutboundMessage.id.in_(released or [0])),
        )
    ).all()
    texts, unknown = sms.recover(db.session, now=now, queued_before=cutoff, lease=lease)
    db.session.commit()
    q, q_inbound = queue(), inbound_queue()
    for inbound_id in inbound:
        q_inbound.enqueue(process_inbound, inbound_id, job_id=f"recover-inbound-{inbound_id}",
                          retry=Retry(max=3, interval=60))  # fmt: skip
    for outbound_id in outbound:
        q.enqueue(send_outbound, outbound_id, job_id=f"recover-outbound-{outbound_id}", retry=Retry(max=3, interval=60))
    for interaction_id in texts:
        q.enqueue(send_sms, interaction_id, job_id=f"recover-sms-{interaction_id}", retry=Retry(max=3, interval=60))
    return {"inbound": len(inbound), "outbound": len(outbound), "released": len(released), "sms": len(texts),
            "sms_unknown": unknown}  # fmt: skip


def requeue_abandoned_jobs(now: float | None = None) -> dict[str, int]:
    """The stuck-job sweeper: a started job whose worker died (killed, OOM, machine gone) stays in RQ's started
    registry until its timeout + 60 s ran out; then it is retried if it has retries left, else marked failed.
    Workers do this only every 10 minutes, the cron every minute. `now` (a Unix time) is for tests."""
    expired: list[str] = []
    retried = 0
    for q in worker_queues():
        registry = q.started_job_registry
        dead = registry.get_expired_job_ids(now)
        registry.cleanup(timestamp=now)
        expired += dead
        retried += sum(
            job is not None and job.get_status() in {JobStatus.QUEUED, JobStatus.SCHEDULED}
            for job in Job.fetch_many(dead, connection=q.connection)
        )
    if expired:
        log.warning("abandoned jobs (their worker died): %s; %d retried", expired, retried)
    return {"abandoned": len(expired), "retried": retried}


def poll_mailboxes() -> dict[str, int]:
    """Fetch new mail from every active IMAP mailbox; a message is flagged only after its bytes are committed."""
    from ticketing.mail import imap

    return imap.poll_all(db.session)


def send_sms(interaction_id: int) -> str:
    """Send a queued SMS through the provider; the customer sees it only once the provider accepted it. The row is
    claimed (SENDING, committed) before the call, so a second job for it sends nothing."""
    from ticketing import sms_http
    from ticketing.services import sms

    entry = sms.claim(db.session, interaction_id, now=utcnow())
    db.session.commit()
    if entry is None:
        return "nothing to send"
    provider = sms.active_provider(db.session)
    if provider is None:
        sms.mark_failed(entry, error="no SMS provider configured")
        db.session.commit()
        return "failed: no provider"
    try:
        provider_id = sms_http.send(provider, to=(entry.meta or {}).get("to", ""), body=entry.body_text)
    except Exception as exc:
        db.session.rollback()
        job = get_current_job()
        sms.release(entry, error=f"{type(exc).__name__}: {exc}", final=job is None or not job.retries_left)
        db.session.commit()
        raise
    sms.mark_sent(entry, provider_id=provider_id, now=utcnow())
    db.session.commit()
    return f"sent {provider_id}"
