"""fw_daily and fw_baseline against numbers computed by hand from a dozen device_events rows.

Fixture (tenant t1, baseline_days 4, as_of 2026-11-10 → window 2026-11-06 .. 2026-11-09):
  pattern P = inbound FirewallInboundConnectionBlocked, svchost.exe, local (service) port 137,
              private remote addresses; the remote (client source) port is 138 or ephemeral.
  device A, P:  11-05: 1 (before the window)   11-06: 2   11-07: –   11-08: 1   11-09: 3   11-10: 5 (as_of)
  device B, P:  11-06: 1   11-09: 1
  device B, outbound chrome.exe to 8.8.8.8:443 on 11-07 (so the tenant reports on all 4 window days)
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tests.fw_testlib import build_firewall, changed, raw_table, stage_raw, staging_db

AS_OF = date(2026, 11, 10)


def ev(device: str, ts: str, remote_ip: str, report_id: int, **extra) -> dict:
    row = {
        "Timestamp": datetime.fromisoformat(ts).replace(tzinfo=UTC),
        "DeviceId": f"dev-{device}",
        "DeviceName": f"host-{device}",
        "ActionType": "FirewallInboundConnectionBlocked",
        "RemoteIP": remote_ip,
        "RemotePort": 138,
        "LocalIP": "192.168.1.100",
        "LocalPort": 137,
        "InitiatingProcessFileName": "svchost.exe",
        "InitiatingProcessFolderPath": r"C:\Windows\System32",
        "ReportId": report_id,
    }
    row.update(extra)
    return row


ROWS = [
    ev("A", "2026-11-05T10:00:00", "192.168.1.5", 1),
    ev("A", "2026-11-06T08:00:00", "192.168.1.5", 12),
    ev("A", "2026-11-06T09:30:00", "192.168.1.5", 11),
    ev("A", "2026-11-08T12:00:00", "192.168.1.7", 20),
    ev("A", "2026-11-09T01:00:00", "192.168.1.5", 31),
    ev("A", "2026-11-09T02:00:00", "192.168.1.6", 32, RemotePort=50001),  # client source ports vary:
    ev("A", "2026-11-09T03:00:00", "::ffff:192.168.1.6", 33, RemotePort=50002),  # still pattern P
    ev("B", "2026-11-06T07:00:00", "192.168.1.5", 40),
    ev("B", "2026-11-09T23:59:59", "192.168.1.9", 41),
    ev(
        "B", "2026-11-07T15:00:00", "8.8.8.8", 50,
        ActionType="FirewallOutboundConnectionBlocked", RemotePort=443, LocalPort=50123,
        InitiatingProcessFileName="chrome.exe",
        InitiatingProcessFolderPath=r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    ),
] + [ev("A", f"2026-11-10T0{i}:00:00", "192.168.1.5", 60 + i) for i in range(5)]


@pytest.fixture(scope="module")
def con():
    c = staging_db()
    changed(c, stage_raw(c, "t1", raw_table(ROWS)))
    build_firewall(c, ["t1"], AS_OF, baseline_days=4)
    yield c
    c.close()


def test_every_staged_firewall_row_lands_in_fw_daily(con):
    assert con.execute("select count(*) from device_events").fetchone()[0] == len(ROWS)
    assert con.execute("select sum(events) from fw_daily").fetchone()[0] == len(ROWS)


def test_fw_daily_counts_events_distinct_remotes_and_first_last_seen(con):
    rows = con.execute(
        """select day, events, remote_ips, first_seen, last_seen, sample_report_id, sample_device_id,
                  process, remote_class, service, peer_ports
           from fw_daily where device_id = 'dev-A' order by day"""
    ).fetchall()
    utc = UTC
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (date(2026, 11, 5), 1, 1),
        (date(2026, 11, 6), 2, 1),
        (date(2026, 11, 8), 1, 1),
        (date(2026, 11, 9), 3, 2),  # 192.168.1.5, 192.168.1.6 (::ffff:192.168.1.6 is the same)
        (date(2026, 11, 10), 5, 1),
    ]
    nov6 = rows[1]
    assert nov6[3] == datetime(2026, 11, 6, 8, 0, tzinfo=utc)
    assert nov6[4] == datetime(2026, 11, 6, 9, 30, tzinfo=utc)
    assert nov6[5] == 12 and nov6[6] == "dev-A"  # sample = earliest event
    assert {r[7] for r in rows} == {r"%windir%\system32\svchost.exe"}
    assert {r[8] for r in rows} == {"private"}
    assert {r[9] for r in rows} == {"netbios-ns"}


def _baseline(con, scope: str, device: str | None):
    return con.execute(
        """select window_days, days_seen, devices_seen, events, median, p95, mad, first_seen, last_seen,
                  window_start, window_end
           from fw_baseline
           where scope = ? and level = 'pattern' and service_port = 137 and device_id is not distinct from ?""",
        [scope, device],
    ).fetchall()


def test_device_baseline_matches_hand_computation(con):
    # A's daily counts in the window, zero-filled over the 4 reporting days: [2, 0, 1, 3]
    #   sorted [0, 1, 2, 3] -> median (1 + 2) / 2 = 1.5
    #   p95: position 0.95 * (4 - 1) = 2.85 -> 2 + 0.85 * (3 - 2) = 2.85
    #   |x - 1.5| = [0.5, 1.5, 0.5, 1.5] -> sorted [0.5, 0.5, 1.5, 1.5] -> MAD 1.0
    [row] = _baseline(con, "device", "dev-A")
    window_days, days_seen, devices_seen, events, median, p95, mad, first, last, start, end = row
    assert (window_days, days_seen, devices_seen, events) == (4, 3, 1, 6)
    assert median == pytest.approx(1.5)
    assert p95 == pytest.approx(2.85)
    assert mad == pytest.approx(1.0)
    assert first == datetime(2026, 11, 6, 8, 0, tzinfo=UTC)
    assert last == datetime(2026, 11, 9, 3, 0, tzinfo=UTC)
    assert (start, end) == (date(2026, 11, 6), date(2026, 11, 9))


def test_fleet_baseline_matches_hand_computation(con):
    # fleet daily counts (A + B): 11-06: 3, 11-07: 0, 11-08: 1, 11-09: 4 -> [3, 0, 1, 4]
    #   sorted [0, 1, 3, 4] -> median 2.0; p95 at 2.85 -> 3 + 0.85 * 1 = 3.85
    #   |x - 2| = [1, 2, 1, 2] -> sorted [1, 1, 2, 2] -> MAD 1.5
    [row] = _baseline(con, "fleet", None)
    window_days, days_seen, devices_seen, events, median, p95, mad, first, last, *_ = row
    assert (window_days, days_seen, devices_seen, events) == (4, 3, 2, 8)
    assert median == pytest.approx(2.0)
    assert p95 == pytest.approx(3.85)
    assert mad == pytest.approx(1.5)
    assert last == datetime(2026, 11, 9, 23, 59, 59, tzinfo=UTC)


def test_baseline_ignores_days_outside_the_window(con):
    # the 11-05 and 11-10 (as_of) events of A must not count
    total = con.execute(
        "select sum(events) from fw_baseline where scope = 'device' and level = 'direction' and device_id = 'dev-A'"
    ).fetchone()[0]
    assert total == 6


def test_device_direction_total_baseline(con):
    # B outbound: only 11-07 = 1 -> [0, 1, 0, 0] -> median 0, p95 = 0.85, MAD 0
    row = con.execute(
        """select days_seen, median, p95, mad from fw_baseline
           where scope = 'device' and level = 'direction' and device_id = 'dev-B' and direction = 'outbound'"""
    ).fetchone()
    assert row[0] == 1
    assert row[1] == pytest.approx(0.0)
    assert row[2] == pytest.approx(0.85)
    assert row[3] == pytest.approx(0.0)
