"""`hunthouse run` against the loopback fakes lands a sentinel and a defender tenant's exact data;
running it again changes nothing."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from pipelines import cli, config
from pipelines.lake import partition_dir, read_manifest
from pipelines.sources.arrow_rows import parse_datetime
from pipelines.warehouse.hub import connect_warehouse
from tests.fakes.dataset import DAY, DAY_END, DAY_START, expected_device_events, in_window
from tests.fakes.fixtures import CLIENT_ID, SECRET_ENV, TENANT_ID, WORKSPACE_ID

pytest_plugins = ["tests.fakes.fixtures"]  # the `fake` fixture
TABLES = ("device_events", "security_alert", "security_incident")


def write_config(tmp_path, url: str, *, names=("contoso-sentinel", "contoso-defender"), start=DAY, lookback: int = 0):
    """A Sentinel and a Defender tenant (named `names`) pointed at the fake services."""
    sentinel, defender = names
    text = f"""
[hunthouse]
home = "{tmp_path / 'home'}"
start_date = {start.isoformat()}
lookback_days = {lookback}

[[tenant]]
name = "{sentinel}"
kind = "sentinel"
tenant_id = "{TENANT_ID}"
client_id = "{CLIENT_ID}"
client_secret_env = "{SECRET_ENV}"
workspace_id = "{WORKSPACE_ID}"
authority_host = "{url}"
log_analytics_endpoint = "{url}"

[[tenant]]
name = "{defender}"
kind = "defender"
tenant_id = "{TENANT_ID}"
client_id = "{CLIENT_ID}"
client_secret_env = "{SECRET_ENV}"
authority_host = "{url}"
graph_endpoint = "{url}"
"""
    path = tmp_path / "hunthouse.toml"
    path.write_text(text, encoding="utf-8")
    return path


def lake_keys(lake: str, tenant: str) -> dict[str, list]:
    keys = {}
    for table in TABLES:
        manifest = read_manifest(partition_dir(lake, table, tenant, DAY))
        assert manifest is not None, f"{table} for {tenant} was not written"
        rows = pq.read_table(manifest.path).to_pylist()
        column = {"device_events": "ReportId", "security_alert": "SystemAlertId",
                  "security_incident": "LastModifiedTime"}[table]
        keys[table] = sorted(r[column] for r in rows)
    return keys


def snapshot(config_path, lake: str) -> dict:
    state = {}
    for tenant in ("contoso-sentinel", "contoso-defender"):
        for table in TABLES:
            m = read_manifest(partition_dir(lake, table, tenant, DAY))
            state[(tenant, table)] = (m.rows, m.sha256)
    with connect_warehouse(config.load(config_path)) as con:
        for (name,) in con.execute("select table_name from information_schema.tables where table_catalog = 'memory'"
                                   " and table_schema = 'main' order by 1").fetchall():
            state[name] = con.execute(f'select count(*) from "{name}"').fetchone()[0]  # noqa: S608 - catalog names
    return state


@pytest.mark.slow  # two Dagster nights against the fakes, the second a rerun: the fault suite (`make test-reliability`)
def test_run_lands_exact_connector_data_and_a_second_run_changes_nothing(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HUNTHOUSE_HOME", raising=False)
    monkeypatch.delenv("HUNTHOUSE_CONFIG", raising=False)
    config_path = write_config(tmp_path, fake.url)
    assert cli.main(["run", "--config", str(config_path), "--date", DAY.isoformat()]) == 0, capsys.readouterr().out
    lake = str(tmp_path / "home" / "lake")
    data = fake.data
    events = sorted(r["ReportId"] for r in expected_device_events(data, DAY_START, DAY_END))
    sentinel = lake_keys(lake, "contoso-sentinel")
    assert sentinel["device_events"] == events
    assert sentinel["security_alert"] == sorted(
        r["SystemAlertId"] for r in data.sentinel_alerts if in_window(r["TimeGenerated"], DAY_START, DAY_END))
    assert sentinel["security_incident"] == sorted(
        r["LastModifiedTime"] for r in data.sentinel_incidents if in_window(r["LastModifiedTime"], DAY_START, DAY_END))
    defender = lake_keys(lake, "contoso-defender")
    assert defender["device_events"] == events
    assert defender["security_alert"] == sorted(
        a["id"] for a in data.graph_alerts if in_window(parse_datetime(a["createdDateTime"]), DAY_START, DAY_END))
    assert defender["security_incident"] == sorted(
        parse_datetime(i["lastUpdateDateTime"]) for i in data.graph_incidents
        if in_window(parse_datetime(i["lastUpdateDateTime"]), DAY_START, DAY_END))

    first = snapshot(config_path, lake)
    assert cli.main(["run", "--config", str(config_path), "--date", DAY.isoformat()]) == 0, capsys.readouterr().out
    second = snapshot(config_path, lake)
    # publish_log records every publication by design: it proves the second run really published both shards.
    assert second.pop("publish_log") == first.pop("publish_log") + 2
    # quality_results is likewise a log: each run appends the results of the checks it ran.
    assert second.pop("quality_results") > first.pop("quality_results")
    assert second == first
    assert first["device_events"] == 2 * len(events)  # both tenants' events reached the warehouse staging table
