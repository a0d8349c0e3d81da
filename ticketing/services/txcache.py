"""Per-transaction memo for reference rows (SLA policies, routing rules): a worker's batch of a hundred emails reads
them once, not a hundred times. An entry is forgotten at every commit and rollback, and as soon as the session holds a
change to one of the classes it was read from, so it never hides a change, even one made in the same transaction."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ticketing.models.base import flushing_for, holds_changes

T = TypeVar("T")
_KEY = "ticketing_txcache"


def memo(session: Session, key: Hashable, load: Callable[[], T], *, depends_on: tuple[type, ...]) -> T:
    cache: dict[Hashable, tuple[Any, tuple[type, ...]]] = session.info.setdefault(_KEY, {})
    if key not in cache or holds_changes(session, depends_on):
        with flushing_for(session, *depends_on):  # reference rows: the rest of a batch stays pending
            cache[key] = (load(), depends_on)
    return cache[key][0]  # type: ignore[no-any-return]


@sa.event.listens_for(Session, "before_flush")
def _drop_changed(session: Session, *_: Any) -> None:
    cache = session.info.get(_KEY)
    if cache:
        for key in [k for k, (_, classes) in cache.items() if holds_changes(session, classes)]:
            del cache[key]


@sa.event.listens_for(Session, "after_commit")
@sa.event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, *_: Any) -> None:
    session.info.pop(_KEY, None)
