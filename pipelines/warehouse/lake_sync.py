"""Load the lake partitions whose manifests changed into the build file's staging tables."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.config import Settings
from pipelines.lake import Manifest, committed_files, list_manifests
from pipelines.warehouse import staging
from pipelines.warehouse.decisions import load_decisions
from pipelines.warehouse.load_log import LATEST_LOADS, has_table
from pipelines.warehouse.transaction import transaction

Progress = Callable[[str], None]


def _latest_loaded(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, str], str]:
    rows = con.execute(
        f"SELECT tbl, tenant, day::VARCHAR, sha256 FROM ({LATEST_LOADS})"  # noqa: S608 - a fixed fragment
    ).fetchall()
    return {(t, n, d): sha for t, n, d, sha in rows}


def changed_manifests(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[Manifest]:
    tenants = {t.name for t in settings.tenants}
    loaded = _latest_loaded(con)
    return [
        m
        for m in list_manifests(settings.lake_root, tenants=sorted(tenants))
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


def _spool(settings: Settings) -> str | None:
    """Where copies of remote partitions land while they are staged (the shard's build directory)."""
    if "://" not in settings.lake_root:
        return None
    settings.build_dir.mkdir(parents=True, exist_ok=True)
    return str(settings.build_dir)


def sync_lake(con: duckdb.DuckDBPyConnection, settings: Settings, progress: Progress | None = None) -> list[tuple[str, str, date]]:
    """Load every changed lake partition into staging, in one transaction. Returns what changed."""
    changed = changed_manifests(con, settings)
    now = datetime.now(UTC)
    with transaction(con):
        for i, m in enumerate(changed, 1):
            day = date.fromisoformat(m.day)
            # verified against the manifest: a damaged or replaced file fails this tenant's build, never
            # loads silently. On object storage these are local copies in the build directory.
            with committed_files(m, spool_dir=_spool(settings)) as (data, bad):
                records = staging.stage_raw(con, m.table, m.tenant, day, data,
                                            absence=(m.stats or {}).get("absence"))
                if bad is not None:
                    records = pq.read_table(bad).to_pylist() + records
            _record_quarantine(con, m.table, m.tenant, day, records, now)
            _log_load(con, m, now)
            if progress and (i % 25 == 0 or i == len(changed)):
                progress(f"staged {i}/{len(changed)} partitions")
        rows = [(m.table, m.tenant, date.fromisoformat(m.day)) for m in changed]
        register_changed(con, rows)
        staging.refresh_latest_state(con)
        load_decisions(con, settings)  # every build: a decision changes the tuning results on its own
    return rows


def register_changed(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, date]]) -> None:
    """(Re)create the temp table changed_partitions(tbl, tenant, day) that incremental models read."""
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


def changed_since_publish(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[tuple[str, str, date]]:
    """Partitions loaded into this build file after the published copy was taken."""
    published_at = con.execute("SELECT max(published_at) FROM publish_log").fetchone()[0] if has_table(con, "publish_log") else None
    rows = con.execute(
        "SELECT DISTINCT tbl, tenant, day FROM load_log WHERE ? IS NULL OR loaded_at > ?",
        [published_at, published_at],
    ).fetchall()
    return [(t, n, d) for t, n, d in rows]


