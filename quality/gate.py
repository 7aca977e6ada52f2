"""Run the suites: raw lake partitions (extract runs) and the build file's tables (warehouse runs).

The Dagster checks in pipelines/dagster_defs/checks.py are thin wrappers around these functions.
"""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, timedelta

import duckdb
import pandas as pd
import pyarrow as pa

from pipelines import lake_remote
from pipelines.config import Settings
from pipelines.lake import committed_files, list_manifests, partition_dir, partition_manifest
from pipelines.objectstore import is_remote
from pipelines.sources.base import day_window
from pipelines.sources.contract import CLOCK_SKEW
from pipelines.warehouse.connect import connect
from pipelines.warehouse.load_log import LATEST_LOADS, has_table
from quality.engine import Outcome, bucketed_chunks, quote_identifier, referenced_columns, validate_tables
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


def window_params(day: date, now: datetime | None = None) -> dict:
    window = day_window(day)
    return {
        "window_start": pd.Timestamp(window.start - WINDOW_TOLERANCE),
        "window_end": pd.Timestamp(window.end + WINDOW_TOLERANCE),
        "not_after": pd.Timestamp((now or datetime.now(UTC)) + CLOCK_SKEW),
    }


def partition_label(tenant: str, day: date | str) -> str:
    return f"{tenant}|{day}"


def _trailing_median(settings: Settings, table: str, tenant: str, day: date) -> float | None:
    start = day - timedelta(days=TRAILING_DAYS)
    rows = [
        m.rows for m in list_manifests(settings.lake_root, table, tenants=[tenant])
        if m.tenant == tenant and start <= date.fromisoformat(m.day) < day
    ]
    return statistics.median(rows) if rows else None


def partition_metrics(settings: Settings, table: str, tenant: str, day: date, rows: int, quarantined: int) -> pa.Table:
    total = rows + quarantined
    median = _trailing_median(settings, table, tenant, day)
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
    asset, label = f"raw_{table}", partition_label(tenant, day)
    manifest = partition_manifest(settings.lake_root, table, tenant, day)
    if manifest is None:
        return [Outcome(asset, label, "committed partition exists", "ERROR", False, "no manifest", None,
                        "the extract did not commit this partition")]
    outcomes = []
    source_columns = manifest.stats.get("source_columns")
    if source_columns is not None:
        required = REQUIRED_SOURCE_COLUMNS[table]
        frame = pa.table({c: pa.array([], pa.string()) for c in dict.fromkeys(source_columns)})
        outcomes += validate_tables(asset, label, f"{asset}_source", source_columns_suite(table, required), [frame])
    with connect() as con:
        if is_remote(settings.lake_root):  # a verified local copy of the committed file
            with committed_files(manifest) as (data, _):
                chunks = bucketed_chunks(con, "SELECT * FROM read_parquet(?)", [str(data)], RAW_KEYS[table])
                outcomes += validate_tables(asset, label, asset, RAW_SUITES[table], chunks, window_params(day))
        else:
            chunks = bucketed_chunks(con, "SELECT * FROM read_parquet(?)", [manifest.file], RAW_KEYS[table])
            outcomes += validate_tables(asset, label, asset, RAW_SUITES[table], chunks, window_params(day))
    metrics = partition_metrics(settings, table, tenant, day, manifest.rows, manifest.quarantined)
    outcomes += validate_tables(asset, label, f"{asset}_partition", PARTITION_SUITE, [metrics])
    _save_results(settings, table, tenant, day, manifest.sha256, run_id, outcomes)
    return outcomes


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
    outcomes: list[Outcome] = []
    for table, tenant, day in sorted(set(changed)):
        saved = _load_results(settings, table, tenant, day, loaded.get((table, tenant, day), ""))
        outcomes += saved[2] if saved else check_raw_partition(settings, table, tenant, day, run_id)
    return outcomes


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
    if scope.by == "tenant_day":
        targets = sorted({(n, d) for t, n, d in changed if t == "device_events"})
        bind = [([n, d], partition_label(n, d), window_params(d)) for n, d in targets]
    elif scope.by == "as_of":
        bind = [([n, as_of], partition_label(n, as_of), window_params(as_of)) for n in tenants]
    elif scope.by == "changed":
        # One frame over every partition this run changed (GX runs cost per call, not per row).
        keys = sorted({f"{t}|{n}|{d}" for t, n, d in changed})
        bind = [([keys], changed_label(changed), window_params(as_of))]
    elif scope.by == "tenants":
        bind = [([list(tenants)], ",".join(tenants), window_params(as_of))]
    elif scope.by == "all":
        bind = [([], "all", window_params(as_of))]
    else:
        changed_tenants = sorted({n for _, n, _ in changed}) if asset not in MODEL_SUITES else tenants
        bind = [([n], n, window_params(as_of)) for n in changed_tenants]
    outcomes: list[Outcome] = []
    sql = _projected(con, asset, scope.sql, [*referenced_columns(suite), *scope.keys])
    for params, label, gx_params in bind:
        chunks = bucketed_chunks(con, sql, params, scope.keys)
        outcomes += validate_tables(asset, label, asset, suite, chunks, gx_params)
    if asset == "incidents":
        outcomes += coverage(con, sorted({n for t, n, _ in changed if t in ("security_alert", "security_incident")}))
    return outcomes


def coverage(con: duckdb.DuckDBPyConnection, tenants: list[str]) -> list[Outcome]:
    """Share of labelled incidents whose alerts are all present in alerts, per tenant."""
    outcomes = []
    for tenant in tenants:
        labelled, covered = con.execute(
            """
            WITH labelled AS (
                SELECT incident_number, alert_ids FROM incidents
                WHERE tenant = ? AND classification IS NOT NULL AND len(alert_ids) > 0
            )
            SELECT count(*),
                   count(*) FILTER (WHERE NOT EXISTS (
                       SELECT 1 FROM (SELECT unnest(l.alert_ids) AS id) AS x
                       WHERE x.id NOT IN (SELECT system_alert_id FROM alerts WHERE tenant = ?)))
            FROM labelled AS l
            """,
            [tenant, tenant],
        ).fetchall()[0]
        if not labelled:
            continue
        frame = pa.table({"labelled_incidents": [labelled], "coverage": [covered / labelled]})
        outcomes += validate_tables("incidents", tenant, "incidents_coverage", COVERAGE_SUITE, [frame])
    return outcomes
