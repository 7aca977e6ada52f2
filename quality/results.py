"""The quality_results table (written into the run's build file, so results publish with it) and the
per-partition result file that raw checks leave beside the lake manifest for the warehouse run."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from quality.engine import Outcome

DDL = """
CREATE TABLE IF NOT EXISTS quality_results (
    run_id VARCHAR NOT NULL,
    checked_at TIMESTAMPTZ NOT NULL,
    asset VARCHAR NOT NULL,
    partition VARCHAR,
    expectation VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    success BOOLEAN NOT NULL,
    observed_value VARCHAR,
    unexpected_count BIGINT
)
"""
RESULT_FILE = "_quality.json"


def write_results(con: duckdb.DuckDBPyConnection, run_id: str, outcomes: list[Outcome], checked_at: datetime | None = None) -> None:
    """Replace this run's rows for the assets in `outcomes` (a retried check step stays idempotent)."""
    con.execute(DDL)
    checked_at = checked_at or datetime.now(UTC)
    for asset in sorted({o.asset for o in outcomes}):
        con.execute("DELETE FROM quality_results WHERE run_id = ? AND asset = ?", [run_id, asset])
    if outcomes:
        # one Arrow scan, not executemany: DuckDB runs that statement by statement (seconds per 1,000 rows)
        rows = pa.table({
            "run_id": [run_id] * len(outcomes),
            "checked_at": pa.array([checked_at] * len(outcomes), pa.timestamp("us", tz="UTC")),
            "asset": [o.asset for o in outcomes],
            "partition": [o.partition for o in outcomes],
            "expectation": [o.expectation for o in outcomes],
            "severity": [o.severity for o in outcomes],
            "success": pa.array([o.success for o in outcomes], pa.bool_()),
            "observed_value": pa.array([o.observed_value for o in outcomes], pa.string()),
            "unexpected_count": pa.array([o.unexpected_count for o in outcomes], pa.int64()),
        })
        con.register("quality_results_new", rows)
        try:
            con.execute("INSERT INTO quality_results SELECT * FROM quality_results_new")
        finally:
            con.unregister("quality_results_new")


def results_doc(sha256: str, run_id: str, outcomes: list[Outcome]) -> str:
    """Results of a raw partition, tied to the Parquet file they describe (by its hash)."""
    return json.dumps({"sha256": sha256, "run_id": run_id, "checked_at": datetime.now(UTC).isoformat(),
                       "outcomes": [asdict(o) for o in outcomes]}, default=str)


def parse_results(text: str, sha256: str) -> tuple[str, datetime, list[Outcome]] | None:
    """The saved results if they describe exactly this file, else None (validate again)."""
    doc = json.loads(text)
    if doc.get("sha256") != sha256:
        return None
    return doc["run_id"], datetime.fromisoformat(doc["checked_at"]), [Outcome(**o) for o in doc["outcomes"]]


def save_partition_results(directory: Path, sha256: str, run_id: str, outcomes: list[Outcome]) -> None:
    """Results of a raw partition, beside its manifest on disk."""
    tmp = directory / f".{RESULT_FILE}.tmp"
    tmp.write_text(results_doc(sha256, run_id, outcomes), encoding="utf-8")
    tmp.replace(directory / RESULT_FILE)


def load_partition_results(directory: Path, sha256: str) -> tuple[str, datetime, list[Outcome]] | None:
    """The saved results if they describe exactly this file, else None (validate again)."""
    path = directory / RESULT_FILE
    if not path.exists():
        return None
    return parse_results(path.read_text(encoding="utf-8"), sha256)
