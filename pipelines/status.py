"""What `hunthouse status` and the demo summary show, read from the published warehouse and Dagster."""

from __future__ import annotations

from collections.abc import Callable

from pipelines.config import Settings
from pipelines.warehouse.readonly import WarehouseMissing, connect_readonly

SUMMARY_TABLES = (
    "device_events", "alerts", "alert_entities", "incidents", "incident_history", "quarantine",
    "fw_daily", "fw_baseline", "fw_findings", "rule_noise", "rule_top_entities",
    "tuning_recommendations", "tuning_backtest",
)


def _existing(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def published_summary(settings: Settings) -> dict:
    with connect_readonly(settings.warehouse_path) as con:
        present = _existing(con)
        tables = {
            t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]  # noqa: S608 (allow-listed names)
            for t in SUMMARY_TABLES
            if t in present
        }
        first, last = con.execute("SELECT min(day), max(day) FROM load_log").fetchone()
        tenants = [r[0] for r in con.execute("SELECT DISTINCT tenant FROM load_log ORDER BY 1").fetchall()]
    return {"tables": tables, "first_day": first, "last_day": last, "tenants": tenants}


def _last_runs(settings: Settings) -> list[tuple[str, str, str, str]]:
    if not (settings.dagster_home / "dagster.yaml").exists():
        return []
    import dagster as dg

    from pipelines.orchestrate import prepare_instance

    prepare_instance(settings)
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="warehouse_build"), limit=3)
        stats = {r.run_id: instance.get_run_stats(r.run_id) for r in runs}
    out = []
    for r in runs:
        st = stats[r.run_id]
        ended = st.end_time or st.start_time
        out.append((r.run_id[:8], r.status.value, r.tags.get("hunthouse/as_of", ""), f"{ended:.0f}" if ended else ""))
    return out


def print_status(settings: Settings, say: Callable[[str], None]) -> None:
    say(f"Data home: {settings.home}")
    try:
        con = connect_readonly(settings.warehouse_path)
    except WarehouseMissing as exc:
        say(str(exc))
        return
    with con:
        present = _existing(con)
        published = con.execute("SELECT max(published_at), max(as_of) FROM publish_log").fetchone() if "publish_log" in present else (None, None)
        say(f"Published warehouse: {settings.warehouse_path} (published {published[0]}, as of {published[1]})")
        say("")
        say("Partitions loaded (tenant, table: days, first → last, rows, quarantined, last watermark):")
        for row in con.execute(
            """
            WITH latest AS (
                SELECT * FROM load_log
                QUALIFY row_number() OVER (PARTITION BY tbl, tenant, day ORDER BY loaded_at DESC) = 1
            )
            SELECT tenant, tbl, count(*), min(day), max(day), sum(rows), sum(quarantined), max(watermark)
            FROM latest GROUP BY ALL ORDER BY tenant, tbl
            """
        ).fetchall():
            tenant, tbl, days, first, last, rows, bad, wm = row
            say(f"  {tenant:<12} {tbl:<18} {days:>4} days  {first} → {last}  {rows:>10,} rows  {bad:>5} quarantined  watermark {wm}")
        if "quality_results" in present:
            say("")
            say("Latest data quality checks:")
            for asset, check, ok, observed in con.execute(
                """
                SELECT asset, expectation, success, observed_value FROM quality_results
                WHERE run_id = (SELECT run_id FROM quality_results ORDER BY checked_at DESC LIMIT 1)
                ORDER BY success, asset, expectation
                """
            ).fetchall():
                say(f"  {'PASS' if ok else 'FAIL'}  {asset}: {check} ({observed})")
    runs = _last_runs(settings)
    if runs:
        say("")
        say("Last warehouse runs (run id, outcome, as of):")
        for run_id, outcome, as_of, _ in runs:
            say(f"  {run_id}  {outcome:<8}  as of {as_of}")
