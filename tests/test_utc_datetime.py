"""UTCDateTime: aware UTC values in and out, whatever shape the stored SQLite text has."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from ticketing.models import UTCDateTime

_TABLE = sa.Table("t", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), sa.Column("at", UTCDateTime()))


@pytest.fixture
def sqlite_engine():
    engine = sa.create_engine("sqlite://")
    _TABLE.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2026-11-27 01:59:53.250000", datetime(2026, 11, 27, 1, 59, 53, 250000, tzinfo=UTC)),  # what we write
        ("2026-11-27 01:59:53", datetime(2026, 11, 27, 1, 59, 53, tzinfo=UTC)),  # SQLite's datetime()
        ("2026-11-27 01:59:53.250", datetime(2026, 11, 27, 1, 59, 53, 250000, tzinfo=UTC)),  # strftime('%f')
        ("2026-11-27 01:59", datetime(2026, 11, 27, 1, 59, tzinfo=UTC)),
        ("2026-11-27T03:59:53+02:00", datetime(2026, 11, 27, 1, 59, 53, tzinfo=UTC)),  # text with an offset
        ("2026-11-27", datetime(2026, 11, 27, tzinfo=UTC)),
        (None, None),
    ],
)
def test_sqlite_texts_read_as_aware_utc(sqlite_engine, stored, expected) -> None:
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t (id, at) VALUES (1, ?)", (stored,))
        value = conn.execute(sa.select(_TABLE.c.at)).scalar_one()
    assert value == expected
    assert value is None or value.tzinfo is UTC


def test_round_trip_keeps_the_instant_and_refuses_naive_values(sqlite_engine) -> None:
    aware = datetime(2026, 3, 29, 1, 30, 5, 7, tzinfo=timezone(timedelta(hours=-5)))
    with sqlite_engine.begin() as conn:
        conn.execute(_TABLE.insert().values(id=1, at=aware))
        assert conn.execute(sa.select(_TABLE.c.at)).scalar_one() == aware
        with pytest.raises(sa.exc.StatementError, match="naive datetime"):
            conn.execute(_TABLE.insert().values(id=2, at=datetime(2026, 1, 1)))
