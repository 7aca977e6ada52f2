"""Extract assets: one per raw table, partitioned by tenant × day, writing only Parquet."""

from __future__ import annotations

from datetime import datetime

import dagster as dg

from pipelines.dagster_defs.partitions import split_key
from pipelines.dagster_defs.resources import HunthouseSettings
from pipelines.extract import extract_partition
from pipelines.sources.schemas import RAW_TABLES

# Only the simulator reads it: rows ingested after this instant are not there yet (tests of late rows).
INGESTED_BEFORE_TAG = "hunthouse/ingested_before"

DESCRIPTIONS = {
    "device_events": "DeviceEvents firewall rows (ActionType Firewall*) for one tenant and UTC day, as Parquet.",
    "security_alert": "SecurityAlert rows whose TimeGenerated falls in one tenant's UTC day, as Parquet.",
    "security_incident": "SecurityIncident versions (one row per update) modified in one tenant's UTC day, as Parquet.",
}


def _extract_asset(table: str, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"raw_{table}",
        group_name="lake",
        partitions_def=partitions_def,
        description=DESCRIPTIONS[table],
        kinds={"parquet", "python"},
        owners=["team:hunthouse"],
        pool="source_api",
        retry_policy=dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL),
    )
    def _asset(context: dg.AssetExecutionContext, hunthouse: HunthouseSettings) -> dg.MaterializeResult:
        settings = hunthouse.load()
        tenant, day = split_key(context.partition_key)
        before = context.run.tags.get(INGESTED_BEFORE_TAG)
        manifest = extract_partition(
            settings, tenant, table, day, as_of=datetime.fromisoformat(before) if before else None
        )
        stats = manifest.stats
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": manifest.rows,
                "quarantined": manifest.quarantined,
                "query_windows": stats.get("query_windows", 0),
                "splits": stats.get("splits", 0),
                "retries": stats.get("retries", 0),
                "duration_s": stats.get("duration_s", 0.0),
                "watermark": str(stats.get("watermark")),
                "dropped_columns": ", ".join(stats.get("dropped_columns") or []) or "none",
                "file": dg.MetadataValue.path(manifest.file),
            }
        )

    return _asset


def extract_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [_extract_asset(table, partitions_def) for table in RAW_TABLES]
