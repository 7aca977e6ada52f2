"""The nightly schedule (extracts for yesterday plus the lookback) and the sensor that builds each
tenant's shard once every extract of that tenant's night has succeeded; a tenant whose extracts
failed keeps its last good shard while the others publish.

`hunthouse run` executes the same plan (pipelines.plan) through the same jobs, in-process.
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from pipelines.config import Settings
from pipelines.dagster_defs.partitions import partition_key
from pipelines.dagster_defs.warehouse_assets import AS_OF_TAG
from pipelines.plan import nightly_days, partitions

NIGHT_TAG = "hunthouse/night"
TENANT_TAG = "hunthouse/tenant"


def nightly_schedule(settings: Settings, extract_job) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="nightly",
        cron_schedule=settings.schedule_cron,
        execution_timezone="UTC",
        job=extract_job,
        description="Extracts yesterday and the lookback window for every tenant; the warehouse follows.",
    )
    def _nightly(context: dg.ScheduleEvaluationContext):
        night = context.scheduled_execution_time.date() - timedelta(days=1)
        for tenant, day in partitions(settings, nightly_days(settings, night)):
            yield dg.RunRequest(
                run_key=f"{night}:{tenant}:{day}",
                partition_key=partition_key(tenant, day),
                tags={NIGHT_TAG: night.isoformat(), TENANT_TAG: tenant},
            )

    return _nightly


def warehouse_after_extracts(settings: Settings, warehouse_job) -> dg.SensorDefinition:
    @dg.sensor(
        name="warehouse_after_extracts",
        job=warehouse_job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Builds and publishes a tenant's shard when all of that tenant's extract runs of a night succeeded.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        runs = context.instance.get_runs(filters=dg.RunsFilter(job_name="extract"), limit=2000)
        nights = sorted({r.tags[NIGHT_TAG] for r in runs if NIGHT_TAG in r.tags})
        if not nights:
            return dg.SkipReason("no nightly extract runs yet")
        latest = nights[-1]
        expected = len(nightly_days(settings, date.fromisoformat(latest)))
        requests, waiting = [], []
        for tenant in (t.name for t in settings.tenants):
            mine = [r for r in runs if r.tags.get(NIGHT_TAG) == latest and r.tags.get(TENANT_TAG) == tenant]
            done = [r for r in mine if r.status == dg.DagsterRunStatus.SUCCESS]
            failed = [r for r in mine if r.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)]
            if failed:
                waiting.append(f"{tenant}: {len(failed)} extract runs failed, its shard stays as published")
            elif len(done) < expected:
                waiting.append(f"{tenant}: {len(done)}/{expected} extract runs done")
            else:
                requests.append(dg.RunRequest(
                    run_key=f"warehouse:{latest}:{tenant}", partition_key=tenant,
                    tags={AS_OF_TAG: latest, NIGHT_TAG: latest, TENANT_TAG: tenant},
                ))
        if not requests:
            return dg.SkipReason(f"night {latest}: " + "; ".join(waiting))
        return requests

    return _sensor
