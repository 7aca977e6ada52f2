"""Record each tenant's run outcome in pipelines.health for runs the Dagster daemon launched, as the
CLI does for its own runs, so `hunthouse status` and the reports say why a tenant is stale."""

from __future__ import annotations

import dagster as dg

from pipelines import health
from pipelines.config import Settings
from pipelines.dagster_defs.schedules import NIGHT_TAG, TENANT_TAG
from pipelines.dagster_defs.warehouse_assets import AS_OF_TAG

CLI_TAG = "hunthouse/trigger"  # the CLI records its own runs' outcomes


def _failure_reason(context: dg.RunFailureSensorContext) -> str:
    records = context.instance.get_records_for_run(
        context.dagster_run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=1).records
    if records:
        event = records[0].event_log_entry.dagster_event
        error = event.step_failure_data.error
        while error.cause is not None:
            error = error.cause
        lines = (error.message or "").strip().splitlines()
        return f"step {event.step_key}: {lines[0] if lines else error.cls_name}"
    return (context.failure_event.message or "run failed").splitlines()[0]


def _outcome(run: dg.DagsterRun, ok: bool, step: str, reason: str) -> health.TenantOutcome | None:
    tenant = run.tags.get(TENANT_TAG)
    night = run.tags.get(NIGHT_TAG) or run.tags.get(AS_OF_TAG)
    if not tenant or not night or CLI_TAG in run.tags:
        return None
    return health.TenantOutcome(tenant, night, ok=ok, step=step, reason=reason,
                                failures=[reason] if reason else [], trigger="daemon", run_id=run.run_id)


def health_sensors(settings: Settings, extract_job, warehouse_job) -> list[dg.SensorDefinition]:
    @dg.run_failure_sensor(name="tenant_failures", monitored_jobs=[extract_job, warehouse_job],
                           default_status=dg.DefaultSensorStatus.RUNNING,
                           description="Records a failed tenant run (step and reason) for hunthouse status.")
    def _failed(context: dg.RunFailureSensorContext):
        step = "extract" if context.dagster_run.job_name == extract_job.name else "warehouse"
        outcome = _outcome(context.dagster_run, False, step, _failure_reason(context))
        if outcome:
            health.record(settings.home, outcome)

    @dg.run_status_sensor(name="tenant_publishes", run_status=dg.DagsterRunStatus.SUCCESS,
                          monitored_jobs=[warehouse_job], default_status=dg.DefaultSensorStatus.RUNNING,
                          description="Records a tenant's published night for hunthouse status.")
    def _published(context: dg.RunStatusSensorContext):
        outcome = _outcome(context.dagster_run, True, "", "")
        if outcome:
            health.record(settings.home, outcome)

    return [_failed, _published]
