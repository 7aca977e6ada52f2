"""One read-only entry point over the tenants' published shards.

Each tenant's warehouse is its own file, `<home>/warehouse/<tenant>.duckdb`. Analysts still see one
warehouse: an in-memory DuckDB session attaches every shard (or the chosen tenants' only) READ_ONLY
and defines one view per table over them (`UNION ALL BY NAME`), then switches off file and network
access and locks its configuration. A tenant not chosen is not attached, so its rows cannot be read.

Tables without a `tenant` column (run logs, model versions) get one in the view, naming the shard
they come from; seed tables, identical in every shard, are read from one shard only.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import duckdb

from pipelines.config import Settings
from pipelines.warehouse.connect import connect
from pipelines.warehouse.readonly import OPEN_PATIENCE_S, WarehouseBusy, WarehouseMissing, _identity

SEED_TABLES = ("fw_port_services",)
ATTACH_SCRIPT = "attach.sql"
_SAFE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def shard_paths(settings: Settings, tenants: list[str] | None = None) -> dict[str, Path]:
    """The published shards of the chosen tenants (default: every configured tenant that has one)."""
    names = tenants or [t.name for t in settings.tenants]
    for name in names:
        settings.tenant(name)  # an unknown tenant is a user mistake: one line naming the configured ones
    return {n: settings.shard_path(n) for n in names if settings.shard_path(n).exists()}


def _alias(tenant: str) -> str:
    if not _SAFE.fullmatch(tenant):  # config validates names; this keeps identifiers allow-listed here too
        raise ValueError(f"bad tenant name {tenant!r}")
    return "shard_" + tenant.replace("-", "_")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _attach(con: duckdb.DuckDBPyConnection, alias: str, path: Path) -> None:
    """ATTACH one shard READ_ONLY as one generation: a publish can replace the file between DuckDB's
    opens of it (see readonly.connect_readonly), so the path must name the same file throughout."""
    deadline, pause = time.monotonic() + OPEN_PATIENCE_S, 0.005
    while True:
        before = _identity(path)
        if before is None:
            raise WarehouseMissing(f"shard {path} disappeared while opening it")
        try:
            con.execute(f"ATTACH {_literal(str(path))} AS {alias} (READ_ONLY)")
        except duckdb.Error:
            if _identity(path) == before:
                raise
        else:
            if _identity(path) == before:
                return
            con.execute(f"DETACH {alias}")
        if time.monotonic() > deadline:
            raise WarehouseBusy(f"{path} kept being replaced while opening it: publishes keep replacing it, try again")
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def view_statements(con: duckdb.DuckDBPyConnection, aliases: dict[str, str]) -> list[str]:
    """CREATE VIEW statements over the attached shards (alias per tenant), one per table name."""
    rows = con.execute(
        "SELECT t.database_name, t.table_name, bool_or(c.column_name = 'tenant') FROM duckdb_tables() t "
        "JOIN duckdb_columns() c USING (database_name, schema_name, table_name) "
        "WHERE t.schema_name = 'main' AND t.database_name IN (SELECT unnest(?)) GROUP BY ALL ORDER BY 2, 1",
        [list(aliases.values())],
    ).fetchall()
    by_table: dict[str, list[tuple[str, bool]]] = {}
    for database, table, has_tenant in rows:
        by_table.setdefault(table, []).append((database, has_tenant))
    tenant_of = {alias: tenant for tenant, alias in aliases.items()}
    statements = []
    for table, sources in by_table.items():
        quoted = '"' + table.replace('"', '""') + '"'
        if table in SEED_TABLES:
            sources = sources[:1]
        parts = [
            f"SELECT * FROM {db}.main.{quoted}" if has_tenant or table in SEED_TABLES  # noqa: S608 - catalog names
            else f"SELECT {_literal(tenant_of[db])} AS tenant, * FROM {db}.main.{quoted}"  # noqa: S608
            for db, has_tenant in sources
        ]
        statements.append(f"CREATE OR REPLACE VIEW {quoted} AS " + " UNION ALL BY NAME ".join(parts))
    return statements


def connect_warehouse(settings: Settings, tenants: list[str] | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only session over the chosen tenants' published shards, with one view per table."""
    paths = shard_paths(settings, tenants)
    if not paths:
        which = f"tenant(s) {', '.join(tenants)}" if tenants else "any tenant"
        raise WarehouseMissing(f"no published warehouse for {which} in {settings.warehouse_dir}: "
                               "run `hunthouse demo` or `hunthouse run` first")
    con = connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        aliases = {tenant: _alias(tenant) for tenant in paths}
        for tenant, path in paths.items():
            _attach(con, aliases[tenant], path)
        for statement in view_statements(con, aliases):
            con.execute(statement)
        # analysts' SQL is code: no files, no network, and the session cannot switch them back on
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def write_attach_script(settings: Settings) -> Path | None:
    """<home>/warehouse/attach.sql: the same views for the plain duckdb CLI (`duckdb -init attach.sql`)."""
    paths = shard_paths(settings)
    if not paths:
        return None
    aliases = {tenant: _alias(tenant) for tenant in paths}
    with connect_warehouse(settings) as con:
        views = view_statements(con, aliases)
    lines = [
        "-- Generated by hunthouse after each run: every published tenant shard, read-only, one view per table.",
        "-- Use: duckdb -init " + str(settings.warehouse_dir / ATTACH_SCRIPT),
        "SET TimeZone = 'UTC';",
        *(f"ATTACH {_literal(str(p))} AS {aliases[t]} (READ_ONLY);" for t, p in paths.items()),
        *(v + ";" for v in views),
    ]
    target = settings.warehouse_dir / ATTACH_SCRIPT
    tmp = target.with_name(f".{ATTACH_SCRIPT}.{os.getpid()}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target
