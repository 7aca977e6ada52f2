"""Run the pipeline's Dagster jobs in-process on the configured instance.

`hunthouse run`, `backfill` and `demo` use the same jobs as the schedule and sensor. Extracts run per
tenant: one run over each tenant's consecutive days (a partition key range), two at a time in
worker processes (extracts only write Parquet). Then each tenant whose extracts all succeeded gets
its own warehouse run (partition key = tenant), two at a time: a tenant that failed keeps its last
published shard, and every other tenant publishes. Each tenant's outcome goes to pipelines.health.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from pipelines import health
from pipelines.config import PACKAGE_ROOT, Settings
from pipelines.progress import VERBOSE, Reporter
from pipelines.reports.stale import write_stale_reports
from pipelines.sources.schemas import RAW_TABLES
from pipelines.warehouse.hub import write_attach_script
from pipelines.warehouse.legacy_split import split_legacy_warehouse

Progress = Callable[[str], None]  # a plain message callable, or a pipelines.progress.Reporter
PROGRESS_TAG = "hunthouse/progress"
POLL_S = 1.0  # how often the landing and the warehouse steps are polled while workers run


def as_reporter(progress: Progress) -> Reporter:
    return progress if isinstance(progress, Reporter) else Reporter(progress)

# Dagster's console logger speaks at DEBUG by default; the CLI prints its own progress, and the full
# event log stays in the instance (the UI shows it).
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class RunOutcome:
    extract_runs: int
    failed: list[str]  # one line per failure, naming the tenant
    published_tenants: list[str]
    failed_tenants: list[str]

    @property
    def published(self) -> bool:
        """Every tenant of the run published."""
        return not self.failed_tenants


def prepare_instance(settings: Settings) -> Path:
    """Point DAGSTER_HOME at <home>/dagster with the project's dagster.yaml."""
    import dagster as dg

    # beta/preview notices (backfill_policy, partitioned checks) are for developers, not operators
    for category in (dg.BetaWarning, dg.PreviewWarning):
        warnings.filterwarnings("ignore", category=category)
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    source = PACKAGE_ROOT / "dagster.yaml"
    target = home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != source.read_bytes():
        shutil.copyfile(source, target)
    os.environ["DAGSTER_HOME"] = str(home)
    # Create the SQLite storages (and run their migrations) once, here, before worker processes
    # open the instance: two processes initialising a fresh instance at once race on the schema.
    with dg.DagsterInstance.get() as instance:
        instance.get_runs(limit=1)
        instance.event_log_storage.get_asset_records()
        if instance.schedule_storage is not None:
            instance.schedule_storage.all_instigator_state()
    return home


def _run_extract(
    settings: Settings, first: tuple[str, date], last: tuple[str, date], tags: dict[str, str]
) -> tuple[str, bool, str]:
    """Worker: one extract run over one tenant's days first..last (a key range; one key when equal)."""
    import dagster as dg
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from pipelines.dagster_defs.partitions import partition_key
    from pipelines.dagster_defs.schedules import TENANT_TAG
    from pipelines.definitions import build_defs

    job = build_defs(settings).resolve_job_def("extract")
    tags = {**tags, TENANT_TAG: first[0]}
    with dg.DagsterInstance.get() as instance:
        if first == last:
            result = job.execute_in_process(
                partition_key=partition_key(*first), instance=instance, tags=tags, raise_on_error=False, run_config=QUIET
            )
        else:
            range_tags = {
                ASSET_PARTITION_RANGE_START_TAG: str(partition_key(*first)),
                ASSET_PARTITION_RANGE_END_TAG: str(partition_key(*last)),
            }
            result = job.execute_in_process(
                instance=instance, tags={**tags, **range_tags}, raise_on_error=False, run_config=QUIET
            )
    error = "" if result.success else _first_failure(result)
    return first[0], result.success, f"{first[1]} → {last[1]}: {error}" if first != last else f"{first[1]}: {error}"


def extract_runs(
    settings: Settings, parts: list[tuple[str, date]], workers: int = 2
) -> list[tuple[tuple[str, date], tuple[str, date]]]:
    """Runs over key ranges of one tenant each, so one tenant's failure fails only its own runs.

    A multi-partition key range is the product of its dimensions' ranges, so (tenant, d1)..(tenant, dn)
    is exactly that tenant over the days d1..dn. Each tenant's consecutive days form a range; when
    there are fewer tenants than workers, a tenant's days are cut into blocks that run in parallel.
    """
    by_tenant: dict[str, list[date]] = {}
    for tenant, day in parts:
        by_tenant.setdefault(tenant, []).append(day)
    blocks = max(1, workers // max(1, len(by_tenant)))
    runs = []
    for tenant, days in by_tenant.items():
        days = sorted(set(days))
        segments, current = [], [days[0]]
        for day in days[1:]:
            if (day - current[-1]).days == 1:
                current.append(day)
            else:
                segments.append(current)
                current = [day]
        segments.append(current)
        for segment in segments:
            size = -(-len(segment) // min(blocks, len(segment)))
            for k in range(0, len(segment), size):
                chunk = segment[k : k + size]
                runs.append(((tenant, chunk[0]), (tenant, chunk[-1])))
    return runs


def run_extracts(
    settings: Settings, parts: list[tuple[str, date]], tags: dict[str, str], progress: Progress, workers: int = 2
) -> dict[str, list[str]]:
    """Run every extract partition; return, per tenant with a failed run, one line per failed run.

    While the workers run, the lake's manifests say which partitions have landed (pipelines.landing)."""
    from pipelines.landing import LandingWatch

    reporter = as_reporter(progress)
    failed: dict[str, list[str]] = {}
    runs = extract_runs(settings, parts, workers)
    watch = LandingWatch(settings.lake_root, parts)
    done = 0

    def report_landed(final: bool = False) -> None:
        changed = watch.poll()
        for tenant in (watch.tenants if final else sorted(changed)):
            state = watch.tenants[tenant]
            reporter.landed(tenant, state.done, state.rows, final)

    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(runs)))) as pool:
        pending = {pool.submit(_run_extract, settings, first, last, tags) for first, last in runs}
        while pending:
            finished, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
            report_landed()
            for future in finished:
                tenant, ok, error = future.result()
                done += 1
                if not ok:
                    failed.setdefault(tenant, []).append(error)
                    reporter.error(f"  extract run {done}/{len(runs)} FAILED {tenant} {error}")
                else:
                    reporter.message(f"  extract run {done}/{len(runs)} done ({tenant})", VERBOSE)
    report_landed(final=True)
    return failed


def run_warehouse(settings: Settings, tenant: str, as_of: date, tags: dict[str, str]) -> tuple[str, bool, str, str]:
    """Worker: one tenant's warehouse run (its shard); returns (tenant, ok, run id, one-line error)."""
    import dagster as dg

    from pipelines.dagster_defs.schedules import TENANT_TAG
    from pipelines.dagster_defs.warehouse_assets import AS_OF_TAG
    from pipelines.definitions import build_defs

    job = build_defs(settings).resolve_job_def("warehouse_build")
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            partition_key=tenant, instance=instance, raise_on_error=False, run_config=QUIET,
            tags={**tags, AS_OF_TAG: as_of.isoformat(), TENANT_TAG: tenant},
        )
    error = "" if result.success else _first_failure(result)
    return tenant, result.success, result.run_id, error


def run_warehouses(
    settings: Settings, tenants: list[str], as_of: date, tags: dict[str, str], progress: Progress, workers: int = 2
) -> dict[str, tuple[bool, str, str]]:
    """Build and publish each tenant's shard, `workers` at a time; (ok, run id, error) per tenant.

    While they run, each tenant's phase is its run's latest started step, read from the Dagster
    instance's event log (the runs carry this call's PROGRESS_TAG)."""
    reporter = as_reporter(progress)
    results: dict[str, tuple[bool, str, str]] = {}
    if not tenants:
        return results
    token = uuid.uuid4().hex
    tags = {**tags, PROGRESS_TAG: token}
    for tenant in tenants:
        reporter.phase(tenant, "warehouse: queued")
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(tenants)))) as pool:
        pending = {pool.submit(run_warehouse, settings, t, as_of, tags) for t in tenants}
        while pending:
            finished, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
            for future in finished:
                tenant, ok, run_id, error = future.result()
                results[tenant] = (ok, run_id, error)
                if ok:
                    reporter.phase(tenant, "published")
                else:
                    reporter.phase(tenant, "NOT published")
                    reporter.error(f"  {tenant}: NOT published — {error}")
            if pending:
                for tenant, step in warehouse_steps(token).items():
                    if tenant not in results:
                        reporter.phase(tenant, f"warehouse: {step}")
    return results


def warehouse_steps(token: str) -> dict[str, str]:
    """Per tenant, the latest step its running warehouse run (tagged `token`) started; {} when the
    event log cannot be read right now (progress is best effort, never a reason to fail a run)."""
    import dagster as dg

    from pipelines.dagster_defs.schedules import TENANT_TAG

    steps: dict[str, str] = {}
    try:
        with dg.DagsterInstance.get() as instance:
            for run in instance.get_runs(filters=dg.RunsFilter(tags={PROGRESS_TAG: token})):
                records = instance.get_records_for_run(
                    run.run_id, of_type=dg.DagsterEventType.STEP_START, ascending=False, limit=1).records
                if records and records[0].event_log_entry.dagster_event is not None:
                    steps[run.tags.get(TENANT_TAG, "")] = records[0].event_log_entry.dagster_event.step_key
    except Exception:  # noqa: BLE001, S110 - a locked or migrating SQLite store: skip this poll
        return {}
    return steps


def _first_failure(result) -> str:
    """One line: the failed step and the innermost error message (the event log has the rest)."""
    failures = [e for e in result.all_events if e.is_step_failure]
    checks = [e.asset_check_evaluation_data for e in result.all_events
              if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.asset_check_evaluation_data.passed
              and e.asset_check_evaluation_data.severity.value == "ERROR"]
    if checks:
        first = checks[0]
        failed = first.metadata.get("failed")
        lines = [line.lstrip("- ") for line in str(failed.value).splitlines()] if failed is not None else []
        detail = next((line for line in lines if line.startswith("ERROR")), first.description or "")
        return f"check {first.asset_key.to_user_string()} failed: {detail} (run {result.run_id[:8]})"
    if not failures:
        return f"run {result.run_id[:8]} failed"
    error = failures[0].step_failure_data.error
    while error.cause is not None:
        error = error.cause
    message = (error.message or "").strip().splitlines()
    return f"step {failures[0].step_key}: {message[0] if message else error.cls_name} (run {result.run_id[:8]})"


TRIGGER_TAG = "hunthouse/trigger"


def reclaim_killed_cli_runs(progress: Progress) -> int:
    """Fail the CLI runs left STARTED by a killed `hunthouse` process and free their pool slots.

    A SIGKILLed (or power-cut) in-process run never reports its end, so it keeps its slot in pool
    duckdb_writer (limit 1) and every later run would wait for it forever. Only called while holding
    the home's CLI lock, so no other CLI run is alive: every STARTED run with the CLI's tag is dead.
    Runs launched by the daemon carry no such tag and are left to Dagster's run monitoring.
    """
    import dagster as dg

    reclaimed = 0
    with dg.DagsterInstance.get() as instance:
        live = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]
        for run in instance.get_runs(filters=dg.RunsFilter(statuses=live)):
            if TRIGGER_TAG not in run.tags:
                continue
            instance.report_run_failed(run, "its hunthouse process was killed before the run ended")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            reclaimed += 1
    if reclaimed:
        progress(f"marked {reclaimed} run(s) of a killed hunthouse process as failed and freed their slots")
    return reclaimed


def run_pipeline(
    settings: Settings, parts: list[tuple[str, date]], as_of: date, tags: dict[str, str], progress: Progress
) -> RunOutcome:
    prepare_instance(settings)
    # One CLI run per home at a time; the lock dies with its process, however it dies.
    with open(settings.dagster_home / "cli-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        reclaim_killed_cli_runs(progress)
        split_legacy_warehouse(settings, progress)
        return _run_locked(settings, parts, as_of, tags, progress)


def _run_locked(
    settings: Settings, parts: list[tuple[str, date]], as_of: date, tags: dict[str, str], progress: Progress
) -> RunOutcome:
    reporter = as_reporter(progress)
    tenants = list(dict.fromkeys(t for t, _ in parts))
    reporter(f"extracting {len(parts)} tenant-day partitions × {len(RAW_TABLES)} tables into the lake ({len(tenants)} tenants)")
    tables = len(RAW_TABLES)
    reporter.plan({t: tables * sum(1 for p in dict.fromkeys(parts) if p[0] == t) for t in tenants})
    extract_failed = run_extracts(settings, parts, tags, reporter)
    trigger = tags.get(TRIGGER_TAG, "")
    for tenant, errors in extract_failed.items():
        health.record(settings.home, health.TenantOutcome(
            tenant, as_of.isoformat(), ok=False, step="extract", reason=errors[0], failures=errors, trigger=trigger))
    ready = [t for t in tenants if t not in extract_failed]
    for tenant in extract_failed:
        reporter.phase(tenant, "extract FAILED: keeps its published shard")
    if extract_failed:
        reporter.error(f"extracts failed for {', '.join(sorted(extract_failed))}: their shards stay as published")
    if ready:
        reporter(f"building and publishing {len(ready)} tenant shard(s) as of {as_of}: {', '.join(ready)}")
    built = run_warehouses(settings, ready, as_of, tags, reporter)
    failed = [f"{t} extract {e}" for t, errors in extract_failed.items() for e in errors]
    for tenant, (ok, run_id, error) in built.items():
        health.record(settings.home, health.TenantOutcome(
            tenant, as_of.isoformat(), ok=ok, step="" if ok else "warehouse", reason=error,
            failures=[] if ok else [error], trigger=trigger, run_id=run_id))
        if not ok:
            failed.append(f"{tenant} warehouse {error}")
    published = [t for t in tenants if built.get(t, (False,))[0]]
    outcome = RunOutcome(len(parts), failed, published, [t for t in tenants if t not in published])
    for tenant in outcome.failed_tenants:
        last = health.health(settings.home, tenant).last
        try:
            if write_stale_reports(settings.for_tenant(tenant), as_of, last.step, last.reason):
                reporter(f"  {tenant}: reports of its last published shard written with a stale-data banner")
        except (OSError, duckdb.Error) as exc:  # the night's outcome stands; say what is missing
            reporter.error(f"  {tenant}: could not write its stale-data reports: {str(exc).splitlines()[0]}")
    write_attach_script(settings)
    from pipelines.reports.index import write_index

    if write_index(settings.reports_dir, as_of.isoformat()):
        reporter(f"reports of the night: {settings.reports_dir / as_of.isoformat() / 'index.html'}")
    if settings.delivery is not None:
        from pipelines.delivery import deliver

        failed_why = {t: health.health(settings.home, t).last.reason for t in outcome.failed_tenants}
        deliver(settings, as_of, outcome.published_tenants, failed_why, reporter)  # never raises
    return outcome
