"""Checks of what a warehouse run leaves outside the build file: the published warehouse and the reports.

They are not tables a GX suite could read, so each check is a plain function returning the same
Outcome records as the suites. All but one are ERROR: a published file that is not this run's
build, or a report that is missing, empty or would run a script, must not pass silently. Extra
tables in the published file only WARN.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import duckdb

from pipelines.names import safe_file_stem
from pipelines.warehouse.readonly import WarehouseUnavailable, connect_readonly
from quality.engine import Outcome

# The reports contain no scripts by design (pipelines/reports/templates/: inline CSS and SVG only), so
# any opening script tag, whatever its case, is data that bypassed escaping.
SCRIPT_TAG = re.compile(rb"<\s*script", re.IGNORECASE)
SHOWN = 5  # file names listed in an observed value
# Tables of the published file that are logs of the runs or bookkeeping of the build (the layout
# version of the incremental tables), not assets: without model_versions here every night warned.
RUN_LOG_TABLES = {"publish_log", "quality_results", "model_versions"}


def _outcome(asset: str, label: str, ok: bool, observed: str, why: str, partition: str = "") -> Outcome:
    return Outcome(asset, partition, label, "ERROR", ok, observed[:300], None, why)


def check_published(warehouse_path: Path, build_file: str, expected_rows: Mapping[str, int | None]) -> list[Outcome]:
    """The published file opens read-only, is this run's build, and holds every table the run built
    with the row count the run recorded for it (None: presence only)."""
    asset = "warehouse"
    try:
        con = connect_readonly(warehouse_path)
    except (WarehouseUnavailable, duckdb.Error) as exc:
        return [_outcome(asset, "opens read-only", False, str(exc),
                         "analysts, reports and `hunthouse sql` only ever open it read-only")]
    with con:
        outcomes = [_outcome(asset, "opens read-only", True, str(warehouse_path),
                             "analysts, reports and `hunthouse sql` only ever open it read-only")]
        present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()}
        last = (
            con.execute("SELECT build_file FROM publish_log ORDER BY published_at DESC LIMIT 1").fetchall()
            if "publish_log" in present else []
        )
        published = last[0][0] if last else None
        outcomes.append(_outcome(
            asset, "is this run's build file", published == build_file, f"last publish_log build_file: {published}",
            "the atomic rename must have put exactly this run's build in place, not an older or a concurrent one",
        ))
        missing = sorted(set(expected_rows) - present)
        outcomes.append(_outcome(
            asset, "table list matches the build", not missing,
            f"missing: {', '.join(missing)}" if missing else f"all {len(expected_rows)} table assets present",
            "every table the run materialised must be in the published file, or queries and reports break",
        ))
        extra = sorted(present - set(expected_rows) - RUN_LOG_TABLES)
        outcomes.append(Outcome(
            asset, "", "no table outside the build's assets", "WARN", not extra,
            (f"extra: {', '.join(extra)}" if extra else "none")[:300], None,
            "a table no asset describes is build scratch that leaked into the published file; harmless to "
            "queries, but undocumented and it grows the file",
        ))
        differing = []
        for table in sorted(set(expected_rows) & present):
            expected = expected_rows[table]
            if expected is not None:
                actual = con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0]  # noqa: S608 (name from duckdb_tables)
                if actual != expected:
                    differing.append(f"{table} {actual} != {expected}")
        outcomes.append(_outcome(
            asset, "row counts match the build", not differing,
            "; ".join(differing) or "equal", "a count that changed between build and publish means a half-written or "
            "foreign file was published",
        ))
    return outcomes


def expected_firewall_files(tenant: str) -> list[str]:
    """The files write_firewall_reports writes per tenant (pipelines/reports/firewall.py): the report
    and its open findings' rule drafts as a netsh batch file and a PowerShell script."""
    return [f"{tenant}.html", f"{tenant}-rules.cmd", f"{tenant}-rules.ps1"]


def expected_owner_files(owners: list[str]) -> list[str]:
    """The files write_owner_reports writes per owner (pipelines/reports/owners.py): the report, its
    CSV and JSON, the watchlist CSV, and the deployable forms (combined clauses, the automation-rule
    ARM template, Defender alert tuning conditions)."""
    names = []
    for owner in sorted(set(owners)):
        stem = safe_file_stem(owner)
        names += [f"{stem}.html", f"{stem}.csv", f"{stem}.json", f"watchlist-{stem}.csv", f"clauses-{stem}.kql",
                  f"automation-rules-{stem}.json", f"defender-tuning-{stem}.json"]
    return names


def check_report_files(asset: str, directory: Path, expected: list[str], partition: str = "") -> list[Outcome]:
    """Every expected file exists and is non-empty; no HTML file contains a script tag."""
    missing, empty, scripted = [], [], []
    for name in expected:
        path = directory / name
        if not path.is_file():
            missing.append(name)
            continue
        data = path.read_bytes()
        if not data.strip():
            empty.append(name)
        elif name.endswith(".html") and SCRIPT_TAG.search(data):
            scripted.append(name)

    def listed(names: list[str], ok: str) -> str:
        return (", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")) if names else ok

    return [
        _outcome(asset, "every expected file exists", not missing, listed(missing, f"{len(expected)} files"),
                 "one file per tenant or owner is the report's contract; a missing one is an unreported tenant or owner",
                 partition),
        _outcome(asset, "no file is empty", not empty, listed(empty, "none empty"),
                 "an empty file is a failed write that looks like a delivered report", partition),
        _outcome(asset, "no <script in HTML", not scripted, listed(scripted, "none"),
                 "reports carry no scripts by design; a <script tag is data that escaped escaping and would run "
                 "in the reader's browser", partition),
    ]
