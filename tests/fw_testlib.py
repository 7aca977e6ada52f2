"""Helpers for the firewall tests: a staging database, settings, and raw → staging loading
through the pipeline's own `pipelines.warehouse.staging.stage_raw`."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.config import parse
from pipelines.sources.schemas import conform
from pipelines.warehouse.staging import stage_raw as pipeline_stage_raw

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
STAGING_DDL = REPO / "models" / "staging" / "00_tables.sql"


def staging_db() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute(STAGING_DDL.read_text(encoding="utf-8"))
    return con


def settings(tenants: list[str], baseline_days: int = 28, tmp: Path | None = None):
    doc = {
        "hunthouse": {"home": str(tmp or REPO / ".hunthouse-test")},
        "firewall": {"baseline_days": baseline_days},
        "tenant": [{"name": t, "kind": "sample"} for t in tenants],
    }
    return parse(doc, base_dir=REPO)


def stage_raw(con: duckdb.DuckDBPyConnection, tenant: str, raw: pa.Table) -> list[tuple[str, str, date]]:
    """Stage raw DeviceEvents rows day by day; return the (tbl, tenant, day) partitions touched."""
    table, _extra = conform(raw, "device_events")
    days = pc.cast(table.column("Timestamp"), pa.date32())
    out: list[tuple[str, str, date]] = []
    for day in sorted(set(days.to_pylist())):
        part = table.filter(pc.equal(days, pa.scalar(day, pa.date32())))
        pipeline_stage_raw(con, "device_events", tenant, day, part)
        out.append(("device_events", tenant, day))
    return out


def changed(con: duckdb.DuckDBPyConnection, parts: list[tuple[str, str, date]]) -> None:
    """(Re)create the temp table changed_partitions holding exactly `parts`."""
    con.execute("CREATE OR REPLACE TEMP TABLE changed_partitions (tbl VARCHAR, tenant VARCHAR, day DATE)")
    if parts:
        con.executemany("INSERT INTO changed_partitions VALUES (?, ?, ?)", [list(p) for p in parts])


def raw_table(rows: list[dict]) -> pa.Table:
    """Raw DeviceEvents rows (Microsoft column names) from dicts; absent columns become nulls."""
    from pipelines.sources.schemas import DEVICE_EVENTS

    names = sorted({k for r in rows for k in r})
    schema = pa.schema([DEVICE_EVENTS.field(n) for n in names])
    return pa.Table.from_pylist(rows, schema=schema)


def build_firewall(con, tenants: list[str], as_of: date, baseline_days: int = 28, **thresholds):
    """Run the firewall model group for `as_of` with the changed_partitions already in `con`."""
    from models.firewall import build
    from models.firewall.thresholds import FirewallThresholds
    from models.runner import ModelContext

    ctx = ModelContext(settings=settings(tenants, baseline_days), as_of=as_of)
    return build(con, ctx, FirewallThresholds(**thresholds))
