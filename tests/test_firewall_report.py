"""The firewall report: hostile device and process names appear only escaped, drafts quote them
safely, the file is written per tenant from a read-only warehouse, and findings_summary counts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import duckdb
import pytest

from pipelines.reports.firewall import findings_summary, write_firewall_reports
from tests.fw_testlib import build_firewall, changed, raw_table, settings, stage_raw, staging_db
from tests.test_firewall_derived_fields import _read_kql_string, _read_ps_single_quoted

AS_OF = date(2026, 11, 10)
EVIL_PROCESS = "<script>alert(1)</script>.exe"
EVIL_DEVICE = '"><img src=x onerror=alert(1)>'
EVIL_FOLDER = "C:\\Users\\mallory\\AppData\\it's\\" + EVIL_PROCESS


def rows() -> list[dict]:
    out = []
    for i in range(12):  # an outbound program blocked repeatedly to a public address today
        out.append({
            "Timestamp": datetime(2026, 11, 10, 1, i, tzinfo=UTC), "DeviceId": "dev-evil",
            "DeviceName": EVIL_DEVICE, "ActionType": "FirewallOutboundConnectionBlocked",
            "RemoteIP": "198.51.100.7", "RemotePort": 8443, "LocalPort": 50000 + i,
            "InitiatingProcessFileName": EVIL_PROCESS, "InitiatingProcessFolderPath": EVIL_FOLDER,
            "ReportId": 100 + i,
        })
    out.append({
        "Timestamp": datetime(2026, 11, 9, 5, tzinfo=UTC), "DeviceId": "dev-evil", "DeviceName": EVIL_DEVICE,
        "ActionType": "FirewallServiceStopped", "ReportId": 7,
    })
    for d in range(1, 8):  # some ordinary history on another device
        out.append({
            "Timestamp": datetime(2026, 11, 10, 3, tzinfo=UTC) - timedelta(days=d), "DeviceId": "dev-ok",
            "DeviceName": "ok-host", "ActionType": "FirewallInboundConnectionBlocked", "RemoteIP": "10.0.0.5",
            "LocalPort": 137, "RemotePort": 137, "InitiatingProcessFileName": "System", "ReportId": d,
        })
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fwreport")
    path = tmp / "warehouse.duckdb"
    con = staging_db()
    con.execute(f"ATTACH '{path}' AS wh")  # build in memory, then copy into a file: the published warehouse
    changed(con, stage_raw(con, "contoso", raw_table(rows())))
    build_firewall(con, ["contoso"], AS_OF)
    con.execute("COPY FROM DATABASE memory TO wh")
    con.close()
    ro = duckdb.connect(str(path), read_only=True)
    cfg = settings(["contoso"], tmp=tmp)
    paths = write_firewall_reports(ro, cfg, AS_OF)
    findings = ro.sql("select * from fw_findings").to_arrow_table().to_pylist()
    summary = findings_summary(ro, "contoso", AS_OF)
    ro.close()
    return cfg, paths, paths[0].read_text(encoding="utf-8"), findings, summary


def test_report_is_written_per_tenant_under_as_of(report):
    cfg, paths, html, _, _ = report
    assert paths == [cfg.reports_dir / "2026-11-10" / "firewall" / "contoso.html"]
    assert not [p for p in paths[0].parent.iterdir() if p.name.endswith(".tmp")]
    assert html.startswith("<!doctype html>") and "<svg" in html


def test_hostile_names_appear_only_escaped(report):
    _, _, html, findings, _ = report
    assert {f["finding_type"] for f in findings} >= {"outbound_blocked_app", "firewall_service_stopped"}
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.exe" in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert not re.search(r"https?://", html.replace("http://www.w3.org/2000/svg", ""))  # no CDN


def test_powershell_draft_quotes_the_hostile_program(report):
    _, _, _, findings, _ = report
    [f] = [f for f in findings if f["finding_type"] == "outbound_blocked_app"]
    ps = f["powershell"]
    program, rest = _read_ps_single_quoted(ps[ps.index("-Program ") + len("-Program "):])
    # the user's own path: the firewall service cannot expand %UserProfile%
    assert program == "c:\\users\\mallory\\appdata\\it's\\" + EVIL_PROCESS.lower()
    assert rest.startswith(" -RemoteAddress 'Internet' -Action Block")
    name, rest = _read_ps_single_quoted(ps[ps.index("-DisplayName ") + len("-DisplayName "):])
    assert EVIL_PROCESS.lower() in name and rest.startswith(" -Direction Outbound")


def test_kql_draft_quotes_the_hostile_values(report):
    _, _, _, findings, _ = report
    [f] = [f for f in findings if f["finding_type"] == "outbound_blocked_app"]
    kql = f["hunting_kql"]
    value, rest = _read_kql_string(kql[kql.index("InitiatingProcessFileName =~ ") + 29:])
    assert value == EVIL_PROCESS.lower() and rest.startswith("\n")
    assert kql.splitlines()[-1].startswith("| project Timestamp, DeviceId, DeviceName, ReportId")


def test_findings_summary_counts_per_type(report):
    _, _, _, findings, summary = report
    assert summary["total"] == len(findings)
    assert summary["counts"]["firewall_service_stopped"] == 1
    assert "| firewall_service_stopped | 1 | 0 | 0 | 1 |" in summary["markdown"]
