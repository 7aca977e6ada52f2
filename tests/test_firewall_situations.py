"""Situations and their lifecycle on a tiny tenant, night after night: one finding per situation
with a finding_id that survives a switch between device and fleet scope, state new → ongoing →
resolved read from the previous night's rows only, and a resolved finding reported once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.fw_testlib import build_firewall, changed, raw_table, stage_raw, staging_db

FIRST_NIGHT = date(2026, 11, 20)
START = FIRST_NIGHT - timedelta(days=35)
DEVICES = [f"ws-{i}" for i in range(6)]
_report = iter(range(1, 10**9))


def event(device: str, day: date, hour: int, **cols) -> dict:
    row = {"Timestamp": datetime(day.year, day.month, day.day, hour, tzinfo=UTC), "DeviceId": f"id-{device}",
           "DeviceName": device, "ActionType": "FirewallInboundConnectionBlocked", "ReportId": next(_report),
           "RemoteIP": "10.0.0.2", "RemotePort": 137, "LocalPort": 137, "InitiatingProcessFileName": "ntoskrnl.exe",
           "InitiatingProcessFolderPath": r"C:\Windows\System32"}
    row.update(cols)
    return row


def beacon(device: str, day: date) -> list[dict]:
    return [event(device, day, h, ActionType="FirewallOutboundConnectionBlocked", RemoteIP="203.0.113.66",
                  RemotePort=8443, LocalPort=50000 + h, InitiatingProcessFileName="beacon.exe",
                  InitiatingProcessFolderPath=r"C:\ProgramData\Beacon") for h in range(12)]


def world() -> list[dict]:
    """Steady NetBIOS on every device; beacon.exe from FIRST_NIGHT − 2 on ws-0 only, then from the
    second night also on ws-1 (device scope → fleet scope), and silent after the second night."""
    rows, day = [], START
    while day <= FIRST_NIGHT + timedelta(days=6):
        for dev in DEVICES:
            rows += [event(dev, day, h) for h in range(3)]
        if FIRST_NIGHT - timedelta(days=2) <= day <= FIRST_NIGHT + timedelta(days=1):
            rows += beacon("ws-0", day)
        if FIRST_NIGHT + timedelta(days=1) == day:
            rows += beacon("ws-1", day)
        day += timedelta(days=1)
    return rows


@pytest.fixture(scope="module")
def nights():
    """fw_findings per night for six nights; before each night but the first, every night older
    than the previous one is deleted, so only the previous night can carry the lifecycle."""
    con = staging_db()
    changed(con, stage_raw(con, "t1", raw_table(world())))
    out = {}
    for k in range(6):
        night = FIRST_NIGHT + timedelta(days=k)
        con.execute("delete from fw_findings where as_of < ?", [night - timedelta(days=1)]) if k else None
        build_firewall(con, ["t1"], night)
        changed(con, [])
        cur = con.execute("select * from fw_findings where as_of = ? order by finding_id", [night])
        names = [d[0] for d in cur.description]
        out[night] = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    # rebuilding a night replaces it (idempotent)
    build_firewall(con, ["t1"], FIRST_NIGHT + timedelta(days=5))
    out["rebuilt"] = con.execute("select count(*) from fw_findings where as_of = ?",
                                 [FIRST_NIGHT + timedelta(days=5)]).fetchone()[0]
    con.close()
    return out


def beacon_rows(nights, k: int) -> list[dict]:
    return [f for f in nights[FIRST_NIGHT + timedelta(days=k)] if f["process_name"] == "beacon.exe"]


def test_the_beacon_is_one_finding_with_both_signals_every_night(nights):
    for k in range(2):
        [f] = beacon_rows(nights, k)
        assert f["signals"] == ["new_pattern", "outbound_blocked_app"]
        assert f["finding_type"] == "outbound_blocked_app"


def test_finding_id_survives_the_switch_from_device_to_fleet_scope(nights):
    first, second = beacon_rows(nights, 0)[0], beacon_rows(nights, 1)[0]
    assert (first["scope"], first["device_name"]) == ("device", "ws-0")
    assert (second["scope"], second["devices"]) == ("fleet", 2)
    assert first["finding_id"] == second["finding_id"]


def test_state_follows_the_situation_night_by_night(nights):
    # last beacon event on FIRST_NIGHT + 1: resolved 3 days (resolve_after_days) later, then gone
    got = [[(f["state"], f["nights_open"]) for f in beacon_rows(nights, k)] for k in range(6)]
    assert got == [[("new", 1)], [("ongoing", 2)], [("ongoing", 3)], [("ongoing", 4)], [("resolved", 4)], []]


def test_lifetime_first_and_last_seen_span_every_night(nights):
    first = beacon_rows(nights, 0)[0]
    resolved = beacon_rows(nights, 4)[0]
    assert first["first_seen"].date() == FIRST_NIGHT - timedelta(days=2)
    assert resolved["first_seen"] == first["first_seen"]
    assert resolved["last_seen"].date() == FIRST_NIGHT + timedelta(days=1)
    assert resolved["last_active"] == FIRST_NIGHT + timedelta(days=1)


def test_the_draft_blocks_the_executable_to_the_internet(nights):
    f = beacon_rows(nights, 0)[0]
    assert f["powershell"] == ("New-NetFirewallRule -DisplayName 'Hunthouse: block outbound beacon.exe to Internet' "
                               "-Direction Outbound -Program 'c:\\programdata\\beacon\\beacon.exe' "
                               "-RemoteAddress 'Internet' -Action Block -Profile Any")
    assert f["netsh"].startswith('netsh advfirewall firewall add rule name="Hunthouse: block outbound beacon.exe to '
                                 'Internet" dir=out action=block program="c:\\programdata\\beacon\\beacon.exe" '
                                 "remoteip=1.0.0.0-9.255.255.255,")


def test_nothing_else_is_found_and_a_rebuilt_night_replaces_itself(nights):
    for k in range(6):
        assert [f for f in nights[FIRST_NIGHT + timedelta(days=k)] if f["process_name"] != "beacon.exe"] == []
    assert nights["rebuilt"] == 0
