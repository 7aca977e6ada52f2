"""fw_daily and fw_remote_daily rebuild only the (tenant, day) pairs listed in changed_partitions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from models.firewall import SCHEMA_VERSION
from tests.fw_testlib import build_firewall, changed, raw_table, stage_raw, staging_db

DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(4)]


def day_rows(day: date, n: int, remote: str = "10.0.0.9") -> list[dict]:
    return [
        {
            "Timestamp": datetime(day.year, day.month, day.day, 1 + i, tzinfo=UTC),
            "DeviceId": "dev-1",
            "DeviceName": "host-1",
            "ActionType": "FirewallInboundConnectionBlocked",
            "RemoteIP": remote,
            "LocalPort": 445,
            "RemotePort": 50000 + i,
            "InitiatingProcessFileName": "System",
            "ReportId": 1000 * day.day + i,
        }
        for i in range(n)
    ]


def snapshot(con, table: str) -> dict[date, list[tuple]]:
    out: dict[date, list[tuple]] = {}
    for row in con.execute(f"select * from {table} order by all").fetchall():  # noqa: S608 (fixed names)
        out.setdefault(row[1], []).append(row)
    return out


def test_only_changed_days_are_rebuilt():
    con = staging_db()
    parts = []
    for d in DAYS:
        parts += stage_raw(con, "t1", raw_table(day_rows(d, 2)))
    changed(con, parts)
    build_firewall(con, ["t1"], DAYS[-1])
    before_daily, before_remote = snapshot(con, "fw_daily"), snapshot(con, "fw_remote_daily")
    assert sorted(before_daily) == DAYS

    # Day 2 is re-pulled with 5 events, day 3 is changed in staging too but NOT listed as changed.
    stage_raw(con, "t1", raw_table(day_rows(DAYS[1], 5)))
    stage_raw(con, "t1", raw_table(day_rows(DAYS[2], 7, remote="10.0.0.10")))
    changed(con, [("device_events", "t1", DAYS[1]), ("security_alert", "t1", DAYS[2])])
    build_firewall(con, ["t1"], DAYS[-1])
    after_daily, after_remote = snapshot(con, "fw_daily"), snapshot(con, "fw_remote_daily")

    events = dict(con.execute("select day, sum(events) from fw_daily group by day").fetchall())
    assert events[DAYS[1]] == 5  # rebuilt from the re-pulled partition
    assert after_daily[DAYS[2]] == before_daily[DAYS[2]]  # not listed for device_events: untouched
    assert events[DAYS[2]] == 2
    for d in (DAYS[0], DAYS[3]):
        assert after_daily[d] == before_daily[d]
        assert after_remote[d] == before_remote[d]
    assert after_remote[DAYS[2]] == before_remote[DAYS[2]]


def test_emptied_partition_removes_its_rollup_rows():
    con = staging_db()
    parts = stage_raw(con, "t1", raw_table(day_rows(DAYS[0], 3)))
    changed(con, parts)
    build_firewall(con, ["t1"], DAYS[0])
    con.execute("delete from device_events where day = ?", [DAYS[0]])
    changed(con, parts)
    build_firewall(con, ["t1"], DAYS[0])
    assert con.execute("select count(*) from fw_daily").fetchone()[0] == 0
    assert con.execute("select count(*) from fw_remote_daily").fetchone()[0] == 0


def test_other_tenants_same_day_is_untouched():
    con = staging_db()
    parts = stage_raw(con, "t1", raw_table(day_rows(DAYS[0], 2)))
    parts += stage_raw(con, "t2", raw_table(day_rows(DAYS[0], 4)))
    changed(con, parts)
    build_firewall(con, ["t1", "t2"], DAYS[0])
    stage_raw(con, "t2", raw_table(day_rows(DAYS[0], 9)))
    changed(con, [("device_events", "t1", DAYS[0])])
    build_firewall(con, ["t1", "t2"], DAYS[0])
    got = dict(con.execute("select tenant, sum(events) from fw_daily group by tenant").fetchall())
    assert got == {"t1": 2, "t2": 4}


def test_a_warehouse_of_the_older_layout_is_rebuilt_from_every_staged_day():
    con = staging_db()
    parts = []
    for d in DAYS:
        parts += stage_raw(con, "t1", raw_table(day_rows(d, 2)))
    # what version 1 left behind: fw_events as a view and fw_daily keyed on both ports
    con.execute("CREATE VIEW fw_events AS SELECT tenant, day FROM device_events")
    con.execute("CREATE TABLE fw_daily (tenant VARCHAR, day DATE, local_port INTEGER, remote_port INTEGER, events BIGINT)")
    con.execute("INSERT INTO fw_daily VALUES ('t1', ?, 445, 50000, 1)", [DAYS[0]])
    changed(con, [("device_events", "t1", DAYS[-1])])  # the nightly run only changed the last day
    build_firewall(con, ["t1"], DAYS[-1])
    assert con.execute("select version from model_versions where model_group = 'firewall'").fetchall() == [(SCHEMA_VERSION,)]
    assert con.execute("select table_type from information_schema.tables where table_name = 'fw_events'"
                       ).fetchall() == [("BASE TABLE",)]
    per_day = dict(con.execute("select day, sum(events) from fw_daily group by day").fetchall())
    assert per_day == dict.fromkeys(DAYS, 2)  # every staged day, not just the changed one
    assert con.execute("select count(*) from fw_events").fetchall() == [(2 * len(DAYS),)]
    # the next run at the same version rebuilds only what changed
    stage_raw(con, "t1", raw_table(day_rows(DAYS[0], 5)))
    changed(con, [("device_events", "t1", DAYS[-1])])
    build_firewall(con, ["t1"], DAYS[-1])
    assert con.execute("select sum(events) from fw_daily where day = ?", [DAYS[0]]).fetchone()[0] == 2
