"""Run the suites: raw lake partitions (extract runs) and the build file's tables (warehouse runs).

The Dagster checks in pipelines/dagster_defs/checks.py are thin wrappers around these functions.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import duckdb
import pandas as pd
import pyarrow as pa

from pipelines import lake_remote
from pipelines.config import Settings
from pipelines.lake import Manifest, committed_files, list_manifests, partition_dir, partition_manifest
from pipelines.objectstore import is_remote
from pipelines.sources.base import day_window
from pipelines.sources.contract import CLOCK_SKEW
from pipelines.warehouse.connect import connect
from pipelines.warehouse.load_log import LATEST_LOADS, has_table
from quality.checks import WINDOW_END_COLUMN, WINDOW_START_COLUMN
from quality.engine import (
    CHUNK_ROWS,
    Outcome,
    bucketed_chunks,
    quote_identifier,
    referenced_columns,
    validate_partitions,
    validate_tables,
)
from quality.results import (
    RESULT_FILE,
    load_partition_results,
    parse_results,
    results_doc,
    save_partition_results,
)
from quality.suites.firewall import FIREWALL_SUITES
from quality.suites.metrics import BUSY_MEDIAN, COVERAGE_SUITE, PARTITION_SUITE, source_columns_suite
from quality.suites.raw import RAW_KEYS, RAW_SUITES, REQUIRED_SOURCE_COLUMNS
from quality.suites.staging import MODEL_SUITES, STAGING_SUITES
from quality.suites.tuning import TUNING_SUITES

# Boundary tolerance of the window expectations (clock skew between device and service).
WINDOW_TOLERANCE = timedelta(minutes=5)
TRAILING_DAYS = 28
# Every table asset of the warehouse build with its suite and scope.
TABLE_SUITES = {**STAGING_SUITES, **MODEL_SUITES, **FIREWALL_SUITES, **TUNING_SUITES}


def window_params(now: datetime | None = None) -> dict:
    """The suite parameters of a run: the latest instant a row may carry."""
    return {"not_after": pd.Timestamp((now or datetime.now(UTC)) + CLOCK_SKEW)}


def with_window(tbl: pa.Table, day: date) -> pa.Table:
    """The frame with its partition's window (plus tolerance) as two per-row columns, which the
    window expectations compare the row's own timestamp with."""
    window = day_window(day)
    bounds = ((WINDOW_START_COLUMN, window.start - WINDOW_TOLERANCE), (WINDOW_END_COLUMN, window.end + WINDOW_TOLERANCE))
    for name, value in bounds:
        tbl = tbl.append_column(name, pa.array([value] * tbl.num_rows, pa.timestamp("us", tz="UTC")))
    return tbl


def partition_label(tenant: str, day: date | str) -> str:
    return f"{tenant}|{day}"


def partition_metrics(settings: Settings, manifest_rows: dict[date, int], day: date, rows: int, quarantined: int) -> pa.Table:
    """The one-row frame of a partition's facts; `manifest_rows` holds its tenant's committed row
    count per day of the table, for the trailing median of the TRAILING_DAYS before `day`."""
    total = rows + quarantined
    start = day - timedelta(days=TRAILING_DAYS)
    trailing = [n for d, n in manifest_rows.items() if start <= d < day]
    median = statistics.median(trailing) if trailing else None
    return pa.table({
        "rows": [rows],
        "quarantined": [quarantined],
        "bad_share": [quarantined / total if total else 0.0],
        "threshold": [settings.quarantine_threshold],
        "trailing_median": [median],
        "ratio_to_median": [rows / median if median else None],
        "busy_but_empty": [bool(rows == 0 and median is not None and median >= BUSY_MEDIAN)],
    })


def check_raw_partition(settings: Settings, table: str, tenant: str, day: date, run_id: str) -> list[Outcome]:
    """Validate one committed lake partition; save the results beside its manifest."""
    return check_raw_partitions(settings, table, [(tenant, day)], run_id)


def check_raw_partitions(settings: Settings, table: str, keys: list[tuple[str, date]], run_id: str) -> list[Outcome]:
    """Validate committed lake partitions of one table; save each one's results beside its manifest.
    Outcomes are per partition, in the order of `keys`; the partitions are validated together where
    they pass (quality.engine.validate_partitions), so a backfill costs GX runs per rows, not per day."""
    by_key = _check_raw(settings, table, keys, run_id)
    return [o for key in dict.fromkeys(keys) for o in by_key[key]]


def _check_raw(settings: Settings, table: str, keys: list[tuple[str, date]], run_id: str
               ) -> dict[tuple[str, date], list[Outcome]]:
    asset = f"raw_{table}"
    found: dict[tuple[str, date], Manifest] = {}
    missing: dict[tuple[str, date], list[Outcome]] = {}
    for tenant, day in dict.fromkeys(keys):
        manifest = partition_manifest(settings.lake_root, table, tenant, day)
        if manifest is None:
            missing[(tenant, day)] = [Outcome(asset, partition_label(tenant, day), "committed partition exists", "ERROR",
                                              False, "no manifest", None, "the extract did not commit this partition")]
        else:
            found[(tenant, day)] = manifest
    per_part: dict[tuple[str, date], list[Outcome]] = {key: [] for key in found}
    _source_columns(asset, table, found, per_part)
    needed = referenced_columns(RAW_SUITES[table])
    with connect() as con:
        slices = [DaySlice(*key, manifest.rows, _raw_reader(con, settings, manifest, needed),
                           _raw_chunks(con, settings, manifest, RAW_KEYS[table])) for key, manifest in found.items()]
        for key, outcomes in validate_day_slices(asset, RAW_SUITES[table], slices).items():
            per_part[key] += outcomes
    _metrics(settings, asset, table, found, per_part)
    for key, manifest in found.items():
        _save_results(settings, table, *key, manifest.sha256, run_id, per_part[key])
    return {**missing, **per_part}


def _source_columns(asset, table, found, per_part) -> None:
    """The source's own column list (recorded by extract, before conform fills missing ones), validated
    once per distinct list: the frame is only those names."""
    by_columns: dict[tuple[str, ...], list[tuple[str, date]]] = {}
    for key, manifest in found.items():
        columns = manifest.stats.get("source_columns")
        if columns is not None:
            by_columns.setdefault(tuple(dict.fromkeys(columns)), []).append(key)
    suite = source_columns_suite(table, REQUIRED_SOURCE_COLUMNS[table])
    for columns, keys in by_columns.items():
        frame = pa.table({c: pa.array([], pa.string()) for c in columns})
        outcomes = validate_tables(asset, "", f"{asset}_source", suite, [frame])
        for key in keys:
            per_part[key] += [replace(o, partition=partition_label(*key)) for o in outcomes]


@dataclass(frozen=True)
class DaySlice:
    """One (tenant, day) slice of a table for a suite with window checks: `read` gives it whole,
    `chunks` in key-bucketed chunks (for a slice larger than CHUNK_ROWS)."""
    tenant: str
    day: date
    rows: int
    read: Callable[[], pa.Table]
    chunks: Callable[[], Iterator[pa.Table]]


def validate_day_slices(asset: str, suite, slices: list[DaySlice]) -> dict[tuple[str, date], list[Outcome]]:
    """Each slice's outcomes, each slice with its own window columns: slices up to CHUNK_ROWS in all
    validated together (quality.engine.validate_partitions), a larger one alone in chunks."""
    params = window_params()
    found: dict[tuple[str, date], list[Outcome]] = {}
    batch: list[tuple[DaySlice, pa.Table]] = []

    def flush() -> None:
        parts = [(partition_label(s.tenant, s.day), tbl) for s, tbl in batch]
        for (s, _), outcomes in zip(batch, validate_partitions(asset, asset, suite, parts, params), strict=True):
            found[(s.tenant, s.day)] = outcomes
        batch.clear()

    for s in slices:
        if s.rows > CHUNK_ROWS:
            chunks = (with_window(c, s.day) for c in s.chunks())
            found[(s.tenant, s.day)] = validate_tables(asset, partition_label(s.tenant, s.day), asset, suite, chunks, params)
            continue
        if batch and sum(tbl.num_rows for _, tbl in batch) + s.rows > CHUNK_ROWS:
            flush()
        batch.append((s, with_window(s.read(), s.day)))
    if batch:
        flush()
    return found


def _raw_reader(con, settings: Settings, manifest: Manifest, columns: list[str]) -> Callable[[], pa.Table]:
    """The committed file whole, with the suite's columns (a remote one read from a verified local copy)."""
    def read() -> pa.Table:
        with _local_file(settings, manifest) as path:
            tbl = con.execute("SELECT * FROM read_parquet(?)", [path]).to_arrow_table()
        return tbl.select([c for c in columns if c in tbl.column_names])
    return read


def _raw_chunks(con, settings: Settings, manifest: Manifest, keys: list[str]) -> Callable[[], Iterator[pa.Table]]:
    """The committed file in key-bucketed chunks; the local copy lives while they are read."""
    def chunks() -> Iterator[pa.Table]:
        with _local_file(settings, manifest) as path:
            yield from bucketed_chunks(con, "SELECT * FROM read_parquet(?)", [path], keys)
    return chunks


@contextmanager
def _local_file(settings: Settings, manifest: Manifest) -> Iterator[str]:
    if is_remote(settings.lake_root):  # a verified local copy of the committed file
        with committed_files(manifest) as (data, _):
            yield str(data)
    else:
        yield manifest.file


def _metrics(settings, asset, table, found, per_part) -> None:
    """The partition suite on one-row frames of each partition's facts, validated together."""
    history: dict[str, dict[date, int]] = {}
    for tenant in sorted({tenant for tenant, _ in found}):
        history[tenant] = {date.fromisoformat(m.day): m.rows
                           for m in list_manifests(settings.lake_root, table, tenants=[tenant]) if m.tenant == tenant}
    parts = [(partition_label(*key), partition_metrics(settings, history[key[0]], key[1], m.rows, m.quarantined))
             for key, m in found.items()]
    for key, outcomes in zip(found, validate_partitions(asset, f"{asset}_partition", PARTITION_SUITE, parts), strict=True):
        per_part[key] += outcomes


def _save_results(settings: Settings, table: str, tenant: str, day: date, sha256: str, run_id: str,
                  outcomes: list[Outcome]) -> None:
    if is_remote(settings.lake_root):
        lake_remote.put_sidecar(settings.lake_root, table, tenant, day, RESULT_FILE,
                                results_doc(sha256, run_id, outcomes).encode())
    else:
        save_partition_results(partition_dir(settings.lake_root, table, tenant, day), sha256, run_id, outcomes)


def _load_results(settings: Settings, table: str, tenant: str, day: date, sha256: str):
    if is_remote(settings.lake_root):
        body = lake_remote.get_sidecar(settings.lake_root, table, tenant, day, RESULT_FILE)
        return parse_results(body.decode(), sha256) if body else None
    return load_partition_results(partition_dir(settings.lake_root, table, tenant, day), sha256)


def raw_results_for_build(con: duckdb.DuckDBPyConnection, settings: Settings, changed, run_id: str) -> list[Outcome]:
    """Raw results of the partitions this build loaded: saved by the extract run when they describe
    the loaded file, else validated now (e.g. a lake written outside Dagster)."""
    loaded = dict(
        ((t, n, d), sha) for t, n, d, sha in con.execute(
            f"SELECT tbl, tenant, day, sha256 FROM ({LATEST_LOADS})"  # noqa: S608 - a fixed fragment
        ).fetchall()
    )
    saved: dict[tuple[str, str, date], list[Outcome]] = {}
    unchecked: dict[str, list[tuple[str, date]]] = {}
    for table, tenant, day in sorted(set(changed)):
        found = _load_results(settings, table, tenant, day, loaded.get((table, tenant, day), ""))
        if found:
            saved[(table, tenant, day)] = found[2]
        else:
            unchecked.setdefault(table, []).append((tenant, day))
    for table, keys in unchecked.items():
        for (tenant, day), outcomes in _check_raw(settings, table, keys, run_id).items():
            saved[(table, tenant, day)] = outcomes
    return [o for key in sorted(saved) for o in saved[key]]


def changed_label(changed) -> str:
    """E.g. 'contoso|2026-10-01..2026-11-11 (42 days)': the changed days a whole-run frame covered."""
    days = sorted({d for _, _, d in changed})
    tenants = ",".join(sorted({n for _, n, _ in changed}))
    if not days:
        return "nothing changed"
    return partition_label(tenants, f"{days[0]}..{days[-1]} ({len(days)} days)")




def _projected(con: duckdb.DuckDBPyConnection, table: str, sql: str, wanted: list[str]) -> str:
    """`sql` reduced to the columns the suite reads that the table has: converting unread columns to
    pandas was most of a wide table's cost. A missing column stays missing, so GX reports it failed."""
    present = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [table]).fetchall()}
    columns = [c for c in dict.fromkeys(wanted) if c in present]
    if not columns:
        return sql
    return f"SELECT {', '.join(quote_identifier(c) for c in columns)} FROM ({sql})"  # noqa: S608 (allow-listed names)


def check_table(con: duckdb.DuckDBPyConnection, asset: str, changed, as_of: date, tenants: list[str]) -> list[Outcome]:
    """Validate what this run changed in one staging or model table of the build file."""
    suite, scope = TABLE_SUITES[asset]
    if not has_table(con, asset):
        return [Outcome(asset, "", "table exists", "ERROR", False, "missing from the build file", None,
                        "the asset was materialised, so its table must exist")]
    sql = _projected(con, asset, scope.sql, [*referenced_columns(suite), *scope.keys])
    if scope.by == "tenant_day":
        targets = sorted({(n, d) for t, n, d in changed if t == "device_events"})
        return _check_days(con, asset, suite, sql, scope.keys, targets)
    if scope.by == "as_of":
        bind = [([n, as_of], partition_label(n, as_of)) for n in tenants]
    elif scope.by == "changed":
        # One frame over every partition this run changed (GX runs cost per call, not per row).
        keys = sorted({f"{t}|{n}|{d}" for t, n, d in changed})
        bind = [([keys], changed_label(changed))]
    elif scope.by == "tenants":
        bind = [([list(tenants)], ",".join(tenants))]
    elif scope.by == "all":
        bind = [([], "all")]
    else:
        changed_tenants = sorted({n for _, n, _ in changed}) if asset not in MODEL_SUITES else tenants
        bind = [([n], n) for n in changed_tenants]
    outcomes: list[Outcome] = []
    for params, label in bind:
        chunks = bucketed_chunks(con, sql, params, scope.keys)
        outcomes += validate_tables(asset, label, asset, suite, chunks, window_params())
    if asset == "incidents":
        outcomes += coverage(con, sorted({n for t, n, _ in changed if t in ("security_alert", "security_incident")}))
    return outcomes


def _check_days(con, asset: str, suite, sql: str, keys, targets: list[tuple[str, date]]) -> list[Outcome]:
    """A day-scoped table's changed (tenant, day) slices (validate_day_slices)."""
    def slice_of(tenant: str, day: date) -> DaySlice:
        rows = con.execute(f"SELECT count(*) FROM ({sql})", [tenant, day]).fetchone()[0]  # noqa: S608 (sql from code)
        return DaySlice(tenant, day, rows, lambda: con.execute(sql, [tenant, day]).to_arrow_table(),
                        lambda: bucketed_chunks(con, sql, [tenant, day], keys))

    found = validate_day_slices(asset, suite, [slice_of(n, d) for n, d in targets])
    return [o for target in targets for o in found[target]]


def coverage(con: duckdb.DuckDBPyConnection, tenants: list[str]) -> list[Outcome]:
    """Share of labelled incidents whose alerts are all present in alerts, per tenant. Only incidents
    whose first activity lies inside the exported alert history count: on a tenant's first nights, an
    incident closed today about alerts from before its first exported day is not a broken export."""
    outcomes = []
    for tenant in tenants:
        labelled, covered = con.execute(
            """
            WITH labelled AS (
                SELECT incident_number, alert_ids FROM incidents
                WHERE tenant = ? AND classification IS NOT NULL AND len(alert_ids) > 0
                  AND coalesce(first_activity_time, created_time) >= (
                      SELECT min(day) FROM load_log WHERE tbl = 'security_alert' AND tenant = ?)
            )
            SELECT count(*),
                   count(*) FILTER (WHERE NOT EXISTS (
                       SELECT 1 FROM (SELECT unnest(l.alert_ids) AS id) AS x
                       WHERE x.id NOT IN (SELECT system_alert_id FROM alerts WHERE tenant = ?)))
            FROM labelled AS l
            """,
            [tenant, tenant, tenant],
        ).fetchall()[0]
        if not labelled:
            continue
        frame = pa.table({"labelled_incidents": [labelled], "coverage": [covered / labelled]})
        outcomes += validate_tables("incidents", tenant, "incidents_coverage", COVERAGE_SUITE, [frame])
    return outcomes
