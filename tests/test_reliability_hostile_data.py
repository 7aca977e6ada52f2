"""Attacker-controlled strings (alert names, entity values, command lines, device and file names)
stay text in every report and stay inside their literals in every KQL and PowerShell draft."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest

from pipelines import lake
from pipelines.reports.firewall import write_firewall_reports
from pipelines.reports.owners import write_owner_reports
from pipelines.sources.schemas import conform
from pipelines.warehouse.readonly import connect_readonly
from pipelines.warehouse_run import WarehouseRun
from tests.conftest import write_config

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
QUOTE = "x' or 1==1 //"
DAY = date(2026, 10, 20)
RULE_ID = "0badc0de-0000-4000-8000-000000000001"


def ts(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, 20, hour, minute, tzinfo=UTC)


def device_events() -> pa.Table:
    rows = [
        {"Timestamp": ts(3), "DeviceId": "dev-hostile", "DeviceName": f"ws{SCRIPT}.contoso.local",
         "ActionType": "FirewallServiceStopped", "ReportId": 1, "TimeGenerated": ts(3, 5)},
    ]
    for i in range(30):
        rows.append({
            "Timestamp": ts(4, i), "DeviceId": "dev-hostile", "DeviceName": f"ws{SCRIPT}.contoso.local",
            "ActionType": "FirewallOutboundConnectionBlocked", "RemoteIP": f"203.0.113.{i + 1}", "RemotePort": 8443,
            "LocalIP": "10.0.0.5", "LocalPort": 50000 + i, "InitiatingProcessFileName": f"{IMG}{QUOTE}.exe",
            "InitiatingProcessFolderPath": f"C:\\Users\\bob\\AppData\\Local\\Temp\\{IMG}{QUOTE}.exe",
            "InitiatingProcessCommandLine": f"{SCRIPT} --evil {QUOTE}",
            "AdditionalFields": json.dumps({"Direction": "Outbound", "Protocol": "Tcp"}),
            "ReportId": 100 + i, "TimeGenerated": ts(4, i + 1),
        })
    return conform(pa.Table.from_pylist(rows), "device_events")[0]


def alerts_and_incidents() -> tuple[pa.Table, pa.Table]:
    alerts, incidents = [], []
    for i in range(20):
        alert_id = f"00000000-0000-4000-8000-{i:012d}"
        entities = [
            {"$id": "2", "Type": "host", "HostName": f"srv{SCRIPT}"},
            {"$id": "3", "Type": "account", "Name": f"svc{IMG}{QUOTE}", "NTDomain": "CONTOSO", "Host": {"$ref": "2"}},
            {"$id": "4", "Type": "process", "CommandLine": f"cmd.exe /c {SCRIPT}", "Host": {"$ref": "2"}},
        ]
        alerts.append({
            "TimeGenerated": ts(5, i), "SystemAlertId": alert_id, "AlertName": f"Rule {SCRIPT}",
            "AlertSeverity": "Medium", "Entities": json.dumps(entities),
            "ExtendedProperties": json.dumps({"Analytic Rule Ids": json.dumps([RULE_ID]), "Analytic Rule Name": f"Rule {SCRIPT}{IMG}"}),
        })
        for version, (status, classification, minutes) in enumerate(
            [("New", "", 0), ("Closed", "BenignPositive", 60)]
        ):
            incidents.append({
                "TimeGenerated": ts(6 + version, i), "IncidentNumber": 1000 + i, "Title": f"Incident {SCRIPT}",
                "Status": status, "Classification": classification or None,
                "ClassificationReason": "SuspiciousButExpected" if classification else None,
                "CreatedTime": ts(5, i), "LastModifiedTime": ts(5, i) + timedelta(minutes=minutes + 1),
                "AlertIds": json.dumps([alert_id]), "RelatedAnalyticRuleIds": json.dumps([RULE_ID]),
            })
    return conform(pa.Table.from_pylist(alerts), "security_alert")[0], conform(pa.Table.from_pylist(incidents), "security_incident")[0]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    settings = write_config(tmp_path_factory.mktemp("hostile")).for_tenant("contoso")
    alerts, incidents = alerts_and_incidents()
    for table, data in (("device_events", device_events()), ("security_alert", alerts), ("security_incident", incidents)):
        lake.write_partition(settings.lake_root, table, "contoso", DAY, [data])
    WarehouseRun(settings, DAY, "hostile").run_all()
    with connect_readonly(settings.warehouse_path) as con:
        files = write_firewall_reports(con, settings, DAY) + write_owner_reports(con, settings, DAY)
    return settings, files


def test_probes_reach_the_warehouse_and_produce_findings_and_recommendations(hostile):
    settings, _ = hostile
    with connect_readonly(settings.warehouse_path) as con:
        findings = {r[0] for r in con.execute("select finding_type from fw_findings where tenant = 'contoso'").fetchall()}
        recs = con.execute("select count(*) from tuning_recommendations where tenant = 'contoso'").fetchone()[0]
    assert "firewall_service_stopped" in findings
    assert recs >= 1


def test_every_report_file_shows_the_probes_only_as_text(hostile):
    _, files = hostile
    html_files = [f for f in files if f.suffix == ".html"]
    assert len(html_files) >= 2  # the tenant's firewall report and at least one owner's
    seen_escaped = False
    for path in html_files:
        text = path.read_text(encoding="utf-8")
        assert SCRIPT not in text, path
        assert "<img" not in text, path
        seen_escaped |= "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert seen_escaped


def test_csv_and_json_exports_keep_the_exact_value(hostile):
    _, files = hostile
    exports = [f for f in files if f.suffix in (".json", ".csv")]
    assert exports
    assert any(f"svc{IMG}{QUOTE}".replace('"', '""') in f.read_text(encoding="utf-8") or
               json.dumps(f"svc{IMG}{QUOTE}")[1:-1] in f.read_text(encoding="utf-8") for f in exports)


def _kql_literals_closed(text: str) -> bool:
    """Walk KQL text: every '...' and "..." literal closes, backslash escapes honoured."""
    quote = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        i += 1
    return quote is None


def test_kql_drafts_keep_probes_inside_their_literals(hostile):
    settings, _ = hostile
    with connect_readonly(settings.warehouse_path) as con:
        hunting = [r[0] for r in con.execute("select hunting_kql from fw_findings where tenant = 'contoso'").fetchall()]
        exclusions = [r[0] for r in con.execute(
            "select kql_exclusion from tuning_recommendations where tenant = 'contoso' and kql_exclusion is not null"
        ).fetchall()]
        powershell = [r[0] for r in con.execute(
            "select powershell from fw_findings where tenant = 'contoso' and powershell is not null"
        ).fetchall()]
    assert hunting and exclusions
    for kql in hunting + exclusions:
        assert _kql_literals_closed(kql), kql
    for clause in exclusions:
        assert "\n" not in clause
    assert any("\\'" in clause for clause in exclusions if "svc" in clause)
    for ps in powershell:
        # PowerShell single-quoted literals double an embedded quote; an odd count would break out
        assert ps.count("'") % 2 == 0, ps
