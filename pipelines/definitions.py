"""Dagster definitions: loads under `dagster dev` and `dagster definitions validate`.

Tenants come from hunthouse.toml ($HUNTHOUSE_CONFIG, ./hunthouse.toml, or the bundled example).
"""

from __future__ import annotations

import os

import dagster as dg

from pipelines import config
from pipelines.dagster_defs import report_assets, scale, warehouse_assets
from pipelines.dagster_defs.checks import quality_checks
from pipelines.dagster_defs.extract_assets import extract_assets
from pipelines.dagster_defs.health_sensors import health_sensors
from pipelines.dagster_defs.partitions import tenant_day_partitions, tenant_partitions
from pipelines.dagster_defs.resources import HunthouseSettings
from pipelines.dagster_defs.schedules import nightly_schedule, warehouse_after_extracts


def build_defs(settings: config.Settings) -> dg.Definitions:
    parts = tenant_day_partitions(settings)
    shards = tenant_partitions(settings)
    raw_assets = extract_assets(parts)
    downstream = [*warehouse_assets.warehouse_assets(shards), *report_assets.report_assets(shards)]
    extract_job = dg.define_asset_job(
        "extract", selection=dg.AssetSelection.assets(*raw_assets), partitions_def=parts,
        executor_def=scale.executor(),  # Celery workers when HUNTHOUSE_EXECUTOR=celery, else the default
    )
    warehouse_job = dg.define_asset_job(
        "warehouse_build",
        selection=dg.AssetSelection.assets(*downstream),
        partitions_def=shards,
        executor_def=dg.in_process_executor,
        description="One tenant's shard: staging, models, atomic publish and reports, on one build file.",
    )
    return dg.Definitions(
        assets=[*raw_assets, *downstream],
        asset_checks=quality_checks(parts),
        jobs=[extract_job, warehouse_job, scale.tenant_shard_job(shards)],
        schedules=[nightly_schedule(settings, extract_job)],
        sensors=[warehouse_after_extracts(settings, warehouse_job),
                 *health_sensors(settings, extract_job, warehouse_job)],
        resources={"hunthouse": HunthouseSettings(config_path=settings.source_path, home=str(settings.home))},
    )


defs = build_defs(config.load(os.environ.get("HUNTHOUSE_CONFIG") or None))
