"""Catch an older generation (the standby) up with the published one, from the published file alone.

For the loads and publishes the published file has and the standby lacks, each table is brought up
by its rule (declared as `catch_up:` in the model's header, models/registry.py): the rows of those
partitions / tenants / as_of days, the window-sized tables whole, the run logs' missing rows.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from models import registry
from pipelines.warehouse.transaction import transaction


class StandbyUnusable(Exception):
    """The standby cannot be brought up to the published generation; the run copies instead."""


# How each table of a generation changes in a run, so that an older generation (the standby) can be
# brought up to the published one from the published file alone, for the partitions the missed runs
# loaded (their load_log rows), the as_of days they published, or the whole (window-sized) table.
LOG = "log"  # append-only run log: add the published rows the standby lacks (multiset)
EVENT_DAYS = "event_days"  # (tenant, day) of the device_events partitions loaded
INCIDENT_DAYS = "incident_days"  # (tenant, day) of the security_incident partitions loaded
PARTITIONS = "partitions"  # (tbl, tenant, day) of every partition loaded
TENANTS = "tenants"  # every row of a tenant whose alert or incident partitions were loaded
# alerts / alert_entities: the security_alert partitions loaded, and, for a tenant whose alerts or
# incidents were loaded, the rows whose alert version (tenant, system_alert_id, day) the published
# alerts no longer hold (90_latest_state.sql deletes older versions of a re-emitted alert)
ALERT_VERSIONS = "alert_versions"
AS_OF = "as_of"  # history kept per run's as_of
WHOLE = "whole"  # rebuilt whole by every run
# Each table's rule is declared in its model header (models/registry.py, `catch_up:`).
CATCH_UP: dict[str, str] = registry.default().catch_up()


def _catalog(con: duckdb.DuckDBPyConnection, db: str) -> dict[str, object]:
    """Tables with their columns, macros and views of one attached database: what must be equal."""
    columns = con.execute(
        "SELECT c.table_name, c.column_index, c.column_name, c.data_type, c.is_nullable "
        "FROM duckdb_columns() c JOIN duckdb_tables() t USING (database_name, schema_name, table_name) "
        "WHERE c.database_name = ? AND c.schema_name = 'main' ORDER BY 1, 2", [db],
    ).fetchall()
    macros = con.execute(
        "SELECT function_name, parameters::VARCHAR, macro_definition FROM duckdb_functions() "
        "WHERE database_name = ? AND schema_name = 'main' AND NOT internal ORDER BY ALL", [db],
    ).fetchall()
    views = con.execute(
        "SELECT view_name, sql FROM duckdb_views() WHERE database_name = ? AND schema_name = 'main' "
        "AND NOT internal ORDER BY 1", [db],
    ).fetchall()
    tables: dict[str, list] = {}
    for table, *column in columns:
        tables.setdefault(table, []).append(tuple(column))
    return {"tables": tables, "macros": macros, "views": views}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def catch_up(con: duckdb.DuckDBPyConnection, published: Path) -> str:
    """Bring the generation open in `con` up to the published one; raise StandbyUnusable if it can't.

    Precondition checked here: con's file is an earlier published generation (its publish_log is
    part of the published one), untouched since (no load after its last publish), with exactly the
    published file's tables, columns, macros and views, every table known to CATCH_UP. Then, in one
    transaction, for the loads and publishes the published file has and this one lacks: the rows of
    those partitions / tenants / as_of days and the window-sized tables are replaced by the published
    rows, the log rows are added, and every table's row count must equal the published one.
    Idempotent: a second call finds nothing missing.
    """
    here = con.execute("SELECT current_database()").fetchone()[0]
    con.execute(f"ATTACH {_sql_literal(str(published))} AS published (READ_ONLY)")
    try:
        mine, theirs = _catalog(con, here), _catalog(con, "published")
        if mine != theirs:
            differing = sorted(set(mine["tables"]) ^ set(theirs["tables"])) or [
                t for t in mine["tables"] if mine["tables"][t] != theirs["tables"].get(t)
            ] or ["macros or views"]
            raise StandbyUnusable(f"schema differs from the published file ({', '.join(differing[:5])})")
        unknown = sorted(set(mine["tables"]) - set(CATCH_UP))
        if unknown:
            raise StandbyUnusable(f"no catch-up rule for table(s) {', '.join(unknown[:5])}")
        if "publish_log" not in mine["tables"] or "load_log" not in mine["tables"]:
            raise StandbyUnusable("the standby has no publish_log or load_log")
        foreign = con.execute(
            "SELECT count(*) FROM (SELECT * FROM main.publish_log EXCEPT ALL SELECT * FROM published.publish_log)"
        ).fetchone()[0]
        if foreign or not con.execute("SELECT count(*) FROM main.publish_log").fetchone()[0]:
            raise StandbyUnusable("the standby is not an earlier generation of the published file")
        touched = con.execute(
            "SELECT count(*) FROM main.load_log WHERE loaded_at > (SELECT max(published_at) FROM main.publish_log)"
        ).fetchone()[0]
        if touched:
            raise StandbyUnusable("the standby was loaded into after its publish")
        return _replay(con, mine["tables"])
    finally:
        con.execute("DETACH published")


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _replay(con: duckdb.DuckDBPyConnection, tables) -> str:
    try:
        with transaction(con):
            con.execute(
                "CREATE OR REPLACE TEMP TABLE catchup_loads AS SELECT DISTINCT tbl, tenant, day FROM "
                "(SELECT * FROM published.load_log EXCEPT ALL SELECT * FROM main.load_log)"
            )
            con.execute(
                "CREATE OR REPLACE TEMP TABLE catchup_as_of AS SELECT DISTINCT as_of FROM "
                "(SELECT * FROM published.publish_log EXCEPT ALL SELECT * FROM main.publish_log)"
            )
            missed = con.execute("SELECT count(*) FROM catchup_as_of").fetchone()[0]
            loads = con.execute("SELECT count(*) FROM catchup_loads").fetchone()[0]
            for table in sorted(tables, key=lambda t: CATCH_UP[t] == LOG):  # the logs last: they say what is missing
                _replay_table(con, table, CATCH_UP[table])
            differing = []
            for table in tables:
                q = _quote(table)
                a, b = con.execute(
                    f"SELECT (SELECT count(*) FROM main.{q}), (SELECT count(*) FROM published.{q})"  # noqa: S608 - catalog names
                ).fetchone()
                if a != b:
                    differing.append(f"{table} {a} != {b}")
            if differing:
                raise StandbyUnusable(f"row counts differ from the published file after catch-up: {'; '.join(differing[:5])}")
    finally:
        con.execute("DROP TABLE IF EXISTS catchup_loads")
        con.execute("DROP TABLE IF EXISTS catchup_as_of")
    return f"{missed} missed publish(es), {loads} partition load(s) replayed"


def _replay_table(con: duckdb.DuckDBPyConnection, table: str, rule: str) -> None:
    q = _quote(table)
    if rule == LOG:
        con.execute(
            f"INSERT INTO main.{q} SELECT * FROM (SELECT * FROM published.{q} EXCEPT ALL SELECT * FROM main.{q})"  # noqa: S608
        )
        return
    if rule == WHOLE:
        con.execute(f"DELETE FROM main.{q}")  # noqa: S608
        con.execute(f"INSERT INTO main.{q} SELECT * FROM published.{q}")  # noqa: S608
        return
    if rule in (EVENT_DAYS, INCIDENT_DAYS, ALERT_VERSIONS):
        raw = {EVENT_DAYS: "device_events", INCIDENT_DAYS: "security_incident"}.get(rule, "security_alert")
        if rule == ALERT_VERSIONS:
            # only key columns of the tenant's history are read: versions gone from the published alerts
            con.execute(
                f"DELETE FROM main.{q} AS x WHERE x.tenant IN (SELECT tenant FROM catchup_loads "  # noqa: S608
                "WHERE tbl IN ('security_alert', 'security_incident')) AND NOT EXISTS (SELECT 1 FROM "
                "published.alerts AS p WHERE p.tenant = x.tenant AND p.system_alert_id = x.system_alert_id "
                "AND p.day = x.day)"
            )
        lo, hi = con.execute("SELECT min(day), max(day) FROM catchup_loads WHERE tbl = ?", [raw]).fetchone()
        if lo is None:
            return
        # the day range lets DuckDB skip row groups by their zone maps: cost follows the days, not the history
        where = (
            "x.day BETWEEN ? AND ? AND EXISTS (SELECT 1 FROM catchup_loads c "
            "WHERE c.tbl = ? AND c.tenant = x.tenant AND c.day = x.day)"
        )
        params = [lo, hi, raw]
    elif rule == PARTITIONS:
        lo, hi = con.execute("SELECT min(day), max(day) FROM catchup_loads").fetchone()
        if lo is None:
            return
        where = (
            "x.day BETWEEN ? AND ? AND EXISTS (SELECT 1 FROM catchup_loads c "
            "WHERE c.tbl = x.tbl AND c.tenant = x.tenant AND c.day = x.day)"
        )
        params = [lo, hi]
    elif rule == TENANTS:
        where = (
            "x.tenant IN (SELECT tenant FROM catchup_loads WHERE tbl IN ('security_alert', 'security_incident'))"
        )
        params = []
    elif rule == AS_OF:
        where = "x.as_of IN (SELECT as_of FROM catchup_as_of)"
        params = []
    else:
        raise StandbyUnusable(f"unknown catch-up rule {rule!r} for {table}")
    con.execute(f"DELETE FROM main.{q} AS x WHERE {where}", params)  # noqa: S608 - fixed SQL, catalog names
    con.execute(f"INSERT INTO main.{q} SELECT * FROM published.{q} AS x WHERE {where}", params)  # noqa: S608
