"""The webhook HTTP client: one signed POST, guarded against server-side request forgery, bounded in time and size.

Every hop (the URL, then each redirect) is parsed, its host resolved once with getaddrinfo, and refused if ANY
address is loopback, private, link-local, multicast, reserved, unspecified, shared (CGNAT) or otherwise not
globally routable, or a cloud metadata address - unless the subscription's allow-list names that exact address
(or address:port). The connection then goes to the checked IP itself (never re-resolving the name, so a DNS
rebind between check and connect cannot redirect it), with the Host header and TLS SNI/certificate check on
the original name. Standard library only.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list[tuple[Any, ...]]]

DEFAULT_TIMEOUT = 10.0  # seconds for one request: connect + send + response, all together
MAX_RESPONSE_BYTES = 64 * 1024
MAX_REDIRECTS = 3
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})

# Cloud instance metadata (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba): never allowed, not even by an admin.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class WebhookHTTPError(Exception):
    """A delivery attempt that produced no HTTP response."""


class TargetRefused(WebhookHTTPError):
    """The URL (or a redirect) is not a place we send to: a bad scheme, or a forbidden address."""


class TransportError(WebhookHTTPError):
    """Timeouts, DNS failures, refused connections, TLS errors, broken responses."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes  # at most MAX_RESPONSE_BYTES
    truncated: bool  # the receiver sent more than we read
    url: str  # where the final response came from (after redirects)
    redirects: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


# ---- the address guard ---------------------------------------------------------------------------------


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped ::ffff:a.b.c.d, 6to4, NAT64), which is what it reaches."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why we never connect to this address on our own (None: a public address)."""
    for candidate in (_embedded_ipv4(ip), ip):  # what a wrapped IPv4 reaches explains it best
        if candidate is None:
            continue
        if candidate in METADATA_ADDRESSES:
            return "a cloud metadata address"
        for attribute, reason in (
            ("is_unspecified", "unspecified"),
            ("is_loopback", "loopback"),
            ("is_link_local", "link-local"),
            ("is_multicast", "multicast"),
            ("is_private", "private"),
            ("is_reserved", "reserved"),
        ):
            if getattr(candidate, attribute):
                return reason
        if not candidate.is_global:
            return "not globally routable"
    return None


def parse_allow_list(text: str | None) -> frozenset[str]:
    """'10.0.0.5, 127.0.0.1:8080 [::1]:9000' -> normalised entries ('10.0.0.5', '127.0.0.1:8080', '[::1]:9000')."""
    entries: set[str] = set()
    for raw in (text or "").replace(",", " ").split():
        entries.add(normalise_allow_entry(raw))
    return frozenset(entries)


def normalise_allow_entry(raw: str) -> str:
    """One allow-list entry in canonical form; ValueError when it is not an address or address:port."""
    raw = raw.strip()
    try:
        return str(ipaddress.ip_address(raw.strip("[]")))
    except ValueError:
        pass
    if raw.startswith("["):
        host, sep, port = raw[1:].partition("]:")
    else:
        host, sep, port = raw.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{raw!r} is not an IP address or address:port")
    ip = ipaddress.ip_address(host)
    return f"[{ip}]:{int(port)}" if ip.version == 6 else f"{ip}:{int(port)}"


def is_allowed(ip: IPAddress, port: int, allowed: Iterable[str]) -> bool:
    if ip in METADATA_ADDRESSES or _embedded_ipv4(ip) in METADATA_ADDRESSES:
        return False
    with_port = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
    entries = set(allowed)
    return str(ip) in entries or with_port in entries


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as sent in Host / SNI (IDNA-encoded; an IPv6 literal without brackets)
    port: int
    path: str  # path + query
    addresses: tuple[IPAddress, ...]  # resolved and checked, in getaddrinfo order


@dataclass(frozen=True)
class ParsedURL:
    scheme: str
    host: str  # IDNA-encoded name, or an IP literal without brackets
    port: int
    path: str  # path + query
    literal: IPAddress | None  # the host when it is an IP address


def parse_url(url: str) -> ParsedURL:
    """The URL's shape: http(s), a host, no credentials, a valid port. TargetRefused otherwise."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"malformed URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise TargetRefused(f"only http and https URLs are allowed, not {parts.scheme or 'none'!r}")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("credentials in the URL are not allowed (the signature authenticates us)")
    hostname = parts.hostname
    if not hostname:
        raise TargetRefused("the URL has no host")
    try:
        literal: IPAddress | None = ipaddress.ip_address(hostname)
    except ValueError:
        literal = None
    if literal is not None:
        host = str(literal)
    else:
        try:
            host = hostname.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise TargetRefused(f"invalid host name {hostname!r}") from exc
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return ParsedURL(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path, literal)


def check_addresses(host: str, port: int, addresses: Iterable[IPAddress], allowed: Iterable[str]) -> None:
    """TargetRefused if ANY address is forbidden and not explicitly allowed."""
    allow = frozenset(allowed)
    for ip in addresses:
        reason = forbidden_reason(ip)
        if reason is not None and not is_allowed(ip, port, allow):
            shown = str(ip) if host == str(ip) else f"{host} resolves to {ip}"
            raise TargetRefused(f"{shown}: {reason} addresses are refused (an admin can allow it explicitly)")


def check_target(url: str, allowed: Iterable[str] = (), *, resolver: Resolver = socket.getaddrinfo) -> Target:
    """Parse, resolve and check one URL; TargetRefused when we must not send there."""
    parsed = parse_url(url)
    if parsed.literal is not None:
        addresses: list[IPAddress] = [parsed.literal]
    else:
        addresses = _resolve(parsed.host, parsed.port, resolver)
    check_addresses(parsed.host, parsed.port, addresses, allowed)
    return Target(parsed.scheme, parsed.host, parsed.port, parsed.path, tuple(addresses))


def _resolve(host: str, port: int, resolver: Resolver) -> list[IPAddress]:
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TransportError(f"cannot resolve {host}: {exc}") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])  # drop an IPv6 zone id
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise TransportError(f"{host} has no address")
    return addresses


# ---- connections pinned to the checked address -------------------------------------------------------------


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, ip: IPAddress, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self._ip), self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, ip: IPAddress, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._ip = ip
        self._context = context

    def connect(self) -> None:
        sock = socket.create_connection((str(self._ip), self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # SNI and certificate verification on the name, the TCP connection on the checked address.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


_TLS: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    global _TLS
    if _TLS is None:
        _TLS = ssl.create_default_context()
    return _TLS


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise TransportError("timed out")
        return remaining


def _request_once(
    target: Target, body: bytes, headers: Mapping[str, str], timeout: float, max_bytes: int
) -> tuple[int, bytes, bool, str | None]:
    deadline = _Deadline(timeout)
    last_error: Exception | None = None
    for ip in target.addresses:
        if target.scheme == "https":
            conn: http.client.HTTPConnection = _PinnedHTTPSConnection(target, ip, deadline.left(), _tls_context())
        else:
            conn = _PinnedHTTPConnection(target, ip, deadline.left())
        try:
            try:
                conn.connect()
            except (OSError, ssl.SSLError) as exc:
                last_error = exc
                continue  # the next resolved (and already checked) address
            sock = conn.sock
            conn.request("POST", target.path, body=body, headers=dict(headers))
            sock.settimeout(deadline.left())
            response = conn.getresponse()
            chunks: list[bytes] = []
            size = 0
            while size <= max_bytes and not response.isclosed():
                # The whole request shares one deadline: a receiver trickling bytes cannot hold us longer.
                with contextlib.suppress(OSError):  # the response may already own (and have closed) the socket
                    sock.settimeout(deadline.left())
                chunk = response.read(min(16384, max_bytes + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            data = b"".join(chunks)
            return response.status, data[:max_bytes], size > max_bytes, response.getheader("Location")
        except TimeoutError as exc:
            raise TransportError("timed out") from exc
        except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()
    if isinstance(last_error, TimeoutError):
        raise TransportError(f"connect to {target.host}:{target.port} timed out")
    raise TransportError(f"cannot connect to {target.host}:{target.port}: {last_error}")


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allowed: Iterable[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = MAX_RESPONSE_BYTES,
    max_redirects: int = MAX_REDIRECTS,
    resolver: Resolver = socket.getaddrinfo,
) -> Response:
    """POST `body` to `url`; follow up to `max_redirects` redirects by re-sending the same signed POST to the
    new location after checking it like the first. A 3xx beyond the limit comes back as the response.

    Raises TargetRefused (never retried) or TransportError (retried by the caller's policy).
    """
    allow = frozenset(allowed)
    current = url
    for redirects in range(max_redirects + 1):
        target = check_target(current, allow, resolver=resolver)
        status, data, truncated, location = _request_once(target, body, headers, timeout, max_bytes)
        if status in REDIRECT_CODES and location and redirects < max_redirects:
            current = urljoin(current, location)
            continue
        return Response(status, data, truncated, current, redirects)
    raise TransportError("too many redirects")  # pragma: no cover - the loop always returns
