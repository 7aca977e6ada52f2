"""Helpers of the reliability tests: quick homes built without Dagster, and an analyst reader process.

`quick_load` runs the same lake writes (extract_partition) and the same warehouse run
(WarehouseRun.run_all: every phase, the quality gate included) as the Dagster assets, without
Dagster, so a test can publish a few versions in seconds. The Dagster path itself is covered by the
CLI-driven tests and bench/torture.py.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from pathlib import Path

from pipelines import config
from pipelines.sources.sample.toml import sample_config

NIGHT = date(2026, 11, 8)


def tiny_config(directory: Path, *, scale: float = 0.03, tenants=(("contoso", 7),), lookback: int = 1,
                start: date = date(2026, 10, 1)) -> config.Settings:
    text = sample_config(directory / "home", tenants=tenants, scale=scale, start_date=start, lookback_days=lookback)
    path = directory / "hunthouse.toml"
    path.write_text(text, encoding="utf-8")
    return config.load(path)


def quick_load(settings: config.Settings, days: list[date], as_of: date, run_key: str) -> None:
    """Extract every (tenant, day, table) partition into the lake, then build and publish."""
    from pipelines.extract import extract_partition
    from pipelines.plan import partitions
    from pipelines.sources.schemas import RAW_TABLES
    from pipelines.warehouse.build import discard_stale_builds
    from pipelines.warehouse_run import WarehouseRun

    for tenant, day in partitions(settings, days):
        for table in RAW_TABLES:
            extract_partition(settings, tenant, table, day)
    for tenant in settings.tenants:  # one shard per tenant
        shard = settings.for_tenant(tenant.name)
        WarehouseRun(shard, as_of, run_key).run_all()
        discard_stale_builds(shard)


# -- an analyst session in its own process -----------------------------------------------------
READER_QUERIES = {
    # Three statements, one connection: all must describe the same version.
    "version": "SELECT count(*), max(published_at)::VARCHAR FROM publish_log",
    "total": "SELECT count(*) FROM alerts",
    "by_tenant": "SELECT coalesce(sum(n), 0) FROM (SELECT tenant, count(*) AS n FROM alerts GROUP BY tenant)",
    "events_total": "SELECT count(*) FROM device_events",
    "events_by_day": "SELECT coalesce(sum(n), 0) FROM (SELECT day, count(*) AS n FROM device_events GROUP BY day)",
}


def read_loop(config_path: Path, stop: Path, out: Path, limit_s: float = 600) -> None:
    """Reconnect (every tenant's shard, through the analysts' entry point) and query in a loop until
    the `stop` file exists, then one session more (which sees the writer's last publish); record each
    session's version and any broken invariant or error."""
    from pipelines.warehouse.hub import connect_warehouse

    settings = config.load(config_path)
    sessions, errors = [], []
    deadline = time.monotonic() + limit_s
    last_round = False
    while not last_round:
        last_round = stop.exists() or time.monotonic() > deadline
        try:
            with connect_warehouse(settings) as con:
                first = con.execute(READER_QUERIES["version"]).fetchone()
                total = con.execute(READER_QUERIES["total"]).fetchone()[0]
                by_tenant = con.execute(READER_QUERIES["by_tenant"]).fetchone()[0]
                events = con.execute(READER_QUERIES["events_total"]).fetchone()[0]
                time.sleep(0.02)  # let a publish happen mid-session if it will
                events_by_day = con.execute(READER_QUERIES["events_by_day"]).fetchone()[0]
                last = con.execute(READER_QUERIES["version"]).fetchone()
            if total != by_tenant or events != events_by_day:
                errors.append(f"invariant broken: alerts {total} vs {by_tenant}, events {events} vs {events_by_day}")
            if first != last:
                errors.append(f"version changed within one connection: {first} -> {last}")
            sessions.append({"publishes": first[0], "published_at": first[1], "alerts": total, "events": events})
            time.sleep(0.1)  # an analyst's pace: three busy loops would starve the writer of both cores
        except Exception as exc:  # noqa: BLE001 - every failure is a finding, reported to the test
            errors.append(f"{type(exc).__name__}: {exc}")
    out.write_text(json.dumps({"sessions": sessions, "errors": errors}), encoding="utf-8")


def hold_open(warehouse: Path, seconds: float, out: Path) -> None:
    """One connection kept open for `seconds` (an analyst's long session): the same answers every
    time, whatever is published meanwhile. Touches `<out>.ready` once connected."""
    from pipelines.warehouse.readonly import connect_readonly

    answers, errors = set(), []
    with connect_readonly(warehouse) as con:
        out.with_suffix(".ready").touch()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                answers.add(json.dumps([con.execute(q).fetchone() for q in READER_QUERIES.values()], default=str))
            except Exception as exc:  # noqa: BLE001 - every failure is a finding, reported to the test
                errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.05)
    out.write_text(json.dumps({"answers": sorted(answers), "errors": errors}), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1] == "hold":
        hold_open(Path(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4]))
    else:
        read_loop(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
