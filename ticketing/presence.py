"""Who else has a ticket open (or is typing a reply): short-lived marks in Redis shared by every web process."""

from __future__ import annotations

import json
import time

from redis import Redis

TTL_SECONDS = 30


def _key(ticket_id: int) -> str:
    return f"presence:ticket:{ticket_id}"


def mark(conn: Redis, ticket_id: int, user_id: int, name: str, state: str) -> None:
    key = _key(ticket_id)
    with conn.pipeline() as pipe:
        pipe.hset(key, str(user_id), json.dumps({"name": name, "state": state, "at": time.time()}))
        pipe.expire(key, TTL_SECONDS * 2)
        pipe.execute()


def others(conn: Redis, ticket_id: int, user_id: int) -> list[dict[str, str]]:
    now = time.time()
    seen = []
    for uid, raw in conn.hgetall(_key(ticket_id)).items():
        entry = json.loads(raw)
        if uid.decode() != str(user_id) and now - float(entry["at"]) < TTL_SECONDS:
            seen.append({"name": entry["name"], "state": entry["state"]})
    return sorted(seen, key=lambda e: e["name"])
