"""Browser tests: Playwright drives Debian's chromium (never a downloaded browser) against a live server.

The live server serves the SAME session `app` as the rest of the suite, so a test's `db` session and the server share
one database: commit before the browser acts. The server's requests run in their own threads and contexts. A second,
tiny HTTP server on another origin (127.0.0.2) hosts the pages that embed the intake form in a frame.
"""

from __future__ import annotations

import struct
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.portal.conftest import PASSWORD, world  # noqa: F401  (the portal's two-customer world, reused as is)
from ticketing.demo import DEMO_FORMS
from ticketing.extensions import limiter
from ticketing.models import IntakeForm

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
LIVE_POLL_MS = 500
ACTION_TIMEOUT_MS = 10_000
HOST_IP = "127.0.0.2"  # another origin (and another site) than the portal's 127.0.0.1


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch options, on Debian's chromium: `playwright install` must never run here."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@dataclass
class LiveServer:
    url: str
    errors: list[str] = field(default_factory=list)  # 5xx answers and exceptions, checked after every test
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until no request is being handled (a last poll must not race the tables being emptied)."""
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)


@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[LiveServer]:
    server_info = LiveServer(url="")

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        where = f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO')}?{environ.get('QUERY_STRING', '')}"

        def recording_start_response(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            if status.startswith("5"):
                server_info.errors.append(f"{where} answered {status}")
            return start_response(status, headers, *exc_info)

        with server_info.lock:
            server_info.in_flight += 1
        try:
            return app(environ, recording_start_response)
        except Exception:
            server_info.errors.append(f"{where} raised:\n{traceback.format_exc()}")
            raise
        finally:
            with server_info.lock:
                server_info.in_flight -= 1

    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    server_info.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="live-portal", daemon=True)
    thread.start()
    yield server_info
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="session")
def base_url(live_server: LiveServer) -> str:
    """pytest-base-url's fixture: every browser context resolves page.goto("/login") against the live server."""
    return live_server.url


class HostSite:
    """A customer's own website on another origin: serves the HTML pages a test publishes."""

    def __init__(self) -> None:
        pages: dict[str, str] = {}
        self.pages = pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                body = pages.get(self.path.split("?")[0])
                payload = (body or "not found").encode()
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST_IP, 0), Handler)
        self.origin = f"http://{HOST_IP}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"host-{self.origin}", daemon=True)
        self.thread.start()

    def publish(self, path: str, html: str) -> str:
        self.pages[path] = html
        return self.origin + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def allowed_site() -> Iterator[HostSite]:
    """The origin the "Report a bug" form lists in allowed_origins."""
    site = HostSite()
    yield site
    site.close()


@pytest.fixture(scope="session")
def foreign_site() -> Iterator[HostSite]:
    """Another origin, not in allowed_origins (another port: another origin)."""
    site = HostSite()
    yield site
    site.close()


@pytest.fixture
def portal(
    app: Flask, db: Any, live_server: LiveServer, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    """A clean live portal for one test: fast polls, an empty Redis (rate limits, queued acknowledgement jobs),
    and no server error allowed."""
    monkeypatch.setitem(app.config, "LIVE_POLL_MS", LIVE_POLL_MS)
    limiter.reset()  # every test signs in; per-account sign-in limits must not carry over
    live_server.errors.clear()
    yield live_server
    live_server.wait_idle()
    errors, live_server.errors[:] = list(live_server.errors), []
    assert not errors, "the live server failed:\n" + "\n".join(errors)


@pytest.fixture
def new_context(portal: LiveServer, new_context: Any) -> Any:
    """pytest-playwright's contexts, always opened after (and closed before) the live portal fixture: the browser
    stops polling before the tables are emptied, whatever order a test lists its fixtures in."""

    def make(**kwargs: Any) -> Any:
        context = new_context(**kwargs)
        context.set_default_timeout(ACTION_TIMEOUT_MS)  # a local server: 30 s waits only slow down a failure
        return context

    return make


@pytest.fixture
def bug_form(db: Any, make: Any, allowed_site: HostSite) -> IntakeForm:
    """The demo "Report a bug" form, embeddable on the allowed site only."""
    spec = DEMO_FORMS[0]
    form = IntakeForm(slug=spec["slug"], name=spec["name"], description=spec["description"], fields=spec["fields"],
                      team=make.team("Integrations"), priority=spec["priority"], tags=spec["tags"], public=True,
                      allowed_origins=f"{allowed_site.origin} https://www.customer-site.example")  # fmt: skip
    db.add(form)
    db.commit()
    return form


@pytest.fixture(scope="session")
def screenshots(output_dir: Path) -> Path:
    path = output_dir / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def png_bytes(width: int = 24, height: int = 16) -> bytes:
    """A small valid PNG (a red rectangle)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xd0\x30\x30" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


__all__ = ["PASSWORD", "png_bytes"]
