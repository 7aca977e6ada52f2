"""One history scenario: land N days, full build, add one day, nightly builds (the first one, then repeats)."""

from __future__ import annotations

import shutil
import statistics
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from .dataset import TENANT, Scale
from .measure import StepResult, run_step


def summary(results: list[StepResult]) -> dict:
    walls = [r.wall_s for r in results]
    rss = [r.peak_rss_mb for r in results]
    return {"runs": len(results), "wall_s_min": min(walls), "wall_s_median": statistics.median(walls),
            "peak_rss_mb_max": max(rss), "outputs": [r.output for r in results]}


def land_history(home: Path, scale: Scale, workers: int) -> dict:
    """Extract the history days in `workers` concurrent children (consecutive blocks of days)."""
    days = scale.history_days
    size = -(-days // workers)
    blocks = [(scale.start + timedelta(days=i), scale.start + timedelta(days=min(days, i + size) - 1)) for i in range(0, days, size)]
    args = [{"home": str(home), "scale": asdict(scale), "first": a.isoformat(), "last": b.isoformat()} for a, b in blocks]
    with ThreadPoolExecutor(len(args)) as pool:
        results = list(pool.map(lambda a: run_step("extract", a), args))
    return {"rows": sum(r.output["rows"] for r in results), "wall_s": max(r.wall_s for r in results),
            "peak_rss_mb_max": max(r.peak_rss_mb for r in results)}


def run_scenario(home: Path, scale: Scale, workers: int, incremental_repeats: int, progress) -> dict:
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    args = {"home": str(home), "scale": asdict(scale)}
    progress(f"  landing {scale.history_days} days of history ({scale.events_per_day:,} events/day)")
    landed = land_history(home, scale, workers)
    progress(f"  full build over {scale.history_days} days")
    full = run_step("build", {**args, "as_of": scale.last_history_day.isoformat(), "run_key": "full"})
    before_new_day = home / "warehouse-before-new-day.duckdb"
    shutil.copyfile(home / "warehouse" / f"{TENANT}.duckdb", before_new_day)
    progress(f"  landing the new day {scale.new_day}")
    new_day = run_step("extract", {**args, "first": scale.new_day.isoformat(), "last": scale.new_day.isoformat()})
    # The first night after the full build has no standby generation and copies the whole warehouse
    # (history-sized); every later night starts from the standby. Both are recorded; the repeats,
    # like the nights of a running deployment, start from the standby.
    runs = []
    for i in range(incremental_repeats + 1):
        # each run starts from the same published warehouse, so it reloads exactly the new day
        shutil.copyfile(before_new_day, home / "warehouse" / f"{TENANT}.duckdb")
        what = "first nightly build (no standby yet)" if i == 0 else f"nightly build, run {i}/{incremental_repeats}"
        progress(f"  {what} of the new day")
        runs.append(run_step("build", {**args, "as_of": scale.new_day.isoformat(), "run_key": f"nightly{i}"}))
    first, nightly = runs[0], runs[1:]
    return {
        "scale": asdict(scale),
        "history_landing": landed,
        "full_build": summary([full]),
        "new_day_landing": {"rows": new_day.output["rows"], "wall_s": new_day.wall_s, "peak_rss_mb": new_day.peak_rss_mb},
        "first_nightly_build": summary([first]),
        "nightly_build": summary(nightly),
        "warehouse_before_new_day": str(before_new_day),
    }
