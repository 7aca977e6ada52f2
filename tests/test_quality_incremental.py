"""The fw_daily check validates only the days this run changed, like the device_events check: a
corrupt row on a day the run did not touch is not its business; the same corruption on a changed
day fails it."""

from __future__ import annotations

from datetime import timedelta

import duckdb

from pipelines.extract import extract_partition
from pipelines.warehouse import build
from pipelines.warehouse_run import WarehouseRun
from quality.gate import check_table
from tests.conftest import write_config
from tests.quality_fixtures import DAY, T0, FakeSource, event, table


def _extract_day(settings, offset: int) -> None:
    rows = [event(i, Timestamp=T0 + timedelta(days=offset, minutes=i)) for i in range(6)]
    extract_partition(settings, "contoso", "device_events", DAY + timedelta(days=offset),
                      source=FakeSource({"device_events": table(rows)}))


def _build_firewall(settings, run_key: str, as_of) -> WarehouseRun:
    """A run's start, sync and firewall models phases; the tests run the checks themselves."""
    run = WarehouseRun(settings, as_of, run_key)
    run.start()
    run.sync()
    run.models("firewall")
    return run


def _failed(outcomes) -> set[str]:
    return {o.expectation for o in outcomes if not o.success}


def test_fw_daily_check_validates_only_the_changed_days(tmp_path):
    settings = write_config(tmp_path).for_tenant("contoso")
    for offset in (0, 1):
        _extract_day(settings, offset)
    _build_firewall(settings, "first", DAY + timedelta(days=1)).publish()

    new_day = DAY + timedelta(days=2)
    _extract_day(settings, 2)
    run = _build_firewall(settings, "second", new_day)
    with run.writer() as con:
        changed = run.changed(con)
        assert changed == [("device_events", "contoso", new_day)]
        # Corrupt a day this run did not change: outside the check's scope.
        con.execute("UPDATE fw_daily SET events = 0 WHERE day = ?", [DAY])
        outcomes = check_table(con, "fw_daily", changed, new_day, ["contoso"])
        assert outcomes and all(o.success for o in outcomes), [o for o in outcomes if not o.success]
        assert {o.partition for o in outcomes} == {f"contoso|{new_day}..{new_day} (1 days)"}

        # The same corruption on the changed day fails the ERROR expectation.
        con.execute("UPDATE fw_daily SET events = 0 WHERE day = ?", [new_day])
        outcomes = check_table(con, "fw_daily", changed, new_day, ["contoso"])
        assert _failed(outcomes) == {"expect_column_min_to_be_between(events) >= 1",
                                     "expect_column_pair_values_a_to_be_greater_than_b(events,remote_ips) events >= remote_ips"}
        assert {o.severity for o in outcomes if not o.success} == {"ERROR"}

        # A duplicated grain row on the changed day fails uniqueness.
        con.execute("UPDATE fw_daily SET events = 1")
        con.execute("INSERT INTO fw_daily SELECT * FROM fw_daily WHERE day = ? LIMIT 1", [new_day])
        assert any(label.startswith("expect_compound_columns_to_be_unique(tenant,day,device_id")
                   for label in _failed(check_table(con, "fw_daily", changed, new_day, ["contoso"])))


def test_alert_checks_cover_every_row_of_the_alerts_a_run_touched_and_only_those(tmp_path):
    from tests.quality_fixtures import alert

    settings = write_config(tmp_path).for_tenant("contoso")
    for offset, ids in ((0, range(0, 4)), (1, range(4, 8))):
        rows = [alert(i, TimeGenerated=T0 + timedelta(days=offset, minutes=i)) for i in ids]
        extract_partition(settings, "contoso", "security_alert", DAY + timedelta(days=offset),
                          source=FakeSource({"security_alert": table(rows)}))
    path = build.start_build(settings, "alerts").path
    with duckdb.connect(str(path)) as con:
        build.sync_lake(con, settings)
        day1 = [("security_alert", "contoso", DAY + timedelta(days=1))]
        # a stale copy of a5 left on day 0, and a0 (day 0) without a rule id: the run changed day 1 only
        con.execute("INSERT INTO alerts SELECT * REPLACE (?::DATE AS day) FROM alerts WHERE system_alert_id = 'a5'",
                    [DAY])
        con.execute("UPDATE alerts SET rule_id = NULL WHERE system_alert_id = 'a0'")
        failed = _failed(check_table(con, "alerts", day1, DAY + timedelta(days=1), ["contoso"]))
        # a5's two rows are seen although one lies on a day the run did not change; a0 is not in scope
        assert failed == {"expect_compound_columns_to_be_unique(tenant,system_alert_id)"}
