"""make bench / make bench-quick: measure landing, full and nightly builds, and the pandas reference.

Writes bench/results/latest.json and BENCHMARKS.md. Every size is a parameter; --quick is the CI
smoke run (small sizes, same code paths).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from . import machine
from .dataset import TENANT, Scale
from .measure import REPO, StepFailed, run_step
from .report import phase_median, write_markdown
from .scenario import run_scenario, summary

RESULTS = REPO / "bench" / "results"
PANDAS_MEMORY_CAP_GB = 21  # of the 24 GB machine: the reference fails alone instead of starving the host
FULL = {"devices": 5000, "events_per_day": 1_000_000, "alerts_per_day": 20_000, "days": 30, "long_history_days": 180,
        "landing_rows": 300_000, "page_rows": 50_000}
QUICK = {"devices": 100, "events_per_day": 10_000, "alerts_per_day": 60, "days": 22, "long_history_days": 30,
         "landing_rows": 10_000, "page_rows": 5_000}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small smoke run (CI)")
    p.add_argument("--devices", type=int)
    p.add_argument("--events-per-day", type=int)
    p.add_argument("--alerts-per-day", type=int)
    p.add_argument("--days", type=int, help="history of the main scenario (full build, pandas reference)")
    p.add_argument("--long-history-days", type=int, help="the longer history of the incremental comparison")
    p.add_argument("--history-devices", type=int, help="devices in the 30-vs-long comparison (default: --devices)")
    p.add_argument("--history-events-per-day", type=int, help="events/day in the comparison (default: main size)")
    p.add_argument("--history-alerts-per-day", type=int, help="alerts/day in the comparison (default: main size)")
    p.add_argument("--landing-rows", type=int)
    p.add_argument("--page-rows", type=int)
    p.add_argument("--repeats", type=int, default=3, help="repeats of the quick timings (landing, nightly build)")
    p.add_argument("--workers", type=int, default=2, help="concurrent extract children while landing history")
    p.add_argument("--work-dir", type=Path, default=REPO / "bench" / "data")
    p.add_argument("--markdown", type=Path,
                   help="where to write the Markdown (default BENCHMARKS.md; --quick writes none unless given)")
    p.add_argument("--skip-long-history", action="store_true", help="measure the nightly build on the main history only")
    args = p.parse_args(argv)
    if args.markdown is None and not args.quick:
        args.markdown = REPO / "BENCHMARKS.md"
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def landing(args: argparse.Namespace, scale: Scale, work: Path) -> dict:
    out = {}
    for kind in ("sentinel", "defender"):
        runs = []
        for i in range(args.repeats):
            progress(f"landing {args.landing_rows:,} DeviceEvents rows through the {kind} parser, run {i + 1}/{args.repeats}")
            home = work / f"landing-{kind}"
            shutil.rmtree(home, ignore_errors=True)
            runs.append(run_step("landing", {"home": str(home), "scale": asdict(scale), "kind": kind,
                                             "rows": args.landing_rows, "page_rows": args.page_rows}))
        seconds = [r.output["seconds"] for r in runs]
        rows = runs[0].output["rows"]
        out[kind] = {"rows": rows, "page_rows": args.page_rows, "body_mb": runs[0].output["body_mb"],
                     "seconds_min": min(seconds), "seconds_median": statistics.median(seconds),
                     "rows_per_s_best": round(rows / min(seconds)), "rows_per_s_median": round(rows / statistics.median(seconds)),
                     "peak_rss_mb_max": max(r.peak_rss_mb for r in runs), "runs": len(runs)}
    return out


def pandas_reference(main: dict, scale: Scale, home: Path, baseline_days: int) -> dict:
    progress("pandas reference over the same lake, then the equality check against the warehouse")
    out_dir = home / "pandas-out"
    try:
        ref = run_step("pandas", {"lake_root": str(home / "lake"), "as_of": scale.last_history_day.isoformat(),
                                  "baseline_days": baseline_days, "out": str(out_dir),
                                  "memory_cap_gb": PANDAS_MEMORY_CAP_GB})
    except StepFailed as exc:
        # at large scales the notebook way runs out of memory: that is a result, not a bench failure
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        why = f"exit {exc.exit_code}: {lines[-1][:160]}" if len(lines) > 1 else lines[0]  # the exception line
        progress(f"  pandas reference failed: {why}")
        return {"failed": why, "exit_code": exc.exit_code, "wall_s_min": exc.wall_s,
                "wall_s_median": exc.wall_s, "runs": 1, "peak_rss_mb_max": exc.peak_rss_mb}
    check = run_step("compare", {"warehouse": main["warehouse_before_new_day"], "out": str(out_dir), "tenant": TENANT})
    return {**summary([ref]), "equality": check.output}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # the new day is the day before yesterday (UTC): every simulated row is in the past
    new_day = (datetime.now(UTC).date() - timedelta(days=2)).isoformat()
    main_scale = Scale(args.devices, args.events_per_day, args.alerts_per_day, args.days, new_day)
    history_size = Scale(args.history_devices or args.devices, args.history_events_per_day or args.events_per_day,
                         args.history_alerts_per_day or args.alerts_per_day, args.days, new_day)
    results: dict = {"machine": machine.describe(), "mode": "quick" if args.quick else "full",
                     "command": " ".join(["python -m bench.run", *(sys.argv[1:] if argv is None else argv)]),
                     "repeats": {"landing": args.repeats, "nightly_build": args.repeats, "full_build": 1, "pandas": 1}}
    results["landing"] = landing(args, main_scale, work)

    from pipelines.config import Settings

    baseline_days = Settings.__dataclass_fields__["baseline_days"].default
    progress(f"main scenario: {main_scale}")
    main_home = work / "main"
    results["main"] = run_scenario(main_home, main_scale, args.workers, args.repeats, progress)
    results["pandas"] = pandas_reference(results["main"], main_scale, main_home, baseline_days)

    scenarios = {}
    if not args.skip_long_history:
        for days in (args.days, args.long_history_days):
            scale = Scale(history_size.devices, history_size.events_per_day, history_size.alerts_per_day, days, new_day)
            if scale == main_scale:
                scenarios[str(days)] = results["main"]
                continue
            progress(f"history scenario: {scale}")
            scenarios[str(days)] = run_scenario(work / f"history-{days}", scale, args.workers, args.repeats, progress)
        short, long = (scenarios[str(d)]["nightly_build"]["wall_s_median"] for d in (args.days, args.long_history_days))
        models = [phase_median(scenarios[str(d)]["nightly_build"], "models_s") for d in (args.days, args.long_history_days)]
        first = [scenarios[str(d)]["first_nightly_build"]["wall_s_median"] for d in (args.days, args.long_history_days)]
        results["incremental"] = {"short_days": args.days, "long_days": args.long_history_days,
                                  "scale": asdict(history_size) | {"history_days": None},
                                  "short_nightly_s": short, "long_nightly_s": long, "ratio": round(long / short, 3),
                                  "short_models_s": models[0], "long_models_s": models[1],
                                  "short_first_nightly_s": first[0], "long_first_nightly_s": first[1],
                                  "scenarios": {k: v for k, v in scenarios.items() if v is not results["main"]}}
    results["total_wall_s"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    if args.markdown is not None:
        write_markdown(results, args.markdown)
    progress(f"done in {results['total_wall_s']} s: {RESULTS / 'latest.json'}{f', {args.markdown}' if args.markdown else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
