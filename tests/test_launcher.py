"""The README's first command: run.py starts Redis, web, worker and scheduler with demo data, and stops cleanly."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import BACKEND

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="the one-command start is the embedded SQLite default")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_until(proc: subprocess.Popen, pattern: str, timeout: float) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
        if re.search(pattern, seen):
            return seen
    raise AssertionError(f"{pattern!r} not seen; output so far:\n{seen}")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_run_starts_everything_and_stops_on_ctrl_c(tmp_path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        REDIS_URL="redis://127.0.0.1:1/0",  # nothing answers there: the launcher must start its own Redis
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}",
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        SMTP_URL=f"file://{tmp_path / 'outbox'}",
        SLA_SWEEP_SECONDS="1",
        PYTHONUNBUFFERED="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "run.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output = read_until(proc, r"Press Ctrl-C", timeout=120)
        assert f"http://127.0.0.1:{port}/" in output
        for role in ("admin", "manager", "agent", "contact"):
            assert re.search(rf"^\s+{role}: \S+@\S+ \S+$", output, re.M), output
        found = re.search(r"embedded Redis \(valkey\) on 127\.0\.0\.1:(\d+)", output)
        assert found, output
        valkey_port = int(found.group(1))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
        # The scheduler enqueues the SLA sweep every second and the worker runs it.
        output += read_until(proc, r"SLA sweep: \{", timeout=60)
        assert port_open(valkey_port)
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest[-3000:]
    assert "[run] stopped" in rest
    assert not port_open(port) and not port_open(valkey_port)
