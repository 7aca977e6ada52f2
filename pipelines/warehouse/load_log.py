"""Reading the warehouse's own bookkeeping: which load of each lake partition is the current one,
and whether a table exists. One definition for the build, the quality gate, status and monitoring."""

from __future__ import annotations

import duckdb

# The latest load of each (tbl, tenant, day) partition: a re-pulled day is loaded again, and only
# its newest load describes what the warehouse holds. A fixed fragment: use it as a subquery.
LATEST_LOADS = (
    "SELECT * FROM load_log "
    "QUALIFY row_number() OVER (PARTITION BY tbl, tenant, day ORDER BY loaded_at DESC) = 1"
)


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    # fetchall: DuckDB 2 leaves a fetchone() result open and the next query on con would fail
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchall()[0][0])
