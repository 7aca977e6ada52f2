"""Load the owners' decisions (pipelines/warehouse/decisions_file.py) into the build's `tuning_decisions`.

Reloaded whole by every build, whatever the lake did: a decision changes the next night's tuning
results even when no partition changed. The table holds every line of the tenants' files (the
history); `is_latest` marks each recommendation's current decision.
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pyarrow as pa

from pipelines.config import Settings
from pipelines.warehouse import decisions_file

COLUMNS = (
    "tenant", "recommendation_id", "sequence", "decision", "decided_at", "decided_by", "reason", "expires_on",
    "rule_id", "rule_name", "exclusion_kind", "entity_type", "entity_key", "entity_value",
    "entity_type_1", "entity_key_1", "entity_value_1", "entity_type_2", "entity_key_2", "entity_value_2",
    "entity_type_3", "entity_key_3", "entity_value_3", "decisions_at_decision", "removed_share_at_decision", "source",
)
_TYPES = {"sequence": pa.int64(), "decided_at": pa.timestamp("us", tz="UTC"), "expires_on": pa.date32(),
          "decisions_at_decision": pa.int64(), "removed_share_at_decision": pa.float64()}


def _value(column: str, value: object) -> object:
    if value is None or value == "":
        return None
    if column == "decided_at":
        return datetime.fromisoformat(str(value))
    if column == "expires_on":
        return date.fromisoformat(str(value)[:10])
    return value


def decision_rows(settings: Settings) -> pa.Table:
    rows = [r for t in settings.tenants for r in decisions_file.read(settings.home, t.name) if r["tenant"] == t.name]
    return pa.table({c: pa.array([_value(c, r[c]) for r in rows], _TYPES.get(c, pa.string())) for c in COLUMNS})


def load_decisions(con: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """Replace tuning_decisions with the decisions files of the settings' tenants; returns the rows."""
    con.register("decisions_input", decision_rows(settings))
    try:
        con.execute("DELETE FROM tuning_decisions")
        con.execute(
            "INSERT INTO tuning_decisions BY NAME SELECT *, sequence = max(sequence) OVER "
            "(PARTITION BY tenant, recommendation_id) AS is_latest FROM decisions_input"
        )
    finally:
        con.unregister("decisions_input")
    return con.execute("SELECT count(*) FROM tuning_decisions").fetchall()[0][0]
