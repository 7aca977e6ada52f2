"""Crash torture: SIGKILL a nightly run at random points, re-run it, compare with a clean run.

    .venv/bin/python -m bench.torture --trials 20            # the real CLI: `hunthouse run` subprocesses
    .venv/bin/python -m bench.torture --target quick --trials 4   # extract + build without Dagster (fast)

Per trial: restore the home (lake, warehouse, Dagster instance) to the state before the night, start
the night's run in its own process group, SIGKILL the whole group after a delay drawn uniformly from
the clean run's measured duration (a power cut: the CLI and its extract workers die together), then
1. open every tenant's published shard read-only: each must be exactly its previous or its new
   version (shards publish one by one, so a kill can leave one tenant new and another previous);
2. run the night again to completion: every shard must equal the clean run's, table by table.

The home before the night has had two publishes, so the night starts its build file from the
standby generation (build/standby.duckdb, caught up with the published file) as every night after
the first does; kills also land in that catch-up and between the publish renames.

Tables are compared by row count and an order-independent content hash. Run logs are left out
(publish_log, quality_results, and load_log/quarantine/model_versions columns that say when or where
a load ran).
The home is always restored to the same path because lake manifests hold absolute file paths.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

from pipelines.sources.sample.toml import sample_config
from pipelines.warehouse.build import STANDBY
from pipelines.warehouse.readonly import connect_readonly

REPO = Path(__file__).resolve().parents[1]
# Logs of *when* something ran: they differ between two equally correct runs by design.
RUN_LOG_TABLES = {"publish_log", "quality_results"}
RUN_LOG_COLUMNS = {
    "load_log": {"written_at", "loaded_at", "file", "duration_s"},
    "quarantine": {"loaded_at"},
    "model_versions": {"changed_at"},  # when a run first built the firewall layout
}
NIGHT = date(2026, 11, 8)
FIRST_DAY = date(2026, 11, 1)


def fingerprint(warehouse: Path, ignore: dict[str, set[str]] | None = None) -> dict[str, tuple[int, int]]:
    """{table: (rows, content hash)} of every warehouse table but the run logs (and `ignore` columns).

    sum() of 64-bit row hashes (as HUGEINT) rather than bit_xor: duplicated rows do not cancel out.
    Table and column names come from DuckDB's own catalog, and are quoted.
    """
    out: dict[str, tuple[int, int]] = {}
    with connect_readonly(warehouse) as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1").fetchall()]
        for table in tables:
            if table in RUN_LOG_TABLES:
                continue
            columns = [r[0] for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ? "
                "ORDER BY column_index", [table]).fetchall()]
            skip = RUN_LOG_COLUMNS.get(table, set()) | (ignore or {}).get(table, set())
            kept = ", ".join(f'"{c}"' for c in columns if c not in skip)
            rows, digest = con.execute(
                f'SELECT count(*), coalesce(sum(hash(t::VARCHAR)::HUGEINT), 0) FROM (SELECT {kept} FROM "{table}") t'  # noqa: S608 - catalog names
            ).fetchone()
            out[table] = (int(rows), int(digest))
    return out


def fingerprint_shards(home: Path) -> dict[str, tuple[int, int]]:
    """fingerprint() of every tenant's published shard, keyed '<tenant>/<table>'."""
    shards = sorted((home / "warehouse").glob("*.duckdb"))
    if not shards:
        raise FileNotFoundError(f"no published shard in {home / 'warehouse'}")
    return {f"{p.stem}/{t}": v for p in shards for t, v in fingerprint(p).items()}


def judge_shards(seen: dict, previous: dict, clean: dict) -> str:
    """'previous' / 'new' when every shard is; 'mixed' when each shard is one of the two; else MISMATCH."""
    if seen == previous:
        return "previous"
    if seen == clean:
        return "new"
    tenants = {k.split("/", 1)[0] for k in (*seen, *previous, *clean)}

    def of(fp: dict, tenant: str) -> dict:
        return {k: v for k, v in fp.items() if k.startswith(f"{tenant}/")}

    whole = all(of(seen, t) in (of(previous, t), of(clean, t)) for t in tenants)
    return "mixed" if whole else "MISMATCH"


def differences(a: dict, b: dict) -> list[str]:
    return [f"{t}: {a.get(t)} != {b.get(t)}" for t in sorted(set(a) | set(b)) if a.get(t) != b.get(t)]


def config_text(home: Path, scale: float, lookback: int, first_day: date = FIRST_DAY) -> str:
    return sample_config(home, scale=scale, start_date=first_day, lookback_days=lookback)


# -- what gets killed --------------------------------------------------------------------------
def night_command(target: str, config: Path, night: date) -> list[str]:
    if target == "cli":
        return [str(REPO / ".venv" / "bin" / "hunthouse"), "run", "--config", str(config), "--date", night.isoformat()]
    return [sys.executable, "-m", "bench.torture", "child", "--config", str(config), "--date", night.isoformat()]


def backfill_command(target: str, config: Path, start: date, end: date) -> list[str]:
    if target == "cli":
        return [str(REPO / ".venv" / "bin" / "hunthouse"), "backfill", "--config", str(config),
                "--start", start.isoformat(), "--end", end.isoformat()]
    return [sys.executable, "-m", "bench.torture", "child", "--config", str(config), "--date", end.isoformat(),
            "--start", start.isoformat()]


def child(config_path: str, night: date, start: date | None) -> int:
    """The quick target: the nightly partitions extracted straight into the lake, then every phase of
    a WarehouseRun (the quality gate included): the same lake writes and the same phases as the
    Dagster assets, without Dagster, so a trial takes seconds."""
    from pipelines import config
    from pipelines.extract import extract_partition
    from pipelines.plan import days_between, nightly_days, partitions
    from pipelines.sources.schemas import RAW_TABLES
    from pipelines.warehouse import build
    from pipelines.warehouse_run import WarehouseRun

    settings = config.load(config_path)
    days = days_between(start, night) if start else nightly_days(settings, night)
    for tenant, day in partitions(settings, days):
        for table in RAW_TABLES:
            extract_partition(settings, tenant, table, day)
    run_key = f"quick-{os.getpid()}"
    for tenant in settings.tenants:  # one shard per tenant
        shard = settings.for_tenant(tenant.name)
        WarehouseRun(shard, night, run_key).run_all()  # its start phase discards stale build files
        build.discard_stale_builds(shard)
    return 0


def run_to_completion(cmd: list[str], log: Path) -> float:
    started = time.monotonic()
    with open(log, "ab") as out:
        code = subprocess.call(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {code}; see {log}")
    return time.monotonic() - started


def run_and_kill(cmd: list[str], delay: float, log: Path) -> bool:
    """Start cmd in a new process group, SIGKILL the group after `delay`. True if it was killed."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=delay)
            return False  # finished first
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            _reap_group(proc.pid)
            return True


def _reap_group(pgid: int) -> None:
    """Wait until no process of the killed group is left (orphaned workers die with the SIGKILL too)."""
    for _ in range(100):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def restore(snapshot: Path, home: Path) -> None:
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(snapshot, home, symlinks=True)


@dataclass
class Trial:
    delay_s: float
    killed: bool
    published_after_kill: str  # "previous" | "new" | "mixed" (each shard previous or new) | "MISMATCH"
    rerun_s: float
    rerun_matches_clean: bool
    leftover_build_files: int
    detail: list[str] = field(default_factory=list)


@dataclass
class Summary:
    target: str
    scale: float
    trials: int
    kills: int
    published_previous: int
    published_new: int
    published_mixed: int  # some shards new, the others previous: each shard whole
    mismatches: int
    finished_before_kill: int
    clean_run_s: float
    wall_s: float
    results: list[Trial]


def torture(workdir: Path, trials: int, target: str = "cli", scale: float = 0.05, lookback: int = 3,
            seed: int = 20261108, first_day: date = FIRST_DAY, progress=print) -> Summary:
    began = time.monotonic()
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    home, snapshot, log = workdir / "home", workdir / "before-night", workdir / "runs.log"
    config = workdir / "hunthouse.toml"
    config.write_text(config_text(home, scale, lookback, first_day), encoding="utf-8")

    shutil.rmtree(home, ignore_errors=True)
    # two publishes: the second keeps the first as the standby, which the night then builds from
    run_to_completion(backfill_command(target, config, first_day, NIGHT - timedelta(days=2)), log)
    run_to_completion(night_command(target, config, NIGHT - timedelta(days=1)), log)
    if not list((home / "build").glob(f"*/{STANDBY}")):
        raise RuntimeError("no standby generation after two publishes")
    shutil.rmtree(snapshot, ignore_errors=True)
    shutil.copytree(home, snapshot, symlinks=True)
    previous = fingerprint_shards(home)
    clean_s = run_to_completion(night_command(target, config, NIGHT), log)
    clean = fingerprint_shards(home)
    if not differences(previous, clean):
        raise RuntimeError("the night changes nothing: previous and new versions could not be told apart")
    progress(f"base ready; clean night took {clean_s:.1f}s; {len(differences(previous, clean))} tables change")

    results: list[Trial] = []
    # `trials` counts kills: a run that finishes before its delay is recorded but does not count.
    while sum(t.killed for t in results) < trials and len(results) < 2 * trials:
        i = len(results)
        restore(snapshot, home)
        delay = rng.uniform(0.0, clean_s)
        killed = run_and_kill(night_command(target, config, NIGHT), delay, log)
        try:
            seen = fingerprint_shards(home)
            state = judge_shards(seen, previous, clean)
            detail = [] if state != "MISMATCH" else differences(seen, clean)[:5]
        except Exception as exc:  # noqa: BLE001 - an unreadable published file is exactly what we look for
            state, detail = "MISMATCH", [f"cannot open the published warehouse: {exc}"]
        rerun_s = run_to_completion(night_command(target, config, NIGHT), log)
        after = fingerprint_shards(home)
        detail += differences(after, clean)[:5]
        # the standby is the previous generation, kept on purpose; anything else is a leftover
        leftovers = len([p for p in (home / "build").rglob("*") if p.is_file() and p.name != STANDBY])
        trial = Trial(round(delay, 2), killed, state, round(rerun_s, 1), after == clean, leftovers, detail)
        results.append(trial)
        progress(f"trial {i + 1}: kill at {delay:5.1f}s killed={killed} published={state} "
                 f"rerun={rerun_s:.1f}s matches_clean={after == clean}{' ' + str(detail) if detail else ''}")
    return Summary(
        target=target, scale=scale, trials=len(results), kills=sum(t.killed for t in results),
        published_previous=sum(t.published_after_kill == "previous" for t in results if t.killed),
        published_new=sum(t.published_after_kill == "new" for t in results if t.killed),
        published_mixed=sum(t.published_after_kill == "mixed" for t in results if t.killed),
        mismatches=sum((t.published_after_kill == "MISMATCH") + (not t.rerun_matches_clean) for t in results),
        finished_before_kill=sum(not t.killed for t in results),
        clean_run_s=round(clean_s, 1), wall_s=round(time.monotonic() - began, 1), results=results,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.torture", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command")
    c = sub.add_parser("child", help="(internal) the quick target's night")
    c.add_argument("--config", required=True)
    c.add_argument("--date", type=date.fromisoformat, required=True)
    c.add_argument("--start", type=date.fromisoformat)
    p.add_argument("--trials", type=int, default=20, help="kills to perform (runs that finish first do not count)")
    p.add_argument("--target", choices=("cli", "quick"), default="cli")
    p.add_argument("--scale", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=20261108)
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "hunthouse-torture")
    p.add_argument("--json", type=Path, help="also write the summary here")
    args = p.parse_args(argv)
    if args.command == "child":
        return child(args.config, args.date, args.start)
    summary = torture(args.workdir, args.trials, args.target, args.scale, seed=args.seed)
    brief = {k: v for k, v in asdict(summary).items() if k != "results"}
    print(json.dumps(brief, indent=2))
    if args.json:
        args.json.write_text(json.dumps(asdict(summary), indent=2), encoding="utf-8")
    return 0 if summary.mismatches == 0 and summary.kills else 1


if __name__ == "__main__":
    sys.exit(main())
