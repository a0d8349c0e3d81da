"""The production set-up in miniature: gunicorn web processes and RQ workers as real subprocesses, each in its own
session so that a process group kill takes down everything it forked (gunicorn's workers, RQ's scheduler)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def migrate(env: dict[str, str]) -> None:
    """`flask db upgrade`, as a release phase runs it."""
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "ticketing.app", "db", "upgrade"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


@dataclass
class ProcessGroup:
    env: dict[str, str]
    logs: Path
    started: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = field(default_factory=list)

    def start(self, name: str, *argv: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=self.env, start_new_session=True,
                                   stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        self.started.append((name, process, log))
        return process

    def web(self, name: str, port: int, threads: int = 2) -> str:
        self.start(name, "-m", "gunicorn", "--workers", "1", "--threads", str(threads), "--bind",
                   f"127.0.0.1:{port}", "--graceful-timeout", "2", "ticketing.wsgi:app")  # fmt: skip
        return f"http://127.0.0.1:{port}"

    def wait_healthy(self, base: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        return
            assert time.monotonic() < deadline, f"{base} never became healthy:\n{self.tail()}"
            time.sleep(0.1)

    def check_alive(self) -> None:
        dead = [name for name, process, _ in self.started if process.poll() is not None]
        assert not dead, f"exited early: {dead}\n{self.tail()}"

    def tail(self, chars: int = 2000) -> str:
        return "\n".join(f"--- {name}\n{(self.logs / f'{name}.log').read_text(errors='replace')[-chars:]}"
                         for name, _, _ in self.started)  # fmt: skip

    def stop(self) -> None:
        """SIGTERM to every group (gunicorn and RQ shut down cleanly), SIGKILL to whatever is left."""
        for _, process, _ in self.started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for _, process, log in self.started:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # RQ's forked scheduler, a stuck gunicorn worker
            process.wait(timeout=10)
            log.close()
