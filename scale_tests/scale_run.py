"""`make scale-test`: two sample tenants × 3 days on two Celery workers, the lake and the shards on Azurite.

1. Starts Redis, Postgres (initdb in a temp dir, as the postgres user), Azurite (blob, in memory),
   the Dagster daemon (deploy/scale/dagster.yaml: Postgres storage, queued runs, one run per tenant)
   and two `dagster-celery` workers, each in its own mount namespace with a tmpfs over the data home,
   so they share no disk with the launcher or each other.
2. Queues one extract run per (tenant, day) and then one `tenant_shard` run per tenant; the daemon
   launches them, their steps run on the workers; the shards go to Azurite with their pointers.
3. Builds the same days in-process on a local lake and compares every table of each shard
   (ignoring load timestamps, file paths and run ids).
4. Queues the shard runs again, kills the worker running a step, and shows the other worker finish
   it (through Celery's redelivery or Dagster's run retry) with the same tables.
Stops everything it started, by pid. Prints timings for BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
TENANTS = {"contoso": (7, 0.3), "fabrikam": (11, 0.2)}
DAYS = [date(2026, 10, 1) + timedelta(days=i) for i in range(3)]
WORLD_END = date(2026, 10, 21)  # the sample world needs 21 days for its planted stories; 3 are extracted
AS_OF = DAYS[-1]
# columns that differ between two correct builds: when and where a load happened, which run did it
VOLATILE = {"loaded_at", "written_at", "published_at", "checked_at", "file", "build_file", "quarantine_file",
            "run_id", "duration_s", "uploaded_at", "changed_at"}
TIMINGS: dict[str, float] = {}


def log(msg: str) -> None:
    print(f"[scale-test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def config_text(home: Path, lake_root: str) -> str:
    tenants = "".join(
        f'\n[[tenant]]\nname = "{name}"\nkind = "sample"\nseed = {seed}\nscale = {scale}\n'
        f"start = {DAYS[0].isoformat()}\nend = {WORLD_END.isoformat()}\n"
        for name, (seed, scale) in TENANTS.items())
    return (f'[hunthouse]\nhome = "{home}"\nlake_root = "{lake_root}"\nstart_date = {DAYS[0].isoformat()}\n'
            f'lookback_days = 0\nmemory_limit = "1GB"\nthreads = 1\n{tenants}')


class Stack:
    """Every process this run started, stopped in reverse order by pid (process group) at the end."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.services: list = []
        self.procs: dict[str, subprocess.Popen] = {}

    def popen(self, name: str, args: list[str], env: dict, **kwargs) -> subprocess.Popen:
        out = open(self.work / f"{name}.log", "wb")
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)
        self.procs[name] = proc
        return proc

    def kill(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, sig)  # the worker's group: unshare, its shell, the celery parent and children
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            self.kill(name)
        for service in reversed(self.services):
            service.stop()


def start_worker(stack: Stack, name: str, env: dict, home: Path) -> None:
    """A dagster-celery worker in its own mount namespace: a tmpfs over the data home, its own DAGSTER_HOME."""
    dagster_home = home / "dagster"
    script = (
        f"mount -t tmpfs -o size=1g tmpfs {home} && mkdir -p {dagster_home} && "
        f"cp {REPO / 'deploy/scale/dagster.yaml'} {dagster_home}/dagster.yaml && "
        f"exec {VENV_BIN / 'dagster-celery'} worker start -A dagster_celery.app -y {REPO / 'deploy/scale/celery.yaml'} "
        f"-n {name} -- --concurrency=1 --without-heartbeat --without-mingle --without-gossip"
    )
    stack.popen(name, ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                {**env, "DAGSTER_HOME": str(dagster_home)}, cwd=str(REPO))


def wait_log(path: Path, text: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{path.name}: exited ({proc.returncode}):\n{path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    raise TimeoutError(f"{path.name}: no {text!r} within {timeout}s:\n{path.read_text(errors='replace')[-3000:]}")


def submit(instance, workspace_file: Path, job: str, runs: list[dict[str, str]]) -> list[str]:
    """Queue one run of `job` per tag set through the instance's run coordinator (as `dagster job launch`)."""
    from dagster._cli.job import _create_run
    from dagster._cli.workspace.cli_target import (
        WorkspaceOpts,
        get_code_location_from_workspace,
        get_remote_job_from_remote_repo,
        get_remote_repository_from_code_location,
        get_workspace_from_cli_opts,
    )
    from dagster.version import __version__

    ids = []
    opts = WorkspaceOpts(workspace=(str(workspace_file),))
    with get_workspace_from_cli_opts(instance, version=__version__, workspace_opts=opts) as workspace:
        location = get_code_location_from_workspace(workspace, None)
        repo = get_remote_repository_from_code_location(location, None)
        remote_job = get_remote_job_from_remote_repo(repo, job)
        for tags in runs:
            run = _create_run(instance=instance, code_location=location, remote_repo=repo, remote_job=remote_job,
                              run_config={}, tags=tags, op_selection=None, run_id=None)
            instance.submit_run(run.run_id, workspace)
            ids.append(run.run_id)
    return ids


def latest_attempt(instance, run_id: str):
    from dagster import RunsFilter

    retries = instance.get_runs(RunsFilter(tags={"dagster/root_run_id": run_id}))
    return max([instance.get_run_by_id(run_id), *retries], key=lambda r: int(r.tags.get("dagster/retry_number", "0")))


def wait_runs(instance, run_ids: list[str], timeout: float, on_tick=None) -> dict[str, str]:
    """Wait until every run's last attempt (Dagster retries a failed run) has finished; run id -> its status."""
    from dagster import DagsterRunStatus

    done = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
    deadline = time.monotonic() + timeout
    while True:
        final = {}
        for run_id in run_ids:
            run = latest_attempt(instance, run_id)
            retry_coming = run.status == DagsterRunStatus.FAILURE and run.tags.get("dagster/will_retry") == "true"
            final[run_id] = run.status.value if run.status in done and not retry_coming else ""
        if all(final.values()):
            return final
        if on_tick:
            on_tick()
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs not finished after {timeout}s: {final}")
        time.sleep(1)


def failures(instance, statuses: dict[str, str]) -> str:
    lines = []
    for run_id, status in statuses.items():
        if status != "SUCCESS":
            records = instance.all_logs(latest_attempt(instance, run_id).run_id)
            errors = [r.message for r in records if r.level >= 40 or "FAILURE" in str(r.dagster_event_type)][-5:]
            lines.append(f"{run_id} {status}: " + " | ".join(errors))
    return "\n".join(lines)


def reference_build(work: Path) -> dict[str, Path]:
    """The same tenants and days, in-process on a local lake: the result every distributed run must equal."""
    from pipelines import config
    from pipelines.extract import extract_partition
    from pipelines.sources.schemas import RAW_TABLES
    from pipelines.warehouse_run import WarehouseRun

    cfg = work / "reference.toml"
    cfg.write_text(config_text(work / "reference-home", str(work / "reference-home" / "lake")))
    settings = config.load(cfg)
    shards = {}
    for tenant in TENANTS:
        for day in DAYS:
            for table in RAW_TABLES:
                extract_partition(settings, tenant, table, day)
        shard = settings.for_tenant(tenant)
        WarehouseRun(shard, AS_OF, "reference").run_all()
        shards[tenant] = shard.warehouse_path
    return shards


def compare(reference: Path, candidate: Path) -> list[str]:
    """Tables of two shards that differ (as multisets of rows, volatile columns left out)."""
    import duckdb

    diffs = []
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{reference}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{candidate}' AS b (READ_ONLY)")

        def tables(db: str) -> set[str]:
            return {r[0] for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main'", [db]).fetchall()}

        names_a, names_b = tables("a"), tables("b")
        if names_a != names_b:
            diffs.append(f"tables differ: only in reference {sorted(names_a - names_b)}, only in candidate {sorted(names_b - names_a)}")
        for name in sorted(names_a & names_b):
            cols = [r[0] for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = 'a' AND schema_name = 'main' "
                "AND table_name = ? ORDER BY column_index", [name]).fetchall() if r[0] not in VOLATILE]
            select = ", ".join(f'"{c}"' for c in cols)
            if name == "publish_log":  # one row per publish: a re-run adds one; compare what was published
                select = f"DISTINCT {select}"
            # names come from the shards' own catalogs, quoted; no data reaches the SQL text
            only_a = con.execute(f'SELECT count(*) FROM (SELECT {select} FROM a."{name}" EXCEPT ALL SELECT {select} FROM b."{name}")').fetchone()[0]  # noqa: S608
            only_b = con.execute(f'SELECT count(*) FROM (SELECT {select} FROM b."{name}" EXCEPT ALL SELECT {select} FROM a."{name}")').fetchone()[0]  # noqa: S608
            rows = con.execute(f'SELECT count(*) FROM a."{name}"').fetchone()[0]  # noqa: S608
            if only_a or only_b:
                diffs.append(f"{name}: {only_a} rows only in the in-process build, {only_b} only on the workers (of {rows})")
    return diffs


def fetch_shards(lake_root: str, dest: Path) -> dict[str, Path]:
    from pipelines.warehouse.shard_upload import fetch_current

    root = lake_root.rstrip("/") + "/shards"
    return {t: fetch_current(root, t, dest) for t in TENANTS}


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped test still stops what it started
    work = Path(tempfile.mkdtemp(prefix="hh-scale-"))
    os.chmod(work, 0o755)
    stack = Stack(work)
    started = time.monotonic()
    try:
        return run(stack, work, started)
    finally:
        stack.stop()
        log(f"stopped everything; logs were in {work}")
        if os.environ.get("KEEP_SCALE_LOGS") != "1":
            shutil.rmtree(work, ignore_errors=True)


def run(stack: Stack, work: Path, started: float) -> int:
    from scale_tests.services import start_azurite, start_postgres, start_redis

    for starter in (start_redis, start_postgres, start_azurite):
        stack.services.append(starter(work))
    env = dict(os.environ)
    for service in stack.services:
        env.update(service.env)
    home = work / "home"  # the data home: a tmpfs of its own in each worker
    home.mkdir()
    lake_root = "abfs://hunthouse/lake"
    cfg = work / "hunthouse.toml"
    cfg.write_text(config_text(home, lake_root))
    dagster_home = work / "dagster_home"  # the launcher's (daemon's) instance directory
    dagster_home.mkdir()
    shutil.copy(REPO / "deploy/scale/dagster.yaml", dagster_home / "dagster.yaml")
    workspace = work / "workspace.yaml"
    workspace.write_text("load_from:\n  - python_module:\n      module_name: pipelines.definitions\n"
                         f"      working_directory: {REPO}\n")
    env.update({"HUNTHOUSE_CONFIG": str(cfg), "HUNTHOUSE_EXECUTOR": "celery", "DAGSTER_HOME": str(dagster_home),
                "PYTHONPATH": str(REPO), "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
    env.pop("HUNTHOUSE_HOME", None)
    os.environ.update(env)
    from pipelines.objectstore import clear_clients, open_store

    clear_clients()
    open_store(lake_root)[0].ensure_container()
    from dagster import DagsterInstance

    instance = DagsterInstance.get()
    # what `dagster instance concurrency set POOL N` does, without starting a CLI per pool
    for pool, limit in (("source_api", 4), ("duckdb_writer", 2)):
        instance.event_log_storage.set_concurrency_slots(pool, limit)
    TIMINGS["services_s"] = round(time.monotonic() - started, 1)
    log(f"redis, postgres, azurite up; pools set ({TIMINGS['services_s']} s)")
    for name in ("w1", "w2"):
        start_worker(stack, name, env, home)
    daemon = stack.popen("daemon", [str(VENV_BIN / "dagster-daemon"), "run", "-w", str(workspace)], env, cwd=str(work))
    for name in ("w1", "w2"):
        wait_log(work / f"{name}.log", "ready.", stack.procs[name], 120)
    wait_log(work / "daemon.log", "QueuedRunCoordinatorDaemon", daemon, 120)
    TIMINGS["stack_s"] = round(time.monotonic() - started, 1)
    log(f"two celery workers and the daemon up ({TIMINGS['stack_s']} s since start)")

    t0 = time.monotonic()
    extract_tags = [
        {"dagster/partition": f"{day.isoformat()}|{tenant}", "dagster/partition/date": day.isoformat(),
         "dagster/partition/tenant": tenant, "hunthouse/tenant": tenant}
        for tenant in TENANTS for day in DAYS]
    ids = submit(instance, workspace, "extract", extract_tags)
    statuses = wait_runs(instance, ids, 1800)
    if set(statuses.values()) != {"SUCCESS"}:
        log("extract runs failed:\n" + failures(instance, statuses))
        return 1
    TIMINGS["extract_runs_s"] = round(time.monotonic() - t0, 1)
    log(f"{len(ids)} extract runs (tenant × day) succeeded on the workers in {TIMINGS['extract_runs_s']} s")

    shard_tags = [{"dagster/partition": t, "hunthouse/tenant": t, "hunthouse/as_of": AS_OF.isoformat()} for t in TENANTS]
    t0 = time.monotonic()
    ids = submit(instance, workspace, "tenant_shard", shard_tags)
    statuses = wait_runs(instance, ids, 1800)
    if set(statuses.values()) != {"SUCCESS"}:
        log("shard runs failed:\n" + failures(instance, statuses))
        return 1
    TIMINGS["shard_runs_s"] = round(time.monotonic() - t0, 1)
    log(f"{len(ids)} tenant shard runs succeeded on the workers in {TIMINGS['shard_runs_s']} s; shards on Azurite")

    t0 = time.monotonic()
    reference = reference_build(work)
    TIMINGS["in_process_s"] = round(time.monotonic() - t0, 1)
    log(f"in-process build of the same days on a local lake: {TIMINGS['in_process_s']} s")
    remote = fetch_shards(lake_root, work / "fetched")
    diffs = [f"{t}: {d}" for t in TENANTS for d in compare(reference[t], remote[t])]
    if diffs:
        log("the workers' shards differ from the in-process build:\n  " + "\n  ".join(diffs))
        return 1
    log("every table of both shards equals the in-process build")

    # a second backfill of the shards; the worker that takes a step is killed while it runs
    before = {t: json.loads(open_store(lake_root)[0].get_bytes(f"lake/shards/{t}/_current.json")[0])["file"] for t in TENANTS}
    t0 = time.monotonic()
    ids = submit(instance, workspace, "tenant_shard", [{**tags, "hunthouse/attempt": "kill"} for tags in shard_tags])
    killed = []
    offsets = {name: (work / f"{name}.log").stat().st_size for name in ("w1", "w2")}

    def kill_busy_worker():
        """SIGKILL the worker that started a shard step of this backfill and has not finished it."""
        if killed:
            return
        for name in ("w1", "w2"):
            with open(work / f"{name}.log", "rb") as fh:
                fh.seek(offsets[name])
                text = fh.read().decode(errors="replace")
            started_steps = text.count("build_tenant_shard - STEP_START")
            finished = text.count("build_tenant_shard - STEP_SUCCESS") + text.count("build_tenant_shard - STEP_FAILURE")
            if started_steps > finished:
                log(f"killing worker {name} (SIGKILL to its process group) while it runs a shard step")
                stack.kill(name, signal.SIGKILL)
                killed.append(name)
                return

    statuses = wait_runs(instance, ids, 1800, on_tick=kill_busy_worker)
    TIMINGS["kill_rerun_s"] = round(time.monotonic() - t0, 1)
    if not killed:
        log("no worker was caught mid-step: the kill was not exercised")
        return 1
    if set(statuses.values()) != {"SUCCESS"}:
        log("shard runs after the kill failed:\n" + failures(instance, statuses))
        return 1
    after = {t: json.loads(open_store(lake_root)[0].get_bytes(f"lake/shards/{t}/_current.json")[0])["file"] for t in TENANTS}
    moved = [t for t in TENANTS if after[t] != before[t]]
    remote = fetch_shards(lake_root, work / "fetched-after-kill")
    diffs = [f"{t}: {d}" for t in TENANTS for d in compare(reference[t], remote[t])]
    if diffs or len(moved) != len(TENANTS):
        log(f"after the kill: pointers moved for {moved}; differences:\n  " + "\n  ".join(diffs))
        return 1
    survivor = ({"w1", "w2"} - set(killed)).pop()
    log(f"worker {killed[0]} killed mid-step; {survivor} finished the runs in {TIMINGS['kill_rerun_s']} s, "
        "new shards uploaded, every table equal to the in-process build")
    TIMINGS["total_s"] = round(time.monotonic() - started, 1)
    print("SCALE-TEST TIMINGS " + json.dumps(TIMINGS), flush=True)
    print("1 passed, 0 failed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
