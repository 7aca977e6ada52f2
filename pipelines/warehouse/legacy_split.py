"""Upgrade a data home from the one-file warehouse (`<home>/warehouse.duckdb`) to tenant shards.

Once, before the first run of this version: each configured tenant found in the old file gets a
copy of it with every other tenant's rows deleted, published as `<home>/warehouse/<tenant>.duckdb`;
then the old file and its standby are removed. A crash part-way leaves the old file in place and the
next run splits again (a shard already published is kept).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from pipelines.config import Settings
from pipelines.lake import fsync_dir
from pipelines.warehouse.connect import connect

LEGACY = "warehouse.duckdb"


def legacy_path(settings: Settings) -> Path:
    return settings.home / LEGACY


def split_legacy_warehouse(settings: Settings, progress: Callable[[str], None]) -> list[str]:
    """Split the legacy file into one shard per configured tenant it holds; return those tenants."""
    legacy = legacy_path(settings)
    if not legacy.exists():
        return []
    with connect(legacy, read_only=True) as con:
        held = {r[0] for r in con.execute("SELECT DISTINCT tenant FROM load_log").fetchall()}
    tenants = [t.name for t in settings.tenants if t.name in held]
    progress(f"upgrading the data home to one warehouse shard per tenant: splitting {legacy} into "
             f"{', '.join(tenants) or 'no configured tenant'} (once)")
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    for tenant in tenants:
        target = settings.shard_path(tenant)
        if target.exists():
            continue
        tmp = target.with_name(f".{target.name}.splitting")
        shutil.copyfile(legacy, tmp)
        with connect(tmp) as con:
            tables = con.execute(
                "SELECT DISTINCT table_name FROM duckdb_columns() WHERE column_name = 'tenant' "
                "AND schema_name = 'main' AND database_name = current_database()"
            ).fetchall()
            for (table,) in tables:
                quoted = '"' + table.replace('"', '""') + '"'
                con.execute(f"DELETE FROM {quoted} WHERE tenant IS DISTINCT FROM ?", [tenant])  # noqa: S608 - catalog name
            con.execute("CHECKPOINT")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    for leftover in (legacy, legacy.with_name(LEGACY + ".wal"), settings.home / "build" / "standby.duckdb"):
        leftover.unlink(missing_ok=True)
    fsync_dir(settings.home)
    progress(f"split done: {len(tenants)} shard(s) in {settings.warehouse_dir}; the one-file warehouse was removed")
    return tenants
