"""Load raw lake partitions into the warehouse's staging tables.

Each partition replaces its own rows (delete + insert inside the caller's transaction), so loading
the same partition twice leaves the warehouse identical. SQL lives in models/staging/.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from models import registry
from models.registry import SHARED_MACROS
from models.runner import run_sql_file, set_params
from pipelines.warehouse.entities import flatten_entities

GROUP = "staging"
# raw table -> the file that stages one of its partitions (its header's `stage_from:`)
STAGE_SQL = registry.default().stage_files()
# the DDL files, and the files run once after the partitions are staged (re-derive latest state)
DDL_SQL = registry.default().files_of_kind(GROUP, "ddl")
REFRESH_SQL = [f for f in registry.default().run_order(GROUP) if f not in DDL_SQL and f not in STAGE_SQL.values()]
ENTITY_SCHEMA = pa.schema(
    [
        ("system_alert_id", pa.string()),
        ("entity_ordinal", pa.int32()),
        ("entity_type", pa.string()),
        ("entity_key", pa.string()),
        ("entity_value", pa.string()),
        ("properties", pa.string()),
    ]
)


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The shared macros (models/macros.sql, run first), then the staging tables."""
    run_sql_file(con, SHARED_MACROS)
    for path in DDL_SQL:
        run_sql_file(con, path)


def flatten_alert_entities(alerts: pa.Table) -> tuple[pa.Table, list[tuple[str, str]]]:
    """Entities of every alert as rows; alerts whose Entities is not a JSON array are returned as bad."""
    rows: dict[str, list] = {name: [] for name in ENTITY_SCHEMA.names}
    bad: list[tuple[str, str]] = []
    ids = alerts.column("SystemAlertId").to_pylist()
    texts = alerts.column("Entities").to_pylist()
    for alert_id, text in zip(ids, texts, strict=True):
        try:
            entities = list(flatten_entities(text))
        except (ValueError, TypeError, RecursionError) as exc:  # RecursionError: absurd nesting
            bad.append((alert_id, f"Entities is not valid entity JSON: {str(exc)[:200]}"))
            continue
        for ent in entities:
            rows["system_alert_id"].append(alert_id)
            for key in ("entity_ordinal", "entity_type", "entity_key", "entity_value", "properties"):
                rows[key].append(ent[key])
    return pa.table(rows, schema=ENTITY_SCHEMA), bad


def _touch_log(con: duckdb.DuckDBPyConnection) -> None:
    """The keys staging touched since the last refresh_latest_state (duplicates are harmless)."""
    con.execute("CREATE TEMP TABLE IF NOT EXISTS restaged_alerts (tenant VARCHAR, system_alert_id VARCHAR)")
    con.execute("CREATE TEMP TABLE IF NOT EXISTS restaged_incidents (tenant VARCHAR, incident_number BIGINT)")


def stage_raw(
    con: duckdb.DuckDBPyConnection, table: str, tenant: str, day: date, raw: pa.Table | Path | str,
    absence: str | None = None,
) -> list[dict]:
    """Replace the staging rows of one (table, tenant, day) partition from a raw Arrow table or file.

    `absence` is the reason the source recorded for returning nothing on purpose (the manifest's
    stats), which analytic_rule_snapshots keeps.

    Returns quarantine records (reason + raw row) for rows staging could not use; the rows
    themselves still land wherever they are usable (an alert with broken Entities keeps its row).
    """
    if table not in STAGE_SQL:
        raise ValueError(f"unknown raw table {table!r}")
    if isinstance(raw, str | Path):
        con.read_parquet(str(raw)).create_view("raw_input", replace=True)
    else:
        con.register("raw_input", raw)
    quarantined: list[dict] = []
    try:
        if table == "security_alert":
            alerts = raw if isinstance(raw, pa.Table) else pq.read_table(raw, columns=["SystemAlertId", "Entities"])
            entities, bad = flatten_alert_entities(alerts)
            con.register("raw_entities", entities)
            quarantined = [
                {"reason": reason, "row_json": json.dumps({"SystemAlertId": alert_id})} for alert_id, reason in bad
            ]
        set_params(con, {"tenant": tenant, "day": day, "absence": absence})
        _touch_log(con)
        run_sql_file(con, STAGE_SQL[table])
    finally:
        for view in ("raw_input", "raw_entities"):
            try:
                con.unregister(view)
            except duckdb.Error:
                pass
            con.execute(f"DROP VIEW IF EXISTS {view}")
    return quarantined


def refresh_latest_state(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild alerts' latest versions, incidents and incident_alerts for the keys staging touched."""
    _touch_log(con)
    for path in REFRESH_SQL:
        run_sql_file(con, path)
