"""Firewall hardening models: daily rollups, baselines, findings (Hunthouse issue 4).

`build` runs the SQL files of this folder in name order. fw_daily and fw_remote_daily are
incremental on the temp table `changed_partitions`; fw_baseline and fw_findings are recomputed for
`ctx.as_of` from the rollups, so their cost follows the baseline window, not the history.
"""

from __future__ import annotations

import duckdb

from models.firewall.thresholds import FirewallThresholds
from models.runner import ModelContext, run_group

TABLES = ["fw_port_services", "fw_daily", "fw_remote_daily", "fw_baseline", "fw_findings"]


def ensure_changed_partitions(con: duckdb.DuckDBPyConnection, ctx: ModelContext) -> None:
    """Create `changed_partitions` from ctx.changed when the caller has not created it."""
    exists = con.execute(
        "select count(*) from duckdb_tables() where table_name = 'changed_partitions' and temporary"
    ).fetchone()[0]
    if exists:
        return
    con.execute("CREATE TEMP TABLE changed_partitions (tbl VARCHAR, tenant VARCHAR, day DATE)")
    if ctx.changed:
        con.executemany("INSERT INTO changed_partitions VALUES (?, ?, ?)", [list(c) for c in ctx.changed])


def build(con: duckdb.DuckDBPyConnection, ctx: ModelContext, thresholds: FirewallThresholds | None = None) -> dict[str, int]:
    """Build the firewall tables for ctx.as_of; return row counts per table."""
    ensure_changed_partitions(con, ctx)
    params: dict[str, object] = {
        "as_of": ctx.as_of,
        "baseline_days": ctx.settings.baseline_days,
        "tenants": ctx.tenants,
        **(thresholds or FirewallThresholds()).params(),
    }
    run_group(con, "firewall", params)
    # fetchall, not fetchone: DuckDB 2 refuses register() while a result is only partly fetched
    counts = con.execute(
        " union all ".join(f"select '{t}', count(*) from {t}" for t in TABLES)  # noqa: S608 (names from TABLES)
    ).fetchall()
    return {name: n for name, n in counts}
