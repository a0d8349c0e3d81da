"""Who else has a ticket open (or is typing a reply): short-lived marks in Redis shared by every web process."""

from __future__ import annotations

import json
import time

from redis import Redis
from redis.client import Pipeline

TTL_SECONDS = 30


def _key(ticket_id: int) -> str:
    return f"presence:ticket:{ticket_id}"


def mark(conn: Redis, ticket_id: int, user_id: int, name: str, state: str) -> None:
    with conn.pipeline(transaction=False) as pipe:
        _mark(pipe, ticket_id, user_id, name, state)
        pipe.execute()


def visit(conn: Redis, ticket_id: int, user_id: int, name: str, state: str) -> list[dict[str, str]]:
    """Mark this user on the ticket and read who else is there: one round trip (a pipeline) instead of two."""
    with conn.pipeline(transaction=False) as pipe:
        _mark(pipe, ticket_id, user_id, name, state)
        pipe.hgetall(_key(ticket_id))
        *_, entries = pipe.execute()
    return _others(entries, user_id)


def others(conn: Redis, ticket_id: int, user_id: int) -> list[dict[str, str]]:
    return _others(conn.hgetall(_key(ticket_id)), user_id)


def _mark(pipe: Pipeline, ticket_id: int, user_id: int, name: str, state: str) -> None:
    key = _key(ticket_id)
    pipe.hset(key, str(user_id), json.dumps({"name": name, "state": state, "at": time.time()}))
    pipe.expire(key, TTL_SECONDS * 2)


def _others(entries: dict[bytes, bytes], user_id: int) -> list[dict[str, str]]:
    now, me = time.time(), str(user_id).encode()
    seen = []
    for uid, raw in entries.items():
        entry = json.loads(raw)
        if uid != me and now - float(entry["at"]) < TTL_SECONDS:
            seen.append({"name": entry["name"], "state": entry["state"]})
    return sorted(seen, key=lambda e: e["name"])
