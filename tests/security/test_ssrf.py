"""SSRF in webhooks: the delivery client never connects to loopback, private, link-local or metadata addresses,
whether the URL names them directly, in disguise, through a DNS name or through a redirect; the admin screen
refuses such a URL when it is saved (exactly 200 with the form's error, and no subscription row). A real loopback
receiver (reachable only through the allow-list) proves that nothing was ever sent where it must not be."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from tests.security.conftest import assert_unchanged, sign_in, snapshot, token_for
from ticketing.models.webhooks import WebhookSubscription
from ticketing.webhook_http import TargetRefused, TransportError, post


class Receiver:
    """A loopback HTTP server counting requests; `redirect_to` makes it answer 302 there."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.redirect_to: str | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.hits.append(self.path)
                self.send_response(302 if receiver.redirect_to else 200)
                if receiver.redirect_to:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


@pytest.fixture(scope="module")
def receiver_pair() -> Iterator[tuple[Receiver, Receiver]]:
    pair = (Receiver(), Receiver())
    yield pair
    for receiver in pair:
        receiver.server.shutdown()
        receiver.server.server_close()


@pytest.fixture
def receivers(receiver_pair: tuple[Receiver, Receiver]) -> tuple[Receiver, Receiver]:
    """(victim, hook): started once per module, wiped clean for each test."""
    for receiver in receiver_pair:
        receiver.hits.clear()
        receiver.redirect_to = None
    return receiver_pair


def fake_dns(mapping: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    """Stands in for getaddrinfo for names that only an attacker's DNS would answer."""

    def resolve(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "unknown host")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in mapping[host]]  # fmt: skip

    return resolve


FORBIDDEN = [  # (URL, the refusal's reason); {port} is the victim receiver's
    ("http://127.0.0.1:{port}/", "loopback"),
    ("http://[::1]:{port}/", "loopback"),
    ("http://localhost:{port}/", "loopback"),  # real DNS
    ("http://127.1:{port}/", None),  # shorthand: not an address here, refused either way
    ("http://0177.0.0.1:{port}/", None),  # octal
    ("http://2130706433:{port}/", None),  # decimal
    ("http://[::ffff:127.0.0.1]:{port}/", "loopback"),
    ("http://0.0.0.0:{port}/", "unspecified"),
    ("http://10.0.0.5/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://169.254.1.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://100.64.0.1/", "not globally routable"),
    ("http://internal.attacker.example/", "private"),  # resolves to 10.0.0.5
    ("http://mixed.attacker.example/", "loopback"),  # one public and one loopback address
    ("http://metadata.attacker.example/", "metadata"),
    ("http://user:pw@93.184.216.34/", "credentials"),
    ("file:///etc/passwd", "only http and https"),
    ("gopher://127.0.0.1:{port}/", "only http and https"),
]
DNS = fake_dns({"internal.attacker.example": ["10.0.0.5"], "mixed.attacker.example": ["93.184.216.34", "127.0.0.1"],
                "metadata.attacker.example": ["169.254.169.254"]})  # fmt: skip


@pytest.mark.parametrize(("url", "reason"), FORBIDDEN, ids=[u for u, _ in FORBIDDEN])
def test_forbidden_targets_are_refused_before_any_connection(receivers, url, reason) -> None:
    victim, _ = receivers
    resolver = DNS if "attacker" in url else socket.getaddrinfo
    with pytest.raises((TargetRefused, TransportError)) as refused:
        post(url.format(port=victim.port), b"{}", {"Content-Type": "application/json"}, resolver=resolver, timeout=2)
    if reason is not None:
        assert isinstance(refused.value, TargetRefused) and reason in str(refused.value)
    assert victim.hits == []


@pytest.mark.parametrize(
    "location",
    ["http://127.0.0.1:{victim}/stolen", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/",
     "http://localhost:{victim}/stolen", "http://[::1]:{victim}/stolen", "//127.0.0.1:{victim}/stolen"],
)  # fmt: skip
def test_a_redirect_to_a_forbidden_address_is_refused(receivers, location) -> None:
    victim, hook = receivers
    hook.redirect_to = location.format(victim=victim.port)
    with pytest.raises(TargetRefused):
        post(f"http://127.0.0.1:{hook.port}/hook", b"{}", {}, allowed=[f"127.0.0.1:{hook.port}"], timeout=2)
    assert hook.hits == ["/hook"] and victim.hits == []


def test_the_allow_list_opens_exactly_one_address_and_port(receivers) -> None:
    victim, hook = receivers
    assert post(f"http://127.0.0.1:{hook.port}/ok", b"{}", {}, allowed=[f"127.0.0.1:{hook.port}"]).status == 200
    with pytest.raises(TargetRefused):
        post(f"http://127.0.0.1:{victim.port}/", b"{}", {}, allowed=[f"127.0.0.1:{hook.port}"])
    with pytest.raises(TargetRefused):
        post("http://169.254.169.254/", b"{}", {}, allowed=["169.254.169.254"])  # metadata: never
    assert victim.hits == []


@pytest.mark.parametrize(
    ("url", "allowed", "message"),
    [
        ("http://127.0.0.1:8080/hook", "", "loopback"),
        ("http://10.1.2.3/hook", "", "private"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "metadata"),
        ("http://[::ffff:10.0.0.1]/", "", "private"),
        ("ftp://example.com/hook", "", "only http and https"),
    ],
)
def test_admin_screen_refuses_a_forbidden_url_and_saves_nothing(client, db, sec, url, allowed, message) -> None:
    sign_in(client, "admin")
    before = snapshot()
    form = {"name": "Exfil", "url": url, "allowed_address": allowed, "enabled": "y",
            "csrf_token": token_for(client, "admin")}  # fmt: skip
    response = client.post("/admin/webhooks/new/", data=form)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert_unchanged(before, f"subscription to {url}")
    assert db.scalar(sa.select(sa.func.count()).select_from(WebhookSubscription)) == 0


def test_admin_screen_keeps_public_urls(client, db, sec) -> None:
    """The control: the same form with a public URL saves (names are resolved and checked again at send time)."""
    sign_in(client, "admin")
    form = {
        "name": "CRM",
        "url": "https://hooks.example.com/x",
        "enabled": "y",
        "csrf_token": token_for(client, "admin"),
    }
    response = client.post("/admin/webhooks/new/", data=form)
    assert response.status_code == 302
    assert db.scalar(sa.select(WebhookSubscription.url)) == "https://hooks.example.com/x"
