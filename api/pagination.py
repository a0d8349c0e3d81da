"""Keyset pages: an opaque cursor (base64 of [sort, last value, last id]) and `limit` rows after it."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.errors import ApiError
from ticketing.models.base import UTCDateTime

DEFAULT_LIMIT = 25
T = TypeVar("T")


def encode(sort: str, value: Any, ident: int) -> str:
    plain = value.isoformat() if isinstance(value, datetime) else value
    return base64.urlsafe_b64encode(json.dumps([sort, plain, ident]).encode()).decode().rstrip("=")


def _bad(reason: str) -> ApiError:
    return ApiError(400, "The cursor is not valid here.", code="invalid_cursor", fields={"cursor": reason})


def decode(raw: str, sort: str, *, is_time: bool) -> tuple[Any, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise _bad("not a cursor this API made") from exc
    if not (isinstance(data, list) and len(data) == 3 and isinstance(data[2], int)):
        raise _bad("not a cursor this API made")
    cursor_sort, value, ident = data
    if cursor_sort != sort:
        raise _bad("it belongs to another sort order")
    if is_time:
        try:
            value = datetime.fromisoformat(value)
        except (TypeError, ValueError) as exc:
            raise _bad("not a cursor this API made") from exc
        if value.tzinfo is None:
            raise _bad("not a cursor this API made")
    elif not isinstance(value, int) or isinstance(value, bool):
        raise _bad("not a cursor this API made")
    if not 0 < ident < 2**31:
        raise _bad("not a cursor this API made")
    return value, ident


def keyset(
    session: Session, stmt: sa.Select[Any], params: dict[str, Any], *, sort: str, column: Any, id_column: Any,
    value_of: Callable[[Any], Any],
) -> tuple[list[Any], str | None]:  # fmt: skip
    """One page of `stmt` ordered by (column, id); `sort` is the public name, '-' first for descending."""
    descending = sort.startswith("-")
    limit = params.get("limit", DEFAULT_LIMIT)
    is_time = isinstance(column.type, UTCDateTime)
    if "cursor" in params:
        value, last = decode(params["cursor"], sort, is_time=is_time)
        row = sa.tuple_(column, id_column)
        bound = sa.tuple_(sa.literal(value, type_=column.type), sa.literal(last, type_=id_column.type))
        stmt = stmt.where(row < bound if descending else row > bound)
    order = (column.desc(), id_column.desc()) if descending else (column.asc(), id_column.asc())
    rows = list(session.scalars(stmt.order_by(*order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode(sort, value_of(rows[-1]), rows[-1].id) if more and rows else None)


def in_memory(
    items: Sequence[T],
    params: dict[str, Any],
    *,
    sort: str,
    value_of: Callable[[T], datetime],
    id_of: Callable[[T], int],
) -> tuple[list[T], str | None]:
    """The same cursor contract over an already ordered (ascending) list, e.g. a customer's visible timeline."""
    limit = params.get("limit", DEFAULT_LIMIT)
    if "cursor" in params:
        value, last = decode(params["cursor"], sort, is_time=True)
        items = [i for i in items if (value_of(i), id_of(i)) > (value, last)]
    page = list(items[:limit])
    more = len(items) > limit
    return page, (encode(sort, value_of(page[-1]), id_of(page[-1])) if more and page else None)
