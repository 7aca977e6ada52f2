"""Hunthouse for notebooks and scripts: the published warehouse, read-only.

    import hunthouse
    con = hunthouse.connect()                      # every tenant's shard, one view per table
    con.sql("select * from rule_noise").pl()       # a polars DataFrame
    hunthouse.table("rule_noise", tenant="contoso")

The connection has the safety settings of `hunthouse sql`: shards attached read-only, no file or
network access, configuration locked. Configuration as for the CLI: `config` (a hunthouse.toml path),
else $HUNTHOUSE_CONFIG, ./hunthouse.toml, the bundled example.
"""

from __future__ import annotations

import os

import duckdb

__all__ = ["connect", "table"]


def connect(config: str | os.PathLike | None = None, tenants: list[str] | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only DuckDB connection over the chosen tenants' published shards (default: all)."""
    from pipelines import config as settings_file
    from pipelines.warehouse.hub import connect_warehouse

    return connect_warehouse(settings_file.load(config), tenants)


def table(name: str, tenant: str | None = None, config: str | os.PathLike | None = None):
    """One warehouse table as a polars DataFrame, of one tenant (only its shard is opened) or all."""
    with connect(config, [tenant] if tenant else None) as con:
        known = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        if name not in known:
            raise ValueError(f"no table {name!r} in the warehouse (known: {', '.join(sorted(known))})")
        return con.sql(f'SELECT * FROM "{name}"').pl()  # noqa: S608 - name checked against the catalog
