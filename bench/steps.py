"""Child-process entry points, one per measured step: `python -m bench.steps <step> '<json args>'`.

Each prints one JSON line with its own figures; bench.measure reads the peak RSS from wait4.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import date
from pathlib import Path

from .dataset import Scale, extract_days, settings


def _scale(args: dict) -> Scale:
    return Scale(**args["scale"])


def step_extract(args: dict) -> dict:
    rows = extract_days(Path(args["home"]), _scale(args), date.fromisoformat(args["first"]), date.fromisoformat(args["last"]))
    return {"rows": rows}


def step_build(args: dict) -> dict:
    """Every phase of a warehouse run, the quality gate included; `phases` times each kind apart
    (models_s is the models alone, checks_s the gate)."""
    from pipelines.warehouse_run import WarehouseRun

    s = settings(Path(args["home"]), _scale(args))
    started = time.perf_counter()
    phases: dict = {}
    counts = WarehouseRun(s, date.fromisoformat(args["as_of"]), args["run_key"], timings=phases).run_all()
    return {"seconds": round(time.perf_counter() - started, 3), "phases": phases, "counts": counts}


def step_landing(args: dict) -> dict:
    from .landing import hunting_bodies, land, log_analytics_bodies, simulator_rows

    home = Path(args["home"])
    rows = simulator_rows(_scale(args), args["rows"], home)
    encode = log_analytics_bodies if args["kind"] == "sentinel" else hunting_bodies
    bodies = encode(rows, args["page_rows"])
    del rows
    return land(args["kind"], bodies, home, _scale(args).start)


def step_pandas(args: dict) -> dict:
    from .pandas_firewall import device_baseline
    from .pandas_tuning import labelled_alerts, rule_noise, top_entities

    lake, as_of, out = args["lake_root"], date.fromisoformat(args["as_of"]), Path(args["out"])
    if args.get("memory_cap_gb"):
        # a MemoryError here, rather than the kernel's OOM killer picking a process on a shared host
        cap = int(args["memory_cap_gb"] * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    baseline = device_baseline(lake, as_of, args["baseline_days"])
    fw_seconds = time.perf_counter() - started
    labelled = labelled_alerts(lake, as_of)
    noise, entities = rule_noise(labelled), top_entities(labelled)
    seconds = time.perf_counter() - started
    # written after the clock stops: the comparison reads them in another process
    baseline.to_parquet(out / "baseline.parquet")
    noise.to_parquet(out / "rule_noise.parquet")
    entities.to_parquet(out / "top_entities.parquet")
    return {"seconds": round(seconds, 3), "firewall_seconds": round(fw_seconds, 3),
            "baseline_rows": len(baseline), "rules": len(noise), "entity_rows": len(entities)}


def step_compare(args: dict) -> dict:
    from .compare import compare_all

    return compare_all(Path(args["warehouse"]), Path(args["out"]), args["tenant"])


STEPS = {"extract": step_extract, "build": step_build, "landing": step_landing, "pandas": step_pandas,
         "compare": step_compare}

if __name__ == "__main__":
    result = STEPS[sys.argv[1]](json.loads(sys.argv[2]))
    print(json.dumps(result, default=str))
