"""Finding rules on small synthetic fleets: steady benign traffic and a weekly rhythm stay quiet,
real changes fire (volume spike, app blocked on many devices, new pattern, scanner, audit gap)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.fw_testlib import build_firewall, changed, raw_table, stage_raw, staging_db

AS_OF = date(2026, 11, 16)  # a Monday
FIRST = AS_OF - timedelta(days=41)
DEVICES = [f"ws-{i:02d}" for i in range(12)]
_report = iter(range(1, 10**9))


def event(device: str, day: date, hour: int, **cols) -> dict:
    row = {
        "Timestamp": datetime(day.year, day.month, day.day, hour % 24, tzinfo=UTC),
        "DeviceId": f"id-{device}", "DeviceName": device, "ActionType": "FirewallInboundConnectionBlocked",
        "ReportId": next(_report),
    }
    row.update(cols)
    return row


def netbios(device: str, day: date, n: int) -> list[dict]:
    return [event(device, day, h, RemoteIP="10.0.0.2", RemotePort=137, LocalPort=137,
                  InitiatingProcessFileName="ntoskrnl.exe", InitiatingProcessFolderPath=r"C:\Windows\System32")
            for h in range(n)]


def llmnr(device: str, day: date) -> list[dict]:
    return [event(device, day, 3, RemoteIP="fe80::1234", RemotePort=55000, LocalIP="224.0.0.252", LocalPort=5355,
                  InitiatingProcessFileName="svchost.exe", InitiatingProcessFolderPath=r"C:\Windows\System32")]


def svchost_out(device: str, day: date) -> list[dict]:
    return [event(device, day, 4, ActionType="FirewallOutboundConnectionBlocked", RemoteIP="10.0.0.9",
                  RemotePort=5357, LocalPort=50001, InitiatingProcessFileName="svchost.exe",
                  InitiatingProcessFolderPath=r"C:\Windows\System32")]


def world() -> list[dict]:
    rows: list[dict] = []
    day = FIRST
    while day <= AS_OF:
        for dev in DEVICES:
            if dev == "ws-11" and day > AS_OF - timedelta(days=9):
                continue  # audit gap: silent for the last 9 days
            busy = dev == "ws-01" and day.weekday() == 0  # weekly rhythm: Mondays are busy
            rows += netbios(dev, day, 60 if busy else 6) + llmnr(dev, day) + svchost_out(dev, day)
        if day == AS_OF:
            rows += [  # volume spike: 20x ws-02's usual inbound
                event("ws-02", day, 9, RemoteIP="10.0.0.77", RemotePort=50000 + k, LocalPort=135,
                      InitiatingProcessFileName="svchost.exe", ReportId=900000 + k) for k in range(150)]
        if day >= AS_OF - timedelta(days=2):
            for dev in DEVICES[:5]:  # an app blocked inbound on 5 of 12 devices
                rows.append(event(dev, day, 10, ActionType="FirewallInboundConnectionToAppBlocked",
                                  InitiatingProcessFileName="listener.exe",
                                  InitiatingProcessFolderPath=r"C:\Program Files\Vendor\listener.exe",
                                  AdditionalFields='{"Profiles":"Public"}'))
            for dev in DEVICES[:3]:  # an app blocked inbound on 3 devices: below the threshold
                rows.append(event(dev, day, 11, ActionType="FirewallInboundConnectionToAppBlocked",
                                  InitiatingProcessFileName="rare.exe",
                                  InitiatingProcessFolderPath=r"C:\Program Files\Rare\rare.exe"))
        if day == AS_OF - timedelta(days=1):
            for dev in DEVICES[:11]:  # a sweep from a never-seen public address
                rows.append(event(dev, day, 13, RemoteIP="198.51.100.77", RemotePort=40000, LocalPort=445,
                                  InitiatingProcessFileName="ntoskrnl.exe"))
        day += timedelta(days=1)
    return rows


@pytest.fixture(scope="module")
def findings():
    con = staging_db()
    changed(con, stage_raw(con, "t1", raw_table(world())))
    build_firewall(con, ["t1"], AS_OF)
    cur = con.execute("select * from fw_findings")
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    con.close()
    return rows


def of_type(findings, finding_type):
    return [f for f in findings if f["finding_type"] == finding_type]


def test_volume_spike_fires_on_the_flooded_device_only(findings):
    spikes = of_type(findings, "volume_spike")
    assert [(f["device_name"], f["direction"]) for f in spikes] == [("ws-02", "inbound")]
    # the flood + its usual day: 6 NetBIOS, 1 LLMNR, and the listener.exe and rare.exe blocks
    assert spikes[0]["events"] == 150 + 6 + 1 + 1 + 1


def test_weekly_rhythm_is_not_a_spike(findings):
    assert not [f for f in findings if f["device_name"] == "ws-01"]


def test_app_blocked_inbound_needs_enough_devices(findings):
    apps = of_type(findings, "app_blocked_inbound")
    assert [(f["process_name"], f["devices"]) for f in apps] == [("listener.exe", 5)]
    assert "-Profile Domain,Private" in apps[0]["powershell"]
    assert "-Program '%ProgramFiles%\\vendor\\listener.exe'" in apps[0]["powershell"]


def test_sweep_from_new_public_address_is_a_scanner(findings):
    [scan] = of_type(findings, "remote_scanner")
    assert (scan["remote_ip"], scan["devices"], scan["severity"]) == ("198.51.100.77", 11, "high")
    assert not of_type(findings, "public_inbound_exposure")  # one address, one day: a sweep, not exposure


def test_audit_gap_names_the_silent_device(findings):
    [gap] = of_type(findings, "audit_gap")
    assert gap["device_name"] == "ws-11"
    assert gap["last_seen"].date() == AS_OF - timedelta(days=9)


def test_new_patterns_are_the_new_apps_and_ports_only(findings):
    """The four new patterns (listener.exe, rare.exe, svchost 135, ntoskrnl 445) are signals; three belong to
    the situation that made them new, so they are a signal of that finding, not a finding of their own."""
    got = {(f["finding_type"], f["process_name"], f["device_name"], f["remote_ip"])
           for f in findings if "new_pattern" in f["signals"]}
    assert got == {
        ("new_pattern", "rare.exe", None, None),  # below app_blocked_inbound's threshold: alone
        ("app_blocked_inbound", "listener.exe", None, None),  # the same listener blocked on 5 devices
        ("remote_scanner", None, None, "198.51.100.77"),  # port 445 was new because of the sweep
        ("volume_spike", None, "ws-02", None),  # port 135 on ws-02 was new because of the burst
    }
    assert not [f for f in findings if f["finding_type"] == "new_pattern" and f["process_name"] != "rare.exe"]


def test_steady_benign_traffic_yields_nothing(findings):
    for f in findings:
        assert not (f["local_port"] in (137, 138, 5355) or f["remote_port"] == 5357), f
    assert not of_type(findings, "outbound_blocked_app")


def test_every_finding_has_evidence_query_and_stable_id(findings):
    ids = [f["finding_id"] for f in findings]
    assert len(ids) == len(set(ids))
    for f in findings:
        assert f["hunting_kql"].startswith("DeviceEvents\n| where Timestamp between (datetime(")
        assert "| project Timestamp, DeviceId, DeviceName, ReportId" in f["hunting_kql"]
        assert f["as_of"] == AS_OF and f["severity"] in ("high", "medium", "low")
        assert f["state"] == "new" and f["nights_open"] == 1  # the first night of this warehouse
        assert f["finding_type"] in f["signals"]


def test_every_finding_keeps_up_to_five_sample_events_of_its_own(findings):
    for f in findings:
        samples = f["sample_events"]
        assert 1 <= len(samples) <= 5, f["finding_type"]
        assert samples == sorted(samples, key=lambda s: (s["timestamp"], s["device_id"], s["report_id"]))
        if f["device_id"]:
            assert {s["device_id"] for s in samples} == {f["device_id"]}


def test_scanner_query_does_not_filter_on_its_most_frequent_port(findings):
    [scan] = of_type(findings, "remote_scanner")
    assert scan["local_port"] == 445
    assert "LocalPort" not in scan["hunting_kql"].split("| project")[0]
    assert "-Program" not in scan["powershell"] and "program=" not in scan["netsh"]
