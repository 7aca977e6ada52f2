"""A warehouse does not depend on the zone of the process that builds it.

The sample tenant is extracted and built in fresh processes under TZ=UTC, Asia/Kolkata (+05:30, a
half-hour offset) and America/Los_Angeles (−07:00/−08:00); the world spans both the European and the
US end of daylight saving time. Each process really runs in its zone (DuckDB's default session zone
follows TZ, which it reads at start-up: time.tzset() in this process would not move it), and each
warehouse must equal the UTC one table by table, except the columns that record the run's own wall
clock or home directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.sources.sample.toml import sample_config

# one worker builds the three warehouses once (a module fixture would be built again in each xdist worker)
pytestmark = pytest.mark.xdist_group("utc_build")
REPO = Path(__file__).resolve().parents[1]
ZONES = ("UTC", "Asia/Kolkata", "America/Los_Angeles")
WORLD_START, WORLD_END = date(2026, 10, 15), date(2026, 11, 4)  # the sample world's minimum: 21 days
FIRST_DAY = date(2026, 10, 19)  # 17 days loaded: a 7-day recent window after a 7-day baseline
SMALL = "\n[firewall]\nbaseline_days = 7\n[tuning]\nbacktest_days = 4\n"
# Columns that differ between any two runs, whatever the zone: when they ran, how long, where.
RUN_COLUMNS = {
    "load_log": {"file", "written_at", "loaded_at", "duration_s"},
    "model_versions": {"changed_at"},
    "publish_log": {"published_at"},
    "quality_results": {"checked_at"},
}
# Non-empty in every build, so that "identical" is not "identical and empty".
MUST_HAVE_ROWS = ("device_events", "alerts", "incident_history", "fw_daily", "fw_baseline", "fw_findings",
                  "alert_labels", "rule_noise", "tuning_exclusion_candidates", "tuning_recommendations",
                  "tuning_backtest")

CHILD = """
import json, sys
from datetime import date

import duckdb

from pipelines import config
from pipelines.extract import extract_partition
from pipelines.plan import days_between, partitions
from pipelines.sources.schemas import RAW_TABLES
from pipelines.warehouse_run import WarehouseRun
from pipelines.warehouse.connect import connect

settings = config.load(sys.argv[1])
as_of = date.fromisoformat(sys.argv[2])
for tenant, day in partitions(settings, days_between(settings.start_date, as_of)):
    for table in RAW_TABLES:
        extract_partition(settings, tenant, table, day)
WarehouseRun(settings, as_of, "utc-test").run_all()
late = "SELECT current_setting('TimeZone'), (TIMESTAMPTZ '2026-10-20 23:30:00+00')::DATE::VARCHAR"
print(json.dumps({"duckdb_default": duckdb.connect().execute(late).fetchall()[0],
                  "helper": connect().execute(late).fetchall()[0]}))
"""


def _start(home: Path, zone: str) -> subprocess.Popen:
    cfg = home / "hunthouse.toml"
    home.mkdir(parents=True)
    cfg.write_text(sample_config(home / "home", tenants=(("contoso", 7),), scale=0.05, world_start=WORLD_START,
                                 world_end=WORLD_END, start_date=FIRST_DAY) + SMALL)
    env = {**os.environ, "TZ": zone, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(cfg), WORLD_END.isoformat()], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, dict]:
    """The three builds side by side (each its own process, zone and home)."""
    root = tmp_path_factory.mktemp("utc")
    homes = {zone: root / zone.replace("/", "_") for zone in ZONES}
    running = {zone: _start(home, zone) for zone, home in homes.items()}
    built = {}
    for zone, proc in running.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        built[zone] = {"config": homes[zone] / "hunthouse.toml",
                       "warehouse": homes[zone] / "home" / "warehouse" / "contoso.duckdb",
                       "zones": json.loads(out.strip().splitlines()[-1])}
    return built


def _utc(path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """The test's own reading connection, independent of the helpers under test."""
    con = duckdb.connect(str(path) if path else ":memory:", read_only=path is not None)
    con.execute("SET TimeZone = 'UTC'")
    return con


def _tables(con, db: str) -> dict[str, list[str]]:
    rows = con.execute(
        "SELECT table_name, list(column_name ORDER BY column_index) FROM duckdb_columns() "
        "WHERE database_name = ? GROUP BY table_name", [db]
    ).fetchall()
    return dict(rows)


def test_each_build_ran_in_its_own_zone_and_the_helper_still_reads_utc(builds):
    for zone, build in builds.items():
        if zone != "UTC":
            assert build["zones"]["duckdb_default"][0] == zone
        assert build["zones"]["helper"] == ["UTC", "2026-10-20"], zone
    # the unguarded default really does move a 23:30Z event: that is what the builds are exposed to
    assert builds["Asia/Kolkata"]["zones"]["duckdb_default"][1] == "2026-10-21"
    assert builds["America/Los_Angeles"]["zones"]["duckdb_default"][1] == "2026-10-20"


@pytest.mark.parametrize("zone", [z for z in ZONES if z != "UTC"])
def test_warehouse_built_in_a_non_utc_zone_equals_the_utc_build(builds, zone):
    with _utc() as con:
        con.execute("ATTACH ? AS utc (READ_ONLY)", [str(builds["UTC"]["warehouse"])])
        con.execute("ATTACH ? AS other (READ_ONLY)", [str(builds[zone]["warehouse"])])
        utc, other = _tables(con, "utc"), _tables(con, "other")
        assert utc == other, "the two builds have different tables or columns"
        for table, skipped in RUN_COLUMNS.items():
            assert skipped <= set(utc[table]), f"{table} no longer has {skipped - set(utc[table])}"
        differences = {}
        for table, columns in sorted(utc.items()):
            cols = ", ".join(f'"{c}"' for c in columns if c not in RUN_COLUMNS.get(table, ()))
            for a, b in (("utc", "other"), ("other", "utc")):
                rows = con.execute(
                    f'SELECT {cols} FROM {a}."{table}" EXCEPT ALL SELECT {cols} FROM {b}."{table}" LIMIT 3'  # noqa: S608 (names from the catalog)
                ).fetchall()
                if rows:
                    differences[f"{table} ({a} only)"] = rows
        assert not differences, f"{zone} build differs from the UTC build: {differences}"


def test_compared_warehouses_hold_the_findings_whose_days_the_zone_used_to_move(builds):
    with _utc(builds["UTC"]["warehouse"]) as con:
        empty = [t for t in MUST_HAVE_ROWS if not con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0]]  # noqa: S608
        assert not empty, f"tables without rows: {empty}"
        signals = dict(con.execute(
            "SELECT signal, count(*) FROM (SELECT unnest(signals) AS signal FROM fw_findings) GROUP BY ALL").fetchall())
        # new_pattern's evidence_from (in hunting_kql and the explanation) and the service-stopped times
        assert signals.get("new_pattern") and signals.get("firewall_service_stopped"), signals
        early = con.execute(
            "SELECT count(*) FROM fw_findings WHERE list_contains(signals, 'new_pattern') AND hour(first_seen) < 7"
        ).fetchall()[0][0]
        assert early, "no new_pattern first seen before 07:00 UTC: Los Angeles would not move its day"


def test_sql_command_shows_timestamps_in_utc_under_a_non_utc_zone(builds):
    query = ("SELECT current_setting('TimeZone') AS zone, min(first_seen) AS first, "
             "strftime(min(first_seen), '%H:%M') AS hhmm FROM fw_findings")
    env = {**os.environ, "TZ": "Asia/Kolkata", "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "pipelines.cli", "sql", query, "--config", str(builds["UTC"]["config"])],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    with _utc(builds["UTC"]["warehouse"]) as con:
        first = con.execute("SELECT min(first_seen) FROM fw_findings").fetchall()[0][0]
    row = run.stdout.splitlines()[2].split()
    assert row[0] == "UTC", run.stdout
    assert " ".join(row[1:3]) == str(first), run.stdout
    assert str(first).endswith("+00:00") and row[3] == first.strftime("%H:%M"), run.stdout
