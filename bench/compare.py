"""Prove the pandas reference and the warehouse agree: join on the grain, compare every figure.

Raises AssertionError naming the first disagreement; a bench whose reference disagrees must not
report a speed-up. Counts must be equal; floats within 1e-9 relative (both sides are exact
quantiles of the same integers, so anything larger is a real difference).
"""

# ruff: noqa: S608 - every table and column name is a constant of this module, never input
from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from pipelines.warehouse.connect import connect

BASELINE_KEY = ["device_id", "direction", "action_type", "process", "service_port", "protocol", "remote_class"]
BASELINE_FIGURES = ["window_days", "days_seen", "events", "median", "p95", "mad"]
NOISE_FIGURES = ["alerts", "labelled_alerts", "true_positive_alerts", "benign_positive_alerts", "false_positive_alerts",
                 "benign_rate_raw"]
ENTITY_FIGURES = ["entity_rank", "alerts", "true_positive_alerts", "benign_positive_alerts", "false_positive_alerts",
                  "unlabelled_alerts"]


# Column and table names below come only from the constants of this module (never from input).
def _check(con: duckdb.DuckDBPyConnection, what: str, warehouse_sql: str, ref_file: Path, key: list[str],
           figures: list[str]) -> int:
    con.execute(f"CREATE OR REPLACE TEMP VIEW wh AS {warehouse_sql}")
    con.register("ref", pq.read_table(ref_file))  # the warehouse is read-only: no views over files
    on = " AND ".join(f"wh.{k} IS NOT DISTINCT FROM ref.{k}" for k in key)
    wh_rows, ref_rows = (con.execute(f"SELECT count(*) FROM {v}").fetchone()[0] for v in ("wh", "ref"))
    matched = con.execute(f"SELECT count(*) FROM wh JOIN ref ON {on}").fetchone()[0]
    assert wh_rows == ref_rows == matched, f"{what}: warehouse {wh_rows} rows, pandas {ref_rows}, matched on key {matched}"
    for fig in figures:
        bad = con.execute(
            f"SELECT count(*) FROM wh JOIN ref ON {on} WHERE NOT ("
            f"(wh.{fig} IS NULL AND ref.{fig} IS NULL) OR "
            f"abs(wh.{fig}::DOUBLE - ref.{fig}::DOUBLE) <= 1e-9 * greatest(1, abs(wh.{fig}::DOUBLE)))"
        ).fetchone()[0]
        assert bad == 0, f"{what}: {bad} rows differ on {fig}"
    return matched


def compare_all(warehouse: Path, out: Path, tenant: str) -> dict:
    con = connect(warehouse, read_only=True)
    try:
        con.execute("SET VARIABLE bench_tenant = ?", [tenant])
        cols = ", ".join(BASELINE_KEY + BASELINE_FIGURES)
        baseline = _check(
            con, "fw_baseline (device, pattern)",
            f"SELECT {cols} FROM fw_baseline WHERE tenant = getvariable('bench_tenant') AND scope = 'device' "
            "AND level = 'pattern'",
            out / "baseline.parquet", BASELINE_KEY, BASELINE_FIGURES)
        noise = _check(
            con, "rule_noise",
            f"SELECT rule_id, {', '.join(NOISE_FIGURES)} FROM rule_noise WHERE tenant = getvariable('bench_tenant')",
            out / "rule_noise.parquet", ["rule_id"], NOISE_FIGURES)
        entities = _check(
            con, "rule_top_entities",
            f"SELECT rule_id, entity_type, entity_key, {', '.join(ENTITY_FIGURES)} FROM rule_top_entities "
            "WHERE tenant = getvariable('bench_tenant')",
            out / "top_entities.parquet", ["rule_id", "entity_type", "entity_key"], ENTITY_FIGURES)
    finally:
        con.close()
    return {"baseline_rows_matched": baseline, "rule_noise_rows_matched": noise, "top_entity_rows_matched": entities}
