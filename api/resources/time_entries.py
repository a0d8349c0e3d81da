"""Time logged on a ticket (staff tokens only: time entries are internal)."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Blueprint, jsonify, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import selectinload

from api import presenters, schemas
from api.access import body, created, page, ticket_for
from api.auth import staff
from api.errors import invalid, not_found
from api.openapi import route
from api.pagination import keyset
from ticketing.extensions import db
from ticketing.models import TimeEntry, utcnow
from ticketing.services import timelog


def register(bp: Blueprint) -> None:
    @route(bp, "/tickets/{ticket_id}/time-entries", "GET", summary="Time logged on a ticket", tag="Time entries",
           query=schemas.PAGE_QUERY, response="TimeEntry", page=True, description="Staff tokens only.")  # fmt: skip
    def list_time_entries(ticket_id: int) -> ResponseReturnValue:
        staff()
        params = schemas.PAGE_QUERY.parse()
        ticket = ticket_for(ticket_id)
        stmt = sa.select(TimeEntry).where(TimeEntry.ticket_id == ticket.id).options(selectinload(TimeEntry.user))
        rows, next_cursor = keyset(db.session, stmt, params, sort="id", column=TimeEntry.id, id_column=TimeEntry.id,
                                   value_of=lambda e: e.id)  # fmt: skip
        return page([presenters.time_entry(e) for e in rows], next_cursor)

    @route(bp, "/tickets/{ticket_id}/time-entries/{entry_id}", "GET", summary="One time entry", tag="Time entries",
           response="TimeEntry", description="Staff tokens only.")  # fmt: skip
    def get_time_entry(ticket_id: int, entry_id: int) -> ResponseReturnValue:
        staff()
        ticket = ticket_for(ticket_id)
        entry = db.session.scalar(
            sa.select(TimeEntry).where(TimeEntry.id == entry_id, TimeEntry.ticket_id == ticket.id)
        )
        if entry is None:
            raise not_found()
        return jsonify(presenters.time_entry(entry))

    @route(bp, "/tickets/{ticket_id}/time-entries", "POST", summary="Log time on a ticket", tag="Time entries",
           body=schemas.TIME_ENTRY_CREATE, response="TimeEntry", status=201,
           description="Staff tokens only; the entry is the token's user's.")  # fmt: skip
    def create_time_entry(ticket_id: int) -> ResponseReturnValue:
        user = staff()
        ticket = ticket_for(ticket_id)
        data = body(schemas.TIME_ENTRY_CREATE)
        work_date = date.fromisoformat(data["work_date"]) if "work_date" in data else None
        try:
            entry = timelog.log_time(db.session, ticket, user=user, minutes=data["minutes"], now=utcnow(),
                                     note=data.get("note", ""), work_date=work_date)  # fmt: skip
        except ValueError as exc:
            raise invalid({"minutes": str(exc)}) from exc
        db.session.commit()
        return created(
            presenters.time_entry(entry), url_for("api.get_time_entry", ticket_id=ticket.id, entry_id=entry.id)
        )
