"""What `hunthouse status` and the demo summary show: per tenant, its published shard, the outcome of
its latest runs (pipelines.health: which step failed and why), the latest warehouse run's check
results (<home>/quality/<tenant>/latest.json, kept even when the run was blocked) and Dagster."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from models import registry
from pipelines import health
from pipelines.config import Settings
from pipelines.warehouse.hub import connect_warehouse
from pipelines.warehouse.load_log import LATEST_LOADS
from pipelines.warehouse.readonly import WarehouseUnavailable, connect_readonly
from quality.latest_run import latest_path, load_latest

SHOWN_FAILURES = 10  # failed expectations listed per section; the rest are counted

# the model tables (not the seeds and run logs), from their declarations (models/registry.py)
SUMMARY_TABLES = tuple(
    m.name for group in ("staging", "firewall", "tuning") for m in registry.default().tables(group)
    if m.kind in ("incremental", "window", "as_of")
)


def _existing(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def published_summary(settings: Settings) -> dict:
    with connect_warehouse(settings) as con:
        present = _existing(con)
        tables = {
            t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]  # noqa: S608 (allow-listed names)
            for t in SUMMARY_TABLES
            if t in present
        }
        first, last = con.execute("SELECT min(day), max(day) FROM load_log").fetchone()
        tenants = [r[0] for r in con.execute("SELECT DISTINCT tenant FROM load_log ORDER BY 1").fetchall()]
    return {"tables": tables, "first_day": first, "last_day": last, "tenants": tenants}


@contextmanager
def _existing_instance(home: Path) -> Iterator:
    """The Dagster instance already at `home`, opened as it is: status is read-only, so it neither
    rewrites dagster.yaml nor leaves DAGSTER_HOME pointing anywhere (the yaml reads its storage
    directory from DAGSTER_HOME, which is set only while the instance opens)."""
    import dagster as dg

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            yield instance
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous


def _last_runs(settings: Settings, tenant: str) -> list[tuple[str, str, str, str]]:
    if not (settings.dagster_home / "dagster.yaml").exists():
        return []
    import dagster as dg

    with _existing_instance(settings.dagster_home) as instance:
        runs = instance.get_runs(
            filters=dg.RunsFilter(job_name="warehouse_build", tags={"dagster/partition": tenant}), limit=3)
        stats = {r.run_id: instance.get_run_stats(r.run_id) for r in runs}
    out = []
    for r in runs:
        st = stats[r.run_id]
        ended = st.end_time or st.start_time
        out.append((r.run_id[:8], r.status.value, r.tags.get("hunthouse/as_of", ""), f"{ended:.0f}" if ended else ""))
    return out


def _when(iso: str | None) -> str:
    return (iso or "?")[:16].replace("T", " ") + " UTC" if iso else "?"


def latest_run_lines(settings: Settings, published_builds: set[str]) -> list[str]:
    """The latest warehouse run's checks (<home>/quality/latest.json), whether or not it published.

    Published means the published warehouse's publish_log names the run's build file; a run that
    did not publish and has failed ERROR checks was blocked by them. Raw partition results (from
    the extract runs, taken in by this run) block through the staging check, so they are counted
    apart and their failures listed only once."""
    doc = load_latest(settings.quality_dir)
    if doc is None:
        return []
    checks = {a: r for a, r in doc["checks"].items() if not a.startswith("raw_")}
    raw = {a: r for a, r in doc["checks"].items() if a.startswith("raw_")}
    blocking = [a for a, r in checks.items() if r.get("errors")]
    warned = [a for a, r in checks.items() if r.get("warnings") and not r.get("errors")]
    published = doc.get("build_file") in published_builds
    if published:
        state = "PUBLISHED" + (", but checks after the publish failed" if blocking else "")
    elif blocking:
        state = "BLOCKED: not published, the published warehouse is from an earlier run"
    else:
        state = "NOT PUBLISHED: no check failed; still running, or a step failed (see Dagster)"
    lines = [
        f"Latest warehouse run {str(doc['run_id'])[:8]} (as of {doc.get('as_of')}, checked "
        f"{_when(doc.get('started_at'))} to {_when(doc.get('updated_at'))}): {state}",
        f"  {len(checks)} asset checks: {len(checks) - len(blocking) - len(warned)} passed, "
        f"{len(blocking)} failed with ERROR, {len(warned)} with warnings only",
    ]
    if raw:
        lines.append(f"  raw partitions it loaded: {sum(r['expectations'] for r in raw.values())} expectations, "
                     f"{sum(r['errors'] for r in raw.values())} errors, {sum(r['warnings'] for r in raw.values())} warnings")
    if blocking:
        lines.append(f"  {'Failed' if published else 'Blocked by'} ERROR checks: "
                     + ", ".join(f"{a} ({checks[a]['errors']} failed ERROR expectations)" for a in blocking))
    failed, seen = [], set()
    for asset, result in [*checks.items(), *raw.items()]:
        for f in result.get("failed", []):
            key = (f.get("severity"), f.get("partition"), f.get("expectation"))
            if key not in seen:
                seen.add(key)
                failed.append((asset, f))
    failed.sort(key=lambda item: item[1].get("severity") != "ERROR")
    for asset, f in failed[:SHOWN_FAILURES]:
        where = f" [{f['partition']}]" if f.get("partition") else ""
        lines.append(f"    {f['severity']:<5} {asset}{where}: {f['expectation']}: {f.get('observed') or f.get('why')}")
    if len(failed) > SHOWN_FAILURES:
        lines.append(f"    … and {len(failed) - SHOWN_FAILURES} more in {latest_path(settings.quality_dir)}")
    return lines


def _published_builds(con) -> set[str]:
    if "publish_log" not in _existing(con):
        return set()
    return {r[0] for r in con.execute("SELECT DISTINCT build_file FROM publish_log").fetchall()}


def _shard_facts(settings: Settings) -> tuple[dict | None, list[str]]:
    """(what the tenant's published shard says of itself, or None without one; its latest run's check lines)."""
    try:
        con = connect_readonly(settings.warehouse_path)
    except WarehouseUnavailable:
        return None, latest_run_lines(settings, set())
    with con:
        present = _existing(con)
        facts = {"published_at": None, "as_of": None, "days": None}
        if "publish_log" in present:
            facts["published_at"], facts["as_of"] = con.execute(
                "SELECT max(published_at), max(as_of) FROM publish_log").fetchone()
        if "load_log" in present:
            facts["days"] = con.execute("SELECT min(day), max(day) FROM load_log").fetchone()
        return facts, latest_run_lines(settings, _published_builds(con))


def tenant_lines(settings: Settings) -> list[str]:
    """One line per tenant: data through, stale since, the failed step and its reason."""
    lines = [f"{'tenant':<14} {'state':<7} {'data through':<12} {'published (UTC)':<17} detail"]
    details: list[str] = []
    for tenant in (t.name for t in settings.tenants):
        shard = settings.for_tenant(tenant)
        facts, check_lines = _shard_facts(shard)
        state = health.health(settings.home, tenant)
        through = str(facts["as_of"]) if facts and facts["as_of"] else "-"
        at = str(facts["published_at"])[:16] if facts and facts["published_at"] else "never"
        if state.failing:
            last = state.last
            since = state.stale_since.night if state.stale_since else last.night
            label = "STALE"
            detail = f"since night {since}: {last.step} failed: {last.reason}"
        elif facts is None:
            label, detail = "EMPTY", "no published shard yet"
        else:
            label, detail = "OK", f"days {facts['days'][0]} → {facts['days'][1]}" if facts["days"] else ""
        lines.append(f"{tenant:<14} {label:<7} {through:<12} {at:<17} {detail}")
        if state.failing and len(state.last.failures) > 1:
            details += [f"  {tenant}: {f}" for f in state.last.failures[1:SHOWN_FAILURES]]
        if check_lines:
            details += [f"[{tenant}] {line}" if i == 0 else line for i, line in enumerate(check_lines)]
    return lines + ([""] + details if details else [])


def delivery_lines(settings: Settings) -> list[str]:
    """The latest delivery run ([delivery]): what was sent, and each failure with its reason."""
    if settings.delivery is None:
        return []
    from pipelines.delivery import last_run

    attempts = last_run(settings.home)
    if not attempts:
        return ["Delivery: nothing sent yet"]
    failed = [a for a in attempts if not a["ok"]]
    lines = [f"Delivery ({attempts[-1]['at'][:16].replace('T', ' ')} UTC, night {attempts[-1]['night']}): "
             f"{len(attempts) - len(failed)} sent, {len(failed)} FAILED (the publish stands either way)"]
    lines += [f"  FAILED {a['channel']} {a['target']}: {a['detail']}" for a in failed[:SHOWN_FAILURES]]
    return lines


def print_status(settings: Settings, say: Callable[[str], None]) -> None:
    say(f"Data home: {settings.home}")
    say("")
    for line in tenant_lines(settings):
        say(line)
    for line in ([""] if settings.delivery else []) + delivery_lines(settings):
        say(line)
    try:
        con = connect_warehouse(settings)
    except WarehouseUnavailable as exc:
        say(str(exc))
        return
    with con:
        present = _existing(con)
        say("")
        say(f"Published shards: {settings.warehouse_dir} (plain duckdb: duckdb -init "
            f"{settings.warehouse_dir / 'attach.sql'})")
        say("Partitions loaded (tenant, table: days, first → last, rows, quarantined, last watermark):")
        partitions = (f"SELECT tenant, tbl, count(*), min(day), max(day), sum(rows), sum(quarantined), "  # noqa: S608
                      f"max(watermark) FROM ({LATEST_LOADS}) GROUP BY ALL ORDER BY tenant, tbl")
        for row in con.execute(partitions).fetchall():
            tenant, tbl, days, first, last, rows, bad, wm = row
            say(f"  {tenant:<12} {tbl:<18} {days:>4} days  {first} → {last}  {rows:>10,} rows  {bad:>5} quarantined  watermark {wm}")
        if "quality_results" in present:
            _say_published_checks(con, say)
        if "exclusion_health" in present:
            _say_exclusion_health(con, say)
    for tenant in (t.name for t in settings.tenants):
        runs = _last_runs(settings, tenant)
        if runs:
            say("")
            say(f"Last warehouse runs of {tenant} (run id, outcome, as of):")
            for run_id, outcome, as_of, _ in runs:
                say(f"  {run_id}  {outcome:<8}  as of {as_of}")


def _say_published_checks(con, say: Callable[[str], None]) -> None:
    """Per asset, the checks recorded in the published warehouse (its last run), failures listed."""
    rows = con.execute(
        """
        SELECT tenant, run_id, asset, count(*), count(*) FILTER (WHERE NOT success AND severity = 'ERROR'),
               count(*) FILTER (WHERE NOT success AND severity = 'WARN'),
               list(severity || ' ' || coalesce(partition, '') || ' ' || expectation || ': ' || observed_value
                    ORDER BY severity, expectation) FILTER (WHERE NOT success)
        FROM quality_results
        WHERE (tenant, run_id) IN (SELECT (tenant, arg_max(run_id, checked_at)) FROM quality_results GROUP BY tenant)
        GROUP BY tenant, run_id, asset ORDER BY tenant, asset
        """
    ).fetchall()
    if not rows:
        return
    say("")
    say("Data quality checks in the published shards (each tenant's last run; expectations, errors, warnings):")
    passed: dict[str, int] = {}
    for tenant, run_id, asset, total, errors, warnings, failed in rows:
        if not errors and not warnings:
            passed[tenant] = passed.get(tenant, 0) + 1
            continue
        say(f"  {'FAIL' if errors else 'WARN'}  {tenant:<12} {str(run_id)[:8]}  {asset:<28} "
            f"{total:>5} {errors:>4} {warnings:>4}")
        for line in (failed or [])[:SHOWN_FAILURES]:
            say(f"        {line}")
    for tenant, count in passed.items():
        say(f"  PASS  {tenant:<12} {count} more assets passed every check")


def _say_exclusion_health(con, say: Callable[[str], None]) -> None:
    """One line per tenant whose accepted exclusions have high-severity findings (a true positive hides)."""
    rows = con.execute(
        "SELECT tenant, count(*), sum(true_positive_incidents_since_acceptance) FROM exclusion_health "
        "WHERE severity = 'high' GROUP BY tenant ORDER BY tenant"
    ).fetchall()
    if rows:
        say("")
    for tenant, exclusions, incidents in rows:
        say(f"Exclusion health HIGH {tenant}: {exclusions} accepted exclusion(s) carry the entity of {incidents} "
            "true-positive incident(s) since acceptance (table exclusion_health, severity high)")
