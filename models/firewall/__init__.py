"""Firewall hardening models: daily rollups, baselines, findings (Hunthouse issue 4).

`build` runs the SQL files of this folder in the registry's order (models/registry.py: each file's
header declares its models and what they depend on; finding rules run between fw_candidates and
fw_findings whatever their file names). fw_events, fw_daily and fw_remote_daily
are incremental on the temp table `changed_partitions`; fw_baseline and fw_findings are recomputed
for `ctx.as_of` from the rollups, so their cost follows the baseline window, not the history.

The incremental tables only ever see changed days, so a change to their layout cannot reach the
days already built. SCHEMA_VERSION (kept in the warehouse table `model_versions`) names the layout:
a warehouse built with another one has its incremental firewall tables dropped and rebuilt from
every staged day, once, on its next run.
"""

from __future__ import annotations

import duckdb

import vocab
from models import registry
from models.firewall.thresholds import FirewallThresholds
from models.registry import Registry
from models.runner import ModelContext, run_group

GROUP = "firewall"
TABLES = [m.name for m in registry.default().tables(GROUP)]
# 2: fw_events persisted (was a view); fw_daily and fw_baseline keyed on service_port, not both ports
# 3: fw_events.program_path (the unfolded path rule drafts need); device volume paths folded in process
SCHEMA_VERSION = 3
# the tables a layout change drops and rebuilds from every staged day: not the seed (replaced by every
# run) and not fw_findings (as_of history: earlier nights' findings cannot be recomputed)
REBUILT_KINDS = ("incremental", "window")
REBUILT_ON_UPGRADE = tuple(m.name for m in registry.default().tables(GROUP) if m.kind in REBUILT_KINDS)


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


def upgrade_layout(con: duckdb.DuckDBPyConnection) -> None:
    """Drop incremental tables of an older layout and mark every staged day changed."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS model_versions (model_group VARCHAR PRIMARY KEY, version INTEGER NOT NULL, "
        "changed_at TIMESTAMPTZ NOT NULL)"
    )
    row = con.execute("SELECT version FROM model_versions WHERE model_group = 'firewall'").fetchone()
    if row is not None and row[0] == SCHEMA_VERSION:
        return
    kinds = dict(con.execute(
        "SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE NOT temporary "
        "UNION ALL SELECT view_name, 'VIEW' FROM duckdb_views() WHERE NOT temporary AND NOT internal"
    ).fetchall())
    rebuilt = [name for name in REBUILT_ON_UPGRADE if name in kinds]
    for name in rebuilt:
        con.execute(f"DROP {kinds[name]} {name}")  # names and kinds from the catalog and REBUILT_ON_UPGRADE
    if rebuilt:
        con.execute(
            "INSERT INTO changed_partitions SELECT DISTINCT 'device_events', tenant, day FROM device_events"
        )
    con.execute(
        "INSERT OR REPLACE INTO model_versions VALUES ('firewall', ?, now())", [SCHEMA_VERSION]
    )


def build(con: duckdb.DuckDBPyConnection, ctx: ModelContext, thresholds: FirewallThresholds | None = None,
          models: Registry | None = None) -> dict[str, int]:
    """Build the firewall tables for ctx.as_of; return row counts per table. `models` replaces the
    registry of this checkout (a test adds a finding rule kept in another folder)."""
    ensure_changed_partitions(con, ctx)
    upgrade_layout(con)
    params: dict[str, object] = {
        "as_of": ctx.as_of,
        "baseline_days": ctx.settings.baseline_days,
        "tenants": ctx.tenants,
        # which device_events rows are firewall events: the sources' own list, not a copy in SQL
        "firewall_action_types": list(vocab.FIREWALL_ACTION_TYPES),
        **(thresholds or FirewallThresholds()).params(),
    }
    run_group(con, GROUP, params, models)
    # fetchall, not fetchone: DuckDB 2 refuses register() while a result is only partly fetched
    counts = con.execute(
        " union all ".join(f"select '{t}', count(*) from {t}" for t in TABLES)  # noqa: S608 (names from TABLES)
    ).fetchall()
    return {name: n for name, n in counts}
