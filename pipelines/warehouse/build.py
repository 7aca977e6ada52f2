"""Build the next warehouse beside the published one, then publish it atomically.

A run copies the published file to `<home>/build/<run>.duckdb`, reloads only the lake partitions
whose manifests changed, rebuilds incremental models for the changed days, then CHECKPOINTs,
closes, fsyncs and `os.replace`s it over `<home>/warehouse.duckdb`. Analysts holding a read-only
connection keep reading the old file and never see a half-built one; a failed run leaves the
published file untouched (the build file is simply discarded).
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from models.runner import ModelContext
from pipelines.config import Settings
from pipelines.lake import Manifest, list_manifests
from pipelines.warehouse import staging

Progress = Callable[[str], None]
MODEL_GROUPS = ("firewall", "tuning")


def build_path(settings: Settings, run_key: str) -> Path:
    safe = "".join(c for c in run_key if c.isalnum() or c in "-_")[:64] or "run"
    return settings.home / "build" / f"{safe}.duckdb"


def open_build(settings: Settings, run_key: str) -> Path:
    """Start (or resume, for a retried run) the build file of this run from the published warehouse."""
    path = build_path(settings, run_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_suffix(".copying")
        if settings.warehouse_path.exists():
            shutil.copyfile(settings.warehouse_path, tmp)
        else:
            duckdb.connect(str(tmp)).close()
        os.replace(tmp, path)
    with duckdb.connect(str(path)) as con:
        staging.create_tables(con)
    return path


def _latest_loaded(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, str], str]:
    rows = con.execute(
        """
        SELECT tbl, tenant, day::VARCHAR, sha256 FROM load_log
        QUALIFY row_number() OVER (PARTITION BY tbl, tenant, day ORDER BY loaded_at DESC) = 1
        """
    ).fetchall()
    return {(t, n, d): sha for t, n, d, sha in rows}


def changed_manifests(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[Manifest]:
    tenants = {t.name for t in settings.tenants}
    loaded = _latest_loaded(con)
    return [
        m
        for m in list_manifests(settings.lake_root)
        if m.tenant in tenants and loaded.get((m.table, m.tenant, m.day)) != m.sha256
    ]


def _log_load(con: duckdb.DuckDBPyConnection, m: Manifest, now: datetime) -> None:
    s = m.stats or {}
    con.execute(
        "INSERT INTO load_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            m.table, m.tenant, date.fromisoformat(m.day), m.rows, m.quarantined, m.sha256, m.file,
            datetime.fromisoformat(m.written_at), now, s.get("source_kind"), s.get("query_windows"),
            s.get("splits"), s.get("retries"), s.get("duration_s"),
            datetime.fromisoformat(s["watermark"]) if s.get("watermark") else None,
            s.get("dropped_columns") or [],
        ],
    )


def _record_quarantine(con, table: str, tenant: str, day: date, records: list[dict], now: datetime) -> None:
    con.execute("DELETE FROM quarantine WHERE tbl = ? AND tenant = ? AND day = ?", [table, tenant, day])
    if records:
        con.executemany(
            "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?)",
            [[table, tenant, day, r["reason"], r["row_json"], now] for r in records],
        )


def sync_lake(con: duckdb.DuckDBPyConnection, settings: Settings, progress: Progress | None = None) -> list[tuple[str, str, date]]:
    """Load every changed lake partition into staging, in one transaction. Returns what changed."""
    changed = changed_manifests(con, settings)
    now = datetime.now(UTC)
    con.execute("BEGIN TRANSACTION")
    try:
        for i, m in enumerate(changed, 1):
            day = date.fromisoformat(m.day)
            records = staging.stage_raw(con, m.table, m.tenant, day, m.file)
            if m.quarantine_file:
                q = pq.read_table(m.quarantine_file).to_pylist()
                records = q + records
            _record_quarantine(con, m.table, m.tenant, day, records, now)
            _log_load(con, m, now)
            if progress and (i % 25 == 0 or i == len(changed)):
                progress(f"staged {i}/{len(changed)} partitions")
        rows = [(m.table, m.tenant, date.fromisoformat(m.day)) for m in changed]
        _register_changed(con, rows)
        staging.refresh_latest_state(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return rows


def _register_changed(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, date]]) -> None:
    tbl = pa.table(
        {
            "tbl": pa.array([r[0] for r in rows], pa.string()),
            "tenant": pa.array([r[1] for r in rows], pa.string()),
            "day": pa.array([r[2] for r in rows], pa.date32()),
        }
    )
    con.register("changed_input", tbl)
    con.execute("CREATE OR REPLACE TEMP TABLE changed_partitions AS SELECT * FROM changed_input")
    con.unregister("changed_input")


def build_models(con: duckdb.DuckDBPyConnection, ctx: ModelContext, groups=MODEL_GROUPS) -> dict[str, int]:
    """Run each model group's build() inside one transaction; returns row counts per table."""
    _register_changed(con, ctx.changed)
    counts: dict[str, int] = {}
    for group in groups:
        module = importlib.import_module(f"models.{group}")
        con.execute("BEGIN TRANSACTION")
        try:
            counts.update(module.build(con, ctx))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return counts


def changed_since_publish(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[tuple[str, str, date]]:
    """Partitions loaded into this build file after the published copy was taken."""
    published_at = con.execute("SELECT max(published_at) FROM publish_log").fetchone()[0] if _has_table(con, "publish_log") else None
    rows = con.execute(
        "SELECT DISTINCT tbl, tenant, day FROM load_log WHERE ? IS NULL OR loaded_at > ?",
        [published_at, published_at],
    ).fetchall()
    return [(t, n, d) for t, n, d in rows]


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchone()[0])


def publish(settings: Settings, path: Path, as_of: date) -> Path:
    """CHECKPOINT, close, fsync and atomically rename the build file over the published warehouse."""
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE IF NOT EXISTS publish_log (published_at TIMESTAMPTZ, as_of DATE, build_file VARCHAR)"
        )
        con.execute("INSERT INTO publish_log VALUES (?, ?, ?)", [datetime.now(UTC), as_of, path.name])
        con.execute("CHECKPOINT")
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
    target = settings.warehouse_path
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return target


def discard_stale_builds(settings: Settings, keep: Path | None = None) -> None:
    """Remove build files of earlier runs that failed; the published file is never touched."""
    for leftover in (settings.home / "build").glob("*"):
        if keep is None or leftover != keep:
            leftover.unlink(missing_ok=True)


def build_and_publish(settings: Settings, as_of: date, run_key: str, progress: Progress | None = None) -> dict[str, int]:
    """The whole warehouse step in one process: sync, models, publish. Used outside Dagster (bench, tests)."""
    path = open_build(settings, run_key)
    with duckdb.connect(str(path)) as con:
        changed = sync_lake(con, settings, progress)
        counts = build_models(con, ModelContext(settings=settings, as_of=as_of, changed=changed))
    publish(settings, path, as_of)
    return counts
