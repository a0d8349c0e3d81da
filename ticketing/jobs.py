"""RQ entry points: plain importable functions that take ids, run a service and commit.

They run inside the app context that worker.py pushes once per worker process.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app

from ticketing.extensions import db
from ticketing.models import utcnow
from ticketing.services import sla_sweep

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
