"""Planted truth on the sample tenant: every planted firewall story yields its finding at
as_of = world end, and the steady benign traffic (NetBIOS, LLMNR, svchost to private peers) none.

Uses the simulator's interface (`SampleSource(tenant_cfg, as_of).fetch("device_events", window,
FetchStats())`, `pipelines.sources.sample.truth.planted_truth(tenant_cfg)`).
"""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def findings() -> list[dict]:
    con = staging_db()
    source = SampleSource(TENANT, None)  # as_of None: every row, late-ingested ones included
    start = datetime.combine(START, datetime.min.time(), UTC)
    window = Window(start, start + timedelta(days=(END - START).days + 1))
    parts = [b if isinstance(b, pa.Table) else pa.Table.from_batches([b])
             for b in source.fetch("device_events", window, FetchStats())]
    changed(con, stage_by_day(con, TENANT.name, pa.concat_tables(parts)))
    build_firewall(con, [TENANT.name], END)
    cur = con.execute("select * from fw_findings where tenant = ? and as_of = ?", [TENANT.name, END])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    con.close()
    return rows


def firewall_truth(kind: str) -> list[dict]:
    items = [t for t in truth_module.planted_truth(TENANT) if t.get("area") == "firewall" and t["kind"] == kind]
    return items


def same_device(finding: dict, short_name: str) -> bool:
    name = (finding["device_name"] or "").lower()
    return name == short_name.lower() or name.startswith(short_name.lower() + ".")


def of_type(findings: list[dict], finding_type: str) -> list[dict]:
    return [f for f in findings if f["finding_type"] == finding_type]


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
        hits = [f for f in of_type(findings, "new_pattern")
                if f["process_name"] == item["process_file_name"].lower() and f["remote_port"] == item["remote_port"]]
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
