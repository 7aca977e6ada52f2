"""Run the pipeline's Dagster jobs in-process on the configured instance.

`hunthouse run`, `backfill` and `demo` use the same jobs as the schedule and sensor: one extract run
per (tenant, day) partition, then one warehouse run. All tenants over consecutive days
go in one extract run over a partition key range; otherwise one run per partition, two at a time in
worker processes (extracts only write Parquet). The warehouse run is single and serial.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pipelines.config import PACKAGE_ROOT, Settings

Progress = Callable[[str], None]
# Dagster's console logger speaks at DEBUG by default; the CLI prints its own progress, and the full
# event log stays in the instance (the UI shows it).
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class RunOutcome:
    extract_runs: int
    failed: list[str]
    warehouse_run_id: str | None
    published: bool


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
    """Worker: one extract run over the partition key range first..last (one key when equal)."""
    import dagster as dg
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from pipelines.dagster_defs.partitions import partition_key
    from pipelines.definitions import build_defs

    job = build_defs(settings).resolve_job_def("extract")
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
    name = f"{first[0]} {first[1]}" if first == last else f"{first[1]} → {last[1]}"
    return name, result.success, error


def extract_runs(
    settings: Settings, parts: list[tuple[str, date]], workers: int = 2
) -> list[tuple[tuple[str, date], tuple[str, date]]]:
    """Key-range runs when the partitions are every tenant over consecutive days, else one run each.

    Dagster orders tenant × day keys day-major, tenants in configured order, so "all tenants over
    days d1..dn" is exactly the key range (d1, first tenant)..(dn, last tenant). The days are cut
    into `workers` consecutive blocks so the blocks run in parallel.
    """
    tenants = [t.name for t in settings.tenants]
    days = sorted({d for _, d in parts})
    contiguous = all((b - a).days == 1 for a, b in zip(days, days[1:], strict=False))
    if not (parts and contiguous and set(parts) == {(t, d) for t in tenants for d in days}):
        return [(p, p) for p in parts]
    blocks = max(1, min(workers, len(days)))
    size = -(-len(days) // blocks)
    chunks = [days[i : i + size] for i in range(0, len(days), size)]
    return [((tenants[0], chunk[0]), (tenants[-1], chunk[-1])) for chunk in chunks]


def run_extracts(
    settings: Settings, parts: list[tuple[str, date]], tags: dict[str, str], progress: Progress, workers: int = 2
) -> list[str]:
    """Run every extract partition; return '<what>: <error>' for each failed run."""
    failed: list[str] = []
    runs = extract_runs(settings, parts, workers)
    done = 0
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(runs)))) as pool:
        futures = [pool.submit(_run_extract, settings, first, last, tags) for first, last in runs]
        for future in as_completed(futures):
            name, ok, error = future.result()
            done += 1
            if not ok:
                failed.append(f"{name}: {error}")
            if done % 10 == 0 or done == len(runs) or not ok:
                progress(f"  extract run {done}/{len(runs)} done{'' if ok else f' — FAILED {name}: {error}'}")
    return failed


def run_warehouse(settings: Settings, as_of: date, tags: dict[str, str]) -> tuple[bool, str, str]:
    import dagster as dg

    from pipelines.dagster_defs.warehouse_assets import AS_OF_TAG
    from pipelines.definitions import build_defs

    job = build_defs(settings).resolve_job_def("warehouse_build")
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance, tags={**tags, AS_OF_TAG: as_of.isoformat()}, raise_on_error=False, run_config=QUIET
        )
    error = "" if result.success else _first_failure(result)
    return result.success, result.run_id, error


def _first_failure(result) -> str:
    """One line: the failed step and the innermost error message (the event log has the rest)."""
    failures = [e for e in result.all_events if e.is_step_failure]
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
        return _run_locked(settings, parts, as_of, tags, progress)


def _run_locked(
    settings: Settings, parts: list[tuple[str, date]], as_of: date, tags: dict[str, str], progress: Progress
) -> RunOutcome:
    progress(f"extracting {len(parts)} tenant-day partitions × 3 tables into the lake")
    failed = run_extracts(settings, parts, tags, progress)
    if failed:
        progress("extracts failed; the warehouse was not rebuilt and the published one is unchanged")
        return RunOutcome(len(parts), failed, None, False)
    progress(f"building the warehouse (as of {as_of}) and publishing it atomically")
    ok, run_id, error = run_warehouse(settings, as_of, tags)
    if not ok:
        return RunOutcome(len(parts), [f"warehouse: {error}"], run_id, False)
    return RunOutcome(len(parts), [], run_id, True)
