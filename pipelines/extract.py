"""Extract one (table, tenant, day) partition from its source into the lake.

Rows that cannot be keyed or fall outside the requested window are quarantined with a reason,
never dropped silently and never allowed to crash the load; the load fails only when the bad share
crosses `quarantine_threshold`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date, datetime

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.config import Settings
from pipelines.lake import Manifest, write_partition
from pipelines.sources.base import FetchStats, Source, Window, day_window
from pipelines.sources.contract import RAW_CONTRACT, key_reason
from pipelines.sources.factory import make_source
from pipelines.sources.row_rules import conform_or_quarantine, screen_rows, source_columns
from pipelines.sources.schemas import WINDOW_COLUMN

QUARANTINE_SCHEMA = pa.schema([("reason", pa.string()), ("row_json", pa.string())])


class QuarantineThresholdExceeded(RuntimeError):
    pass


def split_bad_rows(tbl: pa.Table, table: str, window: Window) -> tuple[pa.Table, pa.Table]:
    """Separate rows without a key (NULL, or blank text: the contract's keys) or with a window column
    outside the window; say why for each."""
    reasons = pa.nulls(tbl.num_rows, pa.string())
    for col in RAW_CONTRACT[table].keys:
        values = tbl.column(col)
        is_bad = pc.is_null(values)
        if pa.types.is_string(values.type):
            is_bad = pc.fill_null(pc.or_kleene(is_bad, pc.equal(pc.utf8_trim_whitespace(values), "")), True)
        reasons = pc.if_else(pc.and_(pc.is_null(reasons), is_bad), key_reason(col), reasons)
    wcol = tbl.column(WINDOW_COLUMN[table])
    outside = pc.or_(pc.less(wcol, pa.scalar(window.start, wcol.type)), pc.greater_equal(wcol, pa.scalar(window.end, wcol.type)))
    outside = pc.fill_null(outside, False)
    reasons = pc.if_else(
        pc.and_(pc.is_null(reasons), outside),
        f"{WINDOW_COLUMN[table]} outside the partition window [{window.start.isoformat()}, {window.end.isoformat()})",
        reasons,
    )
    bad_mask = pc.is_valid(reasons)
    if not pc.any(bad_mask).as_py():
        return tbl, QUARANTINE_SCHEMA.empty_table()
    bad = tbl.filter(bad_mask)
    bad_reasons = reasons.filter(bad_mask)
    rows_json = [json.dumps(r, default=str, sort_keys=True) for r in bad.to_pylist()]
    quarantined = pa.table({"reason": bad_reasons, "row_json": pa.array(rows_json, pa.string())}, schema=QUARANTINE_SCHEMA)
    return tbl.filter(pc.invert(bad_mask)), quarantined


def extract_partition(
    settings: Settings,
    tenant_name: str,
    table: str,
    day: date,
    as_of: datetime | None = None,
    source: Source | None = None,
) -> Manifest:
    tenant = settings.tenant(tenant_name)
    source = source or make_source(tenant, as_of)
    window = day_window(day)
    stats = FetchStats()
    quarantine: list[pa.Table] = []
    seen_columns: set[str] = set()
    batches = 0
    started = time.monotonic()

    def good_batches() -> Iterator[pa.Table]:
        nonlocal batches
        for batch in source.fetch(table, window, stats):
            batches += 1
            # the service's own columns: conformed sources report them, others are read off the batch
            seen_columns.update(source_columns(batch, table) if stats.source_columns is None else stats.source_columns)
            # pipelines/sources/row_rules.py, from the row contract: values that do not fit their type, values
            # out of range, future timestamps and malformed JSON are quarantined with a reason
            # instead of failing the load; blank JSON becomes NULL.
            conformed, extra, untyped = conform_or_quarantine(batch, table)
            if extra:
                stats.dropped_columns = sorted(set(stats.dropped_columns) | set(extra))
            good, bad = split_bad_rows(conformed, table, window)
            good, screened = screen_rows(good, table)
            quarantine.extend([untyped, bad, screened])
            yield good

    def check_share(rows: int, bad: int) -> None:
        total = rows + bad
        if total and bad / total > settings.quarantine_threshold:
            raise QuarantineThresholdExceeded(
                f"{table} {tenant_name} {day}: {bad} of {total} rows quarantined "
                f"({bad / total:.1%} > threshold {settings.quarantine_threshold:.1%}); partition not replaced"
            )

    def run_stats() -> dict:
        return {
            "query_windows": stats.query_windows,
            "splits": stats.splits,
            "retries": stats.retries,
            "duration_s": round(time.monotonic() - started, 3),
            "watermark": stats.watermark.isoformat() if stats.watermark else None,
            "dropped_columns": stats.dropped_columns,
            "source_kind": tenant.kind,
            # contract columns the source actually sent (quality checks a required one is missing)
            "source_columns": sorted(seen_columns) if batches else None,
            "absence": stats.absence,
        }

    return write_partition(
        settings.lake_root,
        table,
        tenant_name,
        day,
        good_batches(),
        quarantine=quarantine,
        stats=run_stats,
        before_commit=check_share,
    )
