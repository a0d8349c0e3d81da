"""PostgreSQL unavailable for a few seconds (a TCP proxy in front of it is cut, then restored): pages answer with
a clear 503 page, the HTTP intake refuses (non-2xx) so the sender retries, and everything catches up after."""

from __future__ import annotations

import sqlalchemy as sa

from tests.conftest import IsolatedClient, login_staff
from tests.mail.conftest import email, signature
from ticketing.models import InboundMessage


def test_database_outage_gives_a_clear_503_loses_no_mail_and_recovers(app, db, make, workers, pg_proxy) -> None:
    make.contact(make.customer(domains=("acme.example",)), email="jane@acme.example")
    agent = make.user()
    db.commit()
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(host="127.0.0.1", port=pg_proxy.port)
    web = workers.app_with(SQLALCHEMY_DATABASE_URI=url.render_as_string(hide_password=False), TESTING=False)
    web.test_client_class = IsolatedClient
    client = web.test_client()
    login_staff(client, agent.email, "pw-secret-1")
    raw = email(sender="jane@acme.example", subject="Sent during the outage")
    headers = {"X-Bluehill-Signature": signature(raw)}
    assert client.get("/admin/", follow_redirects=True).status_code == 200  # the pool holds a live connection now

    pg_proxy.cut()
    page = client.get("/admin/", follow_redirects=True)
    text = page.get_data(as_text=True)
    assert page.status_code == 503 and "Temporarily unavailable" in text and "Traceback" not in text
    assert client.get("/healthz").status_code == 503
    refused = client.post("/inbound/email", data=raw, headers=headers)
    assert refused.status_code >= 500 and "Traceback" not in refused.get_data(as_text=True)  # the sender retries
    assert db.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 0

    pg_proxy.restore()  # pool_pre_ping replaces the dead connections
    assert client.get("/admin/", follow_redirects=True).status_code == 200
    assert client.post("/inbound/email", data=raw, headers=headers).status_code == 202  # the sender's retry
    assert db.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 1
