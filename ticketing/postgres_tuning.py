"""PostgreSQL connections without parallel query: every request and job here reads a page of rows through an
index, and starting parallel workers costs more than that (the My tickets page: a 2 ms nested loop planned as a
parallel one took 20 ms, most of it starting the workers). The reports' year-long scans did not use parallel
plans either (their percentiles and groupings need one sorted input)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


@sa.event.listens_for(sa.engine.Engine, "connect")
def _no_parallel_workers(dbapi_connection: Any, _record: Any) -> None:
    if type(dbapi_connection).__module__.split(".")[0] != "psycopg":
        return
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
    dbapi_connection.commit()  # the SET outlives the pool's rollback only once committed
