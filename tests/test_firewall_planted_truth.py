"""Planted truth on the sample tenant: every planted firewall story yields its finding at
as_of = world end, and the steady benign traffic (NetBIOS, LLMNR, svchost to private peers) none.
The warehouse is built for the world's last three nights in a row (the first a first build), so the
situations' lifecycle (new, ongoing, resolved) is checked night by night.

Uses the simulator's interface (`SampleSource(tenant_cfg, as_of).fetch("device_events", window,
FetchStats())`, `pipelines.sources.sample.truth.planted_truth(tenant_cfg)`).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest

from pipelines.config import TenantConfig
from pipelines.sources.base import FetchStats, Window
from pipelines.sources.sample import truth as truth_module
from pipelines.sources.sample.source import SampleSource
from tests.fw_testlib import build_firewall, changed, staging_db
from tests.fw_testlib import stage_raw as stage_by_day

START, END = date(2026, 10, 1), date(2026, 11, 11)  # 42 days
TENANT = TenantConfig(name="contoso", kind="sample", seed=7, scale=0.3, start=START, end=END)


NIGHTS = [END - timedelta(days=2), END - timedelta(days=1), END]


@pytest.fixture(scope="module")
def nights() -> dict[date, list[dict]]:
    """fw_findings of each of the last three nights, built one after the other on one warehouse."""
    con = staging_db()
    source = SampleSource(TENANT, None)  # as_of None: every row, late-ingested ones included
    start = datetime.combine(START, datetime.min.time(), UTC)
    window = Window(start, start + timedelta(days=(END - START).days + 1))
    parts = [b if isinstance(b, pa.Table) else pa.Table.from_batches([b])
             for b in source.fetch("device_events", window, FetchStats())]
    changed(con, stage_by_day(con, TENANT.name, pa.concat_tables(parts)))
    out = {}
    for night in NIGHTS:
        build_firewall(con, [TENANT.name], night)
        changed(con, [])  # every day was staged before the first night: nothing changes after it
        cur = con.execute("select * from fw_findings where tenant = ? and as_of = ?", [TENANT.name, night])
        names = [d[0] for d in cur.description]
        out[night] = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    con.close()
    return out


@pytest.fixture(scope="module")
def findings(nights) -> list[dict]:
    return nights[END]


def firewall_truth(kind: str) -> list[dict]:
    items = [t for t in truth_module.planted_truth(TENANT) if t.get("area") == "firewall" and t["kind"] == kind]
    return items


def same_device(finding: dict, short_name: str) -> bool:
    name = (finding["device_name"] or "").lower()
    return name == short_name.lower() or name.startswith(short_name.lower() + ".")


def of_type(findings: list[dict], finding_type: str) -> list[dict]:
    """Findings carrying this signal (the finding's own type or a signal correlated into it)."""
    return [f for f in findings if finding_type in f["signals"]]


def day_of(ts) -> date:
    return ts.astimezone(UTC).date()


def test_truth_lists_every_firewall_story():
    kinds = {t["kind"] for t in truth_module.planted_truth(TENANT) if t.get("area") == "firewall"}
    assert kinds >= {"public_inbound_exposure", "app_blocked_inbound", "new_pattern", "outbound_blocked_app",
                     "remote_scanner", "volume_spike", "firewall_service_stopped", "audit_gap", "benign_steady"}


def test_public_inbound_exposure_found(findings):
    for item in firewall_truth("public_inbound_exposure"):
        assert any(same_device(f, item["device_name"]) and f["local_port"] == item["local_port"]
                   for f in of_type(findings, "public_inbound_exposure")), item


def test_app_blocked_inbound_found(findings):
    for item in firewall_truth("app_blocked_inbound"):
        assert any(f["process_name"] == item["process_file_name"].lower()
                   for f in of_type(findings, "app_blocked_inbound")), item


def test_new_pattern_found_from_its_first_day(findings):
    for item in firewall_truth("new_pattern"):
        # correlated into the program's outbound_blocked_app finding, which names no port itself: the
        # new_pattern signal's sentence in the explanation does
        hits = [f for f in of_type(findings, "new_pattern")
                if f["process_name"] == item["process_file_name"].lower()
                and f"to remote port {item['remote_port']} " in f["explanation"]]
        assert hits, item
        assert day_of(min(f["first_seen"] for f in hits)) == item["first_day"]


def test_outbound_blocked_app_found(findings):
    for item in firewall_truth("outbound_blocked_app"):
        assert any(f["process_name"] == item["process_file_name"].lower()
                   for f in of_type(findings, "outbound_blocked_app")), item


def test_remote_scanner_found_on_its_day(findings):
    for item in firewall_truth("remote_scanner"):
        assert any(f["remote_ip"] == item["remote_ip"] and day_of(f["first_seen"]) == item["day"]
                   for f in of_type(findings, "remote_scanner")), item


def test_volume_spike_found(findings):
    for item in firewall_truth("volume_spike"):
        assert item["day"] == END  # spikes are judged on the as_of day
        assert any(same_device(f, item["device_name"]) for f in of_type(findings, "volume_spike")), item


def test_firewall_service_stopped_found(findings):
    for item in firewall_truth("firewall_service_stopped"):
        assert any(same_device(f, item["device_name"]) and day_of(f["first_seen"]) == item["day"]
                   for f in of_type(findings, "firewall_service_stopped")), item


def test_audit_gap_found_with_last_reporting_day(findings):
    for item in firewall_truth("audit_gap"):
        hits = [f for f in of_type(findings, "audit_gap") if same_device(f, item["device_name"])]
        assert hits, item
        assert day_of(hits[0]["last_seen"]) == item["last_day"]
        assert "Filtering Platform Packet Drop" in hits[0]["suggested_action"]
        assert "Filtering Platform Connection" in hits[0]["suggested_action"]


def test_benign_steady_traffic_yields_no_finding(findings):
    benign = firewall_truth("benign_steady")
    assert benign
    for item in benign:
        file = item["process_file_name"].lower()
        port_col = "local_port" if "local_port" in item else "remote_port"
        for f in findings:
            same_port = f[port_col] == item[port_col]
            assert not (f["process_name"] == file and f["direction"] == item["direction"].lower() and same_port), (
                item, f["finding_type"], f["explanation"])
            # a benign port must not surface through port-keyed findings either
            if f["finding_type"] in ("public_inbound_exposure", "new_pattern", "remote_scanner"):
                assert not (f["direction"] == item["direction"].lower() and same_port), (item, f["explanation"])


def situation_truth(kind: str) -> list[dict]:
    items = firewall_truth(kind)
    assert items, kind
    assert [sorted(i["nights"]) for i in items] == [NIGHTS] * len(items)
    return items


def matching(night_findings: list[dict], item: dict) -> list[dict]:
    if item["kind"] == "beacon":
        return [f for f in night_findings if f["process_name"] == item["process_file_name"]
                and f["direction"] == item["direction"]]
    if item["kind"] == "folder_only_app":
        return [f for f in night_findings if f["process"] == item["process"]]
    return [f for f in night_findings if same_device(f, item["device_name"]) and f["local_port"] == item["local_port"]]


@pytest.mark.parametrize("kind", ["beacon", "folder_only_app", "udp_service"])
def test_each_planted_situation_is_one_finding_with_its_state_night_after_night(nights, kind):
    for item in situation_truth(kind):
        ids = set()
        for night, state in item["nights"].items():
            found = matching(nights[night], item)
            assert len(found) == 1, (night, kind, [(f["finding_type"], f["signals"]) for f in found])
            [f] = found
            assert f["state"] == state, (night, kind, f["state"], f["last_active"])
            if "finding_type" in item:
                assert f["finding_type"] == item["finding_type"]
            ids.add(f["finding_id"])
        assert len(ids) == 1  # the same finding every night


def test_nights_open_counts_the_nights_a_situation_stayed_open(nights):
    [item] = situation_truth("beacon")
    assert [matching(nights[n], item)[0]["nights_open"] for n in NIGHTS] == [1, 2, 3]


def test_beacon_is_one_finding_carrying_both_signals(nights):
    for item in situation_truth("beacon"):
        for night in NIGHTS:
            [f] = matching(nights[night], item)
            assert set(item["signals"]) <= set(f["signals"])
            assert f["finding_type"] == "outbound_blocked_app"  # the lead: it carries the draft


def test_beacon_draft_is_per_user_and_names_no_user_variable(findings):
    [item] = situation_truth("beacon")
    [f] = matching(findings, item)
    lines = f["powershell"].splitlines()
    paths = [re.search(r"-Program '([^']*)'", line).group(1) for line in lines]
    assert sorted(paths) == item["programs"]  # one rule per user's path
    assert "%" not in f["powershell"]
    assert "AppLocker" in f["suggested_action"]
    assert len(f["netsh"].splitlines()) == len(lines)
    # it counted public destinations only: so does its hunting query
    assert "ipv4_is_in_any_range" in f["hunting_kql"]


def test_folder_only_app_draft_names_the_executable_not_the_folder(findings):
    [item] = situation_truth("folder_only_app")
    [f] = matching(findings, item)
    assert f["process_name"] is None  # the ToApp rows name no file
    assert f["devices"] == item["devices"] or f["devices"] >= 0.8 * item["devices"]
    assert f["powershell"].count("New-NetFirewallRule") == 1
    assert f"-Program '{item['program']}'" in f["powershell"]
    assert f'program="{item["program"]}"' in f["netsh"]
    assert "unknown" not in f["suggested_action"]


def test_udp_service_is_drafted_as_udp_with_a_scoped_block(nights):
    [item] = situation_truth("udp_service")
    [f] = matching(nights[NIGHTS[0]], item)
    lines = f["powershell"].splitlines()
    assert lines and all("-Protocol UDP -LocalPort 161" in line for line in lines), lines
    block = [line for line in lines if "-Action Block" in line]
    allow = [line for line in lines if "-Action Allow" in line]
    assert len(block) == 1 and "-RemoteAddress 'Internet'" in block[0]
    assert len(allow) == 1 and "'10.0.0.0/8'" in allow[0]
    assert "protocol=udp localport=161" in f["netsh"]
    assert "lock out" in f["suggested_action"] and "management ranges" in f["suggested_action"]
    assert day_of(f["last_seen"]) == item["last_day"]


def test_every_draft_of_every_night_matches_the_documented_parameter_set(nights):
    from tests.draft_checks import draft_problems

    rows = [f for night in NIGHTS for f in nights[night]]
    assert any(f["powershell"] for f in rows)
    problems = {(f["finding_type"], p) for f in rows for p in draft_problems(f["powershell"], f["netsh"])}
    assert not problems, sorted(problems)[:10]


def test_no_situation_is_reported_twice_in_a_night(nights):
    for night in NIGHTS:
        keys = [(f["situation"]) for f in nights[night]]
        assert len(keys) == len(set(keys)), night
