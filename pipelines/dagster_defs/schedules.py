"""The nightly schedule (extracts for yesterday plus the lookback) and the sensor that builds the
warehouse once every extract of that night has succeeded.

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
                tags={NIGHT_TAG: night.isoformat()},
            )

    return _nightly


def warehouse_after_extracts(settings: Settings, warehouse_job) -> dg.SensorDefinition:
    @dg.sensor(
        name="warehouse_after_extracts",
        job=warehouse_job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Builds and publishes the warehouse when all of a night's extract runs succeeded.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        runs = context.instance.get_runs(filters=dg.RunsFilter(job_name="extract"), limit=500)
        nights = sorted({r.tags[NIGHT_TAG] for r in runs if NIGHT_TAG in r.tags})
        if not nights:
            return dg.SkipReason("no nightly extract runs yet")
        latest = nights[-1]
        night_runs = [r for r in runs if r.tags.get(NIGHT_TAG) == latest]
        expected = len(partitions(settings, nightly_days(settings, date.fromisoformat(latest))))
        done = [r for r in night_runs if r.status == dg.DagsterRunStatus.SUCCESS]
        failed = [r for r in night_runs if r.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)]
        if failed:
            return dg.SkipReason(f"night {latest}: {len(failed)} extract runs failed; the published warehouse stays as it is")
        if len(done) < expected:
            return dg.SkipReason(f"night {latest}: {len(done)}/{expected} extract runs done")
        return dg.RunRequest(run_key=f"warehouse:{latest}", tags={AS_OF_TAG: latest, NIGHT_TAG: latest})

    return _sensor

