"""What the owner report shows of each rule's definition (analytic_rules) and, per tenant, why the
definitions are missing when the latest snapshot says so (analytic_rule_snapshots.absence).

Reads through the report's read-only connection; warehouses published before the rule definitions
existed have neither table, and then every rule simply shows no definition. The layout is
templates/owner_definitions.html.j2, which escapes every value (queries and names come from the
tenant's workspace).
"""

from __future__ import annotations

import json

import duckdb

from pipelines.warehouse.load_log import has_table

DEFINITIONS_SQL = (
    "SELECT n.tenant, n.rule_id, a.kind, a.enabled, a.severity, a.query, a.query_frequency, a.query_period, "
    "a.tactics, a.entity_columns, a.source, a.day AS snapshot_day "
    "FROM rule_noise AS n LEFT JOIN analytic_rules AS a USING (tenant, rule_id)"
)
ABSENCE_SQL = (
    "SELECT tenant, absence FROM analytic_rule_snapshots "
    "QUALIFY row_number() OVER (PARTITION BY tenant ORDER BY day DESC) = 1 ORDER BY tenant"
)


def _tactics(value: object) -> str:
    """The MITRE tactics (a JSON array) as a comma-separated list; anything else as it came."""
    if value is None:
        return ""
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return str(value)
    return ", ".join(str(t) for t in parsed) if isinstance(parsed, list) else str(value)


def definition_view(row: dict | None) -> dict | None:
    """A rule's definition as the template shows it; None when the latest snapshot has no such rule."""
    if row is None or row["kind"] is None:
        return None
    return {
        "kpis": [("kind", row["kind"]), ("enabled", "yes" if row["enabled"] else "no"),
                 ("severity", row["severity"] or "n/a"), ("runs every", row["query_frequency"] or "n/a"),
                 ("looks back", row["query_period"] or "n/a")],
        "disabled": row["enabled"] is False,
        "tactics": _tactics(row["tactics"]),
        "query": row["query"],
        "mappings": [[c["entity_type"], c["identifier"], c["column_name"]] for c in row["entity_columns"] or []],
        "source": f"{row['source'] or 'rule definitions'} snapshot of {row['snapshot_day']}",
    }


def load_definitions(con: duckdb.DuckDBPyConnection) -> tuple[dict[tuple, dict | None], list[tuple[str, str]]]:
    """((tenant, rule_id) -> definition view or None, [(tenant, absence)] of the tenants whose latest
    snapshot is empty on purpose)."""
    if not (has_table(con, "analytic_rules") and has_table(con, "analytic_rule_snapshots")):
        return {}, []
    cur = con.execute(DEFINITIONS_SQL)
    names = [d[0] for d in cur.description]
    definitions = {}
    for values in cur.fetchall():
        row = dict(zip(names, values, strict=True))
        definitions[(row["tenant"], row["rule_id"])] = definition_view(row)
    absences = [(t, a) for t, a in con.execute(ABSENCE_SQL).fetchall() if a is not None]
    return definitions, absences
