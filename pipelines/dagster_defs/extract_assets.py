"""Extract assets: one per raw table, partitioned by tenant × day, writing only Parquet."""

from __future__ import annotations

from datetime import datetime

import dagster as dg

from pipelines.dagster_defs.partitions import split_key
from pipelines.dagster_defs.resources import HunthouseSettings
from pipelines.extract import extract_partition
from pipelines.sources.errors import AccessDenied
from pipelines.sources.schemas import RAW_TABLES

# Only the simulator reads it: rows ingested after this instant are not there yet (tests of late rows).
INGESTED_BEFORE_TAG = "hunthouse/ingested_before"

DESCRIPTIONS = {
    "device_events": "DeviceEvents firewall rows (ActionType Firewall*) for one tenant and UTC day, as Parquet.",
    "security_alert": "SecurityAlert rows whose TimeGenerated falls in one tenant's UTC day, as Parquet.",
    "security_incident": "SecurityIncident versions (one row per update) modified in one tenant's UTC day, as Parquet.",
    "analytic_rules": "Analytic rule definitions (Sentinel alertRules, Defender custom detections) as one tenant had "
                      "them when its UTC day was extracted, as Parquet.",
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
        # A backfill or a nightly run over all tenants is one run over a key range; the schedule
        # still requests one run per partition so each can fail and retry on its own.
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def _asset(context, hunthouse: HunthouseSettings) -> dg.MaterializeResult:
        settings = hunthouse.load()
        before = context.run.tags.get(INGESTED_BEFORE_TAG)
        as_of = datetime.fromisoformat(before) if before else None
        keys = context.partition_keys
        manifests = []
        for i, key in enumerate(keys, 1):
            tenant, day = split_key(key)
            try:
                manifests.append(extract_partition(settings, tenant, table, day, as_of=as_of))
            except AccessDenied as exc:  # a missing permission does not come back by retrying
                raise dg.Failure(f"{table} {tenant} {day}: {exc}", allow_retries=False) from None
            if len(keys) > 1 and (i % 20 == 0 or i == len(keys)):
                context.log.info(f"{table}: {i}/{len(keys)} partitions extracted")
        return dg.MaterializeResult(metadata=_metadata(manifests))

    return _asset


def _metadata(manifests: list) -> dict:
    stats = [m.stats for m in manifests]
    dropped = sorted({c for s in stats for c in (s.get("dropped_columns") or [])})
    meta = {
        "dagster/row_count": sum(m.rows for m in manifests),
        "partitions": len(manifests),
        "quarantined": sum(m.quarantined for m in manifests),
        "query_windows": sum(s.get("query_windows", 0) for s in stats),
        "splits": sum(s.get("splits", 0) for s in stats),
        "retries": sum(s.get("retries", 0) for s in stats),
        "duration_s": round(sum(s.get("duration_s", 0.0) for s in stats), 3),
        "watermark": str(max((s.get("watermark") or "" for s in stats), default="")),
        "dropped_columns": ", ".join(dropped) or "none",
    }
    if len(manifests) == 1:
        meta["file"] = dg.MetadataValue.path(manifests[0].file)
    return meta


def extract_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [_extract_asset(table, partitions_def) for table in RAW_TABLES]
