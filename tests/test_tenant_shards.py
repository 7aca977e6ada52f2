"""One tenant's bad night never blocks the others.

Against the loopback Log Analytics and Graph fakes, a Sentinel tenant (alpha) and a Defender tenant
(bravo) go through four nights with the real CLI: a clean first night; a night where bravo's
export lost a column its blocking check needs; a backfill where bravo's app lacks a Graph
permission; and a clean night that catches bravo up. alpha publishes every night, bravo keeps its
last published shard byte for byte, `hunthouse status` names bravo's failed step and reason, and
the catch-up leaves bravo with exactly the rows the source holds.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

import hunthouse
from pipelines import cli, config
from pipelines.health import health
from pipelines.warehouse.hub import connect_warehouse
from pipelines.warehouse.readonly import connect_readonly
from tests.fakes.dataset import DAY, DAY_END, DAY_START, expected_device_events
from tests.test_connector_end_to_end import write_config

pytest_plugins = ["tests.fakes.fixtures"]  # the `fake` fixture
FIRST, NEXT = DAY, DAY + timedelta(days=1)
STOPPED_AT = DAY_START + timedelta(hours=12, minutes=30)


def service_stopped_row(data) -> dict:
    """A FirewallServiceStopped event: both services send its AdditionalFields as an empty string."""
    row = dict(data.device_events[0])
    row.update(Timestamp=STOPPED_AT, TimeGenerated=STOPPED_AT + timedelta(minutes=2), ActionType="FirewallServiceStopped",
               AdditionalFields="", ReportId=99_999, RemoteIP=None, RemotePort=None, LocalPort=None)
    return row


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli_run(capsys, *args) -> tuple[int, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def story(fake, tmp_path, monkeypatch):
    monkeypatch.delenv("HUNTHOUSE_HOME", raising=False)
    monkeypatch.delenv("HUNTHOUSE_CONFIG", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    fake.data.device_events.append(service_stopped_row(fake.data))
    yield fake, write_config(tmp_path, fake.url, names=("alpha", "bravo"), start=FIRST, lookback=1)
    fake.data.device_events.pop()


@pytest.mark.slow  # three CLI nights with faults: the fault suite (`make test-reliability`)
def test_one_tenants_failures_never_block_the_other_and_the_next_night_catches_it_up(story, capsys):
    """Also: `hunthouse sql --tenant alpha` on the result cannot read bravo's rows."""
    fake, config_path = story
    cfg = str(config_path)
    settings = config.load(config_path)
    alpha, bravo = settings.for_tenant("alpha"), settings.for_tenant("bravo")

    # Night 1: both tenants publish.
    code, out = cli_run(capsys, "backfill", "--config", cfg, "--start", FIRST.isoformat(), "--end", FIRST.isoformat())
    assert code == 0, out
    bravo_night1 = digest(bravo.warehouse_path)

    # Night 2: Graph's DeviceEvents lost RemotePort; bravo's blocking check stops bravo only.
    fake.hunting_omit_columns = {"RemotePort"}
    code, out = cli_run(capsys, "run", "--config", cfg, "--date", NEXT.isoformat())
    fake.hunting_omit_columns = set()
    assert code == 1, out
    assert "published: alpha" in out and "NOT published: bravo" in out
    assert digest(bravo.warehouse_path) == bravo_night1  # its last good shard, byte for byte
    stale_report = (settings.reports_dir / NEXT.isoformat() / "firewall" / "bravo.html").read_text()
    assert f"Data through {FIRST}: the night of {NEXT} failed (extract)" in stale_report
    state = health(settings.home, "bravo")
    assert state.failing and state.last.step == "extract" and "RemotePort" in state.last.reason, state.last
    with connect_readonly(alpha.warehouse_path) as con:
        # the empty AdditionalFields row landed, as "no value"
        stopped = con.execute("SELECT additional_fields FROM device_events WHERE report_id = 99999").fetchall()
        assert stopped == [(None,)]
        assert con.execute("SELECT max(as_of) FROM publish_log").fetchone()[0] == NEXT

    # Then a backfill where bravo's app lacks SecurityIncident.Read.All: exit 1 naming bravo and the table.
    for _ in range(20):
        fake.fault("incidents", status=403, body={"error": {"code": "Forbidden", "message": "Missing role"}})
    code, out = cli_run(capsys, "backfill", "--config", cfg, "--start", FIRST.isoformat(), "--end", NEXT.isoformat())
    fake.faults["incidents"].clear()
    assert code == 1, out
    assert "NOT published: bravo" in out and "security_incident" in out and "SecurityIncident.Read.All" in out
    assert digest(bravo.warehouse_path) == bravo_night1

    code, out = cli_run(capsys, "status", "--config", cfg)
    assert code == 0, out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("alpha ", "bravo "))}
    assert "OK" in rows["alpha"] and NEXT.isoformat() in rows["alpha"]
    assert "STALE" in rows["bravo"] and FIRST.isoformat() in rows["bravo"]  # data through night 1
    assert f"since night {NEXT}" in rows["bravo"] and "SecurityIncident.Read.All" in rows["bravo"]

    # Night 3, the source fixed: bravo catches up exactly.
    code, out = cli_run(capsys, "run", "--config", cfg, "--date", NEXT.isoformat())
    assert code == 0, out
    expected = {r["ReportId"] for r in expected_device_events(fake.data, DAY_START, DAY_END + timedelta(days=1))}
    assert 99_999 in expected
    with connect_warehouse(settings) as con:
        landed = {t: {r[0] for r in con.execute("SELECT report_id FROM device_events WHERE tenant = ?", [t]).fetchall()}
                  for t in ("alpha", "bravo")}
        # both sources serve the same events: the firewall models agree row for row
        differing = con.execute(
            "SELECT count(*) FROM (SELECT * EXCLUDE (tenant) FROM fw_events WHERE tenant = 'alpha' "
            "EXCEPT ALL SELECT * EXCLUDE (tenant) FROM fw_events WHERE tenant = 'bravo')").fetchone()[0]
        incidents = con.execute("SELECT count(*) FROM incidents WHERE tenant = 'bravo'").fetchone()[0]
    assert landed["alpha"] == landed["bravo"] == expected
    assert differing == 0
    assert incidents > 0
    assert not health(settings.home, "bravo").failing
    assert_one_tenants_sql_cannot_read_another(config_path, capsys)


def assert_one_tenants_sql_cannot_read_another(config_path, capsys) -> None:
    cfg = str(config_path)
    code, out = cli_run(capsys, "sql", "--config", cfg, "--tenant", "alpha", "SELECT DISTINCT tenant FROM device_events")
    assert code == 0 and "alpha" in out and "bravo" not in out
    for query in ("SELECT count(*) FROM shard_bravo.main.device_events",
                  f"SELECT count(*) FROM read_parquet('{config.load(config_path).warehouse_dir}/*.duckdb')",  # noqa: S608 - a probe
                  f"ATTACH '{config.load(config_path).shard_path('bravo')}' AS b"):
        code, out = cli_run(capsys, "sql", "--config", cfg, "--tenant", "alpha", query)
        assert code == 2 and out.strip().startswith("hunthouse: query failed"), (query, out)
    code, out = cli_run(capsys, "sql", "--config", cfg, "--tenant", "nobody", "SELECT 1")
    assert code == 2 and "unknown tenant 'nobody'" in out

    frame = hunthouse.table("device_events", tenant="alpha", config=cfg)  # polars, for notebooks
    assert frame.height > 0 and frame["tenant"].unique().to_list() == ["alpha"]
    with hunthouse.connect(cfg) as con:
        assert sorted(r[0] for r in con.sql("SELECT DISTINCT tenant FROM device_events").fetchall()) == ["alpha", "bravo"]


def _tables(path) -> dict[str, list]:
    """Every table of a shard, rows sorted, without the columns that say when a run happened."""
    run_times = {"load_log": {"loaded_at"}, "quarantine": {"loaded_at"}, "publish_log": {"published_at", "build_file"},
                 "quality_results": {"checked_at", "run_id"}, "model_versions": {"changed_at"}}
    out = {}
    with connect_readonly(path) as con:
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall():
            columns = [r[0] for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index", [table]).fetchall()]
            kept = ", ".join(f'"{c}"' for c in columns if c not in run_times.get(table, set()))
            out[table] = sorted(map(repr, con.execute(f'SELECT {kept} FROM "{table}"').fetchall()))  # noqa: S608
    return out


@pytest.mark.slow  # every shard built twice, once in Dagster worker processes: the fault suite
def test_shards_built_in_parallel_equal_shards_built_one_after_the_other(tmp_path, monkeypatch):
    from pipelines.extract import extract_partition
    from pipelines.orchestrate import prepare_instance, run_warehouses
    from pipelines.plan import days_between, partitions
    from pipelines.sources.schemas import RAW_TABLES
    from pipelines.warehouse_run import WarehouseRun
    from tests.reliability_support import NIGHT, tiny_config

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    days = days_between(NIGHT - timedelta(days=1), NIGHT)
    homes = {}
    for name in ("serial", "parallel"):
        (tmp_path / name).mkdir()
        settings = tiny_config(tmp_path / name, tenants=(("contoso", 7), ("fabrikam", 11)), scale=0.01, start=days[0])
        if homes:  # the same lake for both homes (manifests hold absolute paths)
            path = Path(settings.source_path)
            path.write_text(path.read_text().replace("[hunthouse]\n", f'[hunthouse]\nlake_root = "{homes["serial"].lake_root}"\n', 1))
            settings = config.load(path)
        homes[name] = settings
    for tenant, day in partitions(homes["serial"], days):
        for table in RAW_TABLES:
            extract_partition(homes["serial"], tenant, table, day)
    # side by side: the CLI's path, two Dagster warehouse runs at once
    prepare_instance(homes["parallel"])
    built = run_warehouses(homes["parallel"], ["contoso", "fabrikam"], NIGHT, {"hunthouse/trigger": "test"},
                           lambda _: None, workers=2)
    assert all(ok for ok, _, _ in built.values()), built
    # one after the other: the same phases in this process, one shard at a time, nothing else running
    for tenant in ("contoso", "fabrikam"):
        WarehouseRun(homes["serial"].for_tenant(tenant), NIGHT, "serial").run_all()
    for tenant in ("contoso", "fabrikam"):
        one_by_one = _tables(homes["serial"].for_tenant(tenant).warehouse_path)
        side_by_side = _tables(homes["parallel"].for_tenant(tenant).warehouse_path)
        assert one_by_one["fw_daily"] and one_by_one["alerts"] and one_by_one["rule_noise"]
        # the same quality gate ran both ways: its results, run ids and times aside, are equal too
        assert one_by_one["quality_results"]
        assert side_by_side == one_by_one, tenant
