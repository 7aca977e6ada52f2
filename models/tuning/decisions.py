"""What the owner-decision models need from Python: the rule definitions they may or may not have.

`analytic_rules` (the Sentinel rule definitions, a raw table of its own) may be absent from a
warehouse, or lack the columns exclusion_health reads. tuning_rule_definitions (TEMP: tenant,
rule_id, enabled) is filled from it when it has them and left empty otherwise, so
90_exclusion_health.sql reads one table either way and says when the state is unknown.
"""

from __future__ import annotations

import duckdb

RULE_DEFINITIONS = "analytic_rules"
NEEDED = {"tenant", "rule_id", "enabled"}


def prepare_rule_definitions(con: duckdb.DuckDBPyConnection) -> bool:
    """(Re)create tuning_rule_definitions; True when analytic_rules could fill it."""
    columns = {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND schema_name = 'main' "
        "AND database_name = current_database()", [RULE_DEFINITIONS]).fetchall()}
    con.execute("CREATE OR REPLACE TEMP TABLE tuning_rule_definitions (tenant VARCHAR, rule_id VARCHAR, enabled BOOLEAN)")
    if not NEEDED <= columns:
        return False
    con.execute("INSERT INTO tuning_rule_definitions SELECT DISTINCT tenant, rule_id, enabled::BOOLEAN FROM analytic_rules")
    return True
