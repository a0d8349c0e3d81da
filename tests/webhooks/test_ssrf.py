"""The SSRF guard: forbidden addresses are refused after DNS and on every redirect, before any connection;
an admin's explicit allow-list lets one address through; time and size are bounded."""

from __future__ import annotations

import ipaddress
import socket
import time

import pytest
import sqlalchemy as sa

from tests.webhooks.conftest import drain
from ticketing import webhook_http
from ticketing.models.webhooks import DeliveryStatus, WebhookAttempt, WebhookDelivery
from ticketing.webhook_http import TargetRefused, TransportError, check_target, forbidden_reason, post

HEADERS = {"Content-Type": "application/json"}


def fake_dns(mapping: dict[str, list[str]], calls: list[str] | None = None):
    def resolve(host, port, *args, **kwargs):
        if calls is not None:
            calls.append(host)
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "unknown host")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in mapping[host]]  # fmt: skip

    return resolve


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{port}/hook", "loopback"),
        ("http://[::1]:{port}/hook", "loopback"),
        ("http://localhost:{port}/hook", "loopback"),  # a name resolving to loopback
        ("http://10.1.2.3/hook", "private"),
        ("http://192.168.1.10/hook", "private"),
        ("http://172.16.0.1/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "metadata"),
        ("http://169.254.10.10/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0:{port}/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://100.64.0.1/", "not globally routable"),  # carrier-grade NAT
        ("http://[::ffff:127.0.0.1]:{port}/", "loopback"),  # IPv4-mapped IPv6
        ("http://[64:ff9b::a00:1]/", "private"),  # NAT64 of 10.0.0.1
        ("http://2130706433:{port}/", None),  # 127.0.0.1 as an integer: not a valid host here, refused either way
    ],
)
def test_forbidden_targets_are_refused_before_connecting(receiver, url, reason) -> None:
    with pytest.raises((TargetRefused, TransportError)) as refused:
        post(url.format(port=receiver.port), b"{}", HEADERS)
    if reason is not None:
        assert isinstance(refused.value, TargetRefused) and reason in str(refused.value)
    assert receiver.receipts == []


NOT_HTTP = ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/", "http://user:pw@example.com/",
            "http:///nohost", "https://example.com:99999/"]  # fmt: skip


@pytest.mark.parametrize("url", NOT_HTTP)
def test_only_plain_http_and_https_urls(url) -> None:
    with pytest.raises(TargetRefused):
        check_target(url, resolver=fake_dns({"example.com": ["93.184.216.34"]}))


def test_a_name_with_any_private_address_is_refused() -> None:
    dns = fake_dns({"hooks.example": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(TargetRefused, match="hooks.example resolves to 10.0.0.7: private"):
        check_target("https://hooks.example/in", resolver=dns)
    target = check_target("https://public.example/in", resolver=fake_dns({"public.example": ["93.184.216.34"]}))
    assert target.addresses == (ipaddress.ip_address("93.184.216.34"),) and target.port == 443


def test_the_allow_list_lets_exactly_the_test_receiver_through(receiver) -> None:
    response = post(receiver.url(), b'{"x":1}', HEADERS, allowed=[receiver.allow])
    assert response.status == 200 and response.ok and response.body == b"status 200"
    assert receiver.receipts[0].body == b'{"x":1}'
    # The bare address allows every port of it...
    assert post(receiver.url(), b"{}", HEADERS, allowed=["127.0.0.1"]).ok
    # ...an address:port entry only that port.
    with pytest.raises(TargetRefused):
        post(f"http://127.0.0.1:{receiver.port + 1 if receiver.port < 65535 else 1}/", b"{}", HEADERS,
             allowed=[receiver.allow])  # fmt: skip
    # 'localhost' also resolves to ::1 on most systems, which is not allowed: refused unless every address is.
    dns = fake_dns({"localhost": ["127.0.0.1", "::1"]})
    with pytest.raises(TargetRefused, match="::1"):
        post(f"http://localhost:{receiver.port}/", b"{}", HEADERS, allowed=[receiver.allow], resolver=dns)


def test_metadata_addresses_can_never_be_allowed() -> None:
    with pytest.raises(TargetRefused, match="metadata"):
        check_target("http://169.254.169.254/latest/", allowed=["169.254.169.254", "169.254.169.254:80"])


def test_allow_list_parsing() -> None:
    assert webhook_http.parse_allow_list(" 10.0.0.5, 127.0.0.1:8080 [::1]:9000  ::1 ") == {
        "10.0.0.5", "127.0.0.1:8080", "[::1]:9000", "::1"}  # fmt: skip
    for bad in ("example.com", "10.0.0.5:http", "10.0.0.999", "[::1]:0"):
        with pytest.raises(ValueError):
            webhook_http.parse_allow_list(bad)


def test_connects_to_the_checked_address_with_the_original_host_header(receiver) -> None:
    """No second lookup between check and connect: a rebinding DNS answer cannot move the request."""
    calls: list[str] = []
    answers = iter([["127.0.0.1"], ["10.9.9.9"]])

    def rebinding(host, port, *args, **kwargs):
        calls.append(host)
        return fake_dns({host: next(answers)})(host, port)

    response = post(f"http://hooks.example:{receiver.port}/in", b"{}", HEADERS, allowed=[receiver.allow],
                    resolver=rebinding)  # fmt: skip
    assert response.ok and calls == ["hooks.example"]
    assert receiver.receipts[0].headers["host"] == f"hooks.example:{receiver.port}"


def test_a_redirect_to_a_forbidden_address_is_refused(receiver) -> None:
    for target in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[::1]:80/",
                   f"http://127.0.0.2:{receiver.port}/", "file:///etc/passwd"):  # fmt: skip
        receiver.receipts.clear()
        with pytest.raises(TargetRefused):
            post(receiver.url(f"/redirect?to={target}"), b"{}", HEADERS, allowed=[receiver.allow])
        assert len(receiver.receipts) == 1  # only the allowed first hop was contacted


def test_redirects_are_followed_with_the_same_post_up_to_three_times(receiver) -> None:
    hop = receiver.url("/final")
    for _ in range(3):
        hop = receiver.url(f"/redirect?to={hop}")
    response = post(hop, b'{"a":1}', HEADERS, allowed=[receiver.allow])
    assert response.ok and response.redirects == 3
    assert [r.body for r in receiver.receipts] == [b'{"a":1}'] * 4
    # One more hop is one too many: the 302 comes back as the (failed) response.
    receiver.receipts.clear()
    response = post(receiver.url(f"/redirect?to={hop}"), b"{}", HEADERS, allowed=[receiver.allow])
    assert response.status == 302 and not response.ok and len(receiver.receipts) == 4


def test_response_size_and_time_are_bounded(receiver) -> None:
    big = post(receiver.url("/big"), b"{}", HEADERS, allowed=[receiver.allow])
    assert big.ok and len(big.body) == webhook_http.MAX_RESPONSE_BYTES and big.truncated
    started = time.monotonic()
    with pytest.raises(TransportError, match="timed out"):
        post(receiver.url("/slow?s=3"), b"{}", HEADERS, allowed=[receiver.allow], timeout=0.5)
    assert time.monotonic() - started < 2


def test_unresolvable_and_closed_ports_are_transport_errors(receiver) -> None:
    with pytest.raises(TransportError, match="cannot resolve"):
        post("http://nowhere.invalid/", b"{}", HEADERS, resolver=fake_dns({}))
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError):
        post(f"http://127.0.0.1:{port}/", b"{}", HEADERS, allowed=["127.0.0.1"])


def test_forbidden_reason_looks_inside_ipv6_wrappers() -> None:
    assert forbidden_reason(ipaddress.ip_address("::ffff:10.0.0.1")) == "private"
    assert forbidden_reason(ipaddress.ip_address("2002:7f00:1::")) == "loopback"  # 6to4 of 127.0.0.1
    assert forbidden_reason(ipaddress.ip_address("::ffff:169.254.169.254")) == "a cloud metadata address"
    assert forbidden_reason(ipaddress.ip_address("93.184.216.34")) is None
    assert forbidden_reason(ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946")) is None


def test_a_refused_target_fails_the_delivery_at_once(db, make, now, subscribe, receiver, redis_url) -> None:
    subscribe(url="http://169.254.169.254/latest/meta-data/", allowed_address=None, event_types=["ticket.created"])
    make.ticket(now=now)
    db.commit()
    drain(redis_url, now=now)
    [delivery] = db.scalars(sa.select(WebhookDelivery)).all()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1  # not retried
    [attempt] = db.scalars(sa.select(WebhookAttempt)).all()
    assert attempt.success is False and "refused" in attempt.error and "metadata" in attempt.error
    assert delivery.next_attempt_at is None and receiver.receipts == []


@pytest.fixture
def tls_receiver(tmp_path):
    """An HTTPS server on loopback with a self-signed certificate for hooks.example; records SNI and Host."""
    import shutil
    import ssl
    import subprocess
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=hooks.example", "-addext", "subjectAltName=DNS:hooks.example", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)  # fmt: skip
    seen: list[tuple[str | None, str]] = []
    names: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append((names[-1] if names else None, self.headers["Host"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1], cert, seen
    server.shutdown()
    server.server_close()


def test_https_checks_the_name_certificate_on_the_checked_address(tls_receiver, monkeypatch) -> None:
    import ssl

    port, cert, seen = tls_receiver
    dns = fake_dns({"hooks.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
    allow = [f"127.0.0.1:{port}"]
    # The system trust store does not know our self-signed certificate: verification is on.
    with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
        post(f"https://hooks.example:{port}/in", b"{}", HEADERS, allowed=allow, resolver=dns)
    trusting = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(webhook_http, "_TLS", trusting)
    assert post(f"https://hooks.example:{port}/in", b"{}", HEADERS, allowed=allow, resolver=dns).ok
    assert seen[-1] == ("hooks.example", f"hooks.example:{port}")  # SNI and Host carry the name, not the IP
    # Same address, another name: the certificate does not match it.
    with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED|hostname"):
        post(f"https://other.example:{port}/in", b"{}", HEADERS, allowed=allow, resolver=dns)
