"""Build the next warehouse beside the published one, then publish it atomically.

A run starts its build file `<home>/build/<run>.duckdb` from a complete earlier generation, reloads
only the lake partitions whose manifests changed, rebuilds incremental models for the changed days,
then CHECKPOINTs, closes, fsyncs and `os.replace`s it over `<home>/warehouse.duckdb`. Analysts
holding a read-only connection keep reading the old file and never see a half-built one; a failed
run leaves the published file untouched (the build file is simply discarded).

Where the build file comes from (`start_build`, recorded as `build_from`):
- "resume": this run's build file exists (a retried run continues it);
- "standby": `publish` keeps the generation it replaces under a second name, `build/standby.duckdb`
  (a hard link taken before the rename, so no bytes are copied). The next run takes that file over
  (rename) and brings it up to the published generation with `catch_up`: the rows that the runs it
  missed changed, read from the published file attached read-only. Cost: the missed runs' changed
  partitions plus the window-sized model tables, not the history;
- "copy": anything else (no standby, an analyst still reads it, it is not an ancestor of the
  published file, a schema or a table `catch_up` does not know): a copy of the published file, as
  before.
Steady state holds two generations on disk (published + standby), as a copy-based run did at its peak.
"""

from __future__ import annotations

import importlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from models import registry
from models.registry import Registry
from models.runner import ModelContext
from pipelines.config import Settings
from pipelines.lake import Manifest, fsync_dir, list_manifests
from pipelines.warehouse import staging
from pipelines.warehouse.connect import connect, open_writer

Progress = Callable[[str], None]
MODEL_GROUPS = ("firewall", "tuning")


STANDBY = "standby.duckdb"  # the previously published generation, in <home>/build


def build_path(settings: Settings, run_key: str) -> Path:
    safe = "".join(c for c in run_key if c.isalnum() or c in "-_")[:64] or "run"
    if f"{safe}.duckdb" == STANDBY:
        safe = f"run-{safe}"
    return settings.build_dir / f"{safe}.duckdb"


def standby_path(settings: Settings) -> Path:
    return settings.build_dir / STANDBY


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


@dataclass(frozen=True)
class BuildStart:
    path: Path
    source: str  # "resume" | "standby" | "copy"
    reason: str


def start_build(settings: Settings, run_key: str, progress: Progress | None = None) -> BuildStart:
    """Start (or resume, for a retried run) the build file of this run; say where it came from."""
    path = build_path(settings, run_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        source, reason = "resume", "this run's build file exists: a retried run continues it"
    else:
        # a WAL left by an earlier file of this name must never be replayed onto a new one
        _wal(path).unlink(missing_ok=True)
        refused = _take_standby(settings, path, progress)
        if refused is None:
            source, reason = "standby", "the previous generation, caught up with the published one"
        else:
            source, reason = "copy", refused
            tmp = path.with_suffix(".copying")
            if settings.warehouse_path.exists():
                shutil.copyfile(settings.warehouse_path, tmp)
            else:
                reason = "no published warehouse yet: a new empty file"
                connect(tmp).close()
            os.replace(tmp, path)
    with connect(path) as con:
        staging.create_tables(con)
    if progress:
        progress(f"build file {path.name} from {source}: {reason}")
    return BuildStart(path, source, reason)


# -- the standby generation -------------------------------------------------------------------
class StandbyUnusable(Exception):
    """The standby cannot be brought up to the published generation; the run copies instead."""


def _drop_standby(settings: Settings) -> None:
    """Unlink the standby name (a reader still holding it keeps its inode until it closes)."""
    standby = standby_path(settings)
    standby.unlink(missing_ok=True)
    _wal(standby).unlink(missing_ok=True)


def _open_in_this_process(path: Path) -> bool:
    """True when a file descriptor of this process refers to path's inode. DuckDB's file lock is a
    POSIX lock, which a process never conflicts with itself on: a read-only connection of this same
    process to the old generation would not stop a read-write open."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        return False
    target = path.stat()
    for fd in fds.iterdir():
        try:
            st = fd.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            return True
    return False


def _take_standby(settings: Settings, target: Path, progress: Progress | None) -> str | None:
    """Catch the standby up and rename it to target. None when done, else why not (it is dropped)."""
    standby, published = standby_path(settings), settings.warehouse_path
    if not standby.exists():
        return "no standby generation"
    if not published.exists():
        refused = "no published warehouse to catch the standby up with"
    elif _wal(standby).exists():
        refused = "a WAL lies beside the standby: a run died while catching it up"
    elif os.path.samefile(standby, published):
        refused = "the standby is the published file itself"
    elif _open_in_this_process(standby):
        refused = "this process still has the standby open"
    else:
        refused = None
    if refused is None:
        try:
            con = open_writer(standby, settings)
        except duckdb.Error as exc:  # IOException "Could not set lock": an analyst still reads it
            refused = f"cannot open the standby read-write: {str(exc).splitlines()[0][:200]}"
        else:
            try:
                with con:
                    caught = catch_up(con, published)
                    con.execute("CHECKPOINT")
                if progress:
                    progress(f"standby caught up: {caught}")
            except (StandbyUnusable, duckdb.Error) as exc:
                refused = f"standby not usable: {str(exc).splitlines()[0][:300]}"
            else:
                if _wal(standby).exists():
                    refused = "a WAL is left beside the standby after CHECKPOINT"
    if refused is not None:
        _drop_standby(settings)
        return refused
    os.rename(standby, target)
    fsync_dir(target.parent)
    return None


# How each table of a generation changes in a run, so that an older generation (the standby) can be
# brought up to the published one from the published file alone, for the partitions the missed runs
# loaded (their load_log rows), the as_of days they published, or the whole (window-sized) table.
LOG = "log"  # append-only run log: add the published rows the standby lacks (multiset)
EVENT_DAYS = "event_days"  # (tenant, day) of the device_events partitions loaded
INCIDENT_DAYS = "incident_days"  # (tenant, day) of the security_incident partitions loaded
PARTITIONS = "partitions"  # (tbl, tenant, day) of every partition loaded
TENANTS = "tenants"  # every row of a tenant whose alert or incident partitions were loaded
# alerts / alert_entities: the security_alert partitions loaded, and, for a tenant whose alerts or
# incidents were loaded, the rows whose alert version (tenant, system_alert_id, day) the published
# alerts no longer hold (90_latest_state.sql deletes older versions of a re-emitted alert)
ALERT_VERSIONS = "alert_versions"
AS_OF = "as_of"  # history kept per run's as_of
WHOLE = "whole"  # rebuilt whole by every run
# Each table's rule is declared in its model header (models/registry.py, `catch_up:`).
CATCH_UP: dict[str, str] = registry.default().catch_up()


def _catalog(con: duckdb.DuckDBPyConnection, db: str) -> dict[str, object]:
    """Tables with their columns, macros and views of one attached database: what must be equal."""
    columns = con.execute(
        "SELECT c.table_name, c.column_index, c.column_name, c.data_type, c.is_nullable "
        "FROM duckdb_columns() c JOIN duckdb_tables() t USING (database_name, schema_name, table_name) "
        "WHERE c.database_name = ? AND c.schema_name = 'main' ORDER BY 1, 2", [db],
    ).fetchall()
    macros = con.execute(
        "SELECT function_name, parameters::VARCHAR, macro_definition FROM duckdb_functions() "
        "WHERE database_name = ? AND schema_name = 'main' AND NOT internal ORDER BY ALL", [db],
    ).fetchall()
    views = con.execute(
        "SELECT view_name, sql FROM duckdb_views() WHERE database_name = ? AND schema_name = 'main' "
        "AND NOT internal ORDER BY 1", [db],
    ).fetchall()
    tables: dict[str, list] = {}
    for table, *column in columns:
        tables.setdefault(table, []).append(tuple(column))
    return {"tables": tables, "macros": macros, "views": views}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def catch_up(con: duckdb.DuckDBPyConnection, published: Path) -> str:
    """Bring the generation open in `con` up to the published one; raise StandbyUnusable if it can't.

    Precondition checked here: con's file is an earlier published generation (its publish_log is
    part of the published one), untouched since (no load after its last publish), with exactly the
    published file's tables, columns, macros and views, every table known to CATCH_UP. Then, in one
    transaction, for the loads and publishes the published file has and this one lacks: the rows of
    those partitions / tenants / as_of days and the window-sized tables are replaced by the published
    rows, the log rows are added, and every table's row count must equal the published one.
    Idempotent: a second call finds nothing missing.
    """
    here = con.execute("SELECT current_database()").fetchone()[0]
    con.execute(f"ATTACH {_sql_literal(str(published))} AS published (READ_ONLY)")
    try:
        mine, theirs = _catalog(con, here), _catalog(con, "published")
        if mine != theirs:
            differing = sorted(set(mine["tables"]) ^ set(theirs["tables"])) or [
                t for t in mine["tables"] if mine["tables"][t] != theirs["tables"].get(t)
            ] or ["macros or views"]
            raise StandbyUnusable(f"schema differs from the published file ({', '.join(differing[:5])})")
        unknown = sorted(set(mine["tables"]) - set(CATCH_UP))
        if unknown:
            raise StandbyUnusable(f"no catch-up rule for table(s) {', '.join(unknown[:5])}")
        if "publish_log" not in mine["tables"] or "load_log" not in mine["tables"]:
            raise StandbyUnusable("the standby has no publish_log or load_log")
        foreign = con.execute(
            "SELECT count(*) FROM (SELECT * FROM main.publish_log EXCEPT ALL SELECT * FROM published.publish_log)"
        ).fetchone()[0]
        if foreign or not con.execute("SELECT count(*) FROM main.publish_log").fetchone()[0]:
            raise StandbyUnusable("the standby is not an earlier generation of the published file")
        touched = con.execute(
            "SELECT count(*) FROM main.load_log WHERE loaded_at > (SELECT max(published_at) FROM main.publish_log)"
        ).fetchone()[0]
        if touched:
            raise StandbyUnusable("the standby was loaded into after its publish")
        return _replay(con, mine["tables"])
    finally:
        con.execute("DETACH published")


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _replay(con: duckdb.DuckDBPyConnection, tables) -> str:
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE catchup_loads AS SELECT DISTINCT tbl, tenant, day FROM "
            "(SELECT * FROM published.load_log EXCEPT ALL SELECT * FROM main.load_log)"
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE catchup_as_of AS SELECT DISTINCT as_of FROM "
            "(SELECT * FROM published.publish_log EXCEPT ALL SELECT * FROM main.publish_log)"
        )
        missed = con.execute("SELECT count(*) FROM catchup_as_of").fetchone()[0]
        loads = con.execute("SELECT count(*) FROM catchup_loads").fetchone()[0]
        for table in sorted(tables, key=lambda t: CATCH_UP[t] == LOG):  # the logs last: they say what is missing
            _replay_table(con, table, CATCH_UP[table])
        differing = []
        for table in tables:
            q = _quote(table)
            a, b = con.execute(
                f"SELECT (SELECT count(*) FROM main.{q}), (SELECT count(*) FROM published.{q})"  # noqa: S608 - catalog names
            ).fetchone()
            if a != b:
                differing.append(f"{table} {a} != {b}")
        if differing:
            raise StandbyUnusable(f"row counts differ from the published file after catch-up: {'; '.join(differing[:5])}")
        con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass  # the failure was the COMMIT itself
        raise
    finally:
        con.execute("DROP TABLE IF EXISTS catchup_loads")
        con.execute("DROP TABLE IF EXISTS catchup_as_of")
    return f"{missed} missed publish(es), {loads} partition load(s) replayed"


def _replay_table(con: duckdb.DuckDBPyConnection, table: str, rule: str) -> None:
    q = _quote(table)
    if rule == LOG:
        con.execute(
            f"INSERT INTO main.{q} SELECT * FROM (SELECT * FROM published.{q} EXCEPT ALL SELECT * FROM main.{q})"  # noqa: S608
        )
        return
    if rule == WHOLE:
        con.execute(f"DELETE FROM main.{q}")  # noqa: S608
        con.execute(f"INSERT INTO main.{q} SELECT * FROM published.{q}")  # noqa: S608
        return
    if rule in (EVENT_DAYS, INCIDENT_DAYS, ALERT_VERSIONS):
        raw = {EVENT_DAYS: "device_events", INCIDENT_DAYS: "security_incident"}.get(rule, "security_alert")
        if rule == ALERT_VERSIONS:
            # only key columns of the tenant's history are read: versions gone from the published alerts
            con.execute(
                f"DELETE FROM main.{q} AS x WHERE x.tenant IN (SELECT tenant FROM catchup_loads "  # noqa: S608
                "WHERE tbl IN ('security_alert', 'security_incident')) AND NOT EXISTS (SELECT 1 FROM "
                "published.alerts AS p WHERE p.tenant = x.tenant AND p.system_alert_id = x.system_alert_id "
                "AND p.day = x.day)"
            )
        lo, hi = con.execute("SELECT min(day), max(day) FROM catchup_loads WHERE tbl = ?", [raw]).fetchone()
        if lo is None:
            return
        # the day range lets DuckDB skip row groups by their zone maps: cost follows the days, not the history
        where = (
            "x.day BETWEEN ? AND ? AND EXISTS (SELECT 1 FROM catchup_loads c "
            "WHERE c.tbl = ? AND c.tenant = x.tenant AND c.day = x.day)"
        )
        params = [lo, hi, raw]
    elif rule == PARTITIONS:
        lo, hi = con.execute("SELECT min(day), max(day) FROM catchup_loads").fetchone()
        if lo is None:
            return
        where = (
            "x.day BETWEEN ? AND ? AND EXISTS (SELECT 1 FROM catchup_loads c "
            "WHERE c.tbl = x.tbl AND c.tenant = x.tenant AND c.day = x.day)"
        )
        params = [lo, hi]
    elif rule == TENANTS:
        where = (
            "x.tenant IN (SELECT tenant FROM catchup_loads WHERE tbl IN ('security_alert', 'security_incident'))"
        )
        params = []
    elif rule == AS_OF:
        where = "x.as_of IN (SELECT as_of FROM catchup_as_of)"
        params = []
    else:
        raise StandbyUnusable(f"unknown catch-up rule {rule!r} for {table}")
    con.execute(f"DELETE FROM main.{q} AS x WHERE {where}", params)  # noqa: S608 - fixed SQL, catalog names
    con.execute(f"INSERT INTO main.{q} SELECT * FROM published.{q} AS x WHERE {where}", params)  # noqa: S608


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


def build_models(con: duckdb.DuckDBPyConnection, ctx: ModelContext, groups=MODEL_GROUPS,
                 models: Registry | None = None) -> dict[str, int]:
    """Run each model group's build() inside one transaction; returns row counts per table.
    `models` replaces this checkout's registry (for groups whose build() takes one)."""
    _register_changed(con, ctx.changed)
    counts: dict[str, int] = {}
    extra = {"models": models} if models is not None else {}
    for group in groups:
        module = importlib.import_module(f"models.{group}")
        con.execute("BEGIN TRANSACTION")
        try:
            counts.update(module.build(con, ctx, **extra))
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
    """CHECKPOINT, close, fsync and atomically rename the build file over the published warehouse;
    the generation it replaces stays as the standby (build/standby.duckdb) for the next run.

    Order, and what a crash between two steps leaves (the published file is always whole):
    1. publish_log row, CHECKPOINT, close (no WAL may be left), fsync the build file;
    2. hard-link the published file to build/standby.duckdb.tmp: a leftover tmp is discarded by the
       next run and never used (it may be the published file itself);
    3. os.replace(build file, warehouse.duckdb), fsync the home: the new generation is published;
    4. os.replace(tmp, build/standby.duckdb), fsync build/: the old generation is the standby. Before
       this step the standby is an older generation or missing: the next run catches it up further
       or copies.
    """
    with connect(path) as con:
        con.execute(
            "CREATE TABLE IF NOT EXISTS publish_log (published_at TIMESTAMPTZ, as_of DATE, build_file VARCHAR)"
        )
        con.execute("INSERT INTO publish_log VALUES (?, ?, ?)", [datetime.now(UTC), as_of, path.name])
        con.execute("CHECKPOINT")
    if _wal(path).exists():
        raise RuntimeError(f"{_wal(path).name} is left after CHECKPOINT: its changes would not be published")
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
    target = settings.warehouse_path
    target.parent.mkdir(parents=True, exist_ok=True)
    standby = standby_path(settings)
    tmp = standby.with_name(STANDBY + ".tmp")
    tmp.unlink(missing_ok=True)
    previous = False
    if target.exists():
        try:
            os.link(target, tmp)
            previous = True
        except OSError:
            previous = False  # no hard links on this file system: the next runs copy
    if not previous:
        _drop_standby(settings)  # an older standby would only grow further behind
    try:
        os.replace(path, target)
    except OSError:  # the rename failed (e.g. ENOSPC): the published file is unchanged
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    if previous:
        _wal(standby).unlink(missing_ok=True)
        os.replace(tmp, standby)
        fsync_dir(standby.parent)
    return target


def discard_stale_builds(settings: Settings, keep: Path | None = None) -> None:
    """Remove build files of earlier runs that failed (and their WALs, copies, a half-made standby);
    keep `keep` with its WAL, and the standby. The published file is never touched."""
    kept = {STANDBY}
    if keep is not None:
        kept |= {keep.name, _wal(keep).name}
    for leftover in settings.build_dir.glob("*"):
        if leftover.name not in kept and leftover.is_file():
            leftover.unlink(missing_ok=True)


def build_and_publish(settings: Settings, as_of: date, run_key: str, progress: Progress | None = None,
                      timings: dict[str, float] | None = None) -> dict[str, int]:
    """The whole warehouse step in one process: sync, models, publish. Used outside Dagster (bench, tests).

    `timings`, when given, receives the seconds of each phase (start, sync, models, publish) and
    where the build file came from (`build_from`), for the benchmarks."""
    phases = timings if timings is not None else {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name] = round(now - clock, 3)
        clock = now

    start = start_build(settings, run_key, progress)
    phases["build_from"] = start.source
    lap("start_s")
    with open_writer(start.path, settings) as con:
        changed = sync_lake(con, settings, progress)
        lap("sync_s")
        counts = build_models(con, ModelContext(settings=settings, as_of=as_of, changed=changed))
        lap("models_s")
    publish(settings, start.path, as_of)
    lap("publish_s")
    return counts
