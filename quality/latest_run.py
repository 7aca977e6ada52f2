"""The latest warehouse run's check results, kept beside the warehouse in <home>/quality/<tenant>/latest.json.

quality_results travels inside the build file, so a run that a blocking check stopped takes its
results with it when the build file is discarded; the published warehouse then still shows the
previous run's (passing) results. Every check of a warehouse run therefore also records its
result here, replacing the file atomically, so `hunthouse status` can say which run was the latest,
whether it published, and which checks blocked it.

Whether the run published is not stored: status reads it from the published warehouse's
publish_log (build_file names the run's build file), which is the only authoritative answer.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path

from quality.engine import Outcome

FILE = "latest.json"
MAX_FAILED = 25  # failed expectations kept per check; the rest are counted


def latest_path(directory: Path) -> Path:
    """The record of one tenant shard's latest run, in that shard's quality directory."""
    return directory / FILE


def _summary(outcomes: list[Outcome]) -> dict:
    failed = [o for o in outcomes if not o.success]
    errors = [o for o in failed if o.severity == "ERROR"]
    return {
        "passed": not failed,
        "severity": "ERROR" if errors else ("WARN" if failed else None),
        "expectations": len(outcomes),
        "errors": len(errors),
        "warnings": len(failed) - len(errors),
        "failed": [
            {"severity": o.severity, "partition": o.partition, "expectation": o.expectation,
             "observed": o.observed_value, "why": o.why}
            for o in sorted(failed, key=lambda o: o.severity != "ERROR")[:MAX_FAILED]
        ],
    }


def record_check(
    directory: Path,
    run_id: str,
    build_file: str,
    as_of: date,
    asset: str,
    outcomes: list[Outcome],
    now: datetime | None = None,
) -> None:
    """Add one asset's check result to the latest run's file; a new run id starts a new file.

    The warehouse job runs its steps one at a time (in-process executor), so read-modify-write
    needs no lock; the replace is atomic, so a reader never sees half a file.
    """
    now = now or datetime.now(UTC)
    doc = load_latest(directory)
    if doc is None or doc.get("run_id") != run_id:
        doc = {"run_id": run_id, "build_file": build_file, "as_of": as_of.isoformat(),
               "started_at": now.isoformat(), "checks": {}}
    doc["updated_at"] = now.isoformat()
    doc["checks"][asset] = _summary(outcomes)
    path = latest_path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_latest(directory: Path) -> dict | None:
    """The latest run's record, or None when no warehouse run has recorded checks (or it is unreadable)."""
    path = latest_path(directory)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return doc if isinstance(doc, dict) and "run_id" in doc and isinstance(doc.get("checks"), dict) else None

